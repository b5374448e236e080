"""Editing a saved trajectory (pcagent.app.trajectory_edit): edits, deleted steps, atomic saves, marks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from pcagent.app import trajectory_edit
from pcagent.app.trajectory_edit import (
    TrajectoryEdit, TrajectoryEditError, marked_screenshot, recover_interrupted_save, step_marks,
)
from tests.review_samples import FORMATS, ORIGIN, SIZE, STEPS, screen_image, write_review_sample
from tracker.format.trajectory import read_trajectory
from tracker.format.trajectory_check import check_trajectory

REPO = Path(__file__).resolve().parents[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def errors(root: Path) -> list:
    return [p for p in check_trajectory(root) if p.severity == "error"]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    return write_review_sample(tmp_path / "rec-1")


def test_edits_deletes_and_task_are_saved_so_trace_check_accepts_them(sample: Path) -> None:
    before = {step.index: digest(sample / step.screenshot) for step in read_trajectory(sample).steps}
    edit = TrajectoryEdit(sample)
    edit.set_action_description(0, "Open the File menu")
    edit.set_thought(2, "Type the greeting")  # step 2 had no thought
    edit.set_thought(1, "Move the blue square to the right")  # an agent thought, now the human's
    edit.delete_step(3)
    edit.delete_step(0)  # positions shift: steps 1, 2, 4, 5 remain
    edit.set_task("Tidy up the sample app", "hard")
    assert edit.dirty
    edit.save()

    assert errors(sample) == []
    result = read_trajectory(sample)
    assert [s.index for s in result.steps] == [0, 1, 2, 3]
    assert [s.action for s in result.steps] == [STEPS[i][1] for i in (1, 2, 4, 5)]
    # Each step kept its own picture, now under its new index; the deleted steps' pictures are gone.
    for new, old in enumerate((1, 2, 4, 5)):
        step = result.steps[new]
        assert step.screenshot == f"screenshots/{new:06d}.{FORMATS[old % 5].extension}"
        assert digest(sample / step.screenshot) == before[old]
    assert sorted(p.name for p in (sample / "screenshots").iterdir()) == \
        ["000000.jxl", "000001.webp", "000002.jpg", "000003.png"]
    thought = result.steps[0].extra["thought"]
    assert thought["text"] == "Move the blue square to the right" and thought["source"] == "human"
    assert isinstance(thought["time"], float)
    assert result.steps[1].extra["thought"]["source"] == "human"
    assert result.steps[0].extra["decision"] == {"verdict": "approve", "by": "user"}  # untouched fields stay
    assert result.meta["task"] == {"mode": "given", "description": "Tidy up the sample app", "difficulty": "hard"}
    assert result.meta["reviews"][-1]["deleted_steps"] == [0, 3]
    assert result.meta["reviews"][-1]["edited_steps"] == [0, 1]
    assert result.meta["outcome"] == "finish" and result.meta["id"] == edit.meta["id"]
    assert not [p for p in sample.parent.iterdir() if p.name.startswith(".")]  # no staging folder left

    completed = subprocess.run([sys.executable, "-m", "pcagent", "trace", "check", str(sample)], cwd=REPO,
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_unchanged_text_keeps_the_thought_and_empty_text_removes_it(sample: Path) -> None:
    edit = TrajectoryEdit(sample)
    edit.set_thought(1, "  Move the square ")  # the same words: still the agent's thought
    edit.set_action_description(1, "Drag the square right")
    assert not edit.dirty
    edit.set_thought(0, "")
    edit.set_action_description(1, "")
    edit.save()
    steps = read_trajectory(sample).steps
    assert "thought" not in steps[0].extra and "action_description" not in steps[1].extra
    assert steps[1].extra["thought"] == {"text": "Move the square", "source": "agent"}


def test_a_free_recording_gets_its_description_and_a_bad_difficulty_is_refused(tmp_path: Path) -> None:
    root = write_review_sample(tmp_path / "free")
    meta = json.loads((root / "meta.json").read_text())
    meta["task"] = {"mode": "none"}
    (root / "meta.json").write_text(json.dumps(meta))
    edit = TrajectoryEdit(root)
    with pytest.raises(TrajectoryEditError, match="difficulty must be one of easy, medium, hard"):
        edit.set_task("x", "impossible")
    edit.set_task("Sort the list", "medium")
    edit.save()
    assert read_trajectory(root).meta["task"] == {"mode": "free", "description": "Sort the list",
                                                  "difficulty": "medium"}


def test_a_crash_while_building_the_copy_leaves_the_trajectory_as_it_was(sample: Path, monkeypatch) -> None:
    state = folder_state(sample)
    edit = TrajectoryEdit(sample)
    edit.delete_step(0)

    def crash(*args):
        raise OSError("disk full")
    monkeypatch.setattr(trajectory_edit, "_exchange", crash)
    with pytest.raises(OSError, match="disk full"):
        edit.save()
    assert folder_state(sample) == state
    assert [p.name for p in sample.parent.iterdir()] == [sample.name]


def test_a_crash_between_the_two_renames_is_undone_when_the_trajectory_is_opened(sample: Path,
                                                                                   monkeypatch) -> None:
    """Where the filesystem cannot exchange two folders in one step, a save renames twice; a crash in between
    leaves only the hidden old folder, which opening the trajectory puts back."""
    state = folder_state(sample)
    edit = TrajectoryEdit(sample)
    edit.delete_step(0)
    monkeypatch.setattr(trajectory_edit, "_renameat2_exchange", lambda first, second: False)
    real_rename = os.rename

    def rename(source, destination):
        real_rename(source, destination)
        if str(source) == str(sample):
            raise KeyboardInterrupt  # the process dies right after the first rename
    monkeypatch.setattr(trajectory_edit.os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        edit.save()
    monkeypatch.setattr(trajectory_edit.os, "rename", real_rename)
    assert not sample.exists()
    recover_interrupted_save(sample)
    assert folder_state(sample) == state
    assert [p.name for p in sample.parent.iterdir()] == [sample.name]

    again = TrajectoryEdit(sample)  # and the two-rename save itself works
    again.delete_step(0)
    again.save()
    assert len(read_trajectory(sample).steps) == len(STEPS) - 1 and errors(sample) == []


def test_skipped_lines_or_a_trajectory_still_being_written_are_not_saved_over(sample: Path) -> None:
    edit = TrajectoryEdit(sample)
    with open(sample / "steps.jsonl", "a") as handle:  # a recorder appends meanwhile
        handle.write(json.dumps({"index": 6, "time": 2000.0, "actor": "human", "action": "wait",
                                 "screenshot": None}) + "\n")
    edit.delete_step(0)
    with pytest.raises(TrajectoryEditError, match="changed on disk"):
        edit.save()

    lines = (sample / "steps.jsonl").read_text().splitlines()
    lines.insert(2, "{not json")
    (sample / "steps.jsonl").write_text("\n".join(lines) + "\n")
    broken = TrajectoryEdit(sample)
    assert broken.blocking_problems
    broken.delete_step(0)
    with pytest.raises(TrajectoryEditError, match="would drop step lines"):
        broken.save()
    assert "{not json" in (sample / "steps.jsonl").read_text()


def test_every_screenshot_format_loads_with_its_marks_in_the_right_place(sample: Path) -> None:
    edit = TrajectoryEdit(sample)
    assert edit.origin == ORIGIN
    for position, step in enumerate(edit.steps[:5]):
        image = marked_screenshot(sample, step, edit.origin)
        assert image.size == SIZE, FORMATS[position]
        plain = screen_image(position)
        marks = step_marks(step, edit.origin)
        if marks.point is not None:
            x, y = marks.point
            red = image.getpixel((x, y))
            assert red[0] > 180 and red[1] < 90 and red[2] < 90, (FORMATS[position], red)
            assert plain.getpixel((x, y)) != red
    first = step_marks(edit.steps[0], edit.origin)
    assert first.point == (100, 50) and first.rect == (80, 30, 120, 70)
    drag = step_marks(edit.steps[1], edit.origin)
    assert drag.point == (300, 100) and drag.end == (600, 150)
    assert step_marks(edit.steps[2], edit.origin) == trajectory_edit.StepMarks()  # typing: nothing to mark
    assert isinstance(image, Image.Image)
