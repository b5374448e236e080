"""A small collaborative trajectory for the dataset and report tests, written with TrajectoryWriter: human
and agent steps with the gate's decisions, real collaboration metrics, thoughts from every source, a
completion pass's provenance, a reflection and boost samples, and its five screenshots stored in the five
screenshot formats (PNG, JPEG XL, WebP, AVIF, JPEG), so that every reader meets every format."""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image, ImageDraw

from pcagent.agent.types import Decision
from pcagent.collab.metrics import CollaborationMetrics
from tracker.format.actions import parse_action
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta

REPO = Path(__file__).resolve().parent.parent
RECORDED = REPO / "pcagent" / "eval" / "solutions" / "sampleapp-rename-item"  # a real recording (WebP)

SIZE = (320, 200)
TASK = "Rename the item to <b>Report</b> & save it"
HOSTILE_THOUGHT = "I click Save <script>alert('x')</script> now\x1b[31m <image> here"
FORMATS = [ScreenshotFormat("png"), ScreenshotFormat("jxl"), ScreenshotFormat("webp"),
           ScreenshotFormat("avif", 90), ScreenshotFormat("jpeg", 90)]
LOSSLESS = (0, 1, 2)  # the steps whose screenshots decode to exactly what was drawn
COMPLETED_BY = {"source": "completed", "model": "scripted-model", "profile": "scripted", "pass": "thought",
                "mode": "history"}


def screen(number: int) -> Image.Image:
    """A distinct little desktop: a window whose title bar and button move with the step."""
    image = Image.new("RGB", SIZE, (236, 239, 244))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10 + number * 8, 10, 300, 180), fill="white", outline=(60, 60, 60))
    draw.rectangle((10 + number * 8, 10, 300, 28), fill=(40, 90, 160))
    draw.text((16 + number * 8, 14), f"Step {number}", fill="white")
    draw.rectangle((20, 40, 70, 60), fill=(200, 200, 200), outline="black")
    draw.text((28, 45), "Save", fill="black")
    return image


def _steps() -> list[dict]:
    return [
        {"actor": "human", "action": "click (45, 50)",
         "element": {"name": "Save", "role": "push button", "rect": [20, 40, 70, 60], "application": "sampleapp"},
         "window": {"title": "sample app", "application": "sampleapp"},
         "extra": {"thought": {"text": HOSTILE_THOUGHT, "source": "human"},
                   "action_description": "click element: the 'Save' button",
                   "action_description_checked": {"verdict": "good"},
                   "boost": {"samples": [{"thought": "The Save button is at the top left; I press it.",
                                          "action": "click (44, 51)"}],
                             "requested": 2, "rejected": ["1 'Action:' lines"], "source": "completed",
                             "model": "scripted-model", "profile": "scripted", "pass": "boost"},
                   "completion": {"describe": {"status": "done", "model": "scripted-model", "profile": "scripted",
                                               "time": "2026-01-01T00:00:00Z", "cached": False},
                                  "boost": {"status": "done", "model": "scripted-model", "profile": "scripted",
                                            "time": "2026-01-01T00:00:01Z", "cached": True}}}},
        {"actor": "agent", "action": "type text: Report",
         "decision": Decision("approve", "user"),
         "extra": {"thought": {"text": "The name field has focus, so I type the new name.", "source": "agent"},
                   "timing": {"model_s": 0.4, "execute_s": 0.1}}},
        {"actor": "agent", "action": "drag from (100, 20) to (140, 60)",
         "decision": Decision("edit", "user", parse_action("drag from (100, 20) to (140, 60)"), "moved further"),
         "extra": {"thought": {"text": "I move the window out of the way.", "source": "agent"},
                   "planned_action": "drag from (100, 20) to (120, 40)"}},
        {"actor": "human", "action": "scroll (0, -3) at (150, 100)",
         "extra": {"thought": {"text": "I scroll down to find the list.", **COMPLETED_BY},
                   "reflection": {"previous_step": 2, "correct": True, "redundant": False,
                                  "text": "Moving the window uncovered the list.", **COMPLETED_BY,
                                  "pass": "reflection"},
                   "completion": {"thought": {"status": "done", "model": "scripted-model", "profile": "scripted",
                                              "time": "2026-01-01T00:00:02Z", "cached": False},
                                  "reflection": {"status": "failed", "model": "scripted-model",
                                                 "profile": "scripted", "time": "2026-01-01T00:00:03Z",
                                                 "error": "the answer had no verdict"}}}},
        {"actor": "human", "action": "finish", "extra": {}},
    ]


def build_collaborative_trajectory(root: Path) -> Path:
    """Write the trajectory at ``root`` and return it."""
    metrics = CollaborationMetrics(clock=iter(range(0, 1000, 2)).__next__)
    meta = new_meta(task={"mode": "given", "description": TASK},
                    screens=[{"index": 0, "left": 0, "top": 0, "width": SIZE[0], "height": SIZE[1],
                              "scale": 1.0, "primary": True}],
                    agent={"mode": "approve", "planner": "scripted-planner"})
    with TrajectoryWriter(root, meta) as writer:
        for index, spec in enumerate(_steps()):
            path = writer.save_screenshot(index, FORMATS[index].encode(screen(index)), FORMATS[index].extension)
            extra = dict(spec["extra"])
            if "decision" in spec:
                metrics.record_decision(spec["decision"])
                extra["decision"] = spec["decision"].to_dict()
                with metrics.timed("review"):
                    pass
            with metrics.timed(spec["actor"]):
                metrics.record_step(spec["actor"])
            action = parse_action(spec["action"])
            writer.append_step(Step(index=index, time=1_700_000_000.0 + 2.5 * index, actor=spec["actor"],
                                    action=spec["action"], screenshot=path, pointer=action.point,
                                    element=spec.get("element"), window=spec.get("window"), extra=extra))
        metrics.outcome = "finish"
        writer.update_meta(collaboration=metrics.to_dict())
        writer.close("finish")
    return root


def copy_recorded(root: Path) -> Path:
    """A copy of a real recording (the sample app's rename task, recorded with WebP screenshots)."""
    shutil.copytree(RECORDED, root)
    return root
