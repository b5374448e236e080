"""`pcagent app`: the tray app (a second start brings the running one forward), and `pcagent ctl ...`, which
drives the running app from a shortcut or a script (see pcagent.app.ctl)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pcagent.cli import exit_codes

STATE_WORDS = {"agent_running": "agent running", "waiting_approval": "waiting for approval"}


def _display_answers() -> str | None:
    """None when the X display answers, else why not."""
    if not os.environ.get("DISPLAY"):
        return "DISPLAY is not set"
    try:
        from Xlib import display as xdisplay

        xdisplay.Display().close()
    except Exception as exc:  # noqa: BLE001 - python-xlib raises several kinds; each means "no display"
        return f"the X display {os.environ['DISPLAY']} does not answer ({exc})"
    return None


def _focus_running_app() -> bool:
    """Bring a running app forward; False when none runs."""
    from pcagent.app.ctl import AppNotRunning, send_request

    try:
        send_request({"command": "focus"}, timeout=10)
    except AppNotRunning:
        return False
    return True


def run_app_command(args) -> int:
    from pcagent.app.controller import ControllerError, load_recording_options
    from pcagent.app.ctl import CtlError

    problem = _display_answers()
    if problem:
        print(f"pcagent app: no display: {problem}. The tray app needs a desktop session; from a terminal "
              "without one, use `pcagent record` or `pcagent run`.", file=sys.stderr)
        return exit_codes.NO_DISPLAY
    try:
        if _focus_running_app():
            print("pcagent app: already running; brought it forward.")
            return exit_codes.OK
    except CtlError as exc:
        print(f"pcagent app: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    overrides = {"fps": args.fps, "accessibility": False if args.no_accessibility else None,
                 "thought_hotkey": args.thought_hotkey,
                 "trajectories_dir": Path(args.trajectories).expanduser() if args.trajectories else None}

    def load_options():  # settings.toml under the command line's options; read again at each recording
        options = load_recording_options(args.settings, **overrides)
        if args.idle_wait is not None:
            options.idle_wait_s = args.idle_wait if args.idle_wait > 0 else None
        return options

    try:
        load_options()
    except ControllerError as exc:
        print(f"pcagent app: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    return _run(load_options)


def _run(load_options) -> int:
    from pcagent.app.controller import AppController
    from pcagent.app.ctl import CtlError

    # Qt only now, so that `pcagent ctl` stays light
    from pcagent.app.ui.application import run_app

    try:
        return run_app(AppController(load_options=load_options))
    except CtlError:  # another app took the socket while this one started: use that one
        if _focus_running_app():
            print("pcagent app: already running; brought it forward.")
            return exit_codes.OK
        raise


def _summary(status: dict) -> str:
    state = STATE_WORDS.get(status.get("state"), status.get("state"))
    line = f"pcagent: {state}"
    if status.get("trajectory"):
        line += f" — {status['trajectory']} ({status.get('steps', 0)} steps"
        line += f", {status['outcome']})" if status.get("outcome") else ")"
    return line


def run_ctl_command(args) -> int:
    from pcagent.app.ctl import (  # the socket alone: `pcagent ctl` starts fast
        CtlError,
        send_request,
    )

    request: dict = {"command": args.ctl_command}
    if args.ctl_command == "record":
        if args.task_file and not args.task_id:
            print("pcagent ctl record: --task-file needs --task-id", file=sys.stderr)
            return exit_codes.USAGE
        task_file = str(Path(args.task_file).resolve()) if args.task_file else None  # the app's cwd is not ours
        request.update(task=args.task, task_file=task_file, task_id=args.task_id,
                       mode="none" if args.no_task else "free")
    elif args.ctl_command == "thought":
        request.update(text=" ".join(args.text) or None, about="previous" if args.previous else "next")
    try:
        answer = send_request(request)
    except CtlError as exc:
        print(f"pcagent ctl: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    if not answer.get("ok"):
        print(f"pcagent ctl {args.ctl_command}: {answer.get('error')}", file=sys.stderr)
        return exit_codes.FAILED
    status = answer.get("status") or {}
    print(json.dumps(status, indent=2, ensure_ascii=False) if args.ctl_command == "status" else _summary(status))
    return exit_codes.OK


def register(commands) -> None:
    app = commands.add_parser("app", help="the tray app: record with live thoughts, run and review, no terminal")
    app.add_argument("--fps", type=float, help="screen frames per second kept while recording (default 10)")
    app.add_argument("--idle-wait", type=float,
                     help="seconds without input that make a `wait` step; 0 turns it off (default 6)")
    app.add_argument("--no-accessibility", action="store_true",
                     help="do not ask AT-SPI for the element under the pointer")
    app.add_argument("--thought-hotkey", metavar="KEYS", help="the hotkey that opens the thought box "
                                                              "(default ctrl+alt+t)")
    app.add_argument("--trajectories", metavar="FOLDER",
                     help="where recordings go (default ~/.local/share/pcagent/trajectories)")
    app.add_argument("--settings", metavar="FILE", help="settings.toml to read (default: the user's)")
    app.set_defaults(func=run_app_command)

    ctl = commands.add_parser("ctl", help="drive the running tray app (record, pause, thought, stop, status, ...)")
    ctl_commands = ctl.add_subparsers(dest="ctl_command", required=True, metavar="REQUEST")
    record = ctl_commands.add_parser("record", help="start recording (a free task unless told otherwise)")
    task = record.add_mutually_exclusive_group()
    task.add_argument("--task", help="the task being demonstrated")
    task.add_argument("--task-file", help="a JSON task list; pick one with --task-id")
    task.add_argument("--no-task", action="store_true", help="record without a task")
    record.add_argument("--task-id", help="the id of the task in --task-file")
    for name, text in (("pause", "pause the recording"), ("resume", "resume a paused recording"),
                       ("finish", "end the recording as done"), ("fail", "end the recording as not done"),
                       ("stop", "end the recording (or ask the agent to stop)"),
                       ("status", "print the app's state, trajectory and step count as JSON"),
                       ("focus", "bring the app's control window forward")):
        ctl_commands.add_parser(name, help=text)
    thought = ctl_commands.add_parser("thought", help="attach a thought to the next recorded step "
                                                      "(without TEXT: open the thought box)")
    thought.add_argument("text", nargs="*", metavar="TEXT")
    thought.add_argument("--previous", action="store_true", help="about the step just recorded instead")
    ctl.set_defaults(func=run_ctl_command)
