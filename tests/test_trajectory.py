"""The trajectory folder format: writing, tolerant reading, checking, and surviving a SIGKILL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from tracker.format.trajectory import (
    FORMAT_NAME, FORMAT_VERSION, Problem, Step, TrajectoryError, TrajectoryWriter, desktop_origin,
    format_step_line, new_meta, read_trajectory,
)
from tracker.format.trajectory_check import check_trajectory

REPO = Path(__file__).resolve().parents[1]


def png_bytes(width: int = 8, height: int = 6, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def make_step(index: int, action: str = "click (10, 20)", **kwargs) -> Step:
    fields = dict(index=index, time=1000.0 + index, actor="human", action=action, screenshot=None)
    fields.update(kwargs)
    return Step(**fields)


def write_sample(root: Path, count: int = 3, outcome: str | None = "finish") -> Path:
    with TrajectoryWriter(root, new_meta(task={"mode": "free", "description": "demo"})) as writer:
        for index in range(count):
            shot = writer.save_screenshot(index, png_bytes())
            writer.append_step(make_step(index, screenshot=shot, pointer=(10, 20)))
        if outcome:
            writer.close(outcome)
    return root


def test_new_meta_has_the_documented_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    meta = new_meta(screens=[{"index": 0}], note="hi")
    assert meta["format"] == FORMAT_NAME and meta["version"] == FORMAT_VERSION
    assert len(meta["id"]) == 32 and meta["created"].endswith("Z")
    assert meta["task"] == {"mode": "none"} and meta["screens"] == [{"index": 0}]
    assert meta["platform"]["display_server"] == "x11"
    assert set(meta["platform"]) == {"os", "release", "display_server", "python"}
    for key in ("recorder", "agent", "outcome", "ended", "collaboration"):
        assert key in meta
    assert meta["note"] == "hi"


def test_desktop_origin_is_the_top_left_most_screen_corner() -> None:
    left_of_primary = {"left": -1280, "top": 0, "width": 1280, "height": 1024}
    above_primary = {"left": 0, "top": -600, "width": 800, "height": 600}
    primary = {"left": 0, "top": 0, "width": 1920, "height": 1080}
    assert desktop_origin({"screens": [primary, left_of_primary, above_primary]}) == (-1280, -600)
    assert desktop_origin({"screens": [primary]}) == (0, 0)
    assert desktop_origin({"screens": []}) == desktop_origin({}) == (0, 0)
    # A damaged entry is passed over: it moves neither the others' corner nor the pixels.
    damaged = [primary, left_of_primary, {"left": "-5000", "top": -5000}, {"left": True, "top": -9},
               {"left": -7.5, "top": -7}, {"top": -3}, "screen", None]
    assert desktop_origin({"screens": damaged}) == (-1280, 0)
    assert desktop_origin({"screens": "not a list"}) == desktop_origin({"screens": 7}) == (0, 0)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    extra = {"action_description": "click the Save button",
             "thought": {"text": "Now I save.\nThen close.", "source": "human"},
             "grounding": {"engine": "ocr", "candidates": [[1, 2]]}, "decision": "approve",
             "timing": {"model_s": 1.5}, "redacted": None, "marked_screenshot": None}
    step = make_step(0, pointer=(-5, 7), element={"name": "Save", "role": "push button",
                                                  "rect": [1, 2, 3, 4], "application": "gedit"},
                     window={"title": "ü — notes", "application": "gedit"}, extra=extra)
    with TrajectoryWriter(tmp_path / "t", new_meta()) as writer:
        writer.append_step(step)
        writer.append_step(make_step(1, action="type text: héllo, (world)\n", actor="agent"))
    trajectory = read_trajectory(tmp_path / "t")
    assert trajectory.steps[0] == step
    assert trajectory.steps[1].parsed_action().text == "héllo, (world)\n"
    assert trajectory.problems == []
    assert "héllo" in (tmp_path / "t" / "steps.jsonl").read_text(encoding="utf-8")  # ensure_ascii=False


def test_steps_are_on_disk_as_soon_as_they_are_appended(tmp_path: Path) -> None:
    writer = TrajectoryWriter(tmp_path / "t", new_meta())
    writer.append_step(make_step(0))
    assert len(read_trajectory(tmp_path / "t").steps) == 1  # before close
    writer.close()


def test_writer_rejects_bad_steps_without_writing(tmp_path: Path) -> None:
    with TrajectoryWriter(tmp_path / "t", new_meta()) as writer:
        with pytest.raises(ValueError, match="out of order"):
            writer.append_step(make_step(1))
        with pytest.raises(ValueError, match="not canonical"):
            writer.append_step(make_step(0, action="Click (1,2)"))
        with pytest.raises(ValueError, match="rm -rf"):
            writer.append_step(make_step(0, action="rm -rf /"))
        with pytest.raises(ValueError, match="actor"):
            writer.append_step(make_step(0, actor="robot"))
        with pytest.raises(TypeError):
            writer.append_step(make_step(0, extra={"blob": object()}))
        assert writer.next_index == 0
    assert (tmp_path / "t" / "steps.jsonl").read_bytes() == b""
    with pytest.raises(ValueError, match="closed"):
        writer.append_step(make_step(0))


def test_writer_refuses_a_non_empty_folder_unless_continuing(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t", count=2)
    with pytest.raises(TrajectoryError, match="not empty"):
        TrajectoryWriter(root, new_meta())
    with TrajectoryWriter(root, read_trajectory(root).meta, exist_ok=True) as writer:
        assert writer.next_index == 2
        writer.append_step(make_step(2, action="finish"))
        writer.close("finish")
    assert [s.index for s in read_trajectory(root).steps] == [0, 1, 2]
    assert errors(check_trajectory(root)) == []


def test_screenshots_are_written_atomically(tmp_path: Path) -> None:
    with TrajectoryWriter(tmp_path / "t", new_meta()) as writer:
        assert writer.save_screenshot(3, png_bytes()) == "screenshots/000003.png"
        assert writer.save_screenshot(3, png_bytes(), "marked.png") == "screenshots/000003.marked.png"
        with pytest.raises(ValueError):
            writer.save_screenshot(4, b"x", "../png")
    names = sorted(p.name for p in (tmp_path / "t" / "screenshots").iterdir())
    assert names == ["000003.marked.png", "000003.png"]  # no temporary files left behind


def test_update_meta_and_close(tmp_path: Path) -> None:
    writer = TrajectoryWriter(tmp_path / "t", new_meta())
    writer.update_meta(agent={"model": "m"})
    assert json.loads((tmp_path / "t" / "meta.json").read_text())["agent"] == {"model": "m"}
    writer.close("fail")
    writer.close("finish")  # idempotent: the first outcome stands
    meta = json.loads((tmp_path / "t" / "meta.json").read_text())
    assert meta["outcome"] == "fail" and meta["ended"]
    assert [p.name for p in (tmp_path / "t").iterdir() if p.name.endswith(".tmp")] == []


def test_torn_last_line_is_a_warning(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t", count=3)
    with open(root / "steps.jsonl", "ab") as handle:
        handle.write(json.dumps(make_step(3).to_dict()).encode()[:25])
    trajectory = read_trajectory(root)
    assert len(trajectory.steps) == 3
    assert [str(p) for p in trajectory.problems] == ["warning: steps.jsonl:4: incomplete last line skipped"]
    assert errors(check_trajectory(root)) == []
    # Continuing the trajectory cuts the torn line off first.
    with TrajectoryWriter(root, trajectory.meta, exist_ok=True) as writer:
        assert writer.next_index == 3
        writer.append_step(make_step(3))
    assert read_trajectory(root).problems == []


def test_corrupt_middle_line_is_an_error_and_the_rest_is_read(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t", count=3)
    lines = (root / "steps.jsonl").read_text().splitlines(keepends=True)
    lines.insert(1, "{not json\n")
    lines.insert(3, "\n")  # blank lines are ignored
    (root / "steps.jsonl").write_text("".join(lines))
    trajectory = read_trajectory(root)
    assert [s.index for s in trajectory.steps] == [0, 1, 2]
    assert [(p.severity, p.where) for p in trajectory.problems] == [("error", "steps.jsonl:2")]


def test_missing_steps_file_is_a_warning(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t", count=0)
    (root / "steps.jsonl").unlink()
    trajectory = read_trajectory(root)
    assert trajectory.steps == [] and trajectory.problems[0].severity == "warning"


@pytest.mark.parametrize("content", [None, "{broken", "[1, 2]"])
def test_missing_or_corrupt_meta_is_fatal(tmp_path: Path, content: str | None) -> None:
    root = write_sample(tmp_path / "t", count=1)
    if content is None:
        (root / "meta.json").unlink()
    else:
        (root / "meta.json").write_text(content)
    with pytest.raises(TrajectoryError, match="meta.json"):
        read_trajectory(root)
    assert [p.severity for p in check_trajectory(root)] == ["error"]


def test_a_clean_trajectory_checks_clean(tmp_path: Path) -> None:
    assert check_trajectory(write_sample(tmp_path / "t")) == []


def test_check_warns_about_an_unfinished_recording(tmp_path: Path) -> None:
    problems = check_trajectory(write_sample(tmp_path / "t", outcome=None))
    assert [p.message for p in problems] == ["recording did not end cleanly (no outcome)"]


def rewrite_line(root: Path, number: int, **changes) -> None:
    lines = (root / "steps.jsonl").read_text().splitlines()
    data = json.loads(lines[number])
    data.update(changes)
    lines[number] = json.dumps(data)
    (root / "steps.jsonl").write_text("\n".join(lines) + "\n")


def test_check_catches_a_missing_screenshot(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t")
    (root / "screenshots" / "000001.png").unlink()
    [problem] = errors(check_trajectory(root))
    assert problem.where == "screenshots/000001.png" and "missing" in problem.message


@pytest.mark.parametrize("damage, message", [
    (lambda data: b"GIF89a" + data[6:], "not a PNG"),
    (lambda data: data[:20], "damaged"),
    (lambda data: data[:-5], "truncated"),
    (lambda data: data[:16] + b"\x00\x00\x00\x07" + data[20:], "checksum"),
])
def test_check_catches_a_damaged_screenshot(tmp_path: Path, damage, message: str) -> None:
    root = write_sample(tmp_path / "t")
    path = root / "screenshots" / "000002.png"
    path.write_bytes(damage(path.read_bytes()))
    [problem] = errors(check_trajectory(root))
    assert problem.where == "screenshots/000002.png" and message in problem.message


def test_check_catches_a_bad_action(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t")
    rewrite_line(root, 1, action="click (a, b)")
    [problem] = errors(check_trajectory(root))
    assert problem.where == "steps.jsonl:2" and "click (a, b)" in problem.message


def test_check_catches_a_bad_actor_and_wrong_types(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t")
    rewrite_line(root, 0, actor="robot")
    rewrite_line(root, 2, time="yesterday")
    found = {(p.where, p.message.split()[0]) for p in errors(check_trajectory(root))}
    assert ("steps.jsonl:1", "actor") in found and ("steps.jsonl:3", "step") in found


def test_check_knows_the_element_missing_codes(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t")
    rewrite_line(root, 0, element=None, element_missing="popup_not_exposed")  # fine: a known code, no element
    rewrite_line(root, 1, element=None, element_missing="gone fishing")
    rewrite_line(root, 2, element={"name": "Save", "role": "push button", "rect": None, "application": "x"},
                 element_missing="not_found")
    found = [(p.where, p.message) for p in errors(check_trajectory(root))]
    assert [where for where, _ in found] == ["steps.jsonl:2", "steps.jsonl:3"]
    assert "'gone fishing'" in found[0][1] and "timeout" in found[0][1]
    assert "has an element" in found[1][1]


def test_check_catches_a_newer_format_version(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t")
    meta = json.loads((root / "meta.json").read_text())
    meta["version"] = FORMAT_VERSION + 1
    del meta["screens"]
    (root / "meta.json").write_text(json.dumps(meta))
    messages = [p.message for p in errors(check_trajectory(root))]
    assert any(f"version {FORMAT_VERSION + 1}" in m and f"version {FORMAT_VERSION})" in m for m in messages)
    assert any("screens" in m for m in messages)


def test_check_catches_non_consecutive_indices_and_time_going_back(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t", count=4)
    rewrite_line(root, 2, index=5)
    rewrite_line(root, 3, index=6, time=0.5)
    messages = [(p.where, p.message) for p in errors(check_trajectory(root))]
    assert any(w == "steps.jsonl:3" and "expected 2" in m for w, m in messages)
    assert any(w == "steps.jsonl:4" and "earlier" in m for w, m in messages)


def test_check_warns_about_leftover_temporary_files(tmp_path: Path) -> None:
    root = write_sample(tmp_path / "t")
    (root / "screenshots" / ".000003.png.1a2b3c4d.tmp").write_bytes(b"partial")
    [problem] = check_trajectory(root)
    assert problem.severity == "warning" and ".000003.png" in problem.where


def test_format_step_line() -> None:
    step = make_step(3, element={"name": "Save", "role": "push button"},
                     extra={"thought": {"text": "I save the file " * 10, "source": "human"}})
    line = format_step_line(step, start=step.time - 12.41)
    assert line.split()[:5] == ["3", "12.41s", "human", "click", "(10,"]
    assert "[Save — push button]" in line and "«I save the file" in line and "…»" in line
    assert "\n" not in format_step_line(make_step(0, action="type text: a\nb"))


CRASH_SCRIPT = """
import io, sys, time
sys.path.insert(0, sys.argv[2])
from PIL import Image
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta
buffer = io.BytesIO()
Image.new("RGB", (64, 48), "blue").save(buffer, "PNG")
writer = TrajectoryWriter(sys.argv[1], new_meta())
index = 0
while True:
    shot = writer.save_screenshot(index, buffer.getvalue())
    # A long thought makes each line big, so the kill often lands mid-write.
    writer.append_step(Step(index, time.time(), "human", "type text: " + "x" * 5000, shot,
                            extra={"thought": {"text": "y" * 200000, "source": "human"}}))
    index += 1
"""


def test_a_killed_writer_leaves_a_readable_trajectory(tmp_path: Path) -> None:
    root = tmp_path / "crash"
    process = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, str(root), str(REPO)])
    try:
        deadline = time.monotonic() + 60
        steps_file = root / "steps.jsonl"
        while time.monotonic() < deadline:
            if steps_file.exists() and steps_file.read_bytes().count(b"\n") >= 20:
                break
            assert process.poll() is None, "the writer died on its own"
            time.sleep(0.01)
        else:
            pytest.fail("the writer did not write 20 steps in time")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    data = (root / "steps.jsonl").read_bytes()
    complete_lines = data.count(b"\n")
    trajectory = read_trajectory(root)
    assert len(trajectory.steps) == complete_lines >= 20
    assert [s.index for s in trajectory.steps] == list(range(complete_lines))
    problems = check_trajectory(root)
    assert errors(problems) == []
    assert {p.message for p in problems} <= {"recording did not end cleanly (no outcome)",
                                             "incomplete last line skipped",
                                             "leftover temporary file from an interrupted write"}
