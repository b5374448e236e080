"""Screenshots as a completion prompt shows them: the step's image, marked, cropped or zoomed, named by a
digest so that a cached answer is found without decoding the image again.

An `ImagePart` is a recipe (file, mark, close-up); `digest()` hashes the file's bytes with the recipe, and
`load()` makes the picture only when a request is really sent. Every screenshot format a trajectory may
hold (tracker.format.screenshot_format: PNG, JPEG XL, WebP, AVIF, JPEG) opens here.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from grounding.base import InvalidScreenshot, load_screenshot, screenshot_size
from grounding.marks import mark_drag, mark_point

__all__ = ["CLOSEUP_FRACTION", "CLOSEUP_ZOOM", "ImagePart", "StepImageError", "image_size"]

CLOSEUP_FRACTION = 0.25  # a close-up shows this share of the screen's width and height around the point
CLOSEUP_ZOOM = 2  # ... enlarged this many times

_file_digests: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 of the bytes
_digest_lock = threading.Lock()


class StepImageError(ValueError):
    """A screenshot that cannot be used: missing, outside the trajectory, or not a readable image."""


def _file_digest(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError as exc:
        raise StepImageError(f"screenshot {path} cannot be read: {exc}") from exc
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _digest_lock:
        known = _file_digests.get(key)
    if known is None:
        try:
            known = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise StepImageError(f"screenshot {path} cannot be read: {exc}") from exc
        with _digest_lock:
            _file_digests[key] = known
    return known


def _open(path: Path) -> Image.Image:
    try:
        return load_screenshot(path)
    except InvalidScreenshot as exc:
        raise StepImageError(f"screenshot {path} cannot be decoded: {exc.__cause__ or exc}") from exc


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the pixels."""
    try:
        return screenshot_size(path)
    except InvalidScreenshot as exc:
        raise StepImageError(f"screenshot {path} cannot be read as an image: {exc.__cause__ or exc}") from exc


def _closeup_box(size: tuple[int, int], point: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box of CLOSEUP_FRACTION of the image around ``point``, moved inside the image."""
    width, height = size
    box_w, box_h = max(1, round(width * CLOSEUP_FRACTION)), max(1, round(height * CLOSEUP_FRACTION))
    left = min(max(point[0] - box_w // 2, 0), max(width - box_w, 0))
    top = min(max(point[1] - box_h // 2, 0), max(height - box_h, 0))
    return left, top, min(left + box_w, width), min(top + box_h, height)


@dataclass(frozen=True)
class ImagePart:
    """One image of a prompt: ``path`` with a red mark (a point, or a drag as two points) and/or a zoomed
    close-up around ``closeup_at``; points are pixels of the screenshot."""

    path: Path
    mark_points: tuple[tuple[int, int], ...] = ()  # one point: dot and circle; two: a drag's arrow
    closeup_at: tuple[int, int] | None = None

    def digest(self) -> str:
        recipe = f"{_file_digest(self.path)}|mark={self.mark_points}|closeup={self.closeup_at}|" \
                 f"{CLOSEUP_FRACTION}x{CLOSEUP_ZOOM}"
        return hashlib.sha256(recipe.encode()).hexdigest()

    def load(self) -> Image.Image:
        image = _open(self.path)
        if len(self.mark_points) == 1:
            image = mark_point(image, self.mark_points[0])
        elif len(self.mark_points) == 2:
            image = mark_drag(image, self.mark_points[0], self.mark_points[1])
        if self.closeup_at is not None:
            box = _closeup_box(image.size, self.closeup_at)
            crop = image.crop(box)
            image = crop.resize((crop.width * CLOSEUP_ZOOM, crop.height * CLOSEUP_ZOOM), Image.Resampling.LANCZOS)
        return image
