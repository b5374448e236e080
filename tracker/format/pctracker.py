"""Importing recordings made with PC Tracker (the Windows recorder of GAIR-NLP's PC Agent).

A PC Tracker recording is ``<prefix>_<YYYYMMDD_HHMMSS>.jsonl`` with a same-named ``.md`` task file and a
``screenshot/`` folder beside them. Each JSONL line holds ``timestamp`` ("2024-11-26_16:15:19", local
time), ``action`` (PC Tracker's text), ``screenshot``, ``element`` (a name, "Unknown" or null), ``rect``
({left, top, right, bottom} or null) and, after post-processing, ``marked_screenshot``,
``action_description``, ``action_description_checked`` and ``thought``.

A raw recording (before PC Agent's refinement) holds a drag as two lines: ``press (x, y)``, where the button
went down (its screenshot, time and element), then ``drag to (x, y)``, where it came up. The import merges
them as PC Agent's refinement does: one ``drag from (x, y) to (x2, y2)`` step with the press's screenshot,
time and element, or a click at the press when the ends are within DRAG_TOLERANCE_PX (|dx| + |dy|). A press
with no ``drag to`` after it, or a ``drag to`` with no press before it, is skipped with a warning.

The whole recording is validated before anything is written, so a bad line never leaves half a trajectory.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from models.images import register_image_plugins
from tracker.format.actions import ActionError, click, drag, format_action, parse_action
from tracker.format.screenshot_format import PIL_FORMATS
from tracker.format.trajectory import Step, TrajectoryError, TrajectoryWriter, new_meta
from tracker.format.trajectory_check import png_problem
from tracker.refine.options import DRAG_TOLERANCE_PX

__all__ = ["PCTrackerImportError", "import_pctracker", "read_task_markdown"]

TIMESTAMP_FORMAT = "%Y-%m-%d_%H:%M:%S"
# Keys of a PC Tracker line that become fields of our step; every other key is kept in step.extra.
_CONSUMED_KEYS = {"timestamp", "action", "screenshot", "marked_screenshot", "element", "rect", "thought"}
# The two halves of a drag in a raw recording, outside the action grammar (see the module docstring).
_RAW_DRAG_HALVES = {
    "press": re.compile(r"press\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)", re.IGNORECASE),
    "drag to": re.compile(r"drag\s+to\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)", re.IGNORECASE),
}


class PCTrackerImportError(Exception):
    """A PC Tracker recording that cannot be imported (the message names the file and line)."""


@dataclass
class _SourceStep:
    """One validated line of the PC Tracker JSONL."""

    line: int
    data: dict
    action: str  # canonical; for a raw drag half, its text as written
    time: float
    drag_half: str | None = None  # "press" or "drag to" (a raw drag half, at `point`); None: an action
    point: tuple[int, int] | None = None


def _find_jsonl(src: Path) -> Path:
    """The recording's JSONL: src itself, or the only *.jsonl in src (or in its events/ folder)."""
    if src.is_file():
        return src.with_suffix(".jsonl") if src.suffix.lower() == ".md" else src
    if not src.is_dir():
        raise PCTrackerImportError(f"{src} does not exist")
    candidates = sorted(src.glob("*.jsonl"))
    if not candidates and (src / "events").is_dir():
        candidates = sorted((src / "events").glob("*.jsonl"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise PCTrackerImportError(f"{src} must hold exactly one PC Tracker .jsonl recording (found: {found}); "
                                   "pass the .jsonl file itself")
    return candidates[0]


def read_task_markdown(path: Path) -> dict:
    """The task from PC Tracker's .md file: {"mode": "free"|"given"|"none", "description", "difficulty"}."""
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
    header = text.split("\n###", 1)[0]  # per-step sections follow; the task is above them
    heading = re.search(r"^#\s*(.+?)\s*$", header, re.MULTILINE)
    title = heading.group(1).lower() if heading else ""
    mode = "free" if "free" in title else "given" if "given" in title else "none"
    description = re.search(r"\*\*Description:\*\*[ \t]*(.*?)\s*(?=\n\*\*\w+:\*\*|\n#|\Z)", header, re.DOTALL)
    level = re.search(r"\*\*Level:\*\*[ \t]*(.*?)[ \t]*$", header, re.MULTILINE)
    return {
        "mode": mode,
        "description": (description.group(1).strip() or None) if description else None,
        "difficulty": (level.group(1).strip() or None) if level else None,
    }


def _parse_timestamp(value: object, where: str) -> float:
    if not isinstance(value, str):
        raise PCTrackerImportError(f"{where}: timestamp must be text like '2024-11-26_16:15:19', not {value!r}")
    try:
        # PC Tracker writes local wall-clock time without a zone; we read it as this machine's local time.
        return time.mktime(time.strptime(value.strip(), TIMESTAMP_FORMAT))
    except ValueError:
        raise PCTrackerImportError(f"{where}: timestamp {value!r} is not like '2024-11-26_16:15:19'") from None


def _read_lines(jsonl: Path) -> list[_SourceStep]:
    """Parse and validate every line, raising on the first one that cannot be imported; raw drag halves
    are kept as they are for `_merge_drag_halves`."""
    steps: list[_SourceStep] = []
    raw_lines = jsonl.read_text(encoding="utf-8-sig").splitlines()
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        where = f"{jsonl.name}:{number}"
        try:
            data = json.loads(raw)
        except ValueError as error:
            raise PCTrackerImportError(f"{where}: not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise PCTrackerImportError(f"{where}: a step must be a JSON object")
        if not isinstance(data.get("action"), str):
            raise PCTrackerImportError(f"{where}: missing action text")
        moment = _parse_timestamp(data.get("timestamp"), where)
        half = next(((name, match) for name, pattern in _RAW_DRAG_HALVES.items()
                     if (match := pattern.fullmatch(data["action"].strip()))), None)
        if half is not None:
            name, match = half
            steps.append(_SourceStep(number, data, data["action"].strip(), moment, drag_half=name,
                                     point=(int(match.group(1)), int(match.group(2)))))
            continue
        try:
            action = format_action(parse_action(data["action"]))
        except ActionError as error:
            raise PCTrackerImportError(f"{where}: cannot import action: {error}") from None
        steps.append(_SourceStep(number, data, action, moment))
    if not steps:
        raise PCTrackerImportError(f"{jsonl} holds no steps")
    return steps


def _merge_drag_halves(steps: list[_SourceStep], file_name: str, warnings: list[str]) -> list[_SourceStep]:
    """`press (x, y)` + `drag to (x2, y2)` -> one drag (or a click at the press, within DRAG_TOLERANCE_PX) on
    the press's line, screenshot, time and element; a half without its other half is skipped, warned."""
    merged: list[_SourceStep] = []
    i = 0
    while i < len(steps):
        step = steps[i]
        following = steps[i + 1] if i + 1 < len(steps) else None
        if step.drag_half is None:
            merged.append(step)
        elif step.drag_half == "press" and following is not None and following.drag_half == "drag to":
            (x1, y1), (x2, y2) = step.point, following.point
            if abs(x2 - x1) + abs(y2 - y1) <= DRAG_TOLERANCE_PX:
                action = format_action(click(x1, y1))  # pressed, wobbled, released: still a click
            else:
                action = format_action(drag(x1, y1, x2, y2))
            merged.append(_SourceStep(step.line, step.data, action, step.time))
            i += 2
            continue
        elif step.drag_half == "press":
            warnings.append(f"{file_name}:{step.line}: {step.action!r} has no `drag to` after it; skipped")
        else:
            warnings.append(f"{file_name}:{step.line}: {step.action!r} has no `press` before it; skipped")
        i += 1
    return merged


def _resolve(base: Path, relative: object, where: str, warnings: list[str]) -> Path | None:
    """The file a PC Tracker screenshot path points to, inside the recording's folder only.

    Windows separators are tolerated, and an absolute path (PC Tracker on another machine) is looked
    up by its file name in screenshot/. A path that leads outside the folder (``../id_rsa``, ``/etc/...``,
    a symbolic link out) is refused with a warning: an import never copies other files of this machine.
    """
    if not isinstance(relative, str) or not relative.strip():
        return None
    cleaned = relative.strip().replace("\\", "/")
    root = base.resolve()
    refused = False
    for candidate in (base / cleaned, base / "screenshot" / cleaned.rsplit("/", 1)[-1]):
        try:
            real = candidate.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            continue
        if not real.is_relative_to(root):
            refused = True
        elif real.is_file():
            return real
    if refused:
        warnings.append(f"{where}: {relative!r} points outside the recording's folder; refused")
    return None


def _element(data: dict, where: str, warnings: list[str]) -> dict | None:
    name = data.get("element")
    name = None if not isinstance(name, str) or name.strip() in ("", "Unknown") else name
    rect = data.get("rect")
    box = None
    if isinstance(rect, dict):
        try:
            box = [int(rect[side]) for side in ("left", "top", "right", "bottom")]
        except (KeyError, TypeError, ValueError):
            warnings.append(f"{where}: unreadable rect {rect!r} dropped")
    elif rect is not None:
        warnings.append(f"{where}: unreadable rect {rect!r} dropped")
    if name is None and box is None:
        return None
    return {"name": name, "role": None, "rect": box, "application": None}


def _screen_of(image: Path | None) -> list[dict]:
    if image is None:
        return []
    with Image.open(image) as opened:  # already decoded once by _usable_image
        width, height = opened.size
    return [{"index": 0, "left": 0, "top": 0, "width": width, "height": height, "scale": None, "primary": True}]


def _usable_image(path: Path | None, where: str, what: str, warnings: list[str]) -> Path | None:
    """path if it decodes as an image a screenshot may be (PIL_FORMATS); otherwise None and a warning."""
    if path is None:
        warnings.append(f"{where}: {what} not found; step kept without it")
        return None
    if path.suffix.lower() == ".png" and (problem := png_problem(path)):
        warnings.append(f"{where}: {what} {path.name} unusable ({problem}); step kept without it")
        return None
    try:
        register_image_plugins()
        with Image.open(path) as image:
            image.load()  # decode it all: a damaged body fails here, not in a later reader
            kind = image.format
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        warnings.append(f"{where}: {what} {path.name} unusable (not a readable image: {error}); "
                        "step kept without it")
        return None
    if kind not in PIL_FORMATS:
        warnings.append(f"{where}: {what} {path.name} unusable ({kind} is not a screenshot format); "
                        "step kept without it")
        return None
    return path


def _screenshot_of(base: Path, relative: object, where: str, what: str, warnings: list[str]) -> Path | None:
    """The usable image a screenshot path names, or None with one warning saying why."""
    before = len(warnings)
    found = _resolve(base, relative, where, warnings)
    if found is None and len(warnings) > before:  # refused: already said
        return None
    return _usable_image(found, where, what, warnings)


def import_pctracker(src: Path | str, dest: Path | str) -> tuple[Path, list[str]]:
    """Import a PC Tracker recording as a pcagent trajectory folder at ``dest``.

    ``src`` is the recording's .jsonl file, or a folder holding exactly one. Returns ``(dest, warnings)``:
    the warnings name steps whose screenshots were missing or damaged and fields that were dropped (such
    steps are imported without them), and raw drag halves that were skipped. Raises
    :class:`PCTrackerImportError` (before writing anything) for a recording that cannot be imported: no
    steps, a line that is not JSON, an action outside the grammar, a bad timestamp, or a ``dest`` that
    exists and is not empty.
    """
    jsonl = _find_jsonl(Path(src))
    dest = Path(dest)
    base = jsonl.parent
    warnings: list[str] = []
    source_steps = _merge_drag_halves(_read_lines(jsonl), jsonl.name, warnings)
    if not source_steps:
        raise PCTrackerImportError(f"{jsonl} holds no steps to import: {'; '.join(warnings)}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise PCTrackerImportError(f"{dest} already exists and is not empty")
    markdown = jsonl.with_suffix(".md")
    if markdown.is_file():
        task = read_task_markdown(markdown)
    else:
        task = {"mode": "none", "description": None, "difficulty": None}
        warnings.append(f"{markdown.name} not found: the task is unknown")

    shots = [_screenshot_of(base, s.data.get("screenshot"), f"{jsonl.name}:{s.line}", "screenshot", warnings)
             for s in source_steps]
    meta = new_meta(task=task, screens=_screen_of(next((p for p in shots if p), None)),
                    recorder={"name": "PC Tracker"},
                    source={"format": "pctracker", "path": str(jsonl), "started": source_steps[0].data["timestamp"]})
    last_kind = parse_action(source_steps[-1].action).kind
    outcome = last_kind if last_kind in ("finish", "fail") else "stopped"
    created = not dest.exists()
    try:
        with TrajectoryWriter(dest, meta, exist_ok=True) as writer:
            for index, (source, shot) in enumerate(zip(source_steps, shots)):
                writer.append_step(_convert(writer, index, source, shot, base, jsonl.name, warnings))
            writer.close(outcome)
    except (OSError, TrajectoryError, ValueError) as error:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise PCTrackerImportError(f"writing {dest} failed: {error}") from error
    return dest, warnings


def _convert(writer: TrajectoryWriter, index: int, source: _SourceStep, shot: Path | None, base: Path,
             file_name: str, warnings: list[str]) -> Step:
    """One PC Tracker line as a step, copying its screenshots into the trajectory."""
    data, where = source.data, f"{file_name}:{source.line}"
    screenshot = None
    if shot is not None:
        screenshot = writer.save_screenshot(index, shot.read_bytes(), shot.suffix.lower().lstrip(".") or "png")
    extra: dict[str, Any] = {k: v for k, v in data.items() if k not in _CONSUMED_KEYS}
    extra["source_timestamp"] = data.get("timestamp")
    marked_name = data.get("marked_screenshot")
    if isinstance(marked_name, str) and marked_name.strip():
        marked = _resolve(base, marked_name, where, warnings)
        if shot is not None and marked is not None and marked == shot:
            extra["marked_screenshot"] = screenshot  # PC Tracker points unmarked steps at the raw screenshot
        elif (marked := _screenshot_of(base, marked_name, where, "marked screenshot", warnings)) is not None:
            ext = "marked." + (marked.suffix.lower().lstrip(".") or "png")
            extra["marked_screenshot"] = writer.save_screenshot(index, marked.read_bytes(), ext)
    thought = data.get("thought")
    if isinstance(thought, str) and thought.strip():
        extra["thought"] = {"text": thought, "source": "imported"}
    elif isinstance(thought, dict):
        extra["thought"] = {"source": "imported", **thought}
    action = parse_action(source.action)
    return Step(index=index, time=source.time, actor="human", action=source.action, screenshot=screenshot,
                pointer=action.point, element=_element(data, where, warnings), window=None, extra=extra)
