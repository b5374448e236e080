"""A trajectory from elsewhere is untrusted input: `trace check` decodes every screenshot and validates every
field a replay reads, and `pcagent replay` refuses what it flags, naming the step, instead of crashing or
reading files outside the folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pcagent.agent.planners.replay import ReplayPlanner
from tracker.format.trajectory import TrajectoryError, TrajectoryWriter, new_meta
from tracker.format.trajectory_check import check_trajectory

SCREENS = [{"index": 0, "left": 0, "top": 0, "width": 64, "height": 48, "scale": 1.0, "primary": True}]


def _png(color: str = "white") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "PNG")
    return buffer.getvalue()


def make(root: Path, *steps: dict) -> Path:
    """A trajectory whose steps.jsonl holds `steps` as given (JSON, so NaN and 1e400 can be written)."""
    with TrajectoryWriter(root, new_meta(task={"mode": "none"}, screens=SCREENS)) as writer:
        writer.save_screenshot(0, _png())
        writer.close("finish")
    lines = []
    for index, fields in enumerate(steps):
        data = {"index": index, "time": 1700000000.0 + index, "actor": "human", "action": "click (10, 10)",
                "screenshot": "screenshots/000000.png", "pointer": [10, 10], "element": None, "window": None}
        data.update(fields)
        lines.append(json.dumps(data, allow_nan=True))
    (root / "steps.jsonl").write_text("".join(line + "\n" for line in lines))
    return root


def errors(root: Path) -> list[str]:
    return [str(p) for p in check_trajectory(root) if p.severity == "error"]


@pytest.mark.parametrize("fields, words", [
    ({"element": {"name": "Save", "role": "push button", "rect": "abcd", "application": "x"}}, "element.rect"),
    ({"element": {"name": "Save", "role": None, "rect": [0, 0, "10", 10], "application": None}}, "element.rect"),
    ({"element": {"name": None, "role": None, "rect": [10, 0, 0, 10], "application": None}}, "element.rect"),
    ({"element": {"name": 5, "role": None, "rect": None, "application": None}}, "element.name"),
    ({"window": {"title": ["x"], "application": None}}, "window.title"),
    ({"time": float("nan")}, "time"),
    ({"time": 1e400}, "time"),
    ({"timing": {"plan_s": float("nan")}}, "timing"),
    ({"pointer": [10, 10 ** 9]}, "pointer"),
])
def test_malformed_fields_are_errors_with_the_line(tmp_path, fields, words):
    found = errors(make(tmp_path / "t", fields))
    assert found and any(words in e and "steps.jsonl:1" in e for e in found), found


def test_a_png_with_damaged_data_fails_to_decode(tmp_path):
    root = make(tmp_path / "t", {})
    data = bytearray(_png("red"))
    start = data.index(b"IDAT") + 4
    data[start:start + 12] = bytes(12)  # corrupt the compressed pixels, keep the header and IEND
    (root / "screenshots" / "000000.png").write_bytes(bytes(data))
    assert any("cannot be decoded" in e for e in errors(root))


def test_a_screenshot_outside_the_folder_is_an_error(tmp_path):
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(_png())
    root = make(tmp_path / "t", {"screenshot": "../elsewhere.png"}, {"screenshot": "screenshots/link.png"})
    (root / "screenshots" / "link.png").symlink_to(outside)
    found = errors(root)
    assert any("inside the trajectory" in e for e in found) and any("links outside" in e for e in found)


def test_replay_refuses_what_check_flags_naming_the_step(tmp_path):
    root = make(tmp_path / "t", {}, {"element": {"name": "Save", "role": None, "rect": "abcd", "application": None}})
    with pytest.raises(TrajectoryError, match=r"steps.jsonl:2.*element.rect"):
        ReplayPlanner(root)
    result = subprocess.run([sys.executable, "-m", "pcagent", "replay", str(root)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1 and "element.rect" in result.stderr and "Traceback" not in result.stderr


def test_a_clean_trajectory_still_replays(tmp_path):
    root = make(tmp_path / "t", {"element": {"name": "Save", "role": "push button", "rect": [0, 0, 20, 20],
                                             "application": "x"}})
    assert errors(root) == [] and ReplayPlanner(root).trajectory.steps[0].element["name"] == "Save"
