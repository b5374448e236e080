"""`pcagent demo`, the README's main job, end to end."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tracker.trajectory import read_trajectory


@pytest.mark.skipif(not shutil.which("Xvfb") and not __import__("os").environ.get("CI"), reason="needs Xvfb")
def test_demo_records_and_prints_the_demonstration(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "pcagent", "demo", "--out", str(out)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    trajectory = read_trajectory(out)
    actions = [s.action for s in trajectory.steps]
    assert actions[1] == "type text: Ada Lovelace"
    assert actions[0].startswith("click (") and actions[-1] == "finish"
    for kind in ("double click (", "drag from (", "right click (", "scroll (0, -3)", "press key: enter"):
        assert any(a.startswith(kind) for a in actions), (kind, actions)
    assert trajectory.meta["outcome"] == "finish"
    assert "type text: Ada Lovelace" in result.stdout
    assert f"Trajectory: {out}" in result.stdout
