"""Replaying a recorded trajectory as a planner, re-grounding every pointer target on the live screen.

``ReplayPlanner`` answers ``plan()`` with the recorded steps in order (human and agent steps alike).
Pointer steps (clicks of every kind, drag starts) are not replayed at their recorded coordinates: the
target is looked for again on the current screenshot, so a window or a widget that moved is still hit.

Re-grounding order (the default grounder, a ``CompositeGrounder``; the first engine that finds it wins):

1. accessibility: the element recorded under the pointer, by its accessible name and role;
2. template: a crop of the recorded screenshot around that element (or around the pointer when no
   element was recorded), matched on the live screen across scale factors;
3. OCR: the element's name read off the screen (last: a label beside a field reads the same).

A recorded element without a name (an editor's text area) whose crop is blank, or that the engines
miss or find in several places, is looked for by its role, application and place among its siblings
in the live accessibility listing (``role_refind``): the only text area of the editor is clicked at
the same relative place inside it.

Ties go to the place nearest the recorded point. A target nobody finds (or finds only with a low
confidence) gives ``call user: step N: ...`` -- never a guess. The planner stays on that step, so the
next ``plan()`` after the user's help tries it again. A target without a name (or description) is
looked for by its crop only: text engines would have nothing to read.

Where the found box corresponds to what was recorded (the accessible element's box, the template's
match) the click keeps its place inside the element (a click at the left end of a field stays there);
otherwise it is the found point. A drag's start is re-grounded and its end moves by the same offset:
the recorder records the element under the press only, and a drop target is often empty space.

Typing, keys, scrolls and waits are replayed as recorded (a ``wait`` stands for the person waiting for
the application, so it is kept). A recorded ``call user`` is skipped: what the user did about it is
in the steps that follow. After the last step: ``finish``, or ``fail`` when the recording failed.

``exact=True`` replays the recorded coordinates as they are, but first checks that the screen at
the recorded point still looks like the recorded crop (normalized correlation >= 0.8); a target that
moved away gives ``call user: step N: the screen at (x, y) no longer shows <name>``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from grounding.accessibility import AccessibilityGrounder, AtSpiAccessibility, list_elements, open_accessibility
from grounding.base import (Box, Grounder, GroundingError, GroundingHints, GroundingResult, box_contains,
                            load_screenshot)
from grounding.ocr import text_near
from grounding.template import TemplateGrounder, crop_template
from models.errors import ModelError
from pcagent.agent.planners.role_refind import refind_by_role, same_place_inside, unnamed_with_role
from pcagent.agent.types import PlanContext, PlannerOutput, PlanningError
from tracker.format.actions import CLICK_KINDS, FAIL, FINISH, Action, ActionError, call_user
from models.text_excerpt import shorten
from tracker.format.trajectory import Step, Trajectory, TrajectoryError, desktop_origin, read_trajectory
from tracker.format.trajectory_check import check_trajectory

__all__ = ["ReplayPlanner", "default_replay_grounder", "EXACT_MIN_CORRELATION", "MIN_CONFIDENCE"]

EXACT_MIN_CORRELATION = 0.8  # exact mode: the recorded crop vs the live screen at the same place
MIN_CONFIDENCE = 0.5  # a re-grounded target found less surely than this counts as not found
POINTER_CROP = (60, 40)  # the crop around the pointer when no element rectangle was recorded
MAX_ELEMENT_CROP = (400, 160)  # larger elements (lists, canvases) are cropped around the pointer
LARGE_ELEMENT_CROP = (160, 80)
_EXACT_SLACK_PX = 3  # exact mode tolerates a few pixels of shift (antialiasing, focus frames)
_FLAT_STD = 2.0  # a crop with less grey-level spread than this has no detail to correlate
_FLAT_MAX_DIFF = 12.0  # ...so a flat crop is compared by mean absolute difference instead
_BLANK_SHARE = 0.99  # a crop this much one grey level (give or take a few) is blank space, a caret aside
_OFFSET_ENGINES = ("accessibility", "template")  # engines whose box is the recorded rectangle / crop


def default_replay_grounder(accessibility: Any | None = None) -> Grounder:
    """Accessibility by recorded name, then the recorded crop, then OCR of the name (with one OCR cache
    for the whole replay: each step re-reads only what changed).

    ``accessibility``: a backend for AccessibilityGrounder (None opens this platform's on first use).
    """
    from grounding.composite import CompositeGrounder
    from grounding.ocr import OcrCache, OcrGrounder

    return CompositeGrounder([AccessibilityGrounder(accessibility), TemplateGrounder(),
                              OcrGrounder(cache=OcrCache())])


class ReplayPlanner:
    """A planner that follows a recorded trajectory, re-grounding pointer targets unless ``exact``."""

    kind = "replay"

    def __init__(self, trajectory_dir: Path | str, *, exact: bool = False,
                 grounder: Grounder | None = None, min_confidence: float = MIN_CONFIDENCE,
                 accessibility: Any | None = None) -> None:
        """``accessibility``: the backend that lists live elements for targets without a name (None: the
        grounder's accessibility engine's, else this platform's, opened on first use)."""
        try:
            self.trajectory: Trajectory = read_trajectory(trajectory_dir)
        except TrajectoryError as exc:
            raise TrajectoryError(f"cannot replay {trajectory_dir}: {exc}") from exc
        # Replay trusts nothing it reads: what `trace check` calls an error (a malformed rectangle, a
        # screenshot outside the folder or that does not decode, NaN times) is refused, step by step.
        errors = [p for p in check_trajectory(self.trajectory.root) if p.severity == "error"]
        if errors:
            shown = "\n  ".join(str(p) for p in errors[:8]) + (f"\n  ... {len(errors) - 8} more" if len(errors) > 8 else "")
            raise TrajectoryError(f"cannot replay {trajectory_dir}: `pcagent trace check` finds {len(errors)} "
                                  f"error(s):\n  {shown}")
        self.exact = exact
        self.min_confidence = min_confidence
        self._grounder = grounder
        self._accessibility = accessibility
        self._template_only = TemplateGrounder()  # for targets that have no name to look up
        self.name = f"replay:{self.trajectory.root.name}"
        self.position = 0  # index into trajectory.steps of the next step to replay
        self._recorded_origin = desktop_origin(self.trajectory.meta)

    @property
    def grounder(self) -> Grounder:
        if self._grounder is None:  # built on first use: OCR and AT-SPI are not needed for exact replay
            self._grounder = default_replay_grounder()
        return self._grounder

    @property
    def accessibility(self) -> Any:
        if self._accessibility is None:  # share the grounder's connection to the accessibility bus
            engines = getattr(self.grounder, "engines", [self.grounder])
            shared = [e.accessibility for e in engines if isinstance(e, AccessibilityGrounder)]
            self._accessibility = shared[0] if shared else open_accessibility()
        return self._accessibility

    @property
    def done(self) -> bool:
        return self.position >= len(self.trajectory.steps)

    def seek(self, position: int) -> None:
        """Continue from ``trajectory.steps[position]`` (e.g. to redo a step the user rejected)."""
        if not 0 <= position <= len(self.trajectory.steps):
            raise ValueError(f"position {position} is outside 0..{len(self.trajectory.steps)}")
        self.position = position

    # ---- the Planner protocol ----------------------------------------------------------------------

    def plan(self, context: PlanContext) -> PlannerOutput:
        """The next recorded step, re-grounded on ``context.screenshot``; ``finish``/``fail`` at the end."""
        while not self.done:
            step = self.trajectory.steps[self.position]
            try:
                recorded = step.parsed_action()
            except ActionError as exc:
                raise PlanningError(f"recorded step {step.index} does not parse: {exc}", raw=step.action) from exc
            if recorded.kind == "call_user":
                self.position += 1  # the user's answer is in the steps that follow
                continue
            return self._replay(step, recorded, context)
        outcome = str(self.trajectory.meta.get("outcome") or "")
        end = FAIL if outcome in ("fail", "failed") else FINISH
        return PlannerOutput(f"The recorded trajectory ends here (outcome: {outcome or 'unknown'}).", end,
                             raw=str(end), details={"recorded_outcome": outcome or None})

    def _replay(self, step: Step, recorded: Action, context: PlanContext) -> PlannerOutput:
        start = time.monotonic()
        target = _target_name(step, recorded)
        details: dict[str, Any] = {"recorded_step": step.index, "recorded_action": step.action,
                                   "exact": self.exact}
        if recorded.kind in CLICK_KINDS or recorded.kind == "drag":
            action, details = self._pointer_action(step, recorded, context, details)
        else:
            action = recorded
        if action.kind != "call_user":
            self.position += 1  # a step the planner could not place is tried again next time
        details["planning_s"] = round(time.monotonic() - start, 4)
        return PlannerOutput(_thought(step, recorded, target), action, raw=step.action, details=details)

    # ---- pointer steps -----------------------------------------------------------------------------

    def _pointer_action(self, step: Step, recorded: Action, context: PlanContext,
                        details: dict[str, Any]) -> tuple[Action, dict[str, Any]]:
        if recorded.point is None:  # an agent's "click element: <description>" step
            return self._ground_description(step, recorded, context, details)
        point = recorded.point
        details["recorded_point"] = list(point)
        shot = self._recorded_screenshot(step)
        crop_box = _crop_box(step, point, self._recorded_origin, shot) if shot is not None else None
        if self.exact:
            return self._check_exact(step, recorded, context, shot, crop_box, details)
        template = crop_template(shot, crop_box, pad=0) if crop_box is not None else None
        by_role = unnamed_with_role(step.element)
        blank = template is None or _nearly_blank(template)
        if by_role and blank:  # nothing on the screen to know it by (an empty text area): role and place
            placed = self._refind_by_role(step, recorded, point, context, details)
            if placed is not None:
                return placed, details
        name = _target_name(step, recorded)
        if not name and shot is not None:
            # No element was recorded (e.g. a context menu opened on the press and hid it from
            # AT-SPI): the text next to the point on the recorded screen names the target instead.
            name = text_near(shot, (point[0] - self._recorded_origin[0], point[1] - self._recorded_origin[1]))
            if name:
                details["label_from_screenshot"] = name
        if not name and template is None:
            return _ask(step, f"nothing to find the target at {_xy(point)} by: no element name and no "
                              f"recorded screenshot{_role_note(details)}"), details
        origin = context.screen_origin
        element = step.element or {}
        hints = GroundingHints(role=element.get("role") or None, element_name=element.get("name") or None,
                               template=template, near=(point[0] - origin[0], point[1] - origin[1]),
                               screen_origin=origin)
        grounder = self.grounder if name else self._template_only
        result = self._ground(context.screenshot, name or f"the target of step {step.index}", hints, grounder)
        details.update(_grounding_details(result))
        missed = not result.found or result.confidence < self.min_confidence
        if by_role and not blank and (missed or int(result.details.get("ambiguous") or 0) > 1):
            placed = self._refind_by_role(step, recorded, point, context, details)
            if placed is not None:
                return placed, details
        if missed:
            why = result.reason or f"confidence {result.confidence:.2f} is below {self.min_confidence}"
            return _ask(step, f"could not find {_label(name, point)} on the screen ({shorten(why)})"
                              f"{_role_note(details)}"), details
        new_point = self._placed_point(step, point, crop_box, result, origin)
        details["grounded_point"] = list(new_point)
        if recorded.kind == "drag":
            dx, dy = new_point[0] - point[0], new_point[1] - point[1]
            end = (recorded.end[0] + dx, recorded.end[1] + dy)  # type: ignore[index]
            details["grounded_end"] = list(end)
            return replace(recorded, point=new_point, end=end), details
        return replace(recorded, point=new_point), details

    def _refind_by_role(self, step: Step, recorded: Action, point: tuple[int, int], context: PlanContext,
                        details: dict[str, Any]) -> Action | None:
        """The recorded action moved onto the live element of the same role, application and place
        among its siblings, at the same relative place inside it; None (and why, in details) if none."""
        start = time.monotonic()
        match = refind_by_role(step.element or {}, step.window, self._live_elements())
        details["by_role"] = {"role": (step.element or {}).get("role"), "siblings": len(match.siblings),
                              "how": match.how}
        if match.element is None or match.element.rect is None:
            return None
        origin, size = context.screen_origin, context.screenshot.size
        rect = match.element.rect
        live = (max(rect[0], origin[0]), max(rect[1], origin[1]),
                min(rect[2], origin[0] + size[0]), min(rect[3], origin[1] + size[1]))
        if live[2] <= live[0] or live[3] <= live[1]:
            details["by_role"]["how"] = f"{match.how}, but it lies off the screen"
            return None
        new_point = same_place_inside((step.element or {}).get("rect"), point, live)
        details.update({"engine": "accessibility-role", "confidence": 1.0,
                        "grounding_s": round(time.monotonic() - start, 4), "grounded_box": list(rect),
                        "grounded_point": list(new_point)})
        details.pop("not_found", None)
        if recorded.kind == "drag":  # the drop moves with the start, as for the other engines
            dx, dy = new_point[0] - point[0], new_point[1] - point[1]
            end = (recorded.end[0] + dx, recorded.end[1] + dy)  # type: ignore[index]
            details["grounded_end"] = list(end)
            return replace(recorded, point=new_point, end=end)
        return replace(recorded, point=new_point)

    def _live_elements(self) -> list:
        """Every showing element of every application, unnamed ones included; [] without AT-SPI (the
        protocol's ``elements()`` lists named elements only)."""
        a11y = self.accessibility
        if not isinstance(a11y, AtSpiAccessibility) or not a11y.available:
            return []
        return list_elements(a11y, everything=True, include_unnamed=True).elements

    def _ground_description(self, step: Step, recorded: Action, context: PlanContext,
                            details: dict[str, Any]) -> tuple[Action, dict[str, Any]]:
        """A recorded element click (no coordinates): ground its description, even in exact mode."""
        description = recorded.element or ""
        hints = GroundingHints(element_name=description, screen_origin=context.screen_origin)
        result = self._ground(context.screenshot, description, hints, self.grounder)
        details.update(_grounding_details(result))
        if not result.found or result.confidence < self.min_confidence or result.point is None:
            return _ask(step, f"could not find {description!r} on the screen"), details
        origin = context.screen_origin
        point = (result.point[0] + origin[0], result.point[1] + origin[1])
        details["grounded_point"] = list(point)
        return recorded.with_point(*point), details

    def _ground(self, screenshot: Image.Image, description: str, hints: GroundingHints,
                grounder: Grounder) -> GroundingResult:
        """The grounder's answer; an engine error is an answer too (not found, with the error as reason)."""
        try:
            return grounder.ground(screenshot, description, hints)
        except (GroundingError, ModelError) as exc:
            return GroundingResult.not_found(getattr(grounder, "name", "grounder"), f"{type(exc).__name__}: {exc}")

    def _placed_point(self, step: Step, recorded: tuple[int, int], crop_box: Box | None,
                      result: GroundingResult, origin: tuple[int, int]) -> tuple[int, int]:
        """Where to click on the live screen (desktop coordinates): the same place inside the element
        when the found box stands for the recorded rectangle or crop, else the found point."""
        assert result.point is not None
        found = (result.point[0] + origin[0], result.point[1] + origin[1])
        if result.box is None or result.engine not in _OFFSET_ENGINES:
            return found
        if result.engine == "accessibility":
            rect = (step.element or {}).get("rect")
            source = tuple(rect) if rect and len(rect) == 4 else None
        else:
            ox, oy = self._recorded_origin  # the crop box is in recorded screenshot pixels
            source = (crop_box[0] + ox, crop_box[1] + oy, crop_box[2] + ox, crop_box[3] + oy) if crop_box else None
        if source is None or not box_contains(source, recorded):
            return found
        box = result.box
        fx = (recorded[0] - source[0]) / max(source[2] - source[0], 1)
        fy = (recorded[1] - source[1]) / max(source[3] - source[1], 1)
        x = box[0] + min(int(fx * (box[2] - box[0])), box[2] - box[0] - 1)
        y = box[1] + min(int(fy * (box[3] - box[1])), box[3] - box[1] - 1)
        return (x + origin[0], y + origin[1])

    # ---- exact mode --------------------------------------------------------------------------------

    def _check_exact(self, step: Step, recorded: Action, context: PlanContext, shot: Image.Image | None,
                     crop_box: Box | None, details: dict[str, Any]) -> tuple[Action, dict[str, Any]]:
        """The recorded action as it is, if the screen at its point still shows what was recorded."""
        point = recorded.point
        assert point is not None
        details["grounded_point"] = list(point)
        if shot is None or crop_box is None:
            details["exact_check"] = "unchecked: no recorded screenshot"
            return recorded, details
        ox, oy = self._recorded_origin
        cx, cy = context.screen_origin
        live_box = (crop_box[0] + ox - cx, crop_box[1] + oy - cy, crop_box[2] + ox - cx, crop_box[3] + oy - cy)
        score = _similarity_in_place(shot.crop(crop_box), context.screenshot, live_box)
        details["exact_check"] = {"score": round(score, 4), "threshold": EXACT_MIN_CORRELATION}
        if score < EXACT_MIN_CORRELATION:
            name = _target_name(step, recorded) or "what was recorded there"
            return _ask(step, f"the screen at {_xy(point)} no longer shows {name}"), details
        return recorded, details

    # ---- recorded screenshots ----------------------------------------------------------------------

    def _recorded_screenshot(self, step: Step) -> Image.Image | None:
        if not step.screenshot:
            return None
        path = self.trajectory.root / step.screenshot
        try:
            return load_screenshot(path)
        except GroundingError:
            return None


# ---------------------------------------------------------------------------------------------------
# Helpers


def _nearly_blank(crop: Image.Image) -> bool:
    """Whether a crop is blank space: flat, or all one grey level but for a sliver (a caret, a speck)."""
    gray = np.asarray(crop.convert("L"), dtype=np.float32)
    if gray.size == 0 or float(gray.std()) < _FLAT_STD:
        return True
    return float((np.abs(gray - np.median(gray)) <= _FLAT_MAX_DIFF).mean()) >= _BLANK_SHARE


def _role_note(details: dict[str, Any]) -> str:
    """Why re-finding by role and place did not help, for the question to the user."""
    by_role = details.get("by_role")
    return f"; by role: {by_role['how']}" if by_role else ""


def _crop_box(step: Step, point: tuple[int, int], origin: tuple[int, int], shot: Image.Image) -> Box | None:
    """The part of the recorded screenshot that shows the target, in its pixels (None when off it).

    The element's rectangle plus a few pixels; for a large element (a list, a canvas) or none, a window
    around the pointer, since the whole of a large element rarely looks the same twice.
    """
    px, py = point[0] - origin[0], point[1] - origin[1]
    rect = (step.element or {}).get("rect")
    if rect and len(rect) == 4 and box_contains(tuple(rect), point):
        left, top, right, bottom = (int(v) for v in rect)
        left, right, top, bottom = left - origin[0], right - origin[0], top - origin[1], bottom - origin[1]
        if right - left <= MAX_ELEMENT_CROP[0] and bottom - top <= MAX_ELEMENT_CROP[1]:
            box = (left - 4, top - 4, right + 4, bottom + 4)
        else:
            half_w, half_h = LARGE_ELEMENT_CROP[0] // 2, LARGE_ELEMENT_CROP[1] // 2
            box = (max(left, px - half_w), max(top, py - half_h), min(right, px + half_w), min(bottom, py + half_h))
    else:
        half_w, half_h = POINTER_CROP[0] // 2, POINTER_CROP[1] // 2
        box = (px - half_w, py - half_h, px + half_w, py + half_h)
    box = (max(box[0], 0), max(box[1], 0), min(box[2], shot.width), min(box[3], shot.height))
    return box if box[2] - box[0] >= 4 and box[3] - box[1] >= 4 else None


def _similarity_in_place(crop: Image.Image, screen: Image.Image, box: Box) -> float:
    """How much the screen inside ``box`` (give or take a few pixels) looks like ``crop``: 0..1.

    Normalized correlation; a crop without detail (an empty area) is compared by mean difference.
    """
    template = np.asarray(crop.convert("L"), dtype=np.float32)
    slack = _EXACT_SLACK_PX
    left, top = max(box[0] - slack, 0), max(box[1] - slack, 0)
    right, bottom = min(box[2] + slack, screen.width), min(box[3] + slack, screen.height)
    if right - left < template.shape[1] or bottom - top < template.shape[0]:
        return 0.0  # the place is (partly) off the live screen
    window = np.asarray(screen.crop((left, top, right, bottom)).convert("L"), dtype=np.float32)
    if float(template.std()) < _FLAT_STD:
        diffs = cv2.matchTemplate(window, template, cv2.TM_SQDIFF)
        best = float(np.sqrt(max(diffs.min(), 0.0) / template.size))
        return 1.0 if best <= _FLAT_MAX_DIFF else 0.0
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    scores = np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
    return float(np.clip(scores.max(), -1.0, 1.0))


def _target_name(step: Step, recorded: Action) -> str:
    """What text engines look for: the recorded element's name, else the step's description."""
    if recorded.element:
        return recorded.element
    name = (step.element or {}).get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    description = step.extra.get("action_description")
    return description.strip() if isinstance(description, str) else ""


def _thought(step: Step, recorded: Action, target: str) -> str:
    thought = step.extra.get("thought")
    text = thought.get("text") if isinstance(thought, dict) else thought
    if isinstance(text, str) and text.strip():
        return text.strip()
    if not target:
        return f"Replaying step {step.index}: {step.action}"
    pointer = recorded.kind in CLICK_KINDS or recorded.kind == "drag"
    return f"Replaying step {step.index}: {step.action} {'on' if pointer else 'in'} {target}"


def _grounding_details(result: GroundingResult) -> dict[str, Any]:
    details: dict[str, Any] = {"engine": result.engine, "confidence": round(result.confidence, 4),
                               "grounding_s": round(result.latency_s, 4)}
    if result.found:
        details["grounded_box"] = list(result.box) if result.box else None
    else:
        details["not_found"] = result.reason
    return details


def _ask(step: Step, problem: str) -> Action:
    return call_user(f"step {step.index}: {problem}")


def _label(name: str, point: tuple[int, int]) -> str:
    return repr(name) if name else f"the target recorded at {_xy(point)}"


def _xy(point: tuple[int, int]) -> str:
    return f"({point[0]}, {point[1]})"


