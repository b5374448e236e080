"""QtGate: the agent's approval gate answered in the approval panel, the terminal gate's Qt twin.

The agent's worker thread calls ``decide(proposal)`` and ``wait_for_user(message, resume)`` and blocks; the
question travels to the UI thread as a queued signal, the panel shows it, and the person's answer comes
back through a one-shot `_Ask` the worker waits on. The UI thread never waits for the worker: everything
slow (cropping the screenshot, reading and writing settings.toml, asking X whether a window is gone) is
done on the worker, before the question is sent or after the answer came.

    decision                     how
    approve                      Enter or Approve; silence, when a countdown runs out (not a guarded step)
    reject / take over           Esc or Reject / Take over: the panel and marker go, the person acts; they
                                 hand control back with the pause hotkey, the tray, or `supervisor.resume()`
    edit                         Edit: an action typed and checked as it is typed
    pause / stop                 Pause (the panel then offers Hand back) / Stop
    the person acts, or the pause hotkey, while the step waits: pause at once (as the terminal gate)

"Always ask for steps like this" is written to settings.toml's [approval] (pcagent.app.approval_rules) on
the worker; the agent supervisor's guard reads it for every step. The gate is also the run's window hider
(pcagent.app.agent_supervisor.WindowHider): it hides every window of this application around each capture.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import ImageDraw
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from pcagent.agent.types import Decision, Proposal
from pcagent.app.agent_supervisor import GateSetup
from pcagent.app.approval_rules import load_approval_settings, remember_always_ask
from pcagent.app.ui.approval_panel import (
    VERDICT_BUTTONS,
    ApprovalPanel,
    PanelContent,
    qimage_from_pil,
)
from pcagent.app.ui.marker import MARKER_COLOR, TargetMarker
from pcagent.app.ui.thought_box import TAKES_KEYBOARD_PROPERTY
from pcagent.app.ui.tray import is_tray_icon_window
from pcagent.collab.gates import describe_proposal
from tracker.settings import SettingsError

__all__ = ["QtGate", "run_with_panel"]

POLL_S = 0.05  # how often a waiting worker looks at the interrupt and stop events and the clock
HIDE_TIMEOUT_S = 1.0
CROP = (420, 170)  # the screen around the target the panel shows


@dataclass
class _Ask:
    """One question to the person and its answer; the first answer wins, from either thread."""

    content: PanelContent
    answered: threading.Event = field(default_factory=threading.Event)
    countdown_stopped: threading.Event = field(default_factory=threading.Event)
    verdict: str | None = None
    payload: Any = None
    always_ask: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, verdict: str, payload: Any = None, always_ask: bool | None = None) -> bool:
        with self._lock:
            if self.answered.is_set():
                return False
            self.verdict, self.payload, self.always_ask = verdict, payload, always_ask
            self.answered.set()
            return True


@dataclass
class _Hidden:
    windows: list = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class QtGate(QObject):
    """See the module docstring. Make it (and its panel and marker) on the UI thread; ``bind(setup)`` it to a
    run (the agent supervisor's `make_gate`); ``decide``/``wait_for_user``/``hide_windows``/
    ``restore_windows``/``report`` are for the worker thread."""

    _ask_signal = Signal(object)
    _withdraw_signal = Signal(object)
    _hide_signal = Signal(object)
    _restore_signal = Signal(object)
    _marker_signal = Signal(object)

    def __init__(self, panel: ApprovalPanel | None = None, marker: TargetMarker | None = None, *,
                 settings_path: str | Path | None = None, snapshot_to: str | Path | None = None) -> None:
        """`snapshot_to`: save a picture of the screen, the panel on it, the first time it asks (the demo)."""
        super().__init__()
        self.panel = panel or ApprovalPanel()
        self.panel.setProperty(TAKES_KEYBOARD_PROPERTY, True)  # the recorder drops the keys pressed in it
        self.marker = marker or TargetMarker()
        self.settings_path = settings_path
        self.snapshot_to = Path(snapshot_to) if snapshot_to else None
        self.setup = GateSetup(threading.Event(), threading.Event(), None)
        self._current: _Ask | None = None  # the question the panel shows (UI thread)
        self._current_wait: _Ask | None = None  # the worker's wait for a hand-back
        self._windows = None  # the worker's X connection
        # their X windows exist from now on: a recorder started later knows them as this process's own
        self.panel.winId()
        self.panel_window_id = int(self.panel.winId())
        self.marker.windows()
        self.panel.answered.connect(self._answered)
        self.panel.interacted.connect(self._interacted)
        self._ask_signal.connect(self._show, Qt.ConnectionType.QueuedConnection)
        self._withdraw_signal.connect(self._withdraw, Qt.ConnectionType.QueuedConnection)
        self._hide_signal.connect(self._hide, Qt.ConnectionType.QueuedConnection)
        self._restore_signal.connect(self._restore, Qt.ConnectionType.QueuedConnection)
        self._marker_signal.connect(self._mark, Qt.ConnectionType.QueuedConnection)

    def bind(self, setup: GateSetup) -> QtGate:
        """Use the run's events and countdown (any thread; creates nothing)."""
        self.setup = setup
        return self

    # --- the worker's side: InteractiveGate ------------------------------------------------------
    def decide(self, proposal: Proposal) -> Decision:
        setup = self.setup
        guarded = proposal.needs_approval
        application = (proposal.guard_saw or {}).get("application")
        try:
            always = load_approval_settings(self.settings_path).always_ask_for(application, proposal.action.kind)
        except SettingsError:
            always = None
        deadline = None
        if setup.countdown_s is not None and not guarded and not setup.suggest:
            deadline = time.monotonic() + setup.countdown_s
        secret = bool(proposal.redacted and proposal.action.kind == "type_text")
        points = [p for p in (proposal.action.point, proposal.action.end) if p is not None]
        lines = describe_proposal(proposal)
        content = PanelContent(
            title=f"{'Suggestion' if setup.suggest else 'Step'} {proposal.index}", lines=lines[1:],
            action_text="" if secret else str(proposal.action), image=_target_image(proposal),
            target=points[0] if points else None, guarded=guarded, deadline=deadline,
            always_ask_label=f"{proposal.action.kind.replace('_', ' ')} in {application or 'any application'}",
            always_ask=always is not None, suggest=setup.suggest,
            buttons=("takeover", "pause", "stop") if setup.suggest else VERDICT_BUTTONS)
        ask = self._ask(content, points)
        while not ask.answered.wait(POLL_S):
            if setup.stop.is_set():
                ask.answer("stop", "run stopped")
            elif setup.interrupt.is_set():
                ask.answer("interrupted")
            elif deadline is not None and not ask.countdown_stopped.is_set() and time.monotonic() >= deadline:
                ask.answer("timeout")
        self._withdraw_signal.emit(ask)
        decision = self._decision(ask)
        if decision.verdict != "approve":  # an edited action may point elsewhere
            self._marker_signal.emit(None)
        self._wait_until_gone(self.panel_window_id)
        if ask.always_ask is not None and ask.always_ask != (always is not None):
            self._remember(application, proposal.action.kind, ask.always_ask)
        return decision

    def _decision(self, ask: _Ask) -> Decision:
        verdict, suggest = ask.verdict, self.setup.suggest
        if verdict == "timeout":
            seconds = f"{self.setup.countdown_s:g}"
            return Decision("approve", by="timeout", note=f"auto-continued after {seconds} s")
        if verdict == "interrupted":  # the person acted, or pressed the pause hotkey
            if suggest:
                return Decision("takeover", by="policy", note="suggest mode: the human acts")
            return Decision("pause", by="user", note="the person took over")
        if verdict == "stop":
            return Decision("stop", by="user", note=ask.payload)
        if verdict == "edit":
            return Decision("edit", by="user", action=ask.payload)
        if verdict == "takeover" and suggest:
            return Decision("takeover", by="policy", note="suggest mode: the human acts")
        return Decision(verdict, by="user")

    def wait_for_user(self, message: str, resume: threading.Event | None = None) -> str | None:
        """While the person acts (they rejected, took over, or just used the mouse or keyboard) nothing is
        shown: the panel must not be in the screenshots of their steps. Otherwise the panel shows the
        message with Hand back, Take over and Stop, until they hand back or start acting elsewhere.
        Returns the note ("" for none), None to stop."""
        self._marker_signal.emit(None)
        acting = self.setup.acting is not None and self.setup.acting.is_set()
        ask = _Ask(PanelContent(title="The agent waits for you", lines=[message], message=True,
                                buttons=("hand_back", "takeover", "stop")))
        self._current_wait = ask  # hand_back() answers it, shown or not
        shown = not acting
        if shown:
            self._ask(ask.content, [], ask)
        while not ask.answered.wait(POLL_S):
            if (resume is not None and resume.is_set()) or self.setup.stop.is_set():
                ask.answer("hand_back", "")
            elif shown and self.setup.acting is not None and self.setup.acting.is_set():
                self._withdraw_signal.emit(ask)  # they act elsewhere: out of their steps' screenshots
                shown = False
        self._current_wait = None
        self._withdraw_signal.emit(ask)
        self._wait_until_gone(self.panel_window_id)
        if ask.verdict == "takeover":  # the panel is gone: they act, then hand back as above
            if self.setup.acting is not None:
                self.setup.acting.set()
            return self.wait_for_user(message, resume)
        return None if ask.verdict == "stop" else (ask.payload or "")

    def hand_back(self) -> None:
        """Hand control back to the agent while it waits for the person (a tray menu entry; any thread)."""
        ask = self._current_wait
        if ask is not None:
            ask.answer("hand_back", "")

    def report(self, kind: str, data: dict) -> None:
        """The loop's report: a step done (or the run paused or ended) takes the marker away."""
        if kind in ("step", "paused", "fault", "finished"):
            self._marker_signal.emit(None)

    # --- the worker's side: WindowHider ---------------------------------------------------------
    def hide_windows(self) -> _Hidden:
        hidden = _Hidden()
        self._hide_signal.emit(hidden)
        hidden.done.wait(HIDE_TIMEOUT_S)
        return hidden

    def restore_windows(self, hidden: _Hidden) -> None:
        self._restore_signal.emit(hidden)

    # --- worker helpers -------------------------------------------------------------------------
    def _ask(self, content: PanelContent, points: list, ask: _Ask | None = None) -> _Ask:
        ask = ask or _Ask(content)
        self._ask_signal.emit((ask, points))
        return ask

    def _x_windows(self):
        if self._windows is None:
            from grounding.accessibility import open_windows

            self._windows = open_windows()
        return self._windows

    def _wait_until_gone(self, window_id: int, timeout: float = HIDE_TIMEOUT_S, refocus_s: float = 0.3) -> None:
        """Until X no longer shows the window, and then (for at most `refocus_s`) until the window manager
        has given the focus back to the application beneath: the agent's next keys must not go astray."""
        windows = self._x_windows()
        deadline = time.monotonic() + timeout
        while any(w.window_id == window_id for w in windows.top_levels()):
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)
        deadline = time.monotonic() + refocus_s
        while time.monotonic() < deadline:
            active = windows.active_window()
            if active is None or active.window_id != window_id:
                return
            time.sleep(0.01)

    def _remember(self, application: str | None, action: str, ask: bool) -> None:
        try:
            remember_always_ask(application, action, ask, self.settings_path)
        except (ValueError, OSError) as exc:  # SettingsError, ConfigStoreError: say so, keep running
            import sys

            print(f"pcagent: could not remember 'always ask' in settings.toml: {exc}", file=sys.stderr)

    def close(self) -> None:
        if self._windows is not None:
            self._windows.close()
            self._windows = None

    # --- the UI thread's side -------------------------------------------------------------------
    @Slot(object)
    def _show(self, item: tuple[_Ask, list]) -> None:
        ask, points = item
        if ask.answered.is_set():
            return
        self._current = ask
        if points:
            self.marker.show_at(*points)
        self.panel.present(ask.content)
        if self.snapshot_to is not None and not ask.content.message:
            QTimer.singleShot(200, lambda: self._snapshot(ask))  # once it is painted

    def _snapshot(self, ask: _Ask) -> None:
        """The screen with the panel on it, if it still asks the same question (else at the next one)."""
        screen, target = self.panel.screen(), self.snapshot_to
        if screen is not None and target is not None and self._current is ask and self.panel.isVisible():
            self.snapshot_to = None
            image = screen.grabWindow(0).toImage()  # a few ms; encoding and writing go to a thread

            def save() -> None:
                target.parent.mkdir(parents=True, exist_ok=True)
                image.save(str(target))

            threading.Thread(target=save, name="pcagent-snapshot", daemon=True).start()

    @Slot(object)
    def _withdraw(self, ask: _Ask) -> None:
        if self._current is ask:
            self._current = None
            self.panel.withdraw()

    @Slot(str, object)
    def _answered(self, verdict: str, payload: Any) -> None:
        ask = self._current
        if ask is None:
            return
        always = self.panel.always_ask.isChecked() if ask.content.always_ask_label is not None else None
        if ask.answer(verdict, payload, always):
            self._current = None
            self.panel.withdraw()
            if verdict != "approve":
                self.marker.hide()

    @Slot()
    def _interacted(self) -> None:
        if self._current is not None:
            self._current.countdown_stopped.set()

    @Slot(object)
    def _hide(self, hidden: _Hidden) -> None:
        for widget in QApplication.topLevelWidgets():
            if widget.isVisible() and not is_tray_icon_window(widget):  # the tray's icon stays in the tray
                hidden.windows.append(widget)
                widget.hide()
        hidden.done.set()

    @Slot(object)
    def _restore(self, hidden: _Hidden) -> None:
        for widget in hidden.windows:
            if widget.windowType() == Qt.WindowType.Popup:
                continue  # a menu that was open has closed
            widget.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
            widget.show()

    @Slot(object)
    def _mark(self, points: list | None) -> None:
        if points:
            self.marker.show_at(*points)
        else:
            self.marker.hide()


def _target_image(proposal: Proposal) -> QImage | None:
    """The screen around the action's point with the point ringed (the whole screen, small, without a
    point); made on the worker thread. QImage is safe to build off the UI thread."""
    shot = proposal.screenshot
    if shot is None:
        return None
    point = proposal.action.point
    if point is None:
        image = shot.convert("RGB")
        image.thumbnail((CROP[0], CROP[1] * 2))
    else:
        x, y = point[0] - proposal.screen_origin[0], point[1] - proposal.screen_origin[1]
        left = min(max(0, x - CROP[0] // 2), max(0, shot.width - CROP[0]))
        top = min(max(0, y - CROP[1] // 2), max(0, shot.height - CROP[1]))
        image = shot.crop((left, top, left + CROP[0], top + CROP[1])).convert("RGB")
        draw = ImageDraw.Draw(image)
        cx, cy = x - left, y - top
        for radius in (14, 15, 16):
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=MARKER_COLOR)
    return qimage_from_pil(image)


def run_with_panel(task: Any, *, opened: Any = None, options: Any = None, report: Any = None,
                   snapshot_to: str | Path | None = None, settings_path: str | Path | None = None) -> Any:
    """`pcagent run --panel` and `pcagent replay --panel`: the run answered in the approval panel instead of
    the terminal, in the Qt event loop of the QApplication the caller made (pcagent.app.ui.application's
    create_qapplication, with its own-window reporter); returns the supervisor's result."""
    import signal

    from PySide6.QtCore import QMetaObject

    from pcagent.app.agent_supervisor import AgentSupervisor

    app = QApplication.instance()
    if app is None:
        raise RuntimeError("make the QApplication first (pcagent.app.ui.application.create_qapplication)")
    gate = QtGate(settings_path=settings_path, snapshot_to=snapshot_to)

    def both(kind: str, data: dict) -> None:
        if report is not None:
            report(kind, data)
        gate.report(kind, data)

    supervisor = AgentSupervisor(task, gate.bind, hider=gate, report=both, opened=opened, options=options,
                                 settings_path=settings_path,
                                 on_done=lambda _: QMetaObject.invokeMethod(app, "quit",
                                                                            Qt.ConnectionType.QueuedConnection))
    previous = signal.signal(signal.SIGINT, lambda *_: supervisor.stop())
    heartbeat = QTimer()  # lets Python run its signal handler while Qt waits
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start(200)
    try:
        supervisor.start()
        app.exec()
        supervisor.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        heartbeat.stop()
        gate.marker.hide()
        gate.close()
    return supervisor.result
