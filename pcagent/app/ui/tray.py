"""The tray icon, its menu, and the control window that stands in for them where the desktop has no tray.

Views only: `AppActions` holds one QAction per thing the person can ask for and enables what fits the app's
state; the tray menu and the control window show the same actions; application.py connects them. The icon
is drawn with QPainter, one look per state (no image files).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QCursor,
    QIcon,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pcagent.app.controller import (
    AGENT_RUNNING,
    IDLE,
    PAUSED,
    RECORDING,
    WAITING_APPROVAL,
    AppStatus,
)

__all__ = ["STATE_LABELS", "AppActions", "ControlWindow", "TrayIcon", "is_tray_icon_window", "state_icon"]

STATE_LABELS = {IDLE: "idle", RECORDING: "recording", PAUSED: "paused", AGENT_RUNNING: "agent running",
                WAITING_APPROVAL: "waiting for your approval"}
_STATE_COLORS = {IDLE: "#6b7280", RECORDING: "#dc2626", PAUSED: "#d97706", AGENT_RUNNING: "#2563eb",
                 WAITING_APPROVAL: "#eab308"}


def is_tray_icon_window(widget: QWidget) -> bool:
    """Whether `widget` is Qt's own window for a tray icon on X11, embedded in the tray host (XEmbed): part
    of the desktop's tray, so left alone when pcagent's windows are hidden; unmapping it takes the icon out
    of the tray for good."""
    return widget.metaObject().className() == "QSystemTrayIconSys"


def state_icon(state: str, size: int = 64) -> QIcon:
    """The tray icon for a state: a grey ring (idle), a red dot (recording), two amber bars (paused), a blue
    play triangle (agent running), a yellow disc with a question mark (waiting for approval)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = QColor(_STATE_COLORS.get(state, _STATE_COLORS[IDLE]))
    s = float(size)
    if state == RECORDING:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawEllipse(QRectF(s * 0.12, s * 0.12, s * 0.76, s * 0.76))
    elif state == PAUSED:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawRoundedRect(QRectF(s * 0.18, s * 0.12, s * 0.24, s * 0.76), s * 0.05, s * 0.05)
        painter.drawRoundedRect(QRectF(s * 0.58, s * 0.12, s * 0.24, s * 0.76), s * 0.05, s * 0.05)
    elif state == AGENT_RUNNING:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawPolygon(QPolygonF([QPointF(s * 0.2, s * 0.1), QPointF(s * 0.9, s * 0.5), QPointF(s * 0.2, s * 0.9)]))
    elif state == WAITING_APPROVAL:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(color))
        painter.drawEllipse(QRectF(s * 0.06, s * 0.06, s * 0.88, s * 0.88))
        font = painter.font()
        font.setPixelSize(int(s * 0.7))
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(QPen(QColor("#1f2937")))
        painter.drawText(QRectF(0, 0, s, s), Qt.AlignmentFlag.AlignCenter, "?")
    else:
        painter.setPen(QPen(color, s * 0.12))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        path = QPainterPath()
        path.addEllipse(QRectF(s * 0.16, s * 0.16, s * 0.68, s * 0.68))
        painter.drawPath(path)
    painter.end()
    return QIcon(pixmap)


class AppActions:
    """Every request the menu and the control window offer, enabled by the app's state."""

    def __init__(self, parent: QWidget | None = None) -> None:
        def action(text: str, tip: str = "") -> QAction:
            made = QAction(text, parent)
            made.setToolTip(tip or text.replace("&", "").rstrip("…"))
            return made

        self.record_task_file = action("Task from a fi&le…", "Record a given task from a JSON task list")
        self.record_task_text = action("Task I &type now…", "Record a task you describe before starting")
        self.record_free = action("&Free task (describe it after)", "Record, then describe and rate the task")
        self.record_no_task = action("&No task", "Record what you do, without a task")
        self.pause = action("&Pause recording")
        self.resume = action("Res&ume recording")
        self.thought = action("Add a &thought…", "Type what you are about to do and why")
        self.finish = action("F&inish (task done)")
        self.fail = action("F&ail (task not done)")
        self.stop = action("&Stop recording")
        self.run_task = action("Run a tas&k…", "Let the agent do a task, asking you to approve its steps")
        self.review = action("Re&view a trajectory…")
        self.open_folder = action("Open the trajectories f&older")
        self.settings = action("Setti&ngs…")
        self.show_controls = action("Show the control &window")
        self.quit = action("&Quit pcagent")
        self.record_actions = [self.record_task_file, self.record_task_text, self.record_free, self.record_no_task]

    def update(self, state: str) -> None:
        idle, recording = state == IDLE, state in (RECORDING, PAUSED)
        for made in self.record_actions:
            made.setEnabled(idle)
        # during an agent run: pause takes control, resume hands it back
        self.pause.setEnabled(state in (RECORDING, AGENT_RUNNING))
        self.resume.setEnabled(state in (PAUSED, WAITING_APPROVAL))
        self.thought.setEnabled(recording)
        self.finish.setEnabled(recording)
        self.fail.setEnabled(recording)
        self.stop.setEnabled(recording or state in (AGENT_RUNNING, WAITING_APPROVAL))
        self.run_task.setEnabled(idle)
        self.review.setEnabled(not recording)

    def fill_menu(self, menu: QMenu, *, with_controls_window: bool) -> QMenu:
        record = menu.addMenu("&Record")
        record.addActions(self.record_actions)
        menu.addActions([self.pause, self.resume, self.thought, self.finish, self.fail, self.stop])
        menu.addSeparator()
        menu.addActions([self.run_task, self.review, self.open_folder, self.settings])
        menu.addSeparator()
        if with_controls_window:
            menu.addAction(self.show_controls)
        menu.addAction(self.quit)
        return menu


def _status_text(status: AppStatus) -> str:
    text = f"pcagent: {STATE_LABELS.get(status.state, status.state)}"
    if status.state != IDLE and status.trajectory:
        text += f" — {status.steps} step{'s' if status.steps != 1 else ''}"
    elif status.outcome and status.trajectory:
        text += f" — last: {status.outcome}, {status.steps} steps"
    return text


class TrayIcon(QSystemTrayIcon):
    """The tray icon: its look and tooltip follow the state; either click opens the menu."""

    def __init__(self, actions: AppActions, parent: QWidget | None = None) -> None:
        super().__init__(state_icon(IDLE), parent)
        self.menu = actions.fill_menu(QMenu(), with_controls_window=True)
        self.setContextMenu(self.menu)
        self.setToolTip("pcagent: idle")
        self.activated.connect(self._activated)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a left click: the same menu
            self.menu.popup(QCursor.pos())

    def show_status(self, status: AppStatus) -> None:
        self.setIcon(state_icon(status.state))
        self.setToolTip(_status_text(status) + (f"\n{status.message}" if status.message else ""))


class ControlWindow(QWidget):
    """A small always-on-top window with the tray menu's requests, for desktops without a tray."""

    def __init__(self, actions: AppActions) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle("pcagent")
        self.icon = QLabel()
        self.status = QLabel("pcagent: idle")
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #b91c1c;")
        self.message.hide()
        top = QHBoxLayout()
        top.addWidget(self.icon)
        top.addWidget(self.status, 1)
        buttons = QHBoxLayout()
        record = QToolButton()
        record.setText("Record")
        record.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        record_menu = QMenu(record)
        record_menu.addActions(actions.record_actions)
        record.setMenu(record_menu)
        buttons.addWidget(record)
        for made in (actions.pause, actions.resume, actions.thought, actions.finish, actions.fail, actions.stop):
            button = QToolButton()
            button.setDefaultAction(made)
            buttons.addWidget(button)
        more = QToolButton()
        more.setText("More")
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        more_menu = QMenu(more)
        more_menu.addActions([actions.run_task, actions.review, actions.open_folder, actions.settings])
        more_menu.addSeparator()
        more_menu.addAction(actions.quit)
        more.setMenu(more_menu)
        buttons.addWidget(more)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        self.show_status(AppStatus(IDLE))

    def show_status(self, status: AppStatus) -> None:
        self.icon.setPixmap(state_icon(status.state).pixmap(20, 20))
        self.status.setText(_status_text(status))
        self.show_message(status.message)

    def show_message(self, message: str | None) -> None:
        self.message.setText(message or "")
        self.message.setVisible(bool(message))
