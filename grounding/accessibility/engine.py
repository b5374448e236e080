"""Grounding by the accessibility tree: match the description against the elements' names and roles.

"the Save button" -> the showing element named "Save" whose role is a kind of button. The description is
taken apart by `grounding.description.parse_description` (the same parse the OCR grounder reads): its text
is matched against names (and descriptions), its role ("menu item", "check box", "column header", ...) and
`hints.role` raise or lower a candidate's score through `CANONICAL_ROLES`, and its containers ("in the
Preferences dialog", "on the Display tab", "in the toolbar") are checked against the element's ancestors
as the listing records them. Equal scores go to the element that fits the position hint best, then to
the one nearest `hints.near`. The answer is the element's box, clipped to the screenshot, and its centre.

Element boxes are screen pixels; the screenshot's top-left is `hints.screen_origin`, so both are
shifted by it. Boxes come corrected per window by the listing (grounding.accessibility.tree: scaled
or window-relative extents); an element the listing marks ``covered`` (under a window stacked above
its own, e.g. a main window's button under a dialog) always loses and is never the answer alone.
Besides the label, an element whose name's content words all appear in the description scores 0.9
("Save icon" for "save the document (floppy disk icon)"), below an exact name.

The grounder reads the live desktop (``needs_live_screen``): on a stored screenshot its answer would be
about whatever the desktop shows now, so ``open_grounder(..., live=False)`` leaves it out.
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from PIL import Image

from grounding import text_match
from grounding.accessibility.atspi import open_accessibility
from grounding.base import Box, Candidate, GroundingHints, GroundingResult, check_inputs
from grounding.description import TargetDescription, parse_description

__all__ = ["AccessibilityGrounder", "CANONICAL_ROLES", "ROLE_WORDS", "roles_for", "roles_mentioned"]

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
REUSE_S = 5.0  # a listing answers further questions about the same pixels for this long
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
    needs_live_screen = True

    def __init__(self, accessibility: Any | None = None, *, node_cap: int = 5000, timeout: float = 2.0) -> None:
        """``accessibility``: an AtSpiAccessibility / NullAccessibility; None opens the platform's on first use."""
        self._accessibility = accessibility
        self.node_cap = node_cap
        self.timeout = timeout
        self._last: tuple[Any, float, Any] | None = None  # (screenshot key, when, listing)

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
            return GroundingResult.not_found(self.name, f"not available: {a11y.reason}")
        origin = hints.screen_origin
        near_screen = (hints.near[0] + origin[0], hints.near[1] + origin[1]) if hints.near else None
        listing, reused = self._listing(a11y, near_screen, screenshot)
        details: dict[str, Any] = {"elements": len(listing.elements), "scope": listing.scope,
                                   "complete": listing.complete, "listing_s": round(listing.elapsed_s, 4)}
        if reused:
            details["listing_reused"] = True
        if not listing.elements:
            reason = f"not available: {listing.note or 'the accessibility tree lists no showing element'}"
            return GroundingResult.not_found(self.name, reason, latency_s=time.monotonic() - start, **details)
        scored = self._score(listing.elements, description, hints, screenshot.size)
        latency = time.monotonic() - start
        if not scored or scored[0][0] < _MIN_SCORE:
            best = f"; best was {scored[0][2].label!r} ({scored[0][0]:.2f})" if scored else ""
            named = [c for score, _, c, text_score in scored if text_score >= 0.8]
            why = (f"role mismatch: {len(named)} element(s) have the name but not the role or place asked for"
                   if named else f"no text match: no element among {len(listing.elements)} is named like the target")
            return GroundingResult.not_found(self.name, f"{why} ({description!r}){best}",
                                             candidates=[c for _, _, c, _ in scored[:5]], latency_s=latency,
                                             **details)
        best_score = scored[0][0]
        tied = [c for score, _, c, _ in scored if best_score - score <= _TIE]
        winner = scored[0][2]
        if len(tied) > 1 and hints.near is None and text_match.parse_position_hint(
                " ".join(filter(None, (hints.position, description)))).empty:
            # several equally good elements and nothing to choose by: say so with a lower confidence
            winner = Candidate(winner.point, winner.box, round(winner.score / len(tied), 4), winner.label, self.name)
            details["ambiguous"] = len(tied)
        candidates = [winner] + [c for _, _, c, _ in scored[1:5]]
        return GroundingResult.hit(winner, candidates, latency_s=latency, **details)

    def _listing(self, a11y: Any, near: tuple[int, int] | None, screenshot: Image.Image) -> tuple[Any, bool]:
        """The listing, reused for another question about the very same pixels within REUSE_S seconds (an
        evaluation, a planner's retry): the screen has not changed, and a walk of the tree costs 0.1-1 s."""
        key = (hashlib.blake2b(screenshot.tobytes(), digest_size=16).digest(), screenshot.size, near)
        now = time.monotonic()
        if self._last is not None and self._last[0] == key and now - self._last[1] <= REUSE_S:
            return self._last[2], True
        listing = self._list(a11y, near)
        self._last = (key, now, listing) if listing.complete and listing.elements else None
        return listing, False

    def _list(self, a11y: Any, near: tuple[int, int] | None) -> Any:
        from grounding.accessibility.tree import ElementListing, list_elements

        if hasattr(a11y, "_call_app"):  # an AtSpiAccessibility: the listing says whether it is complete
            return list_elements(a11y, near, node_cap=self.node_cap, timeout=self.timeout)
        return ElementListing(list(a11y.elements(near, node_cap=self.node_cap, timeout=self.timeout)),
                              scope="elements()")

    def _score(self, elements: list, description: str, hints: GroundingHints,
               size: tuple[int, int]) -> list[tuple[float, float, Candidate]]:
        """(score, tie-breaker, candidate) per element on the screenshot, best first."""
        parse = parse_description(description)
        targets = parse.targets
        wanted_roles = roles_for(parse) or roles_mentioned(description)
        hint_roles = roles_mentioned(hints.role) | {hints.role.casefold()} if hints.role else frozenset()
        position = text_match.parse_position_hint(hints.position).merged(parse.position)
        description_words, target_words = set(_words(description)), set(_words(parse.text))
        scored, hidden = [], []
        for element in elements:
            box = _clip(element.rect, hints.screen_origin, size) if element.rect else None
            if box is None:
                continue
            text_score = max([weight * max(text_match.similarity(target, element.name or ""),
                                           0.8 * text_match.similarity(target, element.description or ""))
                              for target, weight in targets] or [0.0])
            if element.name and parse.text and _contains_words(element.name, parse.text):
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
            score += _container_fit(parse, getattr(element, "ancestors", ()))
            score = max(0.0, score)  # not capped at 1 while ranking: an exact name plus a right role must
            # beat a near name plus a right role; the candidate's score (its confidence) is capped
            tiebreak = text_match.position_score(box, position, size) if not position.empty else 0.0
            if hints.near is not None:
                tiebreak += text_match.near_score(box, hints.near, scale=50)
            point = ((box[0] + box[2] - 1) // 2, (box[1] + box[3] - 1) // 2)
            candidate = (score, tiebreak, Candidate(point, box, round(min(score, 1.0), 4), element.name, self.name),
                         text_score)
            if getattr(element, "covered", False):  # hidden under a window stacked above its own: it loses
                hidden.append((min(score, _MIN_SCORE - 0.01),) + candidate[1:])
            else:
                scored.append(candidate)
        # ties (within _TIE) are settled by the tie-breaker: round scores into _TIE buckets for sorting
        scored.sort(key=lambda s: (-round(s[0] / _TIE), -s[1], -s[0]))
        hidden.sort(key=lambda s: -s[0])
        return scored + hidden


# A description's role (grounding.description) -> the AT-SPI roles that fit it
CANONICAL_ROLES: dict[str, frozenset[str]] = {
    "button": frozenset({"push button", "toggle button", "radio button", "push button menu"}),
    "toggle button": frozenset({"toggle button", "check box", "push button"}),
    "menu": frozenset({"menu", "push button menu"}),
    "menu item": frozenset({"menu item", "check menu item", "radio menu item", "tearoff menu item", "menu"}),
    "check menu item": frozenset({"check menu item", "menu item"}),
    "radio menu item": frozenset({"radio menu item", "menu item"}),
    "check box": frozenset({"check box", "check menu item", "toggle button"}),
    "radio button": frozenset({"radio button", "radio menu item"}),
    "tab": frozenset({"page tab"}),
    "column header": frozenset({"table column header", "column header", "header"}),
    "row header": frozenset({"table row header", "row header"}),
    "cell": frozenset({"table cell"}),
    "row": frozenset({"table row", "list item", "tree item", "table cell"}),
    "line": frozenset({"paragraph", "text", "label", "table cell", "list item", "static"}),
    "entry": frozenset({"text", "entry", "password text", "spin button", "combo box", "editbar"}),
    "spin button": frozenset({"spin button"}),
    "combo box": frozenset({"combo box", "push button menu", "menu"}),
    "list item": frozenset({"list item", "table cell", "tree item", "table row"}),
    "tree item": frozenset({"tree item", "table cell", "list item"}),
    "item": frozenset({"list item", "table cell", "tree item", "menu item", "table row", "icon", "check menu item",
                       "radio menu item"}),
    "label": frozenset({"label", "static", "text", "heading", "paragraph", "caption"}),
    "link": frozenset({"link"}),
    "icon": frozenset({"icon", "image", "desktop icon", "push button", "toggle button"}),
    "slider": frozenset({"slider"}),
    "scroll bar": frozenset({"scroll bar"}),
}
# A container's kind (grounding.description) -> the AT-SPI roles of ancestors that are one
_CONTAINER_ROLES = {
    "dialog": {"dialog", "frame", "window", "alert", "file chooser"}, "window": {"frame", "window", "dialog"},
    "tab": {"page tab"}, "menu": {"menu", "popup menu"}, "pane": {"panel", "filler", "scroll pane", "split pane"},
    "group": {"panel", "filler", "grouping", "section", "form"}, "list": {"list", "list box", "tree", "tree table"},
    "table": {"table", "tree table"},
}
_REGION_ROLES = {"toolbar": "tool bar", "menu bar": "menu bar", "status bar": "status bar"}


def roles_for(parse: TargetDescription) -> frozenset[str]:
    """The AT-SPI roles a parsed description's role allows (empty: it names no kind of element)."""
    return CANONICAL_ROLES.get(parse.role or "", frozenset())


def _container_fit(parse: TargetDescription, ancestors: tuple[tuple[str, str], ...]) -> float:
    """+0.1 per named container or region the element sits in, -0.1 per one it does not."""
    value = 0.0
    for container in parse.containers:
        if not container.name:
            continue
        kinds = _CONTAINER_ROLES.get(container.role, set())
        inside = any(role in kinds and text_match.similarity(container.name, name) >= 0.8 for role, name in ancestors)
        value += 0.1 if inside else -0.1
    if parse.region in _REGION_ROLES and ancestors:
        value += 0.1 if any(role == _REGION_ROLES[parse.region] for role, _ in ancestors) else -0.1
    return value


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
