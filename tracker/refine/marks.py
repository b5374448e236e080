"""Marked screenshots: a step's action drawn on a copy of its screenshot (PC Agent's marks).

    click kinds     the element's rectangle (when recorded), a dot at the point and a circle round it
    drag            the element's rectangle, a dot and circle at the start, an arrow to the end
    scroll          a dot and circle where it scrolled (its `at` point, else the pointer), an arrow in the
                    direction the content moves into view (up for dy > 0, right for dx > 0)
    anything else   nothing (keys, typing, wait, finish, fail, call user: PC Agent marks none of them)

Step coordinates are virtual-desktop pixels; a screenshot's pixel (0, 0) is the desktop's top-left corner,
which :func:`tracker.format.trajectory.desktop_origin` reads from meta.json's screens (it is (0, 0) unless
a monitor lies left of or above the primary one). The drawing itself is grounding.marks' (the verifier's
marks), so both look alike.
"""

from __future__ import annotations

from PIL import Image

from grounding.base import Point
from grounding.marks import mark_drag, mark_point
from tracker.format.actions import CLICK_KINDS, ActionError, parse_action
from tracker.format.trajectory import Step

__all__ = ["draw_marks", "has_marks", "mark_geometry"]


def _scroll_point(step: Step, point: Point | None) -> Point | None:
    return point if point is not None else step.pointer


def mark_geometry(step: Step) -> dict | None:
    """What :func:`draw_marks` draws for a step, in step coordinates, or None when it draws nothing.

    ``{"kind": "click" | "drag" | "scroll", "point": (x, y), "end": (x, y) | None, "box": [l, t, r, b] | None,
    "direction": (dx, dy) | None}``; an action that does not parse draws nothing.
    """
    try:
        action = parse_action(step.action)
    except ActionError:
        return None
    rect = (step.element or {}).get("rect")
    box = list(rect) if isinstance(rect, list) and len(rect) == 4 and rect[2] > rect[0] and rect[3] > rect[1] \
        else None
    if action.kind in CLICK_KINDS:
        point = action.point if action.point is not None else step.pointer  # an element click: where it landed
        if point is None:
            return None
        return {"kind": "click", "point": point, "end": None, "box": box, "direction": None}
    if action.kind == "drag":
        return {"kind": "drag", "point": action.point, "end": action.end, "box": box, "direction": None}
    if action.kind == "scroll":
        point = _scroll_point(step, action.point)
        if point is None:
            return None
        dx, dy = action.delta
        direction = ((dx > 0) - (dx < 0), (dy < 0) - (dy > 0))  # image y grows downwards; dy > 0 is up
        return {"kind": "scroll", "point": point, "end": None, "box": None,
                "direction": direction if direction != (0, 0) else None}
    return None


def has_marks(step: Step) -> bool:
    """Whether :func:`draw_marks` would draw anything for this step."""
    return mark_geometry(step) is not None


def draw_marks(image: Image.Image, step: Step, origin: Point = (0, 0)) -> Image.Image:
    """A copy of ``image`` (RGB) with ``step``'s action marked; an unmarked copy when there is nothing to mark.

    ``origin`` is the virtual desktop's top-left (:func:`tracker.format.trajectory.desktop_origin` of the
    trajectory's meta); step coordinates minus ``origin`` are image pixels. ``image`` itself is never modified.
    """
    geometry = mark_geometry(step)
    if geometry is None:
        return image.convert("RGB") if image.mode != "RGB" else image.copy()
    ox, oy = origin

    def local(point: Point) -> Point:
        return (point[0] - ox, point[1] - oy)

    box = geometry["box"]
    box = (box[0] - ox, box[1] - oy, box[2] - ox, box[3] - oy) if box is not None else None
    point = local(geometry["point"])
    marked = mark_point(image, point, box)
    if geometry["kind"] == "drag":
        marked = mark_drag(marked, point, local(geometry["end"]))
    elif geometry["kind"] == "scroll" and geometry["direction"] is not None:
        length = max(30, min(image.width, image.height) // 12)
        dx, dy = geometry["direction"]
        marked = mark_drag(marked, point, (point[0] + dx * length, point[1] + dy * length))
    return marked
