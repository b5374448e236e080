"""Qwen's ``computer_use`` function calls (Qwen2.5-VL, Qwen3-VL, Jedi), to and from canonical actions.

The model answers with a thought (Qwen3-VL writes an ``Action: <sentence>`` line), then one call::

    <tool_call>
    {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [x, y]}}
    </tool_call>

or, on a server with function calling, the same call as an OpenAI ``tool_calls`` entry. The actions:
``left_click``, ``right_click``, ``middle_click``, ``double_click`` (``coordinate``), ``left_click_drag``
(``start_coordinate`` to ``coordinate``), ``scroll`` / ``hscroll`` (``pixels``, positive is up / right;
over ``coordinate`` when given), ``key`` (``keys``), ``type`` (``text``), ``wait`` (``time``),
``terminate`` (``status`` success or failure) and ``answer`` (``text``). ``mouse_move`` and
``triple_click`` have no canonical action and are refused with a message saying what to do instead.

Arguments are read as JSON data and checked: an unknown action or argument, a missing or malformed
coordinate is an ActionError, never a guess. Coordinates stay in the model's space (floats) until the
caller's `map_point` turns them into screen pixels (grounding.coordinates), as for tracker.format.uitars.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.text_excerpt import shorten
from tracker.format.action_convert import key_from_pyautogui, pyautogui_key
from tracker.format.actions import (CLICK_KINDS, FAIL, FINISH, WAIT, Action, ActionError, double_click, drag, hotkey,
                                    middle_click, right_click, scroll, type_text)
from tracker.format.actions import click as click_at

__all__ = ["FUNCTION_NAME", "COMPUTER_USE_ACTIONS", "ComputerUseCall", "QwenAnswer", "parse_answer", "read_call",
           "to_action", "format_call", "function_schema"]

FUNCTION_NAME = "computer_use"
# action -> (required arguments, optional arguments)
COMPUTER_USE_ACTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "left_click": (frozenset({"coordinate"}), frozenset()),
    "right_click": (frozenset({"coordinate"}), frozenset()),
    "middle_click": (frozenset({"coordinate"}), frozenset()),
    "double_click": (frozenset({"coordinate"}), frozenset()),
    "left_click_drag": (frozenset({"start_coordinate", "coordinate"}), frozenset()),
    "scroll": (frozenset({"pixels"}), frozenset({"coordinate"})),
    "hscroll": (frozenset({"pixels"}), frozenset({"coordinate"})),
    "key": (frozenset({"keys"}), frozenset()),
    "type": (frozenset({"text"}), frozenset()),
    "wait": (frozenset(), frozenset({"time"})),
    "terminate": (frozenset({"status"}), frozenset()),
    "answer": (frozenset({"text"}), frozenset()),
}
# Actions of Qwen's own schema that have no canonical action: what to do instead.
_REFUSED = {
    "mouse_move": "moving the pointer alone is not an action here: click the element, or give scroll a "
                  "coordinate to scroll over it",
    "triple_click": "triple_click is not available: to select a line, click in it and press key home, then "
                    "key shift+end; to select a word, double_click it",
}
_CLICKS = {"left_click": click_at, "right_click": right_click, "middle_click": middle_click,
           "double_click": double_click}
_STATUSES = {"success": FINISH, "failure": FAIL}
PIXELS_PER_NOTCH = 100  # a wheel notch scrolls GTK and Qt views by roughly this much

Point = tuple[float, float]
MapPoint = Callable[[float, float], tuple[int, int]]


@dataclass(frozen=True)
class ComputerUseCall:
    """One checked ``computer_use`` call; points are in the model's coordinate space."""

    action: str  # one of COMPUTER_USE_ACTIONS
    coordinate: Point | None = None
    start: Point | None = None  # left_click_drag's start_coordinate
    keys: tuple[str, ...] = ()  # canonical key names
    text: str | None = None  # type's text, answer's answer
    pixels: float | None = None
    status: str | None = None


@dataclass(frozen=True)
class QwenAnswer:
    """A text answer split up: the thought, the ``Action:`` sentence and the tool calls' (name, arguments)."""

    thought: str
    description: str
    calls: tuple[tuple[str, Any], ...]


# ---- reading the answer ---------------------------------------------------------------------------

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_ACTION_SENTENCE = re.compile(r"^[ \t>*_]*Action[ \t*_]*[:：][ \t]*(.*)$", re.MULTILINE | re.IGNORECASE)
_THOUGHT_MARK = re.compile(r"^[ \t]*Thought[ \t]*[:：][ \t]*", re.MULTILINE | re.IGNORECASE)


def parse_answer(text: str) -> QwenAnswer:
    """The thought, ``Action:`` sentence and ``<tool_call>`` blocks of a text answer (calls not yet checked)."""
    if not isinstance(text, str):
        raise ActionError("the answer is not text")
    thinking = " ".join(block.strip() for block in _THINK.findall(text))
    rest = _THINK.sub("", text)
    if "</think>" in rest:  # thinking models' templates open <think> in the prompt: only its end is answered
        opened, rest = rest.split("</think>", 1)
        thinking = " ".join(part for part in (thinking, opened.strip()) if part)
    blocks = _TOOL_CALL.findall(rest)
    outside = _TOOL_CALL.sub("", rest)
    sentences = [m.group(1).strip() for m in _ACTION_SENTENCE.finditer(outside)]
    description = sentences[0].strip('"') if sentences else ""
    thought = _ACTION_SENTENCE.sub("", outside)
    mark = _THOUGHT_MARK.search(thought)
    thought = (thought[mark.end():] if mark else thought).strip() or thinking
    calls = []
    for block in blocks:
        call = _decode(block.strip(), "the <tool_call> block")
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ActionError(f"a <tool_call> must hold {{\"name\": ..., \"arguments\": {{...}}}}, not "
                              f"{shorten(block.strip(), 120)!r}")
        calls.append((call["name"], call.get("arguments", {})))
    return QwenAnswer(thought, description, tuple(calls))


def _decode(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ActionError(f"{what} is not valid JSON ({error.msg}): {shorten(text, 120)!r}") from None


def read_call(name: str, arguments: Any) -> ComputerUseCall:
    """Check one call (arguments as a dict or JSON text) against the computer_use actions."""
    if name != FUNCTION_NAME:
        raise ActionError(f"unknown function {name!r}: call {FUNCTION_NAME}")
    if isinstance(arguments, str):
        arguments = _decode(arguments, f"the {FUNCTION_NAME} arguments") if arguments.strip() else {}
    if not isinstance(arguments, dict):
        raise ActionError(f"{FUNCTION_NAME} arguments must be an object, not {shorten(repr(arguments), 80)}")
    action = arguments.get("action")
    if action in _REFUSED:
        raise ActionError(_REFUSED[action])
    if action not in COMPUTER_USE_ACTIONS:
        raise ActionError(f"unknown {FUNCTION_NAME} action {action!r}; one of {', '.join(COMPUTER_USE_ACTIONS)}")
    required, optional = COMPUTER_USE_ACTIONS[action]
    given = set(arguments) - {"action"}
    if given - required - optional:
        raise ActionError(f"{action} does not take {', '.join(sorted(given - required - optional))}")
    if required - given:
        raise ActionError(f"{action} needs {', '.join(sorted(required - given))}")
    fields: dict[str, Any] = {"action": action}
    for key, value in arguments.items():
        if key in ("coordinate", "start_coordinate"):
            fields["coordinate" if key == "coordinate" else "start"] = _point(value, key, action)
        elif key == "keys":
            fields["keys"] = _keys(value)
        elif key == "text":
            if not isinstance(value, str) or not value:
                raise ActionError(f"{action} needs non-empty text")
            fields["text"] = value
        elif key == "pixels":
            fields["pixels"] = _number(value, "pixels", action)
            if fields["pixels"] == 0:
                raise ActionError(f"{action} by 0 pixels does nothing: give pixels (positive up, negative down)")
        elif key == "time":
            if _number(value, "time", action) < 0:
                raise ActionError("wait needs a time of 0 seconds or more")
        elif key == "status":
            if value not in _STATUSES:
                raise ActionError(f"terminate status must be one of {', '.join(_STATUSES)}, not {value!r}")
            fields["status"] = value
    return ComputerUseCall(**fields)


def _number(value: Any, what: str, action: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ActionError(f"{action} {what} must be a number, not {value!r}")
    return float(value)


def _point(value: Any, what: str, action: str) -> Point:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ActionError(f"{action} {what} must be [x, y], not {shorten(repr(value), 60)}")
    return _number(value[0], what, action), _number(value[1], what, action)


def _keys(value: Any) -> tuple[str, ...]:
    names = value.replace("+", " ").split() if isinstance(value, str) else value  # "ctrl+c" as well as a list
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(k, str) for k in names):
        raise ActionError(f"key needs keys: a list of key names, e.g. [\"ctrl\", \"c\"], not {value!r}")
    return tuple(key_from_pyautogui(name) for name in names)


# ---- to and from canonical actions ----------------------------------------------------------------


def to_action(call: ComputerUseCall, map_point: MapPoint, *, pixels_per_notch: float = PIXELS_PER_NOTCH) -> Action:
    """The canonical action; `map_point` turns a model-space point into screen pixels (it may raise)."""
    action = call.action
    if action in _CLICKS:
        return _CLICKS[action](*map_point(*call.coordinate))  # type: ignore[misc]
    if action == "left_click_drag":
        return drag(*map_point(*call.start), *map_point(*call.coordinate))  # type: ignore[misc]
    if action in ("scroll", "hscroll"):
        pixels = call.pixels or 0.0
        notches = math.copysign(max(1, round(abs(pixels) / pixels_per_notch)), pixels)
        at = map_point(*call.coordinate) if call.coordinate is not None else None
        return scroll(0, int(notches), at) if action == "scroll" else scroll(int(notches), 0, at)
    if action == "key":
        return hotkey(*call.keys)
    if action == "type":
        return type_text(call.text or "")
    if action == "wait":
        return WAIT
    if action == "terminate":
        return _STATUSES[call.status or ""]
    if action == "answer":
        return FINISH  # the answer itself is the caller's to keep (call.text)
    raise ActionError(f"unknown {FUNCTION_NAME} action {action!r}")


def format_call(action: Action, to_model: Callable[[int, int], Point] | None = None, *,
                pixels_per_notch: float = PIXELS_PER_NOTCH) -> dict[str, Any] | None:
    """``{"name": "computer_use", "arguments": {...}}`` for an action (history shown to the model), with
    screen pixels mapped by `to_model`; None for what computer_use cannot say (call_user, element clicks)."""
    def point(at: tuple[int, int]) -> list[int]:
        x, y = to_model(*at) if to_model else at
        return [round(x), round(y)]

    kind, arguments = action.kind, None
    if kind in CLICK_KINDS and action.point is not None:
        name = {"click": "left_click", "right_click": "right_click", "middle_click": "middle_click",
                "double_click": "double_click"}[kind]
        arguments = {"action": name, "coordinate": point(action.point)}
    elif kind == "drag":
        arguments = {"action": "left_click_drag", "start_coordinate": point(action.point),  # type: ignore[arg-type]
                     "coordinate": point(action.end)}  # type: ignore[arg-type]
    elif kind == "scroll":
        dx, dy = action.delta  # type: ignore[misc]
        arguments = {"action": "scroll" if dy else "hscroll", "pixels": (dy or dx) * pixels_per_notch}
        if action.point is not None:
            arguments["coordinate"] = point(action.point)
    elif kind in ("press_key", "hotkey"):
        arguments = {"action": "key", "keys": [pyautogui_key(k) for k in action.keys]}
    elif kind == "type_text":
        arguments = {"action": "type", "text": action.text}
    elif kind == "wait":
        arguments = {"action": "wait", "time": 1}
    elif kind in ("finish", "fail"):
        arguments = {"action": "terminate", "status": "success" if kind == "finish" else "failure"}
    return None if arguments is None else {"name": FUNCTION_NAME, "arguments": arguments}


# ---- the function's schema (our own words) --------------------------------------------------------


def function_schema(extent: tuple[float, float], *, pixels_per_notch: float = PIXELS_PER_NOTCH) -> dict[str, Any]:
    """The computer_use function as an OpenAI tool; `extent` is what x and y reach at the far edges."""
    width, height = (f"{v:g}" for v in extent)
    description = (
        "Use the mouse and keyboard of a desktop computer. You see the screen as a screenshot.\n"
        f"* Coordinates: x runs from 0 (left edge) to {width} (right edge), y from 0 (top) to {height} "
        "(bottom), across the whole screenshot.\n"
        "* Aim at the centre of the element you mean, as it appears on the latest screenshot.\n"
        "* Programs take time to react: wait, then look at the next screenshot.")
    actions = (
        "The action to perform:\n"
        "* `left_click`, `right_click`, `middle_click`, `double_click`: click that button at `coordinate`.\n"
        "* `left_click_drag`: press the left button at `start_coordinate`, move to `coordinate`, release.\n"
        "* `scroll`: turn the wheel by `pixels` (positive scrolls up, negative down), over `coordinate` when "
        f"given; a wheel notch is about {pixels_per_notch:g} pixels.\n"
        "* `hscroll`: scroll sideways by `pixels` (positive right, negative left).\n"
        "* `key`: press the `keys` together and release them, e.g. [\"ctrl\", \"s\"] or [\"enter\"].\n"
        "* `type`: type `text` into the focused field; end it with \\n to press Enter.\n"
        "* `wait`: wait `time` seconds for the screen to change.\n"
        "* `terminate`: end the task with `status` success or failure.\n"
        "* `answer`: end the task by giving `text` as the answer the user asked for.")
    parameters = {
        "type": "object",
        "properties": {
            "action": {"description": actions, "enum": list(COMPUTER_USE_ACTIONS), "type": "string"},
            "coordinate": {"description": "[x, y] of the point to act on.", "type": "array",
                           "items": {"type": "number"}},
            "start_coordinate": {"description": "[x, y] where `left_click_drag` starts.", "type": "array",
                                 "items": {"type": "number"}},
            "keys": {"description": "Key names for `key`.", "type": "array", "items": {"type": "string"}},
            "text": {"description": "The text for `type` and `answer`.", "type": "string"},
            "pixels": {"description": "How far `scroll` and `hscroll` go.", "type": "number"},
            "time": {"description": "Seconds to `wait`.", "type": "number"},
            "status": {"description": "How `terminate` ends the task.", "type": "string",
                       "enum": list(_STATUSES)},
        },
        "required": ["action"],
    }
    return {"type": "function", "function": {"name": FUNCTION_NAME, "description": description,
                                             "parameters": parameters}}
