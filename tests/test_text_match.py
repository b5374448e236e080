"""grounding.text_match: label normalisation, fuzzy similarity, position hints; and the target text
grounding.description reads out of a description."""

from __future__ import annotations

import pytest

from grounding.description import target_text
from grounding.text_match import (
    PositionHint, near_score, normalize_label, parse_position_hint, position_score, similarity,
)


@pytest.mark.parametrize("raw, expected", [
    ("&File", "file"), ("_File", "file"), ("E&xit", "exit"), ("Save As...", "save as"), ("Save As…", "save as"),
    ('"Open"', "open"), ("  Name:  ", "name"), ("(Cancel)", "cancel"), ("Save && Close", "save & close"),
    ("Sign   In", "sign in"), ("C++", "c++"), ("snake_case", "snake_case"), ("", ""), ("...", ""),
])
def test_normalize_label(raw: str, expected: str) -> None:
    assert normalize_label(raw) == expected


@pytest.mark.parametrize("description, expected", [
    ('click the "Save As…" button', "save as"),
    ("click the 'Delete' button", "delete"),
    ("click \u201cOpen\u201d", "open"),
    ("click the Open button", "open"),
    ("click Edit in the menu bar", "edit"),
    ("click on the File menu", "file"),
    ("double-click Item 4", "item 4"),            # a UI noun followed by a number is part of the label
    ("click Item 12 in the list", "item 12"),
    ("right click the menu item Rename", "rename"),
    ("click the button labeled Save", "save"),
    ("click the second OK button", "ok"),
    ("click Help at the top right", "help"),
    ("click the close button on the right side of the title bar", "close"),
    ("click Align Left", "align left"),            # a bare place word stays in the label
    ("click the Top Stories link", "top stories"),
    ("Sign in link", "sign in"),
    ("click Save in the File menu", "save"),
    ("open the Settings tab", "settings"),
    ("click the user's profile", "user's profile"),
    ("Save", "save"),
    ("click the Menu button", "menu"),             # a button named Menu
    ("the search box", "search box"),              # nothing but UI words: keep them
])
def test_target_text(description: str, expected: str) -> None:
    assert target_text(description) == expected


def test_similarity_exact_fuzzy_and_confusions() -> None:
    assert similarity("Save", "save") == 1.0
    assert similarity("&Save As...", "Save As") == 1.0
    assert similarity("Item 0", "Item O") == pytest.approx(0.95)   # OCR read the zero as a letter
    assert similarity("Open", "0pen") == pytest.approx(0.95)
    assert similarity("Item", "ltem") == pytest.approx(0.95)       # I/l
    assert similarity("Save As", "SaveAs") == pytest.approx(0.95)  # a lost space
    assert 0.8 <= similarity("Delete", "Delele") < 0.95
    assert similarity("Edit", "Exit") < 0.8
    assert similarity("Save", "") == 0.0


def test_similarity_numbers_are_significant() -> None:
    assert similarity("Item 4", "Item 1") < 0.5
    assert similarity("Item 99", "Item 9") < 0.5
    assert similarity("Item 12", "Item 12") == 1.0


@pytest.mark.parametrize("text, expected", [
    ("top right", PositionHint("top", "right")),
    ("bottom left", PositionHint("bottom", "left")),
    ("left side", PositionHint(horizontal="left")),
    ("center", PositionHint("middle", "center")),
    ("in the menu bar", PositionHint(region="menu bar")),
    ("in the toolbar", PositionHint(region="toolbar")),
    ("in the status bar", PositionHint(region="status bar")),
    ("the first", PositionHint(ordinal=1)),
    ("click the second OK button", PositionHint(ordinal=2)),
    ("select the last item", PositionHint(ordinal=-1)),
    ("the bottom-left Start button", PositionHint("bottom", "left")),
    ("click OK in the center of the screen", PositionHint("middle", "center")),
    ("right click Save", PositionHint()),            # a kind of click, not a place
    ("click Align Left", PositionHint()),
    ("click the First Name field", PositionHint(ordinal=1)),  # known ambiguity: read as an ordinal
    (None, PositionHint()),
])
def test_parse_position_hint(text, expected: PositionHint) -> None:
    assert parse_position_hint(text) == expected


def test_position_score_prefers_the_named_place() -> None:
    screen = (1000, 800)
    top_left, bottom_right = (10, 10, 60, 30), (900, 760, 980, 790)
    hint = parse_position_hint("top left")
    assert position_score(top_left, hint, screen) > 0.9 > 0.1 > position_score(bottom_right, hint, screen)
    menu = parse_position_hint("in the menu bar")
    assert position_score((100, 5, 140, 25), menu, screen) == 1.0
    assert position_score((100, 400, 140, 420), menu, screen) == 0.0
    status = parse_position_hint("in the status bar")
    assert position_score(bottom_right, status, screen) == 1.0
    assert position_score(top_left, PositionHint(), screen) == 1.0  # no hint: neutral


def test_near_score_falls_off_with_distance() -> None:
    assert near_score((0, 0, 10, 10), (5, 5), 100) == 1.0
    assert near_score((0, 0, 10, 10), (105, 5), 100) == pytest.approx(0.5)
