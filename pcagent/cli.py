"""The `pcagent` command line: every capability, headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pcagent import __version__


def print_steps(trajectory) -> None:
    """One line per step, times relative to the first step."""
    from tracker.trajectory import format_step_line

    start = trajectory.steps[0].time if trajectory.steps else None
    for step in trajectory.steps:
        print(format_step_line(step, start))


def _trace_check(args) -> int:
    from tracker.trajectory import TrajectoryError
    from tracker.trajectory_check import check_trajectory

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


def _trace_show(args) -> int:
    from tracker.trajectory import TrajectoryError, read_trajectory

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


def _trace_import_pctracker(args) -> int:
    from tracker.pctracker import PCTrackerImportError, import_pctracker

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


def _record(args) -> int:
    from pcagent.record import run_record

    return run_record(args)


def _demo(args) -> int:
    from pcagent.demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pcagent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pcagent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="record a scripted demonstration of the sample app "
                                            "on a virtual display and print the steps")
    demo.add_argument("--out", help="trajectory folder (default: a new folder under the data dir)")
    demo.set_defaults(func=_demo)

    record = commands.add_parser("record", help="record what you do on this desktop as a trajectory")
    record.add_argument("--out", help="trajectory folder (default: ~/.local/share/pcagent/trajectories/rec-...)")
    task = record.add_mutually_exclusive_group()
    task.add_argument("--task", help="the task being demonstrated")
    task.add_argument("--task-file", help="a JSON task list; pick one with --task-id")
    task.add_argument("--free", action="store_true",
                      help="free task: describe and rate it after recording, or discard it")
    record.add_argument("--task-id", help="the id of the task in --task-file")
    record.add_argument("--fps", type=float, default=10.0, help="screen frames per second kept (default 10)")
    record.add_argument("--idle-wait", type=float, default=6.0,
                        help="seconds without input that make a `wait` step; 0 turns it off (default 6)")
    record.add_argument("--exclude-window", action="append", metavar="TEXT",
                        help="never record steps in windows whose title or application contains TEXT "
                             "(repeatable)")
    record.add_argument("--no-accessibility", action="store_true",
                        help="do not ask AT-SPI for the element under the pointer")
    for command in ("stop", "pause", "finish", "fail"):
        record.add_argument(f"--{command}-hotkey", metavar="KEYS", help=f"hotkey for {command}, e.g. ctrl+shift+f12")
    record.set_defaults(func=_record)

    from pcagent import grounding_commands, model_commands, run_command

    run_command.register(commands)
    model_commands.register(commands)
    grounding_commands.register(commands)

    trace = commands.add_parser("trace", help="inspect and convert trajectories")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="SUBCOMMAND")
    check = trace_commands.add_parser("check", help="validate a trajectory folder; exit 1 on errors")
    check.add_argument("dir")
    check.set_defaults(func=_trace_check)
    show = trace_commands.add_parser("show", help="print a trajectory's steps")
    show.add_argument("dir")
    show.set_defaults(func=_trace_show)
    imp = trace_commands.add_parser("import-pctracker", help="convert a PC Tracker recording")
    imp.add_argument("src", help="the recording's .jsonl file, or the folder holding it")
    imp.add_argument("dest", help="the new trajectory folder")
    imp.set_defaults(func=_trace_import_pctracker)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
