"""Listing the showing elements of a window from the AT-SPI tree (for the accessibility grounder).

Uses `AtSpiAccessibility`'s plumbing (its D-Bus connection, lock, application/window lookups and
penalty box) and walks breadth-first with one batched round trip per tree level for the elements'
name, description, role, extents and states, and one more for their children. A node cap and a
deadline bound the walk; when either is hit the elements found so far come back, marked incomplete.

Which part of the desktop is listed:
1. near a point: the top-level window under it;
2. else the active window;
3. else every showing top-level of the application that has an "active" top-level;
4. else every application's showing top-levels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from grounding.accessibility import (
    _ACCESSIBLE, _COMPONENT, _COORD_SCREEN, _MANAGED_CHILD_CAP, _PROPERTIES, _ROLE_EXTENDED, _ROOT_PATH,
    ROLE_NAMES,
    ElementInfo, Ref, _get_name, _method, _rect_from_extents, _state_names,
)
from grounding.dbus_client import CallError

if TYPE_CHECKING:
    from grounding.accessibility import AtSpiAccessibility

__all__ = ["ElementListing", "list_elements", "DEFAULT_NODE_CAP"]

DEFAULT_NODE_CAP = 5000
_CALLS_PER_NODE = 6  # Name, Description, GetRole, GetExtents, GetState, ChildCount
_BATCH = 400  # nodes per D-Bus batch: keeps one batch's replies within reasonable socket buffers


@dataclass
class ElementListing:
    """The elements found, and whether the walk saw the whole scope."""

    elements: list[ElementInfo] = field(default_factory=list)
    complete: bool = True
    scope: str = ""  # "window under point", "active window", "active application", "all applications"
    visited: int = 0
    note: str | None = None  # why incomplete / why empty
    elapsed_s: float = 0.0


def list_elements(a11y: "AtSpiAccessibility", near: tuple[int, int] | None = None, *,
                  node_cap: int = DEFAULT_NODE_CAP, timeout: float = 2.0) -> ElementListing:
    """The showing elements (with a name, role, box) of one window or application; never raises."""
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
        roots, listing.scope = _roots(a11y, near, deadline)
        if not roots:
            listing.note = "no showing window found in the accessibility tree"
        else:
            _walk(a11y, roots, node_cap, deadline, listing)
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


def _roots(a11y: "AtSpiAccessibility", near: tuple[int, int] | None, deadline: float) -> tuple[list[Ref], str]:
    if near is not None:
        window = a11y._window("window_at", *near)
        app = a11y._app_for_pid(window.pid if window else None, deadline)
        frame = a11y._frame_at([app] if app else a11y._applications(deadline), near[0], near[1], window, deadline)
        if frame is not None:
            return [frame], "window under point"
    window = a11y._window("active_window")
    if window is not None and window.rect is not None:
        app = a11y._app_for_pid(window.pid, deadline)
        if app is not None:
            cx, cy = (window.rect[0] + window.rect[2]) // 2, (window.rect[1] + window.rect[3]) // 2
            frame = a11y._frame_at([app], cx, cy, window, deadline)
            if frame is not None:
                return [frame], "active window"
    app = a11y._active_app(deadline)
    if app is not None:
        return [app], "active application"
    return a11y._applications(deadline), "all applications"


def _walk(a11y: "AtSpiAccessibility", roots: list[Ref], node_cap: int, deadline: float,
          listing: ElementListing) -> None:
    """Breadth-first through showing nodes; fills ``listing``."""
    level = list(roots)
    seen: set[Ref] = set()
    unnamed = sorted({bus for bus, _ in roots if bus not in a11y._app_names})
    if unnamed:  # application names, once per bus connection, for ElementInfo.application
        names = a11y._call_app([_get_name((bus, _ROOT_PATH)) for bus in unnamed], deadline)
        for bus, name in zip(unnamed, names):
            a11y._app_names[bus] = None if isinstance(name, CallError) else str(name[0][1])
    while level:
        level = [n for n in level if n not in seen]  # a broken tree may loop
        if listing.visited + len(level) > node_cap:
            level = level[: node_cap - listing.visited]
            listing.complete, listing.note = False, f"stopped at the node cap ({node_cap})"
        if not level:
            break
        seen.update(level)
        listing.visited += len(level)
        infos = _describe_level(a11y, level, deadline)
        parents = []
        for ref, (info, states, child_count) in zip(level, infos):
            if info is not None and "showing" in states:
                if info.rect is not None and (info.name or info.description) and info.role != "application":
                    listing.elements.append(info)
                if child_count and ("manages-descendants" not in states or child_count <= _MANAGED_CHILD_CAP):
                    parents.append(ref)
            elif info is not None and info.role == "application":
                parents.append(ref)  # an application root is never "showing"; its frames may be
        if not parents or listing.visited >= node_cap:
            if parents:
                listing.complete, listing.note = False, f"stopped at the node cap ({node_cap})"
            break
        level = _children(a11y, parents, deadline)


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
                calls += [_get_name(ref), _method(ref, _PROPERTIES, "Get", "ss", (_ACCESSIBLE, "Description")),
                          _method(ref, _ACCESSIBLE, "GetRole"),
                          _method(ref, _COMPONENT, "GetExtents", "u", (_COORD_SCREEN,)),
                          _method(ref, _ACCESSIBLE, "GetState"),
                          _method(ref, _PROPERTIES, "Get", "ss", (_ACCESSIBLE, "ChildCount"))]
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
    states = _state_names(state[0])
    role_name = None
    if not isinstance(role, CallError):
        number = int(role[0])
        role_name = ROLE_NAMES[number] if 0 < number < len(ROLE_NAMES) else None
        if number == _ROLE_EXTENDED and "showing" in states:
            role_name = a11y._role_name(ref, role, deadline)
    info = ElementInfo(
        name=None if isinstance(name, CallError) else (str(name[0][1]) or None),
        role=role_name,
        rect=None if isinstance(extents, CallError) else _rect_from_extents(extents[0]),
        application=a11y._app_names.get(ref[0]),
        states=states,
        description=None if isinstance(description, CallError) else (str(description[0][1]) or None),
    )
    child_count = 0 if isinstance(count, CallError) else int(count[0][1])
    return info, states, child_count


def _children(a11y: "AtSpiAccessibility", parents: list[Ref], deadline: float) -> list[Ref]:
    by_bus: dict[str, list[Ref]] = {}
    for ref in parents:
        by_bus.setdefault(ref[0], []).append(ref)
    children: list[Ref] = []
    for refs in by_bus.values():
        for chunk_start in range(0, len(refs), _BATCH):
            chunk = refs[chunk_start: chunk_start + _BATCH]
            replies = a11y._call_app([_method(r, _ACCESSIBLE, "GetChildren") for r in chunk], deadline)
            children += [(str(c[0]), str(c[1])) for r in replies if not isinstance(r, CallError) for c in r[0]]
    return children
