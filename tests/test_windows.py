"""grounding.accessibility.windows on a real Xvfb display: the sample app's window, popups, a simulated WM frame."""

from __future__ import annotations

import time

import pytest

from grounding.accessibility.windows import NullWindows, WindowInfo, X11Windows, open_windows

pytestmark = [pytest.mark.display, pytest.mark.timeout(120)]

TITLE = "pcagent sample app"


@pytest.fixture
def windows(xdisplay):
    source = open_windows(xdisplay.display)
    assert isinstance(source, X11Windows), getattr(source, "reason", None)
    yield source
    source.close()


def wait_until(probe, timeout: float = 3.0):
    """Call probe until it returns something truthy; return the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_window_at_over_sample_app(windows, sample_app):
    info = windows.window_at(*sample_app.center("save"))
    assert info is not None
    assert info.title == TITLE
    assert info.pid == sample_app.proc.pid
    assert info.rect == sample_app.window
    assert info.application  # WM_CLASS, e.g. "sampleapp.py"
    assert info.to_dict() == {"title": TITLE, "application": info.application, "pid": info.pid,
                              "rect": list(sample_app.window)}


def test_window_at_empty_desktop_is_none(windows, sample_app):
    assert windows.window_at(1270, 790) is None  # the app covers (0, 0)-(1000, 700) only


def test_active_window_follows_input_focus(windows, sample_app, xdo):
    xdo.click(*sample_app.center("name"))
    info = wait_until(lambda: (w := windows.active_window()) and w.title == TITLE and w)
    assert info and info.title == TITLE and info.pid == sample_app.proc.pid


def test_popup_menu_is_its_own_top_level(windows, sample_app, xdo):
    from pcagent.testbed.xdo import BUTTON_RIGHT

    xdo.click(*sample_app.center("item_5"), button=BUTTON_RIGHT)
    menu = sample_app.wait_for("context_menu_shown")
    copy = menu["actions"]["Copy"]
    x, y = (copy[0] + copy[2]) // 2, (copy[1] + copy[3]) // 2
    info = wait_until(lambda: (w := windows.window_at(x, y)) and w.rect != sample_app.window and w)
    xdo.key("Escape")
    assert info, "the popup menu's window is not on top"
    assert info.pid == sample_app.proc.pid
    assert info.popup and info.frame is None  # override-redirect: no WM frame, no focus
    left, top, right, bottom = info.rect
    assert left <= copy[0] and top <= copy[1] and copy[2] <= right and copy[3] <= bottom


def test_window_manager_frame_and_net_active_window(windows, xdisplay):
    """A reparenting WM's frame holds the client; _NET_ACTIVE_WINDOW names the client."""
    from Xlib import X, Xatom
    from Xlib import display as xlib_display

    conn = xlib_display.Display(xdisplay.display)
    root = conn.screen().root
    frame = root.create_window(1050, 600, 200, 150, 0, X.CopyFromParent, X.InputOutput)
    client = frame.create_window(0, 20, 200, 130, 0, X.CopyFromParent, X.InputOutput)
    client.set_wm_class("clientinstance", "ClientClass")
    client.change_property(conn.intern_atom("_NET_WM_NAME"), conn.intern_atom("UTF8_STRING"), 8,
                           "Fenêtre".encode())
    client.change_property(conn.intern_atom("_NET_WM_PID"), Xatom.CARDINAL, 32, [4242])
    active = conn.intern_atom("_NET_ACTIVE_WINDOW")
    try:
        client.map()
        frame.map()
        conn.sync()
        info = wait_until(lambda: windows.window_at(1100, 700))
        assert info == WindowInfo(title="Fenêtre", application="ClientClass", pid=4242,
                                  rect=(1050, 620, 1250, 750), window_id=client.id,
                                  frame=(1050, 600, 1250, 750), popup=False)
        root.change_property(active, Xatom.WINDOW, 32, [client.id])
        conn.sync()
        assert windows.active_window() == info
    finally:
        root.delete_property(active)
        frame.destroy()
        conn.sync()
        conn.close()
    assert windows.window_at(1100, 700) is None


def test_no_display_gives_null_windows(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    source = open_windows()
    assert isinstance(source, NullWindows) and not source.available
    assert "DISPLAY" in source.reason
    assert source.window_at(1, 1) is None and source.active_window() is None
    source.close()


def test_unreachable_display_gives_null_windows():
    source = open_windows(":65000")
    assert isinstance(source, NullWindows)
    assert ":65000" in source.reason


def test_other_platforms_are_a_seam(monkeypatch):
    monkeypatch.setattr("sys.platform", "win32")
    assert "not implemented" in open_windows(":0").reason
