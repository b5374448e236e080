"""`pcagent trace refine SRC DEST`: recordings made fit for completion and training (tracker.refine)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pcagent.cli.exit_codes import FAILED, OK, USAGE
from tracker.refine.options import (
    DEFAULT_PASSES, FINISH_MODES, PASS_NAMES, RESOLUTION_PRESETS, OptionsError, RefineOptions, parse_resolution,
)
from tracker.refine.runner import REPORT_FILE, RefineError, refine

__all__ = ["options_from_args", "register"]


def options_from_args(args: argparse.Namespace) -> RefineOptions:
    """The run's options from the command line; raises OptionsError for ones that do not go together."""
    if args.only:
        passes = {name.strip() for part in args.only for name in part.split(",") if name.strip()}
    else:
        passes = set(DEFAULT_PASSES)
        if args.resolution:
            passes.add("normalize")
        if args.vertical_scroll:
            passes.add("vertical-scroll")
    passes -= set(args.skip or ())
    resolution = parse_resolution(args.resolution) if args.resolution else None
    return RefineOptions(passes=frozenset(passes), keep_failed=args.keep_failed, finish_mode=args.finish_mode,
                         drag_tolerance=args.drag_tolerance, resolution=resolution)


def _refine(args: argparse.Namespace) -> int:
    try:
        options = options_from_args(args)
    except OptionsError as error:
        print(f"pcagent trace refine: {error}", file=sys.stderr)
        return USAGE
    src, dest = Path(args.src), Path(args.dest)
    print(f"Refining {src} -> {dest}  (passes: {', '.join(options.ordered) or 'none'})")
    try:
        report = refine(src, dest, options, echo=print)
    except RefineError as error:
        print(f"pcagent trace refine: {error}", file=sys.stderr)
        return FAILED
    summary = report.to_dict()["summary"]
    print(f"{summary['refined']} refined, {summary['dropped']} dropped, {summary['error']} failed")
    for name, counts in report.totals().items():
        print(f"  {name}: " + ", ".join(f"{count} {change}" for change, count in counts.items()))
    if dest.exists():
        print(f"Wrote {dest} (report: {dest / REPORT_FILE})")
    else:
        print(f"Nothing written: {dest} was not created")
    for failed in report.failed:
        print(f"error: {src / failed['source']}: {failed['reason']}", file=sys.stderr)
    return FAILED if report.failed else OK


def register(trace_commands) -> None:
    parser = trace_commands.add_parser(
        "refine", help="clean recordings for training: drop, merge, normalise, mark (a new folder)",
        description="Refine a trajectory folder, or a folder of them, into DEST (SRC is never modified). "
                    f"Passes, in running order: {', '.join(PASS_NAMES)}. On by default: every one but "
                    "vertical-scroll (--vertical-scroll) and normalize (--resolution).")
    parser.add_argument("src", help="a trajectory folder, or a folder of trajectory folders")
    parser.add_argument("dest", help="the new folder to write (must not exist, or be empty)")
    parser.add_argument("--only", action="append", metavar="PASS[,PASS]",
                        help="run only these passes (repeatable, comma-separated)")
    for name in PASS_NAMES:
        parser.add_argument(f"--no-{name}", dest="skip", action="append_const", const=name,
                            help=f"skip the {name} pass")
    parser.add_argument("--keep-failed", action="store_true",
                        help="drop-unusable keeps recordings that ended in fail")
    parser.add_argument("--finish-mode", choices=FINISH_MODES, default="append",
                        help="force-finish after a last real action: append a finish step (default) or "
                             "replace the action with finish (PC Agent); a trailing wait is always replaced")
    parser.add_argument("--drag-tolerance", type=int, default=5, metavar="PX",
                        help="merge-drag: points within PX (|dx| + |dy|) are the same point (default 5)")
    parser.add_argument("--resolution", metavar="WxH",
                        help=f"normalise to this size: WxH or {', '.join(RESOLUTION_PRESETS)} "
                             "(1920x1080, 1280x720)")
    parser.add_argument("--vertical-scroll", action="store_true",
                        help="rewrite scrolls to PC Agent-E's vertical form")
    parser.set_defaults(func=_refine)
