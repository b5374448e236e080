"""Finding rendered icons in a screenshot: coarse-to-fine template matching.

A screenshot is prepared once (``PreparedScreen``): grey, with a faint fixed noise added so that a flat
area (whose variance is zero) never correlates with anything, and shrunk by 2 and by 4. Each template is
matched with normalised correlation (``cv2.TM_CCOEFF_NORMED``, blind to brightness and contrast, so a
dimmed insensitive icon still scores high) on a shrunk screen first; the best few places are then
matched again at full size in a small window around them. That costs about a tenth of a full-size search.

A symbolic icon recoloured for a dark theme is the negative of the light one in grey (foreground and
background swap sides), so one correlation serves both: light-theme matches are its peaks, dark-theme
matches the peaks of its negative. A full-colour icon is matched in the variant of the screen's theme.

Results are kept per screenshot and template, so several descriptions of targets on one screen (an
evaluation, or a planner's retries) pay for each template once.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from grounding.base import Box
from grounding.icons.templates import IconTemplate

__all__ = ["IconMatch", "PreparedScreen", "ScreenCache", "find_template"]

COARSE_THRESHOLD = 0.45  # a shrunk match this good is worth a full-size look
KEEP_THRESHOLD = 0.6  # full-size matches below this are not even candidates
PEAKS_PER_TEMPLATE = 8
NOISE = 0.5  # grey levels of fixed noise: flat areas get a tiny variance and correlate with nothing


@dataclass(frozen=True)
class IconMatch:
    """Where a template was found, and how well it fits (0..1)."""

    name: str
    score: float
    box: Box  # what the icon draws, in screenshot pixels
    pixels: int
    variant: str
    symbolic: bool
    source: str = ""


@dataclass
class PreparedScreen:
    """One screenshot, ready for matching, with the results found on it so far."""

    grey: np.ndarray
    shrunk: dict[int, np.ndarray]
    theme: str  # "light" | "dark": which full-colour variant to match
    results: dict[tuple, list[IconMatch]] = field(default_factory=dict)

    @classmethod
    def of(cls, image: Image.Image) -> "PreparedScreen":
        import cv2  # imported here: importing grounding.icons stays light

        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
        grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        noise = np.random.default_rng(7).uniform(-NOISE, NOISE, grey.shape).astype(np.float32)
        grey = np.ascontiguousarray(grey + noise)
        shrunk = {factor: cv2.resize(grey, (max(1, grey.shape[1] // factor), max(1, grey.shape[0] // factor)),
                                     interpolation=cv2.INTER_AREA) for factor in (2, 4)}
        painted = grey[grey > 8]  # Xvfb's root window is black: only what windows paint counts
        light = painted.size == 0 or float(np.mean(painted > 150)) >= float(np.mean(painted < 100))
        return cls(grey, shrunk, "light" if light else "dark")


def _peaks(result: np.ndarray, count: int, threshold: float, spacing: int) -> list[tuple[float, int, int]]:
    import cv2

    found = []
    work = result.copy()
    for _ in range(count):
        _, best, _, (x, y) = cv2.minMaxLoc(work)
        if best < threshold:
            break
        found.append((float(best), x, y))
        work[max(0, y - spacing):y + spacing + 1, max(0, x - spacing):x + spacing + 1] = -1.0
    return found


def find_template(screen: PreparedScreen, template: IconTemplate) -> list[IconMatch]:
    """Places where ``template`` is drawn (score >= KEEP_THRESHOLD), best first; symbolic icons in both
    polarities (light and dark themes)."""
    import cv2

    height, width = template.shape
    grey = screen.grey
    if height > grey.shape[0] or width > grey.shape[1] or height < 4 or width < 4:
        return []
    factor = 2 if min(height, width) < 28 else 4
    small = cv2.resize(template.grey, (max(3, width // factor), max(3, height // factor)), interpolation=cv2.INTER_AREA)
    coarse = cv2.matchTemplate(screen.shrunk[factor], small, cv2.TM_CCOEFF_NORMED)
    signs = (1.0, -1.0) if template.symbolic else (1.0,)
    matches: list[IconMatch] = []
    for sign in signs:
        for _, x, y in _peaks(sign * coarse, PEAKS_PER_TEMPLATE, COARSE_THRESHOLD, max(2, min(small.shape) // 2)):
            left, top = max(0, factor * x - factor - 2), max(0, factor * y - factor - 2)
            window = grey[top:top + height + 2 * factor + 4, left:left + width + 2 * factor + 4]
            if window.shape[0] < height or window.shape[1] < width:
                continue
            fine = sign * cv2.matchTemplate(window, template.grey, cv2.TM_CCOEFF_NORMED)
            _, score, _, (dx, dy) = cv2.minMaxLoc(fine)
            if score >= KEEP_THRESHOLD:
                variant = template.variant if sign > 0 else ("dark" if template.variant == "light" else "light")
                box = (left + dx, top + dy, left + dx + width, top + dy + height)
                matches.append(IconMatch(template.name, round(float(score), 4), box, template.pixels, variant,
                                         template.symbolic, template.source))
    unique: dict[Box, IconMatch] = {}
    for match in sorted(matches, key=lambda m: -m.score):
        unique.setdefault(match.box, match)
    return list(unique.values())


class ScreenCache:
    """Prepared screenshots by their pixels (a few, least recently used out), thread-safe."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._screens: OrderedDict[str, PreparedScreen] = OrderedDict()
        self._lock = threading.Lock()
        self.prepared = 0

    def get(self, image: Image.Image) -> PreparedScreen:
        key = hashlib.blake2b(image.tobytes(), digest_size=16).hexdigest() + repr(image.size)
        with self._lock:
            if key in self._screens:
                self._screens.move_to_end(key)
                return self._screens[key]
        screen = PreparedScreen.of(image)
        with self._lock:
            self.prepared += 1
            self._screens[key] = screen
            while len(self._screens) > self.size:
                self._screens.popitem(last=False)
        return screen

    def matches(self, screen: PreparedScreen, template: IconTemplate) -> list[IconMatch]:
        """``find_template`` once per screen and template."""
        key = (template.name, template.pixels, template.variant, template.source)
        if key not in screen.results:
            screen.results[key] = find_template(screen, template)
        return screen.results[key]
