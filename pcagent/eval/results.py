"""Evaluation results in OSWorld's layout, and the summary of a run.

``OUT/<action_space>/<observation_type>/<model>/<domain>/<task id>/`` holds, for each task:

- ``result.txt``: the score (written only when the task was scored: a task without it runs again on resume);
- ``traj.jsonl``: one line per step, ``{step_num, action_timestamp, action, response, reward, done, info,
  screenshot_file}``; ``action`` is the step as pyautogui calls (``DONE`` / ``FAIL`` / ``WAIT`` for those),
  ``response`` the planner's thought;
- ``step_<n>_<timestamp>.png``: the screen after step n, and ``step_0_<timestamp>.png`` the screen before the
  first step (traj.jsonl and these come from tracker.datasets.osworld_traj, which `trace export` shares);
- ``trajectory/``: the same run in pcagent's trajectory format (``pcagent trace show`` reads it);
- ``result.json``: status (scored, error, unsupported), score and how it was reached, outcome, steps, time,
  the reason of an error or of being unsupported; ``runtime.log``: the episode's output.

``<model>`` is the planner profile's model name, or ``replay``. The summary (``summary.json`` and the printed
table) counts success per domain and per application, steps, time, errors and unsupported tasks apart.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import IO, Any

from pcagent.eval.tasks import Task

__all__ = ["ACTION_SPACE", "OBSERVATION_TYPE", "Progress", "format_summary", "model_folder", "read_result",
           "summarize", "write_task_results", "write_unsupported"]

ACTION_SPACE = "pyautogui"
OBSERVATION_TYPE = "screenshot"
SUCCESS = 1.0  # OSWorld counts a task solved when its score is 1


def model_folder(name: str) -> str:
    """A model name as one folder name (OSWorld's runner keeps the last path part of it)."""
    name = name.rstrip("/").rsplit("/", 1)[-1] or "model"
    return re.sub(r"[^A-Za-z0-9._+-]", "_", name)


def _write_steps(result_dir: Path, final_screen: Any) -> int:
    """traj.jsonl and the after-step screenshots from the run's trajectory/ (tracker.datasets.osworld_traj
    writes them, for `trace export --format osworld` too); the number of steps."""
    from tracker.datasets.osworld_traj import write_osworld_steps
    from tracker.format.trajectory import read_trajectory

    folder = result_dir / "trajectory"
    if not (folder / "meta.json").exists():
        return 0
    return write_osworld_steps(read_trajectory(folder), result_dir, final_screen)


def _base_record(task: Task, spec: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": task.id, "domain": task.domain, "related_apps": task.related_apps,
            "instruction": task.instruction, "task_file": str(task.path), "model": spec.get("model"),
            "possibility_of_env_change": task.raw.get("possibility_of_env_change")}


def write_task_results(task: Task, spec: dict[str, Any], result_dir: Path, record: dict[str, Any],
                       final_screen: Any = None) -> dict[str, Any]:
    """Everything one run of a task leaves in its folder; the record as written to result.json."""
    record = {**_base_record(task, spec), **record}
    try:
        record["steps"] = _write_steps(result_dir, final_screen)
    except Exception as exc:  # noqa: BLE001 - a trajectory that will not convert still gets its score
        record["steps"] = 0
        record["error"] = record.get("error") or f"traj.jsonl: {exc}"
    (result_dir / "result.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if record["status"] == "scored":
        (result_dir / "result.txt").write_text(f"{record['score']}\n", encoding="utf-8")
    return record


def write_unsupported(task: Task, spec: dict[str, Any], result_dir: Path, reason: str) -> dict[str, Any]:
    result_dir.mkdir(parents=True, exist_ok=True)
    record = {**_base_record(task, spec), "status": "unsupported", "score": None, "error": reason,
              "outcome": None, "steps": 0, "time_s": 0.0}
    (result_dir / "result.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def read_result(result_dir: Path) -> dict[str, Any] | None:
    """A task's earlier result (for resuming), or None when it has no result.txt."""
    if not (result_dir / "result.txt").exists():
        return None
    try:
        return json.loads((result_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):  # only result.txt, as OSWorld's own runner leaves it
        score = float((result_dir / "result.txt").read_text().strip() or 0)
        return {"task_id": result_dir.name, "domain": result_dir.parent.name, "related_apps": [],
                "status": "scored", "score": score, "steps": 0, "time_s": 0.0}


def _group(records: list[dict]) -> dict[str, Any]:
    scored = [r for r in records if r["status"] == "scored"]
    errors = [r for r in records if r["status"] == "error"]
    run = scored + errors  # an error is a task the agent did not solve
    return {
        "tasks": len(records), "scored": len(scored), "errors": len(errors),
        "unsupported": sum(r["status"] == "unsupported" for r in records),
        "solved": sum((r.get("score") or 0) >= SUCCESS for r in scored),
        "success_rate": round(sum((r.get("score") or 0) >= SUCCESS for r in scored) / len(run), 4) if run else None,
        "mean_score": round(sum(r.get("score") or 0 for r in run) / len(run), 4) if run else None,
        "mean_steps": round(sum(r.get("steps") or 0 for r in run) / len(run), 2) if run else None,
        "mean_time_s": round(sum(r.get("time_s") or 0 for r in run) / len(run), 2) if run else None,
    }


def summarize(records: list[dict], wall_s: float | None = None) -> dict[str, Any]:
    """Overall, per domain and per application (a task counts for each of its related_apps)."""
    apps: dict[str, list[dict]] = {}
    for record in records:
        for app in record.get("related_apps") or ["(none)"]:
            apps.setdefault(app, []).append(record)
    domains: dict[str, list[dict]] = {}
    for record in records:
        domains.setdefault(record.get("domain") or "(none)", []).append(record)
    return {"overall": _group(records), "wall_s": None if wall_s is None else round(wall_s, 1),
            "domains": {name: _group(rs) for name, rs in sorted(domains.items())},
            "apps": {name: _group(rs) for name, rs in sorted(apps.items())},
            "unsupported": {r["task_id"]: r.get("error") for r in records if r["status"] == "unsupported"},
            "errors": {r["task_id"]: r.get("error") for r in records if r["status"] == "error"}}


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a table: one row overall, then per domain, then per application."""
    header = f"{'':24} {'tasks':>5} {'solved':>6} {'success':>8} {'score':>6} {'steps':>6} {'time s':>7} " \
             f"{'errors':>6} {'unsupp.':>7}"

    def row(label: str, group: dict) -> str:
        pct = "-" if group["success_rate"] is None else f"{group['success_rate'] * 100:.1f}%"
        score = "-" if group["mean_score"] is None else f"{group['mean_score']:.2f}"
        steps = "-" if group["mean_steps"] is None else f"{group['mean_steps']:.1f}"
        secs = "-" if group["mean_time_s"] is None else f"{group['mean_time_s']:.1f}"
        return (f"{label[:24]:24} {group['tasks']:>5} {group['solved']:>6} {pct:>8} {score:>6} {steps:>6} "
                f"{secs:>7} {group['errors']:>6} {group['unsupported']:>7}")

    lines = [header, row("overall", summary["overall"])]
    lines += [row(f"domain {name}", g) for name, g in summary["domains"].items()]
    lines += [row(f"app {name}", g) for name, g in summary["apps"].items()]
    for label in ("unsupported", "errors"):
        lines += [f"{label[:-1] if label == 'errors' else label}: {tid}: {why}" for tid, why in summary[label].items()]
    if summary.get("wall_s") is not None:
        lines.append(f"wall time: {summary['wall_s']} s")
    return "\n".join(lines)


class Progress:
    """A one-line progress bar (redrawn in place on a terminal, a line per task otherwise)."""

    def __init__(self, total: int, stream: IO[str] | None = None) -> None:
        self.total, self.done, self.solved, self.stream = total, 0, 0, stream or sys.stderr
        self.counts = {"scored": 0, "error": 0, "unsupported": 0}
        self.started = time.monotonic()
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1
        self.solved += record["status"] == "scored" and (record.get("score") or 0) >= SUCCESS
        width = 24
        filled = width * self.done // max(self.total, 1)
        elapsed = time.monotonic() - self.started
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} solved {self.solved} "
                f"errors {self.counts['error']} unsupported {self.counts['unsupported']} "
                f"{int(elapsed // 60)}m{int(elapsed % 60):02d}s  {record['task_id']}: "
                f"{record['status']}{'' if record.get('score') is None else ' ' + str(record['score'])}")
        self.stream.write(("\r\x1b[2K" + line) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
