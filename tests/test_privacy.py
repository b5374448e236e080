"""Typed secrets never reach a trajectory or the recorder's console: each redaction rule on its own
(tracker.privacy), the [privacy] settings file, and real password prompts (zenity, the Qt sample app)
typed into with real X input while `pcagent record` runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from grounding.accessibility import ElementInfo, WindowInfo, open_windows
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.xdo import Xdo
from tests.conftest import REPO_ROOT, skip_or_fail
from tracker.format.actions import click, hotkey, parse_action, press_key, type_text
from tracker.format.trajectory import read_trajectory
from models.images import register_image_plugins
from tracker.format.screenshot_format import PIL_FORMATS
from tracker.privacy import (DEFAULT_AUTH_WORDS, PrivacySettings, PrivacySettingsError, TypingRedactor,
                             load_privacy_settings)
from tracker.settings import default_settings_path
from tracker.recording.context import ContextProvider, StepContext
from tracker.recording.input_events import KeyEvent
from tracker.recording.merge import ActionMerger, MergeConfig

PROMPT = WindowInfo("zenity", "Zenity", 4242, (0, 0, 290, 164), 11)
EDITOR = WindowInfo("notes.txt - Mousepad", "Mousepad", 4343, (0, 0, 800, 600), 22)
PASSWORD_FIELD = ElementInfo("Password", "password text", (90, 120, 340, 150), "app", frozenset({"focused"}))
NAME_FIELD = ElementInfo("Name", "text", (90, 60, 340, 90), "app", frozenset({"focused", "editable"}))


def ctx(window=EDITOR, element=None, labels=None) -> StepContext:
    return StepContext(element, window, labels)


# --- the rules, one at a time ---

def test_rule_1_focused_password_field():
    redactor = TypingRedactor()
    assert redactor.observe(type_text("hunter2"), ctx(element=PASSWORD_FIELD)) == "password"
    protected = ElementInfo("PIN", "text", None, "app", frozenset({"protected", "focused"}))
    assert redactor.observe(type_text("1234"), ctx(element=protected)) == "password"
    assert redactor.observe(type_text("hello"), ctx(element=NAME_FIELD)) is None


def test_rule_2_clicked_password_field_until_focus_visibly_moves():
    redactor = TypingRedactor()
    on_field, unknown_focus = ctx(element=PASSWORD_FIELD), ctx()  # the focus look-up found nothing
    redactor.observe(click(200, 135), on_field)
    assert redactor.observe(type_text("hunter2"), unknown_focus) == "clicked_password_field"
    for key in ("left", "backspace", "end"):  # editing keys keep focus in the field
        redactor.observe(press_key(key), unknown_focus)
    redactor.observe(hotkey("ctrl", "a"), unknown_focus)
    assert redactor.observe(type_text("more"), unknown_focus) == "clicked_password_field"
    assert redactor.observe(type_text("x"), ctx(window=None)) == "clicked_password_field"  # unknown: keep
    assert redactor.observe(type_text("elsewhere"), ctx(window=PROMPT)) is None  # another window

    for moves_focus in (press_key("tab"), press_key("enter"), press_key("esc"), hotkey("shift", "tab"),
                        hotkey("alt", "tab"), click(700, 500)):
        redactor.observe(click(200, 135), on_field)
        redactor.observe(moves_focus, ctx(element=NAME_FIELD if moves_focus.kind == "click" else None))
        assert redactor.observe(type_text("visible"), unknown_focus) is None, moves_focus


def test_rule_3_auth_window_by_title_application_or_labels():
    redactor = TypingRedactor()
    for title in ("Authentication Required", "[sudo] password for alice", "Unlock Login Keyring", "Enter PIN"):
        assert redactor.observe(type_text("x"), ctx(WindowInfo(title, None, 1, None, 5))) == "auth_window", title
    for application in ("Polkit-gnome-authentication-agent-1", "ssh-askpass", "Pinentry"):
        window = WindowInfo("dialog", application, 1, None, 5)
        assert redactor.observe(type_text("x"), ctx(window)) == "auth_window", application
    labels = ("Type your password", "Cancel", "OK")
    assert redactor.observe(type_text("hunter2"), ctx(PROMPT, labels=labels)) == "auth_window"
    assert redactor.observe(type_text("hunter2"), ctx(PROMPT, labels=("Name:", "OK"))) is None
    assert redactor.observe(type_text("hunter2"), ctx(PROMPT, labels=None)) is None
    # whole words only: "Pinned tabs" and "spinner" say nothing about a PIN
    assert redactor.observe(type_text("x"), ctx(WindowInfo("Pinned tabs - spinner", None, 1, None, 5))) is None
    no_labels = TypingRedactor(PrivacySettings(window_labels=False))
    assert no_labels.observe(type_text("hunter2"), ctx(PROMPT, labels=labels)) is None
    titled = TypingRedactor(PrivacySettings(title_patterns=(r"^KeePassXC\b",)))
    assert titled.observe(type_text("x"), ctx(WindowInfo("KeePassXC - db", None, 1, None, 5))) == "auth_window"


def test_rule_4_secret_looking_text():
    redactor = TypingRedactor()
    assert redactor.observe(type_text("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"), ctx()) == "secret_text"
    assert redactor.observe(type_text("card 4111 1111 1111 1111"), ctx()) == "secret_text"
    assert redactor.observe(type_text("Meeting notes 2024-01-15"), ctx()) is None
    off = TypingRedactor(PrivacySettings(redact_secret_text=False))
    assert off.observe(type_text("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"), ctx()) is None


def test_only_type_text_is_redacted_and_a_broken_check_redacts():
    redactor = TypingRedactor()
    assert redactor.observe(parse_action("click (5, 5)"), ctx(element=PASSWORD_FIELD)) is None
    assert redactor.observe(press_key("enter"), ctx(PROMPT, element=PASSWORD_FIELD)) is None

    class Broken:
        @property
        def element(self):
            raise RuntimeError("look-up exploded")

    assert redactor.observe(type_text("hunter2"), Broken()) == "check_failed"


def test_a_prompt_popping_up_mid_run_gets_a_run_and_a_context_of_its_own():
    """No key but letters between the editor and the prompt: the run still ends where the window changes."""
    windows = {"active": EDITOR}
    merger = ActionMerger(MergeConfig(idle_wait_s=None), started_at=0.0,
                          context_for=lambda event: ctx(windows["active"]),
                          window_for=lambda event: windows["active"].window_id)
    auth_prompt = WindowInfo("Authentication Required", "Polkit-gnome-authentication-agent-1", 7, None, 33)
    out, t = [], 0.0
    for text, window in (("notes", EDITOR), ("Pl0kij", auth_prompt)):
        windows["active"] = window
        for char in text:
            t += 0.05
            out += merger.feed(KeyEvent(t, char, char, True)) + merger.feed(KeyEvent(t + 0.01, char, char, False))
    out += merger.flush()
    redactor = TypingRedactor()
    assert [(str(m.action), redactor.observe(m.action, m.context)) for m in out] == [
        ("type text: notes", None), ("type text: Pl0kij", "auth_window")]


def test_guards_use_the_same_secret_detector():
    from pcagent.collab import guards
    from tracker import privacy

    assert guards.looks_like_secret is privacy.looks_like_secret


# --- the settings file ---

def test_settings_default_when_absent(tmp_path, monkeypatch):
    monkeypatch.delenv("PCAGENT_SETTINGS_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_settings_path() == tmp_path / "pcagent" / "settings.toml"
    settings = load_privacy_settings()
    assert settings == PrivacySettings() and settings.auth_words == DEFAULT_AUTH_WORDS
    assert settings.redact_secret_text and settings.window_labels and settings.source is None
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(tmp_path / "elsewhere.toml"))
    assert default_settings_path() == tmp_path / "elsewhere.toml"


def test_settings_custom_words_and_patterns_are_honoured(tmp_path, monkeypatch):
    path = tmp_path / "settings.toml"
    path.write_text('[privacy]\nextra_auth_words = ["Kennwort"]\ntitle_patterns = ["^Vault "]\n'
                    'redact_secret_text = false\n')
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(path))
    settings = load_privacy_settings()
    assert settings.auth_words == DEFAULT_AUTH_WORDS + ("Kennwort",) and settings.source == str(path)
    redactor = TypingRedactor(settings)
    assert redactor.observe(type_text("x"), ctx(WindowInfo("Kennwort eingeben", None, 1, None, 5))) == "auth_window"
    assert redactor.observe(type_text("x"), ctx(WindowInfo("Vault unlock", None, 1, None, 5))) == "auth_window"
    assert redactor.observe(type_text("x"), ctx(WindowInfo("Password", None, 1, None, 5))) == "auth_window"
    assert redactor.observe(type_text("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345"), ctx()) is None

    path.write_text('[privacy]\nauth_words = ["secreto"]\n')  # replaces the built-in words
    redactor = TypingRedactor(load_privacy_settings(path))
    assert redactor.observe(type_text("x"), ctx(WindowInfo("Secreto", None, 1, None, 5))) == "auth_window"
    assert redactor.observe(type_text("x"), ctx(WindowInfo("Password", None, 1, None, 5))) is None
    assert set(redactor.settings.to_dict()) == {"rules", "auth_words", "title_patterns", "redact_secret_text",
                                                "window_labels", "settings_file"}


@pytest.mark.parametrize("text, says", [
    ("[privacy\nauth_words = 1\n", "not valid TOML"),
    ("[privacy]\nauth_words = 'password'\n", "[privacy] key 'auth_words' must be a list of non-empty strings"),
    ("[privacy]\nextra_auth_words = ['ok', '']\n", "key 'extra_auth_words' must be a list of non-empty strings"),
    ("[privacy]\nredact_secret_text = 'yes'\n", "key 'redact_secret_text' must be true or false"),
    ("[privacy]\ntitle_patterns = ['(unclosed']\n", "key 'title_patterns': '(unclosed' is not a valid regular"),
    ("[privacy]\nauth_word = ['x']\n", "unknown key(s) 'auth_word'; keys are auth_words"),
    ("privacy = 3\n", "'privacy' must be a table"),
    ("[privcy]\nauth_words = []\n", "unknown top-level key 'privcy'"),
    ("[screenshots]\nformat = 'png'\n[privacy]\nauth_word = ['x']\n", "unknown key(s) 'auth_word'"),
])
def test_a_malformed_settings_file_is_a_clear_error(tmp_path, text, says):
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(PrivacySettingsError) as error:
        load_privacy_settings(path)
    assert str(error.value).startswith(f"{path}: ") and says in str(error.value)
    if "TOML" in says:  # and `pcagent record` says so, without a traceback, before recording anything
        run = subprocess.run([sys.executable, "-m", "pcagent", "record", "--out", str(tmp_path / "never")],
                             env={"PATH": "/usr/bin:/bin", "PCAGENT_SETTINGS_FILE": str(path), "HOME": str(tmp_path)},
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert f"pcagent record: {path}: not valid TOML" in run.stderr
        assert not (tmp_path / "never").exists()


# --- real prompts, real input, the real recorder ---

def _assert_nowhere(secret: str, rec: RecorderProcess) -> None:
    """Neither the secret nor a piece of it in any file of the trajectory, or in the console output."""
    fragments = {secret, secret[:6], secret[-6:]}
    checked = 0
    for path in Path(rec.out).rglob("*"):
        if not path.is_file():
            continue
        if path.parent.name == "screenshots":
            register_image_plugins()
            with Image.open(path) as image:
                assert image.format in PIL_FORMATS, path  # pixels, not text: the field shows bullets
            continue
        data = path.read_bytes()
        for fragment in fragments:
            assert fragment.encode() not in data, f"{fragment!r} leaked into {path}"
        checked += 1
    assert checked >= 2  # meta.json and steps.jsonl at least
    for fragment in fragments:
        assert fragment not in rec.output, f"{fragment!r} leaked onto the console:\n{rec.output}"


def _start_zenity(display, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, WindowInfo]:
    if not shutil.which("zenity"):
        skip_or_fail("zenity is not installed: run installer/install-debian.sh --test")
    env = display.child_env()
    env["HOME"] = str(tmp_path / "zenity-home")  # a fresh GTK/dconf state each time
    Path(env["HOME"]).mkdir(exist_ok=True)
    proc = subprocess.Popen(["zenity", "--password", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    windows = open_windows(display.display)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            found = [w for w in windows.top_levels() if w.pid == proc.pid and w.rect]
            if found:
                time.sleep(0.5)  # mapped; let GTK give the entry its focus
                return proc, found[0]
            time.sleep(0.1)
    finally:
        windows.close()
    proc.kill()
    raise AssertionError("zenity --password showed no window within 20 s")


def _type_into_zenity(display, tmp_path, secret, record_args=(), zenity_args=(), settings: str | None = None):
    """Record while `secret` is typed into zenity's password prompt and Enter confirms it."""
    settings_path = tmp_path / "settings.toml"
    if settings is not None:
        settings_path.write_text(settings)
    env = display.child_env()
    env["PCAGENT_SETTINGS_FILE"] = str(settings_path)  # never the developer's own settings
    zenity, window = _start_zenity(display, tmp_path, *zenity_args)
    rec = None
    try:
        rec = RecorderProcess(tmp_path / "trajectory", *record_args, "--idle-wait", "0", env=env).start()
        xdo = Xdo(display.child_env())
        left, top, right, bottom = window.rect
        xdo.move((left + right) // 2, (top + bottom) // 2)  # without a WM, keys go where the pointer is
        xdo.type(secret, delay_ms=20)
        xdo.key("Return")
        answer, _ = zenity.communicate(timeout=10)
        assert answer.strip() == secret  # the keys did reach the prompt
        rec.wait_for_line("press key: enter")
        assert rec.stop() == 0, rec.output
        return rec
    finally:
        if zenity.poll() is None:
            zenity.kill()
            zenity.wait(5)
        if rec is not None:
            rec.kill()


def test_rule_3_reads_the_labels_of_a_real_prompt(wm_display, tmp_path, monkeypatch):
    if wm_display.accessibility_error:
        skip_or_fail(wm_display.accessibility_error)
    zenity, window = _start_zenity(wm_display, tmp_path)
    for name, value in wm_display.child_env().items():
        monkeypatch.setenv(name, value)
    provider = ContextProvider()
    try:
        context = provider.for_event(KeyEvent(time.monotonic(), "a", "a", True))
    finally:
        provider.close()
        zenity.kill()
        zenity.wait(5)
    assert context.window is not None and context.window.window_id == window.window_id
    assert "Type your password" in (context.window_labels or ()), context
    # the labels alone make it a prompt, whatever the focus look-up found
    assert TypingRedactor().reason("x", replace(context, element=None)) == "auth_window"


@pytest.mark.parametrize("display_fixture", ["xdisplay", "wm_display"])
def test_a_secret_typed_into_zenity_is_written_nowhere(request, tmp_path, display_fixture):
    display = request.getfixturevalue(display_fixture)
    if display.accessibility_error:
        skip_or_fail(display.accessibility_error)
    secret = "Qw3rty-Zk9vLp"
    rec = _type_into_zenity(display, tmp_path, secret)
    trajectory = read_trajectory(rec.out)
    typed = [s for s in trajectory.steps if s.action.startswith("type text")]
    assert [s.action for s in typed] == ["type text: ********"], rec.output
    assert typed[0].extra["redacted"] in ("password", "auth_window")
    assert trajectory.meta["recorder"]["accessibility_available"] is True
    _assert_nowhere(secret, rec)


def test_a_secret_typed_into_the_sample_apps_password_field_is_written_nowhere(sample_app, xdo, tmp_path):
    app = sample_app
    env = dict(xdo.env, PCAGENT_SETTINGS_FILE=str(tmp_path / "absent.toml"))
    rec = RecorderProcess(tmp_path / "trajectory", "--idle-wait", "0", env=env).start()
    try:
        secret = "Mn8bvc-Tr5eWq"
        xdo.click(*app.center("name"))
        time.sleep(0.6)
        xdo.type("visible")
        xdo.key("Tab")  # into the password field without clicking it: only its focus tells
        xdo.type(secret)
        app.wait_for("password_changed", length=len(secret))
        xdo.key("Return")
        rec.wait_for_line("press key: enter")
        assert rec.stop() == 0, rec.output
    finally:
        rec.kill()
    steps = read_trajectory(rec.out).steps
    typed = [s for s in steps if s.action.startswith("type text")]
    assert [s.action for s in typed] == ["type text: visible", "type text: ********"], rec.output
    assert typed[1].extra["redacted"] == "password" and "redacted" not in typed[0].extra
    _assert_nowhere(secret, rec)


def test_without_accessibility_the_window_title_still_redacts(wm_display, tmp_path):
    secret = "Pl0kij-Uy6tRe"
    rec = _type_into_zenity(wm_display, tmp_path, secret, record_args=["--no-accessibility"],
                            zenity_args=["--title", "Kennwort eingeben"],
                            settings='[privacy]\nextra_auth_words = ["kennwort"]\n')
    assert "password fields cannot be recognised" in rec.output
    trajectory = read_trajectory(rec.out)
    typed = [s for s in trajectory.steps if s.action.startswith("type text")]
    assert [(s.action, s.extra.get("redacted")) for s in typed] == [("type text: ********", "auth_window")]
    recorder = trajectory.meta["recorder"]
    assert recorder["accessibility_available"] is False and recorder["accessibility"] is False
    assert "kennwort" in recorder["privacy"]["auth_words"]
    assert recorder["privacy"]["settings_file"] == str(tmp_path / "settings.toml")
    _assert_nowhere(secret, rec)
    json.dumps(recorder)  # plain data only


def test_a_big_windows_labels_are_listed_again_only_when_its_title_changes(launch_sample_app, wm_display,
                                                                            monkeypatch):
    """Typing in a main window (too many nodes to be a prompt) costs one listing, not one a second; a new title
    (a browser's login page) is listed again at once."""
    if wm_display.accessibility_error:
        skip_or_fail(wm_display.accessibility_error)
    from tracker.recording import context as context_module

    app = launch_sample_app(display=wm_display)
    for name, value in wm_display.child_env().items():
        monkeypatch.setenv(name, value)
    xdo = Xdo(wm_display.child_env())
    left, top, right, bottom = app.widgets["name"]
    xdo.click((left + right) // 2, (top + bottom) // 2)  # the window manager makes it the active window
    listings, real_listing = [], context_module.list_elements

    def counted_listing(*args, **kwargs):
        listings.append(real_listing(*args, **kwargs))
        return listings[-1]

    monkeypatch.setattr(context_module, "list_elements", counted_listing)
    monkeypatch.setattr(context_module, "LABELS_FRESH_S", 0.0)  # what a second later would be
    provider = ContextProvider()
    try:
        window = provider.for_event(KeyEvent(time.monotonic(), "a", "a", True)).window
        assert window is not None and window.pid == app.proc.pid
        for _ in range(3):
            assert provider.for_event(KeyEvent(time.monotonic(), "b", "b", True)).window_labels is None
        assert len(listings) == 1 and listings[0].visited >= context_module.PROMPT_NODE_CAP  # the app is big
        xdo.run("set_window", "--name", "Sign in - Mail", window.window_id)
        deadline = time.monotonic() + 5
        while provider.for_event(KeyEvent(time.monotonic(), "c", "c", True)).window.title != "Sign in - Mail":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(listings) == 2
    finally:
        provider.close()
