"""Editing a saved trajectory (the review window's core; no Qt): descriptions, thoughts, deleted steps, the task.

    edit = TrajectoryEdit("~/.local/share/pcagent/trajectories/rec-20250101-120000")
    edit.set_thought(2, "I open the menu to find Save As")   # source "human", time now
    edit.set_action_description(2, "Open the File menu")
    edit.delete_step(0)                                      # later steps and their screenshots renumber
    edit.set_task("Save the report as PDF", "medium")
    edit.save()                                              # `pcagent trace check` accepts the result

Saving never changes the folder in place. The new trajectory is built beside it in a hidden folder
(screenshots hard-linked, so even a long recording saves in moments), then the two folders are exchanged in
one step (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames) and the old one is removed. A crash
at any moment leaves either the old trajectory or the new one; opening it again finishes or undoes an
interrupted save (:func:`recover_interrupted_save`).

A trajectory whose steps file has lines the reader had to skip cannot be saved (that would drop them), and
neither can one that changed on disk since it was opened (a recorder still writing it).
"""

from __future__ import annotations

import copy
import ctypes
import errno
import glob
import json
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from grounding.base import load_screenshot
from grounding.marks import mark_drag, mark_point
from pcagent.cli.record import DIFFICULTIES
from tracker.format.actions import ActionError
from tracker.format.trajectory import (
    META_FILE,
    SCREENSHOT_DIR,
    STEPS_FILE,
    Problem,
    Step,
    TrajectoryError,
    desktop_origin,
    is_temporary_file,
    read_trajectory,
    screenshot_name,
)

__all__ = ["DIFFICULTIES", "HUMAN_THOUGHT_SOURCE", "StepMarks", "TrajectoryEdit", "TrajectoryEditError",
           "marked_screenshot", "recover_interrupted_save", "step_marks"]

HUMAN_THOUGHT_SOURCE = "human"
_PATH_KEYS = ("screenshot", "marked_screenshot")  # step fields that name a file of the trajectory
_NUMBERED = re.compile(r"(\d{6})\.([a-z0-9]+(?:\.[a-z0-9]+)*)")  # "000003.png", "000003.marked.png"
_SAVING, _OLD = "saving", "old"


class TrajectoryEditError(Exception):
    """A trajectory that cannot be edited or saved as asked; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------
# Marks: where a step acted, in its screenshot's pixels


@dataclass(frozen=True)
class StepMarks:
    """What to draw on a step's screenshot: the point acted on, a drag's end, the element's rectangle."""

    point: tuple[int, int] | None = None
    end: tuple[int, int] | None = None
    rect: tuple[int, int, int, int] | None = None


def step_marks(step: Step, origin: tuple[int, int] = (0, 0)) -> StepMarks:
    """The step's marks in screenshot pixels (desktop coordinates minus ``origin``)."""
    ox, oy = origin
    try:
        action = step.parsed_action()
    except ActionError:
        action = None
    point = action.point if action is not None else None
    end = action.end if action is not None else None
    if point is None and action is not None and action.kind.endswith("click"):
        point = step.pointer  # "click element: ..." steps: where the pointer was
    rect = (step.element or {}).get("rect")
    valid_rect = isinstance(rect, list) and len(rect) == 4 and all(isinstance(v, int) for v in rect)
    return StepMarks(point=(point[0] - ox, point[1] - oy) if point else None,
                     end=(end[0] - ox, end[1] - oy) if end else None,
                     rect=(rect[0] - ox, rect[1] - oy, rect[2] - ox, rect[3] - oy) if valid_rect else None)


def marked_screenshot(root: Path | str, step: Step, origin: tuple[int, int] = (0, 0)) -> Image.Image | None:
    """The step's screenshot (any stored format) with its marks drawn; None when the step has none.

    Raises grounding's InvalidScreenshot for a file that cannot be read. Slow on large screens: call it
    off the UI thread.
    """
    if not step.screenshot:
        return None
    image = load_screenshot(Path(root) / step.screenshot)
    marks = step_marks(step, origin)
    if marks.point is not None and marks.end is not None:
        image = mark_drag(image, marks.point, marks.end)
        if marks.rect is not None:
            _outline(image, marks.rect)
    elif marks.point is not None:
        image = mark_point(image, marks.point, marks.rect)
    elif marks.rect is not None:
        _outline(image, marks.rect)
    return image


def _outline(image: Image.Image, rect: tuple[int, int, int, int]) -> None:
    """The element's rectangle alone (a typed text's field), as mark_point draws it."""
    width = max(2, round(3 * max(min(image.size) / 800, 0.5)))
    ImageDraw.Draw(image).rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), outline="red", width=width)


# ---------------------------------------------------------------------------------------------------
# Editing


def _stamp(root: Path) -> tuple:
    """What changes when anyone else writes the trajectory: the files' sizes and modification times."""
    stamps = []
    for name in (META_FILE, STEPS_FILE):
        try:
            stat = (root / name).stat()
            stamps.append((stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            stamps.append(None)
    return tuple(stamps)


class TrajectoryEdit:
    """One trajectory opened for editing. Steps are addressed by their position in ``steps`` (which
    ``delete_step`` shortens); nothing reaches the disk before ``save``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        recover_interrupted_save(self.root)
        self._load()

    def _load(self) -> None:
        self._stamp = _stamp(self.root)
        try:
            trajectory = read_trajectory(self.root)
        except TrajectoryError as error:
            raise TrajectoryEditError(str(error)) from None
        self.meta: dict = copy.deepcopy(trajectory.meta)
        self.steps: list[Step] = copy.deepcopy(trajectory.steps)
        self.problems: list[Problem] = trajectory.problems
        self.origin = desktop_origin(self.meta)
        self._deleted: list[int] = []
        self._deleted_paths: set[str] = set()
        self._edited: set[int] = set()
        self._task_changed = False

    # ---- reading --------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Whether there are edits not yet saved."""
        return bool(self._deleted or self._edited or self._task_changed)

    @property
    def blocking_problems(self) -> list[Problem]:
        """Reader errors (skipped step lines) that saving would turn into lost data."""
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def task(self) -> dict:
        task = self.meta.get("task")
        return task if isinstance(task, dict) else {}

    def _step(self, position: int) -> Step:
        if not isinstance(position, int) or not 0 <= position < len(self.steps):
            raise IndexError(f"no step at position {position!r} (the trajectory has {len(self.steps)})")
        return self.steps[position]

    # ---- edits ----------------------------------------------------------------------------------

    def set_action_description(self, position: int, text: str) -> None:
        """The step's ``action_description``; empty text removes it."""
        step = self._step(position)
        text = text.strip()
        if text == (step.extra.get("action_description") or ""):
            return
        if text:
            step.extra["action_description"] = text
        else:
            step.extra.pop("action_description", None)
        self._edited.add(step.index)

    def set_thought(self, position: int, text: str) -> None:
        """The step's thought as the human wrote it now (source "human"); empty text removes it.

        Unchanged text leaves the thought, and its source, as it was."""
        step = self._step(position)
        text = text.strip()
        current = step.extra.get("thought")
        current_text = current.get("text") if isinstance(current, dict) else current
        if text == (current_text or "").strip():
            return
        if text:
            step.extra["thought"] = {"text": text, "source": HUMAN_THOUGHT_SOURCE, "time": round(time.time(), 3)}
        else:
            step.extra.pop("thought", None)
        self._edited.add(step.index)

    def delete_step(self, position: int) -> None:
        """Remove the step; its screenshots go with it at ``save``, later steps move up one index."""
        step = self._step(position)
        del self.steps[position]
        self._deleted.append(step.index)
        self._deleted_paths.update(path for path in _paths_of(step))
        self._edited.discard(step.index)

    def set_task(self, description: str | None, difficulty: str | None) -> None:
        """meta.json's task description and difficulty (one of DIFFICULTIES, or None)."""
        if difficulty is not None and difficulty not in DIFFICULTIES:
            raise TrajectoryEditError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
        description = (description or "").strip() or None
        task = dict(self.task)
        if task.get("description") == description and task.get("difficulty") == difficulty:
            return
        task["description"], task["difficulty"] = description, difficulty
        if task.get("mode", "none") == "none" and description:
            task["mode"] = "free"  # described after recording, as `pcagent record --free` does
        self.meta["task"] = task
        self._task_changed = True

    # ---- saving ---------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the edited trajectory atomically (see the module docstring) and reload it."""
        if self.blocking_problems:
            listed = "; ".join(str(problem) for problem in self.blocking_problems[:3])
            raise TrajectoryEditError(f"{self.root}: saving would drop step lines the reader skipped ({listed}); "
                                      "repair steps.jsonl first")
        if _stamp(self.root) != self._stamp:
            raise TrajectoryEditError(f"{self.root} changed on disk since it was opened (is it still being "
                                      "recorded?); open it again to edit the new version")
        staging = _sibling(self.root, _SAVING)
        try:
            staging.mkdir()
            self._write(staging)
            _exchange(staging, self.root)
        except BaseException:
            if staging.exists() and _stamp(self.root) == self._stamp and (self.root / META_FILE).exists():
                shutil.rmtree(staging, ignore_errors=True)  # the original is untouched: drop the half-built copy
            raise
        shutil.rmtree(staging, ignore_errors=True)  # after the exchange it holds the old version
        self._load()

    def _write(self, target: Path) -> None:
        renumbered = {step.index: new for new, step in enumerate(self.steps)}
        deleted = set(self._deleted)
        (target / SCREENSHOT_DIR).mkdir()
        for entry in self.root.iterdir():
            if entry.name in (META_FILE, STEPS_FILE, SCREENSHOT_DIR) or is_temporary_file(entry.name):
                continue
            _link_tree(entry, target / entry.name)  # whatever else the folder holds travels unchanged
        moved = self._link_screenshots(target, renumbered, deleted)
        lines = []
        for new_index, step in enumerate(self.steps):
            data = step.to_dict()
            data["index"] = new_index
            for key in _PATH_KEYS:
                if isinstance(data.get(key), str):
                    data[key] = moved.get(data[key], data[key])
            Step.from_dict(data)  # what the reader will check
            lines.append(json.dumps(data, ensure_ascii=False) + "\n")
        meta = copy.deepcopy(self.meta)
        if self.dirty:
            reviews = meta.get("reviews") if isinstance(meta.get("reviews"), list) else []
            meta["reviews"] = [*reviews, {
                "time": round(time.time(), 3), "deleted_steps": sorted(deleted),
                "edited_steps": sorted(renumbered[i] for i in self._edited if i in renumbered),
                "task_changed": self._task_changed}]
        _write_synced(target / STEPS_FILE, "".join(lines).encode("utf-8"))
        _write_synced(target / META_FILE, (json.dumps(meta, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
        _sync_dir(target / SCREENSHOT_DIR)
        _sync_dir(target)

    def _link_screenshots(self, target: Path, renumbered: dict[int, int], deleted: set[int]) -> dict[str, str]:
        """Carry screenshots/ over: a step's numbered files follow its new index, a deleted step's are left
        behind, anything else keeps its name. Returns {old relative path: new relative path}."""
        source = self.root / SCREENSHOT_DIR
        moved: dict[str, str] = {}
        if not source.is_dir():
            return moved
        kept = {path for step in self.steps for path in _paths_of(step)}
        for entry in sorted(source.iterdir()):
            relative = f"{SCREENSHOT_DIR}/{entry.name}"
            match = _NUMBERED.fullmatch(entry.name)
            old_index = int(match.group(1)) if match else None
            if is_temporary_file(entry.name) or (relative not in kept and (
                    relative in self._deleted_paths or old_index in deleted)):
                continue  # a deleted step's images leave with it
            new_relative = relative
            if old_index in renumbered:
                new_relative = screenshot_name(renumbered[old_index], match.group(2))
            destination = target / new_relative
            if destination.exists():
                raise TrajectoryEditError(f"{relative} would be renamed to {new_relative}, which another file "
                                          "of the trajectory already uses")
            _link_tree(entry, destination)
            moved[relative] = new_relative
        return moved


# ---------------------------------------------------------------------------------------------------
# Files


def _paths_of(step: Step) -> list[str]:
    return [path for path in (step.screenshot, step.extra.get("marked_screenshot")) if isinstance(path, str)]


def _sibling(root: Path, kind: str) -> Path:
    return root.with_name(f".{root.name}.{kind}-{uuid.uuid4().hex[:8]}")


def _siblings(root: Path, kind: str) -> list[Path]:
    return sorted(root.parent.glob(f".{glob.escape(root.name)}.{kind}-*"))


def _link_tree(source: Path, destination: Path) -> None:
    """Hard-link a file (copy where links are impossible), or a folder's files recursively."""
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, destination, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(source, destination)


def _link_or_copy(source: str | Path, destination: str | Path) -> None:
    if Path(source).is_symlink():
        os.symlink(os.readlink(source), destination)
        return
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _renameat2_exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux 3.15+, glibc 2.28+); False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # a filesystem or kernel without RENAME_EXCHANGE
    raise OSError(error, os.strerror(error), str(second))


def _exchange(staging: Path, root: Path) -> None:
    """Put the staged trajectory at ``root``; the old one ends at ``staging``."""
    if _renameat2_exchange(staging, root):
        _sync_dir(root.parent)
        return
    # Two renames: a crash between them leaves no folder at root, only the hidden old one, which
    # recover_interrupted_save puts back.
    old = _sibling(root, _OLD)
    os.rename(root, old)
    os.rename(staging, root)
    os.rename(old, staging)
    _sync_dir(root.parent)


def recover_interrupted_save(root: Path | str) -> None:
    """Finish what a save cut short: put the old trajectory back if a crash left none at ``root``, and
    remove the hidden folders a save leaves beside it."""
    root = Path(root).expanduser()
    if not root.parent.is_dir():
        return
    old = _siblings(root, _OLD)
    if not root.exists() and old:
        os.rename(old[-1], root)
        old = old[:-1]
    if root.exists():
        for leftover in (*old, *_siblings(root, _SAVING)):
            shutil.rmtree(leftover, ignore_errors=True)
