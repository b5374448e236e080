"""Matching a target description against text read from the screen.

Pure functions, no I/O:

- ``normalize_label``: the comparable form of a label ("&Save As..." -> "save as").
- ``similarity``: 0..1, tolerant of OCR confusions (0/O, 1/l/I) but strict about numbers.
- ``parse_position_hint`` / ``position_score``: "top right", "in the menu bar", "second" ... used to
  break ties between equally good text matches.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from dataclasses import dataclass

from grounding.base import Box

# ----- normalisation --------------------------------------------------------------------------------

_QUOTE_CHARS = "\"'`\u2018\u2019\u201c\u201d\u00ab\u00bb\u2039\u203a"
_ELLIPSIS = re.compile(r"\u2026|\.{2,}")
_ACCELERATOR = re.compile(r"(?:(?<=^)|(?<=[\s(\[]))[&_](?=\w)|(?<=\w)&(?=\w)")
_EDGE_PUNCT = re.compile(r"^(?:[^\w+#%]|_)+|(?:[^\w+#%]|_)+$")


def normalize_label(text: str) -> str:
    """Case-folded label without accelerator marks, ellipses, surrounding punctuation or extra spaces."""
    text = unicodedata.normalize("NFKC", text or "")
    text = _ELLIPSIS.sub(" ", text)
    text = text.replace("&&", "\0")  # Qt/Win32 escape for a literal ampersand
    text = _ACCELERATOR.sub("", text).replace("\0", "&")
    text = " ".join(text.casefold().split())
    return _EDGE_PUNCT.sub("", text).strip()


# ----- positions ------------------------------------------------------------------------------------

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5}
_REGIONS = {"menu bar": "menu bar", "menubar": "menu bar", "toolbar": "toolbar", "tool bar": "toolbar",
            "status bar": "status bar", "statusbar": "status bar", "title bar": "title bar",
            "taskbar": "taskbar", "task bar": "taskbar"}
_REGION_RE = re.compile(r"(?:\b(?:in|on|at|from|of|inside)\s+)?(?:the\s+)?\b(" + "|".join(
    re.escape(k) for k in sorted(_REGIONS, key=len, reverse=True)) + r")\b")
_VERTICAL_WORDS = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom",
                   "middle": "middle", "centre": "middle", "center": "middle"}
_HORIZONTAL_WORDS = {"left": "left", "right": "right", "middle": "center", "centre": "center",
                     "center": "center"}
# "at the top right corner", "on the left side", "bottom-left", "centre of the screen". A bare "left" is
# not a position ("Align Left" is a label): a phrase needs a preposition, a second place word or a suffix.
_PLACE_RE = re.compile(
    r"(?P<prep>\b(?:in|on|at|near|towards?)\s+(?:the\s+(?:very\s+)?)?)?"
    r"\b(?P<first>top|upper|bottom|lower|left|right|middle|centre|center)"
    r"(?:[\s-]+(?P<second>left|right|middle|centre|center))?"
    r"(?P<suffix>[\s-]+(?:hand\s+)?(?:side|corner|edge|part|half|area)\b)?"
    r"(?P<of>\s+of\s+the\s+(?:screen|window|page|dialog|display)\b)?\b")
_CLICK_VERB_RE = re.compile(r"\b(?:left|right|middle|double|triple)[\s-]*click")
# an ordinal only after "the" ("the second OK button"); "First Name" is a label
_ORDINAL_RE = re.compile(r"\bthe\s+(" + "|".join(_ORDINALS) + r"|last)\b(?:\s+one\b)?")
_ONLY_PLACE_WORDS_RE = re.compile(
    r"(?:[\s,-]|\b(?:the|of|in|on|at|side|hand|corner|edge|part|half|area|screen|window|top|upper|bottom|"
    r"lower|left|right|middle|centre|center)\b)*")


def place_phrases(text: str) -> list[re.Match]:
    """Position phrases in (case-folded) text, bare place words left out."""
    return [m for m in _PLACE_RE.finditer(text)
            if m.group("prep") or m.group("second") or m.group("suffix") or m.group("of")]


@dataclass(frozen=True)
class PositionHint:
    """Where on the screen the target is said to be; every field optional."""

    vertical: str | None = None  # "top" | "middle" | "bottom"
    horizontal: str | None = None  # "left" | "center" | "right"
    region: str | None = None  # "menu bar" | "toolbar" | "status bar" | "title bar" | "taskbar"
    ordinal: int | None = None  # 1-based, in reading order among equal matches

    @property
    def empty(self) -> bool:
        return not (self.vertical or self.horizontal or self.region or self.ordinal)

    def merged(self, other: "PositionHint") -> "PositionHint":
        """Fields of self, filled in from other where self has none."""
        return PositionHint(self.vertical or other.vertical, self.horizontal or other.horizontal,
                            self.region or other.region, self.ordinal or other.ordinal)


def parse_position_hint(text: str | None) -> PositionHint:
    """Read "top right", "left side", "center", "in the menu bar", "second" ... out of free text."""
    if not text:
        return PositionHint()
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    text = _CLICK_VERB_RE.sub(" ", text)  # "right click" is a button, not a place
    region = None
    if match := _REGION_RE.search(text):
        region = _REGIONS[match.group(1)]
        text = text[:match.start()] + " " + text[match.end():]
    vertical = horizontal = None
    only_places = _ONLY_PLACE_WORDS_RE.fullmatch(text) is not None  # a hint string: "center", "left"
    for match in (_PLACE_RE.finditer(text) if only_places else place_phrases(text)):
        words = [w for w in (match.group("first"), match.group("second")) if w]
        for word in words:
            if word in ("top", "upper", "bottom", "lower"):
                vertical = vertical or _VERTICAL_WORDS[word]
            elif word in ("left", "right"):
                horizontal = horizontal or word
        if all(w in ("middle", "centre", "center") for w in words):
            vertical, horizontal = vertical or "middle", horizontal or "center"
        elif words[0] in ("middle", "centre", "center"):
            vertical = vertical or "middle"
    ordinal = None
    if match := _ORDINAL_RE.search(text):
        ordinal = -1 if match.group(1) == "last" else _ORDINALS[match.group(1)]
    return PositionHint(vertical, horizontal, region, ordinal)


# Expected band (fraction of the screen height) for each named region; outside it the score decays.
_REGION_BANDS = {"title bar": (0.0, 0.04), "menu bar": (0.0, 0.08), "toolbar": (0.02, 0.16),
                 "status bar": (0.9, 1.0), "taskbar": (0.93, 1.0)}


def _band_score(value: float, low: float, high: float, falloff: float = 0.15) -> float:
    if low <= value <= high:
        return 1.0
    distance = low - value if value < low else value - high
    return max(0.0, 1.0 - distance / falloff)


def position_score(box: Box, hint: PositionHint, screen_size: tuple[int, int]) -> float:
    """How well a box's centre fits the hint, 0..1 (1.0 for an empty hint). Ordinals are not scored here."""
    width, height = max(screen_size[0], 1), max(screen_size[1], 1)
    cx = (box[0] + box[2]) / 2 / width
    cy = (box[1] + box[3]) / 2 / height
    scores: list[float] = []
    if hint.horizontal == "left":
        scores.append(1.0 - cx)
    elif hint.horizontal == "right":
        scores.append(cx)
    elif hint.horizontal == "center":
        scores.append(1.0 - 2 * abs(cx - 0.5))
    if hint.vertical == "top":
        scores.append(1.0 - cy)
    elif hint.vertical == "bottom":
        scores.append(cy)
    elif hint.vertical == "middle":
        scores.append(1.0 - 2 * abs(cy - 0.5))
    if hint.region in _REGION_BANDS:
        scores.append(_band_score(cy, *_REGION_BANDS[hint.region]))
    if not scores:
        return 1.0
    return max(0.0, min(1.0, sum(scores) / len(scores)))


# ----- similarity -----------------------------------------------------------------------------------

# Characters OCR confuses, mapped to one representative (applied after case-folding).
_CONFUSABLE = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1", "!": "1", "s": "5", "z": "2",
                             "\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-"})


def _confusion_form(text: str) -> str:
    return text.translate(_CONFUSABLE)


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+", text)


def similarity(a: str, b: str) -> float:
    """0..1: 1.0 for equal labels, ~0.95 when only OCR confusions or spacing differ, else fuzzy.

    Numbers are significant: "Item 4" vs "Item 1" scores low, since a near-miss there is a different
    element, not a misreading. A digit that OCR read as a letter ("Item O") still counts as the digit.
    """
    raw_a, raw_b = "".join((a or "").split()), "".join((b or "").split())
    a, b = normalize_label(a), normalize_label(b)
    if not a or not b:  # symbols alone ("/", "<-", "="): equal as written, or not at all
        return 1.0 if not a and not b and raw_a and raw_a == raw_b else 0.0
    if a == b:
        return 1.0
    ca, cb = _confusion_form(a), _confusion_form(b)
    if ca == cb or ca.replace(" ", "") == cb.replace(" ", ""):
        return 0.95
    if a.replace(" ", "") == b.replace(" ", ""):
        return 0.95
    # plain letters first, so "Open" vs "0pen" does not look better than it is; then with confusions
    score = max(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(),
                0.97 * difflib.SequenceMatcher(None, ca, cb, autojunk=False).ratio())
    # confusion forms compare digits that OCR may have read as letters; Item 1 / Item 4 differ there
    if _numbers(ca) != _numbers(cb) and (_numbers(a) or _numbers(b)):
        score *= 0.5
    return round(score, 4)


def near_score(box: Box, point: tuple[int, int], scale: float) -> float:
    """1.0 at ``point``, falling off with distance (half at ``scale`` pixels)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return 1.0 / (1.0 + math.hypot(cx - point[0], cy - point[1]) / max(scale, 1.0))
