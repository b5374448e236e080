"""What both grounding-dataset makers (the sample app's and real programs') share: a screen saved to a
file, the check that a box shows nothing to aim at, and instructions phrased the same on every run."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from pcagent.testbed.virtual_display import VirtualDisplay
from pcagent.testbed.xdo import grab


def grab_screen(display: VirtualDisplay, path: Path) -> Image.Image:
    """Screenshot the whole virtual display into ``path`` (PNG)."""
    image = grab(display)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return image


def is_uniform(image: Image.Image, box: tuple[int, int, int, int], spread: int = 12) -> bool:
    """Whether a box holds (nearly) one colour: nothing to see, so nothing to aim at."""
    low, high = zip(*ImageStat.Stat(image.crop(box).convert("L")).extrema)
    return high[0] - low[0] < spread


def pick(options: tuple[str, ...] | list[str], *keys: object) -> str:
    """A phrasing chosen by a stable hash of keys: varied, yet the same on every run."""
    digest = sum((i + 1) * ord(c) for i, c in enumerate("/".join(map(str, keys))))
    return options[digest % len(options)]
