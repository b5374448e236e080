"""Screen capture into a ring of recent frames, and the screens' geometry.

A thread grabs the whole virtual desktop (all monitors) into a short ring: on X11 only
after the screen changed (X DAMAGE), at most `fps` times a second; elsewhere `fps` times a
second. The recorder asks for the newest frame grabbed *before* an input event, which is
the screen as it was just before the action. Frames stay raw (BGRA) in memory;
only the frames that steps use are ever encoded, by the recorder's writer thread.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tracker.format.screenshot_format import ScreenshotFormat
from tracker.recording.screen_damage import DamageUnavailable, ScreenDamage
from tracker.recording.screen_damage import open_screen_damage as _open_damage


class CaptureUnavailable(RuntimeError):
    """The screen cannot be captured here (no display, no permission)."""


class NoDisplay(CaptureUnavailable):
    """There is no display to capture: DISPLAY is not set, or nothing answers there."""


@dataclass(frozen=True, eq=False)
class Frame:
    t: float  # monotonic time the grab started
    left: int
    top: int
    width: int
    height: int
    bgra: bytes | bytearray  # mss's own buffer, a fresh one per grab; never changed once in a Frame

    def to_image(self) -> Image.Image:
        """The frame as an RGB image (a view of the captured pixels, no copy until changed)."""
        return Image.frombuffer("RGB", (self.width, self.height), self.bgra, "raw", "BGRX", 0, 1)

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


CAPTURE_MODES = ("auto", "damage", "periodic")


class FrameRing:
    """A background thread keeping the last few screen frames.

    capture="damage": grab only after the X server reports a change (X DAMAGE, see
    screen_damage.py): at most `fps` times a second and at the latest 1/fps after the change,
    plus a keep-alive grab every `keepalive_s` so a missed report cannot leave the ring stale.
    An unchanged screen costs (almost) nothing. The newest frame grabbed before an event is
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

    def start(self) -> None:
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

    def _grab(self, sct: Any) -> Frame:
        frame = grab_frame(sct)
        with self._lock:
            self._frames.append(frame)
        self.grabs += 1
        self._ready.set()
        return frame

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
        dirty = False
        while not self._stop.is_set():
            now = time.monotonic()
            if dirty:
                if now < last + period:  # at most fps grabs a second; at the latest 1/fps late
                    self._stop.wait(last + period - now)
                    continue
                # Re-arm first: whatever is drawn from here on, even during the grab, reports
                # again and gets a grab of its own.
                damage.rearm()
                last = self._grab(sct).t
                dirty = False
                continue
            until_keepalive = last + self.keepalive_s - now
            if until_keepalive <= 0:
                self.keepalive_grabs += 1
                dirty = True
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
