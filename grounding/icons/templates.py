"""Icons rendered as the screen would show them, ready for template matching, and cached.

``IconTemplates.get(name, pixels)`` renders an icon of the theme index at a pixel size (PNG and XPM
through Pillow, SVG through cairosvg, which Pillow cannot read), the way a toolkit draws it:

- a full-colour icon is composited over the window background of a light and of a dark theme;
- a symbolic icon ("-symbolic") is recoloured, as GTK does, with the foreground colour of a light theme
  (dark grey) and of a dark theme (near white), then composited over that theme's background.

Each variant is cropped to what the icon draws (its alpha box, plus a pixel), kept as a grey float32
array, and remembered twice: in memory (an LRU) and on disk under ``$XDG_CACHE_HOME/pcagent/icons/``, keyed by
the theme directories' modification times, so a second process loads instead of rendering.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from grounding.icons.theme import IconFile, ThemeIndex

__all__ = ["IconTemplate", "IconTemplates", "THEME_COLOURS", "cache_dir", "render_icon", "render_icon_bitmap"]

# (window background, foreground) of GTK's Adwaita, light and dark: what symbolic icons are drawn with
THEME_COLOURS = {"light": ((246, 245, 244), (46, 52, 54)), "dark": ((53, 53, 53), (238, 238, 236))}
CACHE_VERSION = 3
MEMORY_ENTRIES = 2048


@dataclass(frozen=True)
class IconTemplate:
    """One icon at one pixel size in one theme variant, cropped to what it draws."""

    name: str  # the icon name asked for ("edit-find"); the file may be its symbolic form
    pixels: int  # as drawn on the screen: the logical size times the scale
    variant: str  # "light" | "dark"
    symbolic: bool
    grey: np.ndarray  # float32, HxW, composited over the variant's background
    offset: tuple[int, int]  # where the crop sits in the pixels x pixels square
    source: str  # the file rendered

    @property
    def shape(self) -> tuple[int, int]:
        return self.grey.shape  # type: ignore[return-value]


def cache_dir(env: dict[str, str] | None = None) -> Path:
    """$XDG_CACHE_HOME/pcagent/icons (~/.cache/pcagent/icons)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or str(Path.home()), ".cache")
    return Path(base) / "pcagent" / "icons"


def render_icon(file: IconFile, pixels: int, scale: int = 1) -> Image.Image:
    """The file drawn as an RGBA image of ``pixels`` x ``pixels`` logical pixels (fitted inside, centred, as
    toolkits do) at ``scale``: GTK draws an SVG at the full size, and a bitmap of the logical size scaled up
    (bilinearly) when the theme has no bitmap for the scale, as Adwaita has none."""
    if file.path.endswith(".svg"):
        import cairosvg  # imported here: only SVG icons need it

        size = pixels * scale
        data = cairosvg.svg2png(url=file.path, output_width=size, output_height=size)
        return Image.open(io.BytesIO(data)).convert("RGBA")
    image = render_icon_bitmap(file, pixels)
    if scale != 1:
        image = image.resize((pixels * scale, pixels * scale), Image.Resampling.BILINEAR)
    return image


def render_icon_bitmap(file: IconFile, pixels: int) -> Image.Image:
    """A PNG or XPM icon as an RGBA image of ``pixels`` x ``pixels``."""
    with Image.open(file.path) as raw:
        image = raw.convert("RGBA")
    if image.size != (pixels, pixels):
        factor = pixels / max(image.size)
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        square = Image.new("RGBA", (pixels, pixels), (0, 0, 0, 0))
        square.paste(image, ((pixels - size[0]) // 2, (pixels - size[1]) // 2))
        image = square
    return image


def _variants(image: Image.Image, symbolic: bool) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """Grey composites per theme variant, cropped to the alpha box (+1 px)."""
    rgba = np.asarray(image, dtype=np.float32)
    alpha = rgba[:, :, 3:4] / 255.0
    rows, cols = np.nonzero(alpha[:, :, 0] > 0.05)
    if rows.size == 0:
        return {}
    top, bottom = max(0, rows.min() - 1), min(image.height, rows.max() + 2)
    left, right = max(0, cols.min() - 1), min(image.width, cols.max() + 2)
    out = {}
    for variant, (background, foreground) in THEME_COLOURS.items():
        colour = np.broadcast_to(np.array(foreground, np.float32), rgba[:, :, :3].shape) if symbolic else rgba[:, :, :3]
        composite = colour * alpha + np.array(background, np.float32) * (1.0 - alpha)
        grey = composite @ np.array([0.299, 0.587, 0.114], np.float32)
        out[variant] = (np.ascontiguousarray(grey[top:bottom, left:right]), (int(left), int(top)))
    return out


class IconTemplates:
    """Rendered templates of one ThemeIndex, cached in memory and on disk (thread-safe)."""

    def __init__(self, index: ThemeIndex, cache: Path | None | bool = True) -> None:
        self.index = index
        signature = hashlib.blake2b(repr((CACHE_VERSION, index.themes, index.signature)).encode(),
                                    digest_size=8).hexdigest()
        self.folder = (cache_dir() if cache is True else cache) / signature if cache else None
        self._memory: OrderedDict[tuple[str, int], list[IconTemplate]] = OrderedDict()
        self._lock = threading.Lock()
        self.rendered = 0  # renders done (a cold cache), for the benchmark
        self.loaded = 0  # entries read from the disk cache

    def get(self, name: str, pixels: int, scale: int = 1) -> list[IconTemplate]:
        """Templates of ``name`` at ``pixels`` logical pixels and ``scale`` (its full-colour and its symbolic
        form, light and dark); [] when the themes have neither."""
        key = (name, pixels, scale)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        templates = self._load(name, pixels, scale)
        if templates is None:
            templates = self._render(name, pixels, scale)
            self._store(name, pixels, scale, templates)
        with self._lock:
            self._memory[key] = templates
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)
        return templates

    def _render(self, name: str, pixels: int, scale: int) -> list[IconTemplate]:
        templates = []
        for form in (name, f"{name}-symbolic"):
            file = self.index.pick(form, pixels)
            if file is None:
                continue
            try:
                image = render_icon(file, pixels, scale)
            except Exception:  # noqa: BLE001 - a broken icon file is simply not an icon we can match
                continue
            self.rendered += 1
            for variant, (grey, offset) in _variants(image, file.symbolic or file.path.endswith(".symbolic.png")).items():
                templates.append(IconTemplate(name, pixels * scale, variant, file.symbolic, grey, offset, file.path))
        return templates

    def _path(self, name: str, pixels: int, scale: int) -> Path | None:
        if self.folder is None:
            return None
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.folder / f"{safe}@{pixels}x{scale}.npz"

    def _load(self, name: str, pixels: int, scale: int) -> list[IconTemplate] | None:
        path = self._path(name, pixels, scale)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = [str(m) for m in data["meta"]]
                templates = []
                for i, line in enumerate(meta):
                    variant, symbolic, left, top, source = line.split("|", 4)
                    templates.append(IconTemplate(name, pixels * scale, variant, symbolic == "1", data[f"grey{i}"],
                                                  (int(left), int(top)), source))
        except (OSError, ValueError, KeyError):
            return None
        self.loaded += 1
        return templates

    def _store(self, name: str, pixels: int, scale: int, templates: list[IconTemplate]) -> None:
        path = self._path(name, pixels, scale)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            arrays = {f"grey{i}": t.grey for i, t in enumerate(templates)}
            meta = np.array([f"{t.variant}|{int(t.symbolic)}|{t.offset[0]}|{t.offset[1]}|{t.source}" for t in templates])
            temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(temporary, meta=meta, **arrays)
            os.replace(temporary, path)  # another process never reads half a file
        except OSError:
            pass  # a read-only cache only costs time
