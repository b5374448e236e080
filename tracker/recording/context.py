"""What the recorder knows about where an action happened: element and window.

Pointer actions get the element under the pointer and the window there; keyboard
actions get the focused element and the active window, and a key that may start typing
also gets the labels of that window when it is small enough to be a prompt. These are
what tracker.privacy decides from. Used from the recorder's processing thread only: the
X connection inside is thread-confined.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from grounding.accessibility import ElementInfo, ElementLookup, list_elements, open_accessibility
from tracker.privacy import is_password_field
from tracker.recording.input_events import InputEvent, KeyEvent
from grounding.accessibility import WindowInfo, open_windows

# A prompt's tree is a few dozen nodes (zenity --password: 14); a main window's is far bigger. A
# listing that stops at this cap is of no prompt, and stays cheap (tens of ms).
PROMPT_NODE_CAP = 60
LABEL_LISTING_TIMEOUT_S = 0.5  # as long as any other AT-SPI query may take
LABELS_FRESH_S = 1.0  # one listing serves the typing runs of the next second in the same window
# A window too big to be a prompt stays so while its title does: a listing that hit the cap costs ~60 ms of
# CPU, and typing in a big window would pay it every second. A login page in a browser changes the title.
NOT_A_PROMPT_FRESH_S = 30.0
LABEL_ROLES = frozenset({"label", "static", "heading", "caption"})
_TURNED_OFF = ElementLookup(missing="no_accessibility")  # the answer of every lookup under --no-accessibility


@dataclass(frozen=True)
class StepContext:
    element: ElementInfo | None
    window: WindowInfo | None
    # The label texts of the active window when it is prompt-sized; None when not looked up,
    # not available, or the window is too big to be a prompt.
    window_labels: tuple[str, ...] | None = None
    # Why `element` is None: one of grounding.accessibility.ELEMENT_MISSING_CODES (None when not looked up).
    element_missing: str | None = None

    @property
    def password(self) -> bool:
        return is_password_field(self.element)

    def element_dict(self) -> dict | None:
        return self.element.to_dict() if self.element else None

    def window_dict(self) -> dict | None:
        if not self.window:
            return None
        return {"title": self.window.title, "application": self.window.application}

    def matches(self, patterns: list[str], window_ids: set[int] = frozenset()) -> bool:
        """True when the window is one of `window_ids`, or its title or application contains
        one of `patterns`."""
        if not self.window:
            return False
        if self.window.window_id is not None and self.window.window_id in window_ids:
            return True
        if not patterns:
            return False
        names = [(self.window.title or "").lower(), (self.window.application or "").lower()]
        return any(p.lower() in name for p in patterns if p for name in names)


class ContextProvider:
    def __init__(self, accessibility: bool = True, window_labels: bool = True) -> None:
        self._windows = open_windows()
        self._a11y = open_accessibility() if accessibility else None
        self._window_labels = window_labels
        # (window id, title, when, labels, fresh for): the last listing's answer
        self._labels_seen: tuple[int | None, str | None, float, tuple[str, ...] | None, float] | None = None

    @property
    def accessibility_available(self) -> bool:
        return bool(self._a11y and self._a11y.available)

    @property
    def accessibility_reason(self) -> str | None:
        if self._a11y is None:
            return "turned off"
        return self._a11y.reason

    def window_for(self, event: InputEvent) -> WindowInfo | None:
        """Just the window an event goes to (cheaper than the whole context)."""
        if isinstance(event, KeyEvent):
            return self._windows.active_window()
        return self._windows.window_at(event.x, event.y)

    def for_event(self, event: InputEvent) -> StepContext:
        a11y = self._a11y
        if isinstance(event, KeyEvent):
            found = a11y.lookup_focused_element() if a11y else _TURNED_OFF
            window = self._windows.active_window()
            may_type = event.char is not None or event.key == "space"
            return StepContext(found.element, window, self._labels_of(window) if may_type else None,
                               element_missing=found.missing)
        found = a11y.lookup_element_at(event.x, event.y) if a11y else _TURNED_OFF
        return StepContext(found.element, self._windows.window_at(event.x, event.y), element_missing=found.missing)

    def _labels_of(self, window: WindowInfo | None) -> tuple[str, ...] | None:
        """The labels of the active window if it is prompt-sized (bounded in nodes and time)."""
        if not (self._window_labels and self.accessibility_available and window is not None):
            return None
        now = time.monotonic()
        seen = self._labels_seen
        if seen and seen[:2] == (window.window_id, window.title) and now - seen[2] < seen[4]:
            return seen[3]
        listing = list_elements(self._a11y, None, node_cap=PROMPT_NODE_CAP, timeout=LABEL_LISTING_TIMEOUT_S)
        labels = tuple(e.name for e in listing.elements if e.role in LABEL_ROLES and e.name) \
            if listing.complete and listing.elements else None
        fresh_for = NOT_A_PROMPT_FRESH_S if listing.visited >= PROMPT_NODE_CAP else LABELS_FRESH_S
        self._labels_seen = (window.window_id, window.title, now, labels, fresh_for)
        return labels

    def close(self) -> None:
        if self._a11y:
            self._a11y.close()
        self._windows.close()
