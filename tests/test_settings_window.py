"""The settings window (pcagent.app.ui.settings_window) on the test bed's X display: it writes models.toml and
settings.toml keeping the user's comments, keeps API keys in a real OS keyring (gnome-keyring in the test's
own D-Bus session) and, where there is none, says so and offers an environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from models.profiles import get_profile, load_profiles, resolve_api_key
from pcagent.app.approval_rules import load_approval_settings
from pcagent.app.config_store import ConfigStore, load_app_settings
from pcagent.app.controller import load_recording_options
from pcagent.app.ui.settings_window import SettingsWindow
from tests.keyring_session import no_keyring, real_keyring, restore_keyring  # noqa: F401 (fixtures)
from tracker.format.screenshot_format import ScreenshotFormat, load_screenshot_format
from tracker.privacy import load_privacy_settings

pytestmark = pytest.mark.display

SETTINGS = """\
# Kept by hand; the window must not lose this.
[privacy]
extra_auth_words = ["kennwort"]   # German logins

[recorder]
fps = 8  # a slow laptop
"""
MODELS = """\
# The planner I use at work
[profiles.work]
model = "qwen2.5-vl-72b"  # served by vLLM
base_url = "https://vlm.example.com/v1"
"""
SECRET = "sk-test-settings-0123456789abcdefXYZ"


@pytest.fixture
def config(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "models.toml").write_text(MODELS)
    (folder / "settings.toml").write_text(SETTINGS)
    return folder / "models.toml", folder / "settings.toml"


def open_window(qtbot, models: Path, settings: Path) -> SettingsWindow:
    store = ConfigStore(models, settings, settings_checks=(load_recording_options, load_approval_settings))
    window = SettingsWindow(store)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def save(qtbot, window: SettingsWindow) -> None:
    with qtbot.waitSignal(window.saved, timeout=15000):
        qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)


def retype(qtbot, widget, text: str) -> None:
    widget.selectAll()
    qtbot.keyClicks(widget, text)


def type_lines(qtbot, edit, *lines: str) -> None:
    for number, line in enumerate(lines):
        if number:
            qtbot.keyClick(edit, Qt.Key.Key_Return)
        qtbot.keyClicks(edit, line)


@pytest.mark.usefixtures("real_keyring")
def test_settings_and_a_keyring_key_are_saved_keeping_the_users_comments(qtbot, config) -> None:
    models, settings = config
    window = open_window(qtbot, models, settings)
    assert window.keyring.available and "keyring" in window.key_state.text().lower()
    assert window.profiles.currentItem().text() == "work"
    assert window.fps.value() == 8 and window.privacy_words.toPlainText() == "kennwort"
    qtbot.keyClicks(window.api_key, SECRET)
    retype(qtbot, window.base_url, "https://vlm2.example.com/v1")
    qtbot.keyClicks(window.new_profile, "local")
    qtbot.mouseClick(window.findChild(type(window.save_button), "add_profile"), Qt.MouseButton.LeftButton)
    assert window.profiles.currentItem().text() == "local"
    qtbot.keyClicks(window.base_url, "http://127.0.0.1:8000/v1")
    qtbot.keyClicks(window.model_name, "ui-tars-1.5-7b")
    window.default_mode.setCurrentText("auto")
    window.countdown.setValue(5)
    window.fps.setValue(12)
    window.image_format.setCurrentText("webp")
    window.image_quality.setValue(80)
    type_lines(qtbot, window.excluded, "KeePassXC", "Signal")
    qtbot.keyClicks(window.trajectories_dir, "~/demos")
    qtbot.keyClicks(window.hotkeys["thought"], "ctrl+alt+y")
    window.privacy_words.moveCursor(QTextCursor.MoveOperation.End)
    type_lines(qtbot, window.privacy_words, "", "geheim")
    save(qtbot, window)
    assert window.status.text() == "Saved."

    settings_text = settings.read_text()
    assert settings_text.startswith('# Kept by hand; the window must not lose this.\n[privacy]\n'
                                    'extra_auth_words = ["kennwort", "geheim"]   # German logins\n')
    assert "fps = 12.0  # a slow laptop\n" in settings_text
    models_text = models.read_text()
    assert models_text.startswith('# The planner I use at work\n[profiles.work]\n'
                                  'model = "qwen2.5-vl-72b"  # served by vLLM\n'
                                  'base_url = "https://vlm2.example.com/v1"\n')
    for path in models.parent.rglob("*"):
        assert SECRET not in path.read_text(errors="replace"), path
    # What the command line and the app read now:
    profiles = load_profiles(models)
    assert profiles["work"].api_key_keyring == "pcagent:work"
    assert resolve_api_key(get_profile("work", models)) == SECRET
    assert profiles["local"].base_url == "http://127.0.0.1:8000/v1" and profiles["local"].model == "ui-tars-1.5-7b"
    app = load_app_settings(settings)
    assert app.default_mode == "auto" and app.countdown_s == 5
    recording = load_recording_options(settings)
    assert recording.fps == 12 and recording.exclude_windows == ["KeePassXC", "Signal"]
    assert recording.folder() == Path("~/demos").expanduser() and recording.thought_hotkey == "ctrl+alt+y"
    assert load_screenshot_format(settings) == ScreenshotFormat("webp", 80)
    assert {"kennwort", "geheim"} <= set(load_privacy_settings(settings).auth_words)

    window.profiles.setCurrentRow(0)
    assert "kept in the OS keyring as “pcagent:work”" in window.key_state.text()
    qtbot.mouseClick(window.forget_key, Qt.MouseButton.LeftButton)
    save(qtbot, window)
    assert resolve_api_key(get_profile("work", models)) is None


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_the_window_says_so_and_offers_an_environment_variable(
        qtbot, config, monkeypatch: pytest.MonkeyPatch) -> None:
    models, settings = config
    window = open_window(qtbot, models, settings)
    assert not window.keyring.available and not window.api_key.isEnabled()
    assert window.key_state.text().startswith("No OS keyring is available (Secret Service, KWallet")
    assert "api_key_env" in window.key_state.text()
    qtbot.keyClicks(window.api_key_env, "WORK_VLM_KEY")
    save(qtbot, window)
    assert 'api_key_env = "WORK_VLM_KEY"' in models.read_text()
    monkeypatch.setenv("WORK_VLM_KEY", SECRET)
    assert resolve_api_key(get_profile("work", models)) == SECRET


def test_a_bad_value_is_refused_with_a_message_and_nothing_is_written(qtbot, config) -> None:
    models, settings = config
    window = open_window(qtbot, models, settings)
    qtbot.keyClicks(window.hotkeys["stop"], "ctrl+nosuchkey+q")
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert window.status.text().startswith("stop hotkey 'ctrl+nosuchkey+q':")
    window.hotkeys["stop"].clear()
    retype(qtbot, window.base_url, "vlm.example.com")  # no scheme: the model backend could not use it
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    assert "base_url" in window.status.text() and "http" in window.status.text()
    assert models.read_text() == MODELS and settings.read_text() == SETTINGS
