"""The planner for Qwen's ``computer_use`` function (Qwen2.5-VL, Qwen3-VL, and any model that calls it).

Two ways to carry the function (tracker.format.qwen_computer_use):

- ``transport="text"`` (action_format ``qwen_computer_use``): the schema goes into the system prompt inside
  ``<tools>``, as Qwen's chat template writes it, and the answer holds ``<tool_call>{...}</tool_call>``;
- ``transport="tool_calls"`` (action_format ``tool_calls``): the schema is sent as OpenAI ``tools`` and the
  call comes back in the response's ``tool_calls`` (vLLM, SGLang, Ollama, llama.cpp with function calling).
  A ``<tool_call>`` in the text is read too, for a server that leaves it there.

Coordinates are in the profile's convention: Qwen2.5-VL writes pixels of the smart-resized image
(``uitars_resized``), Qwen3-VL 0..1000 (``norm1000``). Output that does not parse raises PlanningError with
feedback for the retry.
"""

from __future__ import annotations

import json
from typing import Any

from PIL import Image

from grounding import coordinates
from grounding.coordinates import ScreenFrame
from models.base import Message, ModelResponse, VisionLanguageModel
from pcagent.agent.planners.model_io import (ScreenPoints, ask_model, cut_off_note, history_lines,
                                             model_space_renderer, token_usage)
from pcagent.agent.types import PlanContext, PlannerOutput, PlanningError
from tracker.format import qwen_computer_use as computer_use
from tracker.format.actions import Action, ActionError

__all__ = ["QwenPlanner", "TRANSPORTS"]

TRANSPORTS = ("text", "tool_calls")

# ---- prompts (our own words) ----------------------------------------------------------------------

_ROLE = """You operate a desktop computer for a user, one action at a time. Each turn you get the task, \
the steps taken so far and a screenshot of the screen as it is now."""

_TOOLS_IN_TEXT = """# Tools

You can call the function whose signature is inside <tools></tools>:
<tools>
{schema}
</tools>

To call it, write a JSON object with the function's name and arguments inside <tool_call></tool_call> tags:
<tool_call>
{{"name": "computer_use", "arguments": <the arguments as a JSON object>}}
</tool_call>"""

_ANSWER_FORMAT = """# How to answer
Action: <one short sentence: what you do next, and to which element>
then exactly one call of computer_use, and nothing after it.
When the task is done, call terminate with status success (or answer, when the user asked for \
information); when it cannot be done, terminate with status failure. Do not repeat an action the user \
rejected."""

_EXAMPLE = ('Answer "Action: <sentence>" and then one call, e.g. <tool_call>{"name": "computer_use", '
            '"arguments": {"action": "left_click", "coordinate": [x, y]}}</tool_call> with real numbers.')


class QwenPlanner:
    """Qwen's computer_use calls as canonical actions; `convention` says how the model writes points."""

    kind = "end-to-end"

    def __init__(self, model: VisionLanguageModel, *, convention: str, transport: str = "text",
                 history_steps: int = 8, image_max_pixels: int | None = None,
                 pixels_per_notch: float = computer_use.PIXELS_PER_NOTCH, name: str | None = None,
                 max_tokens: int | None = None, temperature: float | None = None) -> None:
        if convention not in coordinates.CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; one of {', '.join(coordinates.CONVENTIONS)}")
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        self.model, self.convention, self.transport = model, convention, transport
        self.history_steps, self.image_max_pixels = history_steps, image_max_pixels
        self.pixels_per_notch = pixels_per_notch
        self.name = name or getattr(model, "name", "model")
        self.max_tokens, self.temperature = max_tokens, temperature
        # ask_model sends a tools schema when the planner has this method
        self.tools = self._tools if transport == "tool_calls" else None

    # -- the conversation --

    def schema(self, frame: ScreenFrame) -> dict[str, Any]:
        return computer_use.function_schema(frame.extent(), pixels_per_notch=self.pixels_per_notch)

    def _tools(self, frame: ScreenFrame) -> list[dict[str, Any]]:
        return [self.schema(frame)]

    def system_prompt(self, frame: ScreenFrame) -> str:
        parts = [_ROLE]
        if self.transport == "text":
            parts.append(_TOOLS_IN_TEXT.format(schema=json.dumps(self.schema(frame), ensure_ascii=False)))
        parts.append(_ANSWER_FORMAT)
        return "\n\n".join(parts)

    def messages(self, context: PlanContext, sent: Image.Image, frame: ScreenFrame) -> list[Message]:
        lines = [f"Task: {context.task.strip()}", ""]
        history = history_lines(context.history, self.history_steps, model_space_renderer(frame, self._as_call))
        lines += ["Steps so far:", *history] if history else ["Steps so far: none, this is the first step."]
        if context.feedback:
            lines += ["", "Since then:", *(f"- {line}" for line in context.feedback)]
        lines += ["", "The current screen:"]
        closing = "Write the Action sentence, then call computer_use once."
        return [Message.of("system", self.system_prompt(frame)), Message.of("user", "\n".join(lines), sent, closing)]

    def _as_call(self, action: Action, to_model: Any) -> str | None:
        call = computer_use.format_call(action, to_model, pixels_per_notch=self.pixels_per_notch)
        return json.dumps(call, ensure_ascii=False) if call else None

    # -- one step --

    def plan(self, context: PlanContext) -> PlannerOutput:
        sent, frame, response = ask_model(self, context)
        raw = raw_answer(response)
        try:
            answer = computer_use.parse_answer(response.text)
            calls = [(c.name, c.arguments) for c in response.tool_calls] or list(answer.calls)
            if not calls:
                raise ActionError("no computer_use call in the answer")
            if len(calls) > 1:
                raise ActionError(f"{len(calls)} calls in the answer: give exactly one action")
            call = computer_use.read_call(*calls[0])
            points = ScreenPoints(frame, raw)
            action = computer_use.to_action(call, points, pixels_per_notch=self.pixels_per_notch)
        except ActionError as error:
            raise PlanningError(f"invalid computer_use answer: {error}", raw,
                                f"{error}. {_EXAMPLE}{cut_off_note(response)}") from None
        details: dict[str, Any] = {"kind": self.kind, "action_format": self.action_format,
                                   "convention": self.convention, "sent_size": list(sent.size),
                                   "screen_size": list(context.screenshot.size), "computer_use_action": call.action,
                                   "finish_reason": response.finish_reason, **points.details()}
        thought = "\n".join(part for part in (answer.thought, answer.description) if part)
        if answer.description:
            details["action_description"] = answer.description
        if call.action == "answer":
            details["answer"] = call.text
            thought = "\n".join(part for part in (thought, f"Answer: {call.text}") if part)
        return PlannerOutput(thought=thought, action=action, raw=raw, model_latency_s=response.latency_s,
                             usage=token_usage(response), details=details)

    @property
    def action_format(self) -> str:
        return "qwen_computer_use" if self.transport == "text" else "tool_calls"


def raw_answer(response: ModelResponse) -> str:
    """The answer as the trajectory keeps it: the text, then each tool call as a <tool_call> block."""
    # the arguments' text as the server sent it, even when it is not JSON
    blocks = [f'<tool_call>\n{{"name": {json.dumps(call.name)}, "arguments": {call.arguments or "{}"}}}\n</tool_call>'
              for call in response.tool_calls]
    return "\n".join(part for part in (response.text.strip(), *blocks) if part)
