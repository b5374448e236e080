"""Record a trajectory that solves each bundled task: ``python -m pcagent.eval.record_solutions [IDS...]``.

For each task: a fresh display and home as `pcagent eval` gives them, the task's setup steps, then
`pcagent record` (a child process) while scripted real X input (xdotool) does what a person would; the
finish hotkey ends it (the fail hotkey, for a task that cannot be done). The recording is then scored
with the task's own evaluator, and kept in ``solutions/<task id>/`` only if it scores 1.

Input scripts are lists of steps: ("click" | "double" | "right", sample-app widget), ("scroll", widget,
notches), ("type", text), ("key", combo), ("sleep", seconds). Sample-app widgets are found in the app's
"ready" event; the other programs are driven by keyboard alone.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grounding.base import box_center
from pcagent.eval.getters import get_state
from pcagent.eval.scoring import score_task
from pcagent.eval.setup import TaskEnvironment, run_steps
from pcagent.eval.tasks import Task, load_tasks
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.sampleapp_process import read_ready
from pcagent.testbed.virtual_display import VirtualDisplay
from pcagent.testbed.xdo import Xdo
from tracker.format.trajectory import read_trajectory

HERE = Path(__file__).resolve().parent
TASKS, SOLUTIONS = HERE / "tasks", HERE / "solutions"
FINISH, FAIL = "ctrl+shift+F10", "ctrl+shift+F11"  # the recorder's default hotkeys

_RENAME = [("key", "Escape"), ("key", "F2"), ("sleep", 1.0)]  # after type-ahead selected the file
SCRIPTS: dict[str, list[tuple]] = {
    "sampleapp-enter-name": [("click", "name"), ("type", "Ada Lovelace"), ("key", "Return")],
    "sampleapp-open-item": [("double", "item_4")],
    "sampleapp-click-save": [("click", "save")],
    "sampleapp-shortcut": [("key", "ctrl+shift+t")],
    "sampleapp-rename-item": [("right", "item_2"), ("key", "Down"), ("key", "Down"), ("key", "Return")],
    "sampleapp-press-pad-twice": [("click", "pad"), ("click", "pad")],
    "sampleapp-name-and-save": [("click", "name"), ("type", "Grace Hopper"), ("click", "save")],
    "sampleapp-open-or-save": [("click", "open")],
    "sampleapp-print-pdf": [],  # it has no printing: the person gives up (fail)
    "sampleapp-scroll-list": [("click", "item_1"), ("scroll", "items", -3)],  # a recorded scroll has no point
    "mousepad-append-line": [("key", "ctrl+End"), ("type", "third line"), ("key", "ctrl+s")],
    "mousepad-csv-row": [("key", "ctrl+End"), ("type", "Grace,85"), ("key", "ctrl+s")],
    "mousepad-replace-text": [("key", "ctrl+a"), ("type", "Final version"), ("key", "ctrl+s")],
    "mousepad-json-theme": [("key", "ctrl+a"), ("type", '{"theme": "dark", "size": 12}'), ("key", "ctrl+s")],
    "xterm-make-folder": [("type", "mkdir -p projects/demo"), ("key", "Return")],
    "xterm-write-lines": [("type", "printf 'alpha\\nbeta\\ngamma\\n' > greek.txt"), ("key", "Return")],
    "xterm-scores-csv": [("type", "printf 'name,score\\nAda,90.5\\nAlan,85\\n' > scores.csv"), ("key", "Return")],
    "xterm-count-lines": [("type", "wc -l < data.txt > count.txt"), ("key", "Return")],
    "pcmanfm-new-folder": [("key", "ctrl+shift+n"), ("sleep", 1.0), ("type", "Reports"), ("key", "Return")],
    "pcmanfm-rename-docx": [("type", "report."), *_RENAME, ("type", "final"), ("key", "Return")],
    "pcmanfm-rename-xlsx": [("type", "budget."), *_RENAME, ("type", "budget-2026"), ("key", "Return")],
    "pcmanfm-rename-image": [("type", "photo."), *_RENAME, ("type", "holiday"), ("key", "Return")],
    "galculator-multiply": [("type", "12*7="), ("key", "ctrl+c")],
    "galculator-divide": [("type", "9/4="), ("key", "ctrl+c")],
}


def _widgets(env: TaskEnvironment, timeout: float = 30.0) -> dict:
    log = env.home / "sampleapp.jsonl"
    deadline = time.monotonic() + timeout
    while (ready := read_ready(log)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sample app logged no ready event in {log}")
        time.sleep(0.1)
    return ready["widgets"]


def perform(script: list[tuple], env: TaskEnvironment) -> None:
    """The script as real X input on the task's display."""
    xdo = Xdo(env.env)
    widgets = _widgets(env) if any(step[0] in ("click", "double", "right", "scroll") for step in script) else {}
    for kind, *args in script:
        if kind in ("click", "double", "right"):
            x, y = box_center(widgets[args[0]])
            xdo.click(x, y, button=3 if kind == "right" else 1, repeat=2 if kind == "double" else 1)
            time.sleep(0.8)  # past the double-click window: one action each
        elif kind == "scroll":
            xdo.scroll(*box_center(widgets[args[0]]), args[1])
            time.sleep(0.6)
        elif kind == "type":
            xdo.type(args[0], delay_ms=40)
            time.sleep(0.4)
        elif kind == "key":
            xdo.key(args[0])
            time.sleep(0.6)
        elif kind == "sleep":
            time.sleep(args[0])
        else:
            raise ValueError(f"unknown script step {kind!r}")


def record_solution(task: Task, out: Path, image_args: list[str]) -> float:
    """Record the task's scripted solution into out; its score under the task's evaluator."""
    script = SCRIPTS[task.id]
    with VirtualDisplay(1280, 800, accessibility=True, window_manager="openbox") as display, \
            tempfile.TemporaryDirectory(prefix="pcagent-solution-") as scratch:
        env = TaskEnvironment(Path(scratch), task.path.parent, display.env)
        try:
            run_steps(env, task.config, "setup")
            recorder = RecorderProcess(out, "--task", task.instruction, "--idle-wait", "0", *image_args,
                                       env=env.env).start()
            try:
                perform(script, env)
                Xdo(env.env).key(FAIL if task.funcs == ["infeasible"] else FINISH)
                code = recorder.wait(60)
            except BaseException:
                recorder.kill()
                raise
            if code != 0:
                raise RuntimeError(f"the recorder failed:\n{recorder.output}")
            run_steps(env, task.evaluator.get("postconfig") or [], "postconfig")
            outcome = read_trajectory(out).meta.get("outcome")
            return score_task(task.evaluator, agent_failed=outcome == "fail",
                              get_state=lambda config: get_state(env, config)).score
        finally:
            env.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pcagent.eval.record_solutions", description=__doc__.split("\n")[0])
    parser.add_argument("ids", nargs="*", help="task ids (default: every bundled task)")
    parser.add_argument("--out", default=str(SOLUTIONS), help=f"where the trajectories go (default {SOLUTIONS})")
    parser.add_argument("--image-format", default="webp", help="screenshot format (default webp)")
    parser.add_argument("--image-quality", default="80", help="lossy quality, or 'lossless' (default 80)")
    args = parser.parse_args(argv)
    tasks = [t for t in load_tasks([TASKS]) if not args.ids or t.id in args.ids]
    image_args = ["--image-format", args.image_format]
    if args.image_quality != "lossless":
        image_args += ["--image-quality", args.image_quality]
    failed = []
    for task in tasks:
        final = Path(args.out) / task.id
        with tempfile.TemporaryDirectory(prefix="pcagent-recording-") as scratch:
            recorded = Path(scratch) / task.id
            started = time.monotonic()
            try:
                score = record_solution(task, recorded, image_args)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the next task
                print(f"{task.id}: FAILED to record: {exc}", flush=True)
                failed.append(task.id)
                continue
            steps = len(read_trajectory(recorded).steps)
            print(f"{task.id}: {steps} steps, score {score} ({time.monotonic() - started:.1f} s)", flush=True)
            if score != 1.0:
                failed.append(task.id)
                continue
            shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(recorded, final)
    if failed:
        print(f"not solved, kept as they were: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
