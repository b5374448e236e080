"""Grounding by template: find a crop recorded in an earlier step (``hints.template``) on the screen.

OpenCV ``matchTemplate`` with TM_CCOEFF_NORMED on grayscale, at several scales so that a crop taken
at one display scale factor is still found at another (1x / 1.5x / 2x). For speed a coarse pass runs
on a downscaled screenshot; the best places it finds are then matched again at full resolution in
a small window around each. Two distant matches with near-equal scores are ambiguous: ``hints.near``
picks one, otherwise the result says so with a lower confidence and both in its candidates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from grounding.base import Box, Candidate, GroundingHints, GroundingResult, check_inputs

__all__ = ["TemplateGrounder", "crop_template", "DEFAULT_SCALES"]

DEFAULT_SCALES = (0.5, 0.67, 0.75, 0.8, 0.9, 1.0, 1.1, 1.25, 1.33, 1.5, 2.0)
_COARSE_MAX_SIDE = 640  # the coarse pass works on a screenshot at most this big
_COARSE_MIN_TEMPLATE = 12  # ...but never shrinks a template below this many pixels a side
_MIN_TEMPLATE = 4  # a template smaller than this at some scale is not tried at that scale
_PEAKS_PER_SCALE = 3  # coarse peaks kept per scale
_REFINE_TOP = 6  # coarse peaks refined at full resolution
_FINE_SCALE_STEPS = (0.94, 0.97, 1.03, 1.06)  # tried around the best scale at the best place
_AMBIGUOUS_MARGIN = 0.03  # a second distant match this close to the best is a tie
_FLAT_STD = 2.0  # a template with less grey-level spread than this has nothing to match on


def crop_template(screenshot: Image.Image, box: Box, pad: int = 4) -> Image.Image:
    """The part of ``screenshot`` inside ``box`` plus ``pad`` pixels around it (clipped), as RGB."""
    left, top = max(box[0] - pad, 0), max(box[1] - pad, 0)
    right, bottom = min(box[2] + pad, screenshot.width), min(box[3] + pad, screenshot.height)
    if right <= left or bottom <= top:
        raise ValueError(f"box {box} lies off the {screenshot.width}x{screenshot.height} screenshot")
    return screenshot.crop((left, top, right, bottom)).convert("RGB")


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.uint8)


def _resize(array: np.ndarray, factor: float) -> np.ndarray:
    height, width = array.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(array, size, interpolation=interpolation)


def _match(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    result = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED)
    # flat image patches divide by ~0: OpenCV may leave inf/NaN or values just beyond 1 there
    return np.clip(np.nan_to_num(result, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


@dataclass(frozen=True)
class _Match:
    score: float
    scale: float
    box: Box  # full-resolution screenshot pixels

    @property
    def center(self) -> tuple[int, int]:
        return (self.box[0] + self.box[2] - 1) // 2, (self.box[1] + self.box[3] - 1) // 2


def _peaks(result: np.ndarray, count: int, suppress: tuple[int, int]) -> list[tuple[float, int, int]]:
    """The ``count`` best (score, x, y) in a match map, each at least a template apart."""
    result = result.copy()
    peaks = []
    for _ in range(count):
        _, score, _, (x, y) = cv2.minMaxLoc(result)
        if score <= -1.0:
            break
        peaks.append((float(score), x, y))
        half_w, half_h = max(suppress[0] // 2, 1), max(suppress[1] // 2, 1)
        result[max(y - half_h, 0): y + half_h + 1, max(x - half_w, 0): x + half_w + 1] = -1.0
    return peaks


class TemplateGrounder:
    """Find ``hints.template`` in the screenshot, across display scale factors."""

    name = "template"

    def __init__(self, min_score: float = 0.8, scales: tuple[float, ...] = DEFAULT_SCALES) -> None:
        self.min_score = min_score
        self.scales = tuple(scales)

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult:
        """``description`` is only for messages; what is looked for is ``hints.template``."""
        screenshot, description = check_inputs(screenshot, description)
        start = time.monotonic()
        template = hints.template if hints else None
        if template is None:
            return GroundingResult.not_found(self.name, "no template: this engine needs hints.template")
        image, crop = _gray(screenshot), _gray(template)
        if crop.size == 0 or float(crop.std()) < _FLAT_STD:
            return GroundingResult.not_found(self.name, "the template is blank (no detail to match on)",
                                             latency_s=time.monotonic() - start)
        matches = self._find(image, crop)
        latency = time.monotonic() - start
        if not matches or matches[0].score < self.min_score:
            best = f" (best {matches[0].score:.2f} at scale {matches[0].scale})" if matches else ""
            return GroundingResult.not_found(
                self.name, f"template for {description!r} not found: best score below {self.min_score}{best}",
                candidates=[self._candidate(m, description) for m in matches[:3]], latency_s=latency)
        return self._answer(matches, description, hints, latency)

    # ---- searching ------------------------------------------------------------------------------

    def _find(self, image: np.ndarray, crop: np.ndarray) -> list[_Match]:
        """Distinct matches, best first: a coarse pass over every scale, then full-resolution refinement."""
        height, width = image.shape
        base = min(1.0, _COARSE_MAX_SIDE / max(width, height))
        coarse_images: dict[float, np.ndarray] = {}
        coarse: list[tuple[float, float, int, int]] = []  # score, scale, full-res x, y
        for scale in self.scales:
            t_h, t_w = round(crop.shape[0] * scale), round(crop.shape[1] * scale)
            if min(t_h, t_w) < _MIN_TEMPLATE or t_h > height or t_w > width:
                continue
            # shrink less when the template would get too small to mean anything
            factor = min(1.0, max(base, _COARSE_MIN_TEMPLATE / min(t_h, t_w)))
            factor = round(factor, 2)
            small = coarse_images.get(factor)
            if small is None:
                small = coarse_images[factor] = _resize(image, factor) if factor < 1 else image
            small_template = _resize(crop, scale * factor)
            if small_template.shape[0] > small.shape[0] or small_template.shape[1] > small.shape[1]:
                continue
            result = _match(small, small_template)
            for score, x, y in _peaks(result, _PEAKS_PER_SCALE, small_template.shape[::-1]):
                coarse.append((score, scale, round(x / factor), round(y / factor)))
        coarse.sort(reverse=True)
        refined = [self._refine(image, crop, scale, x, y, base) for _, scale, x, y in _to_refine(coarse, crop.shape)]
        matches = _distinct(sorted((m for m in refined if m), key=lambda m: -m.score))
        if matches:  # the scale list is coarse: try a little either side of the best scale
            best = matches[0]
            cx, cy = best.box[0], best.box[1]
            finer = [self._refine(image, crop, best.scale * f, cx, cy, 1.0) for f in _FINE_SCALE_STEPS]
            matches[0] = max([best] + [m for m in finer if m], key=lambda m: m.score)
        return matches

    def _refine(self, image: np.ndarray, crop: np.ndarray, scale: float, x: int, y: int,
                base: float) -> _Match | None:
        """Match at full resolution in a window around a coarse hit."""
        template = _resize(crop, scale) if scale != 1.0 else crop
        t_h, t_w = template.shape
        margin = int(2 / base) + 4  # the coarse grid's step, twice, plus rounding
        left, top = max(x - margin, 0), max(y - margin, 0)
        right = min(x + t_w + margin, image.shape[1])
        bottom = min(y + t_h + margin, image.shape[0])
        window = image[top:bottom, left:right]
        if window.shape[0] < t_h or window.shape[1] < t_w:
            return None
        _, score, _, (dx, dy) = cv2.minMaxLoc(_match(window, template))
        bx, by = left + dx, top + dy
        return _Match(float(score), scale, (bx, by, bx + t_w, by + t_h))

    # ---- answering ------------------------------------------------------------------------------

    def _candidate(self, match: _Match, description: str, score: float | None = None) -> Candidate:
        return Candidate(match.center, match.box, round(match.score if score is None else score, 4),
                         description, self.name)

    def _answer(self, matches: list[_Match], description: str, hints: GroundingHints | None,
                latency: float) -> GroundingResult:
        best = matches[0]
        rivals = [m for m in matches[1:] if m.score >= self.min_score and best.score - m.score <= _AMBIGUOUS_MARGIN]
        details = {"scale": round(best.scale, 3), "score": round(best.score, 4)}
        if not rivals:
            candidates = [self._candidate(m, description) for m in matches[:5]]
            return GroundingResult.hit(candidates[0], candidates, latency_s=latency, **details)
        tied = [best] + rivals
        if hints is not None and hints.near is not None:
            near = hints.near
            tied.sort(key=lambda m: (m.center[0] - near[0]) ** 2 + (m.center[1] - near[1]) ** 2)
            chosen = tied[0]
            candidates = [self._candidate(chosen, description)] + [self._candidate(m, description)
                                                                   for m in matches if m is not chosen][:4]
            return GroundingResult.hit(candidates[0], candidates, latency_s=latency, ambiguous=len(tied),
                                       resolved_by="near", **details)
        # nothing to choose by: the best, with a confidence that says it may be another one
        confidence = best.score / len(tied)
        candidates = [self._candidate(m, description, confidence) for m in tied]
        candidates += [self._candidate(m, description) for m in matches if m not in tied][:3]
        return GroundingResult.hit(candidates[0], candidates, latency_s=latency, ambiguous=len(tied), **details)


def _to_refine(coarse: list[tuple[float, float, int, int]],
               shape: tuple[int, int]) -> list[tuple[float, float, int, int]]:
    """The best coarse hits (often one place at neighbouring scales), then the best elsewhere."""
    chosen = coarse[:_REFINE_TOP // 2]
    for hit in coarse[_REFINE_TOP // 2:]:
        if len(chosen) >= _REFINE_TOP:
            break
        reach_x, reach_y = shape[1] * hit[1] / 2, shape[0] * hit[1] / 2
        if all(abs(hit[2] - c[2]) > reach_x or abs(hit[3] - c[3]) > reach_y for c in chosen):
            chosen.append(hit)
    return chosen


def _distinct(matches: list[_Match]) -> list[_Match]:
    """Drop matches that overlap a better one by more than half (the same place found twice)."""
    kept: list[_Match] = []
    for match in matches:
        if not any(_overlap(match.box, k.box) > 0.5 for k in kept):
            kept.append(match)
    return kept


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1)
