"""grounding.accessibility.engine (+ the elements() listing) against the real sample app on Xvfb."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from grounding.accessibility import ElementInfo, NullAccessibility
from grounding.accessibility.engine import AccessibilityGrounder, roles_mentioned
from grounding.accessibility import list_elements
from grounding.base import GroundingHints
from tests.fakes import ListedAccessibility

SCREEN = Image.new("RGB", (1280, 800), "white")


def inside(rect, point) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


# ---- without a display ----------------------------------------------------------------------------


def test_without_accessibility_says_not_available():
    grounder = AccessibilityGrounder(NullAccessibility("no D-Bus session bus"))
    result = grounder.ground(SCREEN, "the Save button")
    assert not result.found and result.engine == "accessibility"
    assert "not available" in result.reason and "no D-Bus session bus" in result.reason
    assert NullAccessibility("x").elements() == []


def test_role_words():
    assert "push button" in roles_mentioned("the Save button")
    assert "password text" in roles_mentioned("Password field")
    assert "list item" in roles_mentioned("the list item Item 3")
    assert "check box" in roles_mentioned("the Remember me check-box")
    assert "page tab" in roles_mentioned("the Settings tab")
    assert roles_mentioned("Save") == frozenset()


def element(name, role, rect, description=None):
    return ElementInfo(name, role, rect, "app", frozenset({"showing"}), description)


def test_matching_prefers_name_and_role_and_settles_ties_by_position_and_nearness():
    elements = [element("Save", "push button", (900, 10, 980, 40)), element("Save", "push button", (10, 10, 90, 40)),
                element("Save", "label", (10, 700, 90, 730)), element("Saved", "push button", (400, 10, 480, 40))]
    grounder = AccessibilityGrounder(ListedAccessibility(elements))
    result = grounder.ground(SCREEN, "the Save button")
    assert result.found and result.details.get("ambiguous") == 2 and result.confidence <= 0.5
    right = grounder.ground(SCREEN, "the Save button at the top right")
    assert inside((900, 10, 980, 40), right.point) and "ambiguous" not in right.details
    near = grounder.ground(SCREEN, "the Save button", GroundingHints(near=(30, 30)))
    assert inside((10, 10, 90, 40), near.point)
    label = grounder.ground(SCREEN, "the Save label")
    assert inside((10, 700, 90, 730), label.point)


def test_screen_origin_shifts_and_boxes_are_clipped():
    elements = [element("Wide", "push button", (1200, 500, 1400, 540))]
    grounder = AccessibilityGrounder(ListedAccessibility(elements))
    result = grounder.ground(SCREEN, "Wide", GroundingHints(screen_origin=(100, 0)))
    assert result.box == (1100, 500, 1280, 540) and inside(result.box, result.point)
    off = grounder.ground(SCREEN, "Wide", GroundingHints(screen_origin=(1500, 0)))
    assert not off.found


def test_description_field_matches_and_nonsense_does_not():
    elements = [element("Name", "text", (90, 80, 340, 110), "Type a name")]
    grounder = AccessibilityGrounder(ListedAccessibility(elements))
    assert grounder.ground(SCREEN, "Type a name").found
    missing = grounder.ground(SCREEN, "the Frobnicate button")
    assert not missing.found and "no element" in missing.reason


# ---- on the virtual display -----------------------------------------------------------------------


def wait_for_listing(a11y, name, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        listing = list_elements(a11y)
        if any(e.name == name for e in listing.elements) or time.monotonic() > deadline:
            return listing
        time.sleep(0.1)


@pytest.mark.display
@pytest.mark.timeout(120)
class TestOnSampleApp:
    def test_elements_lists_the_window(self, a11y, sample_app, xdo):
        # Without a window manager a new window is not focused by itself: click it, as a user would.
        xdo.click(*sample_app.center("status"))
        listing = wait_for_listing(a11y, "Item 3")
        assert listing.complete and listing.scope == "active window"
        by_name = {e.name: e for e in listing.elements}
        assert by_name["Save"].role == "push button" and by_name["Save"].rect == sample_app.rect("save")
        assert by_name["Password"].role == "password text"
        assert by_name["Name"].description == "Type a name"
        assert "showing" in by_name["Item 3"].states and by_name["Item 3"].application
        assert "Item 90" not in by_name  # scrolled out of view: not showing
        assert [e.name for e in a11y.elements()] == [e.name for e in listing.elements]
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            list_elements(a11y)
            timings.append(time.perf_counter() - start)
        print(f"elements() on the sample app: {len(listing.elements)} elements, {listing.visited} nodes, "
              f"median {sorted(timings)[2] * 1000:.1f} ms")
        assert sorted(timings)[2] < 1.0

    def test_node_cap_and_near(self, a11y, sample_app):
        wait_for_listing(a11y, "Save")
        capped = list_elements(a11y, node_cap=10)
        assert not capped.complete and "node cap" in capped.note and capped.visited <= 10
        near = list_elements(a11y, near=sample_app.center("pad"))
        assert near.scope == "window under point" and any(e.name == "Press pad" for e in near.elements)

    @pytest.mark.parametrize("description, widget", [
        ("the Save button", "save"), ("Password field", "password"), ("Item 3", "item_3"),
        ("click the Delete button", "delete"), ("the Name text field", "name"), ("Open", "open"),
    ])
    def test_descriptions_land_in_their_widgets(self, a11y, sample_app, grab, description, widget):
        wait_for_listing(a11y, "Item 3")
        result = AccessibilityGrounder(a11y).ground(grab(), description)
        assert result.found, result.reason
        assert inside(sample_app.rect(widget), result.point), (description, result.point, result.box)
        assert result.engine == "accessibility" and result.confidence > 0.6

    def test_hints_near_picks_the_window_and_role_hint(self, a11y, sample_app, grab):
        wait_for_listing(a11y, "Item 3")
        hints = GroundingHints(near=sample_app.center("item_3"), role="list item")
        result = AccessibilityGrounder(a11y).ground(grab(), "Item 3", hints)
        assert inside(sample_app.rect("item_3"), result.point)
        missing = AccessibilityGrounder(a11y).ground(grab(), "the Frobnicate button")
        assert not missing.found and "no element" in missing.reason
