"""The on-screen marker: where the agent is about to act, while its step waits for approval or runs.

Four short bars around each point, like a crosshair with an open middle, each its own small window:
frameless, always on top, outside the window manager's control (it never takes focus or a frame), and
transparent for input, so a click at the point goes to the application beneath. No bar's rectangle covers
the point itself, so a question "which window is at (x, y)?" (the typing redaction, the guards) still
answers with the application there and never with the marker. The bars are drawn in MARKER_COLOR, a colour
tests search saved screenshots for; the marker is hidden around every capture the agent makes.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

__all__ = ["MARKER_COLOR", "TargetMarker"]

MARKER_COLOR = (255, 0, 200)  # pure enough to find by pixel, rare on desktops
BAR_LENGTH, BAR_WIDTH, GAP = 22, 5, 10  # pixels; GAP keeps the point itself uncovered
_FLAGS = (Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint | Qt.WindowType.WindowStaysOnTopHint
          | Qt.WindowType.WindowTransparentForInput | Qt.WindowType.WindowDoesNotAcceptFocus
          | Qt.WindowType.X11BypassWindowManagerHint)


def _bar_rects(x: int, y: int) -> list[QRect]:
    """Above, below, left and right of (x, y), GAP pixels away from it."""
    half = BAR_WIDTH // 2
    return [QRect(x - half, y - GAP - BAR_LENGTH, BAR_WIDTH, BAR_LENGTH),
            QRect(x - half, y + GAP + 1, BAR_WIDTH, BAR_LENGTH),
            QRect(x - GAP - BAR_LENGTH, y - half, BAR_LENGTH, BAR_WIDTH),
            QRect(x + GAP + 1, y - half, BAR_LENGTH, BAR_WIDTH)]


class _Bar(QWidget):
    def __init__(self) -> None:
        super().__init__(None, _FLAGS)
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor(*MARKER_COLOR))
        self.setPalette(palette)
        self.setWindowTitle("pcagent marker")


class TargetMarker:
    """Marks up to two desktop points (a drag's start and end); UI thread only."""

    def __init__(self) -> None:
        self._bars: list[_Bar] = []
        self.points: tuple[tuple[int, int], ...] = ()

    def show_at(self, *points: tuple[int, int]) -> None:
        rects = [rect for x, y in points[:2] for rect in _bar_rects(int(x), int(y))]
        while len(self._bars) < len(rects):
            self._bars.append(_Bar())
        for bar, rect in zip(self._bars, rects):
            bar.setGeometry(rect)
            bar.show()
            bar.raise_()
        for bar in self._bars[len(rects):]:
            bar.hide()
        self.points = tuple(points[:2])

    def hide(self) -> None:
        for bar in self._bars:
            bar.hide()
        self.points = ()

    @property
    def visible(self) -> bool:
        return any(bar.isVisible() for bar in self._bars)

    def windows(self) -> list[QWidget]:
        """Its windows, created up front so that their X ids exist before a run starts."""
        while len(self._bars) < 8:
            self._bars.append(_Bar())
        for bar in self._bars:
            bar.winId()
        return list(self._bars)
