"""The approval panel and QtGate (pytest-qt, on the test bed's X display with a window manager).

The gate is asked from a worker thread, as the agent asks it, and answered in the panel with keys and clicks
on the UI thread; "always ask for steps like this" goes to settings.toml and back. The end-to-end run (the
agent, the panel, a person taking over, the sample app) is tests/test_app_agent_run.py.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from pcagent.agent.types import Decision, Proposal
from pcagent.app.agent_supervisor import AlwaysAskGuard, GateSetup
from pcagent.app.approval_rules import load_approval_settings
from pcagent.app.ui.approval_panel import qimage_from_pil
from pcagent.app.ui.qt_gate import QtGate
from pcagent.app.ui.run_dialog import RunDialog
from tracker.format.actions import click, parse_action


def make_proposal(action=None, guard_reasons=(), thought="Save the document first.", application=None,
                  redacted=None) -> Proposal:
    action = action or click(120, 45)
    proposal = Proposal(index=3, thought=thought, action=action, planned=action,
                        screenshot=Image.new("RGB", (640, 400), "white"), guard_reasons=list(guard_reasons),
                        redacted=redacted)
    if application:
        proposal.guard_saw = {"application": application}
    return proposal


class Run:
    """One run's events and a gate bound to them; `ask(...)` calls the gate from a worker thread."""

    def __init__(self, gate: QtGate, countdown_s: float | None = None, suggest: bool = False) -> None:
        self.interrupt, self.stop, self.acting = threading.Event(), threading.Event(), threading.Event()
        self.gate = gate.bind(GateSetup(self.interrupt, self.stop, countdown_s, suggest=suggest, acting=self.acting))

    def ask(self, call, *args) -> Future:
        future: Future = Future()

        def work() -> None:
            try:
                future.set_result(call(*args))
            except BaseException as exc:  # noqa: BLE001 - surfaces in the test
                future.set_exception(exc)

        threading.Thread(target=work, daemon=True).start()
        return future

    def decide(self, proposal: Proposal) -> Future:
        return self.ask(self.gate.decide, proposal)


@pytest.fixture
def gate(qtbot, tmp_path: Path, wm_display, monkeypatch) -> QtGate:
    monkeypatch.setenv("DISPLAY", wm_display.display)  # the worker's X checks look at the panel's display
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "models.toml"))
    gate = QtGate(settings_path=tmp_path / "settings.toml")
    qtbot.addWidget(gate.panel)
    yield gate
    gate.marker.hide()
    gate.close()


def shown(qtbot, gate: QtGate) -> None:
    qtbot.waitUntil(lambda: gate.panel.isVisible() and gate.panel.content is not None, timeout=5000)


def answer(qtbot, future: Future, timeout: float = 5.0):
    qtbot.waitUntil(future.done, timeout=int(timeout * 1000))
    return future.result()


def test_enter_approves_and_the_panel_shows_the_step(qtbot, gate):
    run = Run(gate)
    future = run.decide(make_proposal())
    shown(qtbot, gate)
    panel = gate.panel
    text = panel.text.text()
    assert "Thought: Save the document first." in text and "Action:  click (120, 45)" in text
    assert panel.image.isVisible() and not panel.image.pixmap().isNull()
    assert gate.marker.visible and gate.marker.points == ((120, 45),)
    assert panel.countdown.text() == ""
    qtbot.keyClick(panel, Qt.Key.Key_Return)
    assert answer(qtbot, future) == Decision("approve", by="user")
    qtbot.waitUntil(lambda: not panel.isVisible())
    assert gate.marker.visible, "an approved step keeps its marker while it runs"
    gate.report("step", {})
    qtbot.waitUntil(lambda: not gate.marker.visible)


def test_a_pil_image_becomes_a_qimage_of_its_own_in_any_mode():
    # An odd width: RGB888 rows of 15 bytes are not 4-byte aligned, as QImage's default stride would assume.
    rgba = Image.new("RGBA", (5, 3), (10, 20, 30, 255))
    rgba.putpixel((4, 2), (200, 100, 50, 255))
    grey = Image.new("L", (5, 3), 77)
    for source, corner, last in ((rgba, (10, 20, 30), (200, 100, 50)), (grey, (77, 77, 77), (77, 77, 77)),
                                 (rgba.convert("P"), (10, 20, 30), (200, 100, 50))):
        image = qimage_from_pil(source)
        source.close()  # the QImage holds its own copy of the pixels
        assert (image.width(), image.height()) == (5, 3)
        assert image.pixelColor(0, 0).getRgb()[:3] == corner and image.pixelColor(4, 2).getRgb()[:3] == last


def test_esc_rejects(qtbot, gate):
    future = Run(gate).decide(make_proposal())
    shown(qtbot, gate)
    qtbot.keyClick(gate.panel, Qt.Key.Key_Escape)
    assert answer(qtbot, future) == Decision("reject", by="user")
    qtbot.waitUntil(lambda: not gate.marker.visible and not gate.panel.isVisible())


@pytest.mark.parametrize("button, verdict", [("takeover", "takeover"), ("pause", "pause"), ("stop", "stop")])
def test_the_other_buttons(qtbot, gate, button, verdict):
    future = Run(gate).decide(make_proposal())
    shown(qtbot, gate)
    qtbot.mouseClick(gate.panel.buttons[button], Qt.MouseButton.LeftButton)
    assert answer(qtbot, future) == Decision(verdict, by="user")


def test_an_invalid_edit_is_refused_with_a_message_and_a_valid_one_is_used(qtbot, gate):
    future = Run(gate).decide(make_proposal())
    shown(qtbot, gate)
    panel = gate.panel
    qtbot.mouseClick(panel.buttons["edit"], Qt.MouseButton.LeftButton)
    assert panel.editing and panel.edit.text() == "click (120, 45)"
    panel.edit.clear()
    qtbot.keyClicks(panel.edit, "click (abc)")
    assert panel.edit_status.text().startswith("Not an action: malformed click action 'click (abc)'")
    assert not panel.submit_edit.isEnabled()
    qtbot.keyClick(panel.edit, Qt.Key.Key_Return)
    assert panel.edit_status.text().startswith("Refused. Not an action: malformed click action")
    time.sleep(0.2)
    assert not future.done() and panel.isVisible()
    panel.edit.clear()
    qtbot.keyClicks(panel.edit, "click element: the Cancel button")
    assert panel.edit_status.text() == "OK" and panel.submit_edit.isEnabled()
    qtbot.keyClick(panel.edit, Qt.Key.Key_Return)
    assert answer(qtbot, future) == Decision("edit", by="user", action=parse_action("click element: the Cancel button"))


def test_esc_while_editing_goes_back_to_the_step(qtbot, gate):
    future = Run(gate).decide(make_proposal())
    shown(qtbot, gate)
    panel = gate.panel
    qtbot.mouseClick(panel.buttons["edit"], Qt.MouseButton.LeftButton)
    qtbot.keyClick(panel.edit, Qt.Key.Key_Escape)
    assert not panel.editing and not future.done()
    qtbot.keyClick(panel, Qt.Key.Key_Return)
    assert answer(qtbot, future).verdict == "approve"


def test_the_countdown_ticks_and_approves_when_it_runs_out(qtbot, gate):
    run = Run(gate, countdown_s=1.5)
    started = time.monotonic()
    future = run.decide(make_proposal())
    shown(qtbot, gate)
    seen = set()
    while not future.done() and time.monotonic() - started < 5:
        seen.add(gate.panel.countdown.text())
        qtbot.wait(50)
    decision = answer(qtbot, future)
    assert decision == Decision("approve", by="timeout", note="auto-continued after 1.5 s")
    assert 1.5 <= time.monotonic() - started < 3.0
    assert {"approves by itself in 2 s", "approves by itself in 1 s"} <= seen


def test_touching_the_panel_stops_the_countdown(qtbot, gate):
    future = Run(gate, countdown_s=0.8).decide(make_proposal(application="Mousepad"))
    shown(qtbot, gate)
    qtbot.mouseClick(gate.panel.always_ask, Qt.MouseButton.LeftButton)  # a person is there
    qtbot.wait(1500)
    assert not future.done() and gate.panel.countdown.text() == "countdown stopped"
    qtbot.keyClick(gate.panel, Qt.Key.Key_Return)
    assert answer(qtbot, future) == Decision("approve", by="user")


def test_a_guarded_step_has_no_countdown_and_enter_alone_does_not_approve_it(qtbot, gate):
    future = Run(gate, countdown_s=0.3).decide(make_proposal(guard_reasons=["clicks on 'Delete'"]))
    shown(qtbot, gate)
    panel = gate.panel
    assert panel.countdown.text() == "" and "clicks on 'Delete'" in panel.text.text()
    qtbot.keyClick(panel, Qt.Key.Key_Return)
    qtbot.wait(600)
    assert not future.done() and "Enter alone does not approve" in panel.hint.text()
    qtbot.keyClick(panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert answer(qtbot, future) == Decision("approve", by="user")


def test_what_a_model_wrote_is_shown_escaped_as_plain_text_and_secrets_stay_hidden(qtbot, gate):
    thought = "<b>Fine</b>\x1b[2K\r\nAction:  type text: hello hunter2"
    proposal = make_proposal(action=parse_action("type text: hunter2"), thought=thought, redacted="password")
    future = Run(gate).decide(proposal)
    shown(qtbot, gate)
    panel = gate.panel
    text = panel.text.text()
    assert panel.text.textFormat() == Qt.TextFormat.PlainText and "<b>Fine</b>\\x1b[2K\\r" in text
    assert "hunter2" not in text and "type text: ******** (7 characters, hidden: password)" in text
    qtbot.mouseClick(panel.buttons["edit"], Qt.MouseButton.LeftButton)
    assert panel.edit.text() == ""  # the secret is not put in the edit box either
    qtbot.keyClick(panel.edit, Qt.Key.Key_Escape)
    qtbot.keyClick(panel, Qt.Key.Key_Escape)
    assert answer(qtbot, future).verdict == "reject"


def test_the_person_acting_or_a_stop_ends_the_wait_at_once(qtbot, gate):
    run = Run(gate, countdown_s=5)
    future = run.decide(make_proposal())
    shown(qtbot, gate)
    run.interrupt.set()
    assert answer(qtbot, future, 1.0) == Decision("pause", by="user", note="the person took over")
    qtbot.waitUntil(lambda: not gate.panel.isVisible() and not gate.marker.visible)
    run = Run(gate)
    future = run.decide(make_proposal())
    shown(qtbot, gate)
    run.stop.set()
    assert answer(qtbot, future, 1.0).verdict == "stop"


def test_suggest_mode_offers_only_taking_over(qtbot, gate):
    future = Run(gate, countdown_s=0.2, suggest=True).decide(make_proposal())
    shown(qtbot, gate)
    visible = {name for name, button in gate.panel.buttons.items() if button.isVisible()}
    assert visible == {"takeover", "pause", "stop"} and gate.panel.title.text() == "Suggestion 3"
    qtbot.wait(400)
    assert not future.done(), "a suggestion never runs by itself"
    qtbot.mouseClick(gate.panel.buttons["takeover"], Qt.MouseButton.LeftButton)
    assert answer(qtbot, future) == Decision("takeover", by="policy", note="suggest mode: the human acts")


def test_waiting_for_the_person_hands_back_with_a_note_or_shows_nothing_while_they_act(qtbot, gate):
    run = Run(gate)
    resume = threading.Event()
    future = run.ask(gate.wait_for_user, "The agent asks: which file?", resume)
    shown(qtbot, gate)
    panel = gate.panel
    assert "The agent asks: which file?" in panel.text.text() and panel.note.isVisible()
    qtbot.keyClicks(panel.note, "report.txt")
    qtbot.keyClick(panel.note, Qt.Key.Key_Return)
    assert answer(qtbot, future) == "report.txt"

    run.acting.set()  # they took over: the panel must not be in their steps' screenshots
    future = run.ask(gate.wait_for_user, "You took over.", resume)
    qtbot.wait(300)
    assert not panel.isVisible() and not future.done()
    resume.set()  # the pause hotkey again
    assert answer(qtbot, future) == ""

    run.acting.clear()
    resume.clear()
    future = run.ask(gate.wait_for_user, "Paused.", resume)
    shown(qtbot, gate)
    run.acting.set()  # they start acting on the desktop: the panel gets out of the way
    qtbot.waitUntil(lambda: not panel.isVisible())
    assert not future.done()
    gate.hand_back()  # the tray's entry
    assert answer(qtbot, future) == ""

    run.acting.clear()
    future = run.ask(gate.wait_for_user, "Paused.", threading.Event())
    shown(qtbot, gate)
    qtbot.mouseClick(panel.buttons["stop"], Qt.MouseButton.LeftButton)
    assert answer(qtbot, future) is None


def test_always_ask_is_remembered_per_application_and_action_kind(qtbot, gate, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text("# mine\n[privacy]\nwindow_labels = true  # keep this\n")
    future = Run(gate, countdown_s=30).decide(make_proposal(application="Mousepad"))
    shown(qtbot, gate)
    box = gate.panel.always_ask
    assert box.isVisible() and not box.isChecked() and box.text().endswith("(click in Mousepad)")
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    qtbot.keyClick(gate.panel, Qt.Key.Key_Return)
    assert answer(qtbot, future) == Decision("approve", by="user")
    rules = load_approval_settings(settings)
    assert [(r.application, r.action) for r in rules.always_ask] == [("Mousepad", "click")]
    assert "window_labels = true  # keep this" in settings.read_text()

    # a later run: the guard asks for such a step, so it gets no countdown, and the box shows ticked
    class Rules:
        def check(self, proposal, element_text=None, focused_role=None):
            return []

    guard = AlwaysAskGuard(Rules(), settings)
    guard.application_of = lambda action: "mousepad"
    proposal = make_proposal(application="Mousepad")
    proposal.guard_reasons = guard.check(proposal)  # as the agent loop does
    assert proposal.guard_reasons == ["you asked to approve every click step in Mousepad"]
    assert guard.check(make_proposal(action=parse_action("type text: x"))) == []
    future = Run(gate, countdown_s=0.2).decide(proposal)
    shown(qtbot, gate)
    assert gate.panel.always_ask.isChecked() and gate.panel.countdown.text() == ""
    qtbot.mouseClick(gate.panel.always_ask, Qt.MouseButton.LeftButton)  # untick: forget it
    qtbot.mouseClick(gate.panel.buttons["approve"], Qt.MouseButton.LeftButton)
    assert answer(qtbot, future).verdict == "approve"
    assert load_approval_settings(settings).always_ask == ()


def test_windows_are_hidden_for_a_capture_and_come_back(qtbot, gate):
    gate.marker.show_at((300, 300))
    qtbot.waitUntil(lambda: gate.marker.visible)
    future = Run(gate).ask(gate.hide_windows)
    hidden = answer(qtbot, future)
    assert hidden.done.is_set() and not gate.marker.visible
    gate.restore_windows(hidden)
    qtbot.waitUntil(lambda: gate.marker.visible)


def test_the_run_dialog_makes_a_task(qtbot, tmp_path):
    models = tmp_path / "models.toml"
    models.write_text('[profiles.planner]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n')
    settings = tmp_path / "settings.toml"
    settings.write_text('[app]\ndefault_mode = "auto"\ncountdown_s = 4\n')
    dialog = RunDialog(models_file=str(models), settings_path=settings)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    assert dialog.planner.currentText() == "planner" and dialog.mode.currentData() == "auto"
    assert not ok.isEnabled() and not dialog.countdown.isEnabled()
    qtbot.keyClicks(dialog.text, "Save the file")
    dialog.mode.setCurrentIndex(0)
    task = dialog.task()
    assert (task.text, task.planner, task.mode, task.countdown_s) == ("Save the file", "planner", "confirm", 4.0)
    empty = RunDialog(models_file=str(tmp_path / "none.toml"), settings_path=settings)
    qtbot.addWidget(empty)
    assert "No planner profile yet" in empty.message.text() and empty.task() is None


def test_run_a_task_from_the_tray_starts_the_supervisor_and_reports_to_the_controller(qtbot, tmp_path, monkeypatch):
    """The menu's "Run a task…": the dialog, then the supervisor on its worker; here the run cannot start (no
    X display for the agent), so the controller goes agent_running -> idle and the person is told why."""
    from pcagent.app.controller import IDLE, AppController, RecordingOptions
    from pcagent.app.ui.application import Application
    from tracker.recording.own_windows import OwnWindowTimeline

    models = tmp_path / "models.toml"
    models.write_text('[profiles.planner]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n')
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(models))
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(tmp_path / "settings.toml"))
    monkeypatch.delenv("DISPLAY", raising=False)
    controller = AppController(RecordingOptions(trajectories_dir=tmp_path))
    states = []
    controller.add_listener(lambda event: states.append(event.status.state))
    app = Application(controller, tray=False, timeline=OwnWindowTimeline(), probe=False)
    for widget in (app.control_window, app.thought_box):
        qtbot.addWidget(widget)
    app.actions.run_task.trigger()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, RunDialog) and w.isVisible())
    qtbot.keyClicks(dialog.text, "Save the file")
    qtbot.mouseClick(dialog.buttons.buttons()[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.supervisor is not None and app.supervisor.wait(0), timeout=20000)
    assert "no display" in app.supervisor.result.error and app.supervisor.result.outcome == "error"
    qtbot.waitUntil(lambda: "no display" in app.control_window.message.text(), timeout=5000)
    assert states[:2] == ["agent_running", IDLE] and controller.state == IDLE
    assert app.supervisor.task.out.parent == tmp_path
