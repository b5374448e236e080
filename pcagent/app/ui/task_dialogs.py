"""Asking for a recording's task: one from a task list file, one typed now, and after a free-task recording
its description and difficulty (as `pcagent record --free` asks in the terminal).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pcagent.app.controller import ControllerError, given_task, task_from_file
from pcagent.cli.record import DIFFICULTIES, TaskFileError, read_task_list, task_text

__all__ = ["FreeTaskDescription", "ask_task_from_file", "ask_task_text", "task_choices"]


def task_choices(path: Path) -> list[tuple[str, str]]:
    """(id, text) of every task in a task list file, for the person to pick from."""
    try:
        tasks = read_task_list(path)
    except TaskFileError as exc:
        raise ControllerError(str(exc)) from exc
    choices = [(str(entry["id"]), str(task_text(entry) or "")) for entry in tasks if entry.get("id") is not None]
    if not choices:
        raise ControllerError(f"{path}: no task with an id in it")
    return choices


def ask_task_from_file(parent: QWidget | None) -> dict | None:
    """Pick a task list file and one task in it; None when the person cancels."""
    name, _ = QFileDialog.getOpenFileName(parent, "Task list", str(Path.home()), "Task lists (*.json);;All files (*)")
    if not name:
        return None
    choices = task_choices(Path(name))
    labels = [f"{task_id}: {text[:90]}" for task_id, text in choices]
    label, ok = QInputDialog.getItem(parent, "Task", "Which task will you do?", labels, 0, False)
    if not ok:
        return None
    return task_from_file(name, choices[labels.index(label)][0])


def ask_task_text(parent: QWidget | None) -> dict | None:
    text, ok = QInputDialog.getText(parent, "Task", "Which task will you do?")
    if not ok or not text.strip():
        return None
    return given_task(text)


class FreeTaskDescription(QWidget):
    """After a free-task recording: describe and rate it. Emits `described(path, description, difficulty)`;
    "Later" leaves the recording as it is (nothing is deleted)."""

    described = Signal(str, str, str)

    def __init__(self, trajectory: str) -> None:
        super().__init__(None, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.trajectory = trajectory
        self.setWindowTitle("pcagent: describe the task")
        self.description = QLineEdit()
        self.description.setMinimumWidth(420)
        self.description.setPlaceholderText("What task did you just do?")
        self.difficulty = QComboBox()
        self.difficulty.addItems(DIFFICULTIES)
        self.difficulty.setCurrentText("medium")
        buttons = QDialogButtonBox()
        self.save = buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        later = buttons.addButton("Later", QDialogButtonBox.ButtonRole.RejectRole)
        self.save.clicked.connect(self._save)
        later.clicked.connect(self.close)
        self.description.returnPressed.connect(self._save)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Describe the task you recorded in\n{trajectory}"))
        layout.addWidget(self.description)
        layout.addWidget(QLabel("Difficulty"))
        layout.addWidget(self.difficulty)
        layout.addWidget(buttons)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close()  # "Later"
            return
        super().keyPressEvent(event)

    def _save(self) -> None:
        if self.description.text().strip():
            self.described.emit(self.trajectory, self.description.text().strip(), self.difficulty.currentText())
            self.close()
