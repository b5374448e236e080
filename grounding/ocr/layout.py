"""Where OCR text sits, for matching by role: rows of text, bars, containers, check boxes.

OCR gives text and boxes, not roles; the layout tells some roles apart:

- ``TextLayout.rows``: the lines grouped into rows (one height band), their words left to right. A row
  is a *bar* when it holds several short items far apart: a menu bar, a tab strip, a table's header row
  (a sentence's words sit close together). The detector may read a menu bar as one line or as one line
  per title (at scale 2 it does the latter); rows see both the same way.
- ``role_fit``: 0..1, how well a candidate's place fits the role the description names (a menu title
  sits in a bar, high up; a menu item does not sit in the menu bar).
- ``place_fit``: 0..1, how well it fits "in the X dialog" / "on the X tab" / "in the X menu" (below and near
  where X is read) and "below / above / left of / right of / next to X".
- ``mark_left_of``: the box of a check box or radio button drawn left of its label, so the point lands on it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from PIL import Image

from grounding.base import Box, box_center, box_contains

BAR_MIN_ITEMS = 3
BAR_GAP_RATIO = 0.45  # median gap between a bar's items, in item heights (a sentence's is 0.15 to 0.3)
ANCHOR_SCALE_PX = 350.0  # how fast "near the container" falls off
MENU_ROLES = frozenset({"menu"})
BAR_ROLES = frozenset({"menu", "tab", "column header"})
MENU_ITEM_ROLES = frozenset({"menu item", "check menu item", "radio menu item"})
MARK_ROLES = frozenset({"check box", "radio button"})


# a menu item's keyboard shortcut ("Ctrl+V", "Shift+Ctrl+S", "F3"): it makes a row a menu's, not a bar
SHORTCUT_RE = re.compile(r"^(?:(?:ctrl|shift|alt|super|meta|cmd)\+)+\S+$|^F\d{1,2}$", re.I)


@dataclass
class TextRow:
    """Lines that share a height band, and their word boxes left to right (shortcuts apart)."""

    box: Box
    items: list[Box] = field(default_factory=list)
    bar: bool = False
    shortcut: bool = False  # it holds a keyboard shortcut: an open menu's item row


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _same_band(a: Box, b: Box) -> bool:
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    ha, hb = a[3] - a[1], b[3] - b[1]
    return overlap >= 0.5 * min(ha, hb) and max(ha, hb) <= 1.8 * min(ha, hb)


class TextLayout:
    """Rows and bars of one screenshot's OCR text, from its lines with their words
    (``grounding.ocr.engine.group_words_by_line``)."""

    def __init__(self, lines: Sequence[tuple[Any, list[Any]]]) -> None:
        rows: list[tuple[Box, list[Box], bool]] = []
        for line, words in sorted(lines, key=lambda g: (g[0] or g[1][0]).box[1]):
            line_box = (line or words[0]).box
            shortcut = SHORTCUT_RE.match((line or words[0]).text.strip()) is not None
            items = [] if shortcut else ([w.box for w in words] or [line_box])
            for index, (row_box, row_items, row_shortcut) in enumerate(rows):
                if _same_band(row_box, line_box):
                    rows[index] = (_union([row_box, line_box]), row_items + items, row_shortcut or shortcut)
                    break
            else:
                rows.append((line_box, list(items), shortcut))
        self.rows = [TextRow(box, sorted(items), _is_bar(sorted(items)) and not shortcut, shortcut)
                     for box, items, shortcut in rows]

    def row_of(self, box: Box) -> TextRow | None:
        centre = box_center(box)
        return next((row for row in self.rows if box_contains(row.box, centre)), None)


def _is_bar(items: list[Box]) -> bool:
    if len(items) < BAR_MIN_ITEMS:
        return False
    heights = sorted(b[3] - b[1] for b in items)
    gaps = sorted(max(0, b[0] - a[2]) for a, b in zip(items, items[1:]))
    return gaps[len(gaps) // 2] >= BAR_GAP_RATIO * heights[len(heights) // 2]


def role_fit(box: Box, role: str | None, verb: str | None, layout: TextLayout,
             size: tuple[int, int]) -> float | None:
    """0..1 for roles whose place OCR can judge; None when the role says nothing about the place."""
    row = layout.row_of(box)
    bar = row is not None and row.bar
    height_share = 1.0 - (box[1] + box[3]) / 2 / max(size[1], 1)
    if role in BAR_ROLES:  # a menu title, a tab, a column header: in a bar, and the higher the likelier
        return 0.7 * bar + 0.3 * height_share
    if role in MENU_ITEM_ROLES:  # an open menu's item (often beside its shortcut), not a menu bar's title
        return 0.3 if bar else (1.0 if row is not None and row.shortcut else 0.8)
    if role is None and verb == "open":  # 'open "Sheet"': most often a menu
        return 0.35 * bar + 0.15 * height_share + 0.5
    return None


def find_text(candidates: Sequence, threshold: float) -> Box | None:
    """The best (then highest) box among scored candidates at or above ``threshold``, or None."""
    good = [c for c in candidates if c.score >= threshold and c.box is not None]
    if not good:
        return None
    best = max(c.score for c in good)
    return min((c for c in good if c.score >= best - 0.02), key=lambda c: (c.box[1], c.box[0])).box


def place_fit(box: Box, anchor: Box, relation: str) -> float:
    """0..1: how well ``box`` sits ``relation`` to ``anchor`` ("inside" a container named at the anchor:
    below and near it; "below", "above", "left of", "right of", "next to")."""
    cx, cy = box_center(box)
    ax, ay = box_center(anchor)
    dx, dy = cx - ax, cy - ay
    if relation == "inside":
        if cy < anchor[1]:
            return 0.0
        return 1.0 / (1.0 + math.hypot(dx / 2, dy) / ANCHOR_SCALE_PX)
    if relation == "below":
        ok = cy > anchor[3] and abs(dx) < 2 * max(anchor[2] - anchor[0], 80)
    elif relation == "above":
        ok = cy < anchor[1] and abs(dx) < 2 * max(anchor[2] - anchor[0], 80)
    elif relation == "left of":
        ok = cx < anchor[0] and abs(dy) < 2 * max(anchor[3] - anchor[1], 12)
    elif relation == "right of":
        ok = cx > anchor[2] and abs(dy) < 2 * max(anchor[3] - anchor[1], 12)
    else:  # next to
        ok = True
    return (1.0 / (1.0 + math.hypot(dx, dy) / 200.0)) if ok else 0.0


def mark_left_of(image: Image.Image, label: Box, ink_contrast: int = 20) -> Box | None:
    """The box of a check box or radio button just left of a label (a square-ish shape about the text's
    height, the nearest one), in image pixels; None when there is none."""
    import cv2  # imported here: only check boxes need it

    height = label[3] - label[1]
    left, top = max(0, label[0] - 3 * height - 6), max(0, label[1] - height // 2)
    right, bottom = label[0] - 1, min(image.height, label[3] + height // 2)
    if right - left < 6 or bottom - top < 6:
        return None
    grey = np.asarray(image.crop((left, top, right, bottom)).convert("L"), dtype=np.int16)
    background = int(np.median(grey))
    ink = (np.abs(grey - background) > ink_contrast).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    best = None
    for x, y, w, h, _area in stats[1:count]:
        square = 0.7 <= w / max(h, 1) <= 1.4
        if square and 0.5 * height <= max(w, h) <= 1.8 * height and (best is None or x + w > best[0] + best[2]):
            best = (int(x), int(y), int(w), int(h))
    if best is None:
        return None
    x, y, w, h = best
    return left + x, top + y, left + x + w, top + y + h
