"""The review window (pcagent.app.ui.review_window) on the test bed's X display: it shows each step's marked
screenshot in every stored format, edits thoughts, descriptions and the task, deletes steps, and saves a
trajectory that `trace check` accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from pcagent.app.ui.review_window import ReviewWindow
from tests.review_samples import FORMATS, STEPS, write_review_sample
from tracker.format.trajectory import read_trajectory
from tracker.format.trajectory_check import check_trajectory

pytestmark = pytest.mark.display


@pytest.fixture
def window(qtbot, tmp_path: Path) -> ReviewWindow:
    root = write_review_sample(tmp_path / "rec-review")
    review = ReviewWindow(root)
    qtbot.addWidget(review)
    review.show()
    qtbot.waitExposed(review)
    return review


def wait_for_picture(qtbot, review: ReviewWindow) -> None:
    qtbot.waitUntil(lambda: not review.screenshot.image.isNull(), timeout=10000)


def is_red(color) -> bool:
    return color.red() > 180 and color.green() < 90 and color.blue() < 90


def test_every_step_shows_its_screenshot_with_the_mark_and_its_details(qtbot, window: ReviewWindow) -> None:
    assert window.step_list.count() == len(STEPS)
    for row, fmt in enumerate(FORMATS):
        window.step_list.setCurrentRow(row)
        wait_for_picture(qtbot, window)
        assert window.screenshot.image.size().toTuple() == (800, 300), fmt
    window.step_list.setCurrentRow(0)
    wait_for_picture(qtbot, window)
    assert is_red(window.screenshot.image.pixelColor(100, 50))  # click (-300, 50) on a desktop starting at -400
    assert window.actor_label.text() == "human"
    assert window.thought_edit.toPlainText() == "Open the file menu"
    assert window.thought_source.text().startswith("by human at ")
    window.step_list.setCurrentRow(3)
    wait_for_picture(qtbot, window)
    assert window.actor_label.text() == "agent" and window.thought_source.text() == "by agent"
    assert window.decision_label.text() == "edit by user: double click (100, 200) (moved down)"
    assert is_red(window.screenshot.image.pixelColor(500, 200))
    assert window.task_description.text() == "Tidy the sample app" and window.difficulty.currentText() == "easy"


def test_edits_deletes_and_the_task_are_saved_and_trace_check_accepts_them(qtbot, window: ReviewWindow) -> None:
    root = window.edit.root
    window.step_list.setCurrentRow(1)  # the agent's drag
    window.thought_edit.clear()
    qtbot.keyClicks(window.thought_edit, "The square belongs on the right")
    window.description_edit.clear()
    qtbot.keyClicks(window.description_edit, "Drag the blue square to the right screen")
    window.step_list.setCurrentRow(2)
    qtbot.keyClicks(window.thought_edit, "Greet the user")
    window.step_list.setCurrentRow(0)
    qtbot.mouseClick(window.delete_button, Qt.MouseButton.LeftButton)
    assert window.step_list.count() == len(STEPS) - 1
    assert window.windowTitle().endswith(" *")
    window.task_description.selectAll()
    qtbot.keyClicks(window.task_description, "Move the square and greet")
    window.difficulty.setCurrentText("hard")
    qtbot.mouseClick(window.save_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.saved, timeout=10000):
        pass
    assert not window.has_unsaved_edits() and not window.windowTitle().endswith("*")

    assert [p for p in check_trajectory(root) if p.severity == "error"] == []
    saved = read_trajectory(root)
    assert [s.action for s in saved.steps] == [action for _, action, _ in STEPS[1:]]
    assert [s.index for s in saved.steps] == list(range(len(STEPS) - 1))
    drag, typing = saved.steps[0], saved.steps[1]
    assert drag.extra["thought"]["text"] == "The square belongs on the right"
    assert drag.extra["thought"]["source"] == "human"
    assert drag.extra["action_description"] == "Drag the blue square to the right screen"
    assert typing.extra["thought"]["text"] == "Greet the user" and typing.extra["thought"]["source"] == "human"
    assert saved.steps[2].extra["thought"] == STEPS[3][2]["thought"]  # an untouched agent thought stays the agent's
    assert saved.meta["task"]["description"] == "Move the square and greet"
    assert saved.meta["task"]["difficulty"] == "hard"
    assert not (root / "screenshots" / "000005.png").exists()  # five steps now: 0..4
    # The reloaded window shows the saved state, screenshots under their new names included.
    window.step_list.setCurrentRow(0)
    wait_for_picture(qtbot, window)
    assert window.thought_source.text().startswith("by human at ")


def test_a_trajectory_with_unreadable_lines_opens_read_only(qtbot, tmp_path: Path) -> None:
    root = write_review_sample(tmp_path / "damaged")
    lines = (root / "steps.jsonl").read_text().splitlines()
    lines[1] = json.dumps({"index": 1})  # no time, actor or action: the reader skips it
    (root / "steps.jsonl").write_text("\n".join(lines) + "\n")
    review = ReviewWindow(root)
    qtbot.addWidget(review)
    assert not review.save_button.isEnabled()
    assert review.status.text().startswith("Read-only: 1 step line(s) could not be read")
