"""FrameRing: damage-driven capture (X DAMAGE) and the periodic fallback, on the real virtual display."""

from __future__ import annotations

import threading
import time

import pytest

from pcagent.testbed.recorder_process import RecorderProcess
from tracker.recording import capture
from tracker.recording.capture import CaptureUnavailable, FrameRing
from tracker.recording.screen_damage import DamageUnavailable
from tracker.format.trajectory import read_trajectory
from tests.conftest import skip_or_fail

FPS = 10.0
PERIOD = 1.0 / FPS
MARGIN = 0.2  # thread wake-ups on a loaded machine


def pixel(frame, x, y):
    """RGB of one pixel of a Frame (BGRA rows)."""
    offset = ((y - frame.top) * frame.width + (x - frame.left)) * 4
    b, g, r = frame.bgra[offset:offset + 3]
    return r, g, b


@pytest.fixture
def ring_on(xdisplay):
    """`ring_on(**kwargs) -> FrameRing`, started on the virtual display; stopped at teardown."""
    rings = []

    def start(**kwargs):
        ring = FrameRing(fps=kwargs.pop("fps", FPS), display=xdisplay.display, **kwargs)
        rings.append(ring)
        ring.start()
        return ring

    yield start
    for ring in rings:
        ring.stop()


def settle(ring, quiet_s=0.5, timeout=10.0):
    """Wait until the ring has made no grab for `quiet_s` (the app finished painting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = ring.grabs
        time.sleep(quiet_s)
        if ring.grabs == before:
            return
    pytest.fail("the screen never became idle")


def test_idle_screen_is_not_grabbed(sample_app, ring_on):
    ring = ring_on()
    assert ring.mode == "damage", ring.mode_note
    settle(ring)
    before = ring.grabs
    time.sleep(2.0)
    assert ring.grabs - before <= 1  # at most the 2 s keep-alive
    assert ring.latest() is not None


def test_a_change_is_grabbed_within_one_frame_period(sample_app, ring_on, xdo, grab):
    app = sample_app
    probe = (app.rect("pad")[0] + 6, app.rect("pad")[1] + 6)
    xdo.move(*app.center("save"))  # move first: hover repaints are not part of the measurement
    ring = ring_on()
    settle(ring)
    old = ring.latest()
    old_colour = pixel(old, *probe)
    assert grab().getpixel(probe)[:3] == old_colour

    t_click = time.monotonic()
    xdo.click(*app.center("pad"))
    # When did the change become visible? Poll the screen on our own connection.
    deadline = t_click + 5
    while grab(region=(probe[0], probe[1], probe[0] + 1, probe[1] + 1)).getpixel((0, 0))[:3] == old_colour:
        assert time.monotonic() < deadline, "the pad never changed colour"
    t_visible = time.monotonic()
    app.wait_for("pad_press")

    time.sleep(PERIOD + MARGIN)
    changed = [f for f in list(ring._frames) if f.t > t_click and pixel(f, *probe) != old_colour]
    assert changed, "no grab showed the pressed pad"
    first = changed[0]
    assert first.t - t_visible <= PERIOD + MARGIN, f"grabbed {first.t - t_visible:.3f} s after the change"
    assert pixel(first, *probe) == grab().getpixel(probe)[:3]
    # before(): the screen before the click is the old one, whatever was grabbed after.
    assert pixel(ring.before(t_click), *probe) == old_colour
    assert ring.before(first.t) is not first and pixel(ring.before(first.t), *probe) == old_colour
    assert ring.before(first.t + 1e-6) is first
    assert ring.before(time.monotonic()) is ring.latest()


def test_a_small_change_grabs_only_its_box_and_every_frame_is_the_whole_screen(sample_app, ring_on, xdo, grab):
    """A blinking caret repaints a few dozen pixels: the ring grabs that box over the frame before, and what a
    frame reads is exactly the screen, as a whole grab on another connection sees it."""
    app = sample_app
    ring = ring_on()
    settle(ring)
    xdo.click(*app.center("name"))
    xdo.type("ab")
    app.wait_for("name_changed", timeout=5)
    boxes_before = ring.box_grabs
    time.sleep(1.5)  # the caret blinks every 0.5 s
    assert ring.box_grabs > boxes_before
    patched = [f for f in list(ring._frames) if f.pending_patches]
    caret = [f for f in patched if 0 < f._patches[-1].width * f._patches[-1].height <= 30 * 40]
    assert caret, [[(p.x, p.y, p.width, p.height) for p in f._patches] for f in patched]
    deadline = time.monotonic() + 10
    while True:  # compare while the screen holds still for a moment
        shown = grab().convert("RGB").tobytes()
        time.sleep(PERIOD + MARGIN)
        latest = ring.latest()
        if latest.pending_patches and grab().convert("RGB").tobytes() == shown:
            break
        assert time.monotonic() < deadline, "the screen never held still after a box grab"
    assert latest.to_image().tobytes() == shown
    assert latest.pending_patches == 0  # made whole once read, and stays so
    assert all(f.width * f.height * 4 == len(f.bgra) for f in patched)


def test_box_grabs_follow_a_window_manager_moving_windows_and_gtk_dialogs(launch_sample_app, wm_display, tmp_path):
    """With openbox: a window moved by the window manager, a GTK dialog opened over it and closed again (the
    screen under it exposed); each time the ring's newest frame is exactly the screen."""
    import shutil
    import subprocess

    from pcagent.testbed.xdo import Xdo, grab as grab_screen

    app = launch_sample_app(display=wm_display)
    xdo = Xdo(wm_display.child_env())
    ring = FrameRing(fps=FPS, display=wm_display.display, keepalive_s=60)  # no whole grab but for size
    ring.start()

    def assert_ring_shows_the_screen():
        deadline = time.monotonic() + 10
        while True:  # compare while the screen holds still for a moment
            shown = grab_screen(wm_display).tobytes()
            time.sleep(PERIOD + MARGIN)
            latest = ring.latest()
            if grab_screen(wm_display).tobytes() == shown:
                break
            assert time.monotonic() < deadline, "the screen never held still"
        patched.append(latest.pending_patches > 0)
        assert latest.to_image().tobytes() == shown

    patched = []
    try:
        assert ring.mode == "damage"
        window = xdo.run("search", "--sync", "--pid", app.proc.pid).split()[0]
        for x, y in ((120, 90), (40, 30)):
            xdo.run("windowmove", "--sync", window, x, y)
            assert_ring_shows_the_screen()
        if not shutil.which("zenity"):
            skip_or_fail("zenity is not installed: run installer/install-debian.sh --test")
        env = dict(wm_display.child_env(), HOME=str(tmp_path))
        dialog = subprocess.Popen(["zenity", "--info", "--text", "Saved."], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            xdo.run("search", "--sync", "--pid", dialog.pid)
            assert_ring_shows_the_screen()
        finally:
            dialog.kill()
            dialog.wait(5)
        assert_ring_shows_the_screen()  # what the dialog covered is drawn again
        assert any(patched) and ring.box_grabs > 0, patched  # frames read were boxes over the frame before
    finally:
        ring.stop()


def test_drawing_right_after_the_subtract_is_the_next_grabs_and_reports_again(xdisplay):
    """A DamageNotify sent after the server emptied the region (while `rearm` waits for its round trip) is not
    this grab's: that damage is still in the server's region, and taking it now would leave later drawing
    inside its box unreported for good."""
    from Xlib import X, display as xlib_display

    from tracker.recording.screen_damage import open_screen_damage

    painter = xlib_display.Display(xdisplay.display)
    screen = painter.screen()
    window = screen.root.create_window(200, 150, 120, 80, 0, screen.root_depth,
                                       background_pixel=screen.white_pixel, override_redirect=True)
    gc = window.create_gc(foreground=screen.black_pixel)
    window.map()
    painter.sync()
    time.sleep(0.2)

    def paint():
        window.fill_rectangle(gc, 10, 10, 40, 20)
        painter.sync()

    damage = open_screen_damage(xdisplay.display)
    try:
        damage.rearm()
        real_sync = damage._d.sync

        def paint_once_the_subtract_is_done():
            damage._d.flush()
            time.sleep(0.2)  # the server has emptied the region
            paint()
            real_sync()

        damage._d.sync = paint_once_the_subtract_is_done
        assert damage.rearm() is None  # nothing was drawn before the subtract
        damage._d.sync = real_sync
        assert damage.wait(0)  # what was drawn after it is the next grab's
        assert damage.rearm() == (210, 160, 250, 180)
        paint()  # the same box again: the server reports it, since that rearm emptied its region
        assert damage.wait(2) and damage.rearm() == (210, 160, 250, 180)
    finally:
        damage.close()
        window.destroy()
        painter.close()


def test_freed_frame_buffers_are_used_again_without_page_faults():
    """Without it each new 8 MB buffer is about 2,000 fresh pages for the kernel to fault in and zero."""
    import resource
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    assert capture.keep_freed_frame_memory()
    bytearray(8 << 20)  # the first one comes from the kernel
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        frame = bytearray(8 << 20)
        del frame
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 200


def test_a_patched_frame_reads_as_its_base_with_every_box_laid_over_it():
    base = capture.Frame(0.0, 0, 0, 4, 3, bytes(range(48)))
    one = capture.Frame.patched(base, 1.0, capture.Patch(1, 1, 2, 1, b"\xaa" * 8))  # part of a row
    two = capture.Frame.patched(one, 2.0, capture.Patch(0, 2, 4, 1, b"\xbb" * 16))  # a whole row
    three = capture.Frame.patched(two, 3.0, capture.Patch(0, 0, 0, 0, b""))  # drawn outside: the same pixels
    assert (one.pending_patches, two.pending_patches, three.pending_patches) == (1, 2, 3)
    expected = bytearray(range(48))
    expected[20:28] = b"\xaa" * 8
    assert one.bgra == expected and base.bgra == bytes(range(48))  # the base stays as it was
    expected[32:48] = b"\xbb" * 16
    assert two.bgra == expected and three.bgra == expected and three.same_pixels(two)
    four = capture.Frame.patched(three, 4.0, capture.Patch(3, 0, 1, 1, b"\xcc" * 4))  # over a whole frame
    assert four.pending_patches == 1 and four.bgra[12:16] == b"\xcc" * 4 and four.bgra[16:] == expected[16:]


def test_before_returns_the_newest_frame_grabbed_before_t(sample_app, ring_on, xdo):
    app = sample_app
    ring = ring_on()
    settle(ring)
    for _ in range(3):
        xdo.click(*app.center("pad"))
        time.sleep(PERIOD + 0.1)
    frames = list(ring._frames)
    assert len(frames) >= 3
    assert [f.t for f in frames] == sorted(f.t for f in frames)
    assert all(later.t - earlier.t >= PERIOD * 0.9 for earlier, later in zip(frames, frames[1:]))  # <= fps
    for earlier, later in zip(frames, frames[1:]):
        assert ring.before(later.t) is earlier
        assert ring.before((earlier.t + later.t) / 2) is earlier
    assert ring.before(frames[0].t) is frames[0]  # nothing older: the oldest


def test_keepalive_grabs_an_unchanged_screen_now_and_then(sample_app, ring_on):
    ring = ring_on(keepalive_s=0.5)
    settle(ring, quiet_s=0.3)
    before, keepalive_before = ring.grabs, ring.keepalive_grabs
    time.sleep(1.6)
    assert 2 <= ring.grabs - before <= 4
    assert ring.keepalive_grabs - keepalive_before == ring.grabs - before


def test_periodic_capture_when_forced(sample_app, ring_on):
    ring = ring_on(capture="periodic")
    assert ring.mode == "periodic"
    before = ring.grabs
    time.sleep(1.0)
    assert 7 <= ring.grabs - before <= 12


def test_auto_falls_back_to_periodic_without_damage(sample_app, ring_on, monkeypatch):
    def no_damage(display=None):
        raise DamageUnavailable("the X server has no DAMAGE extension")

    monkeypatch.setattr(capture, "_open_damage", no_damage)
    ring = ring_on()
    assert ring.mode == "periodic"
    assert "DAMAGE" in ring.mode_note
    before = ring.grabs
    time.sleep(0.5)
    assert ring.grabs - before >= 3
    with pytest.raises(CaptureUnavailable, match="damage"):
        ring_on(capture="damage")


class FakeScreen:
    """mss stand-in: a one-pixel screen; `draw_during_next_grab` changes it in the middle of a grab."""

    def __init__(self, damage):
        self.monitors = [{"left": 0, "top": 0, "width": 1, "height": 1}]
        self.damage = damage
        self.colour = b"\x00\x00\x00\x00"
        self.draw_during_next_grab = False

    def grab(self, monitor):
        shot = type("Shot", (), {"width": 1, "height": 1, "raw": bytearray(self.colour)})()
        if self.draw_during_next_grab:  # the grab read the old pixels; the new ones land just after
            self.draw_during_next_grab = False
            self.colour = b"\xff\xff\xff\x00"
            self.damage.report()
        return shot

    def close(self):
        pass


class FakeDamage:
    """ScreenDamage stand-in with the same contract: rearm() empties, report() is a draw."""

    def __init__(self):
        self.events = 0
        self._damaged = threading.Event()

    def report(self):
        self.events += 1
        self._damaged.set()

    def wait(self, timeout):
        return self._damaged.wait(timeout)

    def rearm(self):
        self._damaged.clear()

    def interrupt(self):
        self._damaged.set()

    def close(self):
        pass


def test_a_change_during_a_grab_gets_another_grab(monkeypatch):
    damage = FakeDamage()
    screen = FakeScreen(damage)
    monkeypatch.setattr(capture, "_open_mss", lambda display=None: screen)
    monkeypatch.setattr(capture, "_open_damage", lambda display=None: damage)
    ring = FrameRing(fps=FPS, keepalive_s=60)
    ring.start()
    try:
        assert ring.mode == "damage"
        time.sleep(0.3)
        assert ring.grabs == 1  # the first frame only: nothing changed
        screen.draw_during_next_grab = True
        damage.report()  # a change; the grab it causes races with another change
        time.sleep(3 * PERIOD + MARGIN)
        frames = list(ring._frames)
        assert [f.bgra for f in frames] == [b"\x00" * 4, b"\x00" * 4, b"\xff\xff\xff\x00"]
        assert frames[2].t - frames[1].t >= PERIOD * 0.9  # still at most fps grabs a second
        assert ring.latest().bgra == screen.colour
    finally:
        ring.stop()


@pytest.mark.parametrize("requested, expected", [(None, "damage"), ("periodic", "periodic")])
def test_the_recorder_says_which_capture_ran(sample_app, xdisplay, tmp_path, requested, expected):
    env = xdisplay.child_env()
    if requested:
        env["PCAGENT_CAPTURE"] = requested
    else:
        env.pop("PCAGENT_CAPTURE", None)
    rec = RecorderProcess(tmp_path / "t", env=env).start()
    try:
        time.sleep(0.3)
        rec.stop()
    finally:
        rec.kill()
    recorder = read_trajectory(rec.out).meta["recorder"]
    assert recorder["capture"] == expected
    assert recorder["frames_grabbed"] >= 1
