"""Planners: a vision-language model proposes the next thought and action (the Planner protocol).

- `PromptPlanner` follows PC Agent's structure: a system message with the role and the action space, a
  user message with the task, recent history, feedback and the screenshot; the model answers with its
  thought and one line ``Action: <action>`` in the canonical grammar (tracker.actions).
  ``kind="planner+grounder"`` names click targets by description (a grounder finds them);
  ``kind="end-to-end"`` gives coordinates on the screenshot it was shown.
- `UITarsPlanner` speaks UI-TARS' own ``Thought: / Action: click(start_box='(x,y)')`` syntax
  (tracker.uitars) and returns canonical actions.

Every coordinate a model writes is mapped from the image it was sent to screen pixels by
grounding.coordinates, the one place that does so. Output that does not parse, names several actions,
holds placeholders or points off the screen raises PlanningError with `feedback` for the retry;
no action is ever made up. Model errors (models.errors) propagate unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from PIL import Image

from grounding import coordinates
from models.base import Message, ModelResponse, VisionLanguageModel
from models.images import fit_to_pixels
from pcagent.agent_types import HistoryItem, PlanContext, PlannerOutput, PlanningError
from tracker.actions import CLICK_KINDS, Action, ActionError, format_action, parse_action
from tracker import uitars

__all__ = ["PromptPlanner", "UITarsPlanner", "make_planner", "PROMPT_PLANNER_KINDS"]

PROMPT_PLANNER_KINDS = ("planner+grounder", "end-to-end")
_QUOTE_LIMIT = 160

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

_COORDINATE_SPACES = {
    "absolute": "x and y are pixels of the screenshot you are shown ({w} x {h}); (0, 0) is its top-left corner",
    "norm1000": "x and y run from 0 to 1000 across the screenshot's width and height; (0, 0) is its top-left",
    "molmo_percent": "x and y are percent (0 to 100) of the screenshot's width and height; (0, 0) is its top-left",
    "uitars_resized": "x and y are pixels of the screenshot you are shown ({w} x {h}); (0, 0) is its top-left corner",
}

_RULES = """Rules: exactly one action per answer and nothing after the Action line; use real values, \
never placeholders such as (x, y) or <description>; do not repeat an action the user rejected."""

_UITARS_PROMPT = """You are a GUI agent working on a computer. You get a task, your earlier steps and a \
screenshot; give the next single action.

## Output format
Thought: <what you see and what to do next>
Action: <one action>

## Actions
click(start_box='<|box_start|>(x1,y1)<|box_end|>')
left_double(start_box='<|box_start|>(x1,y1)<|box_end|>')
right_single(start_box='<|box_start|>(x1,y1)<|box_end|>')
drag(start_box='<|box_start|>(x1,y1)<|box_end|>', end_box='<|box_start|>(x3,y3)<|box_end|>')
hotkey(key='ctrl c')  # keys separated by spaces, lowercase
type(content='')  # end the content with \\n to submit
scroll(start_box='<|box_start|>(x1,y1)<|box_end|>', direction='down or up or right or left')
wait()  # wait 5 seconds and look again
finished(content='xxx')  # the task is done
call_user()  # the task needs the user's help

## Notes
- Write the Thought in {language}.
- One action per answer.

## Task
{task}"""

# ---- shared helpers -------------------------------------------------------------------------------


def _quote(text: str) -> str:
    text = " ".join((text or "").split())
    return repr(text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…")


def _image_budget(model: VisionLanguageModel, own: int | None) -> int | None:
    """The smaller of this planner's budget and the backend's, so the backend sends our copy unchanged."""
    profile_budget = getattr(getattr(model, "profile", None), "image_max_pixels", None)
    budgets = [b for b in (own, profile_budget) if b]
    return min(budgets) if budgets else None


def _image_for_model(screenshot: Image.Image, budget: int | None) -> Image.Image:
    image = screenshot.convert("RGB") if screenshot.mode not in ("RGB", "L") else screenshot
    return fit_to_pixels(image, budget)[0] if budget else image


def _usage(response: ModelResponse) -> dict[str, int]:
    usage = {"prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens}
    return {key: value for key, value in usage.items() if value is not None}


def _history_lines(history: list[HistoryItem], steps: int, render_action: Callable[[str], str]) -> list[str]:
    """The last `steps` history items, numbered as in the whole run; human and rejected steps marked."""
    shown = history[-steps:] if steps > 0 else []
    first = len(history) - len(shown)
    lines = [f"({first} earlier steps not shown)"] if first else []
    for number, item in enumerate(shown, start=first + 1):
        who = "done by the user" if item.actor == "human" else "yours"
        head = f"Step {number} ({who})"
        note = item.note or ""
        if "reject" in note.lower():
            head += f" — REJECTED by the user ({note}); do not propose it again"
        elif note:
            head += f" — note: {note}"
        lines.append(head + ":")
        if item.thought:
            lines.append(item.thought.strip())
        lines.append(f"Action: {render_action(item.action)}")
    return lines


def _ask_model(planner: "PromptPlanner | UITarsPlanner", context: PlanContext
               ) -> tuple[Image.Image, "_ScreenFrame", ModelResponse]:
    """Shrink the screenshot to the budget, frame its coordinates, and send the planner's messages."""
    screenshot = context.screenshot
    sent = _image_for_model(screenshot, _image_budget(planner.model, planner.image_max_pixels))
    frame = _ScreenFrame(planner.convention, screenshot.size, sent.size, context.screen_origin)
    response = planner.model.generate(planner.messages(context, sent, frame), max_tokens=planner.max_tokens,
                                      temperature=planner.temperature)
    return sent, frame, response


class _ScreenFrame:
    """Maps points between the model's coordinate space on the sent image and the virtual desktop."""

    def __init__(self, convention: str, screen_size: tuple[int, int], sent_size: tuple[int, int],
                 origin: tuple[int, int]) -> None:
        self.convention, self.screen_size, self.sent_size, self.origin = convention, screen_size, sent_size, origin

    def to_screen(self, x: float, y: float) -> tuple[int, int]:
        px, py = coordinates.to_screen(x, y, self.convention, self.screen_size, self.sent_size)
        return px + self.origin[0], py + self.origin[1]

    def to_model(self, x: int, y: int) -> tuple[float, float]:
        return coordinates.from_screen(x - self.origin[0], y - self.origin[1], self.convention,
                                       self.screen_size, self.sent_size)

    def off_screen_feedback(self, x: float, y: float) -> str:
        extent = coordinates.model_frame_size(self.convention, self.screen_size, self.sent_size)
        return (f"the point ({x:g}, {y:g}) is off the screenshot: x must be within 0..{extent[0]:g} and "
                f"y within 0..{extent[1]:g}. Give a point on the screenshot.")


# ---- PC Agent-style planner -----------------------------------------------------------------------

_ACTION_LINE = re.compile(r"^[ \t>*_`]*action[ \t*_]*:[ \t*_]*", re.IGNORECASE | re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$", re.MULTILINE)
_THOUGHT_TAGS = re.compile(r"</?thought>", re.IGNORECASE)
_THOUGHT_PREFIX = re.compile(r"^\s*thought\s*:\s*", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\(\s*[xy]\d?\s*,\s*[xy]\d?\s*\)|\(\s*dx\s*,\s*dy\s*\)|"
                          r"<(?:description|key|k\d|text|question|action)>", re.IGNORECASE)
_COORDINATE_VERB = re.compile(r"\s*(?:(?:(?:right|middle|double)\s+)?click\s*\(|drag\s+from\b)", re.IGNORECASE)
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
        raise PlanningError(f"no 'Action:' line in the answer {_quote(text)}", text,
                            "Your answer had no 'Action:' line. End your answer with exactly one line "
                            "'Action: <action>' using an action from the list.")
    if len(found) > 1:
        raise PlanningError(f"{len(found)} 'Action:' lines in the answer {_quote(text)}", text,
                            f"Your answer gave {len(found)} actions. Give exactly one 'Action:' line.")
    thought = _THOUGHT_TAGS.sub("", cleaned[:found[0].start()])
    thought = _THOUGHT_PREFIX.sub("", thought).strip()
    action_text = _THOUGHT_TAGS.sub("", cleaned[found[0].end():]).strip()
    if len(action_text) > 1 and action_text[0] == action_text[-1] == "`":  # `click (1, 2)`
        action_text = action_text.strip("`").strip()
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
        space = _COORDINATE_SPACES[self.convention].format(w=sent_size[0], h=sent_size[1])
        parts = [_ROLE, "Actions:\n" + clicks + "\n" + _COMMON_ACTIONS, f"Coordinates: {space}."]
        if self.kind == "planner+grounder":
            parts.append(_DESCRIBE)
        parts.append(_RULES)
        return "\n\n".join(parts)

    def messages(self, context: PlanContext, sent: Image.Image, frame: _ScreenFrame) -> list[Message]:
        lines = [f"Task: {context.task.strip()}", ""]
        history = _history_lines(context.history, self.history_steps, lambda a: self._history_action(a, frame))
        lines += ["Steps so far:", *history] if history else ["Steps so far: none, this is the first step."]
        if context.feedback:
            lines += ["", "Since then:", *(f"- {line}" for line in context.feedback)]
        lines += ["", f"The current screen ({sent.width} x {sent.height} pixels):"]
        closing = "Think about the next step, then end with one line 'Action: <action>'."
        return [Message.of("system", self.system_prompt(sent.size)),
                Message.of("user", "\n".join(lines), sent, closing)]

    def _history_action(self, text: str, frame: _ScreenFrame) -> str:
        """History coordinates are screen pixels; shown in the model's own space so they match what it sees."""
        try:
            action = parse_action(text)
        except ActionError:
            return text
        points = [p for p in (action.point, action.end) if p is not None]
        if not points:
            return format_action(action)
        try:
            mapped = [frame.to_model(*p) for p in points]
        except coordinates.CoordinateError:
            return format_action(action)
        decimals = 1 if self.convention == "molmo_percent" else 0
        pairs = [f"({x:.{decimals}f}, {y:.{decimals}f})" for x, y in mapped]
        if action.kind == "drag":
            return f"drag from {pairs[0]} to {pairs[1]}"
        canonical = format_action(action)
        return f"{canonical[:canonical.index(' (')]} {pairs[0]}"

    # -- one step --

    def plan(self, context: PlanContext) -> PlannerOutput:
        screenshot = context.screenshot
        sent, frame, response = _ask_model(self, context)
        details: dict[str, Any] = {"kind": self.kind, "convention": self.convention, "sent_size": list(sent.size),
                                   "screen_size": list(screenshot.size), "finish_reason": response.finish_reason}
        try:
            thought, action = self._parse(response.text, frame, details)
        except PlanningError as error:
            if response.finish_reason == "length":
                error.feedback += " Your answer was cut off: keep the thinking shorter."
            raise
        return PlannerOutput(thought=thought, action=action, raw=response.text, model_latency_s=response.latency_s,
                             usage=_usage(response), details=details)

    def _parse(self, text: str, frame: _ScreenFrame, details: dict[str, Any]) -> tuple[str, Action]:
        thought, action_text = split_reply(text)
        is_typing = action_text.lower().startswith("type text")
        if not is_typing and "\n" in action_text:
            first, extra = action_text.split("\n", 1)
            several = any(_parses(line) for line in extra.splitlines() if line.strip())
            raise PlanningError(
                f"{'several actions' if several else 'text after the action'} in {_quote(action_text)}", text,
                "Give exactly one action on the 'Action:' line and write nothing after it." if several else
                f"Write nothing after the action line (after {_quote(first)}).")
        if not action_text:
            raise PlanningError("the 'Action:' line is empty", text,
                                "Your 'Action:' line was empty: write one action from the list after it.")
        placeholder = None if is_typing else _PLACEHOLDER.search(action_text)
        if placeholder:
            raise PlanningError(f"placeholder {placeholder.group()!r} in the action {_quote(action_text)}", text,
                                f"Your action {_quote(action_text)} contains the placeholder "
                                f"{placeholder.group()!r}; write real values instead.")
        if _COORDINATE_VERB.match(action_text):
            action_text = self._map_coordinates(action_text, frame, details, text)
        try:
            action = parse_action(action_text)
        except ActionError as error:
            raise PlanningError(f"invalid action: {error}", text,
                                f"{_quote(action_text)} is not a valid action ({error}). "
                                f"Write exactly one action from the list.") from None
        self._check_kind(action, text)
        return thought, action

    def _map_coordinates(self, action_text: str, frame: _ScreenFrame, details: dict[str, Any], raw: str) -> str:
        """Replace each model-space (x, y) with screen pixels; the raw points go into details."""
        model_points: list[list[float]] = []

        def replace(match: re.Match[str]) -> str:
            x, y = float(match.group(1)), float(match.group(2))
            model_points.append([x, y])
            try:
                sx, sy = frame.to_screen(x, y)
            except coordinates.CoordinateError as error:
                raise PlanningError(f"off-screen point: {error}", raw, frame.off_screen_feedback(x, y)) from None
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


# ---- UI-TARS --------------------------------------------------------------------------------------


class UITarsPlanner:
    """UI-TARS (1.5 by default: coordinates in its smart-resized image; `convention="norm1000"` for 1.0/2)."""

    kind = "end-to-end"

    def __init__(self, model: VisionLanguageModel, *, history_steps: int = 5, convention: str = "uitars_resized",
                 image_max_pixels: int | None = None, scroll_notches: int = 5, language: str = "English",
                 name: str | None = None, max_tokens: int | None = None, temperature: float | None = None) -> None:
        if convention not in coordinates.CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; one of {', '.join(coordinates.CONVENTIONS)}")
        self.model, self.history_steps, self.convention = model, history_steps, convention
        self.image_max_pixels, self.scroll_notches, self.language = image_max_pixels, scroll_notches, language
        self.name = name or getattr(model, "name", "model")
        self.max_tokens, self.temperature = max_tokens, temperature

    def messages(self, context: PlanContext, sent: Image.Image, frame: _ScreenFrame) -> list[Message]:
        lines = [_UITARS_PROMPT.format(language=self.language, task=context.task.strip())]
        history = _history_lines(context.history, self.history_steps, lambda a: self._history_action(a, frame))
        if history:
            lines += ["", "## Earlier steps", *history]
        if context.feedback:
            lines += ["", "## Since then", *(f"- {line}" for line in context.feedback)]
        return [Message.of("user", "\n".join(lines), sent)]

    def _history_action(self, text: str, frame: _ScreenFrame) -> str:
        try:
            action = parse_action(text)
        except ActionError:
            return text
        try:
            return uitars.format_uitars(action, frame.to_model)
        except coordinates.CoordinateError:
            return format_action(action)

    def plan(self, context: PlanContext) -> PlannerOutput:
        screenshot = context.screenshot
        sent, frame, response = _ask_model(self, context)
        text = response.text
        example = "Action: click(start_box='(100,200)')"
        try:
            thought, parsed = uitars.parse_uitars(text)
        except ActionError as error:
            cut = " Your answer was cut off: keep the Thought shorter." if response.finish_reason == "length" else ""
            raise PlanningError(f"invalid UI-TARS answer: {error}", text,
                                f"{error}. Answer 'Thought: ...' then one line like {example}.{cut}") from None
        for point in (parsed.start, parsed.end):
            if point is not None and not _on_screen(frame, point):
                raise PlanningError(f"off-screen point {point} in {_quote(text)}", text,
                                    frame.off_screen_feedback(*point))
        try:
            action = uitars.to_action(parsed, frame.to_screen, scroll_notches=self.scroll_notches, question=thought)
        except ActionError as error:
            raise PlanningError(f"invalid UI-TARS action: {error}", text, f"{error}.") from None
        details: dict[str, Any] = {"kind": self.kind, "convention": self.convention, "sent_size": list(sent.size),
                                   "screen_size": list(screenshot.size), "uitars_action": parsed.name,
                                   "finish_reason": response.finish_reason}
        if parsed.start is not None:
            details["model_point"] = list(parsed.start)
            if parsed.name == "scroll":
                details["scroll_point"] = list(frame.to_screen(*parsed.start))  # where UI-TARS meant to scroll
        if parsed.end is not None:
            details["model_end"] = list(parsed.end)
        if parsed.name == "finished" and parsed.content:
            details["finished_content"] = parsed.content
        return PlannerOutput(thought=thought, action=action, raw=text, model_latency_s=response.latency_s,
                             usage=_usage(response), details=details)


def _on_screen(frame: _ScreenFrame, point: tuple[float, float]) -> bool:
    try:
        frame.to_screen(*point)
        return True
    except coordinates.CoordinateError:
        return False


# ---- factory --------------------------------------------------------------------------------------


def make_planner(kind: str, model: VisionLanguageModel, **options: Any) -> PromptPlanner | UITarsPlanner:
    """A planner by kind: "planner+grounder", "end-to-end" (PromptPlanner) or "uitars" (UITarsPlanner)."""
    if kind in PROMPT_PLANNER_KINDS:
        return PromptPlanner(model, kind=kind, **options)
    if kind in ("uitars", "ui-tars"):
        return UITarsPlanner(model, **options)
    raise ValueError(f"unknown planner kind {kind!r}; one of {', '.join(PROMPT_PLANNER_KINDS)}, uitars")
