"""Merging raw input events into canonical actions.

Pure logic, no I/O: the recorder feeds events (each with the screen frame that was
current just before it) and timer ticks, and gets back finished actions. An action
keeps the frame and the context (element, window) of its *first* event, so its
screenshot shows the screen before the action began.

What stays pending, and what ends it:
- a left click waits `double_click_s` for a second press at the same point;
- typed text is buffered until any other input (backspace edits the buffer), or until
  keys go to another window (a password prompt that pops up mid-run gets a run, and a
  context, of its own);
- scrolls are summed until other input, or until the pointer moves away;
- everything pending is flushed before an idle `wait` is emitted.
Modifier keys pressed and released alone produce nothing; the recorder's own
control hotkeys are reported as `Control` and never become actions. A hotkey's context
is looked up when its first ctrl/alt/super goes down, before the key that may open a
window (ctrl+s: a Save As dialog) can change what has focus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from tracker.format import actions
from tracker.format.actions import Action
from tracker.recording.input_events import MODIFIER_KEYS, InputEvent, KeyEvent, MouseButtonEvent, ScrollEvent

MODIFIER_ORDER = ("ctrl", "alt", "shift", "super")
CHORD_MODIFIERS = {"ctrl", "alt", "super"}  # with one of these held, a key is a hotkey
# Shift+digit/punctuation on a US layout: a hotkey names the unshifted key.
_US_UNSHIFT = dict(zip('!@#$%^&*()_+{}|:"<>?~', "1234567890-=[]\\;',./`"))
# Named keys that never end up in typed text.
_TEXT_KEYS = {"space": " "}


@dataclass(frozen=True)
class Control:
    """A recorder control hotkey was pressed: "stop", "pause", "finish" or "fail"."""

    command: str
    t: float


@dataclass
class MergedAction:
    """A finished action with what the recorder needs to write its step."""

    action: Action
    t: float  # monotonic time of the first raw event
    t_end: float  # monotonic time of the last raw event
    pointer: tuple[int, int] | None
    frame: Any = None  # the screen just before `t`, opaque here
    context: Any = None  # element/window info captured at `t`, opaque here


@dataclass
class MergeConfig:
    double_click_s: float = 0.5
    double_click_px: int = 5
    drag_px: int = 5
    scroll_break_px: int = 24
    idle_wait_s: float | None = 6.0
    # {(frozenset of modifiers, key): command}; e.g. {(frozenset({"ctrl", "shift"}), "f12"): "stop"}
    control_hotkeys: dict[tuple[frozenset[str], str], str] = field(default_factory=dict)


@dataclass
class _Pending:
    kind: str  # "press" (button down), "click" (released, may become a double), "double", "text", "scroll"
    t: float
    t_end: float
    pointer: tuple[int, int] | None
    frame: Any
    context: Any
    button: str = ""
    text: list[str] = field(default_factory=list)
    window: Any = None  # text runs: the window the keys went to (the key's own, else `window_for`)
    dx: int = 0
    dy: int = 0


def _distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def parse_hotkey_spec(spec: str) -> tuple[frozenset[str], str]:
    """"ctrl+shift+f12" -> (frozenset({"ctrl", "shift"}), "f12")."""
    names = [actions.normalize_key(part.strip()) for part in spec.split("+") if part.strip()]
    if not names:
        raise ValueError(f"empty hotkey {spec!r}")
    *mods, key = names
    return frozenset(mods), key


class ActionMerger:
    """Turns raw events into actions; see the module docstring for the rules."""

    def __init__(self, config: MergeConfig | None = None,
                 context_for: Callable[[InputEvent], Any] | None = None,
                 caps_lock: bool = False, started_at: float | None = None,
                 window_for: Callable[[InputEvent], Any] | None = None) -> None:
        """A text run ends when the keys go to another window, so each run's context is that of the
        window it was typed into: the window a key went to as it was pressed (KeyEvent.window, from
        the listener), else what `window_for` (cheaper than `context_for`) answers when it is merged."""
        self.config = config or MergeConfig()
        self._context_for = context_for or (lambda event: None)
        self._window_for = window_for
        self._held: set[str] = set()  # raw names of held modifier keys
        self._chord_context: Any = None  # looked up as the first chord modifier went down; used once
        self._caps_lock = caps_lock
        self._pending: _Pending | None = None
        self._last_input = started_at  # monotonic time of the last input or wait: the idle clock
        self.paused = False
        self.unknown_keys = 0

    # --- public -----------------------------------------------------------------------------
    @property
    def modifiers(self) -> set[str]:
        return {MODIFIER_KEYS[name] for name in self._held}

    def feed(self, event: InputEvent, frame: Any = None) -> list[MergedAction | Control]:
        """Take one raw event; return the actions (and controls) it finished."""
        out: list[MergedAction | Control] = []
        if isinstance(event, KeyEvent):
            self._key(event, frame, out)
        elif self.paused:
            return out
        elif isinstance(event, MouseButtonEvent):
            self._last_input = event.t
            (self._press if event.pressed else self._release)(event, frame, out)
        elif isinstance(event, ScrollEvent):
            self._last_input = event.t
            self._scroll(event, frame, out)
        return out

    def starts_action(self, event: InputEvent) -> bool:
        """Whether `event` is the first sign of a person acting: a button press, a wheel
        notch, or a key press that is neither a lone modifier nor a control hotkey."""
        if self.paused:
            return False
        if isinstance(event, MouseButtonEvent):
            return event.pressed
        if isinstance(event, ScrollEvent):
            return True
        if not event.pressed or event.modifier or event.key == "caps_lock":
            return False
        name = self._key_name(event)
        return (frozenset(self.modifiers - {"alt_gr"}), name) not in self.config.control_hotkeys

    def tick(self, now: float, frame: Any = None) -> list[MergedAction]:
        """Let time pass: expire the double-click window, emit `wait` after idling."""
        out: list[MergedAction] = []
        if self.paused:
            return out
        p = self._pending
        if p and p.kind == "click" and now - p.t > self.config.double_click_s:
            self._flush(out)
        idle = self.config.idle_wait_s
        if idle is not None and self._last_input is not None and now - self._last_input >= idle:
            if p is not None and p.kind == "press":
                return out  # a button is still held: not idle
            self._flush(out)
            self._last_input = now
            out.append(MergedAction(actions.WAIT, now, now, None, frame, None))
        return out

    def next_tick(self) -> float | None:
        """The monotonic time from which `tick` has something to do (a click's double-click window is over, the
        idle wait is due); None while nothing is due before more input comes."""
        if self.paused:
            return None
        due = []
        p = self._pending
        if p and p.kind == "click":
            due.append(p.t + self.config.double_click_s)
        if self.config.idle_wait_s is not None and self._last_input is not None:
            due.append(self._last_input + self.config.idle_wait_s)
        return min(due, default=None)

    def flush(self) -> list[MergedAction]:
        """Finish whatever is pending (at stop, pause, finish)."""
        out: list[MergedAction] = []
        self._flush(out)
        return out

    def pause(self) -> list[MergedAction]:
        """Stop producing actions (modifiers and control hotkeys are still tracked)."""
        out = self.flush()
        self.paused = True
        return out

    def resume(self, now: float) -> None:
        self.paused = False
        self._last_input = now

    def note_input(self, t: float) -> None:
        """Input that makes no action (typing into pcagent's own thought box) still keeps the idle clock
        from emitting `wait`."""
        self._last_input = max(self._last_input or t, t)

    # --- mouse ------------------------------------------------------------------------------
    def _press(self, e: MouseButtonEvent, frame: Any, out: list) -> None:
        point = (e.x, e.y)
        p = self._pending
        if (p and p.kind == "click" and p.button == e.button == "left"
                and e.t - p.t <= self.config.double_click_s
                and _distance(point, p.pointer) <= self.config.double_click_px):
            p.kind, p.t_end = "double", e.t
            return
        self._flush(out)
        self._pending = _Pending("press", e.t, e.t, point, frame, self._context_for(e), button=e.button)

    def _release(self, e: MouseButtonEvent, frame: Any, out: list) -> None:
        p = self._pending
        if p is None or p.kind not in ("press", "double") or p.button != e.button:
            return  # its press was not seen (recording started mid-click, or paused)
        p.t_end = e.t
        x, y = p.pointer
        if p.kind == "double":
            self._emit(out, actions.double_click(x, y))
        elif e.button == "left" and _distance((e.x, e.y), p.pointer) > self.config.drag_px:
            self._emit(out, actions.drag(x, y, e.x, e.y))
        elif e.button == "left":
            p.kind = "click"  # may still become a double click
        elif e.button == "right":
            self._emit(out, actions.right_click(x, y))
        elif e.button == "middle":
            self._emit(out, actions.middle_click(x, y))
        else:
            self._pending = None  # side buttons have no canonical action

    # --- scroll -----------------------------------------------------------------------------
    def _scroll(self, e: ScrollEvent, frame: Any, out: list) -> None:
        p = self._pending
        if not (p and p.kind == "scroll"
                and _distance((e.x, e.y), p.pointer) <= self.config.scroll_break_px):
            self._flush(out)
            p = self._pending = _Pending("scroll", e.t, e.t, (e.x, e.y), frame, self._context_for(e))
        p.dx += e.dx
        p.dy += e.dy
        p.t_end = e.t

    # --- keyboard ---------------------------------------------------------------------------
    def _key(self, e: KeyEvent, frame: Any, out: list) -> None:
        if e.modifier:
            chord_key = e.modifier in CHORD_MODIFIERS
            if e.pressed and chord_key and not self.modifiers & CHORD_MODIFIERS and not self.paused:
                self._chord_context = self._context_for(e)
            (self._held.add if e.pressed else self._held.discard)(e.key)
            if chord_key and not self.modifiers & CHORD_MODIFIERS:
                self._chord_context = None
            return
        if not e.pressed:
            return
        if e.key == "caps_lock":
            self._caps_lock = not self._caps_lock
            return
        name = self._key_name(e)
        if name is None:
            self.unknown_keys += 1
            return
        mods = self.modifiers
        command = self.config.control_hotkeys.get((frozenset(mods - {"alt_gr"}), name))
        if command:
            self._flush(out)
            out.append(Control(command, e.t))
            return
        if self.paused:
            return
        self._last_input = e.t
        char = self._typed_char(e, mods)
        if char is not None:
            self._type(e, char, frame, out)
        elif name == "backspace" and not (mods & CHORD_MODIFIERS) and self._typing_text():
            self._pending.text.pop()
            self._pending.t_end = e.t
        elif name == "delete" and not (mods & CHORD_MODIFIERS) and self._pending \
                and self._pending.kind == "text":
            self._pending.t_end = e.t  # the caret is at the end of the run: nothing to delete
        elif mods & (CHORD_MODIFIERS | {"shift"}):
            keys = [m for m in MODIFIER_ORDER if m in mods] + [name]
            self._flush(out)
            context, self._chord_context = self._chord_context, None
            if context is None or not mods & CHORD_MODIFIERS:
                context = self._context_for(e)
            out.append(MergedAction(actions.hotkey(*keys), e.t, e.t, None, frame, context))
        else:
            self._flush(out)
            self._emit_now(out, actions.press_key(name), e, frame)

    def _key_name(self, e: KeyEvent) -> str | None:
        raw = e.char if e.char is not None else e.key
        if e.char is not None and self.modifiers & {"shift"}:
            raw = _US_UNSHIFT.get(raw, raw)
        try:
            return actions.normalize_key(raw)
        except actions.ActionError:
            return None

    def _typed_char(self, e: KeyEvent, mods: set[str]) -> str | None:
        """The character this key adds to typed text, or None if it is not typing."""
        if mods & CHORD_MODIFIERS:
            return None
        char = _TEXT_KEYS.get(e.key, e.char)
        if char is None or not char.isprintable():
            return None
        if self._caps_lock and char.isalpha():
            char = char.swapcase()  # the listener applies shift but not caps lock
        return char

    def _typing_text(self) -> bool:
        p = self._pending
        return bool(p and p.kind == "text" and p.text)

    def _type(self, e: KeyEvent, char: str, frame: Any, out: list) -> None:
        p = self._pending
        # the focus as the key went down when the listener knew it; else looked up now
        window = ("focus", e.window) if e.window is not None else (
            ("looked up", self._window_for(e)) if self._window_for else None)
        if not (p and p.kind == "text" and p.window == window):
            self._flush(out)
            p = self._pending = _Pending("text", e.t, e.t, None, frame, self._context_for(e), window=window)
        p.text.append(char)
        p.t_end = e.t

    # --- emitting ---------------------------------------------------------------------------
    def _emit(self, out: list, action: Action) -> None:
        p, self._pending = self._pending, None
        out.append(MergedAction(action, p.t, p.t_end, p.pointer, p.frame, p.context))

    def _emit_now(self, out: list, action: Action, e: InputEvent, frame: Any) -> None:
        out.append(MergedAction(action, e.t, e.t, None, frame, self._context_for(e)))

    def _flush(self, out: list) -> None:
        p = self._pending
        if p is None:
            return
        if p.kind == "click":
            self._emit(out, actions.click(*p.pointer))
        elif p.kind == "double":  # second press still held: it is a double click already
            self._emit(out, actions.double_click(*p.pointer))
        elif p.kind == "text" and p.text:
            self._emit(out, actions.type_text("".join(p.text)))
        elif p.kind == "scroll" and (p.dx or p.dy):
            self._emit(out, actions.scroll(p.dx, p.dy))
        elif p.kind == "press":
            # Other input while a button is held: take it as a click where it went down.
            kind = {"left": actions.click, "right": actions.right_click,
                    "middle": actions.middle_click}.get(p.button)
            if kind:
                self._emit(out, kind(*p.pointer))
            else:
                self._pending = None
        else:
            self._pending = None
