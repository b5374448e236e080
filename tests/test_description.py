"""grounding.description: planner-style descriptions taken apart, and the accessibility grounder using the
parse (role filter, containers by ancestor) on a listed tree."""

from __future__ import annotations

import pytest
from PIL import Image

from grounding.accessibility import AccessibilityGrounder, ElementInfo
from grounding.description import Container, parse_description
from tests.fakes import ListedAccessibility

SCREEN = Image.new("RGB", (1280, 800), "white")

# description -> (text, role, relation, containers, other fields that must hold)
CASES = [
    ("the Name column header", "name", "column header", None, [], {}),
    ("click the Unlimited drop-down list", "unlimited", "combo box", None, [], {"verb": "click"}),
    ("the Side Pane tab in the File Manager Preferences dialog", "side pane", "tab", None,
     [Container("dialog", "file manager preferences")], {}),
    ("the Draw frames around thumbnails check box", "draw frames around thumbnails", "check box", None, [], {}),
    ("the Read-Only checkable menu item", "read-only", "check menu item", None, [], {}),
    ("the cell containing 2200", "2200", "cell", "contains", [], {}),
    ("the row containing letter_to_team.txt", "letter_to_team.txt", "row", "contains", [], {}),
    ("the line that reads Design mock-ups approved", "design mock-ups approved", "line", "reads", [], {}),
    ("the label that reads Thumbnails on the Display tab", "thumbnails", "label", "reads",
     [Container("tab", "display")], {}),
    ('open "Sheet"', "sheet", None, None, [], {"verb": "open", "quoted": True}),
    ('the "File" menu', "file", "menu", None, [], {"quoted": True}),
    ("the Save button", "save", "button", None, [], {}),
    ("the magnifying glass icon", "magnifying glass", "icon", None, [], {}),
    ("the trash can", "trash can", None, None, [], {}),
    ("the button labelled Save", "save", "button", "labelled", [], {}),
    ("click Save in the File menu", "save", None, None, [Container("menu", "file")], {}),
    ("the Match case check box in the Find and Replace dialog", "match case", "check box", None,
     [Container("dialog", "find and replace")], {}),
    ("the Delete Line menu item", "delete line", "menu item", None, [], {}),  # "Line" stays in the label
    ("the Tab Size menu item", "tab size", "menu item", None, [], {}),
    ("the Toolbar menu item", "toolbar", "menu item", None, [], {"region": None}),  # a label, not a place
    ("the Save toolbar button", "save", "button", None, [], {"region": "toolbar"}),
    ("the Undo icon in the toolbar", "undo", "icon", None, [], {"region": "toolbar"}),
    ("tick Wrap around", "wrap around", "check box", None, [], {"verb": "tick"}),
    ("double-click Item 4", "item 4", None, None, [], {}),  # a role word before a number is a label
    ("click the 7 key", "7", "button", None, [], {}),
    ("Open", "open", None, None, [], {"verb": None}),  # the verb alone is the label
    ("click on the File menu", "file", "menu", None, [], {}),
    ("the Photos folder", "photos", "item", None, [], {}),
]


@pytest.mark.parametrize("description, text, role, relation, containers, more", CASES)
def test_planner_descriptions_are_taken_apart(description, text, role, relation, containers, more) -> None:
    parse = parse_description(description)
    assert (parse.text, parse.role, parse.relation) == (text, role, relation)
    assert list(parse.containers) == containers
    for field, value in more.items():
        actual = parse.region if field == "region" else getattr(parse, field)
        assert actual == value, field


def test_ordinals_places_and_relative_anchors() -> None:
    second = parse_description("the second OK button")
    assert (second.text, second.position.ordinal) == ("ok", 2)
    first_name = parse_description("click the First Name field")  # a capitalised ordinal is the label's
    assert (first_name.text, first_name.role, first_name.position.ordinal) == ("first name", "entry", None)
    close = parse_description("click the close button on the right side of the title bar")
    assert (close.text, close.position.horizontal, close.region) == ("close", "right", "title bar")
    below = parse_description("the field below Name")
    assert (below.text, below.role, below.relative) == ("", "entry", ("below", "name"))


def test_other_readings_and_symbols() -> None:
    select_all = parse_description("Select All")  # a verb that begins a label
    assert select_all.targets == (("select all", 1.0), ("all", 0.97))
    assert parse_description("click Select All").text == "select all"
    divide = parse_description("the divide button")  # a calculator key shows only its symbol
    assert ("/", 1.0) in divide.targets and divide.role == "button"
    assert parse_description("save the document (floppy disk icon)").note == "floppy disk icon"


def test_garbage_gives_an_empty_parse() -> None:
    for nonsense in ("", "   ", "the", "in the toolbar"):
        assert parse_description(nonsense).text == ""


def element(name, role, rect, ancestors=()):
    return ElementInfo(name, role, rect, "app", frozenset({"showing"}), None, False, tuple(ancestors))


def test_accessibility_uses_the_role_and_the_containers_of_the_parse() -> None:
    main, prefs = ("frame", "files"), ("dialog", "File Manager Preferences")
    elements = [
        element("Side Pane", "check menu item", (10, 30, 200, 50), [main, ("menu", "View")]),
        element("Side Pane", "page tab", (300, 100, 380, 130), [prefs]),
        element("Thumbnails", "label", (300, 200, 380, 220), [prefs, ("page tab", "General")]),
        element("Thumbnails", "label", (500, 200, 580, 220), [prefs, ("page tab", "Display")]),
        element("File", "menu", (0, 0, 40, 25), [main, ("menu bar", "")]),
        element("File", "table cell", (200, 600, 300, 620), [main, ("table", "")]),
        element("2200", "table cell", (600, 300, 700, 320), [main, ("table", "")]),
    ]
    grounder = AccessibilityGrounder(ListedAccessibility(elements))

    def lands(description, rect):
        result = grounder.ground(SCREEN, description)
        assert result.found and rect[0] <= result.point[0] < rect[2] and rect[1] <= result.point[1] < rect[3], \
            (description, result)

    lands("the Side Pane tab in the File Manager Preferences dialog", (300, 100, 380, 130))
    lands("the Side Pane checkable menu item", (10, 30, 200, 50))
    lands("the label that reads Thumbnails on the Display tab", (500, 200, 580, 220))
    lands('the "File" menu', (0, 0, 40, 25))
    lands("the cell containing File", (200, 600, 300, 620))
    lands("the cell containing 2200", (600, 300, 700, 320))
    missing = grounder.ground(SCREEN, "the Frobnicate button")
    assert not missing.found and missing.reason.startswith("no text match")
