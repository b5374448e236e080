"""A desktop-wide hotkey on X11 (the tray app's "add a thought", ctrl+alt+t by default).

The key is grabbed on the root window with XGrabKey, once for each state of Caps Lock and Num Lock, on an X
connection of its own; a thread waits for its presses and calls back. A grabbed key goes to no application,
so pressing it in a text field types nothing there. The recorder still sees it through XRecord, which is why
the app also hands the same spec to the recorder as a control hotkey (never an action).
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from tracker.recording.options import DEFAULT_THOUGHT_HOTKEY
from tracker.recording.options import check_hotkey_spec as check_recording_hotkey

__all__ = ["DEFAULT_THOUGHT_HOTKEY", "GlobalHotkey", "HotkeyError", "check_hotkey_spec", "x_keysym_name"]

REPEAT_S = 0.4  # a held key repeats; one press is one thought

# Canonical key names (tracker.format.actions) that X spells otherwise.
_X_KEYSYM_NAMES = {
    "enter": "Return", "esc": "Escape", "tab": "Tab", "backspace": "BackSpace", "delete": "Delete",
    "space": "space", "up": "Up", "down": "Down", "left": "Left", "right": "Right", "home": "Home",
    "end": "End", "page_up": "Prior", "page_down": "Next", "insert": "Insert", "pause": "Pause",
    "print_screen": "Print", "menu": "Menu", "scroll_lock": "Scroll_Lock",
}


class HotkeyError(RuntimeError):
    """The hotkey cannot be grabbed: a bad spec, no X display, or another program holds it."""


def x_keysym_name(key: str) -> str:
    """The X keysym name of a canonical key name: "t" -> "t", "f9" -> "F9", "enter" -> "Return"."""
    if key in _X_KEYSYM_NAMES:
        return _X_KEYSYM_NAMES[key]
    if len(key) > 1 and key[0] == "f" and key[1:].isdigit():
        return key.upper()
    return key


def check_hotkey_spec(spec: str) -> tuple[frozenset[str], str]:
    """(modifiers, key) of a hotkey such as "ctrl+alt+t"; raises HotkeyError saying what is wrong."""
    try:
        return check_recording_hotkey(spec)
    except ValueError as exc:
        raise HotkeyError(str(exc)) from exc


class GlobalHotkey:
    """Calls `on_press` (on its own thread) each time the hotkey is pressed anywhere on the desktop."""

    def __init__(self, spec: str, on_press: Callable[[], None], display: str | None = None) -> None:
        self.modifiers, self.key = check_hotkey_spec(spec)
        self.spec = spec
        self.on_press = on_press
        self.display_name = display
        self._display: Any = None
        self._keycode = 0
        self._mask = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._errors: list[str] = []

    def start(self) -> GlobalHotkey:
        """Grab the key; raises HotkeyError when it cannot be had."""
        if not (self.display_name or os.environ.get("DISPLAY")):
            raise HotkeyError("no X display: DISPLAY is not set")
        try:
            from Xlib import XK, X
            from Xlib import display as xdisplay
            from Xlib.error import DisplayError

            self._display = xdisplay.Display(self.display_name)
        except (ImportError, DisplayError, OSError) as exc:
            raise HotkeyError(f"cannot open the X display for the hotkey: {exc}") from exc
        d = self._display
        keysym = XK.string_to_keysym(x_keysym_name(self.key))
        self._keycode = d.keysym_to_keycode(keysym) if keysym else 0
        if not self._keycode:
            d.close()
            raise HotkeyError(f"the key {self.key!r} of {self.spec!r} is not on this keyboard")
        masks = {"ctrl": X.ControlMask, "shift": X.ShiftMask, "alt": X.Mod1Mask, "super": X.Mod4Mask}
        self._mask = 0
        for name in self.modifiers:
            self._mask |= masks[name]
        d.set_error_handler(lambda error, request: self._errors.append(type(error).__name__))
        root = d.screen().root
        for locks in (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask):  # caps lock, num lock
            root.grab_key(self._keycode, self._mask | locks, False, X.GrabModeAsync, X.GrabModeAsync)
        d.sync()
        if self._errors:
            self._ungrab()
            d.close()
            raise HotkeyError(f"{self.spec} is already taken by another program ({self._errors[0]}); "
                              "choose another thought hotkey in the settings")
        self._thread = threading.Thread(target=self._listen, name="pcagent-hotkey", daemon=True)
        self._thread.start()
        return self

    def _listen(self) -> None:
        from Xlib import X

        d, last = self._display, 0.0
        relevant = X.ControlMask | X.ShiftMask | X.Mod1Mask | X.Mod4Mask
        while not self._stop.is_set():
            readable, _, _ = select.select([d.fileno()], [], [], 0.2)
            if not readable and not d.pending_events():
                continue
            try:
                while d.pending_events():
                    event = d.next_event()
                    if event.type != X.KeyPress or event.detail != self._keycode:
                        continue
                    if event.state & relevant != self._mask:
                        continue
                    now = time.monotonic()
                    if now - last >= REPEAT_S:
                        self.on_press()
                    last = now
            except Exception as exc:  # noqa: BLE001 - the X server went away: nothing more to hear
                self._errors.append(f"hotkey listener stopped: {exc!r}")
                return

    def _ungrab(self) -> None:
        from Xlib import X

        root = self._display.screen().root
        for locks in (0, X.LockMask, X.Mod2Mask, X.LockMask | X.Mod2Mask):
            root.ungrab_key(self._keycode, self._mask | locks)

    def stop(self) -> None:
        """Let the key go and end the thread. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        if self._display is not None:
            try:
                self._ungrab()
                self._display.close()
            except Exception:  # noqa: BLE001, S110 - the display is gone already: nothing to let go
                pass
            self._display = None
