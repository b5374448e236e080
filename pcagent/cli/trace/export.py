"""`pcagent trace export` and `import-osworld`: trajectories to training and evaluation data, and OSWorld
results back to trajectories (tracker.datasets).

Both go on past a trajectory or result folder that cannot be read, naming it and the reason, and exit 1
when any failed (0 when all went well)."""

from __future__ import annotations

import sys
from pathlib import Path

from pcagent.cli.exit_codes import FAILED, OK, USAGE
from tracker.datasets.export import EXPORT_FORMATS, ExportOptions, export_trajectories
from tracker.datasets.osworld_import import import_osworld_results
from tracker.datasets.samples import DEFAULT_PREAMBLE, HISTORY_STEPS, STEP_SELECTIONS
from tracker.datasets.sources import DatasetError


def _export(args) -> int:
    preamble = DEFAULT_PREAMBLE
    if args.prompt:
        try:
            preamble = Path(args.prompt).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            print(f"error: --prompt {args.prompt}: {error}", file=sys.stderr)
            return USAGE
    options = ExportOptions(steps=args.steps, boosts=not args.no_boost, history_steps=args.history,
                            preamble=preamble, overwrite=args.force, dataset_name=args.dataset_name)

    def on_done(path: Path, error: str | None) -> None:
        if error:
            print(f"error: {error}" if str(path) in error else f"error: {path}: {error}", file=sys.stderr)

    try:
        report = export_trajectories([Path(d) for d in args.dirs], args.format, Path(args.out), options, on_done)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return FAILED
    if not report.exported:
        print(f"nothing exported: none of the {len(report.failed)} trajectories could be read", file=sys.stderr)
        return FAILED
    print(f"Exported {len(report.exported)} trajectories as {args.format} to {report.out}: {report.counts.summary()}")
    for path in report.files[1:]:
        print(f"  also wrote {path}")
    if args.format in ("llamafactory", "messages") and not any(report.counts.written.values()):
        print("hint: no step had a thought; `pcagent trace complete` writes them", file=sys.stderr)
    if report.failed:
        print(f"{len(report.failed)} left out (see the errors above)", file=sys.stderr)
        return FAILED
    return OK


def _import_osworld(args) -> int:
    def on_done(source: Path, dest: Path | None, warnings: list[str], error: str | None) -> None:
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if error:
            print(f"error: {error}", file=sys.stderr)
        else:
            print(f"Imported {source} into {dest}")

    try:
        report = import_osworld_results(Path(args.src), Path(args.dest), Path(args.task) if args.task else None,
                                        on_done)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return FAILED
    if report.failed:
        print(f"{len(report.failed)} of {len(report.failed) + len(report.imported)} result folders could not be "
              "imported (see the errors above)", file=sys.stderr)
        return FAILED
    return OK


def register(trace_commands) -> None:
    export = trace_commands.add_parser(
        "export", help="write trajectories as training or evaluation data",
        description="Export trajectories (each DIR a trajectory or a folder of them) as LLaMA-Factory JSON "
                    "(PC Agent-E's shape), OpenAI messages JSONL, a Hugging Face Parquet file or OSWorld "
                    "results. A trajectory that cannot be read is named and left out; the exit code is then 1.")
    export.add_argument("dirs", nargs="+", metavar="DIR", help="a trajectory folder, or a folder holding trajectories")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", required=True, metavar="PATH",
                        help="llamafactory: the .json file (dataset_info.json and the screenshots go beside it); "
                             "messages: a .jsonl file; parquet: a .parquet file; osworld: a folder")
    export.add_argument("--steps", choices=STEP_SELECTIONS, default="human",
                        help="llamafactory/messages: samples from human steps only (PC Agent-E, the default), or "
                             "also from the agent's approved steps")
    export.add_argument("--no-boost", action="store_true",
                        help="llamafactory/messages: leave out the boost samples completion added")
    export.add_argument("--history", type=int, default=HISTORY_STEPS, metavar="N",
                        help=f"llamafactory/messages: earlier steps shown in each sample (default {HISTORY_STEPS})")
    export.add_argument("--prompt", metavar="FILE",
                        help="llamafactory/messages: a text file replacing the preamble (role and action space)")
    export.add_argument("--dataset-name", metavar="NAME",
                        help="llamafactory: the dataset_info.json entry (default: the --out file's name)")
    export.add_argument("--force", action="store_true", help="replace output that already exists")
    export.set_defaults(func=_export)

    imp = trace_commands.add_parser(
        "import-osworld", help="convert OSWorld result folders into trajectories",
        description="Import an OSWorld result folder (traj.jsonl, step screenshots, result.txt), or every one "
                    "below SRC, as pcagent trajectories under DEST.")
    imp.add_argument("src", help="a result folder holding traj.jsonl, or a folder of them (e.g. OSWorld's results/)")
    imp.add_argument("dest", help="the new trajectory folder (for a tree: the folder that mirrors it)")
    imp.add_argument("--task", metavar="PATH",
                     help="the OSWorld task file, or a folder of them (evaluation_examples/examples), for the "
                          "instruction")
    imp.set_defaults(func=_import_osworld)
