"""The recorder on a real X display: xdotool drives the sample app while `pcagent record` runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from pcagent.testbed.recorder_process import RecorderProcess
from tracker.format.trajectory import read_trajectory
from tracker.format.trajectory_check import check_trajectory

STOP, PAUSE, FINISH, FAIL = "ctrl+shift+F12", "ctrl+shift+F9", "ctrl+shift+F10", "ctrl+shift+F11"


@pytest.fixture
def record(xdisplay, tmp_path):
    """`record(*args) -> RecorderProcess`, started on the virtual display; killed at teardown."""
    started = []

    def start(*args, out=None, env=None):
        out = out or tmp_path / f"trajectory-{len(started)}"
        proc = RecorderProcess(out, *args, env=env or xdisplay.child_env()).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def actions_of(trajectory_dir):
    return [step.action for step in read_trajectory(trajectory_dir).steps]


def test_scripted_session_yields_exactly_the_expected_actions(sample_app, xdo, record):
    app = sample_app
    rec = record("--idle-wait", "1.5")
    save, item3, item5 = app.center("save"), app.center("item_3"), app.center("item_5")
    square, name, delete = app.center("drag"), app.center("name"), app.center("delete")
    canvas = app.rect("canvas")
    target = (canvas[0] + 200, canvas[1] + 300)
    items = app.center("items")

    xdo.click(*save)
    app.wait_for("button_clicked", name="Save")
    time.sleep(0.6)
    xdo.double_click(*item3)
    app.wait_for("item_double_clicked")
    time.sleep(0.6)
    xdo.click(*item5, button=3)
    app.wait_for("context_menu_shown")
    xdo.key("Escape")
    xdo.drag(*square, *target)
    app.wait_for("drop")
    xdo.scroll(*items, -3)
    app.wait_for("list_scrolled")
    xdo.click(*name)
    time.sleep(0.6)
    xdo.type("Helo wrold")  # typos, fixed below with backspace
    xdo.key(*["BackSpace"] * 8)
    xdo.type("llo world")
    xdo.key("ctrl+a")
    xdo.key("ctrl+shift+t")
    app.wait_for("shortcut")
    xdo.key("Return")
    app.wait_for("name_return")
    time.sleep(2.0)  # idle: one `wait` at 1.5 s
    xdo.key(PAUSE)
    rec.wait_for_line("[paused]")
    xdo.click(*app.center("open"))  # while paused: the app sees it, the trajectory does not
    app.wait_for("button_clicked", name="Open")
    xdo.key(PAUSE)
    rec.wait_for_line("[resumed]")
    xdo.click(*delete)
    xdo.key(STOP)
    assert rec.wait() == 0, rec.output

    assert app.events("name_changed")[-1]["text"] == "Hello world"
    assert actions_of(rec.out) == [
        f"click ({save[0]}, {save[1]})",
        f"double click ({item3[0]}, {item3[1]})",
        f"right click ({item5[0]}, {item5[1]})",
        "press key: esc",
        f"drag from ({square[0]}, {square[1]}) to ({target[0]}, {target[1]})",
        "scroll (0, -3)",
        f"click ({name[0]}, {name[1]})",
        "type text: Hello world",
        "hotkey (ctrl, a)",
        "hotkey (ctrl, shift, t)",
        "press key: enter",
        "wait",
        f"click ({delete[0]}, {delete[1]})",
    ]
    trajectory = read_trajectory(rec.out)
    assert trajectory.meta["outcome"] == "stopped"
    assert [p for p in check_trajectory(rec.out) if p.severity == "error"] == []
    steps = trajectory.steps
    assert steps[0].pointer == save and steps[0].actor == "human"
    assert steps[0].window["title"] == "pcagent sample app"
    if trajectory.meta["recorder"].get("accessibility_available"):
        assert steps[0].element["name"] == "Save" and steps[0].element["role"] == "push button"
        assert steps[7].element["name"] == "Name"  # the focused field the text went into
    for step in steps:
        assert (rec.out / step.screenshot).is_file()


def _pixel(path, point):
    with Image.open(path) as image:
        return image.convert("RGB").getpixel(point)


def test_the_screenshot_shows_the_screen_before_the_action(sample_app, xdo, record, grab):
    app = sample_app
    pad, save = app.center("pad"), app.center("save")
    probe = (app.rect("pad")[0] + 6, app.rect("pad")[1] + 6)
    before = grab().getpixel(probe)
    rec = record()
    time.sleep(0.3)
    xdo.click(*pad)
    app.wait_for("pad_press")
    time.sleep(0.8)
    after = grab().getpixel(probe)
    assert before != after, "the pad must change visibly on press"
    xdo.click(*save)
    xdo.key(STOP)
    rec.wait()
    steps = read_trajectory(rec.out).steps
    assert [s.action for s in steps] == [f"click ({pad[0]}, {pad[1]})", f"click ({save[0]}, {save[1]})"]
    assert _pixel(rec.out / steps[0].screenshot, probe) == before
    assert _pixel(rec.out / steps[1].screenshot, probe) == after
    with Image.open(rec.out / steps[0].screenshot) as image:
        assert image.size == (1280, 800)


def test_a_burst_of_500_characters_at_full_speed_loses_none(sample_app, xdo, record):
    app = sample_app
    text = ("The quick brown fox jumps over 13 lazy dogs, twice! " * 10)[:500]
    xdo.click(*app.center("name"))
    time.sleep(0.6)
    rec = record()
    xdo.type(text, delay_ms=0)
    app.wait_for(lambda e: e.get("event") == "name_changed" and len(e["text"]) == 500, timeout=20)
    xdo.key("Return")
    rec.wait_for_line("press key: enter", timeout=20)
    rec.stop()
    assert actions_of(rec.out) == [f"type text: {text}", "press key: enter"]


def test_non_ascii_text_typed_through_the_keyboard_layout(sample_app, xdo, record, xdisplay):
    from Xlib import display

    d = display.Display(xdisplay.display)
    first = d.display.info.min_keycode
    mapping = d.get_keyboard_mapping(first, d.display.info.max_keycode - first + 1)
    free = [first + i for i, row in enumerate(mapping) if not any(row)][:4]
    letters = "äé€ж"
    # Latin-1 keysyms are the code points; others are Unicode keysyms, as xdotool names them.
    keysyms = [ord(c) if ord(c) < 0x100 else 0x1000000 + ord(c) for c in letters]
    for code, sym in zip(free, keysyms):  # a layout that has these keys, as a user's would
        d.change_keyboard_mapping(code, [(sym, sym, sym, sym)])
    d.sync()
    d.close()
    time.sleep(0.3)
    xdo.click(*sample_app.center("name"))
    time.sleep(0.6)
    rec = record()
    xdo.type(f"Ok {letters}", delay_ms=30)
    xdo.key("Return")
    rec.wait_for_line("press key: enter")
    rec.stop()
    assert actions_of(rec.out) == [f"type text: Ok {letters}", "press key: enter"]


def test_password_typing_never_reaches_disk(sample_app, xdo, record):
    app = sample_app
    secret = "hunter2-S3cretPw"
    rec = record()
    xdo.click(*app.center("password"))
    time.sleep(0.6)
    xdo.type(secret)
    app.wait_for("password_changed", length=len(secret))
    xdo.key("Tab")
    xdo.click(*app.center("name"))
    time.sleep(0.6)
    xdo.type("visible")
    xdo.key("Return")
    rec.wait_for_line("press key: enter")
    rec.stop()
    trajectory = read_trajectory(rec.out)
    if not trajectory.meta["recorder"].get("accessibility_available"):
        pytest.fail("AT-SPI is needed to recognise password fields: "
                    f"{trajectory.meta['recorder'].get('accessibility_reason')}")
    typed = [s for s in trajectory.steps if s.action.startswith("type text")]
    assert [s.action for s in typed] == ["type text: ********", "type text: visible"]
    assert typed[0].extra.get("redacted") == "password"
    for path in rec.out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for fragment in (secret, "hunter2", "S3cret"):
                assert fragment.encode() not in data, f"{fragment} leaked into {path}"
    assert secret not in rec.output


def test_sigkill_leaves_a_readable_trajectory(sample_app, xdo, record):
    app = sample_app
    rec = record("--idle-wait", "0")
    for name in ("save", "open", "delete", "pad"):
        xdo.click(*app.center(name))
        time.sleep(0.55)
    xdo.click(*app.center("name"))
    rec.wait_for_line("click", timeout=10)
    xdo.type("x" * 200, delay_ms=0)
    xdo.key("Return")
    time.sleep(0.05)
    rec.kill()  # mid-session, possibly mid-write
    trajectory = read_trajectory(rec.out)
    assert len(trajectory.steps) >= 4
    assert trajectory.steps[0].action.startswith("click")
    assert [p for p in check_trajectory(rec.out) if p.severity == "error"] == []
    result = subprocess.run([sys.executable, "-m", "pcagent", "trace", "check", str(rec.out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_given_task_from_a_task_file_and_finish_hotkey(sample_app, xdo, record, tmp_path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps([{"id": "t1", "task": "Save the file", "level": "easy"},
                                 {"id": "t2", "task": "Open the file"}]))
    rec = record("--task-file", str(tasks), "--task-id", "t2")
    xdo.click(*sample_app.center("open"))
    xdo.key(FINISH)
    assert rec.wait() == 0
    trajectory = read_trajectory(rec.out)
    assert trajectory.meta["task"]["description"] == "Open the file"
    assert trajectory.meta["task"]["mode"] == "given"
    assert trajectory.meta["outcome"] == "finish"
    assert [s.action for s in trajectory.steps][-1] == "finish"
    assert len(trajectory.steps) == 2


def test_fail_hotkey_ends_with_fail(sample_app, xdo, record):
    rec = record("--task", "Do the impossible")
    xdo.key(FAIL)
    assert rec.wait() == 0
    trajectory = read_trajectory(rec.out)
    assert [s.action for s in trajectory.steps] == ["fail"]
    assert trajectory.meta["outcome"] == "fail"
    assert trajectory.meta["task"] == {"mode": "given", "description": "Do the impossible"}


def test_excluded_windows_are_never_recorded(sample_app, xdo, record):
    rec = record("--exclude-window", "sample app")
    xdo.click(*sample_app.center("save"))
    xdo.type("private")
    xdo.key("Return")
    time.sleep(0.3)
    rec.stop()
    trajectory = read_trajectory(rec.out)
    assert trajectory.steps == []
    assert trajectory.meta["recorder"]["steps_excluded"] == 3


def test_meta_records_the_screens(sample_app, record):
    rec = record()
    rec.stop()
    meta = read_trajectory(rec.out).meta
    assert meta["screens"] == [{"index": 0, "left": 0, "top": 0, "width": 1280, "height": 800,
                                "scale": 1.0, "primary": True}]
    assert meta["format"] == "pcagent-trajectory"


def test_without_a_display_the_recorder_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "pcagent", "record", "--out", str(tmp_path / "t")],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 4  # the exit code for "no display" (README)
    assert "no display" in result.stderr
    assert not (tmp_path / "t").exists()


def test_two_monitors_one_desktop(launch_sample_app, tmp_path):
    """Coordinates are on the whole virtual desktop; meta.json lists every monitor."""
    from pcagent.testbed.virtual_display import VirtualDisplay
    from pcagent.testbed.xdo import Xdo

    with VirtualDisplay(screens=[(1280, 800), (1024, 768)], accessibility=False) as display:
        app = launch_sample_app("--x", 1300, "--y", 40, display=display)
        rec = RecorderProcess(tmp_path / "t", env=display.child_env()).start()
        try:
            save = app.center("save")
            Xdo(display.child_env()).click(*save)
            app.wait_for("button_clicked", name="Save")
            rec.stop()
        finally:
            rec.kill()
        trajectory = read_trajectory(rec.out)
        assert [s.action for s in trajectory.steps] == [f"click ({save[0]}, {save[1]})"]
        assert save[0] > 1280
        assert [(s["left"], s["top"], s["width"], s["height"]) for s in trajectory.meta["screens"]] == [
            (0, 0, 1280, 800), (1280, 0, 1024, 768)]
        assert [s["primary"] for s in trajectory.meta["screens"]] == [True, False]
        with Image.open(rec.out / trajectory.steps[0].screenshot) as image:
            assert image.size == (2304, 800)


def test_free_task_is_described_and_rated_at_the_end(sample_app, xdo, xdisplay, tmp_path):
    """--free asks for the description and difficulty on the terminal after recording."""
    import pty

    out = tmp_path / "free"
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pcagent", "record", "--free", "--out", str(out)],
                            env=xdisplay.child_env(), stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""

    def read_until(text, timeout=30):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text.encode() not in seen:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            try:
                seen += os.read(leader, 4096)
            except OSError:
                break
        return seen

    try:
        read_until("Recording to")
        xdo.click(*sample_app.center("save"))
        xdo.key(STOP)
        read_until("Describe the task")
        os.write(leader, b"Save the document\n")
        read_until("Difficulty")
        os.write(leader, b"easy\n")
        assert proc.wait(30) == 0
        read_until("Trajectory:")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    meta = read_trajectory(out).meta
    assert meta["task"] == {"mode": "free", "description": "Save the document", "difficulty": "easy"}
    assert len(read_trajectory(out).steps) == 1


@pytest.mark.parametrize("stop_by", ["SIGINT", "SIGTERM", "hotkey"])
def test_stop_is_prompt_and_writes_every_step(sample_app, xdo, record, stop_by):
    """Stopping used to wait ~2 s per pynput listener (a blocked XRecord read); now it is prompt."""
    app = sample_app
    rec = record("--idle-wait", "0")
    name, save = app.center("name"), app.center("save")
    xdo.click(*name)
    time.sleep(0.6)
    xdo.type("hello")
    xdo.key("Return")
    rec.wait_for_line("press key: enter")
    xdo.click(*save)
    app.wait_for("button_clicked", name="Save")  # the click is still pending: a double click could follow
    started = time.monotonic()
    if stop_by == "hotkey":
        xdo.key(STOP)
    else:
        rec.proc.send_signal(getattr(signal, stop_by))
    code = rec.proc.wait(30)
    elapsed = time.monotonic() - started
    rec.wait()
    assert code == 0, rec.output
    assert elapsed < 2.0, f"stopping took {elapsed:.2f} s"
    trajectory = read_trajectory(rec.out)
    assert [s.action for s in trajectory.steps] == [
        f"click ({name[0]}, {name[1]})", "type text: hello", "press key: enter", f"click ({save[0]}, {save[1]})"]
    assert trajectory.meta["outcome"] == "stopped"
    assert trajectory.meta["recorder"]["errors"] == []
    assert "warning:" not in rec.output


STOP_IN_PROCESS = """
import sys, threading, time
from tracker.recording.recorder import Recorder
recorder = Recorder(sys.argv[1]).start()
time.sleep(0.3)
started = time.monotonic()
recorder.stop()
print(round(time.monotonic() - started, 3), [t.name for t in threading.enumerate() if t is not threading.main_thread()])
print(recorder.errors)
"""


def test_recorder_stop_ends_every_thread(xdisplay, tmp_path):
    """In-process `Recorder.stop()`: no listener thread is left blocked in XRecord."""
    result = subprocess.run([sys.executable, "-c", STOP_IN_PROCESS, str(tmp_path / "t")],
                            env=xdisplay.child_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    elapsed, threads = result.stdout.splitlines()[0].split(" ", 1)
    assert float(elapsed) < 2.0
    assert threads == "[]"
    assert result.stdout.splitlines()[1] == "[]"
    assert "X protocol error" not in result.stderr
    assert read_trajectory(tmp_path / "t").meta["outcome"] == "stopped"


RECORDING_SETTINGS = """\
[recorder]
fps = 4
exclude_windows = ["sample app"]
trajectories_dir = "{folder}"

[hotkeys]
finish = "ctrl+shift+f7"
"""


def settings_env(xdisplay, tmp_path) -> dict:
    """The display's environment with a settings.toml of RECORDING_SETTINGS (trajectories in recordings/)."""
    settings = tmp_path / "settings.toml"
    settings.write_text(RECORDING_SETTINGS.format(folder=tmp_path / "recordings"))
    return {**xdisplay.child_env(), "PCAGENT_SETTINGS_FILE": str(settings)}


def test_settings_toml_decides_how_pcagent_record_records(sample_app, xdo, xdisplay, tmp_path):
    """No option given: settings.toml's fps, excluded windows, trajectories folder and finish hotkey."""
    rec = RecorderProcess(None, env=settings_env(xdisplay, tmp_path)).start()
    try:
        assert rec.out.parent == tmp_path / "recordings" and rec.out.name.startswith("rec-")
        assert "finish: ctrl+shift+f7" in rec.output
        xdo.click(*sample_app.center("save"))
        sample_app.wait_for("button_clicked", name="Save")
        xdo.key("ctrl+shift+F7")
        assert rec.wait() == 0, rec.output
    finally:
        rec.kill()
    trajectory = read_trajectory(rec.out)
    recorder = trajectory.meta["recorder"]
    assert (recorder["fps"], recorder["exclude_windows"]) == (4, ["sample app"])
    assert recorder["hotkeys"] == {"pause": "ctrl+shift+f9", "finish": "ctrl+shift+f7", "fail": "ctrl+shift+f11",
                                   "stop": "ctrl+shift+f12"}
    assert recorder["steps_excluded"] == 1  # the click on the sample app
    assert [s.action for s in trajectory.steps] == ["finish"] and trajectory.meta["outcome"] == "finish"


def test_command_line_options_win_over_settings_toml(sample_app, xdo, xdisplay, tmp_path):
    out = tmp_path / "given"
    rec = RecorderProcess(out, "--fps", "8", "--finish-hotkey", "ctrl+shift+f6", "--exclude-window", "Nothing such",
                          env=settings_env(xdisplay, tmp_path)).start()
    try:
        xdo.click(*sample_app.center("save"))
        sample_app.wait_for("button_clicked", name="Save")
        xdo.key("ctrl+shift+F7")  # the settings' finish hotkey: now an ordinary key, in an excluded window
        time.sleep(0.5)
        assert rec.proc.poll() is None, rec.output
        xdo.key("ctrl+shift+F6")
        assert rec.wait() == 0, rec.output
    finally:
        rec.kill()
    trajectory = read_trajectory(out)
    recorder = trajectory.meta["recorder"]
    assert (recorder["fps"], recorder["hotkeys"]["finish"]) == (8, "ctrl+shift+f6")
    assert recorder["exclude_windows"] == ["sample app", "Nothing such"]  # the option adds to the settings'
    assert recorder["steps_excluded"] == 2  # the click and ctrl+shift+f7
    assert [s.action for s in trajectory.steps] == ["finish"]
    assert not (tmp_path / "recordings").exists()  # --out wins over trajectories_dir


def test_a_bad_settings_toml_stops_pcagent_record_before_it_starts(tmp_path):
    settings = tmp_path / "settings.toml"
    env = {**os.environ, "PCAGENT_SETTINGS_FILE": str(settings)}
    for text, error in (("[recorder]\nfps = 0\n", "[recorder] fps must be between 0 and 60"),
                        ('[hotkeys]\nstop = "ctrl+alt"\n', "[hotkeys] stop: bad hotkey 'ctrl+alt'")):
        settings.write_text(text)
        result = subprocess.run([sys.executable, "-m", "pcagent", "record", "--out", str(tmp_path / "t")],
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 2  # usage (README), before any display is needed
        assert f"{settings}: {error}" in result.stderr
        assert not (tmp_path / "t").exists()
    result = subprocess.run([sys.executable, "-m", "pcagent", "record", "--out", str(tmp_path / "t"), "--fps", "100"],
                            env={**env, "PCAGENT_SETTINGS_FILE": str(tmp_path / "none.toml")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "fps must be between 0 and 60, not 100" in result.stderr
