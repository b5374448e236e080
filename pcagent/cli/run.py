"""`pcagent run` (a planner model acts, the user stays in control) and `pcagent replay`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pcagent.agent.planners import PLANNER_CHOICES
from pcagent.agent.session import OpenedPlanner, SessionError, SessionOptions, print_report, run_session
from pcagent.agent.types import MODES
from pcagent.cli import exit_codes
from tracker.format.trajectory import TrajectoryError, read_trajectory
from tracker.format.screenshot_format import load_screenshot_format
from tracker.privacy import load_privacy_settings
from tracker.recording.options import new_trajectory_folder
from tracker.settings import SettingsError

DEFAULT_GROUNDER = "default"  # grounding.engines.DEFAULT_CHAIN: accessibility, OCR, icons

HOW_TO_POINT_AT_A_MODEL = """\
pcagent run needs a planner: a vision-language model behind any OpenAI-compatible server
(vLLM, SGLang, Ollama, llama.cpp server, LM Studio, or a hosted API).

1. Describe it in {config} :

     [profiles.planner]
     backend = "openai"
     base_url = "http://127.0.0.1:8000/v1"     # your server; it usually ends in /v1
     model = "Qwen2.5-VL-7B-Instruct"           # the model name the server knows
     api_key_env = "OPENAI_API_KEY"             # only if the server wants a key

   (or set PCAGENT_PROFILE_PLANNER_BASE_URL, PCAGENT_PROFILE_PLANNER_MODEL, ... in the environment)

2. Run:  pcagent run "Rename report.txt to final.txt" --planner planner

Check the profile with `pcagent models ask planner "hello"`. To dry-run without a model, serve a
script of answers with `pcagent models serve-script answers.json` and point a profile at it.
"""


def _add_common(parser) -> None:
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="confirm: approve each step (default for run); auto: steps run unless a guard "
                             "asks; suggest: the agent proposes, you act")
    parser.add_argument("--countdown", type=float, default=None, metavar="S",
                        help="in confirm mode, approve by itself after S seconds unless you intervene")
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--out", help="trajectory folder (default: a new folder under the data dir)")
    parser.add_argument("--settle", type=float, default=0.6, help="seconds to let the screen settle after a step")
    parser.add_argument("--models-file", help="the model profiles file (default ~/.config/pcagent/models.toml)")
    parser.add_argument("--guards-file", metavar="TOML", help="extra guard rules ([guards] table)")
    parser.add_argument("--guard-model", metavar="PROFILE",
                        help="a small model that decides the steps the rules are unsure about")
    parser.add_argument("--panel", action="store_true",
                        help="approve in the tray app's approval panel on the screen instead of this terminal")
    parser.add_argument("--panel-snapshot", metavar="PNG",
                        help="with --panel: save a picture of the screen the first time the panel asks")


def register(commands) -> None:
    run = commands.add_parser("run", help="let an agent do a task on this desktop, with you in control")
    run.add_argument("task")
    run.add_argument("--planner", metavar="PROFILE", help="model profile of the planner")
    run.add_argument("--planner-kind", choices=PLANNER_CHOICES, default=None,
                     help="override what the profile's action_format says: planner+grounder (the planner names "
                          "targets, the grounder points), end-to-end (our grammar with coordinates), or the "
                          "output of uitars, qwen_computer_use, opencua or tool_calls models")
    run.add_argument("--grounder", default=DEFAULT_GROUNDER,
                     help=f"default (accessibility, then OCR, then icons), ocr, accessibility, icons, "
                          f"model:PROFILE or composite:a,b (default {DEFAULT_GROUNDER})")
    run.add_argument("--planner-url", metavar="URL", help="override the planner profile's base_url")
    run.add_argument("--planner-model", metavar="NAME", help="override the planner profile's model")
    _add_common(run)
    run.set_defaults(func=run_agent)

    replay = commands.add_parser("replay", help="replay a recorded trajectory, re-grounding each target")
    replay.add_argument("trajectory")
    replay.add_argument("--exact", action="store_true", help="replay recorded coordinates as they are")
    replay.add_argument("--grounder", default=None, help="re-grounding engine (default: accessibility, "
                                                         "the recorded crop, then OCR)")
    _add_common(replay)
    replay.set_defaults(func=run_replay)


def _guard(args):
    """The action guard from --guards-file and --guard-model (defaults otherwise)."""
    from models.factory import open_model
    from models.profiles import get_profile
    from pcagent.collab.guards import ActionGuard, GuardModel, GuardRules

    rules = GuardRules.from_toml(args.guards_file) if args.guards_file else GuardRules()
    model = GuardModel(open_model(get_profile(args.guard_model, args.models_file))) \
        if args.guard_model else None
    return ActionGuard(rules, model)


def _session(task: str, out: Path, planner, grounder, args, settings: dict) -> int:
    from models.errors import ModelError
    from pcagent.collab.guards import GuardConfigError

    try:
        guard = _guard(args)
        privacy = load_privacy_settings()
        screenshots = load_screenshot_format()
    except (GuardConfigError, SettingsError, ModelError) as exc:
        print(f"pcagent: {exc}", file=sys.stderr)
        return exit_codes.exit_code_for(exc) if isinstance(exc, ModelError) else exit_codes.USAGE
    options = SessionOptions(mode=args.mode, countdown_s=args.countdown, max_steps=args.max_steps,
                             settle_s=args.settle, guard=guard, privacy=privacy, screenshot_format=screenshots)
    print(f"Task: {task}\nTrajectory: {out}\nMode: {args.mode}  (pause/resume: ctrl+shift+f9, "
          "stop: ctrl+shift+f12; take over any time by using the mouse or keyboard)", flush=True)
    try:
        if args.panel:
            outcome, out = _in_panel(task, out, OpenedPlanner(planner, grounder, settings, task=task), args, options)
        else:
            outcome, out = run_session(task, out, planner=planner, grounder=grounder, options=options,
                                       agent_settings=settings, report=print_report)
    except SessionError as exc:
        print(f"pcagent: {exc}", file=sys.stderr)
        return exit_codes.exit_code_for(exc)
    print(f"Trajectory: {out} (outcome {outcome})", flush=True)
    if outcome == "error":  # stopped at a failure: which one decides the code
        errors = read_trajectory(out).meta.get("errors") or [{}]
        return exit_codes.MODEL_UNAVAILABLE if errors[-1].get("kind") == "model" else exit_codes.FAILED
    return exit_codes.OK if outcome in ("finish", "stopped") else exit_codes.FAILED


def _in_panel(task: str, out: Path, opened, args, options) -> tuple[str, Path]:
    """--panel: the session on a worker thread, the tray app's approval panel answering (pcagent.app.ui)."""
    import os

    from PySide6.QtCore import QTimer

    from pcagent.app.agent_supervisor import AgentTask
    from pcagent.app.ui.application import PROBE_ENV, OwnWindowReporter, UiStallProbe, create_qapplication
    from pcagent.app.ui.qt_gate import run_with_panel
    from tracker.recording.own_windows import own_window_timeline

    if not os.environ.get("DISPLAY"):  # Qt would abort the process without one
        from tracker.recording.capture import NoDisplay

        raise SessionError("no display: DISPLAY is not set (the panel needs an X session)") \
            from NoDisplay("DISPLAY is not set")
    app = create_qapplication()
    app.installEventFilter(OwnWindowReporter(own_window_timeline(), app))  # the recorder knows the panel
    probe = UiStallProbe(parent=app) if os.environ.get(PROBE_ENV) == "1" else None
    if probe is not None:
        QTimer.singleShot(0, probe.start)  # from the moment the event loop runs: the run, not the set-up
    source = {"replay": args.trajectory} if hasattr(args, "trajectory") else {"planner": args.planner}
    agent_task = AgentTask(text=task, mode=args.mode, countdown_s=args.countdown, out=out, **source)
    result = run_with_panel(agent_task, opened=opened, options=options, report=print_report,
                            snapshot_to=args.panel_snapshot)
    if probe is not None:
        print(f"UI thread: {json.dumps(probe.to_dict())}", flush=True)
    if isinstance(result.exception, SessionError):
        raise result.exception
    if result.exception is not None:
        raise SessionError(result.error) from result.exception
    return result.outcome, result.out


def run_agent(args) -> int:
    from models.errors import ModelError
    from models.profiles import default_config_path
    from pcagent.agent.session import open_planner

    if not args.planner:
        print(HOW_TO_POINT_AT_A_MODEL.format(config=args.models_file or default_config_path()), file=sys.stderr)
        return exit_codes.USAGE
    args.mode = args.mode or "confirm"
    try:
        opened = open_planner(args.planner, mode=args.mode, max_steps=args.max_steps, models_file=args.models_file,
                              planner_kind=args.planner_kind, grounder=args.grounder, base_url=args.planner_url,
                              model=args.planner_model)
    except (ModelError, ValueError, KeyError) as exc:
        print(f"pcagent run: {exc}", file=sys.stderr)
        return exit_codes.exit_code_for(exc) if isinstance(exc, ModelError) else exit_codes.USAGE
    try:
        return _session(args.task, Path(args.out) if args.out else new_trajectory_folder("run"), opened.planner,
                        opened.grounder, args, opened.settings)
    finally:
        opened.close()


def run_replay(args) -> int:
    from pcagent.agent.session import open_replay

    args.mode = args.mode or "auto"
    try:
        opened = open_replay(args.trajectory, mode=args.mode, max_steps=args.max_steps, exact=args.exact,
                             grounder=args.grounder, models_file=args.models_file)
    except TrajectoryError as exc:  # missing, unreadable or invalid: what `trace check` would fail
        print(f"pcagent replay: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    except ValueError as exc:
        print(f"pcagent replay: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    return _session(opened.task, Path(args.out) if args.out else new_trajectory_folder("replay"), opened.planner, None,
                    args, opened.settings)
