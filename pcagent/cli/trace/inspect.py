"""`pcagent trace check`, `show` and `import-pctracker`: look at a trajectory, and bring one in."""

from __future__ import annotations

import sys
from pathlib import Path

from tracker.format.pctracker import PCTrackerImportError, import_pctracker
from tracker.format.trajectory import Trajectory, TrajectoryError, format_step_line, read_trajectory
from tracker.format.trajectory_check import check_trajectory


def print_steps(trajectory: Trajectory) -> None:
    """One line per step, times relative to the first step."""
    start = trajectory.steps[0].time if trajectory.steps else None
    for step in trajectory.steps:
        print(format_step_line(step, start))


def _check(args) -> int:
    try:
        problems = check_trajectory(Path(args.dir))
    except TrajectoryError as exc:
        print(f"error: {exc}")
        return 1
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    print(f"{args.dir}: {'FAILED' if errors else 'OK'} ({errors} errors, {warnings} warnings)")
    return 1 if errors else 0


def _show(args) -> int:
    try:
        trajectory = read_trajectory(Path(args.dir))
    except TrajectoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    meta = trajectory.meta
    task = meta.get("task") or {}
    print(f"Trajectory {trajectory.root}")
    print(f"  task: {task.get('description') or '(none)'}  [mode {task.get('mode')}]")
    print(f"  outcome: {meta.get('outcome')}   steps: {len(trajectory.steps)}")
    print_steps(trajectory)
    for problem in trajectory.problems:
        print(problem, file=sys.stderr)
    return 0


def _import_pctracker(args) -> int:
    try:
        result = import_pctracker(Path(args.src), Path(args.dest))
    except PCTrackerImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    dest, warnings = result if isinstance(result, tuple) else (result, [])
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"Imported into {dest}")
    return 0


def register(trace_commands) -> None:
    check = trace_commands.add_parser("check", help="validate a trajectory folder; exit 1 on errors")
    check.add_argument("dir")
    check.set_defaults(func=_check)
    show = trace_commands.add_parser("show", help="print a trajectory's steps")
    show.add_argument("dir")
    show.set_defaults(func=_show)
    imp = trace_commands.add_parser("import-pctracker", help="convert a PC Tracker recording")
    imp.add_argument("src", help="the recording's .jsonl file, or the folder holding it")
    imp.add_argument("dest", help="the new trajectory folder")
    imp.set_defaults(func=_import_pctracker)
