"""settings.toml's [recorder] and [hotkeys]: the one reader `pcagent record` and the tray app share."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracker.recording.options import new_trajectory_folder
from tracker.recording.options import check_hotkey_spec, default_trajectories_dir, load_recording_options
from tracker.settings import SettingsError

SETTINGS = """\
[recorder]
fps = 5
idle_wait_s = 0
accessibility = false
exclude_windows = ["KeePassXC"]
trajectories_dir = "~/demos"

[hotkeys]
thought = "ctrl+alt+y"
stop = "ctrl+shift+f8"
"""


def test_the_file_then_the_options_given(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(SETTINGS)
    options = load_recording_options(settings)
    assert (options.fps, options.idle_wait_s, options.accessibility) == (5, None, False)
    assert options.exclude_windows == ["KeePassXC"] and options.folder() == Path("~/demos").expanduser()
    assert options.hotkeys == {"pause": "ctrl+shift+f9", "finish": "ctrl+shift+f10", "fail": "ctrl+shift+f11",
                               "stop": "ctrl+shift+f8"}
    given = load_recording_options(settings, fps=8.0, idle_wait_s=2.0, accessibility=None,
                                   hotkeys={"pause": "ctrl+shift+f5"}, trajectories_dir=tmp_path / "mine")
    assert (given.fps, given.idle_wait_s, given.accessibility) == (8.0, 2.0, False)  # None: the file's
    assert given.hotkeys["pause"] == "ctrl+shift+f5" and given.hotkeys["stop"] == "ctrl+shift+f8"
    assert given.folder() == tmp_path / "mine"


def test_no_file_is_the_defaults(tmp_path):
    options = load_recording_options(tmp_path / "none.toml")
    assert (options.fps, options.idle_wait_s, options.exclude_windows) == (10.0, 6.0, [])
    assert options.folder() == default_trajectories_dir()


def test_the_thought_hotkey_is_the_callers_only_when_it_says_so(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(SETTINGS)
    options = load_recording_options(settings)
    assert options.recorder_config().hotkeys["thought"] == "ctrl+alt+y"  # the tray app grabs it
    config = options.recorder_config(thought_hotkey=False)  # `pcagent record`: that key is recorded
    assert "thought" not in config.hotkeys and config.fps == 5 and config.merge.idle_wait_s is None
    assert config.privacy.to_dict()["settings_file"] == str(settings)  # [privacy] from the same file


@pytest.mark.parametrize("text, error", [
    ("[recorder]\nfps = 'fast'\n", r"\[recorder\] fps has the wrong type"),
    ("[recorder]\nfps = 61\n", r"\[recorder\] fps must be between 0 and 60, not 61"),
    ("[recorder]\naccessibility = 1\n", r"\[recorder\] accessibility has the wrong type"),
    ("[recorder]\nexclude_windows = ['a', '']\n", r"\[recorder\] exclude_windows must be a list of non-empty"),
    ("[recorder]\ntrajectories_dir = ' '\n", r"\[recorder\] trajectories_dir is empty"),
    ("[recorder]\nframes = 3\n", r"\[recorder\] unknown key 'frames'"),
    ("[hotkeys]\njump = 'ctrl+j'\n", r"\[hotkeys\] jump = 'ctrl\+j': the commands are thought, pause"),
    ("[hotkeys]\npause = 'ctrl+alt_gr+p'\n", r"\[hotkeys\] pause: bad hotkey .*alt_gr cannot hold a hotkey"),
    ("[hotkeys]\nfail = 'ctrl+shift+F12'\n", r"\[hotkeys\] and the defaults: .*fail and stop are both"),
    ("[recorder\n", "not valid TOML"),
])
def test_a_bad_value_names_the_file_and_the_key(tmp_path, text, error):
    settings = tmp_path / "settings.toml"
    settings.write_text(text)
    with pytest.raises(SettingsError, match=error) as caught:
        load_recording_options(settings)
    assert str(caught.value).startswith(str(settings))


@pytest.mark.parametrize("given, error", [
    ({"fps": 0.0}, "the options given: fps must be between 0 and 60"),
    ({"hotkeys": {"stop": "ctrl+alt"}}, "the options given: hotkey stop: bad hotkey 'ctrl+alt': it needs a key"),
    ({"hotkeys": {"stop": "ctrl+shift+f9"}}, "the options given: two commands share one hotkey: pause and stop"),
])
def test_a_bad_option_given_over_the_file_is_named(tmp_path, given, error):
    with pytest.raises(SettingsError, match=re.escape(error)):
        load_recording_options(tmp_path / "none.toml", **given)


def test_hotkey_specs():
    assert check_hotkey_spec("Ctrl+Alt+T") == (frozenset({"ctrl", "alt"}), "t")
    with pytest.raises(ValueError, match="needs a key besides the modifiers"):
        check_hotkey_spec("ctrl+shift")


def test_new_trajectory_folders_follow_trajectories_dir(tmp_path, monkeypatch):
    """`pcagent record`, `run`, `replay` and `demo` without --out, and the tray app's recordings."""
    settings = tmp_path / "settings.toml"
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(settings))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert new_trajectory_folder("run").parent == tmp_path / "data" / "pcagent" / "trajectories"
    settings.write_text(f'[recorder]\ntrajectories_dir = "{tmp_path / "demos"}"\n')
    out = new_trajectory_folder("replay")
    assert out.parent == tmp_path / "demos" and out.name.startswith("replay-")
    assert new_trajectory_folder("demo", tmp_path / "elsewhere").parent == tmp_path / "elsewhere"
    settings.write_text("[recorder]\nfps = -1\n")
    with pytest.raises(SettingsError, match=r"\[recorder\] fps"):
        new_trajectory_folder("run")
