"""OpenCUA answers (``## Thought:`` / ``## Action:`` / ``## Code:``), read as canonical actions.

OpenCUA-7B/32B/72B write the step as one fenced block of pyautogui code (```python or ```code; the last
block counts)::

    ## Thought:
    The search bar is in the middle of the page...
    ## Action:
    Click on the Google search bar to begin typing a search query.
    ## Code:
    ```python
    pyautogui.click(x=745, y=438)
    ```

The code is never run. It is parsed with `ast` and must be one of these calls, with literal arguments
only: ``pyautogui.click / doubleClick / rightClick / middleClick (x, y)``, ``pyautogui.write(message=)``,
``pyautogui.press(keys=[one key])``, ``pyautogui.hotkey(keys=[...])``, ``pyautogui.scroll(n)`` /
``hscroll(n)`` (wheel notches, positive up / right), ``computer.wait()``, ``computer.terminate(status=)``;
or one of the pairs OpenCUA writes for a single step: ``moveTo`` then ``scroll`` (a scroll over that
point), ``moveTo`` then ``dragTo`` (a drag) and ``write`` then ``press(enter)`` (typing that ends with
Enter). Anything else (``os.system(...)``, an import, a name, an expression as an argument, a third call)
raises ActionError. ``computer.triple_click`` and ``pyautogui.tripleClick`` have no canonical action.
Coordinates stay in the model's space until the caller's `map_point` maps them (grounding.coordinates).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from models.text_excerpt import shorten
from tracker.format.action_convert import key_from_pyautogui, pyautogui_key
from tracker.format.actions import (CLICK_KINDS, FAIL, FINISH, WAIT, Action, ActionError, double_click, drag, hotkey,
                                    middle_click, right_click, scroll, type_text)
from tracker.format.actions import click as click_at

__all__ = ["CodeCall", "OpenCUAAnswer", "ALLOWED_CALLS", "parse_opencua", "parse_code", "to_action", "format_code"]

# call -> the keyword names its arguments may have, in positional order (pyautogui's own signatures)
ALLOWED_CALLS: dict[str, tuple[str, ...]] = {
    "pyautogui.click": ("x", "y", "clicks", "interval", "button", "duration"),
    "pyautogui.doubleClick": ("x", "y", "interval", "button", "duration"),
    "pyautogui.rightClick": ("x", "y", "interval", "duration"),
    "pyautogui.middleClick": ("x", "y", "interval", "duration"),
    "pyautogui.moveTo": ("x", "y", "duration"),
    "pyautogui.dragTo": ("x", "y", "duration", "button"),
    "pyautogui.scroll": ("clicks", "x", "y"),
    "pyautogui.hscroll": ("clicks", "x", "y"),
    "pyautogui.write": ("message", "interval"),
    "pyautogui.typewrite": ("message", "interval"),
    "pyautogui.press": ("keys", "presses", "interval"),
    "pyautogui.hotkey": ("keys",),  # also hotkey('ctrl', 'c'): every positional argument is a key
    "computer.wait": ("seconds",),
    "computer.terminate": ("status", "answer"),
}
_REFUSED = {"computer.triple_click", "pyautogui.tripleClick"}
_CLICKS = {"pyautogui.doubleClick": double_click, "pyautogui.rightClick": right_click,
           "pyautogui.middleClick": middle_click}
_BUTTONS = {"left": click_at, "right": right_click, "middle": middle_click}
MAX_CODE_CHARS = 2000  # one step's code is a line or two; anything longer is not an answer to read

Point = tuple[float, float]
MapPoint = Callable[[float, float], tuple[int, int]]


@dataclass(frozen=True)
class CodeCall:
    """One allowed call with its literal arguments, all given by keyword name."""

    name: str  # one of ALLOWED_CALLS
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenCUAAnswer:
    thought: str
    description: str  # the "## Action:" text
    calls: tuple[CodeCall, ...]


# ---- reading the answer ---------------------------------------------------------------------------

_SECTION = re.compile(r"^[ \t]*#{1,3}[ \t]*(Observation|Thought|Action|Code)[ \t]*:?[ \t]*$",
                      re.MULTILINE | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:python|py|code)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_STEP_HEADER = re.compile(r"^[ \t]*#[ \t]*Step[ \t]*\d+[ \t]*:?[ \t]*$", re.MULTILINE | re.IGNORECASE)


def parse_opencua(text: str) -> OpenCUAAnswer:
    """The thought, the action description and the checked calls of an answer."""
    if not isinstance(text, str) or not text.strip():
        raise ActionError("empty answer: expected '## Thought:', '## Action:' and '## Code:' with one code block")
    sections: dict[str, str] = {}
    marks = list(_SECTION.finditer(text))
    for mark, following in zip(marks, marks[1:] + [None]):
        end = following.start() if following else len(text)
        sections.setdefault(mark.group(1).lower(), text[mark.end():end].strip())
    fences = _FENCE.findall(text)
    if fences:
        code = fences[-1]
    elif "code" in sections:
        code = sections["code"]
    else:
        raise ActionError("no code in the answer: end it with '## Code:' and one ```python block holding "
                          "the pyautogui call")
    thought = sections.get("thought", "")
    if not marks:  # a bare answer: whatever precedes the code block
        thought = _STEP_HEADER.sub("", text[:text.find("```")] if fences else "").strip()
    return OpenCUAAnswer(thought, sections.get("action", ""), parse_code(code))


def parse_code(code: str) -> tuple[CodeCall, ...]:
    """The allowed calls of a code block, checked; nothing is evaluated but literals."""
    if len(code) > MAX_CODE_CHARS:
        raise ActionError(f"the code block is {len(code)} characters long: give one action, a line or two")
    try:
        tree = ast.parse(code.strip(), mode="exec")
    except SyntaxError as error:
        raise ActionError(f"the code is not valid Python ({error.msg}): {shorten(code.strip(), 120)!r}") from None
    if not tree.body:
        raise ActionError("the code block is empty: give one pyautogui call")
    return tuple(_call(statement) for statement in tree.body)


def _call(statement: ast.stmt) -> CodeCall:
    shown = shorten(ast.unparse(statement), 120)
    node = statement.value if isinstance(statement, ast.Expr) else None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute) \
            or not isinstance(node.func.value, ast.Name):
        raise ActionError(f"{shown!r} is not an allowed call; use pyautogui.click(x=..., y=...) and the like")
    name = f"{node.func.value.id}.{node.func.attr}"
    if name in _REFUSED:
        raise ActionError(f"{name} is not available: to select a line, click in it and press home, then "
                          "shift+end; to select a word, double-click it")
    if name not in ALLOWED_CALLS:
        raise ActionError(f"{name} is not an allowed call; allowed: {', '.join(ALLOWED_CALLS)}")
    names = ALLOWED_CALLS[name]
    try:
        positional = [ast.literal_eval(arg) for arg in node.args]
        keywords = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ActionError(f"{shown!r}: arguments must be plain values (numbers, text, lists)") from None
    if None in keywords:
        raise ActionError(f"{shown!r}: arguments must be written out, not unpacked with **")
    if name == "pyautogui.hotkey" and positional:  # hotkey('ctrl', 'c')
        positional = [positional] if "keys" not in keywords else positional
    if len(positional) > len(names):
        raise ActionError(f"{shown!r}: too many arguments")
    arguments = dict(zip(names, positional))
    for key, value in keywords.items():
        if key not in names:
            raise ActionError(f"{name} does not take {key!r} (in {shown!r})")
        if key in arguments:
            raise ActionError(f"{name} got {key!r} twice (in {shown!r})")
        arguments[key] = value
    return CodeCall(name, arguments)


# ---- to and from canonical actions ----------------------------------------------------------------


def to_action(calls: tuple[CodeCall, ...], map_point: MapPoint) -> Action:
    """The canonical action of one step's calls; `map_point` turns model-space points into screen pixels."""
    names = [call.name for call in calls]
    if len(calls) == 2 and names[0] == "pyautogui.moveTo" and names[1] in ("pyautogui.scroll", "pyautogui.hscroll"):
        if "x" in calls[1].arguments or "y" in calls[1].arguments:
            raise ActionError("give the scroll's point once: either moveTo before it or x and y in it")
        return _scroll(calls[1], map_point(*_xy(calls[0])))
    if len(calls) == 2 and names == ["pyautogui.moveTo", "pyautogui.dragTo"]:
        if str(calls[1].arguments.get("button", "left")).lower() != "left":
            raise ActionError("dragTo drags with the left button only")
        return drag(*map_point(*_xy(calls[0])), *map_point(*_xy(calls[1])))
    if len(calls) == 2 and names[0] in ("pyautogui.write", "pyautogui.typewrite") and names[1] == "pyautogui.press":
        if _press_key(calls[1]) != "enter":
            raise ActionError("after write, only press(keys=['enter']) belongs to the same step")
        return type_text(_text(calls[0]) + "\n")
    if len(calls) != 1:
        raise ActionError(f"{len(calls)} calls in one step ({', '.join(names)}): give one action per answer")
    return _single(calls[0], map_point)


def _single(call: CodeCall, map_point: MapPoint) -> Action:
    name, arguments = call.name, call.arguments
    if name == "pyautogui.click":
        clicks = arguments.get("clicks", 1)
        button = str(arguments.get("button", "left")).lower()
        if button not in _BUTTONS:
            raise ActionError(f"click button must be left, right or middle, not {button!r}")
        point = map_point(*_xy(call))
        if clicks == 1:
            return _BUTTONS[button](*point)
        if clicks == 2 and button == "left":
            return double_click(*point)
        raise ActionError(f"click with clicks={clicks!r} and button={button!r} is not available")
    if name in _CLICKS:
        return _CLICKS[name](*map_point(*_xy(call)))
    if name in ("pyautogui.scroll", "pyautogui.hscroll"):
        at = map_point(*_xy(call)) if "x" in arguments or "y" in arguments else None
        return _scroll(call, at)
    if name in ("pyautogui.write", "pyautogui.typewrite"):
        return type_text(_text(call))
    if name == "pyautogui.press":
        return hotkey(_press_key(call))
    if name == "pyautogui.hotkey":
        keys = arguments.get("keys")
        if isinstance(keys, str):
            keys = [keys]
        if not isinstance(keys, (list, tuple)) or not keys or not all(isinstance(k, str) for k in keys):
            raise ActionError("hotkey needs keys=['ctrl', 'c'] (key names)")
        return hotkey(*(key_from_pyautogui(k) for k in keys))
    if name == "computer.wait":
        return WAIT
    if name == "computer.terminate":
        status = arguments.get("status")
        if status not in ("success", "failure"):
            raise ActionError(f"terminate needs status='success' or 'failure', not {status!r}")
        return FINISH if status == "success" else FAIL
    raise ActionError(f"{name} is not an action by itself (moveTo goes before scroll or dragTo)")


def _xy(call: CodeCall) -> Point:
    x, y = call.arguments.get("x"), call.arguments.get("y")
    for value in (x, y):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ActionError(f"{call.name} needs numbers x and y, not x={x!r}, y={y!r}")
    return float(x), float(y)  # type: ignore[arg-type]


def _scroll(call: CodeCall, at: tuple[int, int] | None) -> Action:
    clicks = call.arguments.get("clicks")
    if isinstance(clicks, bool) or not isinstance(clicks, int) or clicks == 0:
        raise ActionError(f"{call.name} needs a whole number of wheel notches other than 0, not {clicks!r}")
    return scroll(0, clicks, at) if call.name == "pyautogui.scroll" else scroll(clicks, 0, at)


def _text(call: CodeCall) -> str:
    message = call.arguments.get("message")
    if not isinstance(message, str) or not message:
        raise ActionError(f"{call.name} needs message='...' with the text to type")
    return message


def _press_key(call: CodeCall) -> str:
    keys, presses = call.arguments.get("keys"), call.arguments.get("presses", 1)
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, (list, tuple)) or len(keys) != 1 or not isinstance(keys[0], str):
        raise ActionError(f"press takes one key, keys=['enter'], not {keys!r} (keys held together: hotkey)")
    if presses != 1:
        raise ActionError(f"press with presses={presses!r}: press a key once per step")
    return key_from_pyautogui(keys[0])


def format_code(action: Action, to_model: Callable[[int, int], Point] | None = None) -> str | None:
    """An action as OpenCUA's code (history shown to the model), screen pixels mapped by `to_model`; None
    for what the calls cannot say (call_user, element clicks)."""
    def xy(at: tuple[int, int]) -> str:
        x, y = to_model(*at) if to_model else at
        return f"x={x:g}, y={y:g}" if not float(x).is_integer() or not float(y).is_integer() \
            else f"x={int(x)}, y={int(y)}"

    kind = action.kind
    if kind in CLICK_KINDS and action.point is not None:
        name = {"click": "click", "double_click": "doubleClick", "right_click": "rightClick",
                "middle_click": "middleClick"}[kind]
        return f"pyautogui.{name}({xy(action.point)})"
    if kind == "drag":
        start, end = xy(action.point), xy(action.end)  # type: ignore[arg-type]
        return f"pyautogui.moveTo({start})\npyautogui.dragTo({end}, button='left')"
    if kind == "scroll":
        dx, dy = action.delta  # type: ignore[misc]
        move = f"pyautogui.moveTo({xy(action.point)})\n" if action.point is not None else ""
        return move + (f"pyautogui.scroll({dy})" if dy else f"pyautogui.hscroll({dx})")
    if kind == "press_key":
        return f"pyautogui.press(keys=[{pyautogui_key(action.keys[0])!r}])"
    if kind == "hotkey":
        return f"pyautogui.hotkey(keys={[pyautogui_key(k) for k in action.keys]!r})"
    if kind == "type_text":
        return f"pyautogui.write(message={action.text!r})"
    if kind == "wait":
        return "computer.wait()"
    if kind in ("finish", "fail"):
        return f"computer.terminate(status={'success' if kind == 'finish' else 'failure'!r})"
    return None
