"""The sample app driven with real X input (xdotool) on Xvfb; every check reads what the app logged."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import ImageStat

from pcagent.testbed.virtual_display import VirtualDisplay, find_at_spi_bus_launcher, wait_for_a11y_bus
from pcagent.testbed.xdo import BUTTON_RIGHT, Xdo, grab

pytestmark = [pytest.mark.display, pytest.mark.timeout(120)]


def inside(rect, outer) -> bool:
    """Is rect (l, t, r, b) within outer?"""
    return outer[0] <= rect[0] and outer[1] <= rect[1] and rect[2] <= outer[2] and rect[3] <= outer[3]


def mean_color(image) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image).mean)


def test_ready_event_describes_window_and_widgets(sample_app):
    assert sample_app.ready["pid"] == sample_app.proc.pid
    assert sample_app.window == (0, 0, 1000, 700)
    for name in ("save", "open", "delete", "pad", "name", "password", "items", "canvas", "drag",
                 "status", "item_0", "item_5"):
        assert inside(sample_app.rect(name), sample_app.window), name
    assert inside(sample_app.rect("item_5"), sample_app.rect("items"))
    assert inside(sample_app.rect("drag"), sample_app.rect("canvas"))


def test_window_goes_where_asked(launch_sample_app):
    app = launch_sample_app("--x", 100, "--y", 50, "--width", 1100, "--height", 720)
    assert app.window == (100, 50, 1200, 770)
    assert app.rect("save")[:2] == (120, 70)


def test_buttons_log_clicks(sample_app, xdo):
    for name in ("Save", "Open", "Delete"):
        xdo.click(*sample_app.center(name.lower()))
        sample_app.wait_for("button_clicked", name=name)
    assert [e["name"] for e in sample_app.events("button_clicked")] == ["Save", "Open", "Delete"]
    press = sample_app.events("mouse_press")[0]
    assert (press["x"], press["y"], press["button"]) == (*sample_app.center("save"), "left")


def test_pad_changes_colour_on_press_not_release(sample_app, xdo, grab):
    pad = sample_app.rect("pad")
    # a band along the top of the pad, away from its text
    band = (pad[0] + 5, pad[1] + 3, pad[2] - 5, pad[1] + 15)
    before = mean_color(grab(band))
    xdo.mouse_down(1, *sample_app.center("pad"))
    try:
        event = sample_app.wait_for("pad_press")
        assert event["count"] == 1
        assert (event["x"], event["y"]) == sample_app.center("pad")
        for _ in range(50):  # the repaint reaches the X server shortly after the event is logged
            pressed = mean_color(grab(band))
            if sum(abs(a - b) for a, b in zip(before, pressed)) > 150:
                break
            xdo.run("sleep", 0.02)
    finally:
        xdo.mouse_up(1)
    assert sum(abs(a - b) for a, b in zip(before, pressed)) > 150, (before, pressed)
    assert pressed[0] > 200 and pressed[2] < 80, pressed  # orange
    xdo.run("sleep", 0.2)
    assert mean_color(grab(band)) == pytest.approx(pressed, abs=2)  # stays changed after release
    xdo.click(*sample_app.center("pad"))
    assert sample_app.wait_for("pad_press")["count"] == 2


def test_name_field_receives_typed_text(sample_app, xdo):
    xdo.click(*sample_app.center("name"))
    xdo.type("Hello pcagent 42")
    sample_app.wait_for("name_changed", text="Hello pcagent 42")
    xdo.key("Return")
    assert sample_app.wait_for("name_return")["text"] == "Hello pcagent 42"
    keys = [(e["key"], e["modifiers"]) for e in sample_app.events("key") if e["key"] != "Shift"]
    assert keys[:3] == [("H", ["shift"]), ("E", []), ("L", [])]
    assert keys[-1] == ("Return", [])
    assert "".join(e["text"] for e in sample_app.events("key")).startswith("Hello pcagent 42")


def test_password_field_logs_only_length(sample_app, xdo):
    secret = "s3cretPW"
    xdo.click(*sample_app.center("password"))
    xdo.type(secret)
    sample_app.wait_for("password_changed", length=len(secret))
    log_text = sample_app.log_path.read_text()
    assert secret not in log_text and "s3cret" not in log_text
    assert all("text" not in e for e in sample_app.events("password_changed"))
    assert {e["key"] for e in sample_app.events("key")} == {"hidden"}


def test_list_scrolls_on_wheel(sample_app, xdo):
    xdo.scroll(*sample_app.center("items"), -3)
    scrolled = sample_app.wait_for("list_scrolled")
    assert scrolled["value"] > 0
    wheel = sample_app.wait_for("wheel")
    assert wheel["dy"] < 0 and (wheel["x"], wheel["y"]) == sample_app.center("items")
    xdo.scroll(*sample_app.center("items"), 3)
    sample_app.wait_for("list_scrolled", value=0)


def test_item_click_and_double_click(sample_app, xdo):
    xdo.click(*sample_app.center("item_2"))
    assert sample_app.wait_for("item_clicked")["text"] == "Item 2"
    xdo.run("sleep", 0.5)  # keep the next click from completing a double click
    xdo.double_click(*sample_app.center("item_3"))
    assert sample_app.wait_for("item_double_clicked")["text"] == "Item 3"


def test_context_menu_rename(sample_app, xdo):
    x, y = sample_app.center("item_5")
    xdo.click(x, y, button=BUTTON_RIGHT)
    shown = sample_app.wait_for("context_menu_shown")
    assert shown["item"] == "Item 5" and (shown["x"], shown["y"]) == (x, y)
    assert list(shown["actions"]) == ["Copy", "Rename", "Remove"]
    left, top, right, bottom = shown["actions"]["Rename"]
    xdo.click((left + right) // 2, (top + bottom) // 2)
    action = sample_app.wait_for("context_action")
    assert (action["action"], action["item"]) == ("Rename", "Item 5")


def test_drag_square_to_target(sample_app, xdo):
    start = sample_app.center("drag")
    canvas = sample_app.rect("canvas")
    target = (canvas[0] + 200, canvas[1] + 300)
    xdo.drag(*start, *target, steps=12)
    began = sample_app.wait_for("drag_start")
    assert tuple(began["pointer"]) == start and tuple(began["center"]) == start
    drop = sample_app.wait_for("drop")
    assert tuple(drop["pointer"]) == target
    assert abs(drop["center"][0] - target[0]) <= 2 and abs(drop["center"][1] - target[1]) <= 2


def test_shortcut_is_logged(sample_app, xdo):
    xdo.click(*sample_app.center("name"))  # the keyboard goes to the window under the pointer
    xdo.key("ctrl+shift+t")
    assert sample_app.wait_for("shortcut")["keys"] == "ctrl+shift+t"
    assert sample_app.events("name_changed") == []  # the shortcut typed nothing


def test_moved_layout_puts_widgets_elsewhere(launch_sample_app):
    default = launch_sample_app()
    moved = launch_sample_app("--layout", "moved", "--x", 0, "--y", 0)
    assert moved.ready["layout"] == "moved"
    assert set(moved.widgets) >= {"save", "open", "delete", "pad", "name", "password", "items", "drag"}
    for name in ("save", "open", "delete", "pad", "name", "password", "items", "canvas", "drag", "status"):
        assert moved.rect(name) != default.rect(name), name
        assert inside(moved.rect(name), moved.window), name
    assert moved.center("save")[0] > moved.center("items")[0]  # buttons right, list left


def test_virtual_display_starts_at_spi_bus(xdisplay):
    if not find_at_spi_bus_launcher():
        pytest.skip("at-spi2-core is not installed")
    assert xdisplay.accessibility_error is None
    assert xdisplay.env["DBUS_SESSION_BUS_ADDRESS"] == xdisplay.dbus_address
    assert xdisplay.env["QT_LINUX_ACCESSIBILITY_ALWAYS_ON"] == "1"
    address = wait_for_a11y_bus(xdisplay.dbus_address, timeout=5)
    assert address.startswith("unix:")


def test_sample_app_appears_in_at_spi_registry(xdisplay, sample_app):
    """The Qt app registers with the AT-SPI registry on the display's private bus, window and all."""
    if xdisplay.a11y_bus_address is None:
        pytest.skip(f"no AT-SPI bus: {xdisplay.accessibility_error}")
    from jeepney import DBusAddress, Properties, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    def accessible(bus_name: str, path: str) -> DBusAddress:
        return DBusAddress(path, bus_name=bus_name, interface="org.a11y.atspi.Accessible")

    with open_dbus_connection(bus=xdisplay.a11y_bus_address) as conn:
        def name_of(node: DBusAddress) -> str:
            return conn.send_and_get_reply(Properties(node).get("Name"), timeout=5).body[0][1]

        def children_of(node: DBusAddress) -> list[DBusAddress]:
            reply = conn.send_and_get_reply(new_method_call(node, "GetChildren"), timeout=5)
            return [accessible(bus, path) for bus, path in reply.body[0]]

        registry = accessible("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")
        apps: dict[str, DBusAddress] = {}
        for _ in range(100):  # the app registers shortly after it starts
            apps = {name_of(app): app for app in children_of(registry)}
            if "pcagent-sampleapp" in apps:
                break
            time.sleep(0.1)
        assert "pcagent-sampleapp" in apps, sorted(apps)
        windows = [name_of(w) for w in children_of(apps["pcagent-sampleapp"])]
        assert "pcagent sample app" in windows


def test_two_monitor_display_reported_by_mss(launch_sample_app):
    """screens=[...] gives one desktop of side-by-side monitors, as mss (and Qt) report them."""
    import mss

    with VirtualDisplay(screens=[(1280, 800), (1024, 768)], accessibility=False) as display:
        with mss.MSS(display=display.display) as screen:
            monitors = [(m["left"], m["top"], m["width"], m["height"]) for m in screen.monitors]
        assert monitors == [(0, 0, 2304, 800), (0, 0, 1280, 800), (1280, 0, 1024, 768)]

        # an app placed on the second monitor receives clicks there
        app = launch_sample_app("--x", 1300, "--y", 40, display=display)
        assert app.window == (1300, 40, 2300, 740)
        Xdo(display.child_env()).click(*app.center("save"))
        app.wait_for("button_clicked", name="Save")
        assert grab(display).size == (2304, 800)
        app.stop()


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb")
def test_virtual_display_stop_ends_its_processes():
    display = VirtualDisplay(640, 480).start()
    pids = [p.pid for p in display._procs]
    assert display.display.startswith(":")
    display.stop()
    display.stop()  # twice is fine
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_window_manager_frames_and_places_windows(wm_display, launch_sample_app):
    """With openbox the app's window gets a frame with a title bar and still takes real input."""
    from Xlib import display as xdisplay

    app = launch_sample_app("--x", 100, "--y", 60, display=wm_display)
    conn = xdisplay.Display(wm_display.display)
    try:
        root = conn.screen().root
        wm_check = root.get_full_property(conn.intern_atom("_NET_SUPPORTING_WM_CHECK"), 0)
        assert wm_check is not None
        frames = [child for child in root.query_tree().children
                  if child.get_full_property(conn.intern_atom("_NET_FRAME_EXTENTS"), 0) is None
                  and child.query_tree().children]
        extents = [w.get_full_property(conn.intern_atom("_NET_FRAME_EXTENTS"), 0)
                   for f in frames for w in f.query_tree().children]
        assert any(e is not None and e.value[2] > 0 for e in extents), "no client window with a title bar"
    finally:
        conn.close()
    assert app.window[:2] == (100, 60)  # the client where it asked to be, its title bar above it
    Xdo(wm_display.child_env()).click(*app.center("save"))
    app.wait_for("button_clicked", name="Save")


def test_unknown_window_manager_is_refused():
    with pytest.raises(ValueError, match="openbox"):
        VirtualDisplay(window_manager="twm")


def test_missing_xvfb_is_a_clear_error(monkeypatch):
    from pcagent.testbed.virtual_display import DisplayError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(DisplayError, match="apt-get install xvfb"):
        VirtualDisplay().start()
    assert os.environ["PATH"] == "/nonexistent"
