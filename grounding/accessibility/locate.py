"""Finding one element in the AT-SPI tree: the deepest one under a screen point, and the one with
keyboard focus; each answered as an `ElementLookup` that says why when there is none.

What real desktops do that a plain GetAccessibleAtPoint descent does not survive:
- GTK's notebook page tab reports extents (-1, -1, -1, -1), so GetAccessibleAtPoint on the tab list
  answers null although the page's content lies under the point: the descent then looks through
  children with no usable extents to the placed, showing descendant that contains the point.
- A reparenting WM (openbox, xfwm4) frames each window: GTK reports a top-level's extents as the
  frame's, title bar included, Qt as the client's; windows.window_correction tries both.
- GTK draws a menu bar's menus on override-redirect popup windows that are not AT-SPI top-levels;
  their items hang below the menu (or combo box) they belong to, so they are found among the
  application's showing menu items (Collection.GetMatches, else a walk) as the one on that popup
  window. Qt leaves its popups out of the tree altogether: a point on one is answered
  "popup_not_exposed", never with what lies beneath.
- GTK's application node has no states at all, so the focus search starts at the active window's
  top-level instead of requiring the application to be "showing".

All of it runs under the caller's lock and deadline (AtSpiAccessibility._lookup).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from grounding.accessibility.dbus_client import CallError
from grounding.accessibility.protocol import (
    ACCESSIBLE, COMPONENT, COORD_SCREEN, MANAGED_CHILD_CAP, NULL_PATH, PROPERTIES, ROLE_NAMES, STATE_NAMES,
    ElementLookup, Ref, method_call, rect_contains, rect_from_extents, state_names,
)
from grounding.accessibility.windows import Correction, WindowInfo, window_correction

if TYPE_CHECKING:
    from grounding.accessibility.atspi import AtSpiAccessibility

__all__ = ["element_at", "focused_element"]

_MAX_DEPTH = 64  # descent steps; a cycle in a broken tree must still end
_UNPLACED_HOPS = 3  # containers without extents looked through in a row (GTK: page tab -> scroll pane)
_CHILD_CAP = 64  # children examined when GetAccessibleAtPoint gives up; more means a big list or table
_FOCUS_NODE_CAP = 3000  # nodes visited looking for the focused one
_POPUP_NODE_CAP = 2000  # nodes walked looking for the menu item on a popup window (no Collection)
_POPUP_BUDGET = 0.7  # share of the time left the popup walk may use, so that it ends without a timeout
_MENU_ROLES = frozenset({"menu", "popup menu"})  # their children are drawn on a popup window of their own
_COORD_FLOOR = -(2 ** 30)  # GTK reports INT_MIN coordinates for widgets that are not drawn


def _bit_set(numbers: list[int], count: int) -> list[int]:
    """AT-SPI's bit set of role or state numbers: 32-bit words, lowest first."""
    words = [0] * ((count + 31) // 32)
    for number in numbers:
        words[number // 32] |= 1 << (number % 32)
    return words


# Collection.GetMatches rule: showing, and any of the menu item roles. Every match type must be valid:
# an empty set under MATCH_ALL matches everything, under MATCH_INVALID (0) nothing.
_COLLECTION = "org.a11y.atspi.Collection"
_MATCH_ALL, _MATCH_ANY, _SORT_CANONICAL = 1, 2, 1
_MENU_ITEM_ROLES = ("menu", "menu item", "check menu item", "radio menu item", "tearoff menu item")
_SHOWING_MENU_ITEMS = (
    _bit_set([STATE_NAMES.index("showing")], len(STATE_NAMES)), _MATCH_ALL, {}, _MATCH_ALL,
    _bit_set([ROLE_NAMES.index(r) for r in _MENU_ITEM_ROLES], len(ROLE_NAMES)), _MATCH_ANY, [], _MATCH_ALL, False,
)


# ---- element under a point -----------------------------------------------------------------------


def element_at(a11y: "AtSpiAccessibility", x: int, y: int, deadline: float) -> ElementLookup:
    """The deepest element at the screen point (x, y), or why there is none."""
    window = a11y._window("window_at", x, y)
    app = a11y._app_for_pid(window.pid if window else None, deadline)
    apps = [app] if app is not None else a11y._applications(deadline)
    found = a11y._frame_at(apps, x, y, window, deadline)
    if found is None and window is not None and window.popup and app is not None:
        found = _popup_item_at(a11y, app, x, y, window, deadline)
    if found is None:
        return ElementLookup(missing=_why_missing(window, app))
    node, correction = found
    ax, ay = correction.point_back(x, y)  # the point in the application's own (maybe logical) pixels
    info = a11y._describe(_descend(a11y, node, ax, ay, deadline), deadline)
    if not correction.identity and info.rect is not None:
        info = replace(info, rect=correction.rect(info.rect))
    return ElementLookup(info)


def _why_missing(window: WindowInfo | None, app: Ref | None) -> str:
    if window is not None and window.pid is not None and app is None:
        return "no_accessibility"  # the program there is not on the accessibility bus
    if window is not None and window.popup:
        return "popup_not_exposed"
    return "not_found"


def _unplaced(rect: tuple[int, int, int, int] | None) -> bool:
    """Extents that place nothing: none, empty, or GTK's INT_MIN stand-in."""
    return rect is None or rect[2] - rect[0] <= 1 or rect[3] - rect[1] <= 1 or min(rect[0], rect[1]) < _COORD_FLOOR


def _descend(a11y: "AtSpiAccessibility", node: Ref, x: int, y: int, deadline: float) -> Ref:
    """The deepest node under (x, y) below `node`: GetAccessibleAtPoint, and where that answers null,
    a look at the children's extents (through those that have none)."""
    seen = {node}
    for _ in range(_MAX_DEPTH):
        reply = a11y._call_app([method_call(node, COMPONENT, "GetAccessibleAtPoint", "iiu", (x, y, COORD_SCREEN))],
                               deadline)[0]
        child: Ref | None = None
        if not isinstance(reply, CallError):
            child = (str(reply[0][0]), str(reply[0][1]))
            if child[1] == NULL_PATH:
                child = None
        if child is None or child in seen:
            child = _child_through_unplaced(a11y, node, x, y, deadline)
        if child is None or child in seen:
            break
        seen.add(child)
        node = child
    return node


def _child_through_unplaced(a11y: "AtSpiAccessibility", node: Ref, x: int, y: int, deadline: float) -> Ref | None:
    """A showing descendant of `node` that contains the point, reached through children without
    extents (GTK's page tab); the smallest one when several do."""
    level = [node]
    for _ in range(_UNPLACED_HOPS):
        replies = a11y._call_app([method_call(n, ACCESSIBLE, "GetChildren") for n in level], deadline)
        children = [(str(c[0]), str(c[1])) for r in replies if not isinstance(r, CallError) and len(r[0]) <= _CHILD_CAP
                    for c in r[0]]
        if not children:
            return None
        calls = [method_call(c, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)) for c in children]
        calls += [method_call(c, ACCESSIBLE, "GetState") for c in children]
        replies = a11y._call_app(calls, deadline)
        hits, unplaced = [], []
        for i, child in enumerate(children):
            extents, state = replies[i], replies[len(children) + i]
            if isinstance(state, CallError) or "showing" not in state_names(state[0]):
                continue  # e.g. the pages of a notebook's other tabs, laid out in the same place
            rect = None if isinstance(extents, CallError) else rect_from_extents(extents[0])
            if _unplaced(rect):
                unplaced.append(child)
            elif rect_contains(rect, x, y):
                hits.append(((rect[2] - rect[0]) * (rect[3] - rect[1]), child))
        if hits:
            return min(hits)[1]
        level = unplaced
        if not level:
            return None
    return None


def _popup_item_at(a11y: "AtSpiAccessibility", app: Ref, x: int, y: int, window: WindowInfo,
                   deadline: float) -> tuple[Ref, Correction] | None:
    """The menu item under the point on a popup window that is no AT-SPI top-level (a GTK menu bar's
    menu), or None (Qt's popups). Asked in one call per top-level through the Collection interface
    (GTK's atk-bridge has it, a menu click must not wait on a walk); walked where it is missing."""
    if window.rect is None:
        return None
    reply = a11y._call_app([method_call(app, ACCESSIBLE, "GetChildren")], deadline)[0]
    frames = [] if isinstance(reply, CallError) else [(str(f[0]), str(f[1])) for f in reply[0]]
    if not frames:
        return None
    matches = a11y._call_app([method_call(f, _COLLECTION, "GetMatches", "(aiia{ss}iaiiasib)uib",
                                          (_SHOWING_MENU_ITEMS, _SORT_CANONICAL, 0, True)) for f in frames], deadline)
    if any(isinstance(m, CallError) for m in matches):
        found = _walk_for_popup_item(a11y, frames, x, y, window.rect, deadline)
    else:
        items = [(str(i[0]), str(i[1])) for m in matches for i in m[0]]
        calls = [method_call(i, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)) for i in items]
        extents = a11y._call_app(calls, deadline) if calls else []
        hits = []
        for item, reply in zip(items, extents):
            rect = None if isinstance(reply, CallError) else rect_from_extents(reply[0])
            if rect_contains(rect, x, y) and _inside(rect, window.rect):
                hits.append(((rect[2] - rect[0]) * (rect[3] - rect[1]), item))
        found = min(hits)[1] if hits else None
    return (found, Correction()) if found else None


def _walk_for_popup_item(a11y: "AtSpiAccessibility", frames: list[Ref], x: int, y: int,
                         popup: tuple[int, int, int, int], deadline: float) -> Ref | None:
    """Breadth-first through the showing nodes below these top-levels, for the deepest node below a menu
    that contains the point and lies on the popup window."""
    stop_at = time.monotonic() + _POPUP_BUDGET * max(deadline - time.monotonic(), 0.0)
    level = [(frame, False) for frame in frames]  # (node, below a menu)
    best: tuple[int, int, Ref] | None = None  # (-depth, area, node): deepest first, then smallest
    visited, depth = 0, 0
    while level and visited < _POPUP_NODE_CAP:
        if time.monotonic() > stop_at:
            raise TimeoutError("the popup's menu item was not found in time")
        level = level[: _POPUP_NODE_CAP - visited]
        visited += len(level)
        calls = []
        for ref, _ in level:
            calls += [method_call(ref, ACCESSIBLE, "GetRole"),
                      method_call(ref, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)),
                      method_call(ref, ACCESSIBLE, "GetState")]
        replies = a11y._call_app(calls, deadline)
        parents = []
        for i, (ref, below_menu) in enumerate(level):
            role, extents, state = replies[3 * i: 3 * i + 3]
            if isinstance(state, CallError) or "showing" not in (states := state_names(state[0])):
                continue
            rect = None if isinstance(extents, CallError) else rect_from_extents(extents[0])
            if below_menu and rect_contains(rect, x, y) and _inside(rect, popup):
                candidate = (-depth, (rect[2] - rect[0]) * (rect[3] - rect[1]), ref)
                best = candidate if best is None or candidate < best else best
            if "manages-descendants" not in states:
                number = -1 if isinstance(role, CallError) else int(role[0])
                opens_popup = 0 <= number < len(ROLE_NAMES) and ROLE_NAMES[number] in _MENU_ROLES
                parents.append((ref, below_menu or opens_popup))
        if not parents:
            break
        children = a11y._call_app([method_call(p, ACCESSIBLE, "GetChildren") for p, _ in parents], deadline)
        level = [((str(c[0]), str(c[1])), below) for (_, below), r in zip(parents, children)
                 if not isinstance(r, CallError) for c in r[0]]
        depth += 1
    return best[2] if best else None


def _inside(rect: tuple[int, int, int, int] | None, outer: tuple[int, int, int, int], slack: int = 2) -> bool:
    return (rect is not None and rect[0] >= outer[0] - slack and rect[1] >= outer[1] - slack
            and rect[2] <= outer[2] + slack and rect[3] <= outer[3] + slack)


# ---- focused element ------------------------------------------------------------------------------


def focused_element(a11y: "AtSpiAccessibility", deadline: float) -> ElementLookup:
    """The element with keyboard focus in the active window, or why there is none."""
    window = a11y._window("active_window")
    app = a11y._app_for_pid(window.pid if window else None, deadline)
    if app is None:
        app = a11y._active_app(deadline)
    if app is None:
        return ElementLookup(missing=_why_missing(window, None))
    # Always walk the tree, never trust the last answer's "focused" state: Qt leaves that state on a
    # list's current item after focus has moved elsewhere.
    focused = _find_focused(a11y, _active_top_levels(a11y, app, window, deadline), deadline)
    return ElementLookup(a11y._describe(focused, deadline)) if focused else ElementLookup(missing="not_found")


def _active_top_levels(a11y: "AtSpiAccessibility", app: Ref, window: WindowInfo | None,
                       deadline: float) -> list[Ref]:
    """Where focus is searched: the application's top-level that is the active X window, else the ones in
    state "active", else every showing one."""
    reply = a11y._call_app([method_call(app, ACCESSIBLE, "GetChildren")], deadline)[0]
    frames = [] if isinstance(reply, CallError) else [(str(f[0]), str(f[1])) for f in reply[0]]
    if not frames:
        return []
    calls = [method_call(f, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)) for f in frames]
    calls += [method_call(f, ACCESSIBLE, "GetState") for f in frames]
    replies = a11y._call_app(calls, deadline)
    showing, active, fitting = [], [], []
    for i, frame in enumerate(frames):
        extents, state = replies[i], replies[len(frames) + i]
        states = frozenset() if isinstance(state, CallError) else state_names(state[0])
        if "showing" not in states:
            continue
        showing.append(frame)
        if "active" in states:
            active.append(frame)
        rect = None if isinstance(extents, CallError) else rect_from_extents(extents[0])
        fit = window_correction(rect, window) if window is not None and rect is not None else None
        if fit is not None:
            fitting.append((fit[1], frame))  # nearest first: an application's windows may share a size
    if fitting:
        return [min(fitting)[1]]
    return active or showing


def _find_focused(a11y: "AtSpiAccessibility", starts: list[Ref], deadline: float) -> Ref | None:
    """Breadth-first through showing objects, one batched round trip per level; deepest focused wins."""
    level = list(starts)
    found: Ref | None = None
    visited = 0
    while level and visited < _FOCUS_NODE_CAP:
        level = level[: _FOCUS_NODE_CAP - visited]
        visited += len(level)
        states = a11y._call_app([method_call(n, ACCESSIBLE, "GetState") for n in level], deadline)
        names = [frozenset() if isinstance(s, CallError) else state_names(s[0]) for s in states]
        focused_here = [n for n, s in zip(level, names) if "focused" in s]
        if focused_here:
            found = focused_here[0]
            parents = [found]  # look below it only: a focused list may have a focused item
        else:
            parents = [n for n, s in zip(level, names) if "showing" in s and "manages-descendants" not in s]
        if not parents:
            break
        if focused_here and "manages-descendants" in names[level.index(found)]:
            counts = a11y._call_app([method_call(found, PROPERTIES, "Get", "ss", (ACCESSIBLE, "ChildCount"))], deadline)
            if isinstance(counts[0], CallError) or counts[0][0][1] > MANAGED_CHILD_CAP:
                break
        children = a11y._call_app([method_call(p, ACCESSIBLE, "GetChildren") for p in parents], deadline)
        level = [(str(c[0]), str(c[1])) for r in children if not isinstance(r, CallError) for c in r[0]]
    return found
