"""Grounding by OCR: find a described label among the text read from a screenshot.

``RapidOcrEngine`` reads a screenshot into ``OcrBox`` es at two levels: *lines* (what the detector
found: a whole menu bar "File Edit View Help" is one line) and *words* (rapidocr's per-word boxes,
which is what makes "click Edit" land on "Edit" alone). ``OcrGrounder`` scores every line and every
run of consecutive words on a line against the description's target text (the description is taken
apart by ``grounding.description``; texts compared by ``grounding.text_match``), so a multi-word target
("Save As") matches the union of its words' boxes as well as a whole line. The role, containers and
anchors the description names are judged on the layout of the text (``grounding.ocr.layout``): a menu
title in a bar, a menu item beside its shortcut, "in the File menu" below where "File" is read, and a
check box's point on the box left of its label.

The embedded default: no network, no GPU (PP-OCRv6 small models ship inside the rapidocr wheel).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np
from PIL import Image

from grounding.base import (
    Box, Candidate, EmptyDescription, GroundingHints, GroundingResult, box_center, check_inputs,
)
from grounding.description import TargetDescription, parse_description
from grounding.ocr.layout import TextLayout, find_text, mark_left_of, place_fit, role_fit
from grounding.text_match import PositionHint, near_score, parse_position_hint, position_score, similarity

if TYPE_CHECKING:
    from grounding.ocr.cache import OcrCache

ENGINE_NAME = "ocr"
DEFAULT_THRESHOLD = 0.8  # one wrong letter in a 5-letter word; "Edit" vs "Exit" (0.75) is a miss
POSITION_WEIGHT = 0.1  # position and nearness only reorder matches that are about equally good
NEAR_WEIGHT = 0.1
ROLE_WEIGHT = 0.15  # a role's place (a menu title in the menu bar) outweighs a place word, not the text
PLACE_WEIGHT = 0.12  # so does a named container or anchor ("in the Find dialog", "below Name")
MARK_ROLES = frozenset({"check box", "radio button"})  # the point goes to the box left of the label
NEAR_SCALE_PX = 150.0
PART_OF_LINE_FACTOR = 0.98  # a word run inside a longer line is slightly weaker evidence than a whole line
OCR_CONFIDENCE_WEIGHT = 0.01  # OCR's own confidence only settles ties between equal texts (never the threshold)
SURE_READ = 0.95  # reads at least this sure are equally good: the tighter box settles their ties
EQUAL_MATCH_MARGIN = 0.06  # matches this close to the best count as "the same text" for ordinals


@dataclass(frozen=True)
class OcrBox:
    """Text read from the screen and its box, in pixels of the image that was read."""

    text: str
    box: Box
    score: float
    level: str = "line"  # "line" | "word"

    def shifted(self, dx: int, dy: int) -> "OcrBox":
        left, top, right, bottom = self.box
        return replace(self, box=(left + dx, top + dy, right + dx, bottom + dy))


class OcrEngine(Protocol):
    """Anything that reads an RGB image into line and word boxes."""

    def read(self, image: Image.Image | np.ndarray) -> list[OcrBox]: ...


def _quad_to_box(quad: Any, width: int, height: int) -> Box:
    """A 4-point polygon as an integer (left, top, right, bottom), clipped to the image."""
    points = np.asarray(quad, dtype=float).reshape(-1, 2)
    left = max(0, int(math.floor(points[:, 0].min())))
    top = max(0, int(math.floor(points[:, 1].min())))
    right = min(width, int(math.ceil(points[:, 0].max())))
    bottom = min(height, int(math.ceil(points[:, 1].max())))
    return left, top, max(right, left + 1), max(bottom, top + 1)


def to_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 RGB array of a PIL image or array (RGBA and grey are converted)."""
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return array[:, :, :3].astype(np.uint8, copy=False)


class RapidOcrEngine:
    """rapidocr (ONNX Runtime, CPU) reading lines and words. Loads on first use; thread-safe.

    Detection runs at the image's own scale (no up- or down-scaling of small crops or big screens),
    so a crop reads the same as the same pixels in a full screenshot — ``OcrCache`` relies on it.
    """

    def __init__(self, params: dict | None = None) -> None:
        self.params = {
            "Global.log_level": "error",  # "nothing detected" in a crop is normal, not a warning
            "Global.use_cls": False,  # screens are upright: the 180-degree classifier only costs time
            "Global.max_side_len": 8192,
            "Global.min_side_len": 16,
            "Det.limit_type": "max",
            "Det.limit_side_len": 8192,
            **(params or {}),
        }
        self._ocr: Any = None
        self._lock = threading.Lock()
        self.calls = 0

    def _engine(self) -> Any:
        if self._ocr is None:
            from rapidocr import RapidOCR  # imported late: it loads onnxruntime

            self._ocr = RapidOCR(params=self.params)
        return self._ocr

    def read(self, image: Image.Image | np.ndarray) -> list[OcrBox]:
        """Lines and words of an RGB image; [] when it holds no text."""
        rgb = to_rgb_array(image)
        height, width = rgb.shape[:2]
        if height < 8 or width < 8:
            return []
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with self._lock:
            self.calls += 1
            result = self._engine()(bgr, return_word_box=True)
        texts = getattr(result, "txts", None)
        if not texts or getattr(result, "boxes", None) is None:
            return []
        boxes: list[OcrBox] = []
        for quad, text, score in zip(result.boxes, texts, result.scores):
            if text.strip():
                boxes.append(OcrBox(text.strip(), _quad_to_box(quad, width, height), float(score), "line"))
        for line_words in getattr(result, "word_results", None) or ():
            for word in line_words or ():
                text, score, quad = word[0], word[1], word[2]
                if quad is not None and str(text).strip():
                    boxes.append(OcrBox(str(text).strip(), _quad_to_box(quad, width, height), float(score), "word"))
        return boxes


_shared_engine: RapidOcrEngine | None = None
_shared_lock = threading.Lock()


def shared_engine() -> RapidOcrEngine:
    """The process's one RapidOcrEngine (models load once)."""
    global _shared_engine
    with _shared_lock:
        if _shared_engine is None:
            _shared_engine = RapidOcrEngine()
        return _shared_engine


# ----- candidates -----------------------------------------------------------------------------------

def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _contains(box: Box, point: tuple[int, int]) -> bool:
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


def _area(box: Box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def group_words_by_line(boxes: Sequence[OcrBox]) -> list[tuple[OcrBox | None, list[OcrBox]]]:
    """Each line with its words (left to right). A word goes to the line that contains its centre and
    overlaps it most; words outside every line come back as lines of their own (line None)."""
    lines = [b for b in boxes if b.level == "line"]
    groups: dict[int, list[OcrBox]] = {i: [] for i in range(len(lines))}
    orphans: list[OcrBox] = []
    for word in (b for b in boxes if b.level == "word"):
        centre = box_center(word.box)
        best, best_overlap = None, 0
        for index, line in enumerate(lines):
            if _contains(line.box, centre):
                overlap = _area((max(line.box[0], word.box[0]), max(line.box[1], word.box[1]),
                                 min(line.box[2], word.box[2]), min(line.box[3], word.box[3])))
                if overlap > best_overlap:
                    best, best_overlap = index, overlap
        (groups[best] if best is not None else orphans).append(word)
    result = [(line, sorted(groups[i], key=lambda w: w.box[0])) for i, line in enumerate(lines)]
    return result + [(None, [word]) for word in orphans]


def text_candidates(boxes: Sequence[OcrBox], targets: Sequence[str | tuple[str, float]],
                    confidences: dict[Box, float] | None = None) -> list[Candidate]:
    """Every line and every run of consecutive words on a line, scored against the best target (a text,
    or a (text, weight) pair: another reading of a description counts a little less). ``confidences``, when
    given, receives OCR's own confidence per candidate box (its least sure word)."""
    weighted = [(t, 1.0) if isinstance(t, str) else (t[0], t[1]) for t in targets]
    target_words = max((len(t.split()) for t, _ in weighted), default=1)
    spans: dict[tuple[str, Box], float] = {}

    def add(text: str, box: Box, confidence: float, part_of_line: bool = False) -> None:
        score = max(weight * similarity(target, text) for target, weight in weighted)
        if part_of_line:  # "Name:" alone beats "name" inside "Type a name"
            score *= PART_OF_LINE_FACTOR
        spans[(text, box)] = max(round(score, 4), spans.get((text, box), 0.0))
        if confidences is not None:
            confidences[box] = max(confidence, confidences.get(box, 0.0))

    for line, words in group_words_by_line(boxes):
        if line is not None:
            add(line.text, line.box, line.score)
        for length in range(max(1, target_words - 1), min(len(words), target_words + 1) + 1):
            for start in range(len(words) - length + 1):
                run = words[start:start + length]
                add(" ".join(w.text for w in run), _union([w.box for w in run]), min(w.score for w in run),
                    length < len(words))
    return [Candidate(box_center(box), box, score, text, ENGINE_NAME) for (text, box), score in spans.items()]


def _reading_order(candidate: Candidate) -> tuple[int, int]:
    x, y = candidate.point
    return y // 12, x  # same text row within ~12 px, then left to right


def _deduplicate(ranked: list[Candidate]) -> list[Candidate]:
    """Drop candidates that are the same spot as a better one (a word run and its whole line)."""
    kept: list[Candidate] = []
    for candidate in ranked:
        if not any(_contains(k.box, candidate.point) or _contains(candidate.box, k.point) for k in kept):
            kept.append(candidate)
    return kept


class OcrGrounder:
    """The Grounder protocol over OCR text (name "ocr"). The point is the centre of the matched text.

    ``cache`` (an ``OcrCache``) makes repeated and slightly changed screenshots cheap; without one every
    call reads the whole screenshot with ``engine`` (default: the process's shared RapidOcrEngine).
    """

    name = ENGINE_NAME

    def __init__(self, engine: OcrEngine | None = None, cache: "OcrCache | None" = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        self.cache = cache
        self.engine = engine or (cache.engine if cache is not None else None) or shared_engine()
        self.threshold = threshold

    def read(self, screenshot: Image.Image) -> list[OcrBox]:
        """The screenshot's text boxes, through the cache when there is one."""
        return self.cache.read(screenshot) if self.cache is not None else self.engine.read(screenshot)

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult:
        started = time.perf_counter()
        screenshot, description = check_inputs(screenshot, description)
        hints = hints or GroundingHints()
        parse = parse_description(description)
        targets = list(parse.targets)
        if hints.element_name and hints.element_name.strip():
            targets.append((hints.element_name, 1.0))
        if not targets:
            raise EmptyDescription(f"no text to look for in {description!r}")
        position = parse_position_hint(hints.position).merged(parse.position)
        boxes = self.read(screenshot)
        details: dict[str, Any] = {"target": parse.text, "ocr_boxes": len(boxes), "threshold": self.threshold,
                                   "position_hint": {k: v for k, v in vars(position).items() if v}}
        if parse.role:
            details["role"] = parse.role
        if self.cache is not None:
            details["ocr_mode"] = self.cache.stats.last_mode
        confidences: dict[Box, float] = {}
        candidates = text_candidates(boxes, targets, confidences)
        ranked = self._rank(candidates, position, hints, screenshot.size, _Placing.of(parse, boxes, self.threshold),
                            confidences)
        good = [c for c in ranked if c.score >= self.threshold]
        latency = lambda: time.perf_counter() - started  # noqa: E731
        if not good:
            best = f" (closest: {ranked[0].label!r} at {ranked[0].score:.2f})" if ranked else ""
            reason = (f"no text match: nothing on the screen reads {parse.text or targets[0][0]!r}{best}" if boxes
                      else "no text match: no text found on the screen")
            return GroundingResult.not_found(ENGINE_NAME, reason, ranked[:5], latency(), **details)
        chosen, ambiguous = self._choose(good, position)
        if chosen is None:
            reason = (f"ambiguous: asked for match number {position.ordinal} of {parse.text!r}; the screen has "
                      f"{ambiguous}")
            return GroundingResult.not_found(ENGINE_NAME, reason, good[:5], latency(), **details)
        others = [c for c in good if c is not chosen]
        if parse.role in MARK_ROLES:  # a check box's label was read: the click goes to its box
            mark = mark_left_of(screenshot, chosen.box)
            if mark is not None:
                chosen = replace(chosen, point=box_center(mark), box=_union([mark, chosen.box]))
                details["mark"] = list(mark)
        return GroundingResult.hit(chosen, [chosen, *others][:5], latency(), equal_matches=ambiguous, **details)

    def _rank(self, candidates: list[Candidate], position: PositionHint, hints: GroundingHints,
              size: tuple[int, int], placing: "_Placing", confidences: dict[Box, float]) -> list[Candidate]:
        """Best first: text similarity, then role, container, position hint and nearness, OCR's confidence
        when it was unsure (a "1" read well beats a "/" misread as "1"), then the tighter box."""
        placed = position.vertical or position.horizontal or position.region

        def key(candidate: Candidate) -> tuple[float, int]:
            value = candidate.score + OCR_CONFIDENCE_WEIGHT * min(confidences.get(candidate.box, 1.0), SURE_READ)
            if placed:
                value += POSITION_WEIGHT * position_score(candidate.box, position, size)
            if hints.near is not None:
                value += NEAR_WEIGHT * near_score(candidate.box, hints.near, NEAR_SCALE_PX)
            value += placing.score(candidate.box, size)
            return round(value, 6), -_area(candidate.box)

        return _deduplicate(sorted(candidates, key=key, reverse=True))

    @staticmethod
    def _choose(good: list[Candidate], position: PositionHint) -> tuple[Candidate | None, int]:
        """The best match, or the n-th (reading order) of the equally good ones when an ordinal was given.
        Also returns how many equally good matches there are."""
        equal = [c for c in good if c.score >= good[0].score - EQUAL_MATCH_MARGIN]
        if not position.ordinal:
            return good[0], len(equal)
        in_order = sorted(equal, key=_reading_order)
        index = position.ordinal - 1 if position.ordinal > 0 else len(in_order) + position.ordinal
        return (in_order[index] if 0 <= index < len(in_order) else None), len(equal)


class _Placing:
    """What the description says about the target's place, judged on the OCR layout (grounding.ocr.layout):
    its role (a menu title sits in a bar), its containers and a relative anchor ("below Name")."""

    def __init__(self, parse: TargetDescription, layout: Any, anchors: list[tuple[Box, str]]) -> None:
        self.parse, self.layout, self.anchors = parse, layout, anchors

    @classmethod
    def of(cls, parse: TargetDescription, boxes: Sequence[OcrBox], threshold: float) -> "_Placing":
        if not (parse.role or parse.verb == "open" or parse.containers or parse.relative):
            return cls(parse, None, [])
        anchors = []
        for container in parse.containers:
            if container.name and (box := find_text(text_candidates(boxes, [container.name]), threshold)):
                anchors.append((box, "inside"))
        if parse.relative and (box := find_text(text_candidates(boxes, [parse.relative[1]]), threshold)):
            anchors.append((box, parse.relative[0]))
        return cls(parse, TextLayout(group_words_by_line(boxes)), anchors)

    def score(self, box: Box, size: tuple[int, int]) -> float:
        if self.layout is None:
            return 0.0
        value = 0.0
        fit = role_fit(box, self.parse.role, self.parse.verb, self.layout, size)
        if fit is not None:
            value += ROLE_WEIGHT * fit
        for anchor, relation in self.anchors:
            if anchor != box:
                value += PLACE_WEIGHT * place_fit(box, anchor, relation)
        return value


NEAR_BAND = (320, 14)  # how far left/right and up/down of a point a label is read


def text_near(image: Image.Image, point: tuple[int, int], band: tuple[int, int] = NEAR_BAND,
              engine: OcrEngine | None = None) -> str:
    """The text line at ``point`` of ``image``, or the nearest one on the same row, or "" (OCR of a small
    band around the point; a best effort: an OCR failure gives "")."""
    x, y = point
    crop = (max(x - band[0], 0), max(y - band[1], 0), min(x + band[0], image.width), min(y + band[1], image.height))
    if crop[2] - crop[0] < 8 or crop[3] - crop[1] < 8:
        return ""
    try:
        lines = [b for b in (engine or shared_engine()).read(image.crop(crop)) if b.level == "line" and b.text.strip()]
    except Exception:  # noqa: BLE001 - whatever OCR raises, there is simply no label
        return ""
    if not lines:
        return ""

    def distance(line: OcrBox) -> float:
        left, right = line.box[0] + crop[0], line.box[2] + crop[0]
        return 0.0 if left <= x <= right else min(abs(x - left), abs(x - right))

    return min(lines, key=distance).text.strip()

