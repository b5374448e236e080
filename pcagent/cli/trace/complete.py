"""`pcagent trace complete DIR... --model PROFILE`: fill in descriptions, thoughts, reflections and boost
samples with a model (tracker.completion), with a progress bar and a summary.

Exit codes: 0 everything asked for is done (or was there already); 1 some step failed (each failure is in
the step's ``completion`` record and the trajectory's completion.jsonl; run again to retry only those);
2 bad arguments, profile or prompt files; 3 the model could not be used at all (nothing done, every
request failed to connect or was refused); 130 interrupted (what was done is kept).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pcagent.cli import exit_codes
from tracker.completion import (DEFAULT_PASSES, LOG_FILE, PASSES, THOUGHT_MODES, CompletionOptions,
                                CompletionSummary, PromptError, complete_trajectories, default_cache_dir)
from tracker.format.trajectory import META_FILE

__all__ = ["register"]

_UNREACHABLE = ("ModelConnectionError", "ModelAuthError", "ModelUnavailable")
FAILURES_SHOWN = 20


def trajectory_folders(dirs: list[str]) -> list[Path]:
    """Each DIR that is a trajectory, or the trajectories directly inside it; ValueError for one that is neither."""
    found: list[Path] = []
    for given in dirs:
        folder = Path(given)
        if (folder / META_FILE).is_file():
            found.append(folder)
            continue
        inside = sorted(child for child in folder.iterdir() if (child / META_FILE).is_file()) \
            if folder.is_dir() else []
        if not inside:
            raise ValueError(f"{folder} is not a trajectory folder (no {META_FILE}) and holds none")
        found.extend(inside)
    return found


def _print_summary(summary: CompletionSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False)
    table = Table(title=f"Completion of {summary.trajectories} trajectories")
    for column in ("pass", "done", "cached", "failed", "skipped"):
        table.add_column(column, justify="left" if column == "pass" else "right")
    for name, counts in summary.counts.items():
        table.add_row(name, str(counts.done), str(counts.cached), str(counts.failed), str(counts.skipped))
    console.print(table)
    print(f"done {summary.total('done')} (cached {summary.total('cached')}), failed {summary.total('failed')}, "
          f"skipped {summary.total('skipped')}; {summary.requests} requests, tokens {summary.prompt_tokens} in + "
          f"{summary.completion_tokens} out; {summary.elapsed_s:.1f} s")
    if "boost" in summary.counts:
        print(f"boost samples: {summary.boost_kept} kept, {summary.boost_rejected} rejected")
    for failure in summary.failures[:FAILURES_SHOWN]:
        print(f"  failed: {failure.trajectory} step {failure.step} {failure.pass_name}: {failure.error}")
    if len(summary.failures) > FAILURES_SHOWN:
        print(f"  ... and {len(summary.failures) - FAILURES_SHOWN} more (each trajectory's {LOG_FILE} lists them)")
    for problem in summary.problems:
        print(f"  problem: {problem}")
    if summary.failures:
        print("Run the same command again to retry the failed steps only.")


def _exit_code(summary: CompletionSummary) -> int:
    if summary.ok:
        return exit_codes.OK
    if summary.failures and not summary.total("done") and all(f.kind in _UNREACHABLE for f in summary.failures):
        return exit_codes.MODEL_UNAVAILABLE
    return exit_codes.FAILED


def _complete(args) -> int:
    from models.factory import open_model
    from models.profiles import get_profile

    passes = tuple(name.strip() for name in args.passes.split(",") if name.strip())
    cache_dir = None if args.no_cache else Path(args.cache).expanduser() if args.cache else default_cache_dir()
    options = CompletionOptions(passes=passes, thought_mode=args.thought_mode, history_steps=args.history_steps,
                                future_steps=args.future_steps, boost_samples=args.boost_samples,
                                boost_temperature=args.boost_temperature, concurrency=args.concurrency,
                                cache_dir=cache_dir, prompts_dir=args.prompts)
    try:
        options.check()
        folders = trajectory_folders(args.dirs)
    except (ValueError, OSError) as exc:
        print(f"pcagent trace complete: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    profile = get_profile(args.model, args.models_file)  # a ModelConfigError exits 2 (pcagent.cli.main)
    model = open_model(profile)
    try:
        summary = _run(folders, model, profile, options, show_progress=not args.no_progress)
    except (PromptError, ValueError) as exc:  # a bad prompt file, a profile boost cannot read
        print(f"pcagent trace complete: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    finally:
        model.close()
    _print_summary(summary)
    return _exit_code(summary)


def _run(folders, model, profile, options: CompletionOptions, *, show_progress: bool) -> CompletionSummary:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    console = Console(file=sys.stderr)
    with Progress(TextColumn("completing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, disable=not show_progress, transient=False) as progress:
        task = progress.add_task("completing", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return complete_trajectories(folders, model, profile, options, progress=report)


def register(trace_commands) -> None:
    complete = trace_commands.add_parser(
        "complete", help="fill in action descriptions, thoughts, reflections and boost samples with a model",
        description="Fill what is missing in recorded trajectories with a model: " + ", ".join(PASSES) +
                    ". Only missing fields are asked for, answers are cached, and a failed step is recorded "
                    "and retried on the next run. Exit 0 all done, 1 some step failed, 2 usage, 3 model "
                    "unavailable, 130 interrupted.")
    complete.add_argument("dirs", nargs="+", metavar="DIR", help="trajectory folders, or folders that hold them")
    complete.add_argument("--model", required=True, metavar="PROFILE", help="the model profile to complete with")
    complete.add_argument("--models-file", help="the model profiles file (default ~/.config/pcagent/models.toml)")
    complete.add_argument("--passes", default=",".join(DEFAULT_PASSES), metavar="LIST",
                          help=f"comma-separated passes out of {','.join(PASSES)} (default {','.join(DEFAULT_PASSES)})")
    complete.add_argument("--thought-mode", choices=THOUGHT_MODES, default="history",
                          help="history: thoughts from the earlier steps only (PC Agent-E); hindsight: also show "
                               "the next steps (PC Agent)")
    complete.add_argument("--history-steps", type=int, default=10, metavar="N", help="earlier steps shown (10)")
    complete.add_argument("--future-steps", type=int, default=10, metavar="N",
                          help="later steps shown in hindsight mode (10)")
    complete.add_argument("--boost-samples", type=int, default=9, metavar="N",
                          help="boost: samples asked for per human step (9, as PC Agent-E)")
    complete.add_argument("--boost-temperature", type=float, default=1.0, metavar="T",
                          help="boost: sampling temperature (1.0)")
    complete.add_argument("--concurrency", type=int, default=8, metavar="N", help="requests in flight at once (8)")
    complete.add_argument("--cache", metavar="DIR", help="where answers are cached "
                                                         "(default $XDG_CACHE_HOME/pcagent/completion)")
    complete.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    complete.add_argument("--prompts", metavar="DIR", help="a folder of prompt files that replace the built-in "
                                                           "ones of the same names")
    complete.add_argument("--no-progress", action="store_true", help="no progress bar")
    complete.set_defaults(func=_complete)
