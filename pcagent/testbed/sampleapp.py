"""The bundled sample application: a small Qt window whose every reaction is logged.

Tests, ``pcagent demo`` and the agent operate it, so everything that happens in it is checkable:
each event is one JSON line ``{"t": time.time(), "event": NAME, ...}``, flushed at once, to ``--log``
(or stdout). Events:

- ``ready`` {pid, window, widgets}: once, after the first paint. ``window`` and each ``widgets`` entry
  are ``[left, top, right, bottom]`` in global screen pixels, right/bottom exclusive.
- ``button_clicked`` {name}: "Save", "Open", "Delete".
- ``pad_press`` {count, x, y, button}: the press pad (reacts on left press, not release).
- ``name_changed`` {text}, ``name_return`` {text}: the Name field.
- ``password_changed`` {length}: the Password field (never its text).
- ``list_scrolled`` {value}, ``item_clicked`` {text}, ``item_double_clicked`` {text}: the Items list.
- ``context_menu_shown`` {x, y, item, actions: {text: rect}}, ``context_action`` {action, item}.
- ``drag_start`` {pointer, center}, ``drop`` {pointer, center}: the "Drag me" square.
- ``shortcut`` {keys: "ctrl+shift+t"}.
- ``key`` {key, modifiers, text}, ``mouse_press`` {x, y, button}, ``wheel`` {x, y, dx, dy}: every
  key press, mouse press and wheel turn the application's windows see, once each. ``key`` is Qt's
  name ("H", "Return", "Shift"), ``modifiers`` e.g. ["ctrl", "shift"]; while the password field has
  focus key is "hidden" and text "". A key that triggers the shortcut is logged as ``shortcut`` only.

``--layout moved`` places the same widgets elsewhere (buttons right, list left), for re-grounding.
``--menus`` adds a menu bar (File Edit View Help) and an icon-only toolbar above the central widgets
(``ready`` then also has "menu_file"..., "icon_save"...; events ``menu_shown`` {menu, actions: {text:
rect}}, ``menu_action`` {menu, action}, ``tool_clicked`` {name}). ``--theme dark`` and ``--font-size PT``
change the look; QT_SCALE_FACTOR is honoured. ``ready`` also carries ``texts`` {name: the text the
widget shows in full} and ``scale`` (the device pixel ratio).
Coordinates are physical pixels (logical times the device pixel ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import IO, Any

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QKeySequence, QMouseEvent, QPainter, QShortcut
from PySide6.QtWidgets import (
    QApplication, QLabel, QLineEdit, QListWidget, QListWidgetItem, QMainWindow, QMenu, QPushButton, QWidget,
)

from pcagent.testbed.sampleapp_widgets import WindowChrome, apply_theme, physical_point, physical_rect, visible_texts

WINDOW_TITLE = "pcagent sample app"
APP_NAME = "pcagent-sampleapp"
PAD_COLORS = (QColor("#c8c8c8"), QColor("#ff8c00"), QColor("#1e50dc"))  # idle, odd, even presses
DRAG_COLOR = QColor("#2ca02c")
CONTEXT_ACTIONS = ("Copy", "Rename", "Remove")
LIST_ITEM_HEIGHT = 22

# Widget rectangles (x, y, w, h) inside the window's central area, per layout.
LAYOUTS: dict[str, dict[str, tuple[int, int, int, int]]] = {
    "default": {
        "save": (20, 20, 100, 36), "open": (130, 20, 100, 36), "delete": (240, 20, 100, 36),
        "name_label": (20, 80, 70, 30), "name": (90, 80, 250, 30),
        "password_label": (20, 120, 70, 30), "password": (90, 120, 250, 30),
        "pad": (20, 180, 220, 90),
        "items": (380, 20, 260, 560),
        "canvas": (670, 20, 310, 560), "drag": (20, 20, 60, 60),
        "status": (20, 640, 960, 36),
    },
    "moved": {
        "save": (860, 20, 120, 36), "open": (860, 70, 120, 36), "delete": (860, 120, 120, 36),
        "name_label": (300, 380, 70, 30), "name": (370, 380, 250, 30),
        "password_label": (300, 420, 70, 30), "password": (370, 420, 250, 30),
        "pad": (640, 380, 200, 80),
        "items": (20, 100, 260, 560),
        "canvas": (300, 20, 540, 330), "drag": (400, 200, 60, 60),
        "status": (300, 600, 680, 36),
    },
}


class EventLog:
    """Writes one flushed JSON line per event and keeps the last status text."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.status_label: QLabel | None = None

    def write(self, event: str, status: str | None = None, **fields: Any) -> None:
        record = {"t": time.time(), "event": event, **fields}
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()
        if status and self.status_label is not None:
            self.status_label.setText(status)


def button_name(button: Qt.MouseButton) -> str:
    """'left' | 'right' | 'middle' | the Qt name."""
    names = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.RightButton: "right",
             Qt.MouseButton.MiddleButton: "middle"}
    return names.get(button, str(button.name) if hasattr(button, "name") else str(button))


def modifier_names(modifiers: Qt.KeyboardModifier) -> list[str]:
    """Held modifiers as ["ctrl", "shift", "alt", "meta"] (in that order)."""
    flags = (("ctrl", Qt.KeyboardModifier.ControlModifier), ("shift", Qt.KeyboardModifier.ShiftModifier),
             ("alt", Qt.KeyboardModifier.AltModifier), ("meta", Qt.KeyboardModifier.MetaModifier))
    return [name for name, flag in flags if modifiers & flag]


class PressPad(QWidget):
    """A large area that changes colour on every left mouse *press* and stays changed."""

    def __init__(self, log: EventLog, parent: QWidget) -> None:
        super().__init__(parent)
        self.log = log
        self.count = 0

    def color(self) -> QColor:
        """Idle grey, then orange on odd and blue on even press counts."""
        return PAD_COLORS[0] if self.count == 0 else PAD_COLORS[1 + (self.count + 1) % 2]

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self.count += 1
        x, y = physical_point(self, event.globalPosition().toPoint())
        self.log.write("pad_press", f"Pad pressed {self.count} times", count=self.count,
                       x=x, y=y, button="left")
        self.update()

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.color())
        painter.setPen(QColor("black") if self.count == 0 else QColor("white"))
        font = QFont(painter.font())
        font.setPointSize(13)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, f"Pressed {self.count} times")


class DragSquare(QWidget):
    """A coloured square the user drags with the left button inside its parent canvas."""

    def __init__(self, log: EventLog, parent: QWidget) -> None:
        super().__init__(parent)
        self.log = log
        self.grab_offset: QPoint | None = None

    def center_global(self) -> list[int]:
        """Centre of the square in global physical pixels."""
        left, top, right, bottom = physical_rect(self)
        return [(left + right) // 2, (top + bottom) // 2]

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        self.grab_offset = event.position().toPoint()
        pointer = physical_point(self, event.globalPosition().toPoint())
        self.log.write("drag_start", "Dragging the square", pointer=pointer, center=self.center_global())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.grab_offset is None:
            return
        canvas = self.parentWidget()
        target = canvas.mapFromGlobal(event.globalPosition().toPoint()) - self.grab_offset
        # keep the square inside the canvas
        x = min(max(target.x(), 0), canvas.width() - self.width())
        y = min(max(target.y(), 0), canvas.height() - self.height())
        self.move(x, y)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.grab_offset is None:
            return super().mouseReleaseEvent(event)
        self.mouseMoveEvent(event)
        self.grab_offset = None
        pointer = physical_point(self, event.globalPosition().toPoint())
        center = self.center_global()
        self.log.write("drop", f"Dropped the square at {center[0]}, {center[1]}", pointer=pointer,
                       center=center)

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), DRAG_COLOR)
        painter.setPen(QColor("white"))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Drag me")


class InputWatcher(QObject):
    """Application-wide filter: logs each key press, mouse press and wheel event once.

    Only events delivered to windows (QWindow) are logged, since Qt hands each input event to
    exactly one window before it reaches (and propagates among) the widgets.
    """

    def __init__(self, log: EventLog, password_field: QLineEdit) -> None:
        super().__init__()
        self.log = log
        self.password_field = password_field

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if not obj.isWindowType():
            return False
        kind = event.type()
        if kind == QEvent.Type.KeyPress:
            if QApplication.focusWidget() is self.password_field:
                self.log.write("key", key="hidden", modifiers=[], text="")
            else:
                self.log.write("key", key=QKeySequence(event.key()).toString(),
                               modifiers=modifier_names(event.modifiers()), text=event.text(),
                               auto_repeat=event.isAutoRepeat())
        elif kind == QEvent.Type.MouseButtonPress:
            ratio = obj.devicePixelRatio()
            pos = event.globalPosition()
            self.log.write("mouse_press", x=round(pos.x() * ratio), y=round(pos.y() * ratio),
                           button=button_name(event.button()))
        elif kind == QEvent.Type.Wheel:
            ratio = obj.devicePixelRatio()
            pos = event.globalPosition()
            delta = event.angleDelta()
            self.log.write("wheel", x=round(pos.x() * ratio), y=round(pos.y() * ratio),
                           dx=delta.x(), dy=delta.y())
        return False


class SampleWindow(QMainWindow):
    """The sample application's main window."""

    def __init__(self, log: EventLog, layout: str = "default", menus: bool = False) -> None:
        super().__init__()
        self.log = log
        self.ready_logged = False
        self.setWindowTitle(WINDOW_TITLE)
        self.setObjectName("main_window")
        central = QWidget(self)
        central.setObjectName("central")
        self.setCentralWidget(central)
        self.named: dict[str, QWidget] = {}

        for name in ("Save", "Open", "Delete"):
            button = self._add(QPushButton(name, central), name.lower(), name)
            button.clicked.connect(lambda _=False, n=name: log.write("button_clicked", f"Clicked {n}", name=n))

        self._add(QLabel("Name:", central), "name_label", None)  # labels: their text (Qt's default)
        self.name_field = self._add(QLineEdit(central), "name", "Name")
        self.name_field.setPlaceholderText("Type a name")
        self.name_field.textChanged.connect(
            lambda text: log.write("name_changed", f"Name: {text}", text=text))
        self.name_field.returnPressed.connect(
            lambda: log.write("name_return", f"Name entered: {self.name_field.text()}",
                              text=self.name_field.text()))

        self._add(QLabel("Password:", central), "password_label", None)
        self.password_field = self._add(QLineEdit(central), "password", "Password")
        self.password_field.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_field.textChanged.connect(
            lambda text: log.write("password_changed", f"Password length {len(text)}", length=len(text)))

        self.pad = self._add(PressPad(log, central), "pad", "Press pad")

        self.items = self._add(QListWidget(central), "items", "Items")
        self.items.setUniformItemSizes(True)
        for i in range(100):
            item = QListWidgetItem(f"Item {i}", self.items)
            item.setSizeHint(QSize(0, LIST_ITEM_HEIGHT))  # roomy rows: easy to aim at and to read
        self.items.verticalScrollBar().valueChanged.connect(
            lambda value: log.write("list_scrolled", f"List scrolled to {value}", value=value))
        self.items.itemClicked.connect(
            lambda item: log.write("item_clicked", f"Clicked {item.text()}", text=item.text()))
        self.items.itemDoubleClicked.connect(
            lambda item: log.write("item_double_clicked", f"Opened {item.text()}", text=item.text()))
        self.items.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.items.customContextMenuRequested.connect(self._show_context_menu)
        self.context_menu: QMenu | None = None

        canvas = self._add(QWidget(central), "canvas", "Canvas")
        canvas.setAutoFillBackground(True)
        palette = canvas.palette()
        palette.setColor(canvas.backgroundRole(), QColor("#f4f0e0"))
        canvas.setPalette(palette)
        self.drag = self._add(DragSquare(log, canvas), "drag", "Drag me")

        self.status = self._add(QLabel("Ready", central), "status", None)  # named by its current text
        self.status.setFrameShape(QLabel.Shape.StyledPanel)
        log.status_label = self.status

        shortcut = QShortcut(QKeySequence("Ctrl+Shift+T"), self)
        shortcut.activated.connect(
            lambda: log.write("shortcut", "Shortcut ctrl+shift+t", keys="ctrl+shift+t"))

        self.apply_layout(layout)
        # the menu bar and toolbar are opt-in: they push the central widgets down
        self.chrome = WindowChrome(self, lambda event, status=None, **f: log.write(event, status, **f)) \
            if menus else None

    def _add(self, widget: QWidget, object_name: str, accessible_name: str | None) -> Any:
        widget.setObjectName(object_name)
        if accessible_name is not None:  # None: Qt's default, a label's visible text
            widget.setAccessibleName(accessible_name)
        self.named[object_name] = widget
        return widget

    def apply_layout(self, layout: str) -> None:
        """Place every widget at its rectangle for this layout."""
        for name, (x, y, w, h) in LAYOUTS[layout].items():
            self.named[name].setGeometry(x, y, w, h)

    def _show_context_menu(self, pos: QPoint) -> None:
        item = self.items.itemAt(pos)
        item_text = item.text() if item else None
        menu = QMenu(self)
        menu.setObjectName("context_menu")
        for text in CONTEXT_ACTIONS:
            action = menu.addAction(text)
            action.triggered.connect(
                lambda _=False, t=text: self.log.write("context_action", f"{t} {item_text}",
                                                       action=t, item=item_text))
        global_pos = self.items.viewport().mapToGlobal(pos)
        menu.popup(global_pos)
        self.context_menu = menu  # keep a reference while it is open
        x, y = physical_point(self, global_pos)
        actions = {a.text(): physical_rect(menu, menu.actionGeometry(a)) for a in menu.actions()}
        self.log.write("context_menu_shown", f"Menu for {item_text}", x=x, y=y, item=item_text,
                       actions=actions)

    def widget_rects(self) -> dict[str, list[int]]:
        """Global rectangles of every named widget and of the fully visible list items."""
        rects = {name: physical_rect(w) for name, w in self.named.items()}
        viewport = self.items.viewport()
        for row in range(self.items.count()):
            item_rect = self.items.visualItemRect(self.items.item(row))
            if viewport.rect().contains(item_rect):
                rects[f"item_{row}"] = physical_rect(viewport, item_rect)
        if self.chrome is not None:
            rects.update(self.chrome.rects())
        return rects

    def widget_texts(self) -> dict[str, str]:
        """The text each target shows in full: buttons, labels, menu titles, visible list items."""
        texts = visible_texts(self.named)
        texts.update({name: self.items.item(int(name[5:])).text()
                      for name in self.widget_rects() if name.startswith("item_")})
        if self.chrome is not None:
            texts.update(self.chrome.texts())
        return texts

    def paintEvent(self, event: object) -> None:
        super().paintEvent(event)
        if not self.ready_logged:
            self.ready_logged = True
            # the first paint is done; give the backing store a moment to reach the X server
            QTimer.singleShot(100, self.log_ready)

    def log_ready(self) -> None:
        """Log the ready event with every rectangle a test needs to aim at."""
        self.log.write("ready", "Ready", pid=os.getpid(), layout=self.property("layout_name"),
                       window=physical_rect(self), widgets=self.widget_rects(), texts=self.widget_texts(),
                       scale=self.devicePixelRatioF())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pcagent.testbed.sampleapp", description=__doc__.split("\n")[0])
    parser.add_argument("--log", help="write JSON-lines events here (default: stdout)")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="default")
    parser.add_argument("--x", type=int, default=0)
    parser.add_argument("--y", type=int, default=0)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=700,
                        help="window height; with --menus, the height below the menu bar and toolbar")
    parser.add_argument("--menus", action="store_true", help="add a menu bar and an icon-only toolbar")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--font-size", type=float, default=None, help="application font size in points")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sample application until its window is closed."""
    args = parse_args(argv)
    stream: IO[str] = open(args.log, "a", encoding="utf-8") if args.log else sys.stdout
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName(APP_NAME)  # the name AT-SPI and window lists show
    apply_theme(app, args.theme, args.font_size)
    log = EventLog(stream)
    window = SampleWindow(log, args.layout, menus=args.menus)
    window.setProperty("layout_name", args.layout)
    watcher = InputWatcher(log, window.password_field)  # keep a reference: Qt does not own it
    app.installEventFilter(watcher)
    # with --menus the window grows by the chrome's height, so the central area keeps its size
    extra = window.chrome.extra_height() if window.chrome is not None else 0
    window.setGeometry(args.x, args.y, args.width, args.height + extra)
    window.show()
    code = app.exec()
    if stream is not sys.stdout:
        stream.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
