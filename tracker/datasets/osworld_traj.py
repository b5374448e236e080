"""A trajectory as OSWorld's per-task results: ``traj.jsonl`` and the screenshot after each step.

The one writer for both the evaluation harness (pcagent.eval.results) and ``pcagent trace export --format
osworld``. In the task's result folder:

- ``traj.jsonl``: one line per step, ``{step_num, action_timestamp, action, response, reward, done, info,
  screenshot_file}`` as OSWorld's runner writes it: ``step_num`` from 1; ``action_timestamp`` local time as
  ``%Y%m%d@%H%M%S``; ``action`` the step as pyautogui calls (``DONE`` / ``FAIL`` / ``WAIT`` for those; data
  only, never run); ``response`` the thought; ``info`` ``{actor, pcagent_action, index, time, thought}``
  (the canonical action, the unix time, the thought's provenance without its text: source, model, pass...;
  so that an import gets them back exactly);
- ``step_<n>_<timestamp>.png``: the screen after step n: the next step's "before" screenshot, and for the
  last step the final screen when one is known (the harness grabs it; an imported trajectory keeps it as
  meta.json's ``final_screenshot``), else no file and ``screenshot_file`` null;
- ``step_0_<timestamp>.png``: the screen before the first step. OSWorld's runner does not save it; pcagent
  does, so that an import loses no screenshot;
- ``result.txt``: the evaluator's score; the harness writes it (pcagent.eval.results), an export only for a
  trajectory that carries one;
- ``task.json`` (export only): ``{"id", "instruction"}`` in OSWorld's task-file shape, as the result folder
  has no other place for the task (the harness's result.json holds it).

Screenshots are written as PNG whatever the trajectory stores (tracker.datasets.sources.png_bytes).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from tracker.datasets.samples import SampleCounts, thought_of
from tracker.datasets.sources import (
    DatasetError, in_parallel, png_bytes, task_text, trajectory_file, unique_folder_name,
)
from tracker.format.action_convert import to_pyautogui
from tracker.format.actions import ActionError, parse_action
from tracker.format.trajectory import Step, Trajectory

__all__ = ["OSWorldExport", "RESULT_FILE", "TASK_FILE", "TIMESTAMP_FORMAT", "TRAJ_FILE", "TRAJ_FIELDS",
           "initial_screenshot_name", "pyautogui_text",
           "write_osworld_steps"]

TRAJ_FILE = "traj.jsonl"
RESULT_FILE = "result.txt"
TASK_FILE = "task.json"
TRAJ_FIELDS = ("step_num", "action_timestamp", "action", "response", "reward", "done", "info", "screenshot_file")
TIMESTAMP_FORMAT = "%Y%m%d@%H%M%S"
_TERMINAL = {"finish": "DONE", "fail": "FAIL", "wait": "WAIT"}


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds).strftime(TIMESTAMP_FORMAT)


def initial_screenshot_name(first_step_time: float) -> str:
    """The file name of the screen before the first step (pcagent's addition to OSWorld's layout)."""
    return f"step_0_{_stamp(first_step_time)}.png"


def pyautogui_text(action_text: str) -> str:
    """The step as OSWorld's pyautogui action space writes it (data only: never run); the canonical text
    itself for what pyautogui cannot say (an element click, call user)."""
    try:
        action = parse_action(action_text)
    except ActionError:
        return action_text
    if action.kind in _TERMINAL:
        return _TERMINAL[action.kind]
    try:
        calls = to_pyautogui(action)
    except ActionError:
        return action_text
    parts = [f"pyautogui.{name}({', '.join([repr(a) for a in args] + [f'{k}={v!r}' for k, v in kwargs.items()])})"
             for name, args, kwargs in calls]
    return "; ".join(parts) or action_text


def _info(step: Step) -> dict[str, Any]:
    info: dict[str, Any] = {"actor": step.actor, "pcagent_action": step.action, "index": step.index,
                            "time": step.time}
    thought = step.extra.get("thought")
    if isinstance(thought, dict) and thought.get("source"):
        info["thought"] = {key: value for key, value in thought.items() if key != "text"}
    return info


def write_osworld_steps(trajectory: Trajectory, result_dir: Path | str,
                        final_screen: Image.Image | None = None) -> int:
    """Write traj.jsonl and the step screenshots of ``trajectory`` into ``result_dir``; the number of steps.

    ``final_screen`` is the screen after the last step (the evaluation harness grabs it); without one the
    trajectory's own ``final_screenshot`` (meta.json) is used when it has one.
    """
    result_dir = Path(result_dir)
    result_dir.mkdir(parents=True, exist_ok=True)
    steps = trajectory.steps
    final = trajectory.meta.get("final_screenshot")
    copies: list[tuple[Path, str]] = []  # (file to write, trajectory image): converted in parallel below
    if steps and steps[0].screenshot:
        copies.append((result_dir / initial_screenshot_name(steps[0].time), steps[0].screenshot))
    lines = []
    for number, step in enumerate(steps, start=1):
        name: str | None = f"step_{number}_{_stamp(step.time)}.png"
        after = steps[number].screenshot if number < len(steps) else None  # the next step's "before"
        if after:
            copies.append((result_dir / name, after))
        elif number == len(steps) and final_screen is not None:
            final_screen.save(result_dir / name, "PNG", compress_level=3)
        elif number == len(steps) and isinstance(final, str) and final:
            copies.append((result_dir / name, final))
        else:
            name = None
        line: dict[str, Any] = {
            "step_num": number, "action_timestamp": _stamp(step.time), "action": pyautogui_text(step.action),
            "response": thought_of(step)[0], "reward": 0, "done": number == len(steps), "info": _info(step),
            "screenshot_file": name,
        }
        lines.append(json.dumps(line, ensure_ascii=False))
    in_parallel(lambda copy: copy[0].write_bytes(png_bytes(trajectory_file(trajectory, copy[1]))), copies)
    (result_dir / TRAJ_FILE).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(steps)



class OSWorldExport:
    """``trace export --format osworld``: one trajectory into OUT itself, several each into OUT/<folder name>/.

    A trajectory that carries an evaluator's score (meta.json ``score``, as an OSWorld import keeps it) also
    gets its ``result.txt``; one with a task, its ``task.json``.
    """

    def __init__(self, out: Path, *, single: bool, overwrite: bool = False) -> None:
        if out.exists() and not out.is_dir():
            raise DatasetError(f"{out} is a file; the osworld export writes a folder")
        self.out, self.single, self.overwrite = out, single, overwrite
        self.counts = SampleCounts()
        self._names: set[str] = set()

    def _folder_for(self, trajectory: Trajectory) -> Path:
        if self.single:
            return self.out
        return self.out / unique_folder_name(trajectory, self._names)

    def add(self, trajectory: Trajectory) -> None:
        """Write one trajectory's result folder; on DatasetError what this call wrote is removed again."""
        folder = self._folder_for(trajectory)
        existed = folder.is_dir()
        if existed and any(folder.iterdir()):
            if not self.overwrite:
                raise DatasetError(f"{folder} already exists and is not empty (--force replaces it)")
            _remove_results(folder)  # only what an export writes: other files in the folder stay
        try:
            self.counts.written["steps"] += write_osworld_steps(trajectory, folder)
            self._write_task(trajectory, folder)
            score = trajectory.meta.get("score")
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                (folder / RESULT_FILE).write_text(f"{float(score)}\n", encoding="utf-8")
        except BaseException:
            if existed:
                _remove_results(folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        self.counts.written["trajectories"] += 1

    @staticmethod
    def _write_task(trajectory: Trajectory, folder: Path) -> None:
        instruction = task_text(trajectory.meta)
        if not instruction:
            return
        source = trajectory.meta.get("source") if isinstance(trajectory.meta.get("source"), dict) else {}
        task_id = source.get("task_id") if isinstance(source.get("task_id"), str) else trajectory.root.resolve().name
        (folder / TASK_FILE).write_text(json.dumps({"id": task_id, "instruction": instruction}, ensure_ascii=False,
                                                   indent=2) + "\n", encoding="utf-8")

    def finish(self) -> list[Path]:
        return [self.out]

    def abort(self) -> None:
        """Nothing to undo: each trajectory's folder is complete or removed."""


def _remove_results(folder: Path) -> None:
    for path in [folder / TRAJ_FILE, folder / RESULT_FILE, folder / TASK_FILE, *folder.glob("step_*_*.png")]:
        path.unlink(missing_ok=True)
