"""What the recorder knows about where an action happened: element and window.

Pointer actions get the element under the pointer and the window there; keyboard
actions get the focused element (which is how typing into a password field is
recognised) and the active window. Used from the recorder's processing thread only:
the X connection inside is thread-confined.
"""

from __future__ import annotations

from dataclasses import dataclass

from grounding.accessibility import ElementInfo, open_accessibility
from tracker.recording.input_events import InputEvent, KeyEvent
from grounding.accessibility import WindowInfo, open_windows

PASSWORD_ROLES = {"password text"}


@dataclass(frozen=True)
class StepContext:
    element: ElementInfo | None
    window: WindowInfo | None

    @property
    def password(self) -> bool:
        return bool(self.element and (self.element.role in PASSWORD_ROLES
                                      or "protected" in self.element.states))

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
    def __init__(self, accessibility: bool = True) -> None:
        self._windows = open_windows()
        self._a11y = open_accessibility() if accessibility else None

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
            element = a11y.focused_element() if a11y else None
            return StepContext(element, self._windows.active_window())
        element = a11y.element_at(event.x, event.y) if a11y else None
        return StepContext(element, self._windows.window_at(event.x, event.y))

    def close(self) -> None:
        if self._a11y:
            self._a11y.close()
        self._windows.close()
