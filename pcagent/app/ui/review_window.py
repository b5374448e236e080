"""The review window: a trajectory's steps with their marked screenshots, edited and saved in the format.

Left, the steps (position, actor, action); right, the chosen step's screenshot with where it acted marked (the
click point, the drag arrow, the element's rectangle), who acted, the approval decision, the thought and who
wrote it, the action description. Above, the task's description and difficulty. Edits stay in a
`TrajectoryEdit` (Qt-free) until Save, which writes atomically on a worker thread; screenshots are decoded
and marked on worker threads too, so a large JPEG XL never stalls the window.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import (
    QBrush,
    QCloseEvent,
    QColor,
    QImage,
    QKeySequence,
    QPainter,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from models.text_excerpt import escape_controls, shorten
from pcagent.app.trajectory_edit import DIFFICULTIES, TrajectoryEdit, marked_screenshot
from pcagent.app.ui.approval_panel import qimage_from_pil
from tracker.format.trajectory import Step

__all__ = ["ReviewWindow", "ScreenshotView", "choose_trajectory"]

_DISPLAY_LIMIT = QSize(1920, 1200)  # screenshots are scaled to fit this before they reach the UI thread
_CACHED_IMAGES = 6
_NO_DIFFICULTY = "—"


def choose_trajectory(parent: QWidget | None, start: Path) -> Path | None:
    """Ask for a trajectory folder, starting in ``start`` (the trajectories folder)."""
    folder = QFileDialog.getExistingDirectory(parent, "Review a trajectory", str(start))
    return Path(folder) if folder else None


class _Relay(QObject):
    """Carries a worker's result to the UI thread (a queued signal)."""

    image_ready = Signal(int, str, QImage, str)  # generation, screenshot path, image (null on failure), error
    saved = Signal(str)  # "" on success, else the error


class _ImageJob(QRunnable):
    def __init__(self, relay: _Relay, generation: int, root: Path, step: Step, origin: tuple[int, int]) -> None:
        super().__init__()
        self._relay, self._generation, self._root, self._step, self._origin = relay, generation, root, step, origin

    def run(self) -> None:
        try:
            image = marked_screenshot(self._root, self._step, self._origin)
            image.thumbnail((_DISPLAY_LIMIT.width(), _DISPLAY_LIMIT.height()))
            self._relay.image_ready.emit(self._generation, self._step.screenshot, qimage_from_pil(image), "")
        except Exception as exc:  # noqa: BLE001 - any failure is shown in place of the picture
            self._relay.image_ready.emit(self._generation, self._step.screenshot, QImage(), str(exc))


class _SaveJob(QRunnable):
    def __init__(self, relay: _Relay, edit: TrajectoryEdit) -> None:
        super().__init__()
        self._relay, self._edit = relay, edit

    def run(self) -> None:
        try:
            self._edit.save()
            self._relay.saved.emit("")
        except Exception as exc:  # noqa: BLE001 - shown to the person; the trajectory is unchanged
            self._relay.saved.emit(str(exc) or type(exc).__name__)


class ScreenshotView(QWidget):
    """A picture scaled to fit, keeping its aspect ratio; a message where there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 200)
        self._image = QImage()
        self._scaled: QPixmap | None = None
        self._message = ""

    @property
    def image(self) -> QImage:
        return self._image

    def show_image(self, image: QImage) -> None:
        self._image, self._scaled, self._message = image, None, ""
        self.update()

    def show_message(self, message: str) -> None:
        self._image, self._scaled, self._message = QImage(), None, message
        self.update()

    def resizeEvent(self, event) -> None:
        self._scaled = None
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(48, 48, 48))
        if self._image.isNull():
            painter.setPen(QColor(220, 220, 220))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._message)
            return
        if self._scaled is None or self._scaled.size() != self._image.size().scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio):
            self._scaled = QPixmap.fromImage(self._image.scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        x = (self.width() - self._scaled.width()) // 2
        y = (self.height() - self._scaled.height()) // 2
        painter.drawPixmap(x, y, self._scaled)


def _plain_label(object_name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(object_name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # model text is never read as markup
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _thought_of(step: Step) -> tuple[str, str]:
    """(text, a line saying who wrote it and when)."""
    thought = step.extra.get("thought")
    if isinstance(thought, str):
        return thought, "source unknown"
    if not isinstance(thought, dict) or not isinstance(thought.get("text"), str):
        return "", "no thought"
    source = str(thought.get("source") or "unknown")
    written = thought.get("time")
    when = time.strftime(" at %H:%M:%S", time.localtime(written)) if isinstance(written, (int, float)) else ""
    return thought["text"], f"by {escape_controls(source)}{when}"


def _decision_of(step: Step) -> str:
    decision = step.extra.get("decision")
    if not isinstance(decision, dict):
        return "—" if step.actor == "agent" else "(a person's own step)"
    text = f"{decision.get('verdict', '?')} by {decision.get('by', '?')}"
    if decision.get("action"):
        text += f": {decision['action']}"
    if decision.get("note"):
        text += f" ({decision['note']})"
    return escape_controls(str(text))


class ReviewWindow(QMainWindow):
    """One trajectory under review. Raises TrajectoryEditError when the folder cannot be opened."""

    saved = Signal(Path)

    def __init__(self, root: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = TrajectoryEdit(root)
        # No parent: a job still running as the window goes keeps its relay alive (its Python reference).
        self._relay = _Relay()
        self._relay.image_ready.connect(self._image_ready)
        self._relay.saved.connect(self._save_finished)
        self._pool = QThreadPool(self)
        self._images: OrderedDict[str, QImage] = OrderedDict()
        self._generation = 0  # counts saves: a path means one step's screenshot only within a generation
        self._position: int | None = None
        self._shown = ("", "")  # the thought and description as shown, to tell an edit from a display
        self._saving = False
        self._close_after_save = False
        self._build()
        self._fill()

    # ---- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        self.setObjectName("review_window")
        self.resize(1180, 760)
        central = QWidget(self)
        outer = QVBoxLayout(central)

        task_row = QHBoxLayout()
        task_row.addWidget(QLabel("Task:"))
        self.task_description = QLineEdit(objectName="task_description")
        self.task_description.setPlaceholderText("What the person or agent set out to do")
        self.task_description.textEdited.connect(self._mark_dirty)
        task_row.addWidget(self.task_description, 1)
        task_row.addWidget(QLabel("Difficulty:"))
        self.difficulty = QComboBox(objectName="difficulty")
        self.difficulty.addItems([_NO_DIFFICULTY, *DIFFICULTIES])
        self.difficulty.activated.connect(self._mark_dirty)
        task_row.addWidget(self.difficulty)
        outer.addLayout(task_row)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.step_list = QListWidget(objectName="steps")
        self.step_list.currentRowChanged.connect(self._select)
        splitter.addWidget(self.step_list)

        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        self.screenshot = ScreenshotView()
        self.screenshot.setObjectName("screenshot")
        detail_layout.addWidget(self.screenshot, 1)
        form = QFormLayout()
        self.actor_label = _plain_label("actor")
        self.action_label = _plain_label("action")
        self.decision_label = _plain_label("decision")
        self.thought_source = _plain_label("thought_source")
        self.thought_edit = QPlainTextEdit(objectName="thought")
        self.thought_edit.setPlaceholderText("Why this step? (saved as the person's thought)")
        self.thought_edit.setFixedHeight(72)
        self.thought_edit.textChanged.connect(self._mark_dirty)
        self.description_edit = QLineEdit(objectName="action_description")
        self.description_edit.setPlaceholderText("What the step does, in words")
        self.description_edit.textEdited.connect(self._mark_dirty)
        form.addRow("Actor:", self.actor_label)
        form.addRow("Action:", self.action_label)
        form.addRow("Approval:", self.decision_label)
        form.addRow("Thought:", self.thought_edit)
        form.addRow("", self.thought_source)
        form.addRow("Description:", self.description_edit)
        detail_layout.addLayout(form)
        splitter.addWidget(detail)
        splitter.setSizes([330, 850])
        outer.addWidget(splitter, 1)

        buttons = QHBoxLayout()
        self.delete_button = QPushButton("Delete step", objectName="delete_step")
        self.delete_button.clicked.connect(self.delete_current_step)
        buttons.addWidget(self.delete_button)
        self.status = _plain_label("status")
        buttons.addWidget(self.status, 1)
        self.save_button = QPushButton("Save", objectName="save")
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.save_button)
        outer.addLayout(buttons)
        self.setCentralWidget(central)
        QShortcut(QKeySequence.StandardKey.Save, self, activated=self.save)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self.step_list, activated=self.delete_current_step)

    def _fill(self) -> None:
        """Show the edit's current state (after opening, deleting or saving)."""
        task = self.edit.task
        self.task_description.setText(escape_controls(str(task.get("description") or "")))
        difficulty = task.get("difficulty")
        self.difficulty.setCurrentText(difficulty if difficulty in DIFFICULTIES else _NO_DIFFICULTY)
        row = self.step_list.currentRow()
        self.step_list.blockSignals(True)
        self.step_list.clear()
        for position, step in enumerate(self.edit.steps):
            item = QListWidgetItem(f"{position:>3}  {step.actor:<5}  {shorten(escape_controls(step.action), 70)}")
            if step.actor == "agent":
                item.setForeground(QBrush(QColor(30, 80, 170)))
            self.step_list.addItem(item)
        self.step_list.blockSignals(False)
        self._position = None
        blocking = self.edit.blocking_problems
        self.save_button.setEnabled(not blocking)
        if blocking:
            self._say(f"Read-only: {len(blocking)} step line(s) could not be read ({blocking[0]}); "
                      "saving would lose them.")
        else:
            self._say(f"{len(self.edit.steps)} steps in {self.edit.root}")
        self._title()
        if self.edit.steps:
            self.step_list.setCurrentRow(min(max(row, 0), len(self.edit.steps) - 1))
        else:
            self._select(-1)

    def _title(self) -> None:
        self.setWindowTitle(f"Review — {self.edit.root.name}{' *' if self.has_unsaved_edits() else ''}")

    def _say(self, message: str) -> None:
        self.status.setText(message)

    # ---- steps ----------------------------------------------------------------------------------

    def _select(self, position: int) -> None:
        self._commit_fields()
        self._position = position if 0 <= position < len(self.edit.steps) else None
        editable = self._position is not None
        for widget in (self.thought_edit, self.description_edit, self.delete_button):
            widget.setEnabled(editable)
        if not editable:
            for label in (self.actor_label, self.action_label, self.decision_label, self.thought_source):
                label.clear()
            self._set_fields("", "")
            self.screenshot.show_message("No steps")
            return
        step = self.edit.steps[position]
        self.actor_label.setText(step.actor)
        self.action_label.setText(escape_controls(step.action, keep="\n"))
        self.decision_label.setText(_decision_of(step))
        thought, source = _thought_of(step)
        self.thought_source.setText(source)
        self._set_fields(escape_controls(thought, keep="\n"),
                         escape_controls(str(step.extra.get("action_description") or "")))
        self._show_screenshot(step)

    def _set_fields(self, thought: str, description: str) -> None:
        for widget in (self.thought_edit, self.description_edit):
            widget.blockSignals(True)
        self.thought_edit.setPlainText(thought)
        self.description_edit.setText(description)
        for widget in (self.thought_edit, self.description_edit):
            widget.blockSignals(False)
        self._shown = (thought, description)

    def _commit_fields(self) -> None:
        """Hand what the person changed in the step's fields to the edit (untouched fields stay as read)."""
        if self._position is None:
            return
        thought, description = self.thought_edit.toPlainText(), self.description_edit.text()
        if thought != self._shown[0]:
            self.edit.set_thought(self._position, thought)
        if description != self._shown[1]:
            self.edit.set_action_description(self._position, description)
        self._shown = (thought, description)

    def _show_screenshot(self, step: Step) -> None:
        if not step.screenshot:
            self.screenshot.show_message("This step has no screenshot")
            return
        cached = self._images.get(step.screenshot)
        if cached is not None:
            self._images.move_to_end(step.screenshot)
            self.screenshot.show_image(cached)
            return
        self.screenshot.show_message("Loading…")
        job_step = dataclasses.replace(step, extra={})  # the worker reads only where the step acted
        self._pool.start(_ImageJob(self._relay, self._generation, self.edit.root, job_step, self.edit.origin))

    def _image_ready(self, generation: int, path: str, image: QImage, error: str) -> None:
        if generation != self._generation or self._saving:
            return  # loaded before a save renamed the screenshots: the path may name another step's now
        if not image.isNull():
            self._images[path] = image
            while len(self._images) > _CACHED_IMAGES:
                self._images.popitem(last=False)
        current = self.current_step()
        if current is None or current.screenshot != path:
            return  # the person moved on meanwhile
        if image.isNull():
            self.screenshot.show_message(f"Cannot show {path}: {error}")
        else:
            self.screenshot.show_image(image)

    def current_step(self) -> Step | None:
        return self.edit.steps[self._position] if self._position is not None else None

    def delete_current_step(self) -> None:
        if self._position is None or self._saving:
            return
        self._commit_fields()
        position = self._position
        self._position = None  # its fields were committed; the list now moves on
        self.edit.delete_step(position)
        self.step_list.setCurrentRow(-1)
        self._fill()
        if self.edit.steps:
            self.step_list.setCurrentRow(min(position, len(self.edit.steps) - 1))
        self._say(f"Step {position} deleted (its screenshot goes at Save)")
        self._title()

    # ---- saving ---------------------------------------------------------------------------------

    def _mark_dirty(self, *_: object) -> None:
        self._title()

    def has_unsaved_edits(self) -> bool:
        if not hasattr(self, "thought_edit"):
            return False
        fields_changed = (self.thought_edit.toPlainText(), self.description_edit.text()) != self._shown
        difficulty = self.difficulty.currentText()
        task = self.edit.task
        task_changed = (self.task_description.text().strip() != escape_controls(str(task.get("description") or ""))
                        or (difficulty if difficulty in DIFFICULTIES else None) != task.get("difficulty"))
        return self.edit.dirty or fields_changed or task_changed

    def save(self) -> None:
        """Save on a worker thread; the window waits (disabled) and reloads what was written."""
        if self._saving or not self.save_button.isEnabled():
            return
        self._commit_fields()
        difficulty = self.difficulty.currentText()
        task = self.edit.task
        description = self.task_description.text()
        if description != escape_controls(str(task.get("description") or "")) or \
                (difficulty if difficulty in DIFFICULTIES else None) != task.get("difficulty"):
            self.edit.set_task(description, difficulty if difficulty in DIFFICULTIES else None)
        self._saving = True
        self._generation += 1  # what is still loading may show a step whose file a save renames
        self.centralWidget().setEnabled(False)
        self._say("Saving…")
        self._pool.start(_SaveJob(self._relay, self.edit))

    def _save_finished(self, error: str) -> None:
        self._saving = False
        self.centralWidget().setEnabled(True)
        self._images.clear()  # renumbered steps' screenshots have new names
        if error:
            self._close_after_save = False
            self._say(f"Not saved: {error}")
            QMessageBox.warning(self, "Review", f"The trajectory was not saved:\n\n{error}")
            return
        self._fill()
        self._say(f"Saved {self.edit.root}")
        self.saved.emit(self.edit.root)
        if self._close_after_save:
            self.close()

    def is_saving(self) -> bool:
        return self._saving

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._saving:
            event.ignore()
            return
        if self.has_unsaved_edits():
            answer = QMessageBox.question(
                self, "Review", "Save the changes to this trajectory?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel)
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            if answer == QMessageBox.StandardButton.Save:
                event.ignore()
                self._close_after_save = True
                self.save()
                return
        self._pool.waitForDone(5000)
        event.accept()
