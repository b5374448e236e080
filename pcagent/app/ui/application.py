"""The tray app's wiring: the Qt application, the core underneath (controller, `pcagent ctl` server, thought
hotkey) and the views on top (tray icon or control window, thought box, task dialogs).

Every window carries WM_CLASS "pcagent", "pcagent" (tracker.recording.own_windows.OWN_APPLICATION): the
QApplication is made with argv[0] "pcagent" (the instance name) and that application name (the class name).
`OwnWindowReporter` tells the recorder's own-window timeline when each window is shown, moved and hidden, so
that nothing done in pcagent's windows is recorded and no step's screenshot shows them.

Nothing that blocks runs on the UI thread: starting and ending a recording, attaching a thought and quitting
go to worker threads; the `pcagent ctl` server and the hotkey listener have threads of their own; the
controller's news comes back as a queued signal.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QCursor, QDesktopServices
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from pcagent.app.agent_supervisor import AgentSupervisor
from pcagent.app.controller import (
    IDLE,
    PAUSED,
    RECORDING,
    AppController,
    ControllerError,
    ControllerEvent,
    describe_free_task,
    free_task,
    no_task,
)
from pcagent.app.ctl import CtlServer, dispatch
from pcagent.app.global_hotkey import GlobalHotkey, HotkeyError
from pcagent.app.trajectory_edit import TrajectoryEditError
from pcagent.app.ui.qt_gate import QtGate
from pcagent.app.ui.review_window import ReviewWindow, choose_trajectory
from pcagent.app.ui.run_dialog import RunDialog
from pcagent.app.ui.settings_window import SettingsWindow
from pcagent.app.ui.task_dialogs import (
    FreeTaskDescription,
    ask_task_from_file,
    ask_task_text,
)
from pcagent.app.ui.thought_box import TAKES_KEYBOARD_PROPERTY, ThoughtBox
from pcagent.app.ui.tray import AppActions, ControlWindow, TrayIcon, is_tray_icon_window
from tracker.recording.own_windows import (
    OWN_APPLICATION,
    OwnWindowTimeline,
    own_window_timeline,
)

__all__ = ["PROBE_ENV", "Application", "OwnWindowReporter", "UiStallProbe", "create_qapplication", "run_app"]

PROBE_ENV = "PCAGENT_UI_PROBE"  # set to 1: measure UI thread stalls, reported by `pcagent ctl status`
TRAY_ICON_ID = -1  # the tray icon's own window is trayer's child; it is reported by its place alone


def create_qapplication() -> QApplication:
    """The QApplication, made so that every window's WM_CLASS is ("pcagent", "pcagent")."""
    QCoreApplication.setApplicationName(OWN_APPLICATION)  # WM_CLASS class
    app = QApplication.instance() or QApplication([OWN_APPLICATION])  # argv[0]: WM_CLASS instance
    app.setQuitOnLastWindowClosed(False)
    return app


def _window_rect(widget: QWidget) -> tuple[int, int, int, int]:
    rect = widget.frameGeometry().united(widget.geometry())
    return rect.x(), rect.y(), rect.x() + rect.width(), rect.y() + rect.height()


class OwnWindowReporter(QObject):
    """Reports every top-level window of this app to the own-window timeline as it is shown, moved and
    hidden. Popup menus and windows marked with TAKES_KEYBOARD_PROPERTY have the keyboard while shown;
    click-through windows (Qt.WindowTransparentForInput) take no input."""

    _WATCHED = frozenset({QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.Move, QEvent.Type.Resize})

    def __init__(self, timeline: OwnWindowTimeline, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.timeline = timeline

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self._WATCHED and isinstance(watched, QWidget) and watched.isWindow():
            window_id = int(watched.internalWinId() or 0)
            # The tray icon's own window lives inside the tray; `Application` reports it by its place.
            if window_id and not is_tray_icon_window(watched):
                kind = event.type()
                if kind == QEvent.Type.Show:
                    flags = watched.windowFlags()
                    self.timeline.shown(
                        window_id, _window_rect(watched), title=watched.windowTitle() or None,
                        takes_input=not flags & Qt.WindowType.WindowTransparentForInput,
                        takes_keyboard=watched.windowType() == Qt.WindowType.Popup
                        or bool(watched.property(TAKES_KEYBOARD_PROPERTY)))
                elif kind == QEvent.Type.Hide:
                    self.timeline.hidden(window_id)
                elif watched.isVisible():
                    self.timeline.moved(window_id, _window_rect(watched))
        return False


class UiStallProbe(QObject):
    """A timer that should fire every `interval_ms`; how late it fires is how long the UI thread was busy."""

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_s = interval_ms / 1000
        self.samples = 0
        self.max_stall_s = 0.0
        self.stalls_over_50ms = 0
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.monotonic()
        self._timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        if self._last is not None:
            stall = max(0.0, now - self._last - self.interval_s)
            self.samples += 1
            self.max_stall_s = max(self.max_stall_s, stall)
            self.stalls_over_50ms += stall > 0.05
        self._last = now

    def to_dict(self) -> dict:
        return {"samples": self.samples, "max_stall_ms": round(self.max_stall_s * 1000, 1),
                "stalls_over_50ms": self.stalls_over_50ms, "interval_ms": round(self.interval_s * 1000)}


class Application(QObject):
    """The running app: tray icon (or control window), thought box and hotkey, over an AppController."""

    controller_event = Signal(object)
    focus_requested = Signal()
    thought_requested = Signal(str)
    error_raised = Signal(str)
    shutdown_done = Signal()

    def __init__(self, controller: AppController, *, tray: bool | None = None,
                 timeline: OwnWindowTimeline | None = None, probe: bool | None = None) -> None:
        super().__init__()
        self.controller = controller
        self.timeline = timeline or own_window_timeline()
        self.reporter = OwnWindowReporter(self.timeline, self)
        QApplication.instance().installEventFilter(self.reporter)
        self.actions = AppActions()
        self.thought_box = ThoughtBox()
        self.thought_box.submitted.connect(self._attach_thought)
        self.control_window = ControlWindow(self.actions)
        self.tray_available = QSystemTrayIcon.isSystemTrayAvailable() if tray is None else tray
        self.tray: TrayIcon | None = TrayIcon(self.actions) if self.tray_available else None
        self.hotkey: GlobalHotkey | None = None
        self.hotkey_error: str | None = None
        self.free_task_windows: list[FreeTaskDescription] = []
        self.review_windows: list[ReviewWindow] = []
        self.settings_windows: list[SettingsWindow] = []
        self.agent_gate: QtGate | None = None  # the approval panel and marker, made on the first run
        self.supervisor: AgentSupervisor | None = None  # the agent run going on, or the last one
        self.probe = UiStallProbe(parent=self) if (os.environ.get(PROBE_ENV) == "1" if probe is None else probe) \
            else None
        self._wire()
        controller.add_listener(self.controller_event.emit)  # any thread; delivered on the UI thread

    def _wire(self) -> None:
        a = self.actions
        a.record_task_file.triggered.connect(lambda: self._record(ask_task_from_file))
        a.record_task_text.triggered.connect(lambda: self._record(ask_task_text))
        a.record_free.triggered.connect(lambda: self._record(lambda parent: free_task()))
        a.record_no_task.triggered.connect(lambda: self._record(lambda parent: no_task()))
        a.pause.triggered.connect(lambda: self._background(self.controller.pause))
        a.resume.triggered.connect(lambda: self._background(self.controller.resume))
        a.thought.triggered.connect(lambda: self.request_thought("next"))
        a.finish.triggered.connect(lambda: self._background(self.controller.finish))
        a.fail.triggered.connect(lambda: self._background(self.controller.fail))
        a.stop.triggered.connect(lambda: self._background(self.controller.stop))
        a.run_task.triggered.connect(lambda: self._ui_call(self.run_task))
        a.review.triggered.connect(lambda: self._ui_call(self.review_trajectory))
        a.open_folder.triggered.connect(lambda: self._ui_call(self.open_trajectories_folder))
        a.settings.triggered.connect(lambda: self._ui_call(self.open_settings))
        a.show_controls.triggered.connect(self.focus_control_window)
        a.quit.triggered.connect(self.quit)
        self.controller_event.connect(self._on_controller_event)
        self.focus_requested.connect(self.focus_control_window)
        self.thought_requested.connect(self.request_thought)
        self.error_raised.connect(self.show_error)
        self.shutdown_done.connect(QApplication.instance().quit)
        a.update(self.controller.state)

    # --- life cycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Show the tray icon (or the control window), grab the thought hotkey, start the probe."""
        if self.tray is not None:
            self.tray.show()
            QTimer.singleShot(500, self._report_tray_icon)  # its place is known once the tray embedded it
        else:
            self.focus_control_window()
        self._grab_thought_hotkey()
        if self.probe is not None:
            self.probe.start()

    def _grab_thought_hotkey(self) -> None:
        spec = self.controller.options.thought_hotkey
        if self.hotkey is not None:
            if self.hotkey.spec == spec:
                return
            self.hotkey.stop()
            self.hotkey = None
        try:
            self.hotkey = GlobalHotkey(spec, lambda: self.thought_requested.emit("next")).start()
            self.hotkey_error = None
        except HotkeyError as exc:
            self.hotkey_error = str(exc)
            self.show_error(f"The thought hotkey is not available: {exc}")

    def reload_settings(self) -> None:
        """After the settings window saved: read the options again and grab a changed thought hotkey."""
        try:
            self.controller.reload_options()
        except ControllerError as exc:
            self.show_error(str(exc))
            return
        self._grab_thought_hotkey()

    def stop(self) -> None:
        if self.hotkey is not None:
            self.hotkey.stop()
            self.hotkey = None
        if self.tray is not None:
            self.tray.hide()

    def quit(self) -> None:
        """Save a recording in progress (on a worker thread), then leave the event loop."""
        for window in (self.thought_box, self.control_window):
            window.hide()

        def shut_down() -> None:
            try:
                self.controller.shutdown()
            finally:
                self.shutdown_done.emit()

        threading.Thread(target=shut_down, name="pcagent-quit", daemon=True).start()

    # --- `pcagent ctl` (called on the server's threads) ------------------------------------------------
    def handle_ctl(self, request: dict) -> dict:
        answer = dispatch(self.controller, request, ui=self)
        if self.probe is not None and isinstance(answer.get("status"), dict):
            answer["status"]["ui_probe"] = self.probe.to_dict()
        return answer

    def focus(self) -> None:
        self.focus_requested.emit()

    def open_thought_box(self, about: str) -> None:
        self.thought_requested.emit(about)

    # --- requests ---------------------------------------------------------------------------------------
    def _background(self, work: Callable[[], object]) -> None:
        """Run a controller request on a worker thread; a refusal or failure comes back as a message."""
        def run() -> None:
            try:
                work()
            except ControllerError as exc:
                self.error_raised.emit(str(exc))
            except Exception as exc:  # noqa: BLE001 - the app goes on; the person is told what broke
                self.error_raised.emit(f"{type(exc).__name__}: {exc}")

        threading.Thread(target=run, name="pcagent-request", daemon=True).start()

    def _ui_call(self, method: Callable[[], object]) -> None:
        try:
            method()
        except Exception as exc:  # noqa: BLE001 - a menu entry that fails says so and changes nothing
            self.show_error(str(exc) or type(exc).__name__)

    def _record(self, ask_task: Callable[[QWidget | None], dict | None]) -> None:
        try:
            task = ask_task(self.control_window if self.control_window.isVisible() else None)
        except ControllerError as exc:
            self.show_error(str(exc))
            return
        if task is not None:
            self._report_tray_icon()
            self._background(lambda: self.controller.start_recording(task))

    def request_thought(self, about: str = "next") -> None:
        """Open the thought box at the pointer, when there is a recording to attach a thought to."""
        if self.controller.state not in (RECORDING, PAUSED):
            self.show_error("Start a recording first: a thought goes with the recorded step it is about.")
            return
        self.thought_box.open_at(QCursor.pos(), about)

    def _attach_thought(self, text: str, about: str) -> None:
        self._background(lambda: self.controller.add_thought(text, about))

    def open_trajectories_folder(self) -> None:
        folder = self.controller.options.folder()
        folder.mkdir(parents=True, exist_ok=True)
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_error(f"No file manager opened {folder}")

    def run_task(self) -> None:
        """Ask for a task and let the agent run it under the approval panel: the supervisor runs it on a
        worker thread, reports to the controller, and the QtGate asks the person (pcagent.app.ui.qt_gate)."""
        if self.controller.state != IDLE:
            self.show_error("The agent runs when nothing else is going on: end the recording or run first.")
            return
        settings = self.controller.options.settings_path
        dialog = RunDialog(self.control_window if self.control_window.isVisible() else None, settings_path=settings,
                           trajectories_dir=self.controller.options.folder())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def start() -> None:
            task = dialog.task()
            if task is None:
                return
            self.agent_gate = self.agent_gate or QtGate(settings_path=settings)
            self.supervisor = AgentSupervisor(
                task, self.agent_gate.bind, listener=self.controller, hider=self.agent_gate,
                report=self.agent_gate.report, settings_path=settings,
                on_done=lambda run: run.result.error and self.error_raised.emit(f"The agent run: {run.result.error}"))
            self.supervisor.start()

        dialog.accepted.connect(start)
        dialog.open()

    def review_trajectory(self, path: str | Path | None = None) -> None:
        """Open the review window on a trajectory (asking which when `path` is None)."""
        if path is None:
            path = choose_trajectory(None, self.controller.options.folder())
            if path is None:
                return
        try:
            window = ReviewWindow(path)
        except TrajectoryEditError as exc:  # not a trajectory folder, or unreadable
            self.show_error(str(exc))
            return
        self._keep_window(window, self.review_windows)

    def open_settings(self) -> None:
        """Open the settings window (or bring the open one forward)."""
        for window in self.settings_windows:
            window.raise_()
            window.activateWindow()
            return
        window = SettingsWindow()
        window.saved.connect(self.reload_settings)  # a changed thought hotkey is grabbed at once
        self._keep_window(window, self.settings_windows)

    def _keep_window(self, window: QWidget, windows: list) -> None:
        """Show a window that lives until it is closed, referenced meanwhile from ``windows``."""
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        windows.append(window)
        window.destroyed.connect(lambda: windows.remove(window) if window in windows else None)
        window.show()
        window.raise_()
        window.activateWindow()

    # --- views ------------------------------------------------------------------------------------------
    def focus_control_window(self) -> None:
        window = self.control_window
        if not window.isVisible():
            window.adjustSize()
            screen = QApplication.primaryScreen().availableGeometry()
            window.move(screen.right() - window.width() - 24, screen.top() + 48)
        window.show()
        window.raise_()
        window.activateWindow()

    def show_error(self, message: str) -> None:
        if self.tray is not None:
            self.tray.showMessage("pcagent", message, QSystemTrayIcon.MessageIcon.Warning, 8000)
        self.control_window.show_message(message)

    def _report_tray_icon(self) -> None:
        """Clicks on the tray icon are the person's dealings with pcagent, never a recorded action."""
        if self.tray is None:
            return
        geometry = self.tray.geometry()
        if geometry.isValid() and geometry.width() > 0:
            self.timeline.shown(TRAY_ICON_ID, (geometry.x(), geometry.y(), geometry.x() + geometry.width(),
                                               geometry.y() + geometry.height()),
                                title="pcagent tray icon", in_screenshots=False)

    def _on_controller_event(self, event: ControllerEvent) -> None:
        status = event.status
        self.actions.update(status.state)
        if self.tray is not None:
            self.tray.show_status(status)
        self.control_window.show_status(status)
        if event.kind == "error" and event.message:
            self.show_error(event.message)
        if status.state == RECORDING:
            # a description window left open would be in every screenshot of the new recording; the
            # undescribed recording stays as it is (the review window can describe it)
            for window in list(self.free_task_windows):
                window.close()
        if self.tray is None:
            # Without a tray the control window would be in every step's screenshot: it steps aside while
            # recording (the recorder's hotkeys, the thought hotkey and `pcagent ctl` still work) and comes
            # back when the recording pauses or ends.
            if status.state == RECORDING:
                self.control_window.hide()
            elif status.state in (IDLE, PAUSED) and not self.control_window.isVisible():
                self.focus_control_window()
        if event.kind == "saved" and status.trajectory and status.state == IDLE:
            task = status.task or {}
            if task.get("mode") == "free" and not task.get("description"):
                self._ask_free_task_description(status.trajectory)
            elif self.tray is not None:
                self.tray.showMessage("pcagent", f"Saved {status.steps} steps in {status.trajectory}",
                                      QSystemTrayIcon.MessageIcon.Information, 5000)

    def _ask_free_task_description(self, trajectory: str) -> None:
        window = FreeTaskDescription(trajectory)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.described.connect(lambda path, text, difficulty: self._background(
            lambda: describe_free_task(path, text, difficulty)))
        window.destroyed.connect(lambda: self.free_task_windows.remove(window)
                                 if window in self.free_task_windows else None)
        self.free_task_windows.append(window)
        window.show()


def run_app(controller: AppController, *, socket: Path | None = None, tray: bool | None = None) -> int:
    """Run the tray app until it quits: the control socket first (it makes the app single-instance; raises
    pcagent.app.ctl.CtlError when another app holds it), then the views."""
    qt_app = create_qapplication()
    app = Application(controller, tray=tray)
    server = CtlServer(app.handle_ctl, socket).start()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, app.quit))
    wake = QTimer()  # Python runs signal handlers only between bytecodes: let it, every 200 ms
    wake.timeout.connect(lambda: None)
    wake.start(200)
    app.start()
    try:
        return qt_app.exec()
    finally:
        app.stop()
        server.stop()
