"""The OpenCUA planner: ``## Thought:`` / ``## Action:`` / ``## Code:`` answers whose one pyautogui block is
read (never run) by tracker.format.opencua and returned as a canonical action in screen pixels.

OpenCUA-7B/32B/72B write pixels of the smart-resized image (``uitars_resized``); OpenCUA-Qwen2-7B and -A3B
write 0..1 (``norm1``). A profile set to pixels that gets 0..1 fractions back would click the top-left
corner, so such an answer is refused with a hint instead.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from grounding import coordinates
from grounding.coordinates import ScreenFrame
from models.base import Message, VisionLanguageModel
from pcagent.agent.planners.model_io import (ScreenPoints, ask_model, cut_off_note, history_lines,
                                             model_space_renderer, token_usage)
from pcagent.agent.types import PlanContext, PlannerOutput, PlanningError
from tracker.format import opencua
from tracker.format.actions import ActionError

__all__ = ["OpenCUAPlanner"]

# ---- prompts (our own words, in the spirit of OpenCUA's L2 prompt) -------------------------------

_SYSTEM = """You are a GUI agent. You get a task and a screenshot of the screen, and you complete the task \
with a series of pyautogui actions, one per step.

Answer each step in this form:

## Thought:
Where the task stands: what the last action did, what is on the screen now, what to do next and why. \
Think in the first person.

## Action:
One clear instruction: the target element by its name, text or look (not by coordinates), or the keys \
or the text to type.

## Code:
```python
<one action as code>
```

The code is one of:
- pyautogui.click(x=..., y=...), pyautogui.doubleClick(x=..., y=...), pyautogui.rightClick(x=..., y=...)
- pyautogui.moveTo(x=..., y=...) then pyautogui.dragTo(x=..., y=..., button='left')
- pyautogui.scroll(n), or pyautogui.moveTo(x=..., y=...) then pyautogui.scroll(n): n wheel notches, \
positive up, negative down (pyautogui.hscroll(n): positive right)
- pyautogui.write(message='...'), optionally followed by pyautogui.press(keys=['enter'])
- pyautogui.press(keys=['enter']), pyautogui.hotkey(keys=['ctrl', 'c'])
- computer.wait()
- computer.terminate(status='success') when the task is done, computer.terminate(status='failure') when \
it cannot be done
x and y: {space}."""

_SPACES = {
    "uitars_resized": "pixels of the screenshot as you see it ({w:g} x {h:g}), from its top-left corner",
    "absolute": "pixels of the screenshot as you see it ({w:g} x {h:g}), from its top-left corner",
    "norm1": "fractions from 0 to 1 of the screenshot's width and height, from its top-left corner",
    "norm1000": "0 to 1000 across the screenshot's width and height, from its top-left corner",
    "molmo_percent": "percent (0 to 100) of the screenshot's width and height, from its top-left corner",
}
_EXAMPLE = "End with '## Code:' and one ```python block, e.g. pyautogui.click(x=..., y=...) with real numbers."
_PIXEL_CONVENTIONS = ("absolute", "uitars_resized")


class OpenCUAPlanner:
    """OpenCUA's code answers as canonical actions; `convention` says how the model writes points."""

    kind = "end-to-end"

    def __init__(self, model: VisionLanguageModel, *, convention: str = "uitars_resized", history_steps: int = 8,
                 image_max_pixels: int | None = None, name: str | None = None, max_tokens: int | None = None,
                 temperature: float | None = None) -> None:
        if convention not in coordinates.CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; one of {', '.join(coordinates.CONVENTIONS)}")
        self.model, self.convention, self.history_steps = model, convention, history_steps
        self.image_max_pixels = image_max_pixels
        self.name = name or getattr(model, "name", "model")
        self.max_tokens, self.temperature = max_tokens, temperature

    def system_prompt(self, frame: ScreenFrame) -> str:
        width, height = frame.extent()
        return _SYSTEM.format(space=_SPACES[self.convention].format(w=width, h=height))

    def messages(self, context: PlanContext, sent: Image.Image, frame: ScreenFrame) -> list[Message]:
        lines = [f"# Task Instruction:\n{context.task.strip()}", ""]
        history = history_lines(context.history, self.history_steps, model_space_renderer(frame, opencua.format_code))
        lines += ["# Previous steps:", *history] if history else ["# Previous steps: none, this is the first step."]
        if context.feedback:
            lines += ["", "# Since then:", *(f"- {line}" for line in context.feedback)]
        closing = ("Please generate the next move according to the screenshot, the task instruction and the "
                   "previous steps.")
        return [Message.of("system", self.system_prompt(frame)), Message.of("user", "\n".join(lines), sent, closing)]

    def plan(self, context: PlanContext) -> PlannerOutput:
        sent, frame, response = ask_model(self, context)
        text = response.text
        try:
            answer = opencua.parse_opencua(text)
            points = _PixelPoints(frame, text) if self.convention in _PIXEL_CONVENTIONS else ScreenPoints(frame, text)
            action = opencua.to_action(answer.calls, points)
        except ActionError as error:
            raise PlanningError(f"invalid OpenCUA answer: {error}", text,
                                f"{error}. {_EXAMPLE}{cut_off_note(response)}") from None
        details: dict[str, Any] = {"kind": self.kind, "action_format": "opencua", "convention": self.convention,
                                   "sent_size": list(sent.size), "screen_size": list(context.screenshot.size),
                                   "opencua_calls": [call.name for call in answer.calls],
                                   "finish_reason": response.finish_reason, **points.details()}
        if answer.description:
            details["action_description"] = answer.description
        return PlannerOutput(thought=answer.thought or answer.description, action=action, raw=text,
                             model_latency_s=response.latency_s, usage=token_usage(response), details=details)


class _PixelPoints(ScreenPoints):
    """Screen points for a pixel convention, refusing 0..1 fractions (an OpenCUA model that writes them)."""

    def __call__(self, x: float, y: float) -> tuple[int, int]:
        if 0 <= x <= 1 and 0 <= y <= 1 and not (float(x).is_integer() and float(y).is_integer()):
            raise PlanningError(
                f"0..1 coordinates ({x:g}, {y:g}) from a model set to {self.frame.convention} pixels", self.raw,
                f"The point ({x:g}, {y:g}) looks like fractions of the screen; give pixels of the screenshot "
                f"(x within 0..{self.frame.extent()[0]:g}, y within 0..{self.frame.extent()[1]:g}). (A model that "
                f"writes 0..1 needs output_convention = \"norm1\" in its profile.)")
        return super().__call__(x, y)
