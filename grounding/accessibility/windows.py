"""Which window is active, and which top-level window lies under a screen point (X11, python-xlib).

Works with and without a window manager. Under a bare Xvfb there is no WM: top-level windows are
direct children of the root and carry WM_CLASS themselves. Under a reparenting WM the child of the
root is the WM's frame and the client window (the one with WM_CLASS / WM_STATE) sits inside it.

`X11Windows` opens its own Xlib connection; use it from one thread at a time (python-xlib is not
thread-safe), or guard it with a lock as `grounding.accessibility.atspi` does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["WindowInfo", "Windows", "X11Windows", "NullWindows", "open_windows", "Correction", "extents_correction",
           "window_correction"]

# How deep below a WM frame to look for the client window; frames nest one or two levels.
_CLIENT_SEARCH_DEPTH = 3


@dataclass(frozen=True)
class WindowInfo:
    """A top-level application window, as the window system describes it."""

    title: str | None
    application: str | None  # WM_CLASS class name (or instance name when class is empty)
    pid: int | None  # _NET_WM_PID, when the client sets it
    rect: tuple[int, int, int, int] | None  # left, top, right, bottom in screen pixels
    window_id: int | None
    # The reparenting WM's frame around it (title bar, borders), None without one: GTK reports a
    # top-level's extents as this frame's, not the client's.
    frame: tuple[int, int, int, int] | None = None
    # Override-redirect: a menu, a combo box's list or a tooltip, which no WM manages or frames.
    popup: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for a trajectory step."""
        return {
            "title": self.title,
            "application": self.application,
            "pid": self.pid,
            "rect": list(self.rect) if self.rect is not None else None,
        }


class Windows(Protocol):
    """What the recorder and the accessibility layer need from a window system."""

    available: bool
    reason: str | None

    def active_window(self) -> WindowInfo | None: ...

    def window_at(self, x: int, y: int) -> WindowInfo | None: ...

    def close(self) -> None: ...


class NullWindows:
    """Stands in where no window system can be asked; every query answers None."""

    available = False

    def __init__(self, reason: str) -> None:
        self.reason: str | None = reason

    def active_window(self) -> WindowInfo | None:
        return None

    def window_at(self, x: int, y: int) -> WindowInfo | None:
        return None

    def windows_of(self, pids: set[int]) -> list[WindowInfo]:
        return []

    def top_levels(self) -> list[WindowInfo]:
        return []

    def close(self) -> None:
        pass


class X11Windows:
    """Window queries over one private Xlib connection (thread-confined)."""

    available = True
    reason: str | None = None

    def __init__(self, display: str | None = None) -> None:
        from Xlib import X, display as xdisplay  # imported here so non-X platforms never need it

        self._X = X
        self._display = xdisplay.Display(display)
        self._root = self._display.screen().root
        atom = self._display.intern_atom
        self._atom_active = atom("_NET_ACTIVE_WINDOW")
        self._atom_net_name = atom("_NET_WM_NAME")
        self._atom_utf8 = atom("UTF8_STRING")
        self._atom_pid = atom("_NET_WM_PID")
        self._atom_wm_state = atom("WM_STATE")
        self._atom_wm_class = atom("WM_CLASS")

    # ---- public queries -------------------------------------------------------------------

    def active_window(self) -> WindowInfo | None:
        """The window with the user's attention: _NET_ACTIVE_WINDOW, else the X input focus."""
        from Xlib.error import XError

        try:
            window = self._net_active_window()
            if window is None:
                window = self._focus_top_level()
            if window is None:
                return None
            return self._describe(self._client_of(window), self._top_level_of(window))
        except (XError, ConnectionError):
            return None

    def window_at(self, x: int, y: int) -> WindowInfo | None:
        """The topmost viewable top-level window containing the screen point (x, y)."""
        from Xlib.error import XError

        try:
            top = self._top_level_at(x, y)
            return self._describe(self._client_of(top), top) if top is not None else None
        except (XError, ConnectionError):
            return None

    def windows_of(self, pids: set[int]) -> list[WindowInfo]:
        """Every top-level window whose _NET_WM_PID is in `pids`."""
        from Xlib.error import XError

        found = []
        try:
            for window in self._root.query_tree().children:
                client = self._client_of(window)
                if self._pid(client) in pids:
                    found.append(self._describe(client, window))
        except (XError, ConnectionError):
            pass
        return found

    def top_levels(self) -> list[WindowInfo]:
        """Every viewable top-level window, bottom to top (X stacking order); [] on an X error."""
        from Xlib.error import XError

        X, found = self._X, []
        try:
            for window in self._root.query_tree().children:
                try:
                    attrs = window.get_attributes()
                    if attrs.map_state != X.IsViewable or attrs.win_class != X.InputOutput:
                        continue
                    found.append(self._describe(self._client_of(window), window))
                except XError:  # vanished meanwhile
                    continue
        except (XError, ConnectionError):
            return []
        return found

    def close(self) -> None:
        try:
            self._display.close()
        except Exception:  # already gone: closing must never fail
            pass

    # ---- helpers --------------------------------------------------------------------------

    def _net_active_window(self) -> Any | None:
        prop = self._root.get_full_property(self._atom_active, self._X.AnyPropertyType)
        if prop is None or not len(prop.value) or not prop.value[0]:
            return None
        return self._display.create_resource_object("window", int(prop.value[0]))

    def _focus_top_level(self) -> Any | None:
        focus = self._display.get_input_focus().focus
        if isinstance(focus, int):  # X.NONE or X.PointerRoot: focus follows the pointer
            if focus == self._X.PointerRoot:
                pointer = self._root.query_pointer()
                return self._top_level_at(pointer.root_x, pointer.root_y)
            return None
        return self._top_level_of(focus)

    def _top_level_of(self, window: Any) -> Any | None:
        """Walk up to the ancestor that is a direct child of the root."""
        root_id = self._root.id
        while True:
            if window.id == root_id:
                return None
            tree = window.query_tree()
            if tree.parent is None or tree.parent.id == root_id or tree.parent == 0:
                return window
            window = tree.parent

    def _top_level_at(self, x: int, y: int) -> Any | None:
        X = self._X
        children = self._root.query_tree().children  # bottom-to-top stacking order
        for window in reversed(children):
            attrs = window.get_attributes()
            if attrs.map_state != X.IsViewable or attrs.win_class != X.InputOutput:
                continue
            geom = window.get_geometry()
            outer = 2 * geom.border_width
            if geom.x <= x < geom.x + geom.width + outer and geom.y <= y < geom.y + geom.height + outer:
                return window
        return None

    def _client_of(self, window: Any, depth: int = _CLIENT_SEARCH_DEPTH) -> Any:
        """The window inside a WM frame that carries WM_CLASS; the window itself without a WM."""
        found = self._find_client(window, depth)
        return found if found is not None else window

    def _find_client(self, window: Any, depth: int) -> Any | None:
        if window.get_full_property(self._atom_wm_state, self._X.AnyPropertyType) is not None:
            return window
        if window.get_full_property(self._atom_wm_class, self._X.AnyPropertyType) is not None:
            return window
        if depth <= 0:
            return None
        for child in reversed(window.query_tree().children):
            found = self._find_client(child, depth - 1)
            if found is not None:
                return found
        return None

    def _describe(self, window: Any, top: Any | None = None) -> WindowInfo:
        """The client `window`; `top` is the root's child holding it (its WM frame, or itself)."""
        frame, popup = None, False
        if top is not None and top.id != window.id:
            geom = top.get_geometry()
            outer = 2 * geom.border_width
            frame = (geom.x, geom.y, geom.x + geom.width + outer, geom.y + geom.height + outer)
        elif top is not None:
            popup = bool(top.get_attributes().override_redirect)
        return WindowInfo(
            title=self._title(window),
            application=self._wm_class(window),
            pid=self._pid(window),
            rect=self._rect(window),
            window_id=int(window.id),
            frame=frame,
            popup=popup,
        )

    def _title(self, window: Any) -> str | None:
        prop = window.get_full_property(self._atom_net_name, self._atom_utf8)
        if prop is not None and prop.value:
            return _as_text(prop.value)
        name = window.get_wm_name()
        return _as_text(name) if name else None

    def _wm_class(self, window: Any) -> str | None:
        wm_class = window.get_wm_class()
        if not wm_class:
            return None
        instance, klass = wm_class
        return klass or instance or None

    def _pid(self, window: Any) -> int | None:
        prop = window.get_full_property(self._atom_pid, self._X.AnyPropertyType)
        if prop is None or not len(prop.value):
            return None
        return int(prop.value[0])

    def _rect(self, window: Any) -> tuple[int, int, int, int] | None:
        geom = window.get_geometry()
        origin = self._root.translate_coords(window, 0, 0)  # window's (0, 0) in root coordinates
        left, top = int(origin.x), int(origin.y)
        return (left, top, left + int(geom.width), top + int(geom.height))


# ---- extents as applications report them vs. the window's real geometry --------------------------

_COMMON_SCALES = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)


@dataclass(frozen=True)
class Correction:
    """real = reported * scale + offset: how one window's reported (AT-SPI) extents map to screen pixels.

    Qt with QT_SCALE_FACTOR and GTK3 with GDK_SCALE report logical (unscaled) pixels; GTK4 reports
    window-relative ones. The identity leaves boxes as they are.
    """

    scale: float = 1.0
    offset: tuple[int, int] = (0, 0)

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.offset == (0, 0)

    def rect(self, rect: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        s, (dx, dy) = self.scale, self.offset
        return (round(rect[0] * s) + dx, round(rect[1] * s) + dy, round(rect[2] * s) + dx, round(rect[3] * s) + dy)

    def point_back(self, x: int, y: int) -> tuple[int, int]:
        """A screen point in the application's reported coordinates."""
        return (round((x - self.offset[0]) / self.scale), round((y - self.offset[1]) / self.scale))

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "offset": list(self.offset)}


def extents_correction(reported: tuple[int, int, int, int],
                       actual: tuple[int, int, int, int]) -> tuple[Correction, float] | None:
    """The correction taking a top-level's reported extents to its window's geometry, and how well the
    sizes agree (0 = exactly); None when the sizes are not one scale apart (another window)."""
    rw, rh = reported[2] - reported[0], reported[3] - reported[1]
    aw, ah = actual[2] - actual[0], actual[3] - actual[1]
    if min(rw, rh, aw, ah) <= 0:
        return None
    sx, sy = aw / rw, ah / rh
    ratio = (sx + sy) / 2
    if abs(sx - sy) > 0.05 * ratio and abs(aw - rw * ratio) + abs(ah - rh * ratio) > 8:
        return None  # not one scale in both directions
    if not 0.9 <= ratio <= 3.2:
        return None
    scale = min(_COMMON_SCALES, key=lambda f: abs(ratio - f))
    if abs(ratio - scale) > 0.04 * scale:
        scale = round(ratio, 3)
    misfit = abs(aw - rw * scale) + abs(ah - rh * scale)
    offset = (actual[0] - round(reported[0] * scale), actual[1] - round(reported[1] * scale))
    if misfit > 3 * scale:
        offset = (0, 0)  # sizes differ by decorations (a WM frame): the origin says nothing reliable
    return Correction(scale, offset), misfit


def window_correction(reported: tuple[int, int, int, int],
                      window: WindowInfo) -> tuple[Correction, float] | None:
    """The correction taking a top-level's reported extents onto this window, and how badly they fit
    (0 = exactly; an offset counts too, so that of two same-sized windows of one application the one
    at the reported place wins); None when they are not one box (the main window below a popup menu
    that AT-SPI does not list). The window's box is its client's or its WM frame's, whichever fits:
    GTK reports the frame, title bar included; Qt the client."""
    best: tuple[Correction, float] | None = None
    for target in (window.rect, window.frame):
        fit = extents_correction(reported, target) if target is not None else None
        if fit is None:
            continue
        rect = fit[0].rect(reported)
        if not _same_box(rect, target):
            continue
        offset = fit[0].offset
        distance = sum(abs(a - b) for a, b in zip(rect, target)) + 0.25 * (abs(offset[0]) + abs(offset[1]))
        if best is None or distance < best[1]:
            best = (fit[0], distance)
    return best


def _same_box(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes overlap by at least half of each (a WM frame or a border may differ a bit)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return False
    overlap = width * height
    return overlap * 2 >= (a[2] - a[0]) * (a[3] - a[1]) and overlap * 2 >= (b[2] - b[0]) * (b[3] - b[1])


def _as_text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def open_windows(display: str | None = None) -> X11Windows | NullWindows:
    """An X11 window source, or a NullWindows saying why none is available. Never raises."""
    if sys.platform == "win32":
        return NullWindows("Win32 window backend not implemented yet")
    if sys.platform == "darwin":
        return NullWindows("macOS (Quartz) window backend not implemented yet")
    name = display if display is not None else os.environ.get("DISPLAY")
    if not name:
        return NullWindows("no X display (DISPLAY is not set)")
    try:
        return X11Windows(name)
    except ImportError as exc:
        return NullWindows(f"python-xlib is not installed: {exc}")
    except Exception as exc:  # Xlib raises several unrelated types for a missing display
        return NullWindows(f"cannot open X display {name!r}: {exc}")
