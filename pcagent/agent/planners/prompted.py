"""The prompted planner in PC Agent's style (the Planner protocol): a system message with the role and the
action space, a user message with the task, recent history, feedback and the screenshot; the model answers
with its thought and one line ``Action: <action>`` in the canonical grammar (tracker.format.actions).
``kind="planner+grounder"`` names click targets by description (a grounder finds them);
``kind="end-to-end"`` gives coordinates on the screenshot it was shown.

Output that does not parse, names several actions, holds placeholders or points off the screen raises
PlanningError with `feedback` for the retry; no action is ever made up. Model errors (models.errors)
propagate unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image

from grounding import coordinates
from grounding.coordinates import ScreenFrame
from models.base import Message, VisionLanguageModel
from models.text_excerpt import quoted
from pcagent.agent.planners.model_io import (QUOTE_LIMIT, ask_model, history_lines, model_space_renderer,
                                             off_screen_feedback, token_usage)
from pcagent.agent.types import PlanContext, PlannerOutput, PlanningError
from tracker.format.actions import CLICK_KINDS, Action, ActionError, format_action_in_model_space, parse_action

__all__ = ["PromptPlanner", "PROMPT_PLANNER_KINDS", "split_reply"]

PROMPT_PLANNER_KINDS = ("planner+grounder", "end-to-end")

# ---- prompts (our own words) ----------------------------------------------------------------------

_ROLE = """You operate a computer for a user, one GUI action at a time. Each turn you get the task, the \
steps taken so far and a screenshot of the screen as it is now. Look at the screenshot, think briefly in \
the first person about where things stand and what the next step should be, then give that one step.

Answer in exactly this form:
<your thinking, a few sentences>
Action: <one action from the list below>"""

_ELEMENT_CLICKS = """click element: <description>        left-click the element you describe
right click element: <description>  right-click it
double click element: <description> double-click it"""

_POINT_CLICKS = """click (x, y)            left-click at the point
right click (x, y)      right-click at the point
double click (x, y)     double-click at the point"""

_COMMON_ACTIONS = """drag from (x1, y1) to (x2, y2)   press at the first point and release at the second
scroll (dx, dy)         turn the wheel by notches: dy > 0 up, dy < 0 down, dx > 0 right, dx < 0 left
scroll (dx, dy) at (x, y)   the same with the pointer over that point of the screenshot
press key: <key>        one key, e.g. enter, esc, tab, backspace, page_down, f5
hotkey (<k1>, <k2>)     keys held together, e.g. hotkey (ctrl, s)
type text: <text>       type into the focused field
wait                    wait for the screen to settle
finish                  the task is done
fail                    the task cannot be done
call user: <question>   ask the user for something only they can provide or decide"""

_DESCRIBE = """Describe an element so that it can be found without guessing: its visible text or icon, \
its kind (button, menu item, text field, tab, link, checkbox) and, when similar ones exist, where it is \
(e.g. "the 'Save' button at the bottom right of the dialog")."""


_RULES = """Rules: exactly one action per answer and nothing after the Action line; use real values, \
never placeholders such as (x, y) or <description>; do not repeat an action the user rejected."""


# ---- PC Agent-style planner -----------------------------------------------------------------------

_ACTION_LINE = re.compile(r"^[ \t>*_`]*action[ \t*_]*:[ \t*_]*", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$", re.MULTILINE)
_THOUGHT_TAGS = re.compile(r"</?thought>", re.IGNORECASE)
_THOUGHT_PREFIX = re.compile(r"^\s*thought\s*:\s*", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\(\s*[xy]\d?\s*,\s*[xy]\d?\s*\)|\(\s*dx\s*,\s*dy\s*\)|"
                          r"<(?:description|key|k\d|text|question|action)>", re.IGNORECASE)
_COORDINATE_VERB = re.compile(r"\s*(?:(?:(?:right|middle|double)\s+)?click\s*\(|drag\s+from\b)", re.IGNORECASE)
_SCROLL_AT = re.compile(r"(\s*scroll\s*\([^)]*\)\s*at\b)(.*)", re.IGNORECASE | re.DOTALL)  # map only the point
_NUMBER_PAIR = re.compile(r"\(\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*\)")


def split_reply(text: str) -> tuple[str, str]:
    """(thought, action text) of a reply; PlanningError when there is not exactly one Action line."""
    if not text or not text.strip():
        raise PlanningError("the model gave an empty answer", text,
                            "Your answer was empty. Think about the next step, then end with one line "
                            "'Action: <action>'.")
    cleaned = _FENCE.sub("", text)
    found = list(_ACTION_LINE.finditer(cleaned))
    if not found:
        raise PlanningError(f"no 'Action:' line in the answer {quoted(text, QUOTE_LIMIT)}", text,
                            "Your answer had no 'Action:' line. End your answer with exactly one line "
                            "'Action: <action>' using an action from the list.")
    if len(found) > 1:
        raise PlanningError(f"{len(found)} 'Action:' lines in the answer {quoted(text, QUOTE_LIMIT)}", text,
                            f"Your answer gave {len(found)} actions. Give exactly one 'Action:' line.")
    thought = _THOUGHT_TAGS.sub("", cleaned[:found[0].start()])
    thought = _THOUGHT_PREFIX.sub("", thought).strip()
    action_text = _THOUGHT_TAGS.sub("", cleaned[found[0].end():]).strip()
    if len(action_text) > 1 and action_text[0] == action_text[-1] == "`":  # `click (1, 2)`
        action_text = action_text.strip("`").strip()
    # PC Agent-E's answer format reads "{Your thought process}\n\nAction: {The specific action ...}", and
    # answers keep the braces (its own parser strips them)
    if len(action_text) > 1 and action_text[0] == "{" and action_text[-1] == "}":
        action_text = action_text[1:-1].strip()
    if len(thought) > 1 and thought[0] == "{" and thought[-1] == "}":
        thought = thought[1:-1].strip()
    return thought, action_text


class PromptPlanner:
    """A planner in PC Agent's style; `convention` is how end-to-end coordinates are written."""

    def __init__(self, model: VisionLanguageModel, *, kind: str = "planner+grounder", history_steps: int = 10,
                 image_max_pixels: int | None = None, convention: str = "absolute", name: str | None = None,
                 max_tokens: int | None = None, temperature: float | None = None) -> None:
        if kind not in PROMPT_PLANNER_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PROMPT_PLANNER_KINDS)}, not {kind!r}")
        if convention not in coordinates.CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; one of {', '.join(coordinates.CONVENTIONS)}")
        self.model, self.kind, self.history_steps = model, kind, history_steps
        self.image_max_pixels, self.convention = image_max_pixels, convention
        self.name = name or getattr(model, "name", "model")
        self.max_tokens, self.temperature = max_tokens, temperature

    # -- the conversation --

    def system_prompt(self, sent_size: tuple[int, int]) -> str:
        clicks = _ELEMENT_CLICKS if self.kind == "planner+grounder" else _POINT_CLICKS
        space = coordinates.describe_convention(self.convention, sent_size)
        parts = [_ROLE, "Actions:\n" + clicks + "\n" + _COMMON_ACTIONS, f"Coordinates: {space}."]
        if self.kind == "planner+grounder":
            parts.append(_DESCRIBE)
        parts.append(_RULES)
        return "\n\n".join(parts)

    def messages(self, context: PlanContext, sent: Image.Image, frame: ScreenFrame) -> list[Message]:
        lines = [f"Task: {context.task.strip()}", ""]
        # history coordinates are desktop pixels: shown in the model's own space, so they match what it sees
        decimals = coordinates.written_decimals(self.convention)
        history = history_lines(context.history, self.history_steps, model_space_renderer(
            frame, lambda action, to_model: format_action_in_model_space(action, to_model, decimals)))
        lines += ["Steps so far:", *history] if history else ["Steps so far: none, this is the first step."]
        if context.feedback:
            lines += ["", "Since then:", *(f"- {line}" for line in context.feedback)]
        lines += ["", f"The current screen ({sent.width} x {sent.height} pixels):"]
        closing = "Think about the next step, then end with one line 'Action: <action>'."
        return [Message.of("system", self.system_prompt(sent.size)),
                Message.of("user", "\n".join(lines), sent, closing)]

    # -- one step --

    def plan(self, context: PlanContext) -> PlannerOutput:
        screenshot = context.screenshot
        sent, frame, response = ask_model(self, context)
        details: dict[str, Any] = {"kind": self.kind, "convention": self.convention, "sent_size": list(sent.size),
                                   "screen_size": list(screenshot.size), "finish_reason": response.finish_reason}
        try:
            thought, action = self._parse(response.text, frame, details)
        except PlanningError as error:
            if response.finish_reason == "length":
                error.feedback += " Your answer was cut off: keep the thinking shorter."
            raise
        return PlannerOutput(thought=thought, action=action, raw=response.text, model_latency_s=response.latency_s,
                             usage=token_usage(response), details=details)

    def _parse(self, text: str, frame: ScreenFrame, details: dict[str, Any]) -> tuple[str, Action]:
        thought, action_text = split_reply(text)
        is_typing = action_text.lower().startswith("type text")
        if not is_typing and "\n" in action_text:
            first, extra = action_text.split("\n", 1)
            several = any(_parses(line) for line in extra.splitlines() if line.strip())
            raise PlanningError(
                f"{'several actions' if several else 'text after the action'} in {quoted(action_text, QUOTE_LIMIT)}", text,
                "Give exactly one action on the 'Action:' line and write nothing after it." if several else
                f"Write nothing after the action line (after {quoted(first, QUOTE_LIMIT)}).")
        if not action_text:
            raise PlanningError("the 'Action:' line is empty", text,
                                "Your 'Action:' line was empty: write one action from the list after it.")
        placeholder = None if is_typing else _PLACEHOLDER.search(action_text)
        if placeholder:
            raise PlanningError(f"placeholder {placeholder.group()!r} in the action {quoted(action_text, QUOTE_LIMIT)}", text,
                                f"Your action {quoted(action_text, QUOTE_LIMIT)} contains the placeholder "
                                f"{placeholder.group()!r}; write real values instead.")
        if _COORDINATE_VERB.match(action_text):
            action_text = self._map_coordinates(action_text, frame, details, text)
        elif scroll_at := _SCROLL_AT.match(action_text):
            action_text = scroll_at.group(1) + self._map_coordinates(scroll_at.group(2), frame, details, text)
        try:
            action = parse_action(action_text)
        except ActionError as error:
            raise PlanningError(f"invalid action: {error}", text,
                                f"{quoted(action_text, QUOTE_LIMIT)} is not a valid action ({error}). "
                                f"Write exactly one action from the list.") from None
        self._check_kind(action, text)
        return thought, action

    def _map_coordinates(self, action_text: str, frame: ScreenFrame, details: dict[str, Any], raw: str) -> str:
        """Replace each model-space (x, y) with screen pixels; the raw points go into details."""
        model_points: list[list[float]] = []

        def replace(match: re.Match[str]) -> str:
            x, y = float(match.group(1)), float(match.group(2))
            model_points.append([x, y])
            try:
                sx, sy = frame.to_desktop(x, y)
            except coordinates.CoordinateError as error:
                raise PlanningError(f"off-screen point: {error}", raw, off_screen_feedback(frame, x, y)) from None
            return f"({sx}, {sy})"

        mapped = _NUMBER_PAIR.sub(replace, action_text)
        if model_points:
            details["model_point"] = model_points[0]
            if len(model_points) > 1:
                details["model_end"] = model_points[1]
        return mapped

    def _check_kind(self, action: Action, raw: str) -> None:
        if self.kind == "planner+grounder" and action.kind in CLICK_KINDS and action.point is not None:
            raise PlanningError(f"coordinate click {action} from a planner+grounder planner", raw,
                                "Do not give coordinates for clicks: name the target, e.g. "
                                "'click element: the OK button of the dialog'.")
        if self.kind == "end-to-end" and action.is_element_click:
            raise PlanningError(f"element click {action} from an end-to-end planner", raw,
                                "Give the click as coordinates on the screenshot, e.g. 'click (x, y)' "
                                "with real numbers, not an element description.")


def _parses(line: str) -> bool:
    try:
        parse_action(_ACTION_LINE.sub("", line))
        return True
    except ActionError:
        return False
