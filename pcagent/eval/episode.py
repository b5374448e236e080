"""One task, start to end, in this process: ``python -m pcagent.eval.episode SPEC.json``.

The runner starts one such process per task, so every task has its own display and the agent's session
(which reads DISPLAY from os.environ, as pynput does when imported) sees only that display:

1. a private Xvfb display (1280x800) with the accessibility buses and openbox;
2. a fresh temporary home and cache (setup.TaskEnvironment), then the task's setup steps;
3. the agent (a planner profile of any kind, any collaboration mode) or the replay of a recorded trajectory,
   through pcagent.agent.session.run_session: its trajectory goes to ``<result dir>/trajectory``;
4. the postconfig steps, then OSWorld's scoring (scoring.score_task);
5. the results (results.write_task_results): ``result.txt``, ``traj.jsonl``, step screenshots, ``result.json``.

The spec is a JSON object: task, domain, result_dir, and either replay (a trajectory folder) or planner
(a profile name) with planner_kind, grounder, models_file; mode, max_steps, settle_s, countdown_s.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from pcagent.eval.getters import get_state
from pcagent.eval.results import write_task_results
from pcagent.eval.scoring import score_task
from pcagent.eval.setup import SetupError, TaskEnvironment, run_steps
from pcagent.eval.tasks import Task, load_task
from pcagent.testbed.virtual_display import DisplayError, VirtualDisplay

__all__ = ["run_episode"]


def _agent(spec: dict[str, Any]) -> tuple[Any, Any, dict, Any]:
    """(planner, grounder, the trajectory's agent settings, the model to close) for the spec."""
    if spec.get("replay"):
        from pcagent.agent.planners.replay import ReplayPlanner

        planner = ReplayPlanner(spec["replay"])
        return planner, None, {"planner": planner.name, "planner_kind": "replay", "source": spec["replay"],
                               "mode": spec["mode"], "max_steps": spec["max_steps"]}, None
    from grounding.engines import open_grounder
    from models.factory import open_model
    from models.profiles import get_profile
    from pcagent.agent.planners import make_planner, planner_kind
    from pcagent.cli.run import DEFAULT_GROUNDER  # what `pcagent run` grounds with

    profile = get_profile(spec["planner"], spec.get("models_file"))
    model = open_model(profile)
    planner = make_planner(spec.get("planner_kind"), model)
    grounder_spec = spec.get("grounder") or DEFAULT_GROUNDER
    grounder = open_grounder(grounder_spec, models_file=spec.get("models_file")) \
        if planner.kind == "planner+grounder" else None
    settings = {"planner": profile.to_dict(), "planner_kind": spec.get("planner_kind") or planner_kind(profile),
                "grounder": grounder_spec if grounder else None, "mode": spec["mode"],
                "max_steps": spec["max_steps"]}
    return planner, grounder, settings, model


def _act(task: Task, spec: dict[str, Any], out: Path) -> str:
    """Let the agent (or the replay) do the task on this display; its outcome."""
    from pcagent.agent.session import SessionOptions, print_report, run_session
    from tracker.format.screenshot_format import load_screenshot_format
    from tracker.privacy import load_privacy_settings

    planner, grounder, settings, model = _agent(spec)
    options = SessionOptions(mode=spec["mode"], countdown_s=spec.get("countdown_s"), max_steps=spec["max_steps"],
                             settle_s=spec.get("settle_s", 0.8), privacy=load_privacy_settings(),
                             screenshot_format=load_screenshot_format())
    try:
        outcome, _ = run_session(task.instruction, out, planner=planner, grounder=grounder, options=options,
                                 agent_settings=settings, report=print_report)
    finally:
        if model is not None:
            model.close()
    return outcome


def run_episode(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one task as the spec says; write its results; return its result record."""
    task = load_task(spec["task"], domain=spec.get("domain"))
    result_dir = Path(spec["result_dir"])
    result_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    record: dict[str, Any] = {"status": "error", "outcome": None, "score": None, "error": None}
    final_screen = None
    try:
        with VirtualDisplay(1280, 800, accessibility=True, window_manager="openbox") as display, \
                tempfile.TemporaryDirectory(prefix=f"pcagent-eval-{task.id[:40]}-") as scratch:
            os.environ.update(display.env)  # the session, pynput and the grounders find the display here
            env = TaskEnvironment(Path(scratch), task.path.parent, display.env)
            try:
                run_steps(env, task.config, "setup")
                record["outcome"] = _act(task, spec, result_dir / "trajectory")
                run_steps(env, task.evaluator.get("postconfig") or [], "postconfig")
                from pcagent.testbed.xdo import grab

                final_screen = grab(display)
                scored = score_task(task.evaluator, agent_failed=record["outcome"] == "fail",
                                    get_state=lambda config: get_state(env, config))
                record.update(status="scored", score=scored.score, scoring=scored.to_dict())
            finally:
                env.close()
    except (SetupError, DisplayError) as exc:
        record["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever broke, the run goes on with the next task
        record["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    record["time_s"] = round(time.time() - started, 2)
    return write_task_results(task, spec, result_dir, record, final_screen)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pcagent.eval.episode SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    record = run_episode(spec)
    print(f"task {record['task_id']}: {record['status']} score={record['score']} error={record['error']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
