"""`pcagent demo`, the README's main job, end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from models.images import register_image_plugins
from pcagent.app.ui.marker import MARKER_COLOR
from tracker.format.trajectory import read_trajectory
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


def test_demo_show_needs_a_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "pcagent", "demo", "--show", "--out", str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=60, env=env, check=False)
    assert result.returncode == 4 and "--show needs a display" in result.stderr, result.stderr
