"""Change notification for the whole X screen through the X DAMAGE extension.

A DAMAGE object on the root window accumulates every region drawn on the screen (child
windows included). With the "bounding box" report level the server sends a DamageNotify
each time the accumulated region's bounding box grows, carrying that box, and nothing
more until it grows again or the client empties the region (DamageSubtract). So the
capture thread:

1. waits (select on this private connection's socket) until `wait()` says damaged;
2. calls `rearm()` right before grabbing: the region is emptied and a round trip makes
   sure the server has done so before the grab's GetImage (sent on mss's own
   connection) is even sent. Anything drawn after that point, including while the
   grab is in progress, raises a new DamageNotify, so it is never lost. `rearm()`
   answers the box drawn in since the last one: the events of everything drawn before
   the subtract arrive before the round trip's reply, and an event's sequence number
   says whether it was sent before or after the server did the subtract. One sent after
   is still in the server's region, so it must not be taken for this grab and forgotten:
   later drawing inside its box would never report again. It counts for the next grab;
3. grabs that box (or the whole screen).

The pointer does not damage the screen (and mss does not capture it). Only X11 has
DAMAGE; `open_screen_damage` raises DamageUnavailable elsewhere, and the capture falls
back to periodic grabs.
"""

from __future__ import annotations

import os
import select
import threading
import time


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 on the root window


def _union(a: Box | None, b: Box) -> Box:
    return b if a is None else (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


class DamageUnavailable(RuntimeError):
    """No X DAMAGE here (not X11, no python-xlib, or the server lacks the extension)."""


class ScreenDamage:
    """DAMAGE on the root window, on a private X connection used by one thread only
    (`interrupt` is the exception: any thread may call it to end a `wait` early)."""

    def __init__(self, display_name: str | None = None) -> None:
        try:
            from Xlib import display as xdisplay
            from Xlib.ext import damage
        except ImportError as exc:
            raise DamageUnavailable(f"python-xlib without DAMAGE support: {exc}") from exc
        try:
            self._d = xdisplay.Display(display_name)
        except Exception as exc:  # no X server (e.g. Wayland only, macOS, Windows)
            raise DamageUnavailable(f"no X display: {exc}") from exc
        try:
            if not self._d.has_extension("DAMAGE"):
                raise DamageUnavailable("the X server has no DAMAGE extension")
            self._event_type = self._d.query_extension("DAMAGE").first_event  # + DamageNotify (0)
            version = self._d.damage_query_version()  # required before any other DAMAGE request
            self.version = (version.major_version, version.minor_version)
            self._damage = self._d.screen().root.damage_create(damage.DamageReportBoundingBox)
            self._d.sync()  # a BadDamage/BadMatch error surfaces here
        except DamageUnavailable:
            self._d.close()
            raise
        except Exception as exc:
            self._d.close()
            raise DamageUnavailable(f"cannot watch the screen for damage: {exc}") from exc
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._closed = False
        self._close_lock = threading.Lock()  # `interrupt` never writes to a closed (reused) fd
        self.events = 0  # DamageNotify events seen
        self._box: Box | None = None  # drawn in since the server did the last subtract
        self._grabbing: Box | None = None  # during `rearm`: drawn in before its subtract

    def _drain(self, subtract_serial: int | None = None) -> bool:
        """Read whatever the server sent (without blocking); True if it reported damage. With
        ``subtract_serial``, damage reported before the server did that request goes to `_grabbing`."""
        damaged = False
        while self._d.pending_events():
            event = self._d.next_event()
            if event.type & 0x7F == self._event_type:  # DamageNotify
                self.events += 1
                area = event.area
                box = (area.x, area.y, area.x + area.width, area.y + area.height)
                if subtract_serial is not None and 0 < (subtract_serial - event.sequence_number) & 0xFFFF < 0x8000:
                    self._grabbing = _union(self._grabbing, box)  # sent before the subtract was done
                else:
                    self._box = _union(self._box, box)
                    damaged = True
        return damaged

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` s for damage; True when the screen was drawn on since the
        last `rearm` (possibly already before this call), False on timeout or `interrupt`."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._drain() or self._box is not None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            readable, _, _ = select.select([self._d.fileno(), self._wake_r], [], [], remaining)
            if self._wake_r in readable:
                try:
                    os.read(self._wake_r, 64)
                except BlockingIOError:
                    pass
                return self._drain() or self._box is not None

    def rearm(self) -> Box | None:
        """Empty the damage region and wait until the server has done it (a round trip):
        call right before a grab, so that any drawing from now on reports again. Returns the
        box (x0, y0, x1, y1, on the root window) drawn in since the last `rearm`, None when
        nothing was reported."""
        subtract_serial = self._d.display.request_serial  # the number the subtract request gets
        self._d.damage_subtract(self._damage, 0, 0)
        self._d.sync()
        self._grabbing, self._box = self._box, None
        self._drain(subtract_serial)
        box, self._grabbing = self._grabbing, None
        return box

    def interrupt(self) -> None:
        """Wake a `wait` in progress (from any thread)."""
        with self._close_lock:
            if not self._closed:
                try:
                    os.write(self._wake_w, b"x")
                except OSError:  # the pipe is full: a wake-up is pending anyway
                    pass

    def close(self) -> None:
        try:
            self._d.damage_destroy(self._damage)
            self._d.close()
        except Exception:  # the display may already be gone
            pass
        with self._close_lock:
            if not self._closed:
                self._closed = True
                os.close(self._wake_r)
                os.close(self._wake_w)


def open_screen_damage(display_name: str | None = None) -> ScreenDamage:
    """A ScreenDamage for the display (default: $DISPLAY), or DamageUnavailable saying why."""
    if os.name != "posix" or not (display_name or os.environ.get("DISPLAY")):
        raise DamageUnavailable("not an X11 session (DISPLAY is not set)")
    return ScreenDamage(display_name)
