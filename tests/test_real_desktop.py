"""The recorder's elements on real programs with real input: GTK's mousepad under openbox (frames and
title bars) and without a window manager, the Qt sample app's context menu, and the element_missing
codes when there is no element to record."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from grounding.accessibility import AtSpiAccessibility, ElementInfo, WindowInfo, open_accessibility, open_windows
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.sampleapp_process import stop_process
from pcagent.testbed.virtual_display import VirtualDisplay
from pcagent.testbed.xdo import BUTTON_RIGHT, Xdo
from tracker.format.trajectory import Step, read_trajectory
from tracker.format.trajectory_check import check_trajectory
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.display, pytest.mark.timeout(120)]

STOP = "ctrl+shift+F12"


def _tools(*names: str) -> None:
    for name in names:
        if not shutil.which(name):
            skip_or_fail(f"{name} is not installed: run installer/install-debian.sh --test")


def wait_until(probe, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.05)


def inside(rect, point) -> bool:
    return rect is not None and rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


def centre(rect) -> tuple[int, int]:
    return (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2


@dataclass
class Program:
    proc: subprocess.Popen
    window: WindowInfo


def start_program(display: VirtualDisplay, home: Path, command: list[str], title: str,
                  env: dict | None = None) -> Program:
    """Start a GTK program with a fresh HOME (no settings shared between tests) and wait for its window."""
    runtime = home / "runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {**display.child_env(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_DATA_HOME": str(home / ".local/share"),
           "XDG_RUNTIME_DIR": str(runtime), "GSETTINGS_BACKEND": "memory", "GDK_BACKEND": "x11",
           "LANG": "C.UTF-8", **(env or {})}
    proc = subprocess.Popen(command, env=env, cwd=home, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    windows = open_windows(display.display)
    try:
        framed = display.window_manager is not None  # and placed: the WM has reparented it into a frame
        window = wait_until(lambda: next((w for w in windows.top_levels()  # viewable ones: not GTK's leader
                                          if w.pid == proc.pid and title in (w.title or "")
                                          and (w.frame is not None or not framed)), None),
                            what=f"{title} window")
    except AssertionError:
        proc.kill()
        raise
    finally:
        windows.close()
    return Program(proc, window)


@pytest.fixture
def programs():
    """Ends every program a test started (by its pid)."""
    started: list[Program] = []
    yield started
    for program in started:
        stop_process(program.proc)


@pytest.fixture
def recorders():
    """`recorders` collects started RecorderProcess objects; each is killed at teardown."""
    started: list[RecorderProcess] = []
    yield started
    for rec in started:
        rec.kill()


def record(recorders: list, display: VirtualDisplay, out: Path, *args: str, env: dict | None = None) -> RecorderProcess:
    rec = RecorderProcess(out, "--idle-wait", "0", *args, env=env or display.child_env()).start()
    recorders.append(rec)
    return rec


def stop(rec: RecorderProcess, xdo: Xdo) -> list[Step]:
    xdo.key(STOP)
    assert rec.wait() == 0, rec.output
    assert [p for p in check_trajectory(rec.out) if p.severity == "error"] == []
    return read_trajectory(rec.out).steps


def accessibility(display: VirtualDisplay) -> AtSpiAccessibility:
    if display.accessibility_error:
        skip_or_fail(display.accessibility_error)
    a11y = open_accessibility(env=dict(display.env))
    assert isinstance(a11y, AtSpiAccessibility), a11y.reason
    return a11y


def listed(a11y: AtSpiAccessibility, near, name: str, role: str, timeout: float = 10.0) -> ElementInfo:
    """A showing element from the window listing (its own tree walk, not element_at)."""
    def find():
        return next((e for e in a11y.elements(near=near) if (e.name or "").strip() == name and e.role == role), None)
    return wait_until(find, timeout, what=f"{role} {name!r} in the accessibility tree")


def pause() -> None:
    """Between actions, as a person: the recorder looks an element up just after its event (an action
    at machine speed would find the next one's menu or dialog already open), and a click waits 0.5 s
    for a second press."""
    time.sleep(0.6)


def chord(xdo: Xdo, modifier: str, key: str) -> None:
    """A hotkey as a person presses it: the modifier a moment before the key."""
    xdo.key_down(modifier)
    time.sleep(0.15)
    xdo.key(key)
    xdo.key_up(modifier)


def hold_click(xdo: Xdo, point) -> None:
    """A click as a person makes it: the button held for a moment (a menu closes on release)."""
    xdo.mouse_down(x=point[0], y=point[1])
    time.sleep(0.25)
    xdo.mouse_up()


def element(step: Step) -> dict:
    assert step.element is not None, f"step {step.index} {step.action!r}: no element ({step.extra})"
    return step.element


# ---- mousepad under a window manager ----------------------------------------------------------------


def test_mousepad_session_under_openbox_records_each_steps_element(wm_display, tmp_path, programs, recorders):
    _tools("mousepad", "xdotool", "openbox")
    display = wm_display
    xdo = Xdo(display.child_env())
    pad = start_program(display, tmp_path, ["mousepad"], "Mousepad")
    programs.append(pad)
    # Small, so that the title bar is a good part of the frame's box, which GTK reports as the window's
    # extents: a comparison with the client's box alone takes them for different windows.
    xdo.run("windowsize", "--sync", pad.window.window_id, 560, 300)
    windows = open_windows(display.display)
    pad.window = wait_until(lambda: next((w for w in windows.top_levels() if w.window_id == pad.window.window_id
                                          and w.rect[2] - w.rect[0] == 560), None), what="the resized window")
    windows.close()
    a11y = accessibility(display)
    try:
        window = pad.window.rect
        assert pad.window.frame is not None and pad.window.frame != window, "openbox frames the window"
        edit = listed(a11y, centre(window), "Edit", "menu")
        text_point = (centre(window)[0], window[1] + (window[3] - window[1]) * 2 // 3)
        rec = record(recorders, display, tmp_path / "trajectory")

        xdo.click(*text_point)
        pause()
        xdo.type("Hellp")
        xdo.key("BackSpace")
        xdo.type("o world")
        pause()
        chord(xdo, "ctrl", "Home")
        pause()
        edit_point = centre(edit.rect)
        xdo.click(*edit_point)
        select_all = listed(a11y, edit_point, "Select All", "menu item")
        item_point = centre(select_all.rect)
        hold_click(xdo, item_point)
        pause()
        word_point = (text_point[0], text_point[1] - 40)
        xdo.double_click(*word_point)
        pause()
        drag_from, drag_to = (text_point[0] - 150, text_point[1]), (text_point[0] + 100, text_point[1] + 30)
        xdo.drag(*drag_from, *drag_to)
        pause()
        xdo.scroll(*text_point, -3)
        pause()
        chord(xdo, "ctrl", "s")
        windows = open_windows(display.display)
        dialog = wait_until(lambda: (w := windows.active_window()) and w.title == "Save As" and w, what="Save As")
        windows.close()
        name_label = listed(a11y, centre(dialog.rect), "Name:", "label")
        field_point = (name_label.rect[2] + 60, centre(name_label.rect)[1])
        xdo.click(*field_point)
        pause()
        chord(xdo, "ctrl", "a")
        pause()
        xdo.type("notes.txt")
        time.sleep(0.5)  # the chooser ignores Enter while it still completes the name, as a person waits
        xdo.key("Return")
        saved = tmp_path / "notes.txt"
        wait_until(lambda: saved.is_file() and saved.read_text().strip(), what="the saved file")
        steps = stop(rec, xdo)
    finally:
        a11y.close()

    assert saved.read_text().rstrip("\n") == "Hello world"
    assert [s.action for s in steps] == [
        "click ({}, {})".format(*text_point),
        "type text: Hello world",
        "hotkey (ctrl, home)",
        "click ({}, {})".format(*edit_point),
        "click ({}, {})".format(*item_point),
        "double click ({}, {})".format(*word_point),
        "drag from ({}, {}) to ({}, {})".format(*drag_from, *drag_to),
        "scroll (0, -3)",
        "hotkey (ctrl, s)",
        "click ({}, {})".format(*field_point),
        "hotkey (ctrl, a)",
        "type text: notes.txt",
        "press key: enter",
    ]
    text = element(steps[0])
    assert text["role"] == "text" and text["application"] == "mousepad" and inside(text["rect"], text_point)
    for step in (steps[1], steps[2], steps[5], steps[6], steps[7], steps[8]):
        assert element(step) == text, step.action  # the focused text area, and the one under the pointer
    assert steps[8].window["title"].endswith("- Mousepad")  # ctrl+s: where it was pressed, not the dialog
    assert (element(steps[3])["name"], element(steps[3])["role"]) == ("Edit", "menu")
    assert element(steps[4])["name"].strip() == "Select All" and element(steps[4])["role"] == "menu item"
    assert inside(element(steps[4])["rect"], item_point)
    field = element(steps[9])
    assert field["role"] == "text" and inside(field["rect"], field_point) and field["rect"] != text["rect"]
    assert steps[9].window["title"] == "Save As"
    for step in steps[10:]:
        assert element(step) == field, step.action  # the focused name field of the dialog
    assert not any("element_missing" in s.extra for s in steps)


# ---- mousepad without a window manager ---------------------------------------------------------------


def test_mousepad_without_window_manager_records_the_text_area_and_menu_items(xdisplay, tmp_path, programs,
                                                                              recorders):
    _tools("mousepad", "xdotool")
    xdo = Xdo(xdisplay.child_env())
    pad = start_program(xdisplay, tmp_path, ["mousepad"], "Mousepad")
    programs.append(pad)
    a11y = accessibility(xdisplay)
    try:
        window = pad.window.rect
        assert pad.window.frame is None
        file_menu = listed(a11y, centre(window), "File", "menu")
        text_point = (centre(window)[0], window[1] + (window[3] - window[1]) * 2 // 3)
        rec = record(recorders, xdisplay, tmp_path / "trajectory")
        xdo.click(*text_point)
        pause()
        xdo.type("abc")
        xdo.key("Return")
        pause()
        menu_point = centre(file_menu.rect)
        xdo.click(*menu_point)
        new_tab = listed(a11y, menu_point, "New", "menu item")
        item_point = centre(new_tab.rect)
        hold_click(xdo, item_point)
        steps = stop(rec, xdo)
    finally:
        a11y.close()
    assert [s.action for s in steps] == [
        "click ({}, {})".format(*text_point), "type text: abc", "press key: enter",
        "click ({}, {})".format(*menu_point), "click ({}, {})".format(*item_point),
    ]
    text = element(steps[0])
    assert text["role"] == "text" and inside(text["rect"], text_point), text  # not the "page tab list"
    assert element(steps[1]) == text and element(steps[2]) == text  # the focused text area
    assert (element(steps[3])["name"], element(steps[3])["role"]) == ("File", "menu")
    item = element(steps[4])  # on the popup window, not the text area beneath it
    assert item["name"].strip() == "New" and item["role"] == "menu item" and inside(item["rect"], item_point)


# ---- the Qt sample app, and steps without an element ------------------------------------------------


def test_qt_popup_stopped_app_and_empty_desktop_say_why_there_is_no_element(sample_app, xdisplay, tmp_path,
                                                                           recorders):
    _tools("xdotool")
    xdo = Xdo(xdisplay.child_env())
    rec = record(recorders, xdisplay, tmp_path / "trajectory")
    item = sample_app.center("item_5")
    xdo.click(*item, button=BUTTON_RIGHT)
    copy = centre(sample_app.wait_for("context_menu_shown")["actions"]["Copy"])
    pause()
    hold_click(xdo, copy)
    sample_app.wait_for("context_action", action="Copy")
    pause()
    desktop = (1200, 760)  # the sample app covers (0, 0)-(1000, 700); nothing else is on this display
    xdo.click(*desktop)
    pause()
    save = sample_app.center("save")
    os.kill(sample_app.proc.pid, signal.SIGSTOP)  # hangs on every AT-SPI call from now on
    try:
        xdo.click(*save)
        pause()
    finally:
        os.kill(sample_app.proc.pid, signal.SIGCONT)
    time.sleep(2.0)  # a hung application is skipped for 2 s after its timeout
    xdo.click(*save)
    sample_app.wait_for("button_clicked", name="Save")
    pause()
    steps = stop(rec, xdo)

    assert [s.action for s in steps] == [
        "right click ({}, {})".format(*item), "click ({}, {})".format(*copy), "click ({}, {})".format(*desktop),
        "click ({}, {})".format(*save), "click ({}, {})".format(*save),
    ]
    assert (element(steps[0])["name"], element(steps[0])["role"]) == ("Item 5", "list item")
    # Qt leaves its popups out of the tree: saying so, not recording the list item beneath the menu
    assert steps[1].element is None and steps[1].extra["element_missing"] == "popup_not_exposed"
    assert steps[2].element is None and steps[2].extra["element_missing"] == "not_found"
    assert steps[3].element is None and steps[3].extra["element_missing"] == "timeout"
    assert (element(steps[4])["name"], element(steps[4])["role"]) == ("Save", "push button")
    assert "element_missing" not in steps[4].extra  # and once it answers again, elements come back


@pytest.mark.parametrize("how, code", [("--no-accessibility", "no_accessibility"), ("broken bus", "bus_error")])
def test_without_a_working_accessibility_bus_every_step_says_why(sample_app, xdisplay, tmp_path, recorders,
                                                                 how, code):
    _tools("xdotool")
    xdo = Xdo(xdisplay.child_env())
    if how == "broken bus":  # a bus address that nothing answers at
        env = {**xdisplay.child_env(), "AT_SPI_BUS_ADDRESS": f"unix:path={tmp_path / 'no-such-bus'}"}
        rec = record(recorders, xdisplay, tmp_path / "trajectory", env=env)
    else:
        rec = record(recorders, xdisplay, tmp_path / "trajectory", how)
    name = sample_app.center("name")
    xdo.click(*name)
    pause()
    xdo.type("hi")
    pause()
    steps = stop(rec, xdo)
    assert [s.action for s in steps] == ["click ({}, {})".format(*name), "type text: hi"]
    assert [(s.element, s.extra.get("element_missing")) for s in steps] == [(None, code), (None, code)]
    assert steps[0].window["title"] == "pcagent sample app"  # the X window is still known


def test_a_program_without_accessibility_says_so(xdisplay, tmp_path, programs, recorders):
    _tools("zenity", "xdotool")
    xdo = Xdo(xdisplay.child_env())
    no_bridge = {"NO_AT_BRIDGE": "1", "GTK_MODULES": ""}  # GTK then never joins the accessibility bus
    zenity = start_program(xdisplay, tmp_path, ["zenity", "--entry", "--title", "No bridge"], "No bridge",
                           env=no_bridge)
    programs.append(zenity)
    rec = record(recorders, xdisplay, tmp_path / "trajectory")
    point = centre(zenity.window.rect)
    xdo.click(*point)
    pause()
    steps = stop(rec, xdo)
    assert [s.action for s in steps] == ["click ({}, {})".format(*point)]
    assert steps[0].element is None and steps[0].extra["element_missing"] == "no_accessibility"
    assert steps[0].window["title"] == "No bridge"
