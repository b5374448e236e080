"""Listening to the real mouse and keyboard with pynput.

The callbacks run on pynput's listener threads and only timestamp the event and put it
on a queue: they never block, so no input is lost while a screenshot is being written.
pynput picks its X backend when first imported, so it is imported here lazily, after
the caller has set DISPLAY.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from tracker.recording.input_events import InputEvent, KeyEvent, MouseButtonEvent, ScrollEvent


_UNICODE_KEYSYM_MIN, _UNICODE_KEYSYM_MAX = 0x1000100, 0x110FFFF


class InputUnavailable(RuntimeError):
    """No input can be listened to here (no display, no XRecord, ...)."""


def _key_fields(key: Any) -> tuple[str, str | None] | None:
    name = getattr(key, "name", None)
    if name:  # a pynput Key enum member: a named key
        return name, None
    char = getattr(key, "char", None)
    if char:
        return char, char
    vk = getattr(key, "vk", None) or 0
    if _UNICODE_KEYSYM_MIN <= vk <= _UNICODE_KEYSYM_MAX:
        char = chr(vk - 0x1000000)  # X11 Unicode keysym, which pynput leaves unnamed
        return char, char
    return None  # a KeyCode with only a virtual key code: nothing we can name


class InputListener:
    """Mouse and keyboard listeners feeding one queue of `InputEvent`s."""

    def __init__(self, events: "queue.SimpleQueue[InputEvent]") -> None:
        self._events = events
        self._listeners: list[Any] = []
        self.unnamed_keys = 0

    def start(self) -> None:
        try:
            from pynput import keyboard, mouse
        except Exception as exc:  # pynput raises ImportError subclasses and others
            raise InputUnavailable(f"cannot listen to input here: {exc}".split("\n")[0]) from exc
        put = self._events.put

        def on_click(x, y, button, pressed):
            put(MouseButtonEvent(time.monotonic(), int(x), int(y), button.name, pressed))

        def on_scroll(x, y, dx, dy):
            put(ScrollEvent(time.monotonic(), int(x), int(y), int(dx), int(dy)))

        def on_key(key, pressed):
            fields = _key_fields(key)
            if fields is None:
                self.unnamed_keys += 1
                return
            put(KeyEvent(time.monotonic(), fields[0], fields[1], pressed))

        self._listeners = [
            mouse.Listener(on_click=on_click, on_scroll=on_scroll),
            keyboard.Listener(on_press=lambda k: on_key(k, True), on_release=lambda k: on_key(k, False)),
        ]
        for listener in self._listeners:
            listener.start()
        for listener in self._listeners:
            listener.wait()  # ready: events from here on are seen

    def stop(self) -> None:
        for listener in self._listeners:
            listener.stop()
        for listener in self._listeners:
            listener.join(timeout=2)
        self._listeners = []
