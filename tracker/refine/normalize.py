"""Normalising a trajectory to one screen resolution: every coordinate and rectangle now, the screenshots
(resized to exactly the target) when the runner writes them.

The maths, for a step whose screenshot is w x h, a target of W x H and the desktop's top-left (ox, oy)
(meta.json's screens; (0, 0) on most desktops):

    a point (pixel)      x' = floor((x - ox + 0.5) * W / w)        pixel centres map into the pixel that
                                                                   holds them, so x' is always in 0..W-1
    a rectangle's edge   x' = floor((x - ox) * W / w + 0.5)        [0, 0, w, h] maps to [0, 0, W, H]

and likewise for y with H / h. Each step is scaled by its own screenshot's size (a resolution change
mid-recording stays right); a step without one by the desktop's size. What is scaled: the action's points,
the pointer, the element's and window's rectangles, the rectangles of recorded pcagent windows, the
grounding result's point, box and candidates, and a planned action. meta.json's screens are scaled the same
way, so after normalising the desktop starts at (0, 0) and is W x H.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

from grounding.base import screenshot_size
from tracker.format.actions import ActionError, format_action, parse_action
from tracker.format.trajectory import desktop_origin
from tracker.recording.own_windows import OWN_WINDOWS_KEY
from tracker.refine.options import RefineOptions
from tracker.refine.passes import PassLog, Work

__all__ = ["Scaler", "desktop_size", "normalize"]


@dataclass(frozen=True)
class Scaler:
    """Maps step coordinates on a w x h screen with top-left ``origin`` onto a W x H one at (0, 0)."""

    origin: tuple[int, int]
    source: tuple[int, int]  # (w, h)
    target: tuple[int, int]  # (W, H)

    @property
    def identity(self) -> bool:
        return self.origin == (0, 0) and self.source == self.target

    def point(self, point) -> tuple[int, int]:
        (x, y), (ox, oy) = point, self.origin
        return (math.floor((x - ox + 0.5) * self.target[0] / self.source[0]),
                math.floor((y - oy + 0.5) * self.target[1] / self.source[1]))

    def edge_x(self, x: int) -> int:
        return math.floor((x - self.origin[0]) * self.target[0] / self.source[0] + 0.5)

    def edge_y(self, y: int) -> int:
        return math.floor((y - self.origin[1]) * self.target[1] / self.source[1] + 0.5)

    def rect(self, rect) -> list[int]:
        left, top, right, bottom = rect
        return [self.edge_x(left), self.edge_y(top), self.edge_x(right), self.edge_y(bottom)]

    def action_text(self, text: str) -> str:
        """An action with its coordinates scaled (scroll amounts are wheel notches: unchanged)."""
        action = parse_action(text)
        if action.point is not None:
            action = replace(action, point=self.point(action.point))
        if action.end is not None:
            action = replace(action, end=self.point(action.end))
        return format_action(action)


def _is_rect(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 4 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _is_point(value: object) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def desktop_size(meta: dict) -> tuple[int, int] | None:
    """The bounding box of meta.json's screens, (width, height), or None without screens."""
    screens = [s for s in meta.get("screens") or [] if isinstance(s, dict) and all(
        isinstance(s.get(k), int) for k in ("left", "top", "width", "height"))]
    if not screens:
        return None
    left, top = min(s["left"] for s in screens), min(s["top"] for s in screens)
    right = max(s["left"] + s["width"] for s in screens)
    bottom = max(s["top"] + s["height"] for s in screens)
    return (right - left, bottom - top)


def _scale_grounding(grounding: dict, scaler: Scaler) -> dict:
    scaled = dict(grounding)
    if _is_point(scaled.get("point")):
        scaled["point"] = list(scaler.point(scaled["point"]))
    if _is_rect(scaled.get("box")):
        scaled["box"] = scaler.rect(scaled["box"])
    if isinstance(scaled.get("candidates"), list):
        candidates = []
        for candidate in scaled["candidates"]:
            if isinstance(candidate, dict):
                candidate = dict(candidate)
                if _is_point(candidate.get("point")):
                    candidate["point"] = list(scaler.point(candidate["point"]))
                if _is_rect(candidate.get("box")):
                    candidate["box"] = scaler.rect(candidate["box"])
            candidates.append(candidate)
        scaled["candidates"] = candidates
    return scaled


def _scale_step(step, scaler: Scaler) -> None:
    step.action = scaler.action_text(step.action)
    if step.pointer is not None:
        step.pointer = scaler.point(step.pointer)
    for holder in (step.element, step.window):
        if isinstance(holder, dict) and _is_rect(holder.get("rect")):
            holder["rect"] = scaler.rect(holder["rect"])
    extra = step.extra
    if isinstance(extra.get(OWN_WINDOWS_KEY), list):
        extra[OWN_WINDOWS_KEY] = [{**w, "rect": scaler.rect(w["rect"])} if isinstance(w, dict)
                                  and _is_rect(w.get("rect")) else w for w in extra[OWN_WINDOWS_KEY]]
    if isinstance(extra.get("grounding"), dict):
        extra["grounding"] = _scale_grounding(extra["grounding"], scaler)
    if isinstance(extra.get("planned_action"), str):
        try:
            extra["planned_action"] = scaler.action_text(extra["planned_action"])
        except ActionError:
            pass  # not ours to judge: kept as it was


def _scale_screens(meta: dict, scaler: Scaler) -> None:
    screens = []
    for screen in meta.get("screens") or []:
        if isinstance(screen, dict) and all(isinstance(screen.get(k), int) for k in ("left", "top", "width", "height")):
            left, top = scaler.edge_x(screen["left"]), scaler.edge_y(screen["top"])
            right = scaler.edge_x(screen["left"] + screen["width"])
            bottom = scaler.edge_y(screen["top"] + screen["height"])
            screen = {**screen, "left": left, "top": top, "width": right - left, "height": bottom - top}
        screens.append(screen)
    meta["screens"] = screens


def normalize(work: Work, log: PassLog, options: RefineOptions) -> None:
    """Scale every coordinate to ``options.resolution``; sets ``work.resolution`` for the screenshots."""
    target = options.resolution
    origin = desktop_origin(work.meta)
    sizes = {id(d): screenshot_size(work.root / d.step.screenshot) for d in work.drafts if d.step.screenshot}
    desktop = desktop_size(work.meta)
    fallback = desktop or (Counter(sizes.values()).most_common(1)[0][0] if sizes else None)
    if fallback is None:
        log.note(None, "skipped", reason="no screenshot and no screens in meta.json: the screen size is unknown")
        return
    changed = 0
    for draft in work.drafts:
        scaler = Scaler(origin, sizes.get(id(draft), fallback), target)
        if not scaler.identity:
            _scale_step(draft.step, scaler)
            changed += 1
    if desktop is not None:
        _scale_screens(work.meta, Scaler(origin, desktop, target))
    work.resolution = target
    sources = sorted(set(sizes.values())) or [fallback]
    log.note(None, "scaled", steps=changed, source=[f"{w}x{h}" for w, h in sources],
             target=f"{target[0]}x{target[1]}", origin=list(origin))
