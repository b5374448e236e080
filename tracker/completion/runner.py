"""Running the completion passes over trajectories: planning, ordering, a bounded number of requests in
flight, recording each result as it comes, and the summary.

`complete_trajectories` plans one piece of work per (step, pass) that is missing, links each to what its
prompt reads (a check waits for its description; a thought for the thoughts before it and its step's
description; a reflection and a boost for the thoughts before them), and runs the ready ones on
``concurrency`` worker threads, lowest step first across all trajectories so that every trajectory's
chain of thoughts moves along together. Prompts are built on the calling thread from the steps as they
stand; workers only ask (cache or model) and read the answer. Each result goes to the trajectory's
completion log at once and into steps.jsonl, on a writer thread, when the trajectory is finished and
every ``flush_interval_s`` (tracker.completion.trajectory_store). A failed request or an unusable answer fails
that piece of work only; the run goes on and the summary lists it.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.base import VisionLanguageModel
from models.errors import ModelError
from models.profile import ModelProfile
from models.text_excerpt import shorten
from tracker.completion.answers import AnswerError
from tracker.completion.boost import SampleRejected, boost_convention
from tracker.completion.cache import ResponseCache
from tracker.completion.model_calls import Answer, ModelCaller
from tracker.completion.passes import (OUTPUT_KEYS, PASSES, THOUGHT_MODES, PassSettings, TrajectoryView,
                                       completion_record)
from tracker.completion.prompts import PromptSet
from tracker.completion.step_images import StepImageError
from tracker.completion.trajectory_store import (LOG_FILE, CompletionLog, merge_fields, pending_results,
                                                 write_fields)
from tracker.format.trajectory import TrajectoryError, read_with_line_numbers

__all__ = ["CompletionOptions", "CompletionSummary", "Failure", "PassCounts", "complete_trajectories"]

ERROR_CHARS = 300  # of an error kept in the step, the log and the summary


@dataclass(frozen=True)
class CompletionOptions:
    passes: tuple[str, ...] = ("describe", "check", "thought", "reflection")
    thought_mode: str = "history"
    history_steps: int = 10
    future_steps: int = 10
    boost_samples: int = 9
    boost_temperature: float = 1.0
    concurrency: int = 8
    cache_dir: str | Path | None = None  # None: no cache
    prompts_dir: str | Path | None = None  # files here replace the built-in prompts of the same name
    flush_interval_s: float = 2.0

    def check(self) -> None:
        unknown = [p for p in self.passes if p not in PASSES]
        if unknown or not self.passes:
            raise ValueError(f"unknown pass(es) {', '.join(unknown) or '(none given)'}; passes are {', '.join(PASSES)}")
        if self.thought_mode not in THOUGHT_MODES:
            raise ValueError(f"thought mode must be one of {', '.join(THOUGHT_MODES)}, not {self.thought_mode!r}")
        for name in ("concurrency", "boost_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("history_steps", "future_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.boost_temperature < 0:
            raise ValueError(f"boost temperature must be 0 or more, not {self.boost_temperature}")


@dataclass
class PassCounts:
    done: int = 0  # filled in this run (cached ones included)
    cached: int = 0  # ... of which every answer came from the cache
    failed: int = 0
    skipped: int = 0  # already there, or not for this step


@dataclass(frozen=True)
class Failure:
    trajectory: Path
    step: int
    pass_name: str
    error: str
    kind: str  # the error's class: ModelTimeout, ModelHTTPError, AnswerError, ...


@dataclass
class CompletionSummary:
    trajectories: int = 0
    counts: dict[str, PassCounts] = field(default_factory=dict)
    requests: int = 0  # requests the model was sent (cache hits not counted)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    elapsed_s: float = 0.0
    boost_kept: int = 0  # boost samples kept (duplicates not counted)
    boost_rejected: int = 0  # boost samples that did not parse, pointed off the screen, ended otherwise, ...
    failures: list[Failure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # trajectories or lines that could not be completed

    def total(self, what: str) -> int:
        return sum(getattr(counts, what) for counts in self.counts.values())

    @property
    def ok(self) -> bool:
        return not self.failures and not self.problems


@dataclass(eq=False)
class _Item:
    """One piece of work: a pass on a step (a boost: all its samples)."""

    job: _Job
    pos: int
    pass_name: str
    waiting: int = 0  # unfinished items it reads
    dependents: list[_Item] = field(default_factory=list)
    samples_left: int = 1
    skipped: bool = False  # found to have nothing to do when it came up (what it reads failed)
    answers: list[tuple[str, Any, Answer | None]] = field(default_factory=list)  # (status, value, answer)


@dataclass(eq=False)
class _Job:
    """One trajectory being completed."""

    number: int
    view: TrajectoryView
    log: CompletionLog
    open_items: int = 0
    unwritten: dict[int, dict[str, Any]] = field(default_factory=dict)  # step index -> fields not yet on disk


_RANK = {name: rank for rank, name in enumerate(PASSES)}


class _Run:
    def __init__(self, model: VisionLanguageModel, profile: ModelProfile, options: CompletionOptions,
                 progress: Callable[[int, int], None] | None) -> None:
        options.check()
        convention = boost_convention(profile, model) if "boost" in options.passes else "absolute"
        self.settings = PassSettings(options.thought_mode, options.history_steps, options.future_steps,
                                     options.boost_samples, options.boost_temperature, profile.action_format,
                                     convention, profile.image_max_pixels, profile.model, profile.name)
        self.options, self.progress = options, progress
        self.prompts = PromptSet(options.prompts_dir)
        cache = ResponseCache(options.cache_dir) if options.cache_dir is not None else None
        self.caller = ModelCaller(model, profile, cache)
        self.summary = CompletionSummary(counts={name: PassCounts() for name in options.passes})
        self.jobs: list[_Job] = []
        self.ready: list[tuple[tuple[int, int, int, int], int, _Item, int | None]] = []
        self._sequence = 0  # heap tie-breaker
        self.units_total = self.units_done = 0
        self.last_flush = time.monotonic()
        # steps.jsonl is written (and synced) on a thread of its own, so that a slow disk never holds up
        # the next request; one thread keeps each trajectory's writes in order
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="completion-writer")
        self.writes: list[tuple[Path, Future]] = []

    # ---- planning ----

    def add(self, root: Path) -> None:
        try:
            meta, numbered, problems = read_with_line_numbers(root)
        except TrajectoryError as error:
            self.summary.problems.append(str(error))
            return
        for problem in problems:
            if problem.severity == "error":
                self.summary.problems.append(f"{root}: {problem.where}: {problem.message} (left as it is)")
        steps = [step for _, step in numbered]
        job = _Job(len(self.jobs), TrajectoryView(root, meta, steps, self.settings, self.prompts), CompletionLog(root))
        self.jobs.append(job)
        self.summary.trajectories += 1
        recovered = pending_results(job.log, steps, OUTPUT_KEYS)
        if recovered:  # results logged by a run that stopped before writing them
            for step in steps:
                if step.index in recovered:
                    merge_fields(step.extra, recovered[step.index])
            write_fields(root, recovered)
        self._plan(job)

    def _plan(self, job: _Job) -> None:
        view, planned = job.view, set()
        items: dict[tuple[int, str], _Item] = {}
        last_thought: _Item | None = None
        for pos in range(len(view.steps)):
            for name in PASSES:
                if name not in self.options.passes:
                    continue
                reason = view.skip_reason(pos, name, planned)
                if reason is not None:
                    self.summary.counts[name].skipped += 1
                    continue
                item = _Item(job, pos, name, samples_left=self.settings.boost_samples if name == "boost" else 1)
                reads = {"check": [items.get((pos, "describe"))],
                         "thought": [items.get((pos, "describe")), items.get((pos, "check")), last_thought],
                         "reflection": [items.get((pos - 1, "describe")), items.get((pos - 1, "check")), last_thought],
                         "boost": [last_thought]}.get(name, [])
                for before in reads:
                    if before is not None:
                        before.dependents.append(item)
                        item.waiting += 1
                items[(pos, name)] = item
                planned.add((pos, name))
                job.open_items += 1
                self.units_total += item.samples_left
            if (pos, "thought") in items:
                last_thought = items[(pos, "thought")]
        for item in items.values():
            if item.waiting == 0:
                self._make_ready(item)

    def _make_ready(self, item: _Item) -> None:
        samples = range(item.samples_left) if item.pass_name == "boost" else [None]
        for sample in samples:
            self._sequence += 1
            key = (item.pos, _RANK[item.pass_name], item.job.number, sample or 0)
            heapq.heappush(self.ready, (key, self._sequence, item, sample))

    # ---- running ----

    def run(self) -> CompletionSummary:
        started = time.monotonic()
        self._report()
        in_flight: dict[Future, tuple[_Item, dict[str, Any]]] = {}
        pool = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="completion")
        try:
            while self.ready or in_flight:
                while self.ready and len(in_flight) < self.options.concurrency:
                    _, _, item, sample = heapq.heappop(self.ready)
                    if item.skipped:
                        continue
                    submitted = self._submit(pool, item, sample)
                    if submitted is not None:
                        in_flight[submitted[0]] = (item, submitted[1])
                if not in_flight:
                    continue
                finished, _ = wait(in_flight, timeout=self.options.flush_interval_s, return_when=FIRST_COMPLETED)
                for future in finished:
                    item, _context = in_flight.pop(future)
                    try:
                        status, value, answer = future.result()
                    except Exception as error:  # noqa: BLE001 - a bug must not lose the run: only this item fails
                        status, value, answer = "failed", (type(error).__name__, f"internal error: {error}"), None
                    self._collect(item, status, value, answer)
                if time.monotonic() - self.last_flush >= self.options.flush_interval_s:
                    self._flush_all()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            self._flush_all()
            self._close()
            raise
        pool.shutdown(wait=True)
        self._flush_all()
        self._close()
        self.summary.failures.sort(key=lambda f: (str(f.trajectory), f.step, _RANK[f.pass_name]))
        self.summary.requests = self.caller.requests
        self.summary.elapsed_s = time.monotonic() - started
        return self.summary

    def _submit(self, pool: ThreadPoolExecutor, item: _Item, sample: int | None) -> tuple[Future, dict] | None:
        view = item.job.view
        if sample in (None, 0):  # what it reads may have failed: look again before asking
            reason = view.skip_reason(item.pos, item.pass_name, set())
            if reason is not None:
                self.summary.counts[item.pass_name].skipped += 1
                item.skipped = True
                self._advance(item.samples_left)
                self._finish(item)
                return None
        try:
            request, context = view.request(item.pos, item.pass_name, sample)
        except Exception as error:  # noqa: BLE001 - an unreadable screenshot, or a bug: this item fails
            self._collect(item, "failed", (type(error).__name__, str(error)), None)
            return None
        future = pool.submit(_work, self.caller, view, item.pass_name, request, context)
        return future, context

    def _collect(self, item: _Item, status: str, value: Any, answer: Answer | None) -> None:
        if answer is not None and not answer.cached:
            self.summary.prompt_tokens += answer.prompt_tokens
            self.summary.completion_tokens += answer.completion_tokens
        self._advance(1)
        item.answers.append((status, value, answer))
        item.samples_left -= 1
        if item.samples_left > 0:
            return  # a boost's other samples are still out; it is done (or failed) when all are in
        if item.pass_name == "boost":
            self._finish_boost(item)
        elif status == "done":
            self._done(item, value, answer)
        else:
            self._failed(item, value)
        self._finish(item)

    def _finish_boost(self, item: _Item) -> None:
        failures = [value for status, value, _ in item.answers if status == "failed"]
        if failures:
            kind, message = failures[0]
            self._failed(item, (kind, f"{len(failures)} of {len(item.answers)} samples failed: {message}"))
            return
        samples = [value for status, value, _ in item.answers if status == "done"]
        rejected = [value[1] for status, value, _ in item.answers if status == "rejected"]
        answers = [answer for _, _, answer in item.answers if answer is not None]
        model = next((a.model for a in answers if a.model), "")
        fields = item.job.view.boost_fields(samples, rejected, model)
        self.summary.boost_kept += len(fields["boost"]["samples"])
        self.summary.boost_rejected += len(rejected)
        cached = bool(answers) and all(a.cached for a in answers)
        self._done(item, fields, Answer("", model=model, cached=cached))

    def _done(self, item: _Item, fields: dict[str, Any], answer: Answer | None) -> None:
        cached = bool(answer and answer.cached)
        record = completion_record(self.settings, status="done", model=answer.model if answer else "", cached=cached)
        fields = {**fields, "completion": {item.pass_name: record}}
        counts = self.summary.counts[item.pass_name]
        counts.done += 1
        counts.cached += cached
        self._apply(item, fields, {"status": "done", "fields": fields})

    def _failed(self, item: _Item, value: tuple[str, str]) -> None:
        kind, message = value
        message = shorten(message, ERROR_CHARS)
        record = completion_record(self.settings, status="failed", error=message)
        self.summary.counts[item.pass_name].failed += 1
        self.summary.failures.append(Failure(item.job.view.root, item.job.view.steps[item.pos].index,
                                             item.pass_name, message, kind))
        self._apply(item, {"completion": {item.pass_name: record}}, {"status": "failed", "error": message,
                                                                      "kind": kind})

    def _apply(self, item: _Item, fields: dict[str, Any], log_record: dict[str, Any]) -> None:
        job = item.job
        step = job.view.steps[item.pos]
        merge_fields(step.extra, fields)
        merge_fields(job.unwritten.setdefault(step.index, {}), fields)
        job.log.append({"index": step.index, "action": step.action, "pass": item.pass_name, **log_record})

    def _finish(self, item: _Item) -> None:
        job = item.job
        job.open_items -= 1
        for dependent in item.dependents:
            dependent.waiting -= 1
            if dependent.waiting == 0:
                self._make_ready(dependent)
        if job.open_items == 0:
            self._flush(job)

    def _advance(self, units: int) -> None:
        self.units_done += units
        self._report()

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.units_done, self.units_total)

    def _flush(self, job: _Job) -> None:
        if job.unwritten:
            updates, job.unwritten = job.unwritten, {}
            self.writes.append((job.view.root, self.writer.submit(write_fields, job.view.root, updates)))

    def _flush_all(self) -> None:
        for job in self.jobs:
            self._flush(job)
        self.last_flush = time.monotonic()

    def _close(self) -> None:
        self.writer.shutdown(wait=True)
        for root, write in self.writes:
            if write.exception() is not None:  # the results stay in the completion log for the next run
                self.summary.problems.append(f"{root}: steps.jsonl could not be written ({write.exception()}); "
                                             f"the next run applies the results from {LOG_FILE}")
        for job in self.jobs:
            job.log.close()


def _work(caller: ModelCaller, view: TrajectoryView, pass_name: str, request: Any,
          context: dict[str, Any]) -> tuple[str, Any, Answer | None]:
    """On a worker thread: ask, and read the answer. (status, fields / sample / (kind, error), answer)."""
    try:
        answer = caller.ask(request)
    except (ModelError, StepImageError) as error:
        return "failed", (type(error).__name__, str(error)), None
    try:
        value = view.fields(pass_name, answer, context)
    except SampleRejected as error:
        caller.store(answer)  # a rejected sample is an outcome too: the next run need not ask again
        return "rejected", ("SampleRejected", str(error)), answer
    except AnswerError as error:
        return "failed", ("AnswerError", f"unusable answer: {error}"), answer
    caller.store(answer)
    return "done", value, answer


def complete_trajectories(roots: Iterable[str | Path], model: VisionLanguageModel, profile: ModelProfile,
                          options: CompletionOptions = CompletionOptions(), *,
                          progress: Callable[[int, int], None] | None = None) -> CompletionSummary:
    """Fill what is missing in each trajectory folder with ``model`` (opened from ``profile``, which names it
    in the provenance records). ``progress(done, total)`` is called as requests finish. Raises ValueError for
    bad options or a profile boost cannot read, PromptError for a bad prompt file; a failed request is
    recorded, not raised."""
    run = _Run(model, profile, options, progress)
    seen: set[Path] = set()
    for root in map(Path, roots):
        if root.resolve() not in seen:  # one folder named twice is completed once
            seen.add(root.resolve())
            run.add(root)
    return run.run()
