"""The UI-TARS planner: UI-TARS' own ``Thought: / Action: click(start_box='(x,y)')`` syntax
(tracker.format.uitars), returned as canonical actions with coordinates mapped to screen pixels."""

from __future__ import annotations

from typing import Any

from PIL import Image

from grounding import coordinates
from grounding.coordinates import ScreenFrame
from models.base import Message, VisionLanguageModel
from pcagent.agent.planners.model_io import (ScreenPoints, ask_model, cut_off_note, history_lines,
                                             model_space_renderer, token_usage)
from pcagent.agent.types import PlanContext, PlannerOutput, PlanningError
from tracker.format import uitars
from tracker.format.actions import ActionError

__all__ = ["UITarsPlanner"]

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

    def messages(self, context: PlanContext, sent: Image.Image, frame: ScreenFrame) -> list[Message]:
        lines = [_UITARS_PROMPT.format(language=self.language, task=context.task.strip())]
        history = history_lines(context.history, self.history_steps, model_space_renderer(frame, uitars.format_uitars))
        if history:
            lines += ["", "## Earlier steps", *history]
        if context.feedback:
            lines += ["", "## Since then", *(f"- {line}" for line in context.feedback)]
        return [Message.of("user", "\n".join(lines), sent)]

    def plan(self, context: PlanContext) -> PlannerOutput:
        screenshot = context.screenshot
        sent, frame, response = ask_model(self, context)
        text = response.text
        example = "Action: click(start_box='(100,200)')"
        try:
            thought, parsed = uitars.parse_uitars(text)
        except ActionError as error:
            raise PlanningError(f"invalid UI-TARS answer: {error}", text,
                                f"{error}. Answer 'Thought: ...' then one line like {example}."
                                f"{cut_off_note(response, 'the Thought')}") from None
        try:
            action = uitars.to_action(parsed, ScreenPoints(frame, text), scroll_notches=self.scroll_notches,
                                      question=thought)
        except ActionError as error:
            raise PlanningError(f"invalid UI-TARS action: {error}", text, f"{error}.") from None
        details: dict[str, Any] = {"kind": self.kind, "convention": self.convention, "sent_size": list(sent.size),
                                   "screen_size": list(screenshot.size), "uitars_action": parsed.name,
                                   "finish_reason": response.finish_reason}
        if parsed.start is not None:
            details["model_point"] = list(parsed.start)
            if parsed.name == "scroll":
                details["scroll_point"] = list(frame.to_desktop(*parsed.start))  # where UI-TARS meant to scroll
        if parsed.end is not None:
            details["model_end"] = list(parsed.end)
        if parsed.name == "finished" and parsed.content:
            details["finished_content"] = parsed.content
        return PlannerOutput(thought=thought, action=action, raw=text, model_latency_s=response.latency_s,
                             usage=token_usage(response), details=details)
