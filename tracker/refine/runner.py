"""Running refinement: SRC (one trajectory folder, or a folder of them) in, DEST (the same shape) out.

SRC is only read. DEST is built in a hidden temporary folder beside it and renamed into place at the end,
so it appears whole or not at all. Each source trajectory is first checked (`pcagent trace check`'s
checker); one with errors is reported and skipped while the others go on. Steps are renumbered 0, 1, 2, ...
after drops and their screenshots renamed to match (identical screenshots stay hard links of one file).
What every pass changed goes to DEST/refine_report.json and, line by line, to ``echo``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from grounding.base import InvalidScreenshot, load_screenshot
from tracker.format.actions import ActionError, format_action, parse_action
from tracker.format.trajectory import (
    META_FILE, STEPS_FILE, Step, TrajectoryError, TrajectoryWriter, desktop_origin, read_trajectory,
    screenshot_name, utc_now_iso,
)
from tracker.format.trajectory_check import check_trajectory
from tracker.refine.images import encode_like, screenshot_extension
from tracker.refine.marks import draw_marks, has_marks
from tracker.refine.normalize import normalize
from tracker.refine.options import RefineOptions
from tracker.refine.passes import STEP_PASSES, Draft, PassLog, Work, unusable_reason

__all__ = ["REPORT_FILE", "RefineError", "RefineReport", "find_trajectories", "refine"]

REPORT_FILE = "refine_report.json"
MARKED_KEY = "marked_screenshot"


class RefineError(Exception):
    """SRC or DEST cannot be used at all (nothing was written); the message says why."""


class _TrajectoryFailed(Exception):
    """One source trajectory cannot be refined; the others go on."""


@dataclass
class RefineReport:
    source: Path
    dest: Path
    options: RefineOptions
    trajectories: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [t for t in self.trajectories if t["status"] == "error"]

    def totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {}
        for trajectory in self.trajectories:
            for name, log in trajectory.get("passes", {}).items():
                for change, count in log["counts"].items():
                    totals.setdefault(name, {}).setdefault(change, 0)
                    totals[name][change] += count
        return totals

    def to_dict(self) -> dict:
        statuses = [t["status"] for t in self.trajectories]
        return {"source": str(self.source), "dest": str(self.dest), "options": self.options.to_dict(),
                "summary": {status: statuses.count(status) for status in ("refined", "dropped", "error")},
                "totals": self.totals(), "trajectories": self.trajectories}


def _is_trajectory(folder: Path) -> bool:
    return (folder / META_FILE).exists() or (folder / STEPS_FILE).exists()


def find_trajectories(src: Path) -> list[Path]:
    """The trajectory folders in ``src``, relative to it: [Path(".")] when src is one, else every folder
    below it holding a meta.json or steps.jsonl (hidden folders skipped; a trajectory's own subfolders too)."""
    if _is_trajectory(src):
        return [Path(".")]
    found = []
    for folder, subfolders, _ in os.walk(src):
        path = Path(folder)
        if path != src and _is_trajectory(path):
            found.append(path.relative_to(src))
            subfolders[:] = []
            continue
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
    return sorted(found)


def _check_paths(src: Path, dest: Path) -> None:
    if not src.is_dir():
        raise RefineError(f"{src} is not a folder")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise RefineError(f"{dest} already exists and is not empty; name a new folder")
    real_src, real_dest = src.resolve(), dest.resolve()
    if real_dest == real_src or real_dest.is_relative_to(real_src):
        raise RefineError(f"{dest} is inside {src}: DEST must be outside SRC, which is never modified")


def refine(src: Path | str, dest: Path | str, options: RefineOptions | None = None,
           echo: Callable[[str], None] | None = None) -> RefineReport:
    """Refine every trajectory in ``src`` into ``dest`` (see the module docstring).

    Raises :class:`RefineError` when nothing can be done (no such SRC, DEST not new, no trajectories). A
    trajectory that fails is in the report with status "error" and its reason; check ``report.failed``.
    """
    src, dest = Path(src), Path(dest)
    options = options or RefineOptions()
    say = echo or (lambda line: None)
    _check_paths(src, dest)
    found = find_trajectories(src)
    if not found:
        raise RefineError(f"no trajectories in {src} (a trajectory folder holds meta.json and steps.jsonl)")
    single = found == [Path(".")]
    report = RefineReport(src, dest, options)
    dest.parent.mkdir(parents=True, exist_ok=True)
    temporary = dest.parent / f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if not single:
            temporary.mkdir()
        for relative in found:
            entry = _refine_into(src / relative, temporary / relative, options)
            entry = {"source": str(relative), **entry}
            report.trajectories.append(entry)
            say(_summary_line(entry))
        if single and report.trajectories[0]["status"] != "refined":
            return report  # nothing to write: DEST is not created
        (temporary / REPORT_FILE).write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n",
                                             encoding="utf-8")
        if dest.exists():
            dest.rmdir()  # empty (checked above); a rename cannot replace it on every system
        os.replace(temporary, dest)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return report


def _refine_into(source: Path, target: Path, options: RefineOptions) -> dict:
    """Refine one trajectory into ``target`` (not existing yet); the report entry."""
    try:
        work = _load(source)
        steps_in = len(work.drafts)
        logs: dict[str, PassLog] = {}
        if options.runs("drop-unusable"):
            reason = unusable_reason(work, options)
            if reason:
                return {"status": "dropped", "reason": reason, "steps_in": steps_in}
        for name in options.ordered:
            log = logs[name] = PassLog(name)
            if name in STEP_PASSES:
                STEP_PASSES[name](work, log, options)
            elif name == "normalize":
                normalize(work, log, options)
        if not work.drafts:
            return {"status": "dropped", "reason": "no steps left", "steps_in": steps_in,
                    "passes": {name: log.to_dict() for name, log in logs.items() if log.changes}}
        try:
            _write(work, target, options, logs.get("marks"))
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    except _TrajectoryFailed as error:
        return {"status": "error", "reason": str(error)}
    except (OSError, ValueError, ActionError, InvalidScreenshot, TrajectoryError) as error:
        return {"status": "error", "reason": f"{type(error).__name__}: {error}"}
    return {"status": "refined", "dest": str(target.name), "steps_in": steps_in, "steps_out": len(work.drafts),
            "passes": {name: log.to_dict() for name, log in logs.items()}}


def _load(source: Path) -> Work:
    """The trajectory as drafts, after the strict check; raises _TrajectoryFailed naming what is wrong."""
    errors = [problem for problem in check_trajectory(source) if problem.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise _TrajectoryFailed(f"not a valid trajectory: {errors[0]}{more}; see pcagent trace check {source}")
    trajectory = read_trajectory(source)
    drafts = []
    for step in trajectory.steps:
        step = Step.from_dict(copy.deepcopy(step.to_dict()))
        step.action = format_action(parse_action(step.action))  # the checker let it through: it parses
        drafts.append(Draft(step, step.index))
    return Work(source, copy.deepcopy(trajectory.meta), drafts)


def _write(work: Work, target: Path, options: RefineOptions, marks_log: PassLog | None) -> None:
    meta = work.meta
    ended, outcome = meta.get("ended"), meta.get("outcome")
    meta["refinement"] = {"source": str(work.root), "source_id": meta.get("id"), "refined": utc_now_iso(),
                          "options": options.to_dict()}
    meta["id"] = uuid.uuid4().hex  # a new trajectory, derived from the source one
    origin = (0, 0) if work.resolution else desktop_origin(meta)
    written: dict[tuple[int, int], str] = {}  # a source file (device, inode) already written -> its new path
    writer = TrajectoryWriter(target, meta)
    try:
        for index, draft in enumerate(work.drafts):
            step = draft.step
            source_shot = step.screenshot
            source_marked = step.extra.get(MARKED_KEY)
            step.index = index
            if source_shot:
                step.screenshot = _store_screenshot(writer, index, work, work.root / source_shot, written)
            if marks_log is not None:
                step.extra.pop(MARKED_KEY, None)
                if step.screenshot and has_marks(step):
                    shot = target / step.screenshot  # as written: resized already when normalising
                    data, extension = encode_like(draw_marks(load_screenshot(shot), step, origin), shot, meta)
                    step.extra[MARKED_KEY] = writer.save_screenshot(index, data, f"marked.{extension}")
                    marks_log.note(draft, "marked")
                elif step.screenshot:
                    step.extra[MARKED_KEY] = step.screenshot  # nothing to mark: the screenshot itself
                    marks_log.note(draft, "nothing to mark")
            elif isinstance(source_marked, str):
                step.extra[MARKED_KEY] = _carry_marked(writer, work, index, source_shot, source_marked, step)
            writer.append_step(step)
        writer.close(outcome)
        writer.update_meta(ended=ended)  # when the recording ended, not when it was refined
    finally:
        writer.close()


def _store_screenshot(writer: TrajectoryWriter, index: int, work: Work, source_file: Path,
                      written: dict[tuple[int, int], str]) -> str:
    """The source's screenshot under its new name (resized when normalising); a hard link to the file
    already written for the same source file (the recorder links a screen it stored already)."""
    status = source_file.stat()
    key = (status.st_dev, status.st_ino)
    if key in written:
        relative = screenshot_name(index, screenshot_extension(written[key]))
        try:
            os.link(writer.root / written[key], writer.root / relative)
            return relative
        except OSError:
            pass  # a file system without hard links: write it again
    if work.resolution:
        image = load_screenshot(source_file).resize(work.resolution, Image.Resampling.LANCZOS)
        data, extension = encode_like(image, source_file, work.meta)
    else:
        data, extension = source_file.read_bytes(), screenshot_extension(source_file.name)
    relative = writer.save_screenshot(index, data, extension)
    written[key] = relative
    return relative


def _carry_marked(writer: TrajectoryWriter, work: Work, index: int, source_shot: str | None, source_marked: str,
                  step: Step) -> str | None:
    """A marked screenshot the source already had (an import's), renamed (and resized) like its step."""
    if source_marked == source_shot:
        return step.screenshot
    source_file = work.root / source_marked
    extension = screenshot_extension(source_marked)
    if work.resolution:
        image = load_screenshot(source_file).resize(work.resolution, Image.Resampling.LANCZOS)
        data, extension = encode_like(image, source_file, work.meta)
    else:
        data = source_file.read_bytes()
    return writer.save_screenshot(index, data, f"marked.{extension}")


def _summary_line(entry: dict) -> str:
    """One printed line per trajectory: what became of it and what each pass changed."""
    name = entry["source"] if entry["source"] != "." else "trajectory"
    if entry["status"] == "error":
        return f"  {name}: ERROR {entry['reason']}"
    if entry["status"] == "dropped":
        return f"  {name}: dropped ({entry['reason']})"
    changes = []
    for pass_name, log in entry["passes"].items():
        counts = ", ".join(f"{count} {change}" for change, count in log["counts"].items())
        if counts:
            changes.append(f"{pass_name}: {counts}")
    detail = "; ".join(changes) if changes else "no changes"
    return f"  {name}: {entry['steps_in']} -> {entry['steps_out']} steps  [{detail}]"
