"""`pcagent eval`: run an agent, or replay recorded trajectories, on OSWorld-format tasks and score them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pcagent.agent.planners import PLANNER_CHOICES
from pcagent.agent.types import MODES
from pcagent.cli import exit_codes

BUNDLED_TASKS = Path(__file__).resolve().parent.parent / "eval" / "tasks"
BUNDLED_SOLUTIONS = Path(__file__).resolve().parent.parent / "eval" / "solutions"


def register(commands) -> None:
    parser = commands.add_parser(
        "eval", help="run an agent (or replay trajectories) on OSWorld-format tasks, each on a fresh display, "
                     "and score them",
        description=f"TASKS are task files or folders of them (the bundled suite: {BUNDLED_TASKS}; its "
                    f"solutions: {BUNDLED_SOLUTIONS}).")
    parser.add_argument("tasks", nargs="+", metavar="TASKS")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--planner", metavar="PROFILE", help="model profile of the planner")
    who.add_argument("--replay", metavar="FOLDER", help="replay FOLDER/<task id>/ for each task")
    parser.add_argument("--planner-kind", choices=PLANNER_CHOICES, default=None,
                        help="as for `pcagent run` (default: what the profile says)")
    parser.add_argument("--grounder", default=None, help="as for `pcagent run` (default: accessibility, then OCR, then icons)")
    parser.add_argument("--models-file", help="the model profiles file (default ~/.config/pcagent/models.toml)")
    parser.add_argument("--mode", choices=MODES, default="auto",
                        help="collaboration mode (default auto; confirm and suggest need one worker and no Ray)")
    parser.add_argument("--countdown", type=float, default=None, metavar="S",
                        help="in confirm mode, approve by itself after S seconds")
    parser.add_argument("--max-steps", type=int, default=15, help="agent steps per task (default 15, as OSWorld)")
    parser.add_argument("--settle", type=float, default=0.8, help="seconds to let the screen settle after a step")
    parser.add_argument("--workers", type=int, default=1, help="tasks run at once, each on its own display")
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="spread tasks over a Ray cluster (an address such as ray://head:10001 or auto), "
                             "or `local` for a Ray instance on this machine with --workers CPUs")
    parser.add_argument("--task-timeout", type=float, default=900.0, metavar="S", help="seconds per task at most")
    parser.add_argument("--out", required=True, help="results folder (OSWorld's layout); a rerun resumes")
    parser.set_defaults(func=run_eval)


def _model_name(args) -> str | None:
    """The planner profile's model (names the results folder); raises on a bad profile."""
    if not args.planner:
        return None
    from models.profiles import get_profile

    return get_profile(args.planner, args.models_file).model


def run_eval(args) -> int:
    from models.errors import ModelError
    from pcagent.eval.results import Progress, format_summary, summarize
    from pcagent.eval.runner import EvalConfig, config_dict, plan_runs, run_tasks
    from pcagent.eval.tasks import TaskError, load_tasks

    if args.workers < 1:
        print("pcagent eval: --workers must be at least 1", file=sys.stderr)
        return exit_codes.USAGE
    interactive = args.mode != "auto"
    if interactive and (args.workers > 1 or args.ray):
        print(f"pcagent eval: --mode {args.mode} asks you at this terminal: use it with one worker and no Ray",
              file=sys.stderr)
        return exit_codes.USAGE
    try:
        tasks = load_tasks(args.tasks)
        model_name = _model_name(args)
    except (TaskError, ModelError, KeyError, ValueError) as exc:
        print(f"pcagent eval: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    if args.replay and not Path(args.replay).is_dir():
        print(f"pcagent eval: --replay {args.replay} is not a folder", file=sys.stderr)
        return exit_codes.USAGE
    config = EvalConfig(out=Path(args.out), replay=Path(args.replay).resolve() if args.replay else None,
                        planner=args.planner, model_name=model_name, planner_kind=args.planner_kind,
                        grounder=args.grounder,
                        models_file=str(Path(args.models_file).resolve()) if args.models_file else None,
                        mode=args.mode, max_steps=args.max_steps, settle_s=args.settle, countdown_s=args.countdown,
                        task_timeout_s=args.task_timeout, interactive=interactive)
    runs = plan_runs(tasks, config)
    config.model_dir.mkdir(parents=True, exist_ok=True)
    (config.model_dir / "args.json").write_text(json.dumps({**config_dict(config), "workers": args.workers,
                                                            "ray": args.ray}, indent=2) + "\n")
    where = f"Ray ({args.ray})" if args.ray else f"{args.workers} worker(s)"
    print(f"{len(runs)} task(s) from {', '.join(args.tasks)} on {where}; results in {config.model_dir}", flush=True)
    progress = Progress(len(runs))
    started = time.monotonic()
    try:
        records = run_tasks(runs, config, workers=args.workers, ray_address=args.ray, on_done=progress.update)
    finally:
        progress.close()
    summary = summarize(records, wall_s=time.monotonic() - started)
    (config.model_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(format_summary(summary), flush=True)
    return exit_codes.OK if summary["overall"]["errors"] == 0 else exit_codes.FAILED
