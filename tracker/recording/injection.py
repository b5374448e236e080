"""Telling the agent's own injected input apart from a person's.

On X11, input injected through XTEST reaches the recorder's listeners exactly like a
person's. So whoever injects (the agent's executor) first tells the ledger what it is
about to inject; the recorder then *claims* matching raw events as the agent's and treats
everything else as human input:
- mouse buttons and wheel notches must match one by one (button, direction, position
  within a few pixels), so a person's click during an agent step is never swallowed;
- key events are claimed while a keyboard injection is under way (plus a short grace for
  delivery), because one typed character can be several key events (shift, compose,
  clipboard paste) — a person typing in that same instant would be attributed to the agent.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

from tracker.format.actions import Action
from tracker.recording.input_events import InputEvent, KeyEvent, MouseButtonEvent, ScrollEvent

POSITION_TOLERANCE_PX = 3
GRACE_S = 0.6  # events reach the listener shortly after injection; unclaimed ones expire after this


@dataclass(frozen=True)
class ExpectedInput:
    kind: str  # "button" | "scroll" | "keys"
    button: str | None = None  # "left" | "right" | "middle" (button); "up"/"down"/"left"/"right" (scroll)
    x: int | None = None
    y: int | None = None
    pressed: bool | None = None


def expected_for(action: Action) -> list[ExpectedInput]:
    """The raw events executing `action` produces."""
    kind = action.kind
    if kind in ("click", "right_click", "middle_click", "double_click"):
        if action.point is None:
            raise ValueError(f"cannot inject an element click: {action}")
        x, y = action.point
        button = {"right_click": "right", "middle_click": "middle"}.get(kind, "left")
        one = [ExpectedInput("button", button, x, y, True), ExpectedInput("button", button, x, y, False)]
        return one * (2 if kind == "double_click" else 1)
    if kind == "drag":
        (x1, y1), (x2, y2) = action.point, action.end
        return [ExpectedInput("button", "left", x1, y1, True), ExpectedInput("button", "left", x2, y2, False)]
    if kind == "scroll":
        dx, dy = action.delta
        notches = [ExpectedInput("scroll", "up" if dy > 0 else "down")] * abs(dy)
        return notches + [ExpectedInput("scroll", "right" if dx > 0 else "left")] * abs(dx)
    if kind in ("press_key", "hotkey", "type_text"):
        return [ExpectedInput("keys")]
    return []


def _scroll_direction(event: ScrollEvent) -> str:
    if event.dy:
        return "up" if event.dy > 0 else "down"
    return "right" if event.dx > 0 else "left"


class InjectionLedger:
    """Shared by the executor (declares) and the recorder's processing thread (claims)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[tuple[ExpectedInput, float]] = []  # (expected, expires_at)
        self._keys_until = 0.0  # key events before this monotonic time are the agent's
        self._keys_open = 0  # keyboard injections under way
        self.claimed = 0

    @contextmanager
    def injecting(self, expected: Sequence[ExpectedInput]) -> Iterator[None]:
        """Wrap the injection: `with ledger.injecting(expected_for(action)): ...`."""
        keys = any(e.kind == "keys" for e in expected)
        with self._lock:
            far = time.monotonic() + 3600  # pointer events stay claimable until the injection ends
            self._pending += [(e, far) for e in expected if e.kind != "keys"]
            if keys:
                self._keys_open += 1
        try:
            yield
        finally:
            end = time.monotonic() + GRACE_S
            with self._lock:
                self._pending = [(e, min(t, end)) for e, t in self._pending]
                if keys:
                    self._keys_open -= 1
                    self._keys_until = max(self._keys_until, end)

    def claim(self, event: InputEvent) -> bool:
        """True when `event` is the agent's own injected input (and consume its expectation)."""
        now = time.monotonic()
        with self._lock:
            self._pending = [(e, t) for e, t in self._pending if t >= now]
            if isinstance(event, KeyEvent):
                mine = self._keys_open > 0 or event.t <= self._keys_until
                self.claimed += mine
                return mine
            for i, (expected, _) in enumerate(self._pending):
                if self._matches(expected, event):
                    del self._pending[i]
                    self.claimed += 1
                    return True
            return False

    @staticmethod
    def _matches(expected: ExpectedInput, event: InputEvent) -> bool:
        if isinstance(event, MouseButtonEvent):
            return (expected.kind == "button" and expected.button == event.button
                    and expected.pressed == event.pressed
                    and abs(expected.x - event.x) <= POSITION_TOLERANCE_PX
                    and abs(expected.y - event.y) <= POSITION_TOLERANCE_PX)
        if isinstance(event, ScrollEvent):
            return expected.kind == "scroll" and expected.button == _scroll_direction(event)
        return False
