"""Grounding icon-only targets offline: "the Save button", "the magnifying glass icon", "the trash can".

``IconGrounder`` (engine name "icons") reads the description (grounding.description), turns it into
candidate icon names (grounding.icons.synonyms), renders those names from the installed icon themes at
the pixel sizes toolkits draw them (16, 22, 24, 32, 48: scale 1 and 2), and finds them in the
screenshot (grounding.icons.matcher). The best match of the most likely name wins; a name that is only
a second reading of the words counts a little less. Ties between places of one icon go to a position
hint, then to the higher one (toolbars sit above what they act on).

Every "not found" starts with why: "icon not in theme" (no installed icon fits the words) or "no icon
match" (the icons exist, but none is drawn on the screen).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from PIL import Image

from grounding.base import Box, Candidate, GroundingHints, GroundingResult, box_center, check_inputs
from grounding.description import parse_description
from grounding.icons.matcher import IconMatch, ScreenCache
from grounding.icons.synonyms import describes_an_icon, icon_names_for
from grounding.icons.templates import IconTemplates
from grounding.icons.theme import ThemeIndex, shared_theme_index
from grounding.text_match import near_score, parse_position_hint, position_score

__all__ = ["IconGrounder", "DEFAULT_SIZES", "shared_templates"]

ENGINE_NAME = "icons"
# (logical pixels, scale) as toolkits draw icons: GTK's toolbar, menu, button and dialog sizes at scale 1,
# and the toolbar and menu sizes at scale 2 (HiDPI), most common first
DEFAULT_SIZES = ((24, 1), (16, 1), (22, 1), (32, 1), (48, 1), (24, 2), (16, 2))
READING_MARGIN = 0.05  # a name this much less likely than the likeliest installed one is not a reading
THRESHOLD = 0.8
SURE = 0.97  # a match this good ends the search for less likely names and sizes
MAX_NAMES = 4
POSITION_WEIGHT = 0.1
NEAR_WEIGHT = 0.1
EQUAL_MARGIN = 0.01

_shared: dict[int, IconTemplates] = {}
_shared_lock = threading.Lock()


def shared_templates(index: ThemeIndex | None = None) -> IconTemplates:
    """The process's templates over ``index`` (default: the theme in use): rendered once, cached on disk."""
    index = index or shared_theme_index()
    with _shared_lock:
        if id(index) not in _shared:
            _shared[id(index)] = IconTemplates(index)
        return _shared[id(index)]


class IconGrounder:
    """The Grounder protocol over the installed icon themes (name "icons")."""

    name = ENGINE_NAME

    def __init__(self, templates: IconTemplates | None = None, *, sizes: tuple[tuple[int, int], ...] = DEFAULT_SIZES,
                 threshold: float = THRESHOLD, max_names: int = MAX_NAMES) -> None:
        self._templates = templates
        self.sizes = sizes
        self.threshold = threshold
        self.max_names = max_names
        self.screens = ScreenCache()

    def wants_first(self, description: str) -> bool:
        """A composite asks this engine before OCR for icon-like descriptions ("the magnifying glass icon"),
        where OCR would only look for the words."""
        return describes_an_icon(parse_description(description))

    @property
    def templates(self) -> IconTemplates:
        if self._templates is None:
            self._templates = shared_templates()
        return self._templates

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult:
        started = time.perf_counter()
        screenshot, description = check_inputs(screenshot, description)
        hints = hints or GroundingHints()
        parse = parse_description(description)
        index = self.templates.index
        names = icon_names_for(parse, index.files)
        installed = [(n, w) for n, w in names if n in index or f"{n}-symbolic" in index]
        # only the likeliest readings: "Next Folder" is a go-next arrow, not any folder icon on the screen
        installed = [(n, w) for n, w in installed if w >= installed[0][1] - READING_MARGIN][: self.max_names]
        details: dict[str, Any] = {"icon_names": [n for n, _ in names[:6]]}
        latency = lambda: time.perf_counter() - started  # noqa: E731
        if not installed:
            what = (f"none of {', '.join(n for n, _ in names[:4])} is installed" if names
                    else f"no icon name fits {(parse.text or parse.note or description)!r}")
            return GroundingResult.not_found(ENGINE_NAME, f"icon not in theme: {what}", latency_s=latency(), **details)
        screen = self.screens.get(screenshot)
        found: list[tuple[float, IconMatch]] = []
        for name, weight in installed:
            if found and max(s for s, _ in found) >= SURE * weight + 0.01:
                break  # a less likely name cannot beat what is already found
            for pixels, scale in self.sizes:
                for template in self.templates.get(name, pixels, scale):
                    # a symbolic template's correlation serves both themes; a colour one, the screen's
                    if template.variant != ("light" if template.symbolic else screen.theme):
                        continue
                    for match in self.screens.matches(screen, template):
                        found.append((match.score * (0.9 + 0.1 * weight), match))
                if any(m.name == name and m.score >= SURE for _, m in found):
                    break  # this name is found: the other sizes can only add copies
        details["templates_rendered"] = self.templates.rendered
        good = [(s, m) for s, m in found if m.score >= self.threshold]
        if not good:
            best = max(found, key=lambda f: f[0], default=None)
            closest = f" (closest: {best[1].name} at {best[1].score:.2f})" if best else ""
            return GroundingResult.not_found(
                ENGINE_NAME, f"no icon match: {', '.join(n for n, _ in installed)} not seen on the screen{closest}",
                [self._candidate(m, s) for s, m in sorted(found, key=lambda f: -f[0])[:5]], latency(), **details)
        ranked = self._rank(good, parse.position.merged(parse_position_hint(hints.position)), hints, screenshot.size)
        top = ranked[0][0]
        equal = [m for s, m in ranked if s >= top - EQUAL_MARGIN and m.name == ranked[0][1].name]
        chosen = ranked[0][1]
        if parse.position.ordinal and len(equal) > 1:
            in_order = sorted(equal, key=lambda m: (m.box[1] // 12, m.box[0]))
            index_wanted = parse.position.ordinal - 1 if parse.position.ordinal > 0 else len(in_order) - 1
            chosen = in_order[min(max(index_wanted, 0), len(in_order) - 1)]
        details.update(icon=chosen.name, pixels=chosen.pixels, variant=chosen.variant, symbolic=chosen.symbolic,
                       equal_matches=len(equal))
        candidates = [self._candidate(chosen, chosen.score)] + [self._candidate(m, s) for s, m in ranked
                                                                  if m is not chosen][:4]
        return GroundingResult.hit(candidates[0], candidates, latency(), **details)

    def _rank(self, good: list[tuple[float, IconMatch]], position: Any, hints: GroundingHints,
              size: tuple[int, int]) -> list[tuple[float, IconMatch]]:
        placed = position.vertical or position.horizontal or position.region

        def key(item: tuple[float, IconMatch]) -> tuple[float, int]:
            score, match = item
            value = score
            if placed:
                value += POSITION_WEIGHT * position_score(match.box, position, size)
            if hints.near is not None:
                value += NEAR_WEIGHT * near_score(match.box, hints.near, 150.0)
            return round(value, 2), -match.box[1]

        return sorted(good, key=key, reverse=True)

    @staticmethod
    def _candidate(match: IconMatch, score: float) -> Candidate:
        box: Box = match.box
        return Candidate(box_center(box), box, round(min(score, 1.0), 4), match.name, ENGINE_NAME)
