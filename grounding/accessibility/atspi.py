"""The UI element under the pointer and the element with keyboard focus, from the accessibility tree.

Linux: AT-SPI spoken directly over D-Bus with jeepney (no pyatspi / PyGObject). Windows (UI Automation)
and macOS (AX) are seams for now: `open_accessibility` returns a `NullAccessibility` saying so.

Every query runs under one deadline (`query_timeout`, 0.5 s by default): a hung or stopped application
makes a query return None (a lookup: "timeout") instead of stalling the recorder, and that application is
then skipped for a short while so that the next events are not slowed down too. Safe to call from any
thread: queries are serialised by a lock, and a caller that cannot get the lock in time gets None.
How the element under a point and the focused one are found: grounding.accessibility.locate.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Mapping

from jeepney import DBusAddress, Message, new_method_call
from jeepney.low_level import HeaderFields

from grounding.accessibility import locate
from grounding.accessibility.dbus_client import CallError, DBusConnection
from grounding.accessibility.protocol import (
    ACCESSIBLE, COMPONENT, COORD_SCREEN, REGISTRY, ROLE_EXTENDED, ROLE_NAMES, ROOT_PATH, AccessibilityUnavailable,
    ElementInfo, ElementLookup, NullAccessibility, Ref, get_name, method_call, rect_contains, rect_from_extents,
    state_names,
)
from grounding.accessibility.tree import list_elements
from grounding.accessibility.windows import Correction, NullWindows, WindowInfo, open_windows, window_correction

__all__ = ["AtSpiAccessibility", "find_atspi_bus_address", "open_accessibility"]

_PENALTY_S = 2.0  # how long an application that timed out is skipped


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
        self._bus_lost = False  # the connection broke (unavailable since), as opposed to closed

    # ---- public queries -------------------------------------------------------------------

    def lookup_element_at(self, x: int, y: int) -> ElementLookup:
        """The deepest accessible element containing the screen point (x, y), or why there is none."""
        return self._lookup(lambda deadline: locate.element_at(self, x, y, deadline))

    def lookup_focused_element(self) -> ElementLookup:
        """The element with keyboard focus in the active window, or why there is none."""
        return self._lookup(lambda deadline: locate.focused_element(self, deadline))

    def element_at(self, x: int, y: int) -> ElementInfo | None:
        """The deepest accessible element containing the screen point (x, y), or None."""
        return self.lookup_element_at(x, y).element

    def focused_element(self) -> ElementInfo | None:
        """The element with keyboard focus in the active window, or None."""
        return self.lookup_focused_element().element

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

    def _lookup(self, query: Callable[[float], ElementLookup]) -> ElementLookup:
        """Run a lookup under the lock and one deadline; a failure becomes its ELEMENT_MISSING_CODES code."""
        start = time.monotonic()
        if not self.available:
            return ElementLookup(missing="bus_error" if self._bus_lost else "no_accessibility")
        if not self._lock.acquire(timeout=self._query_timeout):
            return ElementLookup(missing="timeout")  # another query is still waiting on a slow application
        try:
            return query(start + self._query_timeout)
        except TimeoutError:  # a hung application, already put in the penalty box
            return ElementLookup(missing="timeout")
        except (CallError, ValueError, IndexError, TypeError):  # a vanished object, an odd reply
            return ElementLookup(missing="bus_error")
        except OSError as exc:
            self.available = False
            self._bus_lost = True
            self.reason = f"connection to the AT-SPI bus lost: {exc}"
            return ElementLookup(missing="bus_error")
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

    # ---- top-levels ---------------------------------------------------------------------------

    def _frame_at(
        self, apps: list[Ref], x: int, y: int, window: WindowInfo | None, deadline: float
    ) -> tuple[Ref, Correction] | None:
        """The showing top-level of these applications that contains the point, and how its extents
        map to screen pixels (grounding.accessibility.windows.window_correction; Qt under QT_SCALE_FACTOR reports
        logical ones; GTK under a reparenting WM reports the frame's box, title bar included).

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
                    fit = window_correction(rect, window)  # the client's box, or its WM frame's
                    if fit is None:
                        continue  # e.g. the main window under a popup menu that AT-SPI does not list
                    correction, score = fit
                    rect = correction.rect(rect)
                else:
                    score = float((rect[2] - rect[0]) * (rect[3] - rect[1]))
                if not rect_contains(rect, x, y):
                    continue
                if best is None or score < best[0]:
                    best = (score, (str(frame[0]), str(frame[1])), correction)
        return (best[1], best[2]) if best else None

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
    """The platform's accessibility backend, or a NullAccessibility with the reason (its lookups answer
    "bus_error" where a bus was found but is broken, else "no_accessibility"). Never raises.

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
        return NullAccessibility(f"cannot connect to the AT-SPI bus: {exc}", missing="bus_error")
    try:
        registry = method_call((REGISTRY, ROOT_PATH), ACCESSIBLE, "GetChildren")
        bus.call(registry, time.monotonic() + timeout)
    except (OSError, TimeoutError, CallError) as exc:
        bus.close()
        return NullAccessibility(f"the AT-SPI registry does not answer: {exc}", missing="bus_error")
    display = env.get("DISPLAY")
    windows = open_windows(display) if display else NullWindows("no X display")
    return AtSpiAccessibility(bus, windows, query_timeout)
