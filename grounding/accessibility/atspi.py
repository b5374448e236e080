"""The UI element under the pointer and the element with keyboard focus, from the accessibility tree.

Linux: AT-SPI spoken directly over D-Bus with jeepney (no pyatspi / PyGObject). Windows (UI Automation)
and macOS (AX) are seams for now: `open_accessibility` returns a `NullAccessibility` saying so.

Every query runs under one deadline (`query_timeout`, 0.5 s by default): a hung or stopped application
makes a query return None instead of stalling the recorder, and that application is then skipped for a
short while so that the next events are not slowed down too. Safe to call from any thread: queries are
serialised by a lock, and a caller that cannot get the lock in time gets None.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import replace
from typing import Any, Mapping

from jeepney import DBusAddress, Message, new_method_call
from jeepney.low_level import HeaderFields

from grounding.accessibility.dbus_client import CallError, DBusConnection
from grounding.accessibility.protocol import (
    ACCESSIBLE, COMPONENT, COORD_SCREEN, MANAGED_CHILD_CAP, NULL_PATH, PROPERTIES, REGISTRY, ROLE_EXTENDED,
    ROLE_NAMES, ROOT_PATH, AccessibilityUnavailable, ElementInfo, NullAccessibility, Ref, get_name, method_call,
    rect_from_extents, state_names,
)
from grounding.accessibility.tree import list_elements
from grounding.accessibility.windows import Correction, NullWindows, WindowInfo, extents_correction, open_windows

__all__ = ["AtSpiAccessibility", "find_atspi_bus_address", "open_accessibility"]

_MAX_DEPTH = 64  # GetAccessibleAtPoint descent; a cycle in a broken tree must still end
_FOCUS_NODE_CAP = 3000  # nodes visited looking for the focused one
_PENALTY_S = 2.0  # how long an application that timed out is skipped


def _same_box(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes overlap by at least half of each (a WM frame or a border may differ a bit)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return False
    overlap = width * height
    return overlap * 2 >= (a[2] - a[0]) * (a[3] - a[1]) and overlap * 2 >= (b[2] - b[0]) * (b[3] - b[1])


def _contains(rect: tuple[int, int, int, int] | None, x: int, y: int) -> bool:
    return rect is not None and rect[0] <= x < rect[2] and rect[1] <= y < rect[3]


# ---- the AT-SPI backend ---------------------------------------------------------------------------


class AtSpiAccessibility:
    """AT-SPI over one D-Bus connection to the accessibility bus."""

    available = True
    reason: str | None = None

    def __init__(self, bus: DBusConnection, windows: Any, query_timeout: float = 0.5) -> None:
        self._bus = bus
        self._windows = windows  # X11Windows or NullWindows; used only under self._lock
        self._query_timeout = query_timeout
        self._lock = threading.Lock()
        self._pid_of_bus: dict[str, int | None] = {}  # unique bus names are never reused
        self._app_names: dict[str, str | None] = {}
        self._skip_until: dict[str, float] = {}  # bus name -> monotonic time it timed out + penalty

    # ---- public queries -------------------------------------------------------------------

    def element_at(self, x: int, y: int) -> ElementInfo | None:
        """The deepest accessible element containing the screen point (x, y), or None."""
        return self._guarded(lambda deadline: self._element_at(x, y, deadline))

    def focused_element(self) -> ElementInfo | None:
        """The element with keyboard focus in the active application, or None."""
        return self._guarded(self._focused_element)

    def elements(self, near: tuple[int, int] | None = None, *, node_cap: int = 5000,
                 timeout: float = 2.0) -> list[ElementInfo]:
        """The showing, named elements of the window under ``near`` (screen pixels) or of the active
        window, breadth-first; at most ``node_cap`` nodes visited within ``timeout`` seconds (partial
        on either). grounding.accessibility.tree.list_elements also says whether it is complete."""
        return list_elements(self, near, node_cap=node_cap, timeout=timeout).elements

    def close(self) -> None:
        with self._lock:
            self._bus.close()
            self._windows.close()
            self.available = False
            self.reason = "closed"

    # ---- query plumbing -------------------------------------------------------------------

    def _guarded(self, query: Any) -> ElementInfo | None:
        """Run a query under the lock and one deadline; any failure becomes None."""
        start = time.monotonic()
        if not self.available or not self._lock.acquire(timeout=self._query_timeout):
            return None
        try:
            deadline = start + self._query_timeout
            return query(deadline)
        except (TimeoutError, CallError, ValueError, IndexError, TypeError):
            return None  # hung app (already put in the penalty box), vanished object, odd reply
        except OSError as exc:
            self.available = False
            self.reason = f"connection to the AT-SPI bus lost: {exc}"
            return None
        finally:
            self._lock.release()

    def _call_app(self, messages: list[Message], deadline: float) -> list[tuple | CallError]:
        """A batch to one application; a timeout puts the application in the penalty box."""
        bus_name = messages[0].header.fields[HeaderFields.destination]
        if self._skip_until.get(bus_name, 0.0) > time.monotonic():
            raise TimeoutError(f"{bus_name} did not answer recently")
        try:
            return self._bus.call_many(messages, deadline)
        except TimeoutError:
            self._skip_until[bus_name] = time.monotonic() + _PENALTY_S
            raise

    def _applications(self, deadline: float) -> list[Ref]:
        return list(self._bus.call(method_call((REGISTRY, ROOT_PATH), ACCESSIBLE, "GetChildren"), deadline)[0])

    def _pids(self, apps: list[Ref], deadline: float) -> None:
        """Learn the unix pid behind each application's bus connection (cached per bus name)."""
        unknown = [bus for bus, _ in apps if bus not in self._pid_of_bus]
        if not unknown:
            return
        dbus = ("org.freedesktop.DBus", "/org/freedesktop/DBus")
        calls = [method_call(dbus, "org.freedesktop.DBus", "GetConnectionUnixProcessID", "s", (b,)) for b in unknown]
        for bus, result in zip(unknown, self._bus.call_many(calls, deadline)):
            self._pid_of_bus[bus] = None if isinstance(result, CallError) else int(result[0])

    def _app_for_pid(self, pid: int | None, deadline: float) -> Ref | None:
        if pid is None:
            return None
        for refresh in (False, True):
            if refresh or not self._pid_of_bus:
                apps = self._applications(deadline)
                self._pids(apps, deadline)
                live = {bus for bus, _ in apps}
                self._pid_of_bus = {b: p for b, p in self._pid_of_bus.items() if b in live}
            for bus, known_pid in self._pid_of_bus.items():
                if known_pid == pid:
                    return (bus, ROOT_PATH)
        return None

    def _window(self, method: str, *args: int) -> WindowInfo | None:
        try:
            return getattr(self._windows, method)(*args)
        except Exception:  # the window layer is a hint; AT-SPI alone can still answer
            return None

    # ---- element at a point ---------------------------------------------------------------

    def _element_at(self, x: int, y: int, deadline: float) -> ElementInfo | None:
        window = self._window("window_at", x, y)
        app = self._app_for_pid(window.pid if window else None, deadline)
        apps = [app] if app is not None else self._applications(deadline)
        found = self._frame_at(apps, x, y, window, deadline)
        if found is None:
            return None
        node, correction = found
        ax, ay = correction.point_back(x, y)  # the point in the application's own (maybe logical) pixels
        for _ in range(_MAX_DEPTH):
            child = self._call_app(
                [method_call(node, COMPONENT, "GetAccessibleAtPoint", "iiu", (ax, ay, COORD_SCREEN))], deadline
            )[0]
            if isinstance(child, CallError):
                break  # no Component here: the node itself is the answer
            child_ref = (str(child[0][0]), str(child[0][1]))
            if child_ref[1] == NULL_PATH or child_ref == node:
                break
            node = child_ref
        info = self._describe(node, deadline)
        return info if correction.identity or info.rect is None else replace(info, rect=correction.rect(info.rect))

    def _frame_at(
        self, apps: list[Ref], x: int, y: int, window: WindowInfo | None, deadline: float
    ) -> tuple[Ref, Correction] | None:
        """The showing top-level of these applications that contains the point, and how its extents
        map to screen pixels (grounding.accessibility.windows.extents_correction; Qt under QT_SCALE_FACTOR reports
        logical ones).

        With the X window under the point known, only a top-level whose extents map onto that window
        counts: Qt leaves popup windows (menus, combo box lists) out of its tree, and the main
        window below a popup must not be mistaken for it. Without one, the smallest top-level
        containing the point wins (the one on top, in practice).
        """
        best: tuple[float, Ref, Correction] | None = None
        for app in apps:
            try:
                frames = [tuple(f) for f in self._call_app([method_call(app, ACCESSIBLE, "GetChildren")], deadline)[0][0]]
            except (TimeoutError, CallError, IndexError):
                if len(apps) == 1:
                    raise
                continue  # one broken application must not hide the others
            if not frames:
                continue
            calls = [method_call(f, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)) for f in frames]
            calls += [method_call(f, ACCESSIBLE, "GetState") for f in frames]
            replies = self._call_app(calls, deadline)
            for i, frame in enumerate(frames):
                extents, state = replies[i], replies[len(frames) + i]
                if isinstance(extents, CallError) or isinstance(state, CallError):
                    continue
                rect = rect_from_extents(extents[0])
                if rect is None or "showing" not in state_names(state[0]):
                    continue
                correction = Correction()
                if window is not None and window.rect is not None:
                    fit = extents_correction(rect, window.rect)
                    if fit is None:
                        continue
                    correction = fit[0]
                    rect = correction.rect(rect)
                    if not _same_box(rect, window.rect):
                        continue  # e.g. the main window under a popup menu that AT-SPI does not list
                    score = float(sum(abs(a - b) for a, b in zip(rect, window.rect)))
                else:
                    score = float((rect[2] - rect[0]) * (rect[3] - rect[1]))
                if not _contains(rect, x, y):
                    continue
                if best is None or score < best[0]:
                    best = (score, (str(frame[0]), str(frame[1])), correction)
        return (best[1], best[2]) if best else None

    # ---- focused element ------------------------------------------------------------------

    def _focused_element(self, deadline: float) -> ElementInfo | None:
        window = self._window("active_window")
        app = self._app_for_pid(window.pid if window else None, deadline)
        if app is None:
            app = self._active_app(deadline)
        if app is None:
            return None
        # Always walk the tree, never trust the last answer's "focused" state: Qt leaves that state on a
        # list's current item after focus has moved elsewhere.
        focused = self._find_focused(app, deadline)
        return self._describe(focused, deadline) if focused else None

    def _active_app(self, deadline: float) -> Ref | None:
        """Without a window to go by: the application one of whose top-levels is "active"."""
        for app in self._applications(deadline):
            try:
                frames = self._call_app([method_call(app, ACCESSIBLE, "GetChildren")], deadline)[0][0]
                states = self._call_app([method_call(tuple(f), ACCESSIBLE, "GetState") for f in frames], deadline)
            except (TimeoutError, CallError, IndexError):
                continue
            if any(not isinstance(s, CallError) and "active" in state_names(s[0]) for s in states):
                return app
        return None

    def _find_focused(self, app: Ref, deadline: float) -> Ref | None:
        """Breadth-first through showing objects, one batched round trip per level; deepest focused wins."""
        level: list[Ref] = [app]
        found: Ref | None = None
        visited = 0
        while level and visited < _FOCUS_NODE_CAP:
            level = level[: _FOCUS_NODE_CAP - visited]
            visited += len(level)
            states = self._call_app([method_call(n, ACCESSIBLE, "GetState") for n in level], deadline)
            names = [frozenset() if isinstance(s, CallError) else state_names(s[0]) for s in states]
            focused_here = [n for n, s in zip(level, names) if "focused" in s]
            if focused_here:
                found = focused_here[0]
                parents = [found]  # look below it only: a focused list may have a focused item
            else:
                parents = [n for n, s in zip(level, names) if "showing" in s and "manages-descendants" not in s]
            if not parents:
                break
            counts = None
            if focused_here and "manages-descendants" in names[level.index(found)]:
                counts = self._call_app([method_call(found, PROPERTIES, "Get", "ss", (ACCESSIBLE, "ChildCount"))], deadline)
                if isinstance(counts[0], CallError) or counts[0][0][1] > MANAGED_CHILD_CAP:
                    break
            children = self._call_app([method_call(p, ACCESSIBLE, "GetChildren") for p in parents], deadline)
            level = [(str(c[0]), str(c[1])) for r in children if not isinstance(r, CallError) for c in r[0]]
        return found

    # ---- describing one element -----------------------------------------------------------

    def _describe(self, ref: Ref, deadline: float) -> ElementInfo:
        """Name, role, box, states and application of one object, in one batched round trip."""
        bus_name = ref[0]
        calls = [
            get_name(ref),
            method_call(ref, ACCESSIBLE, "GetRole"),
            method_call(ref, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)),
            method_call(ref, ACCESSIBLE, "GetState"),
        ]
        need_app_name = bus_name not in self._app_names
        if need_app_name:
            calls.append(get_name((bus_name, ROOT_PATH)))
        replies = self._call_app(calls, deadline)
        name, role, extents, state = replies[:4]
        if need_app_name:
            app_name = replies[4]
            self._app_names[bus_name] = None if isinstance(app_name, CallError) else str(app_name[0][1])
        role_name = self._role_name(ref, role, deadline)
        return ElementInfo(
            name=None if isinstance(name, CallError) else str(name[0][1]),
            role=role_name,
            rect=None if isinstance(extents, CallError) else rect_from_extents(extents[0]),
            application=self._app_names[bus_name],
            states=frozenset() if isinstance(state, CallError) else state_names(state[0]),
        )

    def _role_name(self, ref: Ref, role: tuple | CallError, deadline: float) -> str | None:
        if not isinstance(role, CallError):
            number = int(role[0])
            if 0 < number < len(ROLE_NAMES) and number != ROLE_EXTENDED:
                return ROLE_NAMES[number]
        reply = self._call_app([method_call(ref, ACCESSIBLE, "GetRoleName")], deadline)[0]
        return None if isinstance(reply, CallError) else str(reply[0])


# ---- finding and opening the accessibility bus ----------------------------------------------------


def find_atspi_bus_address(env: Mapping[str, str], timeout: float = 1.0) -> str:
    """The AT-SPI bus address: $AT_SPI_BUS_ADDRESS, org.a11y.Bus on the session bus, or the X root's
    AT_SPI_BUS property. Raises AccessibilityUnavailable saying what was tried."""
    if env.get("AT_SPI_BUS_ADDRESS"):
        return env["AT_SPI_BUS_ADDRESS"]
    tried: list[str] = []
    session = env.get("DBUS_SESSION_BUS_ADDRESS")
    if not session:
        tried.append("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
    else:
        try:
            conn = DBusConnection(session, timeout)
            try:
                a11y = DBusAddress("/org/a11y/bus", "org.a11y.Bus", "org.a11y.Bus")
                return str(conn.call(new_method_call(a11y, "GetAddress"), time.monotonic() + timeout)[0])
            finally:
                conn.close()
        except CallError as exc:
            tried.append(f"org.a11y.Bus does not answer on the session bus ({exc})")
        except (OSError, TimeoutError, RuntimeError, ValueError) as exc:
            tried.append(f"cannot reach the D-Bus session bus at {session!r} ({exc})")
    display = env.get("DISPLAY")
    if display:
        address = _x_root_atspi_bus(display)
        if address:
            return address
        tried.append(f"no AT_SPI_BUS property on the root window of {display}")
    raise AccessibilityUnavailable("; ".join(tried))


def _x_root_atspi_bus(display: str) -> str | None:
    try:
        from Xlib import X
        from Xlib import display as xdisplay

        conn = xdisplay.Display(display)
    except Exception:
        return None
    try:
        prop = conn.screen().root.get_full_property(conn.intern_atom("AT_SPI_BUS"), X.AnyPropertyType)
        if prop is None or not prop.value:
            return None
        value = prop.value
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    except Exception:
        return None
    finally:
        conn.close()


def open_accessibility(
    env: Mapping[str, str] | None = None, timeout: float = 1.0, query_timeout: float = 0.5
) -> AtSpiAccessibility | NullAccessibility:
    """The platform's accessibility backend, or a NullAccessibility with the reason. Never raises.

    `timeout` bounds connecting; `query_timeout` bounds each element_at / focused_element call.
    """
    if sys.platform == "win32":
        return NullAccessibility("UI Automation backend not implemented yet")
    if sys.platform == "darwin":
        return NullAccessibility("AX (macOS Accessibility API) backend not implemented yet")
    env = os.environ if env is None else env
    try:
        address = find_atspi_bus_address(env, timeout)
        bus = DBusConnection(address, timeout)
    except AccessibilityUnavailable as exc:
        return NullAccessibility(str(exc))
    except (OSError, TimeoutError, RuntimeError, ValueError, CallError) as exc:
        return NullAccessibility(f"cannot connect to the AT-SPI bus: {exc}")
    try:
        registry = method_call((REGISTRY, ROOT_PATH), ACCESSIBLE, "GetChildren")
        bus.call(registry, time.monotonic() + timeout)
    except (OSError, TimeoutError, CallError) as exc:
        bus.close()
        return NullAccessibility(f"the AT-SPI registry does not answer: {exc}")
    display = env.get("DISPLAY")
    windows = open_windows(display) if display else NullWindows("no X display")
    return AtSpiAccessibility(bus, windows, query_timeout)
