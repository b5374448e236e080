"""Marks drawn on a copy of a screenshot: where a click will land, or a drag's path.

Used to ask a verifier model "is the mark on <description>?" and for the tracker's marked
screenshots (PC Agent: red box, dot and circle for a click; an arrow for a drag). The input image is
never modified. Sizes scale with the image so marks stay visible on 4K screenshots and small crops.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from grounding.base import Box, Point

__all__ = ["mark_point", "mark_drag"]


def _sizes(image: Image.Image) -> tuple[int, int, int]:
    """(line width, dot radius, circle radius) for this image."""
    unit = max(min(image.width, image.height) / 800, 0.5)
    return max(2, round(3 * unit)), max(3, round(5 * unit)), max(10, round(22 * unit))


def mark_point(image: Image.Image, point: Point, box: Box | None = None, color: str = "red") -> Image.Image:
    """A copy of ``image`` with the box outlined (when given), a dot at ``point`` and a circle round it."""
    marked = image.convert("RGB")  # always a copy
    draw = ImageDraw.Draw(marked)
    line, dot, circle = _sizes(marked)
    x, y = point
    if box is not None:
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=color, width=line)
    draw.ellipse((x - circle, y - circle, x + circle, y + circle), outline=color, width=line)
    draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=color)
    return marked


def mark_drag(image: Image.Image, start: Point, end: Point, color: str = "red") -> Image.Image:
    """A copy of ``image`` with a dot at ``start`` and an arrow from it to ``end``."""
    marked = image.convert("RGB")
    draw = ImageDraw.Draw(marked)
    line, dot, circle = _sizes(marked)
    (x1, y1), (x2, y2) = start, end
    draw.ellipse((x1 - dot, y1 - dot, x1 + dot, y1 + dot), fill=color)
    draw.line((x1, y1, x2, y2), fill=color, width=line)
    length = math.hypot(x2 - x1, y2 - y1)
    if length >= 1:
        head = min(circle, length / 2)  # arrowhead: two short strokes back from the end at +-30 degrees
        angle = math.atan2(y2 - y1, x2 - x1)
        wings = [(x2 - head * math.cos(angle + s * math.pi / 6), y2 - head * math.sin(angle + s * math.pi / 6))
                 for s in (-1, 1)]
        draw.polygon([(x2, y2), *wings], fill=color)
    return marked
