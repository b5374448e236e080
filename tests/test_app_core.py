"""The tray app's core without a running app: the own-window timeline, amending the last step, the
controller's states, the control socket's privacy, the thought hotkey, and the menu's actions (pytest-qt)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pcagent.app import ctl
from pcagent.app.controller import (
    AGENT_RUNNING,
    IDLE,
    PAUSED,
    RECORDING,
    WAITING_APPROVAL,
    AppController,
    ControllerError,
    RecordingOptions,
    describe_free_task,
    load_recording_options,
)
from pcagent.app.global_hotkey import GlobalHotkey, HotkeyError
from pcagent.testbed.xdo import Xdo
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta, read_trajectory
from tracker.format.trajectory_check import check_trajectory
from tracker.recording.input_events import KeyEvent, MouseButtonEvent
from tracker.recording.own_windows import OwnWindowTimeline

REPO_ROOT = Path(__file__).resolve().parent.parent


# --- the own-window timeline and the trajectory amendment the recorder uses ---------------------------------
def test_own_window_timeline_tells_input_and_frames_apart():
    timeline = OwnWindowTimeline()
    timeline.shown(101, (100, 100, 300, 200), title="box", takes_keyboard=True, t=10.0)
    timeline.hidden(101, t=12.0)
    timeline.shown(202, (0, 0, 50, 50), title="panel", t=20.0)
    inside, outside = MouseButtonEvent(11.0, 150, 150, "left", True), MouseButtonEvent(11.0, 400, 150, "left", True)
    assert timeline.receives(inside) and not timeline.receives(outside)
    assert not timeline.receives(MouseButtonEvent(13.0, 150, 150, "left", True))  # after it hid
    assert not timeline.receives(MouseButtonEvent(11.0, 150, 150, "left", False))  # releases always pass
    assert timeline.receives(KeyEvent(11.5, "a", "a", True, window=None))  # the box had the keyboard
    assert not timeline.receives(KeyEvent(11.5, "ctrl_l", None, True))  # modifiers always pass
    assert not timeline.receives(KeyEvent(13.0, "a", "a", True, window=999))
    assert timeline.receives(KeyEvent(25.0, "a", "a", True, window=202))  # focus was on the panel
    assert [s.title for s in timeline.visible_at(11.0)] == ["box"]
    assert timeline.visible_at(12.1) and not timeline.visible_at(12.0 + OwnWindowTimeline.SETTLE_S + 0.01)
    assert timeline.clean_from(11.0) == pytest.approx(12.0 + OwnWindowTimeline.SETTLE_S)
    assert timeline.clean_from(21.0) is None  # the panel is still shown
    timeline.shown(303, (0, 0, 10, 10), in_screenshots=False, t=30.0)  # a tray icon: input only
    assert [s.title for s in timeline.visible_at(31.0)] == ["panel"]


def test_a_thought_about_the_last_step_is_written_into_it_atomically(tmp_path):
    writer = TrajectoryWriter(tmp_path / "t", new_meta())
    for index, action in enumerate(["click (1, 2)", "type text: hi"]):
        writer.append_step(Step(index, 1000.0 + index, "human", action, None))
    thought = {"text": "I typed a greeting", "source": "human", "time": 1002.0}
    amended = writer.amend_last_step(lambda step: step.update(thought=thought))
    assert amended.extra["thought"] == thought
    writer.append_step(Step(2, 1003.0, "human", "wait", None))  # appending goes on after the rewrite
    with pytest.raises(ValueError, match="index or action"):
        writer.amend_last_step(lambda step: step.update(action="finish"))
    writer.close(outcome="stopped")
    trajectory = read_trajectory(tmp_path / "t")
    assert [s.extra.get("thought") for s in trajectory.steps] == [None, thought, None]
    assert not [p for p in check_trajectory(tmp_path / "t") if p.severity == "error"]
    assert not list((tmp_path / "t").glob(".*.tmp"))


# --- the controller (no recorder needed for the agent's states) --------------------------------------------
def test_agent_supervisor_reports_move_the_state_and_status(tmp_path):
    controller = AppController(RecordingOptions(trajectories_dir=tmp_path))
    events = []
    controller.add_listener(events.append)
    run = tmp_path / "run"
    run.mkdir()
    (run / "steps.jsonl").write_text('{"index": 0}\n{"index": 1}\n')
    stopped = []
    assert controller.agent_started(run, stop=lambda: stopped.append(True)).state == AGENT_RUNNING
    with pytest.raises(ControllerError, match="the agent is running"):
        controller.start_recording()
    with pytest.raises(ControllerError, match="cannot pause"):
        controller.pause()
    assert controller.agent_waiting(True).state == WAITING_APPROVAL
    assert controller.status().steps == 2
    assert controller.stop().state == WAITING_APPROVAL and stopped == [True]  # asked; the agent ends itself
    assert controller.agent_waiting(False).state == AGENT_RUNNING
    handing = "You took over. Press the pause hotkey to hand control back."  # no panel: the tray says it
    assert controller.agent_waiting(True, handing).message == handing
    assert controller.agent_waiting(False).message is None
    status = controller.agent_finished("finish")
    assert (status.state, status.outcome, status.trajectory, status.steps) == (IDLE, "finish", str(run), 2)
    assert [e.kind for e in events] == ["state", "state", "state", "state", "state", "saved"]
    # the tray's and ctl's pause take control from a running agent; resume hands it back while it waits
    asked = []
    controller.agent_started(run, pause=lambda: asked.append("pause"), resume=lambda: asked.append("resume"))
    assert controller.pause().state == AGENT_RUNNING and asked == ["pause"]
    with pytest.raises(ControllerError, match="cannot resume"):
        controller.resume()  # it is not waiting for the person
    controller.agent_waiting(True, handing)
    assert controller.resume().state == WAITING_APPROVAL and asked == ["pause", "resume"]
    controller.agent_finished("finish")
    with pytest.raises(ControllerError, match="no agent run"):
        controller.agent_waiting(True)
    with pytest.raises(ControllerError, match="cannot add a thought"):
        controller.add_thought("hello")


def test_settings_tables_and_command_line_options(tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text('[recorder]\nfps = 5\nidle_wait_s = 0\ntrajectories_dir = "~/demos"\n'
                        '[hotkeys]\nthought = "ctrl+alt+y"\nstop = "ctrl+shift+f8"\n')
    options = load_recording_options(settings, fps=8)
    assert (options.fps, options.idle_wait_s, options.thought_hotkey) == (8, None, "ctrl+alt+y")
    assert options.hotkeys["stop"] == "ctrl+shift+f8" and options.folder() == Path("~/demos").expanduser()
    assert options.recorder_config().hotkeys["thought"] == "ctrl+alt+y"
    for text, error in (("[recorder]\nfps = 'fast'\n", r"\[recorder\] fps"),
                        ('[hotkeys]\nthought = "ctrl+alt+"\n', "needs a key besides"),
                        ('[hotkeys]\nthought = "ctrl+shift+f12"\n', "share one hotkey")):
        settings.write_text(text)
        with pytest.raises(ControllerError, match=error):
            load_recording_options(settings)


def test_a_free_task_is_described_after_recording(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps(new_meta(task={"mode": "free", "description": None})))
    describe_free_task(tmp_path, "Rename the report", "easy")
    assert json.loads((tmp_path / "meta.json").read_text())["task"] == {
        "mode": "free", "description": "Rename the report", "difficulty": "easy"}
    with pytest.raises(ControllerError, match="difficulty"):
        describe_free_task(tmp_path, "x", "trivial")


def test_without_a_display_the_app_says_so_and_plain_pcagent_prints_help(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["XDG_RUNTIME_DIR"] = str(tmp_path)
    app = subprocess.run([sys.executable, "-m", "pcagent", "app"], env=env, cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60, check=False)
    assert app.returncode == 4 and "no display" in app.stderr
    plain = subprocess.run([sys.executable, "-m", "pcagent"], env=env, cwd=REPO_ROOT, capture_output=True,
                           text=True, timeout=60, check=False)
    assert plain.returncode == 2 and "usage: pcagent" in plain.stdout and " app " in plain.stdout
    control = subprocess.run([sys.executable, "-m", "pcagent", "ctl", "status"], env=env, cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=60, check=False)
    assert control.returncode == 1 and "no pcagent app is running" in control.stderr


# --- the control socket -----------------------------------------------------------------------------------
@pytest.fixture
def socket_folder():
    folder = Path(tempfile.mkdtemp(prefix="pcagent-ctl-test-"))  # short: a socket path has ~100 bytes
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_ctl_socket_is_private_single_instance_and_answers_json(socket_folder, tmp_path):
    controller = AppController(RecordingOptions(trajectories_dir=tmp_path))
    path = socket_folder / "pcagent" / "ctl.sock"
    with pytest.raises(ctl.AppNotRunning):
        ctl.send_request({"command": "status"}, path)
    server = ctl.CtlServer(lambda request: ctl.dispatch(controller, request), path).start()
    try:
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(ctl.CtlError, match="another pcagent app"):
            ctl.CtlServer(lambda request: {}, path).start()
        assert ctl.send_request({"command": "status"}, path) == {"ok": True, "status": controller.status().to_dict()}
        refused = ctl.send_request({"command": "pause"}, path)
        assert refused["ok"] is False and "cannot pause" in refused["error"]
        assert "unknown command" in ctl.send_request({"command": "format-disk"}, path)["error"]
        assert "no recording" in ctl.send_request({"command": "thought"}, path)["error"]
    finally:
        server.stop()
    assert not path.exists()


def test_peer_credentials_name_the_connecting_user():
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert ctl.peer_uid(left) == os.getuid()


@pytest.mark.skipif(not hasattr(os, "setuid") or os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_is_refused_by_folder_and_by_peer_check(socket_folder, tmp_path):
    controller = AppController(RecordingOptions(trajectories_dir=tmp_path))
    path = socket_folder / "pcagent" / "ctl.sock"
    server = ctl.CtlServer(lambda request: ctl.dispatch(controller, request), path).start()
    os.chmod(socket_folder, 0o755)

    def connect_as_nobody() -> str:
        code = ("import os, socket, sys; os.setgid(65534); os.setuid(65534); s = socket.socket(socket.AF_UNIX)\n"
                "try:\n s.connect(sys.argv[1]); s.settimeout(10); print(s.recv(4096).decode())\n"
                "except OSError as e: print(type(e).__name__)")
        return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              timeout=30, check=False).stdout.strip()

    try:
        assert connect_as_nobody() == "PermissionError"  # the folder is 0700
        os.chmod(path.parent, 0o755)  # even with the folder and socket opened up, the peer check refuses
        os.chmod(path, 0o666)
        answer = json.loads(connect_as_nobody())
        assert answer["ok"] is False and "refused" in answer["error"] and server.refused == 1
    finally:
        server.stop()


# --- the thought hotkey -------------------------------------------------------------------------------------
def test_global_hotkey_fires_on_its_keys_only_and_cannot_be_taken_twice(xdisplay):
    pressed = []
    hotkey = GlobalHotkey("ctrl+alt+t", lambda: pressed.append(time.monotonic()), display=xdisplay.display).start()
    try:
        xdo = Xdo(xdisplay.child_env())
        xdo.key("ctrl+alt+y", "t", "ctrl+alt+t")
        deadline = time.monotonic() + 5
        while not pressed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(pressed) == 1
        with pytest.raises(HotkeyError, match="already taken"):
            GlobalHotkey("ctrl+alt+t", lambda: None, display=xdisplay.display).start()
        with pytest.raises(HotkeyError, match="bad hotkey"):
            GlobalHotkey("ctrl+alt+", lambda: None)
    finally:
        hotkey.stop()


# --- widget test: the menu's actions move the state ---------------------------------------------------------
class StandInRecorder:
    """A recorder seam stand-in: the controller's calls and the recorder's status reports, without input."""

    def __init__(self, out, *, task, config, on_step, on_status):
        self.out, self.on_status, self.steps_written, self.errors = Path(out), on_status, 0, []
        self.outcome, self.paused, self.thoughts = None, False, []
        self._ended = False

    def start(self):
        return self

    def pause(self):
        self.paused = not self.paused
        self.on_status("paused" if self.paused else "resumed")

    def _end(self, outcome):
        self.outcome, self._ended = outcome, True
        self.on_status(outcome)

    def finish(self):
        self._end("finish")

    def fail(self):
        self._end("fail")

    def request_stop(self, outcome="stopped"):
        self._end(outcome)

    def wait(self, timeout=None):
        return self._ended

    def stop(self, outcome="stopped"):
        return self.out

    def add_thought(self, text, about="next"):
        self.thoughts.append((text, about))


def test_ctl_requests_reach_the_recorder_and_the_thought_box(tmp_path):
    made, opened = [], []

    class Ui:
        def focus(self):
            opened.append("focus")

        def open_thought_box(self, about):
            opened.append(about)

    controller = AppController(RecordingOptions(trajectories_dir=tmp_path),
                               recorder_factory=lambda *a, **k: made.append(StandInRecorder(*a, **k)) or made[-1])
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"tasks": [{"id": "t1", "task": "Open the report"}]}))
    answer = ctl.dispatch(controller, {"command": "record", "task_file": str(tasks), "task_id": "t1"}, Ui())
    assert answer["ok"] and answer["status"]["task"]["description"] == "Open the report"
    assert ctl.dispatch(controller, {"command": "thought", "text": "I open it", "about": "next"})["ok"]
    assert ctl.dispatch(controller, {"command": "thought", "about": "previous"}, Ui())["ok"]
    assert ctl.dispatch(controller, {"command": "focus"}, Ui())["status"]["state"] == RECORDING
    assert "about must be" in ctl.dispatch(controller, {"command": "thought", "text": "x", "about": "later"})["error"]
    assert made[0].thoughts == [("I open it", "next")] and opened == ["previous", "focus"]
    assert ctl.dispatch(controller, {"command": "finish"})["status"]["outcome"] == "finish"
    assert "no task with id" in ctl.dispatch(controller, {"command": "record", "task_file": str(tasks),
                                                          "task_id": "t9"})["error"]


def test_menu_actions_change_the_state(qtbot, tmp_path):
    from pcagent.app.ui.application import Application
    from pcagent.app.ui.tray import STATE_LABELS

    made = []
    controller = AppController(RecordingOptions(trajectories_dir=tmp_path),
                               recorder_factory=lambda *a, **k: made.append(StandInRecorder(*a, **k)) or made[-1])
    app = Application(controller, tray=False, timeline=OwnWindowTimeline(), probe=False)
    actions, window = app.actions, app.control_window
    for widget in (window, app.thought_box):
        qtbot.addWidget(widget)  # closed at the end: the display is shared with the end-to-end tests
    assert not actions.pause.isEnabled() and not actions.thought.isEnabled() and actions.record_free.isEnabled()

    def reaches(state):
        qtbot.waitUntil(lambda: controller.state == state and window.status.text().startswith(
            f"pcagent: {STATE_LABELS[state]}"), timeout=3000)

    actions.record_free.trigger()
    reaches(RECORDING)
    assert actions.pause.isEnabled() and not actions.record_free.isEnabled() and not actions.resume.isEnabled()
    actions.pause.trigger()
    reaches(PAUSED)
    assert actions.resume.isEnabled() and not actions.pause.isEnabled()
    actions.resume.trigger()
    reaches(RECORDING)
    actions.thought.trigger()
    assert app.thought_box.isVisible()
    qtbot.keyClicks(app.thought_box.entry, "I look for the Save button")
    app.thought_box.about_previous.setChecked(True)
    qtbot.keyClick(app.thought_box.entry, "\r")
    recorder = made[-1]
    qtbot.waitUntil(lambda: recorder.thoughts == [("I look for the Save button", "previous")], timeout=3000)
    assert not app.thought_box.isVisible()
    actions.stop.trigger()
    reaches(IDLE)
    qtbot.waitUntil(lambda: bool(app.free_task_windows), timeout=3000)  # a free task asks for its description
    controller.agent_started(tmp_path / "run")
    reaches(AGENT_RUNNING)
    assert actions.stop.isEnabled() and not actions.record_free.isEnabled()
    controller.agent_waiting(True)
    reaches(WAITING_APPROVAL)
    controller.agent_finished("finish")
    reaches(IDLE)
    assert not actions.thought.isEnabled()
    app.thought_requested.emit("next")  # the hotkey with no recording: it says why instead of opening the box
    assert not app.thought_box.isVisible() and "Start a recording first" in window.message.text()
    for pending in list(app.free_task_windows):
        pending.close()


