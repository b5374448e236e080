"""What every prompted planner shares: the screenshot sized to the model's pixel budget, the frame that
maps the model's coordinates to screen pixels (grounding.coordinates, the one place that converts), the
history lines, and one call to the model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from PIL import Image

from grounding import coordinates
from models.base import ModelResponse, VisionLanguageModel
from models.images import fit_to_pixels
from pcagent.agent.types import HistoryItem, PlanContext

if TYPE_CHECKING:
    from pcagent.agent.planners.prompted import PromptPlanner
    from pcagent.agent.planners.uitars import UITarsPlanner

__all__ = ["QUOTE_LIMIT", "ScreenFrame", "ask_model", "history_lines", "image_budget", "image_for_model",
           "on_screen", "token_usage"]

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


def ask_model(planner: "PromptPlanner | UITarsPlanner", context: PlanContext
               ) -> tuple[Image.Image, "ScreenFrame", ModelResponse]:
    """Shrink the screenshot to the budget, frame its coordinates, and send the planner's messages."""
    screenshot = context.screenshot
    sent = image_for_model(screenshot, image_budget(planner.model, planner.image_max_pixels))
    frame = ScreenFrame(planner.convention, screenshot.size, sent.size, context.screen_origin)
    response = planner.model.generate(planner.messages(context, sent, frame), max_tokens=planner.max_tokens,
                                      temperature=planner.temperature)
    return sent, frame, response


class ScreenFrame:
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


def on_screen(frame: ScreenFrame, point: tuple[float, float]) -> bool:
    try:
        frame.to_screen(*point)
        return True
    except coordinates.CoordinateError:
        return False
