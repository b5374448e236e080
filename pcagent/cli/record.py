"""`pcagent record`: choose the task, run the recorder until told to stop, report.

Task modes as in PC Tracker: a given task (`--task` text, or one entry of a task list
with `--task-file` and `--task-id`), a free task (`--free`: described and rated after
recording, then kept or discarded), or plain recording without a task.

How it records comes from settings.toml as for the tray app ([recorder]: fps, idle_wait_s,
accessibility, exclude_windows, trajectories_dir; [hotkeys]: pause, finish, fail, stop;
[privacy]; [screenshots]; see tracker.recording.options), each option given here over it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

from pcagent.cli import exit_codes
from tracker.format.screenshot_format import DEFAULT_FORMAT, FORMATS, load_screenshot_format
from tracker.format.trajectory import format_step_line, read_trajectory
from tracker.recording.options import load_recording_options, new_trajectory_folder
from tracker.recording.recorder import RECORDER_CONTROLS, Recorder, RecorderError
from tracker.settings import SettingsError

DIFFICULTIES = ("easy", "medium", "hard")


class TaskFileError(ValueError):
    pass




def read_task_list(path: Path) -> list[dict]:
    """The task objects of a JSON task list: a list of tasks or {"tasks": [...]}, or one OSWorld task.
    A task has an "id" and its text in "task", "description" or "instruction" (OSWorld); an optional
    "level"/"difficulty". Raises TaskFileError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaskFileError(f"cannot read task file {path}: {exc}") from exc
    tasks = data.get("tasks", [data]) if isinstance(data, dict) else data
    if not isinstance(tasks, list):
        raise TaskFileError(f"{path}: expected a list of tasks or {{\"tasks\": [...]}}")
    return [entry for entry in tasks if isinstance(entry, dict)]


def task_text(entry: dict) -> str | None:
    """A task object's text (OSWorld calls it "instruction")."""
    return entry.get("task") or entry.get("description") or entry.get("instruction")


def load_task(path: Path, task_id: str) -> dict:
    """One task, by its id, from a JSON task list (read_task_list)."""
    ids = []
    for entry in read_task_list(path):
        ids.append(str(entry.get("id")))
        if str(entry.get("id")) == str(task_id):
            text = task_text(entry)
            if not isinstance(text, str) or not text.strip():
                raise TaskFileError(f"{path}: task {task_id!r} has no task/description/instruction text")
            return {"mode": "given", "id": str(task_id), "description": text,
                    "difficulty": entry.get("level") or entry.get("difficulty"),
                    "source": str(path)}
    raise TaskFileError(f"{path}: no task with id {task_id!r} (ids: {', '.join(ids[:20]) or 'none'})")


def _ask_free_task(out: Path) -> bool:
    """After a free-task recording: describe it, rate it, keep or discard. True = kept."""
    print("\nDescribe the task you just did (empty to discard the recording):", flush=True)
    description = sys.stdin.readline().strip()
    if not description:
        shutil.rmtree(out, ignore_errors=True)
        print("Discarded.")
        return False
    difficulty = None
    while difficulty not in DIFFICULTIES:
        print(f"Difficulty ({'/'.join(DIFFICULTIES)}):", flush=True)
        difficulty = sys.stdin.readline().strip().lower() or "medium"
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["task"] = {"mode": "free", "description": description, "difficulty": difficulty}
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, meta_path)
    return True


def run_record(args) -> int:
    if args.task_file and not args.task_id:
        print("pcagent record: --task-file needs --task-id", file=sys.stderr)
        return 2
    try:
        if args.task_file:
            task = load_task(Path(args.task_file), args.task_id)
        elif args.task:
            task = {"mode": "given", "description": args.task}
        elif args.free:
            task = {"mode": "free", "description": None, "difficulty": None}
        else:
            task = {"mode": "none"}
    except TaskFileError as exc:
        print(f"pcagent record: {exc}", file=sys.stderr)
        return 2
    try:
        options = load_recording_options(
            fps=args.fps, idle_wait_s=args.idle_wait, accessibility=False if args.no_accessibility else None,
            hotkeys={command: spec for command in RECORDER_CONTROLS
                     if (spec := getattr(args, f"{command}_hotkey", None))})
        # Exclusions only ever widen: a window settings.toml keeps out stays out.
        options.exclude_windows = [*options.exclude_windows, *(args.exclude_window or [])]
        config = options.recorder_config(thought_hotkey=False)  # no thought box here: that key is recorded
        config.screenshot_format = load_screenshot_format(format=args.image_format, quality=args.image_quality)
    except SettingsError as exc:
        print(f"pcagent record: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    out = Path(args.out) if args.out else new_trajectory_folder("rec", options.folder())
    hotkeys, privacy = config.hotkeys, config.privacy
    recorder = Recorder(out, task=task, config=config,
                        on_step=lambda step: print(format_step_line(step), flush=True),
                        on_status=lambda status: print(f"[{status}]", flush=True))
    # The handler hands the stop to the recorder's own queue, so the wait below wakes as soon as
    # the pending steps are merged, not at its next poll.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: recorder.request_stop())
    try:
        recorder.start()
    except RecorderError as exc:
        print(f"pcagent record: {exc}", file=sys.stderr)
        return exit_codes.exit_code_for(exc)
    print(f"Recording to {out}\n  stop: {hotkeys['stop']} (or Ctrl-C)   pause/resume: {hotkeys['pause']}"
          f"   finish: {hotkeys['finish']}   fail: {hotkeys['fail']}", flush=True)
    if not recorder.accessibility_available:
        still = "window titles and secret-looking text" if privacy.redact_secret_text else "window titles"
        print(f"note: accessibility is not available ({recorder.accessibility_reason}), so password fields "
              f"cannot be recognised; only {still} get typing redacted. "
              f"Pause ({hotkeys['pause']}) before typing a secret.", flush=True)
    while not recorder.wait(1.0):
        pass
    recorder.stop()
    for error in recorder.errors:
        print(f"warning: {error}", file=sys.stderr)
    if task["mode"] == "free" and sys.stdin.isatty():
        if not _ask_free_task(out):
            return 0
    trajectory = read_trajectory(out)
    print(f"Trajectory: {out} ({len(trajectory.steps)} steps, outcome {trajectory.meta.get('outcome')})",
          flush=True)
    return 0


def register(commands) -> None:
    record = commands.add_parser("record", help="record what you do on this desktop as a trajectory")
    record.add_argument("--out", help="trajectory folder (default: rec-<date>-<time> in settings.toml's [recorder] "
                                      "trajectories_dir, else in ~/.local/share/pcagent/trajectories)")
    task = record.add_mutually_exclusive_group()
    task.add_argument("--task", help="the task being demonstrated")
    task.add_argument("--task-file", help="a JSON task list; pick one with --task-id")
    task.add_argument("--free", action="store_true",
                      help="free task: describe and rate it after recording, or discard it")
    record.add_argument("--task-id", help="the id of the task in --task-file")
    record.add_argument("--fps", type=float,
                        help="screen frames per second kept (default: [recorder] fps in settings.toml, else 10)")
    record.add_argument("--idle-wait", type=float,
                        help="seconds without input that make a `wait` step; 0 turns it off (default: [recorder] "
                             "idle_wait_s, else 6)")
    record.add_argument("--exclude-window", action="append", metavar="TEXT",
                        help="never record steps in windows whose title or application contains TEXT "
                             "(repeatable; added to [recorder] exclude_windows)")
    record.add_argument("--no-accessibility", action="store_true",
                        help="do not ask AT-SPI for the element under the pointer (default: [recorder] "
                             "accessibility, else ask)")
    record.add_argument("--image-format", choices=FORMATS,
                        help=f"how step screenshots are stored (default: settings.toml's [screenshots], else "
                             f"{DEFAULT_FORMAT}, lossless)")
    record.add_argument("--image-quality", type=int, metavar="Q",
                        help="store screenshots lossy at quality Q (1-100); without it they are lossless")
    for command in ("stop", "pause", "finish", "fail"):
        record.add_argument(f"--{command}-hotkey", metavar="KEYS",
                            help=f"hotkey for {command}, e.g. ctrl+shift+f12 (default: [hotkeys] {command})")
    record.set_defaults(func=run_record)
