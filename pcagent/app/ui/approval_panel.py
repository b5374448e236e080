"""The approval panel: one proposed agent step and the person's answer (a view; pcagent.app.ui.qt_gate wires it).

    +------------------------------------------------------------+
    | Step 3                       approves by itself in 5 s      |
    | Thought: I need to save the file first.                     |
    | Action:  click (640, 412)                                   |
    | Target:  (640, 412) "Save" - ocr, confidence 0.92           |
    | Needs approval: - clicks on "Delete"                        |
    | [ the screen around the target, the target ringed ]         |
    | [ ] Always ask for steps like this (click in Mousepad)      |
    | [Approve] [Reject] [Edit] [Take over] [Pause] [Stop]        |
    +------------------------------------------------------------+

Keys: Enter approves (a guarded step needs the Approve button or Ctrl+Enter: Enter alone is not enough),
Esc rejects; while editing, Enter submits and Esc goes back. The edit box checks the action text as it is
typed (tracker.format.actions.parse_action) and refuses an invalid one with the parser's message. Any key
or click in the panel stops the countdown: a person is there. Everything shown is plain text (never rich
text), and the proposal's lines come from pcagent.collab.gates.describe_proposal, control characters
escaped and typed secrets hidden. The panel is framed in MARKER_COLOR, so tests find it by pixel.

The panel also shows the agent's messages while it waits for the person (paused, a question, a fault):
Hand back (Enter, with an optional note), Take over, Stop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from PIL import Image
from PySide6.QtCore import QEvent, QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pcagent.app.ui.marker import MARKER_COLOR
from tracker.format.actions import ActionError, parse_action

__all__ = ["VERDICT_BUTTONS", "ApprovalPanel", "PanelContent", "qimage_from_pil"]

VERDICT_BUTTONS = ("approve", "reject", "edit", "takeover", "pause", "stop")
_LABELS = {"approve": "&Approve", "reject": "&Reject", "edit": "&Edit", "takeover": "&Take over",
           "pause": "&Pause", "stop": "&Stop", "hand_back": "&Hand back"}
PANEL_WIDTH = 470
MARGIN = 24  # from the screen's edge


def qimage_from_pil(image: Image.Image) -> QImage:
    """A QImage (RGB888) with its own copy of a PIL image's pixels, so it outlives ``image``.

    Safe to build on a worker thread (a QImage, unlike a QPixmap, needs no UI thread): the approval
    gate's target crop and the review window's marked screenshots are both made that way.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    data = rgb.tobytes("raw", "RGB")
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


@dataclass
class PanelContent:
    """What the panel shows; built on the worker thread (pcagent.app.ui.qt_gate), shown on the UI thread."""

    title: str
    lines: list[str]  # plain text, already escaped
    action_text: str = ""  # what the edit box starts with ("" for a hidden secret)
    image: QImage | None = None  # the screen around the target, the target marked
    target: tuple[int, int] | None = None  # on the desktop: the panel keeps away from it
    guarded: bool = False  # Enter alone does not approve
    deadline: float | None = None  # time.monotonic() when silence approves
    always_ask_label: str | None = None  # "click in Mousepad"; None: no box
    always_ask: bool = False
    suggest: bool = False  # the agent only suggests: the person acts
    message: bool = False  # a message while waiting for the person (hand back / take over / stop)
    buttons: tuple[str, ...] = field(default=VERDICT_BUTTONS)


class ApprovalPanel(QFrame):
    """Emits ``answered(verdict, payload)``: payload is the parsed Action for "edit", the note for
    "hand_back", else None. ``interacted()`` fires on the first key or click (the countdown stops)."""

    answered = Signal(str, object)
    interacted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Tool | Qt.WindowType.WindowStaysOnTopHint)
        self.setWindowTitle("pcagent: approve the agent's step")
        self.setObjectName("approvalPanel")
        red, green, blue = MARKER_COLOR
        self.setStyleSheet(f"#approvalPanel {{ border: 4px solid rgb({red}, {green}, {blue}); }}")
        self.content: PanelContent | None = None
        self._countdown_running = False

        self.title = self._label(bold=True)
        self.countdown = self._label()
        self.countdown.setWordWrap(False)
        self.text = self._label(selectable=True)
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.always_ask = QCheckBox()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("an action, e.g. click (120, 45) or click element: the Save button")
        self.edit_status = self._label()
        self.note = QLineEdit()
        self.note.setPlaceholderText("a note for the agent (optional)")
        self.hint = self._label()
        self.buttons: dict[str, QPushButton] = {}
        self.submit_edit = QPushButton("&Use this action")
        self.cancel_edit = QPushButton("&Back")

        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.countdown)
        row = QHBoxLayout()
        for verdict in (*VERDICT_BUTTONS, "hand_back"):
            button = QPushButton(_LABELS[verdict])
            button.setObjectName(verdict)
            button.setAutoDefault(False)
            button.clicked.connect(lambda _=False, v=verdict: self._button(v))
            self.buttons[verdict] = button
            row.addWidget(button)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.edit, 1)
        edit_row.addWidget(self.submit_edit)
        edit_row.addWidget(self.cancel_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        for widget in (self.text, self.image, self.always_ask):
            layout.addWidget(widget)
        layout.addLayout(edit_row)
        layout.addWidget(self.edit_status)
        layout.addWidget(self.note)
        layout.addWidget(self.hint)
        layout.addLayout(row)
        self.setFixedWidth(PANEL_WIDTH)

        self.edit.textChanged.connect(self._validate_edit)
        self.edit.returnPressed.connect(self._submit_edit)
        self.submit_edit.clicked.connect(self._submit_edit)
        self.cancel_edit.clicked.connect(lambda: self._editing(False))
        self.note.returnPressed.connect(lambda: self._button("hand_back"))
        self.always_ask.toggled.connect(lambda _: self._interacted())
        self._ticker = QTimer(self)
        self._ticker.setInterval(100)
        self._ticker.timeout.connect(self._tick)
        for child in self.findChildren(QWidget):
            child.installEventFilter(self)

    @staticmethod
    def _label(bold: bool = False, selectable: bool = False) -> QLabel:
        label = QLabel()
        label.setTextFormat(Qt.TextFormat.PlainText)  # a model's text never becomes markup
        label.setWordWrap(True)
        if bold:
            font = label.font()
            font.setBold(True)
            label.setFont(font)
        if selectable:
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # --- showing --------------------------------------------------------------------------------
    def present(self, content: PanelContent) -> None:
        """Show `content`, away from its target, and take the keyboard focus."""
        self.content = content
        self.title.setText(content.title)
        self.text.setText("\n".join(content.lines))
        self.image.setVisible(content.image is not None)
        if content.image is not None:
            self.image.setPixmap(QPixmap.fromImage(content.image))
        self.always_ask.setVisible(content.always_ask_label is not None)
        self.always_ask.blockSignals(True)
        self.always_ask.setChecked(content.always_ask)
        self.always_ask.blockSignals(False)
        if content.always_ask_label is not None:
            self.always_ask.setText(f"Always ask for steps like this ({content.always_ask_label})")
        for verdict, button in self.buttons.items():
            button.setVisible(verdict in content.buttons)
        self.note.clear()
        self.note.setVisible(content.message)
        self.hint.setText(self._hint(content))
        self._editing(False)
        self._countdown_running = content.deadline is not None
        self._tick()
        self._ticker.start()
        self.adjustSize()
        self._place(content.target)
        self.show()
        self.raise_()
        self.activateWindow()
        (self.note if content.message else self).setFocus()

    @staticmethod
    def _hint(content: PanelContent) -> str:
        if content.message:
            return "Enter: hand control back to the agent (with the note, if any)."
        if content.suggest:
            return "The agent only suggests: do it (or something better) yourself, then hand control back."
        if content.guarded:
            return "This step needs your approval: click Approve or press Ctrl+Enter (Enter alone is not enough)."
        return "Enter: approve    Esc: reject"

    def withdraw(self) -> None:
        """Hide, the question answered or taken back."""
        self._ticker.stop()
        self._countdown_running = False
        self.content = None
        self.hide()

    def _place(self, target: tuple[int, int] | None) -> None:
        """The corner of the target's screen farthest from the target."""
        screen = QGuiApplication.screenAt(self._point(target)) if target else None
        screen = screen or QGuiApplication.primaryScreen()
        area = screen.availableGeometry()
        size = self.sizeHint().expandedTo(self.minimumSizeHint())
        left, right = area.left() + MARGIN, area.right() - MARGIN - size.width()
        top, bottom = area.top() + MARGIN, area.bottom() - MARGIN - size.height()
        if target is None:
            self.move(right, bottom)
            return
        corners = [(x, y) for x in (left, right) for y in (top, bottom)]

        def distance(corner: tuple[int, int]) -> float:
            box = QRect(corner[0], corner[1], size.width(), size.height())
            centre = box.center()
            inside = box.adjusted(-40, -40, 40, 40).contains(*target)
            return math.dist((centre.x(), centre.y()), target) - (10_000 if inside else 0)

        self.move(*max(corners, key=distance))

    @staticmethod
    def _point(target: tuple[int, int]):
        from PySide6.QtCore import QPoint

        return QPoint(*target)

    # --- countdown ------------------------------------------------------------------------------
    def _tick(self) -> None:
        content = self.content
        if content is None or content.deadline is None:
            self.countdown.setText("")
            return
        if not self._countdown_running:
            return
        left = math.ceil(max(0.0, content.deadline - time.monotonic()))
        self.countdown.setText(f"approves by itself in {left} s")

    def stop_countdown(self) -> None:
        if self._countdown_running:
            self._countdown_running = False
            self.countdown.setText("countdown stopped")

    def _interacted(self) -> None:
        if self._countdown_running:
            self.stop_countdown()
            self.interacted.emit()

    # --- answering ------------------------------------------------------------------------------
    def _button(self, verdict: str) -> None:
        if self.content is None:
            return
        if verdict == "edit":
            self._interacted()
            self._editing(True)
            return
        payload = self.note.text().strip() if verdict == "hand_back" else None
        self.answered.emit(verdict, payload)

    def _editing(self, on: bool) -> None:
        for widget in (self.edit, self.submit_edit, self.cancel_edit, self.edit_status):
            widget.setVisible(on)
        if on:
            self.edit.setText(self.content.action_text if self.content else "")
            self._validate_edit(self.edit.text())
            self.edit.setFocus()
            self.edit.selectAll()
        else:
            self.edit_status.clear()
            if self.isVisible():
                self.setFocus()

    @property
    def editing(self) -> bool:
        return self.edit.isVisibleTo(self)

    def _validate_edit(self, text: str) -> None:
        error = _action_error(text)
        self.submit_edit.setEnabled(error is None)
        self.edit_status.setText(f"Not an action: {error}" if error else "OK")

    def _submit_edit(self) -> None:
        text = self.edit.text().strip()
        error = _action_error(text)
        if error is not None:
            self.edit_status.setText(f"Refused. Not an action: {error}")
            return
        self.answered.emit("edit", parse_action(text))

    # --- keys -----------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.MouseButtonPress:
            self._interacted()
        elif kind == QEvent.Type.KeyPress and self._key(event):
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._key(event):
            super().keyPressEvent(event)

    def _key(self, event: QKeyEvent) -> bool:
        """Enter and Esc for the whole panel; True when handled."""
        content = self.content
        if content is None:
            return False
        key = event.key()
        enter = key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if not (enter or key == Qt.Key.Key_Escape):
            self._interacted()
            return False
        if self.editing:
            if key == Qt.Key.Key_Escape:
                self._editing(False)
                return True
            return False  # the edit box submits on Enter itself
        if content.message:
            if enter:
                self._button("hand_back")
                return True
            return False
        if key == Qt.Key.Key_Escape:
            self._button("takeover" if content.suggest else "reject")
            return True
        if content.suggest:
            return False
        control = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if content.guarded and not control:
            self._interacted()
            self.hint.setText("Enter alone does not approve a guarded step: click Approve or press Ctrl+Enter.")
            return True
        self._button("approve")
        return True


def _action_error(text: str) -> str | None:
    if not text.strip():
        return "empty (type an action, or go back)"
    try:
        parse_action(text.strip())
    except ActionError as exc:
        return str(exc)
    return None
