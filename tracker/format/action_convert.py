"""Canonical actions (tracker.format.actions) to pyautogui calls and OSWorld's computer_13, and back.

pyautogui calls are data — ``("click", (x, y), {"button": "left"})`` — for an executor to dispatch on
``getattr(pyautogui, name)`` from a fixed list; no code text is ever built or evaluated.

computer_13 actions are dicts in OSWorld's shape, ``{"action_type": "CLICK", "parameters": {...}}``;
`from_computer13` also takes the flat shape (parameters beside action_type) and the bare strings
"WAIT" / "DONE" / "FAIL" that OSWorld accepts. A drag is two computer_13 actions (MOVE_TO then
DRAG_TO, or MOVE_TO, MOUSE_DOWN, MOVE_TO, MOUSE_UP): `from_computer13_sequence` joins them again.
"""

from __future__ import annotations

from typing import Any

from tracker.format.actions import (CLICK_KINDS, FAIL, FINISH, WAIT, Action, ActionError, double_click, drag,
                             hotkey, middle_click, normalize_key, press_key, right_click, scroll, type_text)
from tracker.format.actions import click as click_at

__all__ = ["PYAUTOGUI_FUNCTIONS", "PyAutoGuiCall", "COMPUTER13_TYPES", "to_pyautogui", "pyautogui_key",
           "key_from_pyautogui", "to_computer13", "from_computer13", "from_computer13_sequence"]

PyAutoGuiCall = tuple[str, tuple, dict]

#: Every pyautogui function `to_pyautogui` may name; an executor should refuse anything else.
PYAUTOGUI_FUNCTIONS = ("click", "doubleClick", "moveTo", "dragTo", "scroll", "hscroll", "press", "hotkey",
                       "write", "sleep")
COMPUTER13_TYPES = ("MOVE_TO", "CLICK", "MOUSE_DOWN", "MOUSE_UP", "RIGHT_CLICK", "DOUBLE_CLICK", "DRAG_TO",
                    "SCROLL", "TYPING", "PRESS", "KEY_DOWN", "KEY_UP", "HOTKEY", "WAIT", "FAIL", "DONE")

WAIT_S = 1.0  # how long `wait` pauses
DRAG_DURATION_S = 0.5  # a drag moves over this long, so applications see the pointer travel

# Canonical key names that pyautogui spells differently (the rest are spelled the same).
_TO_PYAUTOGUI = {
    "super": "win", "alt_gr": "altright", "page_up": "pageup", "page_down": "pagedown",
    "caps_lock": "capslock", "num_lock": "numlock", "scroll_lock": "scrolllock",
    "print_screen": "printscreen", "menu": "apps", "media_play_pause": "playpause",
    "media_volume_mute": "volumemute", "media_volume_down": "volumedown", "media_volume_up": "volumeup",
    "media_previous": "prevtrack", "media_next": "nexttrack",
}
_FROM_PYAUTOGUI = {value: key for key, value in _TO_PYAUTOGUI.items()} | {
    "ctrlleft": "ctrl", "ctrlright": "ctrl", "altleft": "alt", "shiftleft": "shift", "shiftright": "shift",
    "winleft": "super", "winright": "super", "prntscrn": "print_screen", "prtsc": "print_screen",
}


def pyautogui_key(key: str) -> str:
    """pyautogui's name for a canonical key name."""
    return _TO_PYAUTOGUI.get(key, key)


def key_from_pyautogui(name: str) -> str:
    """The canonical name of a pyautogui key name (also accepts every alias normalize_key knows)."""
    if not isinstance(name, str):
        raise ActionError(f"key name must be text, not {name!r}")
    return _FROM_PYAUTOGUI.get(name.lower(), None) or normalize_key(name)


def _point_of(action: Action) -> tuple[int, int]:
    if action.point is None:
        raise ActionError(f"{action} names an element, not a point: ground it before converting")
    return action.point


# ---- pyautogui ------------------------------------------------------------------------------------

_BUTTONS = {"click": "left", "right_click": "right", "middle_click": "middle", "double_click": "left"}


def to_pyautogui(action: Action) -> list[PyAutoGuiCall]:
    """The pyautogui calls that perform `action`, as (function name, args, kwargs).

    finish, fail and call_user put nothing on the screen: they give an empty list. An element click
    raises ActionError (it needs a grounder first).
    """
    kind = action.kind
    if kind in CLICK_KINDS:
        x, y = _point_of(action)
        if kind == "double_click":
            return [("doubleClick", (x, y), {"button": "left"})]
        return [("click", (x, y), {"button": _BUTTONS[kind]})]
    if kind == "drag":
        (x1, y1), (x2, y2) = action.point, action.end  # type: ignore[misc]
        return [("moveTo", (x1, y1), {}),
                ("dragTo", (x2, y2), {"duration": DRAG_DURATION_S, "button": "left"})]
    if kind == "scroll":
        dx, dy = action.delta  # type: ignore[misc]
        calls: list[PyAutoGuiCall] = [("moveTo", action.point, {})] if action.point is not None else []
        if dy:
            calls.append(("scroll", (dy,), {}))  # same sign as ours: > 0 is up
        if dx:
            calls.append(("hscroll", (dx,), {}))  # > 0 is right
        return calls
    if kind == "press_key":
        return [("press", (pyautogui_key(action.keys[0]),), {})]
    if kind == "hotkey":
        return [("hotkey", tuple(pyautogui_key(k) for k in action.keys), {})]
    if kind == "type_text":
        return [("write", (action.text,), {})]
    if kind == "wait":
        return [("sleep", (WAIT_S,), {})]
    return []  # finish, fail, call_user


# ---- OSWorld computer_13 --------------------------------------------------------------------------


def _c13(action_type: str, **parameters: Any) -> dict[str, Any]:
    return {"action_type": action_type, "parameters": parameters}


def to_computer13(action: Action) -> list[dict[str, Any]]:
    """`action` as computer_13 actions. call_user and element clicks have no equivalent: ActionError."""
    kind = action.kind
    if kind in CLICK_KINDS:
        x, y = _point_of(action)
        if kind == "right_click":
            return [_c13("RIGHT_CLICK", x=x, y=y)]
        if kind == "double_click":
            return [_c13("DOUBLE_CLICK", x=x, y=y)]
        return [_c13("CLICK", button=_BUTTONS[kind], x=x, y=y, num_clicks=1)]
    if kind == "drag":
        (x1, y1), (x2, y2) = action.point, action.end  # type: ignore[misc]
        return [_c13("MOVE_TO", x=x1, y=y1), _c13("DRAG_TO", x=x2, y=y2)]
    if kind == "scroll":
        dx, dy = action.delta  # type: ignore[misc]
        at = [_c13("MOVE_TO", x=action.point[0], y=action.point[1])] if action.point is not None else []
        return [*at, _c13("SCROLL", dx=dx, dy=dy)]
    if kind == "press_key":
        return [_c13("PRESS", key=pyautogui_key(action.keys[0]))]
    if kind == "hotkey":
        return [_c13("HOTKEY", keys=[pyautogui_key(k) for k in action.keys])]
    if kind == "type_text":
        return [_c13("TYPING", text=action.text)]
    if kind in ("wait", "finish", "fail"):
        return [_c13({"wait": "WAIT", "finish": "DONE", "fail": "FAIL"}[kind])]
    raise ActionError(f"{action} has no computer_13 equivalent")


def _unpack(entry: Any) -> tuple[str, dict[str, Any]]:
    """(action_type, parameters) of a computer_13 action in any of its accepted shapes."""
    if isinstance(entry, str):
        entry = {"action_type": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("action_type"), str):
        raise ActionError(f"not a computer_13 action (a dict with an action_type): {entry!r}")
    action_type = entry["action_type"].upper()
    if action_type not in COMPUTER13_TYPES:
        raise ActionError(f"unknown computer_13 action_type {entry['action_type']!r}")
    if "parameters" in entry:
        parameters = entry["parameters"]
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise ActionError(f"computer_13 parameters must be a dict: {entry!r}")
    else:
        parameters = {k: v for k, v in entry.items() if k != "action_type"}
    return action_type, parameters


def _coordinate(parameters: dict[str, Any], name: str, action_type: str) -> int:
    value = parameters.get(name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionError(f"{action_type} needs an integer {name}, got {value!r}")
    return value


def _xy(parameters: dict[str, Any], action_type: str) -> tuple[int, int]:
    return _coordinate(parameters, "x", action_type), _coordinate(parameters, "y", action_type)


def from_computer13(entry: dict[str, Any] | str) -> Action:
    """One computer_13 action as a canonical action.

    MOVE_TO, DRAG_TO, MOUSE_DOWN/UP and KEY_DOWN/UP mean nothing alone (use `from_computer13_sequence`
    for drags); a click without coordinates is rejected rather than guessed.
    """
    action_type, p = _unpack(entry)
    if action_type == "CLICK":
        button = str(p.get("button", "left")).lower()
        clicks = p.get("num_clicks", 1)
        x, y = _xy(p, action_type)
        if button == "left" and clicks == 1:
            return click_at(x, y)
        if button == "left" and clicks == 2:
            return double_click(x, y)
        if button == "right" and clicks == 1:
            return right_click(x, y)
        if button == "middle" and clicks == 1:
            return middle_click(x, y)
        raise ActionError(f"no canonical action for CLICK with button={button!r}, num_clicks={clicks!r}")
    if action_type == "RIGHT_CLICK":
        return right_click(*_xy(p, action_type))
    if action_type == "DOUBLE_CLICK":
        return double_click(*_xy(p, action_type))
    if action_type == "SCROLL":
        if "dx" not in p and "dy" not in p:
            raise ActionError(f"SCROLL needs dx and/or dy: {entry!r}")
        dx = _coordinate(p, "dx", action_type) if "dx" in p else 0
        dy = _coordinate(p, "dy", action_type) if "dy" in p else 0
        return scroll(dx, dy)
    if action_type == "TYPING":
        text = p.get("text")
        if not isinstance(text, str) or not text:
            raise ActionError(f"TYPING needs non-empty text: {entry!r}")
        return type_text(text)
    if action_type == "PRESS":
        return press_key(key_from_pyautogui(p.get("key")))  # type: ignore[arg-type]
    if action_type == "HOTKEY":
        keys = p.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ActionError(f"HOTKEY needs a list of keys: {entry!r}")
        return hotkey(*(key_from_pyautogui(k) for k in keys))
    if action_type in ("WAIT", "DONE", "FAIL"):
        return {"WAIT": WAIT, "DONE": FINISH, "FAIL": FAIL}[action_type]
    raise ActionError(f"{action_type} is not an action by itself; a drag is MOVE_TO then DRAG_TO "
                      f"(see from_computer13_sequence)")


def from_computer13_sequence(entries: list[dict[str, Any] | str]) -> list[Action]:
    """A list of computer_13 actions as canonical actions, joining the pieces of a drag.

    A drag is MOVE_TO (x1, y1) followed by DRAG_TO (x2, y2), or by MOUSE_DOWN, MOVE_TO (x2, y2),
    MOUSE_UP (left button); MOVE_TO then SCROLL is a scroll over that point. Any other MOVE_TO, MOUSE_*,
    KEY_DOWN or KEY_UP raises ActionError.
    """
    actions: list[Action] = []
    unpacked = [_unpack(e) for e in entries]
    i = 0
    while i < len(unpacked):
        action_type, p = unpacked[i]
        if action_type != "MOVE_TO":
            actions.append(from_computer13(entries[i]))
            i += 1
            continue
        start = _xy(p, action_type)
        following = [t for t, _ in unpacked[i + 1:i + 4]]
        if following[:1] == ["SCROLL"]:  # a scroll over that point
            scrolled = from_computer13(entries[i + 1])
            actions.append(scroll(*scrolled.delta, at=start))  # type: ignore[misc]
            i += 2
        elif following[:1] == ["DRAG_TO"]:
            actions.append(drag(*start, *_xy(unpacked[i + 1][1], "DRAG_TO")))
            i += 2
        elif following == ["MOUSE_DOWN", "MOVE_TO", "MOUSE_UP"] and all(
                str(unpacked[j][1].get("button", "left")).lower() == "left" for j in (i + 1, i + 3)):
            actions.append(drag(*start, *_xy(unpacked[i + 2][1], "MOVE_TO")))
            i += 4
        else:
            raise ActionError(f"MOVE_TO at position {i} is not the start of a drag or a scroll "
                              f"(expected DRAG_TO or SCROLL, or MOUSE_DOWN, MOVE_TO, MOUSE_UP after it)")
    return actions
