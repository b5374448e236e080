"""Role-aware grounding and offline icons on real screens: mousepad (GTK 3, its toolbar shown through its
GSettings key on the keyfile backend) on Xvfb in a light and a dark theme, and the Qt sample app's menus."""

from __future__ import annotations

import shutil
import time

import pytest

from grounding.accessibility import list_elements
from grounding.base import box_contains
from grounding.icons import IconGrounder, IconTemplates, ThemeIndex
from grounding.ocr import OcrCache, OcrGrounder
from pcagent.testbed.real_programs import REAL_PROGRAMS, RunningProgram
from pcagent.testbed.virtual_display import VirtualDisplay
from pcagent.testbed.xdo import Xdo, grab
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.display, pytest.mark.timeout(240)]

# mousepad's toolbar: accessible name -> how a planner describes the icon by look
LOOKS = {"Save": "the floppy disk icon", "Find": "the magnifying glass icon", "Cut": "the scissors",
         "Paste": "the clipboard icon", "Undo": "the curved arrow pointing left", "Fullscreen": "the four arrows icon"}


class Mousepad:
    """mousepad running on its own display, with its listed elements by name."""

    def __init__(self, display: VirtualDisplay, run: RunningProgram, main) -> None:
        self.display, self.run, self.main = display, run, main
        self.xdo = Xdo(run.env)

    def elements(self) -> list:
        return list_elements(self.run.a11y, None, node_cap=6000, timeout=8.0, everything=True).elements

    def rect(self, name: str, role: str) -> tuple[int, int, int, int]:
        return next(e.rect for e in self.elements() if (e.name or "").strip() == name and e.role == role)


@pytest.fixture(scope="module", params=["light", "dark"])
def mousepad(request, tmp_path_factory):
    program = REAL_PROGRAMS["mousepad"]
    if program.missing() or not shutil.which("Xvfb"):
        skip_or_fail(f"mousepad on Xvfb is needed: {program.missing() or 'Xvfb is not installed'}")
    with VirtualDisplay(1280, 800, accessibility=True) as display:
        if display.accessibility_error:
            skip_or_fail(display.accessibility_error)
        run = RunningProgram(display, program, request.param, tmp_path_factory.mktemp(f"mousepad-{request.param}"))
        try:
            main = run.wait_ready()
            assert main is not None, "mousepad showed no window with an accessible tree"
            yield Mousepad(display, run, main)
        finally:
            run.stop()


@pytest.fixture(scope="module")
def icon_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("icon-cache")  # rendered icons, kept out of the user's ~/.cache


def test_the_toolbar_icons_are_found_by_function_and_by_look(mousepad, icon_cache):
    """Every icon-only button of mousepad's toolbar, from the installed Adwaita icons, light and dark."""
    toolbar = [e for e in mousepad.elements() if e.role == "push button" and any(
        role == "tool bar" for role, _ in e.ancestors)]
    assert len(toolbar) >= 14, "the toolbar is shown (GSettings toolbar-visible=true through the keyfile backend)"
    screen = grab(mousepad.display)
    grounder = IconGrounder(IconTemplates(ThemeIndex("Adwaita"), cache=icon_cache))
    for element in toolbar:
        label = element.name.strip().rstrip(".")
        result = grounder.ground(screen, f"the {label} button")
        assert result.found and box_contains(element.rect, result.point), (label, result.reason, result.point)
        if label in LOOKS:
            by_look = grounder.ground(screen, LOOKS[label])
            assert by_look.found and box_contains(element.rect, by_look.point), (LOOKS[label], by_look.reason)


def test_role_words_pick_the_menu_and_the_check_box(mousepad, request):
    """The menu bar's "File", not the "File" typed in the text; a check box's label is read and the point
    goes to its box."""
    if "dark" in request.node.callspec.id:
        pytest.skip("one theme is enough for the text roles")
    xdo = mousepad.xdo
    xdo.run("mousemove", (mousepad.main[0] + mousepad.main[2]) // 2, (mousepad.main[1] + mousepad.main[3]) // 2)
    xdo.run("click", 1)
    xdo.run("key", "ctrl+End", "Return")
    for word in ("File", "Search", "View"):
        xdo.run("type", word)
        xdo.run("key", "Return")
    time.sleep(0.8)
    grounder = OcrGrounder(cache=OcrCache())
    screen = grab(mousepad.display)
    for title in ("File", "Search", "View"):
        menu = mousepad.rect(title, "menu")
        for description in (f'the "{title}" menu', f"open the {title} menu", f"click {title} in the menu bar"):
            result = grounder.ground(screen, description)
            assert result.found and box_contains(menu, result.point), (description, result.point, menu)
    # the same words as lines of the text: without a role the whole line "File" beats the menu bar's word
    for description in ("File", "the line that reads Search"):
        typed = grounder.ground(screen, description)
        assert typed.found and typed.point[1] > mousepad.rect("Search", "menu")[3] + 20, description
    xdo.run("key", "ctrl+r")
    time.sleep(2.0)
    screen = grab(mousepad.display)
    check_box = mousepad.rect("Match case", "check box")
    ticked = grounder.ground(screen, "tick the Match case check box")
    assert ticked.found and box_contains(check_box, ticked.point)
    label = ticked.candidates[0].box
    assert "mark" in ticked.details and ticked.point[0] < ticked.details["mark"][2] <= label[2]
    assert ticked.point[0] < min(c.box[0] for c in grounder.ground(screen, "Match case").candidates[:1])
    xdo.run("mousemove", check_box[0] + 5, check_box[1] + 5, "key", "Escape")


def test_qt_sample_app_menus(launch_sample_app, grab, xdo):
    """The sample app (Qt): a menu title by its role, menu items by the menu they are in, while the same
    words are on buttons beside the open menu."""
    app = launch_sample_app("--menus", "--layout", "moved")
    grounder = OcrGrounder(cache=OcrCache())
    screen = grab()
    for title in ("File", "Help"):
        result = grounder.ground(screen, f"the {title} menu")
        assert result.found and box_contains(app.rect(f"menu_{title.lower()}"), result.point)
    xdo.click(*app.center("menu_file"))
    shown = app.wait_for("menu_shown", menu="File")
    time.sleep(0.4)
    screen = grab()
    for item in ("Save", "Open"):
        box = shown["actions"].get(item) or shown["actions"][f"{item}..."]
        for description in (f"the {item} item in the File menu", f"click {item} in the File menu"):
            result = grounder.ground(screen, description)
            assert result.found and box_contains(box, result.point), (description, result.point, box)
    xdo.key("Escape")
