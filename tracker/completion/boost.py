"""Trajectory boost (PC Agent-E): alternative thought + action samples for a human step, and which to keep.

The model sees the unmarked screenshot and answers in the output format its profile names
(`action_format`): our grammar (``<thought>`` then ``Action: click (x, y)``), UI-TARS, OpenCUA's code,
Qwen's ``computer_use`` call in the text, or the same call as OpenAI ``tool_calls``. Each sample is read by
that format's parser (tracker.format), its points mapped from the model's space to the virtual desktop
(grounding.coordinates, the profile's `output_convention`), and kept only when it is one action of the
grammar with a thought, every point on the screenshot, no placeholder, and the same ending as the human's
step (a sample that finishes where the human did not, or the other way round, is dropped; so is a fail
where the human did not fail). Nothing in an answer is evaluated.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from PIL import Image

from grounding import coordinates
from models.images import fit_to_pixels
from models.text_excerpt import has_unsafe_controls, quoted
from tracker.format import opencua, qwen_computer_use, uitars
from tracker.format.actions import (
    Action,
    ActionError,
    format_action,
    format_action_in_model_space,
    parse_action,
)

__all__ = ["BOOST_FORMATS", "DEFAULT_CONVENTIONS", "BoostConfigError", "BoostFrame", "SampleRejected",
           "boost_convention", "read_sample"]

BOOST_FORMATS = ("pcagent", "uitars", "opencua", "qwen_computer_use", "tool_calls")
# How a format's models write points when the profile's output_convention does not say (as the agent's
# planners assume); Qwen's computer_use has none: Qwen2.5-VL and Qwen3-VL differ.
DEFAULT_CONVENTIONS = {"pcagent": "absolute", "uitars": "uitars_resized", "opencua": "uitars_resized",
                       "tool_calls": "absolute"}
QUOTE = 160


class BoostConfigError(ValueError):
    """A profile whose samples could not be read (no coordinate convention, no function calling)."""


class SampleRejected(ValueError):
    """A sample that is not kept; the message says why."""


def boost_convention(profile: Any, model: Any) -> str:
    """How the profile's model writes points; BoostConfigError when boost cannot work with it."""
    action_format = profile.action_format or "pcagent"
    if action_format not in BOOST_FORMATS:
        raise BoostConfigError(f"profile {profile.name!r}: boost cannot read action_format {action_format!r}")
    convention = profile.output_convention or DEFAULT_CONVENTIONS.get(action_format)
    if convention is None:
        raise BoostConfigError(f"profile {profile.name!r}: boost with {action_format} needs output_convention: "
                               "\"uitars_resized\" for Qwen2.5-VL or \"norm1000\" for Qwen3-VL")
    if action_format == "tool_calls" and "tools" not in inspect.signature(model.generate).parameters:
        raise BoostConfigError(f"profile {profile.name!r}: action_format tool_calls needs a backend that sends "
                               f"a tools schema (backend \"openai\"); use qwen_computer_use instead")
    return convention


@lru_cache(maxsize=64)
def _fitted_size(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    # models.images.fit_to_pixels is the one place that decides the size; ask it on a blank image
    return fit_to_pixels(Image.new("L", size), max_pixels)[0].size


@dataclass(frozen=True)
class BoostFrame(coordinates.ScreenFrame):
    """The screenshot as the model sees it (its coordinate space, where it sits on the desktop), and the
    output format the model answers in."""

    action_format: str

    @classmethod
    def for_screenshot(cls, action_format: str, convention: str, size: tuple[int, int], max_pixels: int,
                       origin: tuple[int, int]) -> BoostFrame:
        return cls(convention, size, _fitted_size(size, max_pixels), origin, action_format)

    def coordinates_sentence(self) -> str:
        return coordinates.describe_convention(self.convention, self.sent_size)

    def tools(self) -> tuple[dict[str, Any], ...] | None:
        if self.action_format != "tool_calls":
            return None
        return (qwen_computer_use.function_schema(self.extent()),)

    def format_values(self) -> dict[str, str]:
        """The placeholders of boost_format.<action_format>.txt."""
        if self.action_format == "qwen_computer_use":
            return {"schema": json.dumps(qwen_computer_use.function_schema(self.extent()), ensure_ascii=False)}
        if self.action_format == "tool_calls":
            return {}
        return {"coordinates": self.coordinates_sentence()}

    def history_action(self, text: str) -> str:
        """A recorded action in the model's own syntax and coordinates (canonical text where it has none)."""
        try:
            action = parse_action(text)
        except ActionError:
            return text
        try:
            return _RENDERERS[self.action_format](action, self) or format_action(action)
        except coordinates.CoordinateError:
            return format_action(action)


def _render_pcagent(action: Action, frame: BoostFrame) -> str | None:
    return format_action_in_model_space(action, frame.to_model, coordinates.written_decimals(frame.convention))


def _render_call(action: Action, frame: BoostFrame) -> str | None:
    call = qwen_computer_use.format_call(action, frame.to_model)
    return json.dumps(call, ensure_ascii=False) if call else None


_RENDERERS: dict[str, Callable[[Action, BoostFrame], str | None]] = {
    "pcagent": _render_pcagent,
    "uitars": lambda action, frame: uitars.format_uitars(action, frame.to_model),
    "opencua": lambda action, frame: opencua.format_code(action, frame.to_model),
    "qwen_computer_use": _render_call,
    "tool_calls": _render_call,
}

# ---- reading a sample -----------------------------------------------------------------------------

_ACTION_LINE = re.compile(r"^[ \t>*_`]*action[ \t*_]*[:：][ \t*_]*", re.IGNORECASE | re.MULTILINE)
_THOUGHT_LABEL = re.compile(r"^\s*(?:<thought>|thought\s*[:：])\s*", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\(\s*[xy]\d?\s*,\s*[xy]\d?\s*\)|\(\s*dx\s*,\s*dy\s*\)|<(?:description|key|k\d|text)>",
                          re.IGNORECASE)
_POINTED = re.compile(r"\s*(?:(?:(?:right|middle|double)\s+)?click\s*\(|drag\s+from\b)", re.IGNORECASE)
_SCROLL_AT = re.compile(r"(\s*scroll\s*\([^)]*\)\s*at\b)(.*)", re.IGNORECASE | re.DOTALL)
_NUMBER_PAIR = re.compile(r"\(\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*\)")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _read_pcagent(text: str, frame: BoostFrame) -> tuple[str, Action]:
    text = _THINK.sub("", text)
    found = list(_ACTION_LINE.finditer(text))
    if len(found) != 1:
        raise SampleRejected(f"{len(found)} 'Action:' lines (one is needed)")
    thought = re.sub(r"</?thought>", "", text[:found[0].start()], flags=re.IGNORECASE)
    thought = _THOUGHT_LABEL.sub("", thought).strip()
    action_text = text[found[0].end():].strip()
    if len(action_text) > 1 and action_text[0] == action_text[-1] and action_text[0] in "`{" or action_text[:1] == "{" and action_text[-1:] == "}":
        action_text = action_text[1:-1].strip()
    if not action_text.lower().startswith("type text") and "\n" in action_text:
        raise SampleRejected(f"text after the action in {quoted(action_text, QUOTE)}")
    if not action_text.lower().startswith("type text") and _PLACEHOLDER.search(action_text):
        raise SampleRejected(f"a placeholder in the action {quoted(action_text, QUOTE)}")

    def to_desktop(match: re.Match[str]) -> str:
        x, y = frame.to_desktop(float(match.group(1)), float(match.group(2)))
        return f"({x}, {y})"

    if _POINTED.match(action_text):
        action_text = _NUMBER_PAIR.sub(to_desktop, action_text)
    elif scroll_at := _SCROLL_AT.match(action_text):
        action_text = scroll_at.group(1) + _NUMBER_PAIR.sub(to_desktop, scroll_at.group(2))
    return thought, parse_action(action_text)


def _read_uitars(text: str, frame: BoostFrame) -> tuple[str, Action]:
    thought, call = uitars.parse_uitars(text)
    return thought, uitars.to_action(call, frame.to_desktop)


def _read_opencua(text: str, frame: BoostFrame) -> tuple[str, Action]:
    answer = opencua.parse_opencua(text)
    return answer.thought, opencua.to_action(answer.calls, frame.to_desktop)


def _read_computer_use(text: str, frame: BoostFrame, tool_calls: tuple[tuple[str, str], ...]) -> tuple[str, Action]:
    answer = qwen_computer_use.parse_answer(text)
    calls = list(tool_calls) or list(answer.calls)
    if len(calls) != 1:
        raise SampleRejected(f"{len(calls)} computer_use calls (one is needed)")
    call = qwen_computer_use.read_call(*calls[0])
    if call.action == "answer":
        raise SampleRejected("an 'answer' call: a demonstration step is an action")
    thought = "\n".join(part for part in (answer.thought, answer.description) if part)
    return thought, qwen_computer_use.to_action(call, frame.to_desktop)


def _same_ending(sample: Action, human: Action) -> str | None:
    if (sample.kind == "finish") != (human.kind == "finish"):
        return "finishes where the human did not" if sample.kind == "finish" else "does not finish where the human did"
    if sample.kind == "fail" and human.kind != "fail":
        return "gives up where the human did not"
    return None


def read_sample(text: str, tool_calls: tuple[tuple[str, str], ...], frame: BoostFrame, human: Action) -> dict[str, str]:
    """{"thought", "action"} of a sample worth keeping; SampleRejected saying why not."""
    try:
        if frame.action_format == "pcagent":
            thought, action = _read_pcagent(text, frame)
        elif frame.action_format == "uitars":
            thought, action = _read_uitars(text, frame)
        elif frame.action_format == "opencua":
            thought, action = _read_opencua(text, frame)
        else:
            thought, action = _read_computer_use(text, frame, tool_calls)
    except coordinates.CoordinateError as error:
        raise SampleRejected(f"a point off the screen: {error}") from None
    except ActionError as error:
        raise SampleRejected(f"not an action: {error}") from None
    if action.is_element_click:
        raise SampleRejected(f"no coordinates in {format_action(action)!r}")
    thought = thought.strip()
    if not thought:
        raise SampleRejected("no thought before the action")
    if has_unsafe_controls(thought):
        raise SampleRejected(f"control characters in the thought {quoted(thought, QUOTE)}")
    why = _same_ending(action, human)
    if why:
        raise SampleRejected(f"{format_action(action)!r} {why}")
    return {"thought": thought, "action": format_action(action)}
