"""What a pointer action would hit, for the guards: the accessibility element at the point, else the text
OCR reads at and beside it on the screenshot the proposal was made on.

Planners that give coordinates (end-to-end, UI-TARS, replay) name no target, so without this a
`click (120, 40)` on a "Delete" button would pass every click rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image

from grounding.ocr import text_near

__all__ = ["PointLookup", "PointTarget"]


@dataclass(frozen=True)
class PointTarget:
    """What is at a point: the text the guards read, where it came from, and the element's role."""

    text: str | None
    source: str  # "accessibility" | "ocr" | "none"
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "source": self.source, "role": self.role}


class PointLookup:
    """``at(screenshot, point, origin)``: the target at a desktop point; ``origin`` is the screenshot's
    top-left on the desktop. ``accessibility`` may be None (no AT-SPI): OCR alone then."""

    def __init__(self, accessibility: Any | None = None,
                 read_text: Callable[[Image.Image, tuple[int, int]], str] = text_near) -> None:
        self.accessibility = accessibility
        self.read_text = read_text

    def at(self, screenshot: Image.Image, point: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> PointTarget:
        a11y = self.accessibility
        element = a11y.element_at(*point) if a11y is not None and getattr(a11y, "available", False) else None
        role = element.role if element is not None else None
        if element is not None and element.name and element.name.strip():
            return PointTarget(element.name.strip(), "accessibility", role)
        label = self.read_text(screenshot, (point[0] - origin[0], point[1] - origin[1]))
        return PointTarget(label, "ocr", role) if label else PointTarget(None, "none", role)
