"""`pcagent grounding ...`: evaluate a grounding engine on a dataset, and make a dataset.

    pcagent grounding eval DATASET --engine NAME [--bbox-format xywh|xyxy] [--limit N] [--out results.jsonl]
    pcagent grounding make-dataset OUT [--no-sample-app] [--real-programs LIST|all|none] [--quick]
                                       [--live-eval ENGINE ...]

``register(commands)`` adds the group to the CLI's subparsers. ``--live-eval`` scores engines that need
the live screen (accessibility) while each captured screen is still showing.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def register(commands: Any) -> argparse.ArgumentParser:
    """Add `grounding eval` and `grounding make-dataset` to an argparse subparsers object."""
    grounding = commands.add_parser("grounding", help="grounding benchmark: evaluate engines, make datasets")
    sub = grounding.add_subparsers(dest="grounding_command", required=True, metavar="SUBCOMMAND")

    ev = sub.add_parser("eval", help="score a grounding engine on a ScreenSpot-format dataset")
    ev.add_argument("dataset", help="dataset folder or .json/.jsonl file")
    ev.add_argument("--engine", required=True,
                    help="default | ocr | icons | template | model:PROFILE | composite:a,b (engines that read the "
                         "live desktop, such as accessibility, step aside on stored screenshots)")
    ev.add_argument("--bbox-format", choices=("xywh", "xyxy"), default=None,
                    help="how bbox is written (default: each record's bbox_format, else xywh)")
    ev.add_argument("--limit", type=int, default=None, help="only the first N samples")
    ev.add_argument("--out", help="per-sample results as JSON lines")
    ev.set_defaults(func=run_eval)

    make = sub.add_parser("make-dataset", help="capture a grounding dataset on a private virtual display")
    make.add_argument("out", help="output folder (images/ and dataset.json)")
    make.add_argument("--no-sample-app", action="store_true", help="leave out the bundled sample app")
    make.add_argument("--real-programs", default="all",
                      help="comma-separated programs (mousepad,galculator,pcmanfm,...), all or none")
    make.add_argument("--quick", action="store_true", help="one variant per source: a fast smoke set")
    make.add_argument("--live-eval", action="append", default=[], metavar="ENGINE",
                      help="also score ENGINE on each screen while it is live (e.g. accessibility)")
    make.set_defaults(func=run_make_dataset)
    return grounding


def run_eval(args: argparse.Namespace) -> int:
    from grounding.engines import open_grounder
    from grounding.benchmark.evaluate import evaluate
    from grounding.benchmark.screenspot import DatasetError, load_dataset

    try:
        samples = load_dataset(args.dataset, args.bbox_format)
    except (DatasetError, OSError) as exc:
        print(f"pcagent grounding eval: {exc}", file=sys.stderr)
        return 1
    if args.limit is not None:
        samples = samples[: args.limit]
    try:
        grounder = open_grounder(args.engine, live=False)
    except Exception as exc:  # unknown spec, bad model profile: say it, no traceback
        print(f"pcagent grounding eval: {exc}", file=sys.stderr)
        return 1
    total = len(samples)

    def progress(result: Any) -> None:
        progress.done += 1  # type: ignore[attr-defined]
        if sys.stderr.isatty():
            print(f"\r{progress.done}/{total}", end="", file=sys.stderr, flush=True)  # type: ignore[attr-defined]

    progress.done = 0  # type: ignore[attr-defined]
    report = evaluate(samples, grounder, on_result=progress, results_path=args.out)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(report.format_table())
    aside = getattr(grounder, "stepped_aside", None)
    if aside:
        print(f"stepped aside (they read the live desktop): {', '.join(aside)}")
    screenshots = len({r.image for r in report.results})
    for cache in _ocr_caches(grounder):
        stats = cache.stats
        print(f"OCR over {screenshots} screenshots: {stats.full_runs} full reads, {stats.partial_runs} partial, "
              f"{stats.cache_hits} answered from the cache")
    if args.out:
        print(f"per-sample results: {args.out}")
    return 0


def _ocr_caches(grounder: Any) -> list[Any]:
    """The OcrCache of the grounder, or of each engine of a composite."""
    engines = getattr(grounder, "engines", [grounder])
    return [e.cache for e in engines if getattr(e, "cache", None) is not None and hasattr(e.cache, "stats")]


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ as ``env`` for a while (engines open their platform connections from it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class LiveEvaluation:
    """Scores engines on each screen while it is live; one report per engine across all screens."""

    def __init__(self, specs: list[str]) -> None:
        from grounding.benchmark.evaluate import EvalReport

        self.specs = specs
        self.reports = {spec: EvalReport(spec) for spec in specs}

    def __call__(self, display: Any, samples: list) -> None:
        from grounding.accessibility import open_accessibility
        from grounding.engines import open_grounder
        from grounding.benchmark.evaluate import evaluate

        env = display.child_env()
        for spec in self.specs:
            if spec == "accessibility":  # bound to this display's AT-SPI bus
                from grounding.accessibility import AccessibilityGrounder

                grounder: Any = AccessibilityGrounder(open_accessibility(env))
                scored = [s for s in samples if s.extra.get("a11y_exposed") is not False]
            else:
                with _environment(env):
                    grounder = open_grounder(spec)
                    for engine in getattr(grounder, "engines", [grounder]):
                        getattr(engine, "accessibility", None)  # opened now: bound to this display's bus
                scored = list(samples)
            try:
                self.reports[spec].results += evaluate(scored, grounder).results
            finally:
                close = getattr(grounder, "close", None)
                if callable(close):
                    close()


def run_make_dataset(args: argparse.Namespace) -> int:
    from pcagent.testbed.grounding_dataset import SAMPLE_VARIANTS, make_dataset
    from pcagent.testbed.real_programs import REAL_PROGRAMS

    choice = args.real_programs.strip().lower()
    programs = None if choice == "all" else [] if choice == "none" else [
        p.strip() for p in choice.split(",") if p.strip()]
    unknown = [p for p in programs or [] if p not in REAL_PROGRAMS]
    if unknown:
        print(f"pcagent grounding make-dataset: unknown program(s) {', '.join(unknown)}; known: "
              f"{', '.join(REAL_PROGRAMS)}", file=sys.stderr)
        return 2
    live = LiveEvaluation(args.live_eval) if args.live_eval else None
    try:
        report = make_dataset(Path(args.out), variants=() if args.no_sample_app else SAMPLE_VARIANTS,
                              real_programs=programs, quick=args.quick, on_capture=live)
    except RuntimeError as exc:
        print(f"pcagent grounding make-dataset: {exc}", file=sys.stderr)
        return 1
    print(report.format())
    for spec, eval_report in (live.reports.items() if live else ()):
        print(f"\nlive evaluation ({spec}):")
        print(eval_report.format_table())
        from grounding.benchmark.evaluate import write_results

        write_results(eval_report, Path(args.out) / f"live-{spec.replace(':', '_')}.jsonl")
    return 0
