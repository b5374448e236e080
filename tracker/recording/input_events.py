"""Raw input events, as the listeners hand them to the action merger.

Times are `time.monotonic()` seconds taken in the listener callback; coordinates are
physical pixels of the virtual desktop. Key names are pynput's spelling ("ctrl_l",
"shift", "enter", "f5") for named keys and the produced character for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

MODIFIER_KEYS = {
    "ctrl": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl",
    "alt": "alt", "alt_l": "alt", "alt_r": "alt",
    "shift": "shift", "shift_l": "shift", "shift_r": "shift",
    "cmd": "super", "cmd_l": "super", "cmd_r": "super",
    "alt_gr": "alt_gr",
}


@dataclass(frozen=True, slots=True)
class MouseButtonEvent:
    t: float
    x: int
    y: int
    button: str  # "left" | "right" | "middle" | another pynput button name
    pressed: bool


@dataclass(frozen=True, slots=True)
class ScrollEvent:
    t: float
    x: int
    y: int
    dx: int
    dy: int  # > 0 is up, as pynput and pyautogui count it


@dataclass(frozen=True, slots=True)
class KeyEvent:
    t: float
    key: str  # pynput name for named keys, else the character ("a", "A", "!")
    char: str | None  # the character the key produced, None for named keys
    pressed: bool
    # The X window that had the keyboard focus as the key went down (compare for equality only);
    # None when unknown. Read in the listener, it is not fooled by a window that opens later.
    window: int | None = None

    @property
    def modifier(self) -> str | None:
        """The modifier this key is ("ctrl", "alt", "shift", "super", "alt_gr"), or None."""
        return MODIFIER_KEYS.get(self.key)


InputEvent = MouseButtonEvent | ScrollEvent | KeyEvent
