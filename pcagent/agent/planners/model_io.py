"""What every prompted planner shares: the screenshot sized to the model's pixel budget, the frame that
maps the model's coordinates to screen pixels (grounding.coordinates, the one place that converts), the
history lines (in the model's own syntax and coordinates), and one call to the model."""

from __future__ import annotations

from typing import Any, Callable, Protocol

from PIL import Image

from grounding import coordinates
from grounding.coordinates import ScreenFrame
from models.base import Message, ModelResponse, VisionLanguageModel
from models.images import fit_to_pixels
from models.text_excerpt import quoted
from pcagent.agent.types import HistoryItem, PlanContext, PlanningError
from tracker.format.actions import Action, ActionError, format_action, parse_action

__all__ = ["QUOTE_LIMIT", "ModelPlanner", "ScreenPoints", "ask_model", "cut_off_note", "history_lines",
           "image_budget", "image_for_model", "model_space_renderer", "off_screen_feedback", "token_usage"]

QUOTE_LIMIT = 160  # characters of a model answer quoted in an error




def image_budget(model: VisionLanguageModel, own: int | None) -> int | None:
    """The smaller of this planner's budget and the backend's, so the backend sends our copy unchanged."""
    profile_budget = getattr(getattr(model, "profile", None), "image_max_pixels", None)
    budgets = [b for b in (own, profile_budget) if b]
    return min(budgets) if budgets else None


def image_for_model(screenshot: Image.Image, budget: int | None) -> Image.Image:
    image = screenshot.convert("RGB") if screenshot.mode not in ("RGB", "L") else screenshot
    return fit_to_pixels(image, budget)[0] if budget else image


def token_usage(response: ModelResponse) -> dict[str, int]:
    usage = {"prompt_tokens": response.usage.prompt_tokens, "completion_tokens": response.usage.completion_tokens}
    return {key: value for key, value in usage.items() if value is not None}


def history_lines(history: list[HistoryItem], steps: int, render_action: Callable[[str], str]) -> list[str]:
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


def cut_off_note(response: ModelResponse, what: str = "the thinking") -> str:
    """Feedback for an answer that ran into max_tokens, to add to a PlanningError's."""
    return f" Your answer was cut off: keep {what} shorter." if response.finish_reason == "length" else ""


def model_space_renderer(frame: ScreenFrame, render: Callable[[Action, Callable[[int, int], tuple[float, float]]],
                                                                 str | None]) -> Callable[[str], str]:
    """A history_lines renderer: canonical action text (screen pixels) in the model's own syntax and
    coordinates, by `render(action, to_model)`; canonical text where `render` has no words for it."""
    def render_action(text: str) -> str:
        try:
            action = parse_action(text)
        except ActionError:
            return text
        try:
            return render(action, frame.to_model) or format_action(action)
        except coordinates.CoordinateError:
            return format_action(action)
    return render_action


class ModelPlanner(Protocol):
    """What ask_model needs of a planner; one with a `tools(frame)` method sends a tools schema too."""

    model: VisionLanguageModel
    convention: str
    image_max_pixels: int | None
    max_tokens: int | None
    temperature: float | None

    def messages(self, context: PlanContext, sent: Image.Image, frame: ScreenFrame) -> list[Message]: ...


def ask_model(planner: ModelPlanner, context: PlanContext) -> tuple[Image.Image, ScreenFrame, ModelResponse]:
    """Shrink the screenshot to the budget, frame its coordinates, and send the planner's messages."""
    screenshot = context.screenshot
    sent = image_for_model(screenshot, image_budget(planner.model, planner.image_max_pixels))
    frame = ScreenFrame(planner.convention, screenshot.size, sent.size, context.screen_origin)
    options: dict[str, Any] = {"max_tokens": planner.max_tokens, "temperature": planner.temperature}
    tools = getattr(planner, "tools", None)
    if tools is not None:  # only backends with function calling take tools= (make_planner checks)
        options["tools"] = tools(frame)
    response = planner.model.generate(planner.messages(context, sent, frame), **options)
    return sent, frame, response


def off_screen_feedback(frame: ScreenFrame, x: float, y: float) -> str:
    """What the model is told after it pointed off the screenshot: the ranges its x and y must keep to."""
    extent = frame.extent()
    return (f"the point ({x:g}, {y:g}) is off the screenshot: x must be within 0..{extent[0]:g} and "
            f"y within 0..{extent[1]:g}. Give a point on the screenshot.")


class ScreenPoints:
    """`frame.to_desktop` as a parser's map_point callback: it keeps the model-space points it mapped (for the
    step's details) and turns a point off the screenshot into a PlanningError with feedback."""

    def __init__(self, frame: ScreenFrame, raw: str) -> None:
        self.frame, self.raw = frame, raw
        self.model_points: list[list[float]] = []

    def __call__(self, x: float, y: float) -> tuple[int, int]:
        self.model_points.append([x, y])
        try:
            return self.frame.to_desktop(x, y)
        except coordinates.CoordinateError:
            raise PlanningError(f"off-screen point ({x:g}, {y:g}) in {quoted(self.raw, QUOTE_LIMIT)}", self.raw,
                                off_screen_feedback(self.frame, x, y)) from None

    def details(self) -> dict[str, list[float]]:
        """model_point (and model_end for a drag) as the other planners record them."""
        return dict(zip(("model_point", "model_end"), self.model_points))
