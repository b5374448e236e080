"""The thought box: a small entry box that opens at the pointer (the thought hotkey, the menu, `pcagent ctl
thought`) for what the person is about to do and why, or with "about what I just did" ticked, for the step
just recorded.

Enter attaches the thought, Esc or clicking elsewhere closes the box and keeps the text as a draft for next
time. The box is one of pcagent's own windows: the recorder drops its keystrokes and clicks and keeps it out of
step screenshots (application.py reports it as taking the keyboard while shown).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QPoint, Qt, Signal
from PySide6.QtGui import QCursor, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QCheckBox, QFrame, QLabel, QLineEdit, QVBoxLayout, QWidget

__all__ = ["BORDER_COLOR", "TAKES_KEYBOARD_PROPERTY", "ThoughtBox"]

BORDER_COLOR = "#c90076"  # distinctive, so that a test can tell by pixels that no screenshot shows the box
TAKES_KEYBOARD_PROPERTY = "pcagent_takes_keyboard"  # read by application.py's own-window reporter
SETTLING_S = 0.3  # focus may bounce while the window manager maps the box: no "clicked elsewhere" that early


class ThoughtBox(QWidget):
    """Emits `submitted(text, about)` on Enter; about is "next" or "previous"."""

    submitted = Signal(str, str)

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.Tool)
        self.setWindowTitle("pcagent thought")
        self.setProperty(TAKES_KEYBOARD_PROPERTY, True)
        frame = QFrame(self)
        frame.setObjectName("thoughtFrame")
        frame.setStyleSheet(f"#thoughtFrame {{ border: 3px solid {BORDER_COLOR}; background: #fff7fb; }}")
        self.prompt = QLabel("What are you about to do, and why?")
        self.entry = QLineEdit()
        self.entry.setMinimumWidth(360)
        self.entry.setPlaceholderText("I open the Save dialog because …")
        self.about_previous = QCheckBox("about what I just did")
        self.about_previous.toggled.connect(self._retitle)
        hint = QLabel("Enter: attach · Esc: close")
        hint.setStyleSheet("color: #6b7280;")
        inner = QVBoxLayout(frame)
        inner.addWidget(self.prompt)
        inner.addWidget(self.entry)
        inner.addWidget(self.about_previous)
        inner.addWidget(hint)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)
        self.entry.returnPressed.connect(self._submit)
        self._opened_at = 0.0

    def _retitle(self, previous: bool) -> None:
        self.prompt.setText("What did you just do, and why?" if previous else "What are you about to do, and why?")

    def open_at(self, point: QPoint | None = None, about: str = "next") -> None:
        """Show the box at `point` (default: the pointer), kept on its screen, and give it the keyboard."""
        point = point or QCursor.pos()
        self.about_previous.setChecked(about == "previous")
        self.adjustSize()
        screen = QGuiApplication.screenAt(point) or QGuiApplication.primaryScreen()
        area = screen.availableGeometry()
        x = min(max(point.x() + 12, area.left()), area.right() - self.width())
        y = min(max(point.y() + 12, area.top()), area.bottom() - self.height())
        self.move(x, y)
        self._opened_at = time.monotonic()
        self.show()
        self.raise_()
        self.activateWindow()
        self.entry.setFocus(Qt.FocusReason.PopupFocusReason)

    def _submit(self) -> None:
        text = self.entry.text().strip()
        if not text:
            return
        about = "previous" if self.about_previous.isChecked() else "next"
        self.entry.clear()
        self.hide()
        self.submitted.emit(text, about)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.hide()  # the text stays as a draft
            return
        super().keyPressEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if (event.type() == QEvent.Type.ActivationChange and self.isVisible() and not self.isActiveWindow()
                and time.monotonic() - self._opened_at > SETTLING_S):
            self.hide()  # clicked elsewhere: the click is the person's next action; the draft stays
        super().changeEvent(event)
