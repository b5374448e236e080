"""`pcagent demo`, the README's main job, end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.images import register_image_plugins
from pcagent.app.ui.marker import MARKER_COLOR
from pcagent.cli.demo import SCRIPTED_MODEL, complete_thoughts
from pcagent.cli.main import main
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta, read_trajectory
from tracker.recording.own_windows import OWN_WINDOWS_KEY


def marker_pixels(path) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return int(np.all(pixels == np.array(MARKER_COLOR, dtype=np.uint8), axis=-1).sum())


@pytest.mark.skipif(not shutil.which("Xvfb") and not __import__("os").environ.get("CI"), reason="needs Xvfb")
def test_demo_records_then_replays_on_a_moved_layout(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "pcagent", "demo", "--out", str(out)],
                            capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    recorded = read_trajectory(out / "recorded")
    actions = [s.action for s in recorded.steps]
    assert actions[1] == "type text: Ada Lovelace"
    assert actions[0].startswith("click (") and actions[-1] == "finish"
    for kind in ("double click (", "drag from (", "right click (", "scroll (0, -3)", "press key: enter"):
        assert any(a.startswith(kind) for a in actions), (kind, actions)
    assert recorded.meta["outcome"] == "finish"

    replayed = read_trajectory(out / "replayed")
    assert replayed.meta["outcome"] == "finish"
    assert [s.actor for s in replayed.steps] == ["agent"] * len(replayed.steps)
    moved = [s for s in replayed.steps if s.action.startswith("click (")]
    assert moved[0].action != actions[0], "the Name field moved: the replay must click where it is now"
    assert "name field: 'Ada Lovelace'; opened: Item 4; buttons clicked: Save" in result.stdout
    assert f"recorded: {out / 'recorded'}" in result.stdout and f"replayed: {out / 'replayed'}" in result.stdout

    # every replayed step went through the approval panel and its countdown approved it; the panel's
    # picture shows it (and the marker) at work, and no saved screenshot shows either
    decisions = [s.extra["decision"] for s in replayed.steps if s.action != "finish"]
    assert decisions and all(d["verdict"] == "approve" and d["by"] == "timeout" for d in decisions), decisions
    assert replayed.meta["collaboration"]["approved_by"]["timeout"] == len(decisions)
    picture = out / "approval-panel.png"
    assert f"The approval panel at work: {picture}" in result.stdout
    register_image_plugins()
    assert Image.open(picture).size == (1280, 800) and marker_pixels(picture) > 2000
    assert all(OWN_WINDOWS_KEY not in s.extra for s in replayed.steps)
    assert [marker_pixels(path) for path in (out / "replayed" / "screenshots").iterdir()] == \
        [0] * len(list((out / "replayed" / "screenshots").iterdir()))

    # then the demonstration's thoughts were completed by the scripted model, marked as its, and both
    # trajectories got their HTML report
    steps = [json.loads(line) for line in (out / "recorded" / "steps.jsonl").read_text().splitlines() if line]
    thoughts = [step["thought"] for step in steps]
    assert len(thoughts) == len(actions) and all(
        t["source"] == "completed" and t["model"] == SCRIPTED_MODEL and t["pass"] == "thought" for t in thoughts)
    assert thoughts[1]["text"] == 'I type "Ada Lovelace" into the "Name" field, as the task asks.'
    assert thoughts[-1]["text"] == "Everything the task asks for is done, so I finish."
    assert all(step["completion"]["thought"]["status"] == "done" for step in steps)
    printed = re.findall(r"^  report of the (?:demonstration|replay): (.+)$", result.stdout, re.MULTILINE)
    reports = [Path(path) for path in printed]
    assert reports == [out / "recorded" / "report.html", out / "replayed" / "report.html"], result.stdout
    page = reports[0].read_text(encoding="utf-8")
    assert f"completed by {SCRIPTED_MODEL}" in page and "I type &quot;Ada Lovelace&quot; into" in page
    assert "approved automatically (timeout)" in reports[1].read_text(encoding="utf-8")
    for folder in (out / "recorded", out / "replayed"):
        assert main(["trace", "check", str(folder)]) == 0, folder


def test_scripted_thoughts_keep_the_human_ones(tmp_path):
    """A thought the human typed stays; only the missing ones are completed, each by the scripted model."""
    root = tmp_path / "t"
    with TrajectoryWriter(root, new_meta(task={"mode": "free", "description": "Save the report"},
                                         screens=[{"left": 0, "top": 0, "width": 160, "height": 100}])) as writer:
        for index, action in enumerate(["click (40, 30)", "press key: down", "press key: down", "finish"]):
            image = Image.new("RGB", (160, 100), (200, 200, 200 - 40 * index))
            path = writer.save_screenshot(index, ScreenshotFormat("png").encode(image), "png")
            extra = {"thought": {"text": "I open the menu first.", "source": "human"}} if index == 1 else {}
            writer.append_step(Step(index, 1700000000.0 + index, "human", action, path,
                                    element={"name": "Save", "role": "push button"} if index == 0 else None,
                                    extra=extra))
        writer.close("finish")
    assert complete_thoughts(root)
    thoughts = [step.extra["thought"] for step in read_trajectory(root).steps]
    assert thoughts[1] == {"text": "I open the menu first.", "source": "human"}
    assert [t["text"] for i, t in enumerate(thoughts) if i != 1] == [
        'I click the "Save" button, the next thing the task asks for.', "I press Down to move to the next entry.",
        "Everything the task asks for is done, so I finish."]
    assert all(t["model"] == SCRIPTED_MODEL and t["source"] == "completed" for i, t in enumerate(thoughts) if i != 1)


def test_demo_show_needs_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "pcagent", "demo", "--show", "--out", str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 4 and "--show needs a display" in result.stderr, result.stderr
