"""The canonical action grammar: the one place that parses and prints actions.

Every trajectory step, every planner output and every executor input goes through this module.
The canonical text is PC Agent-E compatible and round-trips exactly::

    click (x, y)            right click (x, y)      middle click (x, y)     double click (x, y)
    drag from (x1, y1) to (x2, y2)                  scroll (dx, dy)     scroll (dx, dy) at (x, y)
    press key: <key>        hotkey (<k1>, <k2>[, ...])                      type text: <text>
    wait                    finish                  fail
    click element: <description>   (also right / middle / double click element: ...)
    call user: <question>

Model output is parsed here into an :class:`Action` or rejected with :class:`ActionError`; nothing is
ever evaluated as code, and nothing is guessed (a missing coordinate is an error, never 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from models.text_excerpt import has_unsafe_controls, quoted, shorten

__all__ = [
    "ACTION_KINDS", "CLICK_KINDS", "KEY_NAMES", "MAX_COORDINATE",
    "Action", "ActionError",
    "click", "right_click", "middle_click", "double_click", "click_element", "drag", "scroll",
    "press_key", "hotkey", "type_text", "call_user", "WAIT", "FINISH", "FAIL",
    "parse_action", "format_action", "format_action_in_model_space", "normalize_key",
]


class ActionError(ValueError):
    """An action text or value that is not part of the grammar."""


ACTION_KINDS = ("click", "right_click", "middle_click", "double_click", "drag", "scroll", "press_key",
                "hotkey", "type_text", "wait", "finish", "fail", "call_user")
CLICK_KINDS = ("click", "right_click", "middle_click", "double_click")

# Guards against absurd numbers from a model; real virtual desktops are far smaller.
MAX_COORDINATE = 1_000_000

# ---------------------------------------------------------------------------------------------------
# Keys

_NAMED_KEYS = (
    "ctrl", "alt", "shift", "super", "alt_gr", "enter", "esc", "tab", "backspace", "delete", "space",
    "up", "down", "left", "right", "home", "end", "page_up", "page_down", "insert", "caps_lock",
    "num_lock", "scroll_lock", "print_screen", "pause", "menu",
    "media_play_pause", "media_volume_mute", "media_volume_down", "media_volume_up",
    "media_previous", "media_next",
) + tuple(f"f{n}" for n in range(1, 25))

#: Canonical names of the non-character keys (pynput spelling, except "super" for cmd/win).
KEY_NAMES = frozenset(_NAMED_KEYS)

_KEY_ALIASES = {
    "control": "ctrl", "ctl": "ctrl", "ctrl_l": "ctrl", "ctrl_r": "ctrl",
    "lctrl": "ctrl", "rctrl": "ctrl", "left_ctrl": "ctrl", "right_ctrl": "ctrl",
    "cmd": "super", "command": "super", "win": "super", "windows": "super", "meta": "super",
    "super_l": "super", "super_r": "super", "cmd_l": "super", "cmd_r": "super",
    "win_l": "super", "win_r": "super", "lwin": "super", "rwin": "super",
    "option": "alt", "alt_l": "alt", "alt_r": "alt", "lalt": "alt", "ralt": "alt", "altgr": "alt_gr",
    "shift_l": "shift", "shift_r": "shift", "lshift": "shift", "rshift": "shift",
    "return": "enter", "escape": "esc", "del": "delete", "bksp": "backspace", "back_space": "backspace",
    "pgup": "page_up", "pageup": "page_up", "prior": "page_up",
    "pgdn": "page_down", "pagedown": "page_down", "next": "page_down",
    "ins": "insert", "prtsc": "print_screen", "prtscr": "print_screen", "printscreen": "print_screen",
    "print": "print_screen", "capslock": "caps_lock", "numlock": "num_lock", "scrolllock": "scroll_lock",
    "spacebar": "space", "apps": "menu", "context_menu": "menu",
    "playpause": "media_play_pause", "volumemute": "media_volume_mute",
    "volumedown": "media_volume_down", "volumeup": "media_volume_up",
    "prevtrack": "media_previous", "nexttrack": "media_next",
}
for _arrow in ("up", "down", "left", "right"):
    for _spelling in (f"arrow{_arrow}", f"arrow_{_arrow}", f"{_arrow}_arrow", f"{_arrow}arrow"):
        _KEY_ALIASES[_spelling] = _arrow


def _single_char_key(char: str) -> str | None:
    """The canonical spelling of a one-character key, or None if it cannot be a key."""
    if len(char) != 1 or not char.isprintable() or char.isspace():
        return None
    lower = char.lower()
    # A few characters lowercase to two ("İ"); keep those as typed rather than break the round trip.
    return lower if len(lower) == 1 else char


def normalize_key(name: str) -> str:
    """Return the canonical name of a key, accepting aliases, any case and pynput's ``Key.x`` repr.

    Raises :class:`ActionError` for anything that is not a known key or a single printable character.
    """
    if not isinstance(name, str):
        raise ActionError(f"key name must be text, not {type(name).__name__}")
    if name == " ":
        return "space"
    stripped = name.strip()
    single = _single_char_key(stripped)
    if single is not None:
        return single
    key = stripped.lower()
    if key.startswith("key."):  # pynput's repr: Key.enter
        key = key[4:]
    key = re.sub(r"[\s\-]+", "_", key)  # "Page Up", "page-up"
    if key in KEY_NAMES:
        return key
    if key in _KEY_ALIASES:
        return _KEY_ALIASES[key]
    raise ActionError(f"unknown key name {name!r}")


# ---------------------------------------------------------------------------------------------------
# The action value


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionError(f"{what} must be an integer, not {value!r}")
    if abs(value) > MAX_COORDINATE:
        raise ActionError(f"{what} {value} is out of range (|value| <= {MAX_COORDINATE})")
    return value


def _check_pair(value: object, what: str) -> tuple[int, int]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ActionError(f"{what} must be a pair of integers, not {value!r}")
    return (_check_int(value[0], what), _check_int(value[1], what))


def _check_phrase(value: object, what: str) -> str:
    """A description or question: non-empty, no surrounding whitespace (the parser strips it)."""
    if not isinstance(value, str) or not value.strip():
        raise ActionError(f"{what} must be non-empty text, not {value!r}")
    if value != value.strip():
        raise ActionError(f"{what} must not start or end with whitespace: {value!r}")
    _check_controls(value, what)
    return value


def _check_controls(text: str, what: str) -> None:
    """Control characters other than tab and newline (ANSI escapes, carriage returns) and bidirectional
    overrides have no business in typed text or a description, and they can make a prompt show another
    action than the one that would run."""
    if has_unsafe_controls(text):
        raise ActionError(f"{what} holds control characters: {quoted(text, 120)}")


@dataclass(frozen=True)
class Action:
    """One GUI action. Construct with the helper functions or :func:`parse_action`.

    Creating an Action validates it, so every Action that exists prints as canonical text that parses
    back to an equal Action.
    """

    kind: str
    point: tuple[int, int] | None = None  # click kinds (coordinates); drag start; where to scroll, if given
    end: tuple[int, int] | None = None  # drag end
    element: str | None = None  # click kinds that name a target instead of a point
    delta: tuple[int, int] | None = None  # scroll (dx, dy) in wheel notches; dy > 0 is up
    keys: tuple[str, ...] = ()  # press_key: one key; hotkey: two or more
    text: str | None = None  # type_text's text; call_user's question

    def __post_init__(self) -> None:
        kind = self.kind
        if kind not in ACTION_KINDS:
            raise ActionError(f"unknown action kind {kind!r}")
        allowed: set[str] = set()
        if kind in CLICK_KINDS:
            if (self.point is None) == (self.element is None):
                raise ActionError(f"{kind} needs exactly one of a point or an element description")
            if self.point is not None:
                object.__setattr__(self, "point", _check_pair(self.point, "click point"))
                allowed = {"point"}
            else:
                _check_phrase(self.element, "element description")
                allowed = {"element"}
        elif kind == "drag":
            if self.point is None or self.end is None:
                raise ActionError("drag needs a start point and an end point")
            object.__setattr__(self, "point", _check_pair(self.point, "drag start"))
            object.__setattr__(self, "end", _check_pair(self.end, "drag end"))
            allowed = {"point", "end"}
        elif kind == "scroll":
            object.__setattr__(self, "delta", _check_pair(self.delta, "scroll delta"))
            allowed = {"delta"}
            if self.point is not None:  # over which point; without one, wherever the pointer is
                object.__setattr__(self, "point", _check_pair(self.point, "scroll point"))
                allowed.add("point")
        elif kind in ("press_key", "hotkey"):
            keys = tuple(self.keys) if isinstance(self.keys, (tuple, list)) else None
            if keys is None:
                raise ActionError(f"{kind} keys must be a tuple of key names, not {self.keys!r}")
            for key in keys:
                if normalize_key(key) != key:
                    raise ActionError(f"key {key!r} is not in canonical form ({normalize_key(key)!r})")
            if kind == "press_key" and len(keys) != 1:
                raise ActionError(f"press_key takes exactly one key, not {len(keys)}")
            if kind == "hotkey":
                if len(keys) < 2:
                    raise ActionError("hotkey needs two or more keys (use press_key for one)")
                if len(set(keys)) != len(keys):
                    raise ActionError(f"hotkey repeats a key: {keys!r}")
            object.__setattr__(self, "keys", keys)
            allowed = {"keys"}
        elif kind == "type_text":
            if not isinstance(self.text, str) or self.text == "":
                raise ActionError(f"type_text needs non-empty text, not {self.text!r}")
            _check_controls(self.text, "typed text")
            allowed = {"text"}
        elif kind == "call_user":
            _check_phrase(self.text, "question for the user")
            allowed = {"text"}
        for field_name in ("point", "end", "element", "delta", "keys", "text"):
            value = getattr(self, field_name)
            empty = value == () if field_name == "keys" else value is None
            if field_name not in allowed and not empty:
                raise ActionError(f"{kind} does not take {field_name} (got {value!r})")

    def __str__(self) -> str:
        return format_action(self)

    @property
    def is_element_click(self) -> bool:
        """True for a click that names its target by description instead of coordinates."""
        return self.kind in CLICK_KINDS and self.element is not None

    def with_point(self, x: int, y: int) -> Action:
        """This element click as a coordinate click at (x, y), e.g. once a grounder located it."""
        if not self.is_element_click:
            raise ActionError(f"with_point needs an element click, not {format_action(self)!r}")
        return replace(self, element=None, point=(x, y))


# ---------------------------------------------------------------------------------------------------
# Constructors


def click(x: int, y: int) -> Action:
    return Action("click", point=(x, y))


def right_click(x: int, y: int) -> Action:
    return Action("right_click", point=(x, y))


def middle_click(x: int, y: int) -> Action:
    return Action("middle_click", point=(x, y))


def double_click(x: int, y: int) -> Action:
    return Action("double_click", point=(x, y))


def click_element(description: str, kind: str = "click") -> Action:
    """A click on a described element, to be located by a grounder; kind is one of CLICK_KINDS."""
    if kind not in CLICK_KINDS:
        raise ActionError(f"element clicks are one of {CLICK_KINDS}, not {kind!r}")
    return Action(kind, element=description)


def drag(x1: int, y1: int, x2: int, y2: int) -> Action:
    return Action("drag", point=(x1, y1), end=(x2, y2))


def scroll(dx: int, dy: int, at: tuple[int, int] | None = None) -> Action:
    """Scroll by wheel notches; dy > 0 scrolls up, dx > 0 scrolls right (pynput/pyautogui sign); over the
    point ``at`` when given, else wherever the pointer is."""
    return Action("scroll", delta=(dx, dy), point=at)


def press_key(key: str) -> Action:
    return Action("press_key", keys=(normalize_key(key),))


def hotkey(*keys: str) -> Action:
    """A key combination; a single key gives a press_key action."""
    normalised = tuple(normalize_key(k) for k in keys)
    if len(normalised) == 1:
        return Action("press_key", keys=normalised)
    return Action("hotkey", keys=normalised)


def type_text(text: str) -> Action:
    return Action("type_text", text=text)


def call_user(question: str) -> Action:
    return Action("call_user", text=question)


WAIT = Action("wait")
FINISH = Action("finish")
FAIL = Action("fail")

# ---------------------------------------------------------------------------------------------------
# Printing

_CLICK_WORDS = {"click": "click", "right_click": "right click", "middle_click": "middle click",
                "double_click": "double click"}


def format_action(action: Action) -> str:
    """The canonical text of an action."""
    kind = action.kind
    if kind in CLICK_KINDS:
        if action.element is not None:
            return f"{_CLICK_WORDS[kind]} element: {action.element}"
        x, y = action.point  # type: ignore[misc]
        return f"{_CLICK_WORDS[kind]} ({x}, {y})"
    if kind == "drag":
        (x1, y1), (x2, y2) = action.point, action.end  # type: ignore[misc]
        return f"drag from ({x1}, {y1}) to ({x2}, {y2})"
    if kind == "scroll":
        dx, dy = action.delta  # type: ignore[misc]
        where = f" at ({action.point[0]}, {action.point[1]})" if action.point is not None else ""
        return f"scroll ({dx}, {dy}){where}"
    if kind == "press_key":
        return f"press key: {action.keys[0]}"
    if kind == "hotkey":
        return f"hotkey ({', '.join(action.keys)})"
    if kind == "type_text":
        return f"type text: {action.text}"
    if kind == "call_user":
        return f"call user: {action.text}"
    return kind  # wait, finish, fail


def format_action_in_model_space(action: Action, to_model: Callable[[int, int], tuple[float, float]],
                                 decimals: int = 0) -> str:
    """The canonical text of an action with its points in a model's coordinate space: how a model that
    answers in that space is shown the steps before.

    ``to_model`` maps a desktop pixel there (grounding.coordinates.ScreenFrame.to_model; its errors pass
    through); each coordinate is written with ``decimals`` places. A scroll's notches, and every action
    without a point, are written as :func:`format_action` writes them.
    """
    canonical = format_action(action)
    points = [p for p in (action.point, action.end) if p is not None]
    if not points:
        return canonical
    pairs = [f"({x:.{decimals}f}, {y:.{decimals}f})" for x, y in (to_model(*p) for p in points)]
    if action.kind == "drag":
        return f"drag from {pairs[0]} to {pairs[1]}"
    if action.kind == "scroll":
        return f"{canonical[:canonical.index(' at ')]} at {pairs[0]}"
    return f"{_CLICK_WORDS[action.kind]} {pairs[0]}"


# ---------------------------------------------------------------------------------------------------
# Parsing

_INT = r"([+-]?\d+)"
_PAIR = rf"\(\s*{_INT}\s*,\s*{_INT}\s*\)"
_FLAGS = re.IGNORECASE | re.DOTALL
_TYPE_TEXT = re.compile(r"\s*type\s+text\s*:", re.IGNORECASE)
_ELEMENT_CLICK = re.compile(r"(?:(right|middle|double)\s+)?click\s+element\s*:\s*(.+)", _FLAGS)
_POINT_CLICK = re.compile(rf"(?:(right|middle|double)\s+)?click\s*{_PAIR}", _FLAGS)
_DRAG = re.compile(rf"drag\s+from\s*{_PAIR}\s*to\s*{_PAIR}", _FLAGS)
_SCROLL = re.compile(rf"scroll\s*\(\s*{_INT}\s*(?:,\s*{_INT}\s*)?\)(?:\s*at\s*{_PAIR})?", _FLAGS)
_PRESS_KEY = re.compile(r"press\s+key(?:\s*:\s*|\s+)(.+)", _FLAGS)
_HOTKEY = re.compile(r"hotkey\s*\((.*)\)", _FLAGS)
_CALL_USER = re.compile(r"call\s+user\s*:\s*(.+)", _FLAGS)
_KEY_WORD = re.compile(r"\w[\w.]*(?:[ \t]+\w[\w.]*)*")  # "ctrl", "Key.f5", "Page Up"
_BARE = {"wait": WAIT, "finish": FINISH, "fail": FAIL}
_VERBS = ("click", "right click", "middle click", "double click", "drag", "scroll", "press key",
          "hotkey", "type text", "wait", "finish", "fail", "call user")


def _int(text: str, what: str, source: str) -> int:
    value = int(text)
    if abs(value) > MAX_COORDINATE:
        raise ActionError(f"{what} {value} is out of range in {source!r}")
    return value


def _split_hotkey_keys(inner: str, source: str) -> list[str]:
    """Split "Ctrl, Shift, ," into key names; a key is a word (ctrl, Key.f5) or one character."""
    keys: list[str] = []
    pos, length = 0, len(inner)
    while True:
        while pos < length and inner[pos].isspace():
            pos += 1
        if pos >= length:
            raise ActionError(f"missing key name in {source!r}")
        word = _KEY_WORD.match(inner, pos)
        if word is not None:
            keys.append(word.group())
            pos = word.end()
        else:
            keys.append(inner[pos])
            pos += 1
        while pos < length and inner[pos].isspace():
            pos += 1
        if pos >= length:
            return keys
        if inner[pos] != ",":
            raise ActionError(f"expected ',' between key names in {source!r}")
        pos += 1


def parse_action(text: str) -> Action:
    """Parse action text (canonical, or one of the lenient spellings) into an :class:`Action`.

    Raises :class:`ActionError` naming the text for anything outside the grammar.
    """
    if not isinstance(text, str):
        raise ActionError(f"action must be text, not {type(text).__name__}")
    # type text keeps everything after "type text: " exactly, so it is matched before stripping.
    typed = _TYPE_TEXT.match(text)
    if typed is not None:
        rest = text[typed.end():]
        rest = rest[1:] if rest.startswith(" ") else rest
        if rest == "":
            raise ActionError(f"type text needs some text: {text!r}")
        return type_text(rest)

    source = text.strip()
    if not source:
        raise ActionError("empty action text")
    bare = _BARE.get(source.lower())
    if bare is not None:
        return bare
    if m := _ELEMENT_CLICK.fullmatch(source):
        kind = f"{m.group(1).lower()}_click" if m.group(1) else "click"
        return click_element(m.group(2).strip(), kind)
    if m := _POINT_CLICK.fullmatch(source):
        kind = f"{m.group(1).lower()}_click" if m.group(1) else "click"
        return Action(kind, point=(_int(m.group(2), "x", source), _int(m.group(3), "y", source)))
    if m := _DRAG.fullmatch(source):
        x1, y1, x2, y2 = (_int(m.group(i), "coordinate", source) for i in range(1, 5))
        return drag(x1, y1, x2, y2)
    if m := _SCROLL.fullmatch(source):
        at = None if m.group(3) is None else (_int(m.group(3), "x", source), _int(m.group(4), "y", source))
        if m.group(2) is None:  # PC Agent-E's vertical-only "scroll (dy)"
            return scroll(0, _int(m.group(1), "scroll amount", source), at)
        return scroll(_int(m.group(1), "scroll amount", source), _int(m.group(2), "scroll amount", source), at)
    if m := _PRESS_KEY.fullmatch(source):
        return _with_source(source, press_key, m.group(1).strip())
    if m := _HOTKEY.fullmatch(source):
        return _with_source(source, hotkey, *_split_hotkey_keys(m.group(1), source))
    if m := _CALL_USER.fullmatch(source):
        return call_user(m.group(1).strip())
    raise ActionError(_explain_rejection(source))


def _with_source(source: str, make: Callable[..., Action], *args: str) -> Action:
    """Call a key constructor, naming the whole action text in any error."""
    try:
        return make(*args)
    except ActionError as error:
        raise ActionError(f"{error} in {source!r}") from None


def _explain_rejection(source: str) -> str:
    """A message that says what was wrong, as precisely as a quick look allows."""
    lowered = re.sub(r"\s+", " ", source.lower())
    shown = shorten(source, 120)
    for verb in sorted(_VERBS, key=len, reverse=True):
        if lowered.startswith(verb):
            hint = {
                "drag": "expected 'drag from (x1, y1) to (x2, y2)' with integer coordinates",
                "scroll": "expected 'scroll (dx, dy)' or 'scroll (dy)' with integers, optionally "
                          "followed by 'at (x, y)'",
                "press key": "expected 'press key: <key>'",
                "hotkey": "expected 'hotkey (<k1>, <k2>[, ...])'",
                "call user": "expected 'call user: <question>'",
                "wait": "'wait' takes no arguments",
                "finish": "'finish' takes no arguments",
                "fail": "'fail' takes no arguments",
            }.get(verb, f"expected '{verb} (x, y)' with integer coordinates or '{verb} element: <description>'")
            return f"malformed {verb} action {shown!r}: {hint}"
    return f"not an action: {shown!r}"
