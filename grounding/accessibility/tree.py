"""Listing the showing elements of an application's windows from the AT-SPI tree (for the accessibility grounder).

Uses `AtSpiAccessibility`'s plumbing (its D-Bus connection, lock, application/window lookups and
penalty box) and walks breadth-first with one batched round trip per tree level for the elements'
name, description, role, extents and states, and one more for their children. A node cap and a
deadline bound the walk; when either is hit the elements found so far come back, marked incomplete.

Which applications are listed (every showing top-level of each: frames, dialogs, windows, and the
popup menus an application exposes as top-levels):
1. near a point: the application of the X window under it;
2. else the application of the active window;
3. else the application that has an "active" top-level;
4. else every application (``everything=True`` asks for this directly).

Extents are corrected per top-level: each is matched to an X window of the same process (by size and
position, X11 via grounding.accessibility.windows) and its reported extents are mapped onto that window's geometry
(``Correction``: a scale snapped to 1/1.25/1.5/1.75/2/2.5/3 and an offset). Qt under QT_SCALE_FACTOR
and GTK3 under GDK_SCALE report logical pixels; GTK4 reports window-relative ones. Each element of that
top-level gets the corrected box; ``ElementListing.windows`` records the corrections. An element whose
centre lies under another X window stacked above its own is marked ``covered`` (a main window's
button under a dialog, or under a popup menu the application does not expose).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grounding.accessibility.protocol import (
    ACCESSIBLE, COMPONENT, COORD_SCREEN, MANAGED_CHILD_CAP, PROPERTIES, ROLE_EXTENDED, ROLE_NAMES, ROOT_PATH,
    ElementInfo, Ref, get_name, method_call, rect_from_extents, state_names,
)
from grounding.accessibility.dbus_client import CallError
from grounding.accessibility.windows import Correction, WindowInfo, extents_correction

if TYPE_CHECKING:
    from grounding.accessibility.atspi import AtSpiAccessibility

__all__ = ["CONTAINER_ROLES", "ElementListing", "TopLevel", "list_elements", "DEFAULT_NODE_CAP"]

DEFAULT_NODE_CAP = 5000
APP_ANSWER_S = 0.5  # what one application of several gets to list its windows (a live one takes milliseconds)
_CALLS_PER_NODE = 6  # Name, Description, GetRole, GetExtents, GetState, ChildCount
_BATCH = 400  # nodes per D-Bus batch: keeps one batch's replies within reasonable socket buffers
# roles drawn on a popup window of their own while listed under the window they belong to (GTK menus)
_POPUP_ROLES = frozenset({"menu", "menu item", "check menu item", "radio menu item", "tearoff menu item",
                          "separator", "popup menu"})
# roles whose (role, name) an element's ``ancestors`` record: what "in the X dialog", "on the X tab",
# "in the toolbar" can refer to
CONTAINER_ROLES = frozenset({"frame", "dialog", "window", "alert", "file chooser", "page tab", "menu", "popup menu",
                             "menu bar", "tool bar", "status bar", "panel", "filler", "table", "list", "list box",
                             "tree", "tree table", "grouping", "section", "scroll pane", "split pane", "form"})


@dataclass
class TopLevel:
    """One showing top-level of an application, its X window and how its extents are corrected."""

    ref: Ref
    pid: int | None
    role: str | None
    name: str | None
    reported: tuple[int, int, int, int] | None
    correction: Correction = field(default_factory=Correction)
    window: WindowInfo | None = None
    z: int | None = None  # the X window's place in the stacking order (0 = bottom)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "pid": self.pid,
                "reported": list(self.reported) if self.reported else None,
                "window": list(self.window.rect) if self.window and self.window.rect else None,
                "z": self.z, **self.correction.to_dict()}


@dataclass
class ElementListing:
    """The elements found, and whether the walk saw the whole scope."""

    elements: list[ElementInfo] = field(default_factory=list)
    complete: bool = True
    scope: str = ""  # "window under point", "active window", "active application", "all applications"
    visited: int = 0
    note: str | None = None  # why incomplete / why empty
    elapsed_s: float = 0.0
    windows: list[dict] = field(default_factory=list)  # TopLevel.to_dict() per top-level listed


def list_elements(a11y: "AtSpiAccessibility", near: tuple[int, int] | None = None, *,
                  node_cap: int = DEFAULT_NODE_CAP, timeout: float = 2.0,
                  everything: bool = False, include_unnamed: bool = False) -> ElementListing:
    """The showing elements (with a name, role, box) of one application's windows (or of every
    application's, with ``everything``); ``include_unnamed`` lists those without a name too (an editor's
    text area, found by role and place); never raises."""
    start = time.monotonic()
    deadline = start + timeout
    listing = ElementListing()
    if not a11y.available:
        listing.complete, listing.note = False, a11y.reason or "accessibility is not available"
        return listing
    if not a11y._lock.acquire(timeout=timeout):
        listing.complete, listing.note = False, "the accessibility connection is busy"
        return listing
    try:
        apps, listing.scope = _apps(a11y, near, deadline, everything)
        tops = _top_levels(a11y, apps, deadline)
        if not tops:
            listing.note = "no showing window found in the accessibility tree"
        else:
            windows = _match_windows(a11y, tops)
            listing.windows = [t.to_dict() for t in tops]
            owners = _walk(a11y, tops, node_cap, deadline, listing, include_unnamed)
            _mark_covered(listing, owners, tops, windows)
    except TimeoutError:
        listing.complete, listing.note = False, f"the application did not answer within {timeout} s"
    except (CallError, ValueError, IndexError, TypeError) as exc:
        listing.complete, listing.note = False, f"odd reply from the accessibility tree: {exc}"
    except OSError as exc:
        a11y.available = False
        a11y.reason = f"connection to the AT-SPI bus lost: {exc}"
        listing.complete, listing.note = False, a11y.reason
    finally:
        a11y._lock.release()
    listing.elapsed_s = time.monotonic() - start
    return listing


def _apps(a11y: "AtSpiAccessibility", near: tuple[int, int] | None, deadline: float,
          everything: bool) -> tuple[list[Ref], str]:
    if everything:
        return a11y._applications(deadline), "all applications"
    if near is not None:
        window = a11y._window("window_at", *near)
        app = a11y._app_for_pid(window.pid if window else None, deadline)
        if app is None and window is None:  # no window system to ask: the top-level containing the point
            found = a11y._frame_at(a11y._applications(deadline), near[0], near[1], None, deadline)
            app = (found[0][0], ROOT_PATH) if found else None
        if app is not None:
            return [app], "window under point"
    window = a11y._window("active_window")
    app = a11y._app_for_pid(window.pid, deadline) if window is not None else None
    if app is not None:
        return [app], "active window"
    app = a11y._active_app(deadline)
    if app is not None:
        return [app], "active application"
    return a11y._applications(deadline), "all applications"


def _top_levels(a11y: "AtSpiAccessibility", apps: list[Ref], deadline: float) -> list[TopLevel]:
    """The showing top-levels of these applications (one broken application does not hide the others)."""
    try:
        a11y._pids(apps, deadline)
    except (TimeoutError, CallError):
        pass
    tops: list[TopLevel] = []
    for app in apps:
        # Each application answers within its own share: a hung one (a stopped program, a Qt app whose event
        # loop is not running) must not use up the time of every application after it.
        app_deadline = deadline if len(apps) == 1 else min(deadline, time.monotonic() + APP_ANSWER_S)
        try:
            frames = [(str(f[0]), str(f[1])) for f in
                      a11y._call_app([method_call(app, ACCESSIBLE, "GetChildren")], app_deadline)[0][0]]
            if not frames:
                continue
            calls = []
            for f in frames:
                calls += [method_call(f, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)),
                          method_call(f, ACCESSIBLE, "GetState"), method_call(f, ACCESSIBLE, "GetRole"), get_name(f)]
            replies = a11y._call_app(calls, app_deadline)
        except (TimeoutError, CallError, IndexError):
            if len(apps) == 1:
                raise
            continue
        for i, frame in enumerate(frames):
            extents, state, role, name = replies[4 * i: 4 * i + 4]
            if isinstance(state, CallError) or "showing" not in state_names(state[0]):
                continue
            number = -1 if isinstance(role, CallError) else int(role[0])
            tops.append(TopLevel(
                frame, a11y._pid_of_bus.get(app[0]), ROLE_NAMES[number] if 0 < number < len(ROLE_NAMES) else None,
                None if isinstance(name, CallError) else (str(name[0][1]) or None),
                None if isinstance(extents, CallError) else rect_from_extents(extents[0])))
    return tops


def _match_windows(a11y: "AtSpiAccessibility", tops: list[TopLevel]) -> list[WindowInfo]:
    """Pair each top-level with an X window of its process (closest in size, then position) and set
    its correction and stacking place; returns the X top-levels, bottom to top."""
    windows = a11y._window("top_levels") or []
    pairs = []
    for ti, top in enumerate(tops):
        for wi, window in enumerate(windows):
            if top.pid is None or window.pid != top.pid or top.reported is None or window.rect is None:
                continue
            fit = extents_correction(top.reported, window.rect)
            if fit is not None:
                correction, misfit = fit
                pairs.append((misfit + 0.25 * (abs(correction.offset[0]) + abs(correction.offset[1])), ti, wi,
                              correction))
    used_tops: set[int] = set()
    used_windows: set[int] = set()
    for _, ti, wi, correction in sorted(pairs, key=lambda p: p[0]):
        if ti in used_tops or wi in used_windows:
            continue
        used_tops.add(ti)
        used_windows.add(wi)
        tops[ti].correction, tops[ti].window, tops[ti].z = correction, windows[wi], wi
    for top in tops:  # no window of its own: the scale its application uses elsewhere, if one
        if top.window is None:
            scales = {t.correction.scale for t in tops if t.window is not None and t.pid == top.pid}
            if len(scales) == 1 and scales != {1.0}:
                top.correction = Correction(scales.pop())
    return windows


def _mark_covered(listing: ElementListing, owners: list[int], tops: list[TopLevel],
                  windows: list[WindowInfo]) -> None:
    """Mark elements whose centre lies under an X window stacked above their own top-level's."""
    with_elements = {tops[o].z for o in owners if tops[o].z is not None}
    for index, (element, owner) in enumerate(zip(listing.elements, owners)):
        z = tops[owner].z
        if z is None or element.rect is None:
            continue
        cx, cy = (element.rect[0] + element.rect[2]) // 2, (element.rect[1] + element.rect[3]) // 2
        for above in range(z + 1, len(windows)):
            rect = windows[above].rect
            if rect is None or not (rect[0] <= cx < rect[2] and rect[1] <= cy < rect[3]):
                continue
            if above not in with_elements and element.role in _POPUP_ROLES:
                continue  # a GTK menu's items, listed under the main window, drawn on the popup above it
            listing.elements[index] = dataclasses.replace(element, covered=True)
            break


def _walk(a11y: "AtSpiAccessibility", tops: list[TopLevel], node_cap: int, deadline: float,
          listing: ElementListing, include_unnamed: bool = False) -> list[int]:
    """Breadth-first through showing nodes; fills ``listing``; returns each element's top-level index."""
    level = [(top.ref, i, ()) for i, top in enumerate(tops)]
    owners: list[int] = []
    seen: set[Ref] = set()
    unnamed = sorted({top.ref[0] for top in tops if top.ref[0] not in a11y._app_names})
    if unnamed:  # application names, once per bus connection, for ElementInfo.application
        names = a11y._call_app([get_name((bus, ROOT_PATH)) for bus in unnamed], deadline)
        for bus, name in zip(unnamed, names):
            a11y._app_names[bus] = None if isinstance(name, CallError) else str(name[0][1])
    while level:
        level = [n for n in level if n[0] not in seen]  # a broken tree may loop
        if listing.visited + len(level) > node_cap:
            level = level[: node_cap - listing.visited]
            listing.complete, listing.note = False, f"stopped at the node cap ({node_cap})"
        if not level:
            break
        seen.update(ref for ref, _, _ in level)
        listing.visited += len(level)
        infos = _describe_level(a11y, [ref for ref, _, _ in level], deadline)
        parents = []
        for (ref, owner, context), (info, states, child_count) in zip(level, infos):
            if info is not None and "showing" in states:
                if info.rect is not None and (info.name or info.description or include_unnamed) \
                        and info.role != "application":
                    correction = tops[owner].correction
                    listing.elements.append(dataclasses.replace(
                        info, ancestors=context,
                        rect=info.rect if correction.identity else correction.rect(info.rect)))
                    owners.append(owner)
                if child_count and ("manages-descendants" not in states or child_count <= MANAGED_CHILD_CAP):
                    inner = context + ((info.role, info.name or ""),) if info.role in CONTAINER_ROLES else context
                    parents.append((ref, owner, inner))
        if not parents or listing.visited >= node_cap:
            if parents:
                listing.complete, listing.note = False, f"stopped at the node cap ({node_cap})"
            break
        level = _children(a11y, parents, deadline)
    return owners


def _describe_level(a11y: "AtSpiAccessibility", level: list[Ref],
                    deadline: float) -> list[tuple[ElementInfo | None, frozenset[str], int]]:
    """(element, states, child count) of every node of one level, batched per application."""
    out: list[tuple[ElementInfo | None, frozenset[str], int]] = []
    for chunk_start in range(0, len(level), _BATCH):
        chunk = level[chunk_start: chunk_start + _BATCH]
        by_bus: dict[str, list[int]] = {}
        for index, ref in enumerate(chunk):
            by_bus.setdefault(ref[0], []).append(index)
        replies: list[list] = [[] for _ in chunk]
        for indexes in by_bus.values():
            calls = []
            for i in indexes:
                ref = chunk[i]
                calls += [get_name(ref), method_call(ref, PROPERTIES, "Get", "ss", (ACCESSIBLE, "Description")),
                          method_call(ref, ACCESSIBLE, "GetRole"),
                          method_call(ref, COMPONENT, "GetExtents", "u", (COORD_SCREEN,)),
                          method_call(ref, ACCESSIBLE, "GetState"),
                          method_call(ref, PROPERTIES, "Get", "ss", (ACCESSIBLE, "ChildCount"))]
            results = a11y._call_app(calls, deadline)
            for n, i in enumerate(indexes):
                replies[i] = results[n * _CALLS_PER_NODE:(n + 1) * _CALLS_PER_NODE]
        out.extend(_element(a11y, ref, r, deadline) for ref, r in zip(chunk, replies))
    return out


def _element(a11y: "AtSpiAccessibility", ref: Ref, replies: list,
             deadline: float) -> tuple[ElementInfo | None, frozenset[str], int]:
    name, description, role, extents, state, count = replies
    if isinstance(state, CallError):
        return None, frozenset(), 0  # a vanished object
    states = state_names(state[0])
    role_name = None
    if not isinstance(role, CallError):
        number = int(role[0])
        role_name = ROLE_NAMES[number] if 0 < number < len(ROLE_NAMES) else None
        if number == ROLE_EXTENDED and "showing" in states:
            role_name = a11y._role_name(ref, role, deadline)
    info = ElementInfo(
        name=None if isinstance(name, CallError) else (str(name[0][1]) or None),
        role=role_name,
        rect=None if isinstance(extents, CallError) else rect_from_extents(extents[0]),
        application=a11y._app_names.get(ref[0]),
        states=states,
        description=None if isinstance(description, CallError) else (str(description[0][1]) or None),
    )
    child_count = 0 if isinstance(count, CallError) else int(count[0][1])
    return info, states, child_count


def _children(a11y: "AtSpiAccessibility", parents: list[tuple[Ref, int, tuple]],
              deadline: float) -> list[tuple[Ref, int, tuple]]:
    """Each parent's children, with the parent's top-level index and container context."""
    by_bus: dict[str, list[tuple[Ref, int, tuple]]] = {}
    for parent in parents:
        by_bus.setdefault(parent[0][0], []).append(parent)
    children: list[tuple[Ref, int, tuple]] = []
    for refs in by_bus.values():
        for chunk_start in range(0, len(refs), _BATCH):
            chunk = refs[chunk_start: chunk_start + _BATCH]
            replies = a11y._call_app([method_call(r, ACCESSIBLE, "GetChildren") for r, _, _ in chunk], deadline)
            for (_, owner, context), reply in zip(chunk, replies):
                if not isinstance(reply, CallError):
                    children += [((str(c[0]), str(c[1])), owner, context) for c in reply[0]]
    return children
