"""Screen capture into a ring of recent frames, and the screens' geometry.

A thread grabs the whole virtual desktop (all monitors) into a short ring: on X11 only
after the screen changed (X DAMAGE), at most `fps` times a second, and then only the box
that was drawn in; elsewhere the whole desktop `fps` times a second. The recorder asks for
the newest frame grabbed *before* an input event, which is the screen as it was just
before the action. Frames stay raw (BGRA) in memory; a frame grabbed as a box is made
whole only when read, and only the frames that steps use are ever read and encoded, by
the recorder's writer thread.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tracker.format.screenshot_format import ScreenshotFormat, bgrx_image
from tracker.recording.screen_damage import DamageUnavailable, ScreenDamage
from tracker.recording.screen_damage import open_screen_damage as _open_damage


class CaptureUnavailable(RuntimeError):
    """The screen cannot be captured here (no display, no permission)."""


class NoDisplay(CaptureUnavailable):
    """There is no display to capture: DISPLAY is not set, or nothing answers there."""


@dataclass(frozen=True)
class Patch:
    """The pixels of a box of the desktop (relative to its top-left corner), grabbed after it was drawn in."""
    x: int
    y: int
    width: int
    height: int
    bgra: bytes | bytearray


_WHOLE_LOCK = threading.Lock()  # one thread makes a patched frame whole; the others wait for its pixels


class Frame:
    """One grab of the whole desktop: its pixels, or an earlier whole frame and the boxes grabbed since (damage
    capture: a blinking caret is a 2x16-pixel grab, not 8 MB), made whole the first time `bgra` is read."""

    __slots__ = ("t", "left", "top", "width", "height", "_bgra", "_base", "_patches")

    def __init__(self, t: float, left: int, top: int, width: int, height: int, bgra: bytes | bytearray) -> None:
        self.t = t  # monotonic time the grab started
        self.left, self.top, self.width, self.height = left, top, width, height
        self._bgra: bytes | bytearray | None = bgra  # never changed once in a Frame
        self._base: Frame | None = None
        self._patches: tuple[Patch, ...] = ()

    @classmethod
    def patched(cls, earlier: Frame, t: float, patch: Patch) -> Frame:
        """``earlier`` with ``patch`` grabbed over it at time ``t``; copies no pixels yet."""
        frame = cls.__new__(cls)
        frame.t, frame.left, frame.top, frame.width, frame.height = \
            t, earlier.left, earlier.top, earlier.width, earlier.height
        with _WHOLE_LOCK:
            whole = earlier._bgra is not None
            frame._bgra = None
            frame._base = earlier if whole else earlier._base
            frame._patches = (patch,) if whole else (*earlier._patches, patch)
        return frame

    @property
    def pending_patches(self) -> int:
        """How many boxes are still to lay over the last whole frame (0: this one is whole)."""
        return len(self._patches)

    @property
    def patched_pixels(self) -> int:
        return sum(p.width * p.height for p in self._patches)

    @property
    def bgra(self) -> bytes | bytearray:
        """The whole desktop's pixels, 4 bytes each (blue, green, red, unused), row by row."""
        pixels = self._bgra
        if pixels is not None:
            return pixels
        with _WHOLE_LOCK:
            if self._bgra is None:
                pixels = bytearray(self._base.bgra)
                stride = self.width * 4
                for patch in self._patches:
                    row = patch.width * 4
                    start = patch.y * stride + patch.x * 4
                    if row == stride:  # whole rows: one copy
                        pixels[start:start + row * patch.height] = patch.bgra
                    else:
                        rows = memoryview(patch.bgra)
                        for r in range(patch.height):
                            at = start + r * stride
                            pixels[at:at + row] = rows[r * row:(r + 1) * row]
                self._bgra, self._base, self._patches = pixels, None, ()
            return self._bgra

    def to_image(self) -> Image.Image:
        """The frame as an RGB image (a view of the captured pixels, no copy until changed)."""
        return bgrx_image(self.bgra, self.width, self.height)

    def encode(self, screenshot_format: ScreenshotFormat) -> bytes:
        return screenshot_format.encode_bgrx(self.bgra, self.width, self.height)

    def same_pixels(self, other: Frame | None) -> bool:
        """Whether ``other`` shows exactly this screen (a new grab of an unchanged desktop)."""
        return other is not None and (other is self or (
            (other.left, other.top, other.width, other.height) == (self.left, self.top, self.width, self.height)
            and other.bgra == self.bgra))


def _open_mss(display: str | None = None) -> Any:
    try:
        import mss
    except ImportError as exc:  # a dependency; only a broken install lacks it
        raise CaptureUnavailable("mss is not installed: pip install mss") from exc
    kwargs = {"display": display} if display else {}
    if sys.platform.startswith("linux") and not (display or os.environ.get("DISPLAY")):
        raise NoDisplay("no display: DISPLAY is not set (start an X session or Xvfb)")
    try:
        return mss.MSS(**kwargs) if hasattr(mss, "MSS") else mss.mss(**kwargs)
    except Exception as exc:  # mss raises ScreenShotError when it cannot open the display
        raise NoDisplay(f"cannot capture the screen: {exc}") from exc


def grab_frame(sct: Any) -> Frame:
    """Grab the whole virtual desktop once with an open mss instance."""
    desktop = sct.monitors[0]
    t = time.monotonic()
    shot = sct.grab(desktop)
    # shot.raw, not shot.bgra: that is bytes(shot.raw), a second copy of every grab (a 1080p grab is 8 MB)
    return Frame(t, desktop["left"], desktop["top"], shot.width, shot.height, shot.raw)


def grab_patched(sct: Any, earlier: Frame, box: tuple[int, int, int, int]) -> Frame:
    """``earlier`` with the box (x0, y0, x1, y1, screen coordinates) grabbed anew."""
    x0, y0 = max(box[0], earlier.left), max(box[1], earlier.top)
    x1, y1 = min(box[2], earlier.left + earlier.width), min(box[3], earlier.top + earlier.height)
    t = time.monotonic()
    if x1 <= x0 or y1 <= y0:  # drawn outside the desktop, or nothing at all: the same pixels
        return Frame.patched(earlier, t, Patch(0, 0, 0, 0, b""))
    shot = sct.grab({"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0})
    return Frame.patched(earlier, t, Patch(x0 - earlier.left, y0 - earlier.top, shot.width, shot.height, shot.raw))


def grab_once(display: str | None = None) -> Frame:
    """One frame of the whole desktop on a connection of its own, outside the ring's rhythm (a fresh
    screen right after pcagent's own window closed). Raises CaptureUnavailable."""
    sct = _open_mss(display)
    try:
        return grab_frame(sct)
    except Exception as exc:  # mss's ScreenShotError, a vanished display
        raise CaptureUnavailable(f"cannot capture the screen: {exc}") from exc
    finally:
        sct.close()


def _x11_scale_factor() -> float | None:
    """Xft.dpi / 96 from the X resource database, when set (the desktop's scale factor)."""
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        try:
            resources = d.screen().root.get_full_property(d.intern_atom("RESOURCE_MANAGER"), 0)
        finally:
            d.close()
    except Exception:
        return None
    if resources is None:
        return 1.0
    text = resources.value.decode("utf-8", "replace") if isinstance(resources.value, bytes) else ""
    for line in text.splitlines():
        if line.startswith("Xft.dpi:"):
            try:
                return round(float(line.split(":", 1)[1]) / 96.0, 3)
            except ValueError:
                return None
    return 1.0


def describe_screens() -> list[dict]:
    """Every monitor's geometry on the virtual desktop and its scale factor (for meta.json)."""
    sct = _open_mss()
    try:
        monitors = sct.monitors[1:]
    finally:
        sct.close()
    scale = _x11_scale_factor()
    screens = []
    for index, mon in enumerate(monitors):
        screens.append({
            "index": index, "left": mon["left"], "top": mon["top"],
            "width": mon["width"], "height": mon["height"], "scale": scale,
            "primary": bool(mon.get("is_primary", index == 0)),
        })
    if screens and not any(s["primary"] for s in screens):
        screens[0]["primary"] = True
    return screens


def keep_freed_frame_memory() -> bool:
    """Let glibc keep freed frame buffers for the next frame instead of handing each back to the kernel: a
    fresh 8 MB buffer is 2,000 page faults (about 1 ms of CPU per grab, per frame made whole, per encode at
    1080p). Up to 128 MB of freed memory stays in the process. Process-wide; where the C library is not glibc
    this does nothing and says False."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS; Windows has no CDLL(None))
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 128 << 20))


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h; 32 MB is its largest mmap threshold


CAPTURE_MODES = ("auto", "damage", "periodic")
# A frame grabbed as boxes costs a copy of the whole desktop when it is read: past this share of the desktop
# in boxes since the last whole grab, a whole grab is as cheap and ends the chain.
PATCHED_SHARE_MAX = 0.5


class FrameRing:
    """A background thread keeping the last few screen frames.

    capture="damage": grab only after the X server reports a change (X DAMAGE, see
    screen_damage.py): at most `fps` times a second and at the latest 1/fps after the change,
    plus a keep-alive grab every `keepalive_s` so a missed report cannot leave the ring stale.
    A grab takes just the box drawn in (laid over the frame before it) unless the box is a
    large part of the desktop, or the boxes since the last whole grab are many or large; the
    keep-alive grab takes the whole desktop. An unchanged screen costs (almost) nothing. The
    newest frame grabbed before an event is
    still the screen before it: a grab follows every change within 1/fps (the same bound as
    periodic grabs), and a change during a grab triggers another grab.
    capture="periodic": grab `fps` times a second. capture="auto" (default): damage where the
    X server has it, else periodic. After `start()`, `mode` says which runs ("damage" or
    "periodic") and `mode_note` why "auto" fell back, if it did.
    """

    def __init__(self, fps: float = 10.0, seconds: float = 1.5, *, capture: str = "auto",
                 keepalive_s: float = 2.0, display: str | None = None) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        if capture not in CAPTURE_MODES:
            raise ValueError(f"capture must be one of {', '.join(CAPTURE_MODES)}, not {capture!r}")
        self.fps = fps
        self.capture = capture
        self.keepalive_s = max(keepalive_s, 1.0 / fps)
        self.display = display  # an X display name; None: $DISPLAY
        self.mode: str | None = None
        self.mode_note: str | None = None
        self._frames: deque[Frame] = deque(maxlen=max(2, int(fps * seconds) + 1))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._damage: ScreenDamage | None = None
        self.grabs = 0
        self.keepalive_grabs = 0  # damage mode: grabs made without a damage report
        self.box_grabs = 0  # damage mode: grabs of just the box drawn in

    def start(self) -> None:
        keep_freed_frame_memory()
        self._thread = threading.Thread(target=self._run, name="pcagent-capture", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error:
            raise self._error

    def _run(self) -> None:
        try:
            sct = _open_mss(self.display)
        except CaptureUnavailable as exc:
            self._error = exc
            self._ready.set()
            return
        damage = None
        if self.capture != "periodic":
            try:
                damage = _open_damage(self.display)
            except DamageUnavailable as exc:
                if self.capture == "damage":
                    sct.close()
                    self._error = CaptureUnavailable(f"damage-driven capture is unavailable: {exc}")
                    self._ready.set()
                    return
                self.mode_note = str(exc)
        self._damage = damage
        self.mode = "damage" if damage else "periodic"
        try:
            if damage:
                self._run_damage(sct, damage)
            else:
                self._run_periodic(sct)
        except Exception as exc:  # a vanished display: the recorder reports it at stop
            self._error = CaptureUnavailable(f"screen capture stopped: {exc}")
            self._ready.set()
        finally:
            if damage:
                damage.close()
            sct.close()

    def _grab(self, sct: Any, box: tuple[int, int, int, int] | None = None) -> Frame:
        """Grab the desktop, or only ``box`` over the newest frame where that pays."""
        earlier = self.latest()
        if box is None or earlier is None or not self._patch_pays(earlier, box):
            frame = grab_frame(sct)
        else:
            frame = grab_patched(sct, earlier, box)
            self.box_grabs += 1
        with self._lock:
            self._frames.append(frame)
        self.grabs += 1
        self._ready.set()
        return frame

    def _patch_pays(self, earlier: Frame, box: tuple[int, int, int, int]) -> bool:
        """Whether grabbing just ``box`` over ``earlier`` is cheaper than a whole grab, counting the copy that
        makes the frame whole later; a whole grab now and then also bounds the chain of boxes."""
        area = earlier.width * earlier.height
        pixels = max(0, box[2] - box[0]) * max(0, box[3] - box[1])
        return (earlier.pending_patches < self._frames.maxlen
                and earlier.patched_pixels + pixels <= area * PATCHED_SHARE_MAX)

    def _run_periodic(self, sct: Any) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._grab(sct)
            next_at = max(next_at + period, time.monotonic())
            self._stop.wait(next_at - time.monotonic())

    def _run_damage(self, sct: Any, damage: ScreenDamage) -> None:
        period = 1.0 / self.fps
        damage.rearm()
        last = self._grab(sct).t
        dirty = keepalive = False
        while not self._stop.is_set():
            now = time.monotonic()
            if dirty:
                if now < last + period:  # at most fps grabs a second; at the latest 1/fps late
                    self._stop.wait(last + period - now)
                    continue
                # Re-arm first: whatever is drawn from here on, even during the grab, reports
                # again and gets a grab of its own.
                box = damage.rearm()
                last = self._grab(sct, None if keepalive else box).t
                dirty = keepalive = False
                continue
            until_keepalive = last + self.keepalive_s - now
            if until_keepalive <= 0:
                self.keepalive_grabs += 1
                dirty = keepalive = True  # the whole desktop, in case a report went missing
                continue
            dirty = damage.wait(until_keepalive)

    def stop(self) -> None:
        self._stop.set()
        damage = self._damage
        if damage:
            damage.interrupt()
        if self._thread:
            self._thread.join(timeout=2)

    @property
    def error(self) -> Exception | None:
        return self._error

    @property
    def damage_events(self) -> int:
        """DamageNotify events seen (damage mode)."""
        return self._damage.events if self._damage else 0

    def latest(self) -> Frame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def before(self, t: float) -> Frame | None:
        """The newest frame whose grab started before monotonic time `t` (else the oldest)."""
        with self._lock:
            for frame in reversed(self._frames):
                if frame.t < t:
                    return frame
            return self._frames[0] if self._frames else None
