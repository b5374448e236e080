"""How step screenshots are stored: the format and, for lossy storage, the quality.

    png    lossless; universal; slow and large on photo-like screens
    jxl    JPEG XL (the pillow-jxl-plugin package): lossless at effort 1 is the fastest encoder here and
           the smallest on flat screens (the default; BENCHMARKS.md has the measurements)
    webp   lossless at method 0: the smallest on photo-like screens, at about PNG's encode cost
    avif   lossy only (Pillow's AVIF cannot store RGB exactly)
    jpeg   lossy only
    smallest  lossless, chosen per frame: JPEG XL, and where that comes out dense (over DENSE_BITS_PER_PIXEL:
           photos, text over wallpaper) also WebP, keeping the smaller; on a photo-heavy desktop about 0.75x
           the bytes of JPEG XL for about 5x its encode time, on a flat one the same as JPEG XL

Without a quality the format is lossless (avif and jpeg need one); with one it is lossy at that quality
(1-100). A lossless screenshot decodes to exactly the captured pixels. meta.json records the choice
(`ScreenshotFormat.to_dict`); readers need nothing from it: every reader opens every format.

settings.toml's [screenshots] table sets it for every recording and agent run (`format`, `quality`);
`pcagent record --image-format/--image-quality` override it for one recording.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from models.images import register_image_plugins
from tracker.settings import SettingsError, read_table

__all__ = [
    "DEFAULT_FORMAT",
    "DENSE_BITS_PER_PIXEL",
    "FORMATS",
    "LOSSLESS_ONLY",
    "LOSSY_ONLY",
    "PIL_FORMATS",
    "ScreenshotFormat",
    "ScreenshotFormatError",
    "bgrx_image",
    "load_screenshot_format",
]

FORMATS = ("png", "jxl", "webp", "avif", "jpeg", "smallest")
PIL_FORMATS = ("PNG", "JXL", "WEBP", "AVIF", "JPEG")  # Pillow's names for them: what a stored screenshot may be
LOSSY_ONLY = ("avif", "jpeg")
LOSSLESS_ONLY = ("smallest",)
# Above this many bits per pixel in lossless JPEG XL a screen is dense (photos, text over textures), where
# lossless WebP is often smaller (a flat desktop is about 0.1, the benchmark's busy one about 2.3).
DENSE_BITS_PER_PIXEL = 1.0
DEFAULT_FORMAT = "jxl"  # falls back to png where the JPEG XL plugin is missing (ScreenshotFormat.default)
_EXTENSIONS = {"png": "png", "jxl": "jxl", "webp": "webp", "avif": "avif", "jpeg": "jpg", "smallest": "jxl"}


JXL_EFFORT = 1  # libjxl's fastest: lossless at effort 2 is 0.9x the bytes for about 20x the time


def _jxl_encoder(quality: int | None):
    """pillow-jxl-plugin's encoder with the settings its Pillow plugin would use for `_options` (the same
    bytes), on the calling thread."""
    from pillow_jxl import Encoder

    return Encoder(mode="RGB", lossless=quality is None, quality=100 if quality is None else quality,
                   decoding_speed=0, effort=JXL_EFFORT, use_container=False, use_original_profile=False,
                   num_threads=0)  # 0: on the calling thread (1 would start a worker thread per image)


def bgrx_image(pixels: bytes | bytearray, width: int, height: int) -> Image.Image:
    """The screen capture's pixels (4 bytes each: blue, green, red, unused) as an RGB image."""
    return Image.frombuffer("RGB", (width, height), pixels, "raw", "BGRX", 0, 1)


class ScreenshotFormatError(ValueError):
    """A format or quality that cannot be used; the message says what can."""


@dataclass(frozen=True)
class ScreenshotFormat:
    format: str = "png"
    quality: int | None = None  # None: lossless

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ScreenshotFormatError(f"unknown image format {self.format!r}; one of {', '.join(FORMATS)}")
        if self.quality is not None and (isinstance(self.quality, bool) or not isinstance(self.quality, int)
                                         or not 1 <= self.quality <= 100):
            raise ScreenshotFormatError(f"image quality must be an integer from 1 to 100, not {self.quality!r}")
        if self.format in LOSSY_ONLY and self.quality is None:
            raise ScreenshotFormatError(f"{self.format} is lossy only: give a quality (e.g. 85)")
        if self.format in LOSSLESS_ONLY and self.quality is not None:
            raise ScreenshotFormatError(f"{self.format} is lossless only: leave the quality out")
        if self.format in ("jxl", "smallest") and not register_image_plugins():
            raise ScreenshotFormatError(f"{self.format} needs the JPEG XL plugin: pip install pillow-jxl-plugin")

    @classmethod
    def default(cls) -> ScreenshotFormat:
        """Lossless JPEG XL where its plugin is installed, else PNG."""
        return cls(DEFAULT_FORMAT) if register_image_plugins() else cls("png")

    @property
    def lossless(self) -> bool:
        return self.quality is None

    @property
    def extension(self) -> str:
        """The file extension of this format's screenshots; with `smallest`, ask `extension_of(data)`."""
        return _EXTENSIONS[self.format]

    def extension_of(self, data: bytes) -> str:
        """The file extension for ``data`` as `encode` made it (per frame with `smallest`)."""
        if self.format == "smallest":
            return "webp" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else "jxl"
        return self.extension

    def encode(self, image: Image.Image) -> bytes:
        """``image`` (RGB) in this format."""
        if self.format == "smallest":
            return self._smaller_of(ScreenshotFormat("jxl").encode(image), image)
        buffer = io.BytesIO()
        image.save(buffer, self.format.upper(), **self._options(self.format, self.quality))
        return buffer.getvalue()

    def encode_bgrx(self, pixels: bytes | bytearray, width: int, height: int) -> bytes:
        """Pixels as the screen capture has them (4 bytes a pixel: blue, green, red, unused) in this format:
        the same bytes as `encode` of that image. JPEG XL, the default, takes a shorter way: one pass packs the
        pixels into the RGB rows its encoder reads, where going through an Image costs two more passes over 8 MB
        at 1080p, and it encodes on this thread (JPEG XL's own threads cost more CPU for a few ms less wait)."""
        if self.format in ("jxl", "smallest"):
            rgb = Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1).tobytes("raw", "BGR")
            jxl = _jxl_encoder(self.quality)(rgb, width, height, jpeg_encode=False)
            if self.format == "jxl":
                return jxl
            return self._smaller_of(jxl, bgrx_image(pixels, width, height))
        return self.encode(bgrx_image(pixels, width, height))

    @staticmethod
    def _smaller_of(jxl: bytes, image: Image.Image) -> bytes:
        """`smallest`: the JPEG XL, unless it came out dense and lossless WebP is smaller."""
        if 8 * len(jxl) <= DENSE_BITS_PER_PIXEL * image.width * image.height:
            return jxl
        webp = ScreenshotFormat("webp").encode(image)
        return webp if len(webp) < len(jxl) else jxl

    @staticmethod
    def _options(format: str, quality: int | None) -> dict:
        if format == "png":  # level 3: within 1 % of level 9's size on screens, at a fraction of the time
            return {"compress_level": 3}
        if format == "jxl":
            return {"lossless": True, "effort": JXL_EFFORT} if quality is None else \
                {"quality": quality, "effort": JXL_EFFORT}
        if format == "webp":
            return {"lossless": True, "method": 0, "quality": 0} if quality is None else \
                {"quality": quality, "method": 0}
        if format == "avif":
            return {"quality": quality, "speed": 10}
        return {"quality": quality}  # jpeg

    def to_dict(self) -> dict:
        return {"format": self.format, "quality": self.quality, "lossless": self.lossless}


def load_screenshot_format(path: str | Path | None = None, *, format: str | None = None,
                           quality: int | None = None) -> ScreenshotFormat:
    """The format from settings.toml's [screenshots] table (the default without one), with ``format`` and
    ``quality`` (the command line's) taking precedence. Raises SettingsError naming the file or option."""
    table, where = read_table("screenshots", path)
    table = table or {}
    unknown = sorted(set(table) - {"format", "quality"})
    if unknown:
        raise SettingsError(f"{where}: [screenshots] unknown key(s) {', '.join(map(repr, unknown))}; "
                            "keys are format, quality")
    chosen_format = format or table.get("format")
    chosen_quality = quality if format or quality is not None else table.get("quality")
    try:
        if chosen_format is None:
            default = ScreenshotFormat.default()
            return default if chosen_quality is None else ScreenshotFormat(default.format, chosen_quality)
        return ScreenshotFormat(chosen_format, chosen_quality)
    except ScreenshotFormatError as exc:
        source = "--image-format/--image-quality" if format or quality is not None else f"{where}: [screenshots]"
        raise SettingsError(f"{source}: {exc}") from None

