"""Grounding: "where on this screenshot is <description>?" — the shared types.

Every engine answers with a `GroundingResult`. "Not found" is an explicit answer
(`found=False` with a reason), never a point at (0, 0). Points and boxes are pixels of
the screenshot the engine was given; turning model-space coordinates into them happens
in `grounding.coordinates` only.

Errors:

    GroundingError
     ├── InvalidScreenshot    unreadable, empty or zero-sized image
     └── EmptyDescription     nothing to look for
    (a model engine lets models.errors.ModelError through: unreachable server, HTML, ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

from models.images import register_image_plugins

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)
Point = tuple[int, int]


def box_center(box: Box | list[int]) -> Point:
    """The middle pixel of a box."""
    return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2


def box_contains(box: Box | list[int], point: Point) -> bool:
    """Whether a point lies inside a box (right/bottom exclusive)."""
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


class GroundingError(ValueError):
    """Bad input to a grounder."""


class InvalidScreenshot(GroundingError):
    pass


class EmptyDescription(GroundingError):
    pass


@dataclass(frozen=True)
class Candidate:
    point: Point
    box: Box | None
    score: float  # 0..1, engine-specific but comparable within one engine
    label: str | None = None  # the text/name that matched
    engine: str = ""


@dataclass(frozen=True)
class GroundingHints:
    """What else is known about the target, all optional."""

    position: str | None = None  # "top right", "in the menu bar", "bottom left"...
    role: str | None = None  # "push button", "menu item", "text"...
    element_name: str | None = None  # an accessible name recorded earlier
    template: Image.Image | None = None  # a crop of the target from an earlier screenshot
    near: Point | None = None  # where it was before (replay): ties go to the nearest
    screen_origin: Point = (0, 0)  # the screenshot's top-left on the virtual desktop


@dataclass(frozen=True)
class GroundingResult:
    found: bool
    point: Point | None
    box: Box | None
    confidence: float
    engine: str
    candidates: tuple[Candidate, ...] = ()
    reason: str | None = None  # why not found
    latency_s: float = 0.0
    details: dict = field(default_factory=dict)  # engine-specific (model output, tries, ...)

    @classmethod
    def hit(cls, candidate: Candidate, candidates=(), latency_s: float = 0.0, **details) -> "GroundingResult":
        return cls(True, candidate.point, candidate.box, candidate.score, candidate.engine,
                   tuple(candidates) or (candidate,), None, latency_s, dict(details))

    @classmethod
    def not_found(cls, engine: str, reason: str, candidates=(), latency_s: float = 0.0,
                  **details) -> "GroundingResult":
        return cls(False, None, None, 0.0, engine, tuple(candidates), reason, latency_s, dict(details))

    def to_dict(self) -> dict:
        """For trajectories: JSON-ready, candidates summarised."""
        return {
            "found": self.found, "point": list(self.point) if self.point else None,
            "box": list(self.box) if self.box else None, "confidence": round(self.confidence, 4),
            "engine": self.engine, "reason": self.reason, "latency_s": round(self.latency_s, 4),
            "candidates": [{"point": list(c.point), "box": list(c.box) if c.box else None,
                            "score": round(c.score, 4), "label": c.label, "engine": c.engine}
                           for c in self.candidates[:5]],
            **self.details,
        }


@runtime_checkable
class Grounder(Protocol):
    name: str

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult: ...


def check_inputs(screenshot: object, description: object) -> tuple[Image.Image, str]:
    """Validate what every engine gets; raise InvalidScreenshot / EmptyDescription."""
    if not isinstance(screenshot, Image.Image):
        raise InvalidScreenshot(f"expected a PIL image, got {type(screenshot).__name__}")
    if screenshot.width <= 0 or screenshot.height <= 0:
        raise InvalidScreenshot(f"empty screenshot ({screenshot.width}x{screenshot.height})")
    if not isinstance(description, str) or not description.strip():
        raise EmptyDescription("the target description is empty")
    return screenshot, description.strip()


def load_screenshot(path) -> Image.Image:
    """Open an image file as RGB (any screenshot format a trajectory may hold), mapping every failure to
    InvalidScreenshot."""
    register_image_plugins()
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidScreenshot(f"cannot read screenshot {path}: {exc}") from exc


def screenshot_size(path) -> tuple[int, int]:
    """(width, height) of an image file (any screenshot format) from its header, without decoding the
    pixels; InvalidScreenshot for a file that is missing or not an image."""
    register_image_plugins()
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidScreenshot(f"cannot read screenshot {path}: {exc}") from exc
