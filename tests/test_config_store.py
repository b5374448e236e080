"""models.toml and settings.toml edited for the settings window (pcagent.app.config_store), and API keys in a
real OS keyring (gnome-keyring in the test's own D-Bus session) or, without one, an environment variable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from models.profiles import get_profile, load_profiles, resolve_api_key
from pcagent.app.approval_rules import load_approval_settings
from pcagent.app.config_store import (
    ConfigStore, ConfigStoreError, KeyringUnavailable, api_key_stored, delete_api_key, keyring_reference,
    keyring_status, load_app_settings, store_api_key,
)
from pcagent.app.controller import load_recording_options
from tests.keyring_session import no_keyring, real_keyring, restore_keyring  # noqa: F401 (fixtures)
from tracker.format.screenshot_format import ScreenshotFormat, load_screenshot_format
from tracker.privacy import load_privacy_settings

SETTINGS = """\
# My pcagent settings
[privacy]
# words that mark a login window
extra_auth_words = ["kennwort"]   # German
title_patterns = ["^KeePassXC"]

[screenshots]
format = "png"  # lossless
"""

MODELS = """\
# Planner on the lab server
[profiles.lab]
model = "qwen2.5-vl"   # the served name
base_url = "http://10.0.0.5:8000/v1"
max_tokens = 1024

# A hosted one
[profiles.hosted]
model = "gpt-4o"
base_url = "https://api.example.com/v1"
"""

SECRET = "sk-test-0123456789abcdefABCDEF"
APP_CHECKS = (load_recording_options, load_approval_settings)  # the app's own tables, as the window passes them


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    models, settings = tmp_path / "config" / "models.toml", tmp_path / "config" / "settings.toml"
    models.parent.mkdir()
    models.write_text(MODELS)
    settings.write_text(SETTINGS)
    return models, settings


def test_settings_edits_keep_the_users_comments_and_order(files: tuple[Path, Path]) -> None:
    models, settings = files
    store = ConfigStore(models, settings, settings_checks=APP_CHECKS)
    assert store.setting("screenshots", "format") == "png"
    store.set_setting("privacy", "extra_auth_words", ("kennwort", "geheim"))
    store.set_setting("privacy", "title_patterns", ["^KeePassXC"])  # unchanged: the line stays as it is
    store.set_setting("screenshots", "format", "webp")
    store.set_setting("screenshots", "quality", 80)
    store.set_setting("recorder", "fps", 5)
    store.set_setting("recorder", "exclude_windows", ["KeePassXC", "Signal"])
    store.set_setting("recorder", "trajectories_dir", "~/demos")
    store.set_setting("hotkeys", "stop", "ctrl+alt+f12")
    store.set_setting("hotkeys", "thought", "ctrl+shift+t")
    store.set_setting("app", "default_mode", "auto")
    store.set_setting("app", "countdown_s", 5)
    store.save()

    assert settings.read_text() == """\
# My pcagent settings
[privacy]
# words that mark a login window
extra_auth_words = ["kennwort", "geheim"]   # German
title_patterns = ["^KeePassXC"]

[screenshots]
format = "webp"  # lossless
quality = 80

[recorder]
fps = 5
exclude_windows = ["KeePassXC", "Signal"]
trajectories_dir = "~/demos"

[hotkeys]
stop = "ctrl+alt+f12"
thought = "ctrl+shift+t"

[app]
default_mode = "auto"
countdown_s = 5
"""
    # Every reader the CLI and the app use sees the new values.
    assert "geheim" in load_privacy_settings(settings).auth_words
    assert load_screenshot_format(settings) == ScreenshotFormat("webp", 80)
    recording = load_recording_options(settings)
    assert recording.fps == 5 and recording.exclude_windows == ["KeePassXC", "Signal"]
    assert recording.folder() == Path("~/demos").expanduser()
    assert recording.hotkeys["stop"] == "ctrl+alt+f12" and recording.hotkeys["pause"] == "ctrl+shift+f9"
    assert recording.thought_hotkey == "ctrl+shift+t"
    app = load_app_settings(settings)
    assert app.default_mode == "auto" and app.countdown_s == 5.0
    assert load_approval_settings(settings).always_ask == ()
    assert models.read_text() == MODELS  # untouched file, untouched bytes

    store.set_setting("screenshots", "quality", None)  # back to the default: the key goes
    store.save()
    assert "quality" not in settings.read_text() and "# lossless" in settings.read_text()


def test_profile_edits_keep_comments_and_the_cli_reads_them(files: tuple[Path, Path]) -> None:
    models, settings = files
    store = ConfigStore(models, settings)
    assert store.profile_names() == ["lab", "hosted"]
    store.set_profile_field("lab", "model", "qwen3-vl")
    store.set_profile_field("lab", "max_tokens", "2048")  # text from a form field, typed as the field is
    store.set_profile_field("hosted", "api_key_env", "EXAMPLE_API_KEY")
    store.add_profile("local")
    store.set_profile_field("local", "base_url", "http://127.0.0.1:8080/v1")
    store.set_profile_field("local", "model", "ui-tars")
    store.save()
    text = models.read_text()
    assert text.startswith("# Planner on the lab server\n[profiles.lab]\nmodel = \"qwen3-vl\"   # the served name\n")
    assert "max_tokens = 2048\n\n# A hosted one\n[profiles.hosted]" in text
    assert text.endswith('[profiles.local]\nbase_url = "http://127.0.0.1:8080/v1"\nmodel = "ui-tars"\n')
    profiles = load_profiles(models)
    assert profiles["lab"].max_tokens == 2048 and profiles["hosted"].api_key_env == "EXAMPLE_API_KEY"
    assert profiles["local"].base_url == "http://127.0.0.1:8080/v1"

    store.remove_profile("local")
    store.save()
    assert "local" not in load_profiles(models)


def test_bad_values_are_refused_naming_the_file_and_key_and_nothing_is_written(files: tuple[Path, Path]) -> None:
    models, settings = files
    store = ConfigStore(models, settings, settings_checks=APP_CHECKS)
    with pytest.raises(ConfigStoreError, match=r"models.toml: .*profile 'lab', field 'max_tokens'"):
        store.set_profile_field("lab", "max_tokens", "lots")
    with pytest.raises(ConfigStoreError, match="a profile 'lab' already exists"):
        store.add_profile("lab")
    store.set_setting("app", "countdown_s", -1)
    with pytest.raises(ConfigStoreError, match=rf"{settings}: \[app\] countdown_s must be a number"):
        store.save()
    store.set_setting("app", "countdown_s", None)
    store.set_setting("recorder", "fps", 0)
    with pytest.raises(ConfigStoreError, match=rf"{settings}: \[recorder\] fps must be between 0 and 60"):
        store.save()
    store.set_setting("recorder", "fps", 10)
    store.set_setting("screenshots", "format", "jpeg")  # lossy only: needs a quality
    with pytest.raises(ConfigStoreError, match=rf"{settings}: \[screenshots\]: jpeg is lossy only"):
        store.save()
    store.set_setting("screenshots", "quality", 85)
    store.set_setting("hotkeys", "pause", 5)
    with pytest.raises(ConfigStoreError, match=r"\[hotkeys\] pause = 5"):
        store.save()
    assert settings.read_text() == SETTINGS and models.read_text() == MODELS
    assert not [p for p in settings.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_file_edited_meanwhile_is_not_overwritten(files: tuple[Path, Path]) -> None:
    models, settings = files
    store = ConfigStore(models, settings)
    assert store.setting("recorder", "fps") is None  # the window shows what the file says
    settings.write_text(SETTINGS + "\n[recorder]\nfps = 4\n")  # the user edits it in a text editor
    store.set_setting("recorder", "fps", 20)
    with pytest.raises(ConfigStoreError, match="changed on disk since it was opened"):
        store.save()
    assert settings.read_text().endswith("fps = 4\n")


def test_a_new_models_file_is_private_to_the_user(tmp_path: Path) -> None:
    store = ConfigStore(tmp_path / "new" / "models.toml", tmp_path / "new" / "settings.toml")
    store.add_profile("planner")
    store.set_profile_field("planner", "base_url", "http://127.0.0.1:1/v1")
    store.save()
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "models.toml").st_mode) == 0o600
    assert not (tmp_path / "new" / "settings.toml").exists()  # nothing changed there: nothing written


@pytest.mark.usefixtures("real_keyring")
def test_an_api_key_round_trips_through_gnome_keyring(files: tuple[Path, Path]) -> None:
    models, settings = files
    status = keyring_status()
    assert status.available and "SecretService" in status.backend
    store = ConfigStore(models, settings)
    reference = store_api_key("hosted", SECRET)
    assert reference == keyring_reference("hosted") == "pcagent:hosted"
    store.set_profile_field("hosted", "api_key_keyring", reference)
    store.save()
    assert SECRET not in models.read_text()
    assert resolve_api_key(get_profile("hosted", models)) == SECRET  # what the model backend will send
    assert api_key_stored(reference)
    delete_api_key(reference)
    assert not api_key_stored(reference)
    assert resolve_api_key(get_profile("hosted", models)) is None


@pytest.mark.usefixtures("no_keyring")
def test_without_a_keyring_backend_it_says_so_and_the_environment_variable_serves(
        files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    models, settings = files
    status = keyring_status()
    assert not status.available and "no OS keyring is available" in status.reason
    with pytest.raises(KeyringUnavailable, match="cannot store the API key: no OS keyring") as raised:
        store_api_key("hosted", SECRET)
    assert SECRET not in str(raised.value)
    store = ConfigStore(models, settings)
    store.set_profile_field("hosted", "api_key_env", "EXAMPLE_API_KEY")
    store.save()
    monkeypatch.setenv("EXAMPLE_API_KEY", SECRET)
    assert resolve_api_key(get_profile("hosted", models)) == SECRET
