"""Images on their way to and from a model: fit a pixel budget, encode as data URLs, decode bytes.

`fit_to_pixels` is the only place in models/ that resizes, besides a model's own preprocessing
(models.backends.qwen_vl, Qwen's smart resize); it returns the scale it applied so that a caller
(grounding.coordinates) can map points on the model's image back to the screen.
"""

from __future__ import annotations

import base64
import binascii
import io
import math

from PIL import Image, UnidentifiedImageError

IMAGE_FORMATS = ("png", "jpeg")


def register_image_plugins() -> bool:
    """Teach Pillow to read and write JPEG XL (the pillow-jxl-plugin package), once; False when it is
    not installed. Imported on demand: it costs ~70 ms, and most processes never see a JXL file."""
    global _JXL
    if _JXL is None:
        try:
            import pillow_jxl  # noqa: F401  (registers the "JXL" format with Pillow)

            _JXL = True
        except ImportError:
            _JXL = False
    return _JXL


_JXL: bool | None = None


class UnreadableImageError(ValueError):
    """Bytes (or a data URL) that are not an image Pillow can read."""


def smart_resize(width: int, height: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The (width, height) a Qwen-VL-style processor resizes an image to: both sides multiples of `factor`,
    the pixel count within [min_pixels, max_pixels], the aspect kept as closely as that allows. Raises
    ValueError for an empty image or an aspect above 200 (what the processors refuse)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"cannot resize a {width}x{height} image")
    if max(width, height) / min(width, height) > 200:
        raise ValueError(f"an image of {width}x{height} is too elongated (aspect above 200)")
    new_w = max(factor, round(width / factor) * factor)
    new_h = max(factor, round(height / factor) * factor)
    if new_w * new_h > max_pixels:
        beta = math.sqrt(width * height / max_pixels)
        new_w = max(factor, math.floor(width / beta / factor) * factor)
        new_h = max(factor, math.floor(height / beta / factor) * factor)
    elif new_w * new_h < min_pixels:
        beta = math.sqrt(min_pixels / (width * height))
        new_w = math.ceil(width * beta / factor) * factor
        new_h = math.ceil(height * beta / factor) * factor
    return new_w, new_h


def fit_to_pixels(image: Image.Image, max_pixels: int) -> tuple[Image.Image, float]:
    """Shrink `image` to at most `max_pixels` pixels, keeping its aspect ratio; never upscale.

    Returns (image, scale): scale is new_width / old_width (1.0 and the same image object when it
    already fits); the height scale matches it to within one pixel of rounding. Each side keeps at
    least one pixel, so a 1 x 100000 strip may end up slightly over a tiny budget.
    """
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be at least 1, got {max_pixels}")
    width, height = image.size
    if width * height <= max_pixels:
        return image, 1.0
    scale = math.sqrt(max_pixels / (width * height))
    # floor, not round: rounding both sides up could overshoot the budget
    new_width = max(1, math.floor(width * scale))
    new_height = max(1, math.floor(height * scale))
    # reducing_gap: shrink by whole factors first; much faster on 4K screenshots, same result to the eye
    # BOX (area averaging) is the usual filter for shrinking screenshots, and 3x faster than LANCZOS
    # at 1080p (9 ms against 26 ms), which the agent pays on every step.
    resized = image.resize((new_width, new_height), Image.Resampling.BOX)
    return resized, new_width / width


def _normalise_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image format must be one of {IMAGE_FORMATS}, got {fmt!r}")
    return fmt


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    """Convert to a mode the format can store (JPEG has no alpha: flatten onto white)."""
    if fmt == "jpeg":
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1", "I", "I;16"):
        return image
    return image.convert("RGBA" if "A" in image.getbands() else "RGB")


def to_data_url(image: Image.Image, fmt: str = "png", quality: int = 90) -> str:
    """`data:image/png;base64,...` (or image/jpeg at `quality`) for an OpenAI `image_url` part."""
    fmt = _normalise_format(fmt)
    buffer = io.BytesIO()
    if fmt == "jpeg":
        _for_format(image, fmt).save(buffer, format="JPEG", quality=quality)
    else:
        _for_format(image, fmt).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"data:image/{fmt};base64,{encoded}"


def image_from_bytes(data: bytes) -> Image.Image:
    """Decode image bytes fully (so a truncated file fails here, not later); raise UnreadableImageError."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        head = bytes(data[:16])
        raise UnreadableImageError(
            f"not a readable image ({len(data)} bytes starting {head!r}): {exc}") from exc
    return image


def image_from_data_url(url: str) -> Image.Image:
    """Decode a `data:image/...;base64,...` URL (what `to_data_url` makes and servers receive)."""
    prefix, sep, payload = url.partition(",")
    if not sep or not prefix.startswith("data:image/") or not prefix.endswith(";base64"):
        raise UnreadableImageError(f"not a base64 image data URL: {url[:40]!r}...")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnreadableImageError(f"data URL payload is not valid base64: {exc}") from exc
    return image_from_bytes(data)
