"""Accessibility listing across windows: extents corrected per window (QT_SCALE_FACTOR), every
top-level listed with the ones hidden under another window losing, and icon names matched by words."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from grounding.accessibility import AtSpiAccessibility, ElementInfo, open_accessibility
from grounding.accessibility import AccessibilityGrounder
from grounding.accessibility import list_elements
from grounding.accessibility import WindowInfo
from grounding.accessibility.windows import Correction, extents_correction, window_correction
from pcagent.testbed.virtual_display import DisplayError, VirtualDisplay
from tests.fakes import ListedAccessibility
from tests.conftest import REPO_ROOT, SampleApp, skip_or_fail


def inside(rect, point) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


def near_box(a, b, slack=3) -> bool:
    return all(abs(x - y) <= slack for x, y in zip(a, b))


# ---- without a display ----------------------------------------------------------------------------


def test_extents_correction_snaps_scales_and_finds_offsets():
    fit = extents_correction((0, 0, 1000, 700), (0, 0, 2000, 1400))
    assert fit and fit[0] == Correction(2.0, (0, 0)) and fit[1] == 0
    assert extents_correction((10, 20, 1010, 720), (15, 30, 1515, 1080))[0].scale == 1.5
    relative = extents_correction((0, 0, 400, 300), (200, 100, 600, 400))[0]  # GTK4: window-relative
    assert relative == Correction(1.0, (200, 100)) and relative.rect((10, 10, 20, 20)) == (210, 110, 220, 120)
    assert extents_correction((0, 0, 1000, 700), (0, 0, 300, 900)) is None  # not one scale
    framed = extents_correction((96, 71, 1104, 800), (100, 100, 1100, 796))[0]  # decorations: no offset
    assert framed == Correction(1.0, (0, 0))
    assert Correction(2.0, (4, 6)).point_back(204, 406) == (100, 200)


def test_window_correction_fits_the_client_or_its_window_manager_frame():
    # a small GTK window under openbox: AT-SPI reports the frame (title bar included), X the client
    small = WindowInfo("t", "app", 1, rect=(320, 167, 880, 467), window_id=1, frame=(319, 147, 881, 472))
    assert extents_correction((319, 147, 881, 472), small.rect) is None  # the client alone: not the same box
    assert window_correction((319, 147, 881, 472), small) == (Correction(1.0, (0, 0)), 0.0)
    assert window_correction((320, 167, 880, 467), small) == (Correction(1.0, (0, 0)), 0.0)  # Qt: the client
    assert window_correction((320, 192, 624, 547), small) is None  # a popup menu's box is another window
    # a second window of the same size elsewhere fits only by an offset (GTK4 reports window-relative
    # extents), so it loses against the window at the reported place
    twin = WindowInfo("t", "app", 1, rect=(600, 300, 1160, 600), window_id=2, frame=(599, 280, 1161, 605))
    assert window_correction((319, 147, 881, 472), twin)[1] > 100


def el(name, role, rect, covered=False):
    return ElementInfo(name, role, rect, "app", frozenset({"showing"}), None, covered)


SCREEN = Image.new("RGB", (1280, 800), "white")


def test_icon_names_match_by_content_words_and_exact_names_stay_best():
    elements = [el("Save", "push button", (10, 100, 90, 130)), el("Save icon", "push button", (40, 40, 70, 70)),
                el("Open icon", "push button", (80, 40, 110, 70)), el("Refresh icon", "push button", (120, 40, 150, 70))]
    grounder = AccessibilityGrounder(ListedAccessibility(elements))
    assert inside((40, 40, 70, 70), grounder.ground(SCREEN, "save the document (floppy disk icon)").point)
    assert inside((80, 40, 110, 70), grounder.ground(SCREEN, "open a file (folder icon)").point)
    assert inside((10, 100, 90, 130), grounder.ground(SCREEN, 'click the "Save" button').point)
    assert not grounder.ground(SCREEN, "reload (circular arrows icon)").found
    menus = AccessibilityGrounder(ListedAccessibility([el("Edit", "menu item", (40, 0, 80, 20)),
                                          el("Copy\tCtrl+C", "menu item", (40, 80, 200, 100))]))
    assert inside((40, 80, 200, 100), menus.ground(SCREEN, 'click "Copy" in the Edit menu').point)


def test_a_covered_element_loses_and_is_never_the_answer_alone():
    elements = [el("Close", "push button", (10, 10, 90, 40), covered=True),
                el("Close", "push button", (300, 300, 380, 330))]
    grounder = AccessibilityGrounder(ListedAccessibility(elements))
    assert inside((300, 300, 380, 330), grounder.ground(SCREEN, "the Close button").point)
    alone = AccessibilityGrounder(ListedAccessibility(elements[:1])).ground(SCREEN, "the Close button")
    assert not alone.found


# ---- on virtual displays --------------------------------------------------------------------------


def _launch(display: VirtualDisplay, log: Path, *args: str, env: dict | None = None) -> SampleApp:
    child_env = display.child_env()
    child_env.update(env or {})
    proc = subprocess.Popen([sys.executable, "-m", "pcagent.testbed.sampleapp", "--log", str(log), *args],
                            env=child_env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    app = SampleApp(proc, log)
    try:
        app.ready = app.wait_for("ready", timeout=30)
    except AssertionError:
        app.stop()
        raise
    app.widgets = {name: tuple(rect) for name, rect in app.ready["widgets"].items()}
    return app


@pytest.fixture
def scaled_app(tmp_path):
    """The sample app (with menus) under QT_SCALE_FACTOR=2 on its own 2048x1600 display."""
    try:
        display = VirtualDisplay(2048, 1600, accessibility=True).start()
    except DisplayError as exc:
        skip_or_fail(str(exc))
    if display.accessibility_error:
        display.stop()
        pytest.skip(display.accessibility_error)
    app = _launch(display, tmp_path / "scaled.jsonl", "--menus", env={"QT_SCALE_FACTOR": "2"})
    a11y = open_accessibility(env=dict(display.env))
    yield display, app, a11y
    a11y.close()
    app.stop()
    display.stop()


def _wait_listing(a11y, name, timeout=8.0, **kwargs):
    deadline = time.monotonic() + timeout
    while True:
        listing = list_elements(a11y, **kwargs)
        if any(e.name == name for e in listing.elements) or time.monotonic() > deadline:
            return listing


@pytest.mark.display
@pytest.mark.timeout(120)
def test_scaled_qt_extents_are_corrected(scaled_app):
    display, app, a11y = scaled_app
    assert isinstance(a11y, AtSpiAccessibility), a11y.reason
    listing = _wait_listing(a11y, "Item 3")
    assert any(w["scale"] == 2.0 for w in listing.windows), listing.windows
    by_name = {e.name: e for e in listing.elements}
    assert near_box(by_name["Save"].rect, app.rect("save")), (by_name["Save"].rect, app.rect("save"))
    assert near_box(by_name["Item 3"].rect, app.rect("item_3"))
    assert "Name:" in by_name and "Ready" in by_name  # labels are named by their text
    at = a11y.element_at(*app.center("delete"))
    assert at is not None and at.name == "Delete" and near_box(at.rect, app.rect("delete")), at
    screen = Image.new("RGB", (2048, 1600), "white")
    grounder = AccessibilityGrounder(a11y)
    assert inside(app.rect("open"), grounder.ground(screen, 'click the "Open" button').point)
    icon = grounder.ground(screen, "save the document (floppy disk icon)")
    assert inside(app.rect("icon_save"), icon.point), (icon.point, icon.candidates[:3])


@pytest.mark.display
@pytest.mark.timeout(120)
def test_a_window_on_top_hides_the_one_below(xdisplay, tmp_path):
    if xdisplay.accessibility_error:
        pytest.skip(xdisplay.accessibility_error)
    below = _launch(xdisplay, tmp_path / "below.jsonl")
    above = _launch(xdisplay, tmp_path / "above.jsonl", "--layout", "moved")
    a11y = open_accessibility(env=dict(xdisplay.env))
    try:
        listing = _wait_listing(a11y, "Item 3", everything=True)
        assert len(listing.windows) >= 2
        saves = [e for e in listing.elements if e.name == "Save"]
        assert len(saves) == 2
        covered = {e.rect: e.covered for e in saves}
        assert covered.get(below.rect("save")) is True and covered.get(above.rect("save")) is False, covered
        screen = Image.new("RGB", (1280, 800), "white")
        result = AccessibilityGrounder(a11y).ground(screen, 'click the "Save" button')
        assert inside(above.rect("save"), result.point), (result.point, above.rect("save"))
    finally:
        a11y.close()
        above.stop()
        below.stop()
