"""pcagent's own windows on the screen — the tray app's thought box, approval panel, marker and control
window — found by window identity (their WM_CLASS), never by pixel colour.

A step whose screenshot was taken while one of them was mapped carries them under the step key
`pcagent_windows` (a list of `WindowInfo.to_dict()`); refinement drops such steps, and the tray app's tests
check that none is ever written.

`OwnWindowTimeline` is the same knowledge in time, for a recorder running in the app's own process: the app
reports each of its windows as it is shown, moved and hidden (`own_window_timeline()` is the process-wide
one), and the recorder asks it whether an input event went to one of them (never an action) and whether a
frame was grabbed while one was on screen (not a step's screenshot, where a clean one can be had).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from grounding.accessibility.windows import WindowInfo, Windows
from tracker.recording.input_events import InputEvent, KeyEvent, MouseButtonEvent, ScrollEvent

__all__ = ["OWN_APPLICATION", "OWN_WINDOWS_KEY", "OwnWindowSpan", "OwnWindowTimeline", "own_window_timeline",
           "own_windows", "is_own_window", "step_shows_own_windows"]

OWN_APPLICATION = "pcagent"  # the WM_CLASS class (and instance) every window of the tray app carries
OWN_WINDOWS_KEY = "pcagent_windows"


def is_own_window(window: WindowInfo | dict[str, Any] | None) -> bool:
    """True for a window of pcagent's own app (a WindowInfo or a step's `window` dict)."""
    if window is None:
        return False
    application = window.get("application") if isinstance(window, dict) else window.application
    return isinstance(application, str) and application.lower() == OWN_APPLICATION


def own_windows(windows: Windows) -> list[dict[str, Any]]:
    """pcagent's own viewable top-level windows, ready for a step's `pcagent_windows`."""
    top_levels = getattr(windows, "top_levels", None)
    if top_levels is None:
        return []
    return [window.to_dict() for window in top_levels() if is_own_window(window)]


def step_shows_own_windows(step_extra: dict[str, Any], window: dict[str, Any] | None = None) -> bool:
    """Whether a recorded step's screenshot shows one of pcagent's windows, or the step acted on one."""
    return bool(step_extra.get(OWN_WINDOWS_KEY)) or is_own_window(window)


@dataclass
class OwnWindowSpan:
    """One showing of one of pcagent's windows: from `shown` until `hidden` (monotonic seconds)."""

    window_id: int
    title: str | None
    rect: tuple[int, int, int, int]  # left, top, right (exclusive), bottom (exclusive) in screen pixels
    shown: float
    hidden: float | None = None
    takes_input: bool = True  # clicks and wheel turns inside `rect` go to it (not a click-through overlay)
    takes_keyboard: bool = False  # while shown, it has the keyboard (an entry box with focus, a popup menu)
    in_screenshots: bool = True  # False for the tray icon, which is part of the desktop's tray

    def to_dict(self) -> dict[str, Any]:
        """The same shape as `WindowInfo.to_dict()`, for a step's `pcagent_windows`."""
        return {"title": self.title, "application": OWN_APPLICATION, "pid": os.getpid(), "rect": list(self.rect)}

    def covers(self, t: float, before: float, after: float) -> bool:
        return self.shown - before <= t and (self.hidden is None or t < self.hidden + after)

    def contains(self, x: int, y: int) -> bool:
        left, top, right, bottom = self.rect
        return left <= x < right and top <= y < bottom


class OwnWindowTimeline:
    """When pcagent's own windows were on screen, as the app showing them reports it (any thread).

    A window is taken as on screen from a little before it was reported shown until SETTLE_S after it was
    reported hidden: the map request follows the report, and after the unmap the windows beneath still have
    to repaint. Input counts as the window's until INPUT_GRACE_S after it hid, since a busy listener thread
    may stamp an event a little late.
    """

    SHOW_MARGIN_S = 0.03
    SETTLE_S = 0.15
    INPUT_GRACE_S = 0.15
    KEEP_S = 120.0  # spans hidden longer ago than this concern no frame or event still in flight

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[OwnWindowSpan] = []
        self._ids: set[int] = set()  # every window id ever reported: key presses focused on one are ours

    def shown(self, window_id: int, rect: tuple[int, int, int, int], *, title: str | None = None,
              takes_input: bool = True, takes_keyboard: bool = False, in_screenshots: bool = True,
              t: float | None = None) -> None:
        now = time.monotonic() if t is None else t
        with self._lock:
            self._end(window_id, now)
            self._spans = [s for s in self._spans if s.hidden is None or now - s.hidden < self.KEEP_S]
            self._spans.append(OwnWindowSpan(window_id, title, tuple(rect), now, None, takes_input,
                                             takes_keyboard, in_screenshots))
            self._ids.add(window_id)

    def moved(self, window_id: int, rect: tuple[int, int, int, int]) -> None:
        with self._lock:
            for span in self._spans:
                if span.window_id == window_id and span.hidden is None:
                    span.rect = tuple(rect)

    def hidden(self, window_id: int, t: float | None = None) -> None:
        with self._lock:
            self._end(window_id, time.monotonic() if t is None else t)

    def _end(self, window_id: int, t: float) -> None:
        for span in self._spans:
            if span.window_id == window_id and span.hidden is None:
                span.hidden = t

    def open_spans(self) -> list[OwnWindowSpan]:
        """The windows shown now (not yet reported hidden)."""
        with self._lock:
            return [s for s in self._spans if s.hidden is None]

    def visible_at(self, t: float) -> list[OwnWindowSpan]:
        """The windows that may show in a frame grabbed at `t` (tray icons aside)."""
        with self._lock:
            return [s for s in self._spans if s.in_screenshots and s.covers(t, self.SHOW_MARGIN_S, self.SETTLE_S)]

    def clean_from(self, t: float) -> float | None:
        """From when frames are free again of every window visible at `t`; None while one is still shown."""
        ends = [s.hidden for s in self.visible_at(t)]
        if any(end is None for end in ends):
            return None
        return max(ends, default=t) + self.SETTLE_S

    def receives(self, event: InputEvent) -> bool:
        """Whether a key press, button press or wheel turn went to one of pcagent's windows. Modifiers,
        caps lock and releases never do: the recorder must see them to keep track of what is held."""
        if isinstance(event, KeyEvent):
            if not event.pressed or event.modifier or event.key == "caps_lock":
                return False
            with self._lock:
                if event.window is not None and event.window in self._ids:
                    return True
                return any(s.takes_keyboard and s.covers(event.t, 0.0, self.INPUT_GRACE_S) for s in self._spans)
        if isinstance(event, MouseButtonEvent) and not event.pressed:
            return False
        if isinstance(event, (MouseButtonEvent, ScrollEvent)):
            with self._lock:
                return any(s.takes_input and s.covers(event.t, 0.0, self.INPUT_GRACE_S) and s.contains(event.x, event.y)
                           for s in self._spans)
        return False


_PROCESS_TIMELINE = OwnWindowTimeline()


def own_window_timeline() -> OwnWindowTimeline:
    """The timeline of this process's own windows: the app reports into it, every recorder here reads it."""
    return _PROCESS_TIMELINE
