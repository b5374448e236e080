"""The sample app's optional chrome and looks: menu bar, icon-only toolbar, dark theme, font size.

Kept apart from ``pcagent.testbed.sampleapp`` so that module stays small. Nothing here changes the default
window: the menu bar and toolbar appear only with ``--menus`` (they push the central widgets down,
and existing tests aim at the default positions).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QApplication, QLabel, QMainWindow, QMenu, QPushButton, QStyle, QToolBar, QToolButton, QWidget,
)

# Menu bar: title -> item texts ("\t" + shortcut is shown, not bound: the app's only real shortcut
# stays ctrl+shift+t, and ctrl+a must keep selecting text in the fields).
MENUS: dict[str, tuple[str, ...]] = {
    "File": ("New", "Open...", "Save", "Save As...", "Print...", "Quit\tCtrl+Q"),
    "Edit": ("Undo\tCtrl+Z", "Redo\tCtrl+Y", "Cut\tCtrl+X", "Copy\tCtrl+C", "Paste\tCtrl+V", "Select All"),
    "View": ("Zoom In", "Zoom Out", "Show Status Bar", "Full Screen"),
    "Help": ("Documentation", "Keyboard Shortcuts", "About"),
}

# Toolbar: ready name -> (accessible name, standard icon or None for a drawn one)
TOOLBAR_ICONS: tuple[tuple[str, str, str | None], ...] = (
    ("icon_new", "New icon", "SP_FileIcon"),
    ("icon_open", "Open icon", "SP_DialogOpenButton"),
    ("icon_save", "Save icon", "SP_DialogSaveButton"),
    ("icon_delete", "Delete icon", "SP_TrashIcon"),
    ("icon_back", "Back icon", "SP_ArrowBack"),
    ("icon_forward", "Forward icon", "SP_ArrowForward"),
    ("icon_refresh", "Refresh icon", "SP_BrowserReload"),
    ("icon_stop", "Stop icon", "SP_BrowserStop"),
    ("icon_home", "Home icon", "SP_DirHomeIcon"),
    ("icon_search", "Search icon", None),
    ("icon_help", "Help icon", "SP_DialogHelpButton"),
    ("icon_play", "Play icon", "SP_MediaPlay"),
)
TOOL_ICON_SIZE = 24

DARK_COLORS = {
    QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1e1e1e", QPalette.ColorRole.AlternateBase: "#333333",
    QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#3a3a3a",
    QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#2f65ca",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#3a3a3a",
    QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#8c8c8c",
    QPalette.ColorRole.BrightText: "#ff5555", QPalette.ColorRole.Link: "#6ea0ff",
}


def physical_rect(widget: QWidget, local: QRect | None = None) -> list[int]:
    """Global [left, top, right, bottom] (right/bottom exclusive) of a widget or a rect in it.

    Qt works in logical pixels; with QT_SCALE_FACTOR (or a high-DPI screen) one logical pixel is
    ``devicePixelRatioF()`` physical ones, and screenshots are physical.
    """
    rect = local if local is not None else widget.rect()
    ratio = widget.devicePixelRatioF()
    top_left = widget.mapToGlobal(rect.topLeft())
    return [round(top_left.x() * ratio), round(top_left.y() * ratio),
            round((top_left.x() + rect.width()) * ratio), round((top_left.y() + rect.height()) * ratio)]


def physical_point(widget: QWidget, global_pos: QPoint) -> list[int]:
    """A global logical point as physical pixels."""
    ratio = widget.devicePixelRatioF()
    return [round(global_pos.x() * ratio), round(global_pos.y() * ratio)]


def apply_theme(app: QApplication, theme: str, font_size: float | None) -> None:
    """Fusion style with a light (Fusion's own) or dark palette; optionally a point size."""
    app.setStyle("Fusion")  # the same look everywhere, whatever the desktop theme
    if theme == "dark":
        palette = QPalette()
        for role, color in DARK_COLORS.items():
            palette.setColor(role, QColor(color))
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
        app.setPalette(palette)
    if font_size:
        font = app.font()
        font.setPointSizeF(font_size)
        app.setFont(font)


def search_icon(color: QColor) -> QIcon:
    """A magnifying glass (Qt's standard icons have none)."""
    size = TOOL_ICON_SIZE * 2  # drawn at 2x, so it stays crisp at scale factor 2
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(color, size / 9))
    painter.drawEllipse(QPointF(size * 0.42, size * 0.42), size * 0.26, size * 0.26)
    painter.setPen(QPen(color, size / 7, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    painter.drawLine(QPointF(size * 0.62, size * 0.62), QPointF(size * 0.88, size * 0.88))
    painter.end()
    return QIcon(pixmap)


class WindowChrome:
    """A menu bar and an icon-only toolbar on a QMainWindow, with their rectangles for "ready".

    ``log(event, status, **fields)`` is the app's event log: "menu_action" {menu, action},
    "menu_shown" {menu, actions: {text: rect}}, "tool_clicked" {name}.
    """

    def __init__(self, window: QMainWindow, log: Callable[..., None]) -> None:
        self.window = window
        self.log = log
        self.menus: dict[str, QAction] = {}  # title -> the menu bar's action
        self.tools: dict[str, QToolButton] = {}
        self._build_menus()
        self._build_toolbar()

    def _build_menus(self) -> None:
        bar = self.window.menuBar()
        bar.setObjectName("menu_bar")
        bar.setNativeMenuBar(False)  # in the window, never a global menu
        for title, items in MENUS.items():
            menu = QMenu(f"&{title}", bar)
            menu.setObjectName(f"menu_{title.lower()}")
            for text in items:
                label = text.split("\t")[0]
                action = menu.addAction(text)
                if label == "Show Status Bar":
                    action.setCheckable(True)
                    action.setChecked(True)
                action.triggered.connect(
                    lambda _=False, m=title, a=label: self.log("menu_action", f"{m} > {a}", menu=m, action=a))
            menu.aboutToShow.connect(lambda m=menu, t=title: QTimer.singleShot(50, lambda: self._menu_shown(t, m)))
            self.menus[title] = bar.addMenu(menu)

    def _menu_shown(self, title: str, menu: QMenu) -> None:
        actions = {a.text().split("\t")[0]: physical_rect(menu, menu.actionGeometry(a))
                   for a in menu.actions() if not a.isSeparator()}
        self.log("menu_shown", f"{title} menu", menu=title, actions=actions)

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Tools", self.window)
        toolbar.setObjectName("toolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(TOOL_ICON_SIZE, TOOL_ICON_SIZE))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        style = self.window.style()
        text_color = self.window.palette().color(QPalette.ColorRole.ButtonText)
        for name, accessible, standard in TOOLBAR_ICONS:
            icon = (style.standardIcon(getattr(QStyle.StandardPixmap, standard)) if standard
                    else search_icon(text_color))
            action = toolbar.addAction(icon, "")  # icon only: no text anywhere on screen
            action.setToolTip(accessible.removesuffix(" icon"))
            button = toolbar.widgetForAction(action)
            button.setObjectName(name)
            button.setAccessibleName(accessible)
            action.triggered.connect(lambda _=False, n=name: self.log("tool_clicked", f"Clicked {n}", name=n))
            self.tools[name] = button

    def extra_height(self) -> int:
        """Logical pixels the menu bar and toolbar take above the central widget."""
        return self.window.menuBar().sizeHint().height() + self.window.findChild(QToolBar).sizeHint().height()

    def rects(self) -> dict[str, list[int]]:
        """"menu_file"... for the menu titles and "icon_save"... for the toolbar buttons."""
        bar = self.window.menuBar()
        rects = {f"menu_{title.lower()}": physical_rect(bar, bar.actionGeometry(action))
                 for title, action in self.menus.items()}
        rects.update({name: physical_rect(button) for name, button in self.tools.items()})
        return rects

    def texts(self) -> dict[str, str]:
        """Visible text per ready name (menu titles; the toolbar shows none)."""
        return {f"menu_{title.lower()}": title for title in self.menus}


def visible_texts(named: dict[str, Any]) -> dict[str, str]:
    """Text each named button or label shows in full (clipped text is left out)."""
    texts = {}
    for name, widget in named.items():
        text = widget.text() if isinstance(widget, (QPushButton, QLabel)) else ""
        if text and widget.fontMetrics().horizontalAdvance(text) + 8 <= widget.width():
            texts[name] = text
    return texts
