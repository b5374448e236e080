"""grounding.accessibility.atspi: AT-SPI over D-Bus against the real sample app on Xvfb, plus the Null answers."""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time

import pytest

from grounding.accessibility import (
    ELEMENT_MISSING_CODES, ElementInfo, ElementLookup, NullAccessibility, open_accessibility,
)
from grounding.accessibility.protocol import ROLE_NAMES, STATE_NAMES, state_names



# ---- no display needed ----------------------------------------------------------------------------


def test_role_and_state_tables_follow_atspi_numbering():
    assert ROLE_NAMES[32] == "list item" and ROLE_NAMES[40] == "password text"
    assert ROLE_NAMES[43] == "push button" and ROLE_NAMES[61] == "text"
    assert ROLE_NAMES[75] == "application" and ROLE_NAMES[129] == "push button menu"
    assert STATE_NAMES[12] == "focused" and STATE_NAMES[25] == "showing" and STATE_NAMES[43] == "read-only"
    assert state_names([(1 << 7) | (1 << 12), 1 << (43 - 32)]) == {"editable", "focused", "read-only"}


def test_element_info_to_dict():
    info = ElementInfo("Save", "push button", (1, 2, 3, 4), "app", frozenset({"focused"}))
    assert info.to_dict() == {"name": "Save", "role": "push button", "rect": [1, 2, 3, 4], "application": "app"}
    assert ElementInfo(None, None, None, None).to_dict()["rect"] is None


def test_without_session_bus_is_unavailable_and_answers_none():
    a11y = open_accessibility(env={})
    assert isinstance(a11y, NullAccessibility) and a11y.available is False
    assert "session bus" in a11y.reason
    assert a11y.element_at(10, 10) is None and a11y.focused_element() is None
    a11y.close()


def test_a_lookup_holds_an_element_or_a_known_reason():
    info = ElementInfo("Save", "push button", (1, 2, 3, 4), "app")
    assert ElementLookup(info).missing is None and ElementLookup(missing="timeout").element is None
    for bad in (dict(), dict(element=info, missing="timeout"), dict(missing="no idea")):
        with pytest.raises(ValueError):
            ElementLookup(**bad)
    assert "not_found" in ELEMENT_MISSING_CODES and len(set(ELEMENT_MISSING_CODES)) == 5


def test_lookups_without_accessibility_say_why(tmp_path):
    absent = open_accessibility(env={})
    assert absent.lookup_element_at(1, 1) == ElementLookup(missing="no_accessibility")
    assert absent.lookup_focused_element() == ElementLookup(missing="no_accessibility")
    broken = open_accessibility(env={"AT_SPI_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})  # found, but dead
    assert isinstance(broken, NullAccessibility) and "cannot connect" in broken.reason
    assert broken.lookup_element_at(1, 1).missing == "bus_error" and broken.focused_element() is None


def test_unreachable_session_bus_is_unavailable_quickly(tmp_path):
    start = time.monotonic()
    a11y = open_accessibility(env={"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/missing"})
    assert not a11y.available and "session bus" in a11y.reason
    assert time.monotonic() - start < 1.5


def test_other_platforms_are_a_seam(monkeypatch):
    monkeypatch.setattr("sys.platform", "win32")
    assert open_accessibility(env={}).reason == "UI Automation backend not implemented yet"
    monkeypatch.setattr("sys.platform", "darwin")
    assert "AX" in open_accessibility(env={}).reason


# ---- on the virtual display -----------------------------------------------------------------------


def wait_for_element(query, predicate, timeout: float = 3.0):
    """Repeat query until predicate(result) holds (the app may still be handling input)."""
    deadline = time.monotonic() + timeout
    while True:
        element = query()
        if (element is not None and predicate(element)) or time.monotonic() > deadline:
            return element
        time.sleep(0.05)


def contains(rect, point) -> bool:
    return rect is not None and rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


@pytest.mark.display
@pytest.mark.timeout(120)
class TestOnSampleApp:
    def test_element_at_button(self, a11y, sample_app):
        point = sample_app.center("save")
        element = wait_for_element(lambda: a11y.element_at(*point), lambda e: e.role == "push button")
        assert element is not None
        assert (element.name, element.role) == ("Save", "push button")
        assert contains(element.rect, point)
        assert element.rect == sample_app.rect("save")
        assert element.application  # the AT-SPI application name, e.g. "sampleapp.py"

    def test_element_at_password_field_and_list_item(self, a11y, sample_app):
        point = sample_app.center("password")
        element = wait_for_element(lambda: a11y.element_at(*point), lambda e: e.role == "password text")
        assert element.role == "password text" and element.name == "Password"
        assert "editable" in element.states
        item = a11y.element_at(*sample_app.center("item_3"))
        assert (item.name, item.role) == ("Item 3", "list item")
        assert contains(item.rect, sample_app.center("item_3"))

    def test_element_at_outside_every_window_is_none(self, a11y, sample_app):
        assert a11y.element_at(1270, 790) is None

    def test_popup_menu_is_not_mistaken_for_the_window_below(self, a11y, sample_app, xdo):
        from pcagent.testbed.xdo import BUTTON_RIGHT

        xdo.click(*sample_app.center("item_5"), button=BUTTON_RIGHT)
        copy = sample_app.wait_for("context_menu_shown")["actions"]["Copy"]
        time.sleep(0.2)  # the popup window is mapped by now, but give the X server a moment
        lookup = a11y.lookup_element_at((copy[0] + copy[2]) // 2, (copy[1] + copy[3]) // 2)
        xdo.key("Escape")
        # Qt leaves popups out of its AT-SPI tree: the honest answer is None, never the list item below
        assert lookup.element is None and lookup.missing == "popup_not_exposed"

    def test_focused_element_after_click_and_tab(self, a11y, sample_app, xdo):
        xdo.click(*sample_app.center("name"))
        element = wait_for_element(a11y.focused_element, lambda e: e.name == "Name")
        assert element is not None and element.name == "Name" and element.role == "text"
        assert "focused" in element.states
        xdo.key("Tab")
        element = wait_for_element(a11y.focused_element, lambda e: e.name == "Password")
        assert element is not None and element.role == "password text"
        assert element.rect == sample_app.rect("password")
        xdo.click(*sample_app.center("item_2"))
        element = wait_for_element(a11y.focused_element, lambda e: e.name == "Item 2")
        assert element is not None and element.role == "list item"

    def test_queries_are_fast(self, a11y, sample_app, xdo):
        point = sample_app.center("save")
        wait_for_element(lambda: a11y.element_at(*point), lambda e: e.name == "Save")
        xdo.click(*sample_app.center("name"))
        wait_for_element(a11y.focused_element, lambda e: e.name == "Name")
        timings = {"element_at": [], "focused_element": []}
        for _ in range(20):
            start = time.perf_counter()
            assert a11y.element_at(*point).name == "Save"
            timings["element_at"].append(time.perf_counter() - start)
            start = time.perf_counter()
            assert a11y.focused_element().name == "Name"
            timings["focused_element"].append(time.perf_counter() - start)
        medians = {k: statistics.median(v) * 1000 for k, v in timings.items()}
        print(f"median latency (ms): {medians}")
        assert medians["element_at"] < 100 and medians["focused_element"] < 100

    def test_worker_threads_get_right_answers(self, a11y, sample_app):
        wait_for_element(lambda: a11y.element_at(*sample_app.center("save")), lambda e: e.name == "Save")
        names: dict[str, list] = {"save": [], "open": []}

        def ask(widget: str) -> None:
            for _ in range(30):
                element = a11y.element_at(*sample_app.center(widget))
                names[widget].append(element.name if element else None)

        threads = [threading.Thread(target=ask, args=(w,)) for w in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert set(names["save"]) == {"Save"} and set(names["open"]) == {"Open"}

    def test_a_stopped_app_does_not_hide_the_others_from_a_listing(self, a11y, launch_sample_app):
        """A listing of every application (replay's search for an unnamed element) gives each application a
        share of the time: one that never answers must not use up the others' (a stopped program, a Qt
        program whose event loop is not running)."""
        from grounding.accessibility.tree import list_elements

        stopped = launch_sample_app()  # registered first: asked first
        running = launch_sample_app("--layout", "moved")
        def names(listing):  # of the running app's elements, told apart from the other's by where they are
            spots = {running.center(w) for w in ("save", "open")}
            return {e.name for e in listing.elements if e.rect and any(
                e.rect[0] <= x < e.rect[2] and e.rect[1] <= y < e.rect[3] for x, y in spots)}

        wait_for_element(lambda: names(list_elements(a11y, everything=True, timeout=2.0)) or None,
                         lambda found: "Save" in found)
        os.kill(stopped.proc.pid, signal.SIGSTOP)
        try:
            listing = list_elements(a11y, everything=True, timeout=2.0)
        finally:
            os.kill(stopped.proc.pid, signal.SIGCONT)
        assert {"Save", "Open"} <= names(listing), (listing.note, listing.elapsed_s)

    def test_stopped_app_does_not_block(self, a11y, sample_app, xdo):
        point = sample_app.center("save")
        wait_for_element(lambda: a11y.element_at(*point), lambda e: e.name == "Save")
        xdo.click(*sample_app.center("name"))
        wait_for_element(a11y.focused_element, lambda e: e.name == "Name")
        os.kill(sample_app.proc.pid, signal.SIGSTOP)
        try:
            durations = []
            for query in (lambda: a11y.element_at(*point), a11y.focused_element) * 2:
                start = time.monotonic()
                assert query() is None
                durations.append(time.monotonic() - start)
        finally:
            os.kill(sample_app.proc.pid, signal.SIGCONT)
        assert max(durations) < 1.0, durations
        assert sum(durations) < 1.0, durations  # after one timeout the app is skipped for a while
        # once it runs again (and its short penalty is over), answers come back
        element = wait_for_element(lambda: a11y.element_at(*point), lambda e: e.name == "Save", timeout=6)
        assert element is not None and element.name == "Save"
