"""Grounding by the accessibility tree: match the description against the elements' names and roles.

"the Save button" -> the showing element named "Save" whose role is a kind of button. The label is
read out of the description by `grounding.text_match.target_text`; role words in the description
("button", "field", "menu", "list item", "tab", "checkbox", ...) and `hints.role` /
`hints.element_name` raise or lower a candidate's score; equal scores go to the element that fits
the position hint best, then to the one nearest `hints.near`. The answer is the element's box,
clipped to the screenshot, and its centre.

Element boxes are screen pixels; the screenshot's top-left is `hints.screen_origin`, so both are
shifted by it. Boxes come corrected per window by the listing (grounding.accessibility.tree: scaled
or window-relative extents); an element the listing marks ``covered`` (under a window stacked above
its own, e.g. a main window's button under a dialog) always loses and is never the answer alone.
Besides the label, an element whose name's content words all appear in the description scores 0.9
("Save icon" for "save the document (floppy disk icon)"), below an exact name.
"""

from __future__ import annotations

import re
import time
from typing import Any

from PIL import Image

from grounding import text_match
from grounding.accessibility.atspi import open_accessibility
from grounding.base import Box, Candidate, GroundingHints, GroundingResult, check_inputs

__all__ = ["AccessibilityGrounder", "ROLE_WORDS", "roles_mentioned"]

# Words a description uses for a kind of element -> the AT-SPI roles they cover. Longest phrases first.
ROLE_WORDS: dict[str, frozenset[str]] = {
    "list item": frozenset({"list item", "table cell", "tree item", "table row"}),
    "menu item": frozenset({"menu item", "check menu item", "radio menu item", "tearoff menu item"}),
    "check box": frozenset({"check box", "check menu item", "toggle button"}),
    "checkbox": frozenset({"check box", "check menu item", "toggle button"}),
    "radio button": frozenset({"radio button", "radio menu item"}),
    "text box": frozenset({"text", "entry", "password text", "editbar"}),
    "combo box": frozenset({"combo box"}),
    "dropdown": frozenset({"combo box", "push button menu"}),
    "scroll bar": frozenset({"scroll bar"}),
    "button": frozenset({"push button", "toggle button", "radio button", "push button menu"}),
    "field": frozenset({"text", "entry", "password text", "spin button", "combo box", "editbar"}),
    "input": frozenset({"text", "entry", "password text", "spin button", "combo box"}),
    "menu": frozenset({"menu", "menu item", "menu bar", "popup menu", "push button menu"}),
    "tab": frozenset({"page tab"}),
    "item": frozenset({"list item", "table cell", "tree item", "menu item", "table row", "icon"}),
    "row": frozenset({"table row", "list item", "tree item"}),
    "cell": frozenset({"table cell"}),
    "list": frozenset({"list", "list box", "table", "tree", "tree table"}),
    "link": frozenset({"link"}),
    "label": frozenset({"label", "static", "text"}),
    "icon": frozenset({"icon", "image", "desktop icon", "push button"}),
    "slider": frozenset({"slider"}),
    "heading": frozenset({"heading"}),
    "dialog": frozenset({"dialog", "alert", "file chooser"}),
    "window": frozenset({"frame", "window", "dialog"}),
}
_ROLE_WORD_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in ROLE_WORDS) + r")s?\b")

_MIN_SCORE = 0.6  # below this no element counts as the target
_TIE = 0.02  # scores this close are a tie, settled by position and nearness


def roles_mentioned(description: str) -> frozenset[str]:
    """The AT-SPI roles the description's role words allow (empty: it names no kind of element)."""
    text = " ".join(description.casefold().replace("-", " ").split())
    roles: set[str] = set()
    for match in _ROLE_WORD_RE.finditer(text):
        roles |= ROLE_WORDS[match.group(1)]
    return frozenset(roles)


def _clip(rect: Box, origin: tuple[int, int], size: tuple[int, int]) -> Box | None:
    """An element's screen box in screenshot pixels, clipped to the screenshot; None when off it."""
    left, top = max(rect[0] - origin[0], 0), max(rect[1] - origin[1], 0)
    right, bottom = min(rect[2] - origin[0], size[0]), min(rect[3] - origin[1], size[1])
    return (left, top, right, bottom) if right > left and bottom > top else None


class AccessibilityGrounder:
    """Find a described element among the showing elements the accessibility tree lists."""

    name = "accessibility"

    def __init__(self, accessibility: Any | None = None, *, node_cap: int = 5000, timeout: float = 2.0) -> None:
        """``accessibility``: an AtSpiAccessibility / NullAccessibility; None opens the platform's on first use."""
        self._accessibility = accessibility
        self.node_cap = node_cap
        self.timeout = timeout

    @property
    def accessibility(self) -> Any:
        if self._accessibility is None:
            self._accessibility = open_accessibility()
        return self._accessibility

    def close(self) -> None:
        if self._accessibility is not None:
            self._accessibility.close()

    def ground(self, screenshot: Image.Image, description: str,
               hints: GroundingHints | None = None) -> GroundingResult:
        screenshot, description = check_inputs(screenshot, description)
        hints = hints or GroundingHints()
        start = time.monotonic()
        a11y = self.accessibility
        if not a11y.available:
            return GroundingResult.not_found(self.name, f"accessibility is not available: {a11y.reason}")
        origin = hints.screen_origin
        near_screen = (hints.near[0] + origin[0], hints.near[1] + origin[1]) if hints.near else None
        listing = self._list(a11y, near_screen)
        details: dict[str, Any] = {"elements": len(listing.elements), "scope": listing.scope,
                                   "complete": listing.complete, "listing_s": round(listing.elapsed_s, 4)}
        if not listing.elements:
            reason = listing.note or "the accessibility tree lists no showing element"
            return GroundingResult.not_found(self.name, reason, latency_s=time.monotonic() - start, **details)
        scored = self._score(listing.elements, description, hints, screenshot.size)
        latency = time.monotonic() - start
        if not scored or scored[0][0] < _MIN_SCORE:
            best = f"; best was {scored[0][2].label!r} ({scored[0][0]:.2f})" if scored else ""
            return GroundingResult.not_found(
                self.name, f"no element among {len(listing.elements)} matches {description!r}{best}",
                candidates=[c for _, _, c in scored[:5]], latency_s=latency, **details)
        best_score = scored[0][0]
        tied = [c for score, _, c in scored if best_score - score <= _TIE]
        winner = scored[0][2]
        if len(tied) > 1 and hints.near is None and text_match.parse_position_hint(
                " ".join(filter(None, (hints.position, description)))).empty:
            # several equally good elements and nothing to choose by: say so with a lower confidence
            winner = Candidate(winner.point, winner.box, round(winner.score / len(tied), 4), winner.label, self.name)
            details["ambiguous"] = len(tied)
        candidates = [winner] + [c for _, _, c in scored[1:5]]
        return GroundingResult.hit(winner, candidates, latency_s=latency, **details)

    def _list(self, a11y: Any, near: tuple[int, int] | None) -> Any:
        from grounding.accessibility.tree import ElementListing, list_elements

        if hasattr(a11y, "_call_app"):  # an AtSpiAccessibility: the listing says whether it is complete
            return list_elements(a11y, near, node_cap=self.node_cap, timeout=self.timeout)
        return ElementListing(list(a11y.elements(near, node_cap=self.node_cap, timeout=self.timeout)),
                              scope="elements()")

    def _score(self, elements: list, description: str, hints: GroundingHints,
               size: tuple[int, int]) -> list[tuple[float, float, Candidate]]:
        """(score, tie-breaker, candidate) per element on the screenshot, best first."""
        target = text_match.target_text(description)
        wanted_roles = roles_mentioned(description)
        hint_roles = roles_mentioned(hints.role) | {hints.role.casefold()} if hints.role else frozenset()
        position = text_match.parse_position_hint(hints.position).merged(text_match.parse_position_hint(description))
        description_words, target_words = set(_words(description)), set(_words(target))
        scored, hidden = [], []
        for element in elements:
            box = _clip(element.rect, hints.screen_origin, size) if element.rect else None
            if box is None:
                continue
            text_score = max(text_match.similarity(target, element.name or ""),
                             0.8 * text_match.similarity(target, element.description or ""))
            if element.name and target and _contains_words(element.name, target):
                text_score = max(text_score, 0.75)  # "Password" in "Password label"
            if element.name:  # "Save icon" for "save the document (floppy disk icon)"
                text_score = max(text_score, _word_containment(element.name, target_words, description_words))
            score = text_score
            if wanted_roles:
                score += 0.15 if element.role in wanted_roles else -0.2
            if hint_roles and element.role:
                score += 0.1 if element.role in hint_roles else -0.05
            if hints.element_name and element.name:
                score += 0.2 * text_match.similarity(hints.element_name, element.name)
            score = max(0.0, score)  # not capped at 1 while ranking: an exact name plus a right role must
            # beat a near name plus a right role; the candidate's score (its confidence) is capped
            tiebreak = text_match.position_score(box, position, size) if not position.empty else 0.0
            if hints.near is not None:
                tiebreak += text_match.near_score(box, hints.near, scale=50)
            point = ((box[0] + box[2] - 1) // 2, (box[1] + box[3] - 1) // 2)
            candidate = (score, tiebreak, Candidate(point, box, round(min(score, 1.0), 4), element.name, self.name))
            if getattr(element, "covered", False):  # hidden under a window stacked above its own: it loses
                hidden.append((min(score, _MIN_SCORE - 0.01),) + candidate[1:])
            else:
                scored.append(candidate)
        # ties (within _TIE) are settled by the tie-breaker: round scores into _TIE buckets for sorting
        scored.sort(key=lambda s: (-round(s[0] / _TIE), -s[1], -s[0]))
        hidden.sort(key=lambda s: -s[0])
        return scored + hidden


# words that say what kind of thing an element is, not which one ("Save icon", "OK button")
_GENERIC_WORDS = frozenset({"icon", "button", "the", "a", "an", "and", "of", "to", "in", "on", "for", "with", "label",
                            "item", "field", "box", "tab", "link", "image", "toolbar", "menu"})
_WORD_RE = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.casefold())


def _word_containment(name: str, target_words: set[str], description_words: set[str]) -> float:
    """0.9 when every content word of the name is among the target's words (what the description asks
    for, not its "in the File menu"), 0.95 when the name's generic words are in the description too
    ("Save icon" in "save the document (floppy disk icon)"); 0.6 x the share found otherwise; 0 for names
    too short to tell (a lone letter or digit)."""
    words = _words(name)
    content = [w for w in words if w not in _GENERIC_WORDS]
    if not content or sum(len(w) for w in content) < 3:
        return 0.0
    found = sum(w in target_words for w in content)
    if found == len(content):
        return 0.95 if all(w in description_words for w in words) and len(words) > len(content) else 0.9
    return 0.6 * found / len(content)


def _contains_words(name: str, target: str) -> bool:
    """Whether the target's words appear in the name as whole words."""
    name_words = f" {text_match.normalize_label(name)} "
    return f" {target} " in name_words
