"""Trajectories for the review tests: human and agent steps in every screenshot format, written by the real
TrajectoryWriter, on a two-screen desktop whose top-left is not (0, 0)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta

# Two screens side by side, the left one at x = -400: screenshot pixel = desktop point - ORIGIN.
SCREENS = [{"index": 0, "left": -400, "top": 0, "width": 400, "height": 300, "scale": 1.0, "primary": False},
           {"index": 1, "left": 0, "top": 0, "width": 400, "height": 300, "scale": 1.0, "primary": True}]
ORIGIN = (-400, 0)
SIZE = (800, 300)
FORMATS = [ScreenshotFormat("png"), ScreenshotFormat("jxl"), ScreenshotFormat("webp"),
           ScreenshotFormat("avif", 90), ScreenshotFormat("jpeg", 90)]
# (actor, action, extra): one step per screenshot format, then one more PNG step.
STEPS = [
    ("human", "click (-300, 50)", {"thought": {"text": "Open the file menu", "source": "human", "time": 1000.5}}),
    ("agent", "drag from (-100, 100) to (200, 150)",
     {"thought": {"text": "Move the square", "source": "agent"},
      "decision": {"verdict": "approve", "by": "user"}, "action_description": "Drag the square right"}),
    ("human", "type text: hello", {}),
    ("agent", "double click (100, 200)", {"thought": {"text": "Open the item", "source": "agent"},
                                           "decision": {"verdict": "edit", "by": "user", "action": "double click (100, 200)",
                                                        "note": "moved down"}}),
    ("human", "scroll (0, -3) at (300, 250)", {}),
    ("human", "finish", {}),
]


def screen_image(index: int) -> Image.Image:
    """A desktop-like picture that differs per step (so a misnamed screenshot shows in a comparison)."""
    image = Image.new("RGB", SIZE, (236, 236, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 380, 280), fill=(250, 250, 250), outline=(90, 90, 90))
    draw.rectangle((420, 20, 780, 280), fill=(250, 250, 250), outline=(90, 90, 90))
    draw.rectangle((40 + 40 * index, 200, 80 + 40 * index, 240), fill=(40, 90, 200))
    draw.text((40, 40), f"step {index}", fill=(0, 0, 0))
    return image


def write_review_sample(root: Path, outcome: str = "finish") -> Path:
    """A finished trajectory with STEPS; step i's screenshot is screen_image(i) in FORMATS[i % 5]."""
    meta = new_meta(task={"mode": "given", "description": "Tidy the sample app", "difficulty": "easy"},
                    screens=SCREENS, recorder={"name": "review-sample"})
    with TrajectoryWriter(root, meta) as writer:
        for index, (actor, action, extra) in enumerate(STEPS):
            fmt = FORMATS[index % len(FORMATS)]
            shot = writer.save_screenshot(index, fmt.encode(screen_image(index)), fmt.extension)
            element = {"name": f"thing {index}", "role": "push button", "application": "sampleapp",
                       "rect": [-320, 30, -280, 70]} if index == 0 else None
            writer.append_step(Step(index=index, time=1000.0 + index, actor=actor, action=action,
                                    screenshot=shot, pointer=None, element=element, extra=dict(extra)))
        writer.close(outcome)
    return root
