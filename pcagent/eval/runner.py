"""Running many tasks: one child process per task (episode.py), N at once on this machine, or spread over a
Ray cluster; unsupported tasks reported without running; finished tasks (those with result.txt) skipped, so
an interrupted run resumes where it stopped.

On this machine ``workers`` threads each wait on one child process at a time. With Ray, each task is a Ray
task (``num_cpus=1``) that runs the same child process on whichever node Ray picks, in a scratch folder
there, and sends the task's result files back, so only the driver needs the output folder. Every node needs
pcagent installed (with Xvfb, openbox and the programs the tasks use), and the task and trajectory files
at the same paths as on the driver.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from pcagent.eval.results import (ACTION_SPACE, OBSERVATION_TYPE, model_folder, read_result, write_task_results,
                                  write_unsupported)
from pcagent.eval.tasks import Task, unsupported_reason

__all__ = ["EvalConfig", "TaskRun", "config_dict", "plan_runs", "run_in_child", "run_tasks"]

DEFAULT_TASK_TIMEOUT_S = 900.0
_LIVE: set[subprocess.Popen] = set()  # episode processes running now: ended when the run is interrupted
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


@dataclass
class EvalConfig:
    out: Path
    replay: Path | None = None  # a folder with one trajectory folder per task id
    planner: str | None = None  # a model profile
    model_name: str | None = None  # the profile's model: the results folder is named after it
    planner_kind: str | None = None
    grounder: str | None = None
    models_file: str | None = None
    mode: str = "auto"
    max_steps: int = 15  # OSWorld's default
    settle_s: float = 0.8
    countdown_s: float | None = None
    task_timeout_s: float = DEFAULT_TASK_TIMEOUT_S
    interactive: bool = False  # the child shares this terminal (confirm / suggest mode, one worker)

    @property
    def model_dir(self) -> Path:
        model = "replay" if self.replay else model_folder(self.model_name or self.planner or "model")
        return Path(self.out) / ACTION_SPACE / OBSERVATION_TYPE / model


@dataclass
class TaskRun:
    """One task to run, as the child process gets it (`spec`)."""

    task: Task
    result_dir: Path
    spec: dict[str, Any] = field(default_factory=dict)
    unsupported: str | None = None


def plan_runs(tasks: list[Task], config: EvalConfig) -> list[TaskRun]:
    """A TaskRun per task; a replay trajectory missing for a task makes that task an error, not a crash."""
    runs = []
    for task in tasks:
        result_dir = config.model_dir / task.domain / task.id
        spec = {"task": str(task.path), "domain": task.domain, "result_dir": str(result_dir),
                "model": "replay" if config.replay else (config.model_name or config.planner),
                "mode": config.mode, "max_steps": config.max_steps, "settle_s": config.settle_s,
                "countdown_s": config.countdown_s}
        if config.replay:
            spec["replay"] = str((Path(config.replay) / task.id).resolve())
        else:
            spec.update(planner=config.planner, planner_kind=config.planner_kind, grounder=config.grounder,
                        models_file=config.models_file)
        runs.append(TaskRun(task, result_dir, spec, unsupported_reason(task)))
    return runs


def _error(run: TaskRun, message: str) -> dict[str, Any]:
    run.result_dir.mkdir(parents=True, exist_ok=True)
    return write_task_results(run.task, run.spec, run.result_dir, {"status": "error", "score": None,
                                                                   "outcome": None, "error": message,
                                                                   "time_s": 0.0})


def run_in_child(run: TaskRun, timeout_s: float = DEFAULT_TASK_TIMEOUT_S, interactive: bool = False) -> dict[str, Any]:
    """Run the task in a child process (its own display); its result record."""
    if run.spec.get("replay") and not Path(run.spec["replay"], "steps.jsonl").is_file():
        return _error(run, f"no trajectory to replay for this task: {run.spec['replay']}")
    if run.result_dir.exists():  # an attempt that did not finish (no result.txt): start the task afresh
        shutil.rmtree(run.result_dir)
    run.result_dir.mkdir(parents=True)
    spec_file = run.result_dir / "spec.json"
    spec_file.write_text(json.dumps(run.spec, indent=2) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "pcagent.eval.episode", str(spec_file)]
    started = time.time()
    if interactive:  # in this terminal's process group: Ctrl+C reaches it as it reaches us
        proc = subprocess.Popen(command, start_new_session=False)
    else:
        with open(run.result_dir / "runtime.log", "wb") as log:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # its own group: ending it ends all it started
    with _LIVE_LOCK:
        _LIVE.add(proc)
        stopping = _STOPPING.is_set()
    try:
        if stopping:  # the run was interrupted while this one was starting
            _end_child(proc)
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        _end_child(proc)
        return _error(run, f"the task ran past its time limit ({timeout_s:.0f} s)")
    finally:
        if proc.poll() is None:  # interrupted (Ctrl+C): take the child down with us
            _end_child(proc)
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    result_file = run.result_dir / "result.json"
    if not result_file.exists() or result_file.stat().st_mtime < started:
        return _error(run, f"the episode process ended with code {proc.returncode} and no result "
                           f"(see {run.result_dir / 'runtime.log'})")
    return json.loads(result_file.read_text(encoding="utf-8"))


def _end_child(proc: subprocess.Popen) -> None:
    """SIGINT first (the episode stops its display and programs on the way out), then SIGKILL its group."""
    for sig, grace_s in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            if os.getpgid(proc.pid) == proc.pid:  # a group of its own: its programs go with it
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            continue


def _end_live_children(grace_s: float = 15.0) -> None:
    """Interrupted: no new episode starts; the running ones get SIGINT together, then SIGKILL."""
    with _LIVE_LOCK:
        _STOPPING.set()
        live = list(_LIVE)
    for proc in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for proc in live:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.0, deadline - time.monotonic()))
    for proc in live:
        _end_child(proc)


def _packed_run(run_fields: dict[str, Any], timeout_s: float) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Ray's side: run in a scratch folder on this node; the record and every result file's bytes."""
    from pcagent.eval.tasks import load_task

    task = load_task(run_fields["task_path"], domain=run_fields["domain"])
    with tempfile.TemporaryDirectory(prefix="pcagent-eval-ray-") as scratch:
        result_dir = Path(scratch) / "result"
        spec = {**run_fields["spec"], "result_dir": str(result_dir)}
        record = run_in_child(TaskRun(task, result_dir, spec), timeout_s)
        files = {str(p.relative_to(result_dir)): p.read_bytes() for p in result_dir.rglob("*") if p.is_file()}
    return record, files


def _unpack(files: dict[str, bytes], result_dir: Path) -> None:
    for relative, data in files.items():
        target = (result_dir / relative).resolve()
        if result_dir.resolve() not in target.parents:  # only inside the task's folder
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    spec_file = result_dir / "spec.json"
    if spec_file.exists():  # it named the worker's scratch folder
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        spec_file.write_text(json.dumps({**spec, "result_dir": str(result_dir)}, indent=2) + "\n", encoding="utf-8")


def _on_ray(runs: list[TaskRun], address: str, workers: int, timeout_s: float,
            on_done: Callable[[dict[str, Any]], None]) -> None:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError("--ray needs Ray: pip install 'pcagent[eval]'") from exc
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_packed_run)
        pending = {remote.remote({"task_path": str(run.task.path), "domain": run.task.domain, "spec": run.spec},
                                 timeout_s): run for run in runs}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                run = pending.pop(ref)
                try:
                    record, files = ray.get(ref)
                    _unpack(files, run.result_dir)
                    record = json.loads((run.result_dir / "result.json").read_text(encoding="utf-8")) \
                        if (run.result_dir / "result.json").exists() else record
                except Exception as exc:  # noqa: BLE001 - a lost node or worker: this task errs, the run goes on
                    record = _error(run, f"Ray task failed: {type(exc).__name__}: {exc}")
                on_done(record)
    finally:
        ray.shutdown()


def run_tasks(runs: list[TaskRun], config: EvalConfig, *, workers: int = 1, ray_address: str | None = None,
              on_done: Callable[[dict[str, Any]], None] = lambda record: None) -> list[dict[str, Any]]:
    """Run (or resume) every task; each finished task's record goes to on_done; all records returned."""
    records: list[dict[str, Any]] = []

    def finished(record: dict[str, Any]) -> None:
        records.append(record)
        on_done(record)

    todo = []
    for run in runs:
        if run.unsupported:
            finished(write_unsupported(run.task, run.spec, run.result_dir, run.unsupported))
        elif (earlier := read_result(run.result_dir)) is not None:
            finished({**earlier, "resumed": True})
        else:
            todo.append(run)
    if ray_address:
        _on_ray(todo, ray_address, max(workers, 1), config.task_timeout_s, finished)
    elif workers <= 1:
        for run in todo:
            finished(run_in_child(run, config.task_timeout_s, config.interactive))
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pcagent-eval")
        try:
            futures = [pool.submit(run_in_child, run, config.task_timeout_s) for run in todo]
            for future in as_completed(futures):
                finished(future.result())
        except BaseException:  # Ctrl+C: no new task starts, the running ones end; a rerun resumes
            pool.shutdown(wait=False, cancel_futures=True)
            _end_live_children()
            raise
        pool.shutdown()
    return records


def config_dict(config: EvalConfig) -> dict[str, Any]:
    """The run's settings as written next to the results."""
    return {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()}
