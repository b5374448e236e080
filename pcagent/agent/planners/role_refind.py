"""Re-finding a recorded element that has no name: by its role, its application and its place among
the elements of that role in the live accessibility listing.

A click into an editor's empty text area leaves the other engines nothing: no name to look up or read,
and a crop of blank space that matches anywhere (or not at all in another theme). What is left is
what the element is (its role), whose it is (the application) and where it sits among its siblings:
"the only text area of mousepad" stays true when the window moves, grows or changes theme.

Siblings are the showing, uncovered, unnamed elements of the same role in the same application. The
recorded element is found again when it is the only one. Several cannot be told apart from what a
step records today (the element's own rectangle, the window's title and application, not the window's
place nor the element's rank): the answer says how many there are, and the replay asks the user rather
than guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from grounding.accessibility import ElementInfo

__all__ = ["RoleMatch", "refind_by_role", "same_place_inside", "unnamed_with_role"]


@dataclass(frozen=True)
class RoleMatch:
    """The element found again (or None), its siblings, and how it was told apart or why it was not."""

    element: ElementInfo | None
    siblings: tuple[ElementInfo, ...]
    how: str


def unnamed_with_role(element: dict | None) -> bool:
    """Whether a recorded element is one only its role and place can find again."""
    if not isinstance(element, dict) or not element.get("role"):
        return False
    name = element.get("name")
    return not (isinstance(name, str) and name.strip())


def refind_by_role(recorded: dict, window: dict | None, elements: Sequence[ElementInfo]) -> RoleMatch:
    """The live element that stands for the recorded unnamed ``recorded`` element, among ``elements``
    (a listing that includes unnamed elements). ``window`` is the step's recorded window."""
    role = recorded.get("role")
    application = _application(recorded, window)
    what = f"{role} elements of {application or 'any application'}"
    siblings = tuple(sorted(
        (e for e in elements if e.role == role and not (e.name or "").strip() and not e.covered
         and _has_area(e.rect) and (application is None or _same_application(e.application, application))),
        key=lambda e: (e.rect[1], e.rect[0])))  # reading order
    if not siblings:
        return RoleMatch(None, (), f"no unnamed {what} is showing")
    if len(siblings) == 1:
        return RoleMatch(siblings[0], siblings, f"the only unnamed {role} of {application or 'the screen'}")
    return RoleMatch(None, siblings, f"{len(siblings)} unnamed {what} are showing and the recording does not "
                                     "say which one it was")


def same_place_inside(recorded_rect: Sequence[int] | None, point: tuple[int, int],
                      live_rect: tuple[int, int, int, int]) -> tuple[int, int]:
    """The point at the same relative place inside ``live_rect`` as ``point`` inside ``recorded_rect``
    (the centre when the recorded point was not inside it)."""
    left, top, right, bottom = live_rect
    fx = fy = 0.5
    if recorded_rect and len(recorded_rect) == 4:
        r_left, r_top, r_right, r_bottom = (int(v) for v in recorded_rect)
        if r_left <= point[0] < r_right and r_top <= point[1] < r_bottom:
            fx = (point[0] - r_left) / max(r_right - r_left, 1)
            fy = (point[1] - r_top) / max(r_bottom - r_top, 1)
    x = left + min(int(fx * (right - left)), right - left - 1)
    y = top + min(int(fy * (bottom - top)), bottom - top - 1)
    return (x, y)


def _application(recorded: dict, window: dict | None) -> str | None:
    for value in (recorded.get("application"), (window or {}).get("application")):
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _same_application(live: str | None, recorded: str) -> bool:
    return bool(live) and live.strip().casefold() == recorded.casefold()


def _has_area(rect: Any) -> bool:
    return rect is not None and rect[2] > rect[0] and rect[3] > rect[1]
