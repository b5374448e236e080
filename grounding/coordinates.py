"""The one place that maps model-space coordinates to screenshot pixels and back.

A grounding model answers in its own coordinate space (its profile's `output_convention`,
see models.profile.OUTPUT_CONVENTIONS):

- ``molmo_percent``: percent of the image, ``<point x="12.5" y="40.1">``;
- ``norm1000``: 0..1000 of the image (OS-Atlas, UI-TARS 1.0/2, Qwen2-VL, Qwen3-VL, Molmo2);
- ``norm1``: 0..1 of the image (OpenCUA-Qwen2-7B and -A3B);
- ``absolute``: pixels of the image the model was given (Qwen2.5-VL) — which may be a resized
  copy of the screenshot, so pass ``model_image_size``;
- ``uitars_resized``: pixels of the factor-28 "smart resized" image the model's processor
  made from the image it was given (UI-TARS 1.5; Qwen2.5-VL and OpenCUA-7B/32B resize the same way,
  with a smaller minimum that no screenshot reaches).

`parse_points` pulls the points out of the answer text (model space), `to_screen` maps one to
a pixel of the screenshot, `from_screen` is the inverse. A point off the image is never
returned: parse_points skips it where the range is known, to_screen raises CoordinateError.
`ScreenFrame` binds a convention to one screenshot, the copy the model was sent and where the screenshot
lies on the virtual desktop: what a planner or cognition completion maps a model's points through.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable

from models.images import smart_resize as qwen_smart_resize

__all__ = [
    "CONVENTIONS", "CoordinateError", "UITARS_MIN_PIXELS", "UITARS_MAX_PIXELS", "ScreenFrame",
    "smart_resize", "model_frame_size", "to_screen", "from_screen", "parse_points", "written_decimals",
    "describe_convention",
]

CONVENTIONS = ("molmo_percent", "norm1000", "absolute", "uitars_resized", "norm1")

# UI-TARS' own constants (README_coordinates.md); Qwen2-VL's processor defaults differ (smart_resize's).
UITARS_MIN_PIXELS = 100 * 28 * 28
UITARS_MAX_PIXELS = 16384 * 28 * 28

# How far outside the image a mapped point may land and still count as rounding (screen pixels).
_ROUNDING_SLACK = 0.5

Size = tuple[int, int]


class CoordinateError(ValueError):
    """A coordinate that cannot be a point of the image: NaN, off the image, unknown convention."""


def smart_resize(width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 14 * 14 * 4 * 1280) -> Size:
    """The (width, height) a Qwen2-VL-style processor resizes an image to.

    Both sides become multiples of ``factor``, the pixel count lands in [min_pixels, max_pixels]
    and the aspect ratio is kept as closely as possible.
    """
    try:
        return qwen_smart_resize(width, height, factor, min_pixels, max_pixels)
    except ValueError as exc:
        raise CoordinateError(str(exc)) from None


def model_frame_size(convention: str, image_size: Size, model_image_size: Size | None = None, *,
                     min_pixels: int = UITARS_MIN_PIXELS, max_pixels: int = UITARS_MAX_PIXELS) -> tuple[float, float]:
    """The extent of the model's coordinate space: what x and y reach at the image's far edges."""
    sent = model_image_size or image_size
    if convention == "molmo_percent":
        return 100.0, 100.0
    if convention == "norm1000":
        return 1000.0, 1000.0
    if convention == "norm1":
        return 1.0, 1.0
    if convention == "absolute":
        return float(sent[0]), float(sent[1])
    if convention == "uitars_resized":
        width, height = smart_resize(sent[0], sent[1], min_pixels=min_pixels, max_pixels=max_pixels)
        return float(width), float(height)
    raise CoordinateError(f"unknown output convention {convention!r}; expected one of {', '.join(CONVENTIONS)}")


def _check_size(size: Size, what: str) -> None:
    if len(size) != 2 or size[0] <= 0 or size[1] <= 0:
        raise CoordinateError(f"{what} must be a positive (width, height), got {size!r}")


def to_screen(x: float, y: float, convention: str, image_size: Size, model_image_size: Size | None = None,
              **resize_bounds: int) -> tuple[int, int]:
    """A model-space point as a pixel of the screenshot of ``image_size``.

    ``model_image_size``: the size of the (possibly resized) copy the model was shown.
    ``resize_bounds``: min_pixels / max_pixels for ``uitars_resized`` (UI-TARS' by default).
    Raises CoordinateError for NaN/infinite values and points off the image beyond rounding.
    """
    _check_size(image_size, "image_size")
    if model_image_size is not None:
        _check_size(model_image_size, "model_image_size")
    if not (math.isfinite(x) and math.isfinite(y)):
        raise CoordinateError(f"not a finite point: ({x}, {y})")
    frame_w, frame_h = model_frame_size(convention, image_size, model_image_size, **resize_bounds)
    width, height = image_size
    px, py = x / frame_w * width, y / frame_h * height
    if not (-_ROUNDING_SLACK <= px <= width + _ROUNDING_SLACK and -_ROUNDING_SLACK <= py <= height + _ROUNDING_SLACK):
        raise CoordinateError(f"({x:g}, {y:g}) in {convention} lies off the {width}x{height} image")
    # the far edge (100 %, 1000, the full width) is the last pixel, not one past it
    return min(max(round(px), 0), width - 1), min(max(round(py), 0), height - 1)


def from_screen(px: float, py: float, convention: str, image_size: Size, model_image_size: Size | None = None,
                **resize_bounds: int) -> tuple[float, float]:
    """A screenshot pixel in the model's coordinate space (the inverse of `to_screen`)."""
    _check_size(image_size, "image_size")
    if not (math.isfinite(px) and math.isfinite(py)):
        raise CoordinateError(f"not a finite point: ({px}, {py})")
    width, height = image_size
    if not (0 <= px < width and 0 <= py < height):
        raise CoordinateError(f"({px:g}, {py:g}) lies off the {width}x{height} image")
    frame_w, frame_h = model_frame_size(convention, image_size, model_image_size, **resize_bounds)
    return px / width * frame_w, py / height * frame_h


_DESCRIPTIONS = {
    "absolute": "x and y are pixels of the screenshot you are shown ({w} x {h}); (0, 0) is its top-left corner",
    "uitars_resized": "x and y are pixels of the screenshot you are shown ({w} x {h}); (0, 0) is its top-left corner",
    "norm1000": "x and y run from 0 to 1000 across the screenshot's width and height; (0, 0) is its top-left",
    "molmo_percent": "x and y are percent (0 to 100) of the screenshot's width and height; (0, 0) is its top-left",
    "norm1": "x and y are fractions from 0 to 1 of the screenshot's width and height; (0, 0) is its top-left",
}


def describe_convention(convention: str, sent_size: Size) -> str:
    """The convention in one sentence for a model's prompt (no full stop), with the size of the image it is
    sent where its coordinates are that image's pixels."""
    if convention not in _DESCRIPTIONS:
        raise CoordinateError(f"unknown output convention {convention!r}; expected one of {', '.join(CONVENTIONS)}")
    return _DESCRIPTIONS[convention].format(w=sent_size[0], h=sent_size[1])


def written_decimals(convention: str) -> int:
    """How many decimal places a convention's coordinates are written with when shown to a model: percent
    to a tenth, 0..1 to a thousandth, the rest whole numbers."""
    return {"molmo_percent": 1, "norm1": 3}.get(convention, 0)


@dataclass(frozen=True)
class ScreenFrame:
    """One screenshot as a model sees it: the model's coordinate space (``convention``) on the copy it was
    sent (``sent_size``, made from the screenshot's ``screen_size``), and where the screenshot's top-left
    lies on the virtual desktop (``origin``)."""

    convention: str
    screen_size: Size
    sent_size: Size
    origin: tuple[int, int]

    def to_desktop(self, x: float, y: float) -> tuple[int, int]:
        """A model-space point as a desktop pixel; CoordinateError when it is off the screenshot."""
        px, py = to_screen(x, y, self.convention, self.screen_size, self.sent_size)
        return px + self.origin[0], py + self.origin[1]

    def to_model(self, x: int, y: int) -> tuple[float, float]:
        """A desktop pixel in the model's space (the inverse of `to_desktop`)."""
        return from_screen(x - self.origin[0], y - self.origin[1], self.convention, self.screen_size,
                           self.sent_size)

    def extent(self) -> tuple[float, float]:
        """What x and y reach at the screenshot's far edges in the model's space."""
        return model_frame_size(self.convention, self.screen_size, self.sent_size)


# ---- parsing model answers ------------------------------------------------------------------------

MAX_ANSWER_CHARS = 20_000  # a pointing answer is short; longer text is cut, not parsed in full
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_SEP = r"(?:\s*,\s*|\s+)"  # "12,40", "12, 40", "12 40" (no two quantifiers over the same spaces: linear)

# Tried in this order; each match is blanked out so later (looser) patterns do not count it again.
_PATTERNS: list[tuple[str, re.Pattern]] = [
    # Molmo2: <points coords="1 1 308 305 2 752 377">: an image (or frame) index, then (id, x, y) triplets
    # in 0..1000; frames are separated by ";"
    ("molmo2", re.compile(r"""<points?\s[^>]*?\bcoords\s*=\s*["']([^"']*)["'][^>]*>""", re.I)),
    # Molmo: <point x="12.5" y="40" alt="...">  /  <points x1="1" y1="2" x2="3" y2="4" ...>
    ("molmo", re.compile(r"<points?\s([^>]*)>", re.I)),
    # UI-TARS 1.5+/2: <point>235 512</point>, <bbox>x1 y1 x2 y2</bbox>
    ("tag_point", re.compile(rf"<point>\s*(?:\(\s*)?({_NUM}){_SEP}({_NUM})\s*(?:\)\s*)?</point>", re.I)),
    ("tag_box", re.compile(rf"<bbox>\s*({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})\s*</bbox>", re.I)),
    # <bbox>x y</bbox>: a box given as one point (UI-TARS answers seen by UI-TARS-desktop)
    ("tag_box_point", re.compile(rf"<bbox>\s*({_NUM}){_SEP}({_NUM})\s*</bbox>", re.I)),
    # Qwen2-VL / OS-Atlas / UI-TARS: <|box_start|>(x1,y1),(x2,y2)<|box_end|> — also with the special
    # tokens stripped by the server: (x1,y1),(x2,y2)
    ("pair_box", re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")),
    # [x1, y1, x2, y2] / (x1, y1, x2, y2): a box, its centre is the point
    ("box4", re.compile(rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*[\])]")),
    # (x, y) / [x, y] — also inside start_box='(x,y)' and <|box_start|>(x,y)<|box_end|>
    ("pair", re.compile(rf"[\[(]\s*({_NUM})\s*,\s*({_NUM})\s*[\])]")),
    # {"x": 12, "y": 40} / x=12, y=40
    ("keyed", re.compile(rf"""(?<![A-Za-z0-9_])["']?x["']?\s*[:=]\s*["']?({_NUM})["']?\s*[,;]?\s*"""
                         rf"""["']?y["']?\s*[:=]\s*["']?({_NUM})""", re.I)),
]
_ATTR = re.compile(rf"""\b([xy]\d*)\s*=\s*["']?({_NUM})\s*%?["']?""", re.I)


def _molmo_points(attributes: str) -> list[tuple[float, float]]:
    """Points from the attributes of a Molmo <point>/<points> tag: x/y or x1/y1, x2/y2, ..."""
    values = {key.lower(): float(value) for key, value in _ATTR.findall(attributes)}
    if "x" in values and "y" in values:
        return [(values["x"], values["y"])]
    points = []
    index = 1
    while f"x{index}" in values and f"y{index}" in values:
        points.append((values[f"x{index}"], values[f"y{index}"]))
        index += 1
    return points


def _molmo2_points(coords: str) -> list[tuple[float, float]]:
    """(x, y) of each (id, x, y) triplet after each frame's leading index: "1 1 308 305 2 752 377"."""
    points = []
    for frame in coords.split(";"):
        numbers = [float(n) for n in frame.split()]
        if len(numbers) % 3 == 1:  # the image or frame index comes first
            numbers = numbers[1:]
        if len(numbers) % 3:
            return []  # not triplets: not read at all rather than read shifted
        points += [(numbers[i + 1], numbers[i + 2]) for i in range(0, len(numbers), 3)]
    return points


def _points_of(kind: str, groups: tuple[str, ...]) -> list[tuple[float, float]]:
    if kind == "molmo":
        return _molmo_points(groups[0])
    if kind == "molmo2":
        return _molmo2_points(groups[0])
    numbers = [float(g) for g in groups]
    if len(numbers) == 4:  # a box: its centre
        x1, y1, x2, y2 = numbers
        return [((x1 + x2) / 2, (y1 + y2) / 2)]
    return [(numbers[0], numbers[1])]


def _in_range(point: tuple[float, float], convention: str | None) -> bool:
    """Finite, not negative beyond rounding, and within the convention's range where it is fixed."""
    x, y = point
    # rounding slack in model units: half a unit, but 0..1 has no whole units to round to
    slack = _ROUNDING_SLACK / 1000 if convention == "norm1" else _ROUNDING_SLACK
    if not (math.isfinite(x) and math.isfinite(y)) or x < -slack or y < -slack:
        return False
    limit = {"molmo_percent": 100.0, "norm1000": 1000.0, "norm1": 1.0}.get(convention or "")
    return limit is None or (x <= limit + slack and y <= limit + slack)


def parse_points(text: str, convention: str | None = None) -> list[tuple[float, float]]:
    """Every point in a model's answer, in model space, in the order they appear.

    Understands Molmo ``<point x=".." y="..">`` / ``<points x1=.. y1=..>``, Molmo2
    ``<points coords="1 1 308 305">``, ``(x, y)``, ``[x, y]``,
    ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, UI-TARS ``click(start_box='(x,y)')`` and
    ``<point>x y</point>``, boxes ``[x1, y1, x2, y2]`` (their centre) and ``{"x": .., "y": ..}``.
    Points that cannot be on the image (NaN, negative, over 100 % / 1000) are skipped.
    """
    if convention is not None and convention not in CONVENTIONS:
        raise CoordinateError(f"unknown output convention {convention!r}; expected one of {', '.join(CONVENTIONS)}")
    if not isinstance(text, str) or not text:
        return []
    remaining = text[:MAX_ANSWER_CHARS]
    found: list[tuple[int, tuple[float, float]]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(remaining):
            try:
                points = _points_of(kind, match.groups())
            except (ValueError, OverflowError):
                points = []
            found.extend((match.start(), p) for p in points)
        remaining = pattern.sub(lambda m: " " * len(m.group(0)), remaining)
    found.sort(key=lambda item: item[0])
    return [p for _, p in found if _in_range(p, convention)]


def median_point(points: Iterable[tuple[float, float]]) -> tuple[float, float]:
    """The component-wise median of some points (for picking among sampled answers)."""
    xs = sorted(p[0] for p in points)
    ys = sorted(p[1] for p in points)
    if not xs:
        raise CoordinateError("no points")
    mid = len(xs) // 2
    if len(xs) % 2:
        return xs[mid], ys[mid]
    return (xs[mid - 1] + xs[mid]) / 2, (ys[mid - 1] + ys[mid]) / 2
