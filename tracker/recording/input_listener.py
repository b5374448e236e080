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

        focus = _FocusWindow()

        def on_key(key, pressed):
            fields = _key_fields(key)
            if fields is None:
                self.unnamed_keys += 1
                return
            put(KeyEvent(time.monotonic(), fields[0], fields[1], pressed, focus.window() if pressed else None))

        self._listeners = [
            mouse.Listener(on_click=on_click, on_scroll=on_scroll),
            keyboard.Listener(on_press=lambda k: on_key(k, True), on_release=lambda k: on_key(k, False)),
        ]
        for listener in self._listeners:
            listener.start()
        for listener in self._listeners:
            listener.wait()  # ready: events from here on are seen

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop both listeners at once; True when both threads ended within `timeout`."""
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.stop()  # pynput's own flag; its DisableContext alone does not wake the thread
        _disable_record_contexts(listeners)
        deadline = time.monotonic() + timeout
        for listener in listeners:
            listener.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(listener.is_alive() for listener in listeners)


class _FocusWindow:
    """The X window with the keyboard focus, asked on the listener's own thread (one round trip on a
    connection of its own) as a key goes down: the merger tells typing into a dialog that opened mid-run
    from typing before it by this, whatever its own delay. Within a fast burst the answer is reused
    (REUSE_S): a round trip per key would let the keyboard listener fall behind the mouse listener, and
    a click could then be queued before the keys typed ahead of it."""

    REUSE_S = 0.05

    def __init__(self) -> None:
        self._display: Any = None
        self._broken = False
        self._last: tuple[float, int | None] | None = None

    def window(self) -> int | None:
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.REUSE_S:
            return self._last[1]
        answer = self._ask()
        self._last = (now, answer)
        return answer

    def _ask(self) -> int | None:
        if self._broken:
            return None
        try:
            if self._display is None:
                from Xlib import display as xdisplay

                self._display = xdisplay.Display()
            focus = self._display.get_input_focus().focus
        except Exception:  # no X here, or it went away: unknown, and the merger looks it up itself
            self._broken = True
            return None
        window_id = getattr(focus, "id", None)
        return window_id if isinstance(window_id, int) and window_id > 1 else None  # not None/PointerRoot


def _disable_record_contexts(listeners: list[Any]) -> None:
    """End the XRecord EnableContext each listener thread is blocked in.

    pynput's stop() queues DisableContext on the very connection its thread is blocked reading,
    and python-xlib sends it only when that read returns, i.e. at the next input event: until
    then join() waits out its timeout and the thread stays blocked. Sent on a connection of its
    own, DisableContext reaches the server at once and the blocked read returns.
    """
    contexts = [getattr(listener, "_context", None) for listener in listeners]
    if not any(contexts):
        return
    for listener in listeners:
        # pynput's cleanup disables the context again on its control connection and may lose the
        # race with its own FreeContext: a harmless BadContext that would be printed on stderr.
        stop_display = getattr(listener, "_display_stop", None)
        if stop_display is not None:
            stop_display.set_error_handler(_ignore_x_error)
    try:
        from Xlib import display as xdisplay

        control = xdisplay.Display()
    except Exception:  # the X server is gone: so are the blocked reads
        return
    control.set_error_handler(_ignore_x_error)  # a context its thread already freed: nothing to end
    try:
        for context in contexts:
            if context:
                control.record_disable_context(context)
        control.sync()
    except Exception:
        pass
    finally:
        control.close()


def _ignore_x_error(error: Any, request: Any) -> None:
    pass
