"""`pcagent demo`, the README's main job, end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tracker.format.trajectory import read_trajectory


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
