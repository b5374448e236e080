"""`pcagent trace report DIR [--out FILE]`: one self-contained HTML page for a trajectory
(tracker.report). Prints the page's path; exit 1 when the folder is not a trajectory, or when the page was
written but the trajectory has problems (each printed)."""

from __future__ import annotations

import sys
from pathlib import Path

from pcagent.cli.exit_codes import FAILED, OK
from tracker.datasets.sources import DatasetError
from tracker.report import REPORT_FILE, write_report


def _report(args) -> int:
    try:
        result = write_report(Path(args.dir), Path(args.out) if args.out else None)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return FAILED
    for problem in result.problems:  # each starts with its severity
        print(problem, file=sys.stderr)
    print(result.path)
    errors = [p for p in result.problems if p.startswith("error:")]
    return FAILED if errors else OK


def register(trace_commands) -> None:
    report = trace_commands.add_parser(
        "report", help="write a trajectory's HTML report",
        description="Write one self-contained HTML page (works offline) showing each step's marked screenshot, "
                    "action, actor, thought and its source, approval decision and completion provenance, and "
                    "the collaboration metrics; print its path.")
    report.add_argument("dir", help="the trajectory folder")
    report.add_argument("--out", metavar="FILE", help=f"where to write the page (default DIR/{REPORT_FILE})")
    report.set_defaults(func=_report)
