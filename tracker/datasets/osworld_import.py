"""Importing OSWorld result folders as pcagent trajectories (``pcagent trace import-osworld SRC DEST``).

A result folder is what OSWorld's runner (and pcagent's harness, pcagent.eval.results) leaves per task:
``traj.jsonl`` (``{step_num, action_timestamp, action, response, reward, done, info, screenshot_file}`` per
step), the screenshot after each step, ``result.txt`` (the score) and, from pcagent, ``result.json`` and the
screen before the first step (``step_0_*.png``). SRC is one such folder, or a tree of them (OSWorld's
``results/<action space>/<observation>/<model>/<domain>/<task id>/``): each becomes DEST/<its path below SRC>.

Each line's action is read, never run: pcagent's own exact action (``info.pcagent_action``) when present,
else ``DONE`` / ``FAIL`` / ``WAIT``, a computer_13 action (a dict, or a list of them), or pyautogui code
parsed as a restricted grammar (tracker.format.opencua's allowed calls with literal arguments; imports and
``time.sleep`` are dropped; ``moveTo`` joins the scroll or drag after it). A line whose code holds several
actions becomes several steps; only the first has a screenshot (the screen between them was not captured).
Anything else (a loop, a variable, ``tripleClick``) makes the folder fail with the line and the reason.

Step n's screenshot is the screen after step n-1 (step 1's is ``step_0_*.png`` when there is one); the
screen after the last step is kept as meta.json's ``final_screenshot``, the score as ``score``. The task's
instruction comes from ``--task`` (an OSWorld task file, or a folder of them searched for
``<task id>.json``), else from the folder's task.json (pcagent's export) or result.json (pcagent's harness);
without any the task is unknown (a warning).
``info.actor`` (pcagent's) says who acted; OSWorld's own runs are the agent's. Every source line is kept on
its step as ``osworld``. A folder is validated whole before anything is written.
"""

from __future__ import annotations

import ast
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracker.datasets.osworld_traj import RESULT_FILE, TASK_FILE, TIMESTAMP_FORMAT, TRAJ_FILE
from tracker.datasets.sources import DatasetError, ImageFile, read_image_file
from tracker.format import opencua
from tracker.format.action_convert import from_computer13, from_computer13_sequence
from tracker.format.actions import FAIL, FINISH, WAIT, Action, ActionError, format_action, parse_action
from tracker.format.screenshot_format import PIL_FORMATS
from tracker.format.trajectory import ACTORS, Step, TrajectoryError, TrajectoryWriter, new_meta

__all__ = ["ImportReport", "code_actions", "find_result_folders", "import_osworld", "import_osworld_results"]

_KEYWORDS = {"DONE": FINISH, "FAIL": FAIL, "WAIT": WAIT}
_EXTENSIONS = {"PNG": "png", "JXL": "jxl", "WEBP": "webp", "AVIF": "avif", "JPEG": "jpg"}


def find_result_folders(src: Path) -> list[Path]:
    """``src`` when it holds traj.jsonl, else every folder below it that does (sorted)."""
    if not src.is_dir():
        raise DatasetError(f"{src}: no such folder")
    if (src / TRAJ_FILE).is_file():
        return [src]
    found = sorted(path.parent for path in src.rglob(TRAJ_FILE) if path.is_file())
    if not found:
        raise DatasetError(f"{src}: no {TRAJ_FILE} in it or below it: not an OSWorld result folder")
    return found


# ---- actions --------------------------------------------------------------------------------------


def _is_noise(statement: ast.stmt) -> bool:
    """Statements of OSWorld agents' code that do nothing on the screen: imports, pauses, pass."""
    if isinstance(statement, (ast.Import, ast.ImportFrom, ast.Pass)):
        return True
    call = statement.value if isinstance(statement, ast.Expr) else None
    return isinstance(call, ast.Call) and ast.unparse(call.func) == "time.sleep"


def _point(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def code_actions(code: str) -> list[Action]:
    """The actions of one step's pyautogui code, in order; ActionError for code outside the grammar."""
    try:
        tree = ast.parse(code.strip())
    except SyntaxError as error:
        raise ActionError(f"not valid Python ({error.msg})") from None
    kept = [statement for statement in tree.body if not _is_noise(statement)]
    if not kept:
        raise ActionError("the code does nothing on the screen")
    calls = opencua.parse_code("\n".join(ast.unparse(statement) for statement in kept))
    actions, i = [], 0
    while i < len(calls):
        if calls[i].name == "pyautogui.moveTo" and i + 1 < len(calls) and calls[i + 1].name in (
                "pyautogui.scroll", "pyautogui.hscroll", "pyautogui.dragTo"):
            actions.append(opencua.to_action(calls[i:i + 2], _point))
            i += 2
        else:
            actions.append(opencua.to_action(calls[i:i + 1], _point))
            i += 1
    return actions


def _line_actions(line: dict) -> list[Action]:
    info = line.get("info") if isinstance(line.get("info"), dict) else {}
    exact = info.get("pcagent_action")
    if isinstance(exact, str):
        return [parse_action(exact)]
    action = line.get("action")
    if isinstance(action, str) and action.strip().upper() in _KEYWORDS:
        return [_KEYWORDS[action.strip().upper()]]
    if isinstance(action, str):
        return code_actions(action)
    if isinstance(action, dict):
        return [from_computer13(action)]
    if isinstance(action, list) and action:
        return from_computer13_sequence(action)
    raise ActionError(f"no action in the line (got {action!r})")


# ---- reading a result folder ----------------------------------------------------------------------


@dataclass
class _Line:
    number: int  # line number in traj.jsonl
    data: dict
    actions: list[Action]
    time: float
    after: Path | None  # the screenshot after the step


def _time(value: object, where: str) -> float:
    if not isinstance(value, str):
        raise DatasetError(f"{where}: action_timestamp must be text like '20240101@120000', not {value!r}")
    try:
        return time.mktime(time.strptime(value.strip(), TIMESTAMP_FORMAT))  # OSWorld writes local time
    except ValueError:
        raise DatasetError(f"{where}: action_timestamp {value!r} is not like '20240101@120000'") from None


def _inside(folder: Path, name: object, where: str, warnings: list[str]) -> Path | None:
    """The file a screenshot_file names, only inside the result folder."""
    if not isinstance(name, str) or not name.strip():
        return None
    path = folder / name.strip()
    if not path.resolve().is_relative_to(folder.resolve()):
        warnings.append(f"{where}: screenshot_file {name!r} points outside the result folder; refused")
        return None
    if not path.is_file():
        warnings.append(f"{where}: screenshot {name} is missing")
        return None
    return path


def _read_lines(folder: Path, warnings: list[str]) -> tuple[list[_Line], list[str]]:
    """The steps of traj.jsonl, validated; and the runner's error lines."""
    traj = folder / TRAJ_FILE
    lines: list[_Line] = []
    errors: list[str] = []
    try:
        raw_lines = traj.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{traj}: cannot be read ({error})") from None
    previous_time = None
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        where = f"{traj}:{number}"
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise DatasetError(f"{where}: not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise DatasetError(f"{where}: a step must be a JSON object")
        if "Error" in data and "action" not in data:  # what OSWorld's runner writes when a task breaks
            errors.append(str(data["Error"]))
            warnings.append(f"{where}: the run recorded an error: {data['Error']}")
            continue
        try:
            actions = _line_actions(data)
        except ActionError as error:
            raise DatasetError(f"{where}: cannot import action {str(data.get('action'))[:200]!r}: {error}") from None
        info = data.get("info") if isinstance(data.get("info"), dict) else {}
        exact = info.get("time")  # pcagent's export keeps the unix time; the stamp has whole seconds
        when = float(exact) if isinstance(exact, (int, float)) and not isinstance(exact, bool) and \
            math.isfinite(exact) else _time(data.get("action_timestamp"), where)
        if previous_time is not None and when < previous_time:
            raise DatasetError(f"{where}: action_timestamp is earlier than the line before")
        previous_time = when
        lines.append(_Line(number, data, actions, when, _inside(folder, data.get("screenshot_file"), where, warnings)))
    if not lines:
        raise DatasetError(f"{traj}: holds no steps")
    return lines, errors


def _usable(path: Path | None, warnings: list[str]) -> ImageFile | None:
    if path is None:
        return None
    try:
        image = read_image_file(path)
    except DatasetError as error:
        warnings.append(f"{error}; step kept without it")
        return None
    if image.kind not in PIL_FORMATS:
        warnings.append(f"{path}: a {image.kind} image is not a screenshot format; step kept without it")
        return None
    return image


def _task_of(folder: Path, task: Path | None, warnings: list[str]) -> str | None:
    """The instruction: from the task file (or the folder of them), else from pcagent's result.json."""
    candidates: list[Path] = []
    if task is not None and task.is_file():
        candidates = [task]
    elif task is not None and task.is_dir():
        candidates = [task / folder.parent.name / f"{folder.name}.json", task / f"{folder.name}.json"]
        candidates += sorted(task.rglob(f"{folder.name}.json"))
    candidates += [folder / TASK_FILE, folder / "result.json"]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            warnings.append(f"{path}: not readable JSON ({error})")
            continue
        instruction = data.get("instruction") if isinstance(data, dict) else None
        if isinstance(instruction, str) and instruction.strip():
            return instruction.strip()
    warnings.append(f"{folder}: no instruction found (give the OSWorld task with --task): the task is unknown")
    return None


def _score(folder: Path, warnings: list[str]) -> float | None:
    path = folder / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return float(path.read_text(encoding="utf-8").strip())
    except (OSError, UnicodeDecodeError, ValueError):
        warnings.append(f"{path}: not a number; score left out")
        return None


def import_osworld(folder: Path | str, dest: Path | str, task: Path | str | None = None) -> tuple[Path, list[str]]:
    """Import one OSWorld result folder as the trajectory ``dest``; (dest, warnings).

    Raises DatasetError, before writing anything, for a folder that cannot be imported (no traj.jsonl, a
    line that is not JSON, an action outside the grammar, a bad timestamp) or a ``dest`` that is not empty.
    """
    folder, dest = Path(folder), Path(dest)
    if not (folder / TRAJ_FILE).is_file():
        raise DatasetError(f"{folder}: no {TRAJ_FILE}: not an OSWorld result folder")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DatasetError(f"{dest} already exists and is not empty")
    warnings: list[str] = []
    lines, run_errors = _read_lines(folder, warnings)
    initial = sorted(folder.glob("step_0_*.png"))
    befores = [_usable(initial[0] if initial else None, warnings)]
    befores += [_usable(line.after, warnings) for line in lines]  # befores[k] is the screen before line k
    instruction = _task_of(folder, Path(task) if task is not None else None, warnings)
    first_image = next((image for image in befores if image is not None), None)
    screens = [] if first_image is None else [{"index": 0, "left": 0, "top": 0, "width": first_image.size[0],
                                               "height": first_image.size[1], "scale": None, "primary": True}]
    source: dict[str, Any] = {"format": "osworld", "path": str(folder), "task_id": folder.name,
                              "domain": folder.parent.name}
    if run_errors:
        source["errors"] = run_errors
    meta = new_meta(task={"mode": "given" if instruction else "none", "description": instruction},
                    screens=screens, recorder={"name": "OSWorld"}, source=source)
    score = _score(folder, warnings)
    if score is not None:
        meta["score"] = score
    last = lines[-1].actions[-1].kind
    created = not dest.exists()
    try:
        with TrajectoryWriter(dest, meta, exist_ok=True) as writer:
            index = 0
            for number, line in enumerate(lines):
                for part, action in enumerate(line.actions):
                    writer.append_step(_step(writer, index, line, part, action,
                                             befores[number] if part == 0 else None))
                    index += 1
            final = befores[-1]
            if final is not None:
                writer.update_meta(final_screenshot=writer.save_screenshot(
                    index, final.data, "final." + _EXTENSIONS.get(final.kind, "png")))
            writer.close(last if last in ("finish", "fail") else "stopped")
    except (OSError, TrajectoryError, ValueError) as error:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise DatasetError(f"writing {dest} failed: {error}") from error
    return dest, warnings


def _step(writer: TrajectoryWriter, index: int, line: _Line, part: int, action: Action,
          before: ImageFile | None) -> Step:
    data = line.data
    info = data.get("info") if isinstance(data.get("info"), dict) else {}
    screenshot = None
    if before is not None:
        screenshot = writer.save_screenshot(index, before.data, _EXTENSIONS.get(before.kind, "png"))
    extra: dict[str, Any] = {"osworld": {"line": line.number, "part": part, **data} if len(line.actions) > 1
                             else {"line": line.number, **data}}
    response = data.get("response")
    if part == 0 and isinstance(response, str) and response.strip():
        provenance = info.get("thought")  # pcagent's export keeps where the thought came from
        if not (isinstance(provenance, dict) and isinstance(provenance.get("source"), str)):
            provenance = {"source": "imported"}
        extra["thought"] = {"text": response, **{k: v for k, v in provenance.items() if k != "text"}}
    actor = info.get("actor") if info.get("actor") in ACTORS else "agent"
    return Step(index=index, time=line.time, actor=actor, action=format_action(action), screenshot=screenshot,
                pointer=action.point, extra=extra)


@dataclass
class ImportReport:
    """Per result folder: the trajectory written and its warnings, or why it could not be imported."""

    imported: list[tuple[Path, Path, list[str]]] = field(default_factory=list)  # (source, dest, warnings)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def import_osworld_results(src: Path | str, dest: Path | str, task: Path | str | None = None,
                           on_done: Callable[[Path, Path | None, list[str], str | None], None] | None = None
                           ) -> ImportReport:
    """Import SRC (a result folder, or a tree of them) into DEST; a folder that fails is reported and the
    others go on. ``on_done(source, dest, warnings, error)`` is called after each folder."""
    src, dest = Path(src), Path(dest)
    folders = find_result_folders(src)
    report = ImportReport()
    for folder in folders:
        target = dest if folder == src else dest / folder.relative_to(src)
        try:
            written, warnings = import_osworld(folder, target, task)
        except DatasetError as error:
            report.failed.append((folder, str(error)))
            if on_done:
                on_done(folder, None, [], str(error))
            continue
        report.imported.append((folder, written, warnings))
        if on_done:
            on_done(folder, written, warnings, None)
    return report
