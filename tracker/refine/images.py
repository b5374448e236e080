"""The screenshot work of refinement: comparing two screenshots' pixels, reading an image's size, and
encoding a changed image (resized, marked) in the format its source file was stored in."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from grounding.base import load_screenshot
from tracker.format.screenshot_format import FORMATS, LOSSY_ONLY, ScreenshotFormat

__all__ = ["DEFAULT_LOSSY_QUALITY", "encode_like", "same_pixels", "screenshot_extension"]

DEFAULT_LOSSY_QUALITY = 90  # for a lossy source whose meta.json does not say its quality
_FORMAT_OF_EXTENSION = {"png": "png", "jxl": "jxl", "webp": "webp", "avif": "avif", "jpg": "jpeg", "jpeg": "jpeg"}


def screenshot_extension(relative: str) -> str:
    """The file-type extension of a stored screenshot, lower case: "png" for "screenshots/000003.PNG"."""
    suffix = Path(relative).suffix.lower().lstrip(".")
    return suffix or "png"


def same_pixels(first: Path, second: Path) -> bool:
    """Whether two screenshot files decode to exactly the same pixels (any formats, any encodings)."""
    try:
        if os.path.samefile(first, second):  # the recorder hard-links a screen it already stored
            return True
    except OSError:
        pass
    if first.stat().st_size == second.stat().st_size and first.read_bytes() == second.read_bytes():
        return True
    a, b = load_screenshot(first), load_screenshot(second)
    return a.size == b.size and a.tobytes() == b.tobytes()


def encode_like(image: Image.Image, source: Path, meta: dict) -> tuple[bytes, str]:
    """``image`` encoded in the format of ``source`` (by its extension), with meta.json's quality when the
    recording was stored lossy in that format; returns (bytes, extension). An unknown extension gives PNG."""
    extension = screenshot_extension(str(source))
    name = _FORMAT_OF_EXTENSION.get(extension)
    if name is None or name not in FORMATS:
        return ScreenshotFormat("png").encode(image), "png"
    stored = meta.get("screenshot_format") if isinstance(meta.get("screenshot_format"), dict) else {}
    quality = stored.get("quality") if stored.get("format") == name else None
    if not (isinstance(quality, int) and not isinstance(quality, bool) and 1 <= quality <= 100):
        quality = None
    if quality is None and name in LOSSY_ONLY:
        quality = DEFAULT_LOSSY_QUALITY
    try:
        return ScreenshotFormat(name, quality).encode(image.convert("RGB")), extension
    except ValueError:  # e.g. a .jxl source on a machine without the JPEG XL plugin (it could not be read either)
        return ScreenshotFormat("png").encode(image.convert("RGB")), "png"
