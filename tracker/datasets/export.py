"""``pcagent trace export``: trajectories to training and evaluation data, one format per call.

    llamafactory   LLaMA-Factory JSON in PC Agent-E's shape + dataset_info.json   (tracker.datasets.llamafactory)
    messages       OpenAI chat messages, a JSONL line per sample                     (tracker.datasets.messages)
    parquet        a Hugging Face datasets Parquet file, a row per step             (tracker.datasets.parquet)
    osworld        OSWorld results: traj.jsonl and step screenshots                (tracker.datasets.osworld_traj)

A folder that is not a trajectory, or a trajectory that does not read cleanly (bad meta.json, a broken step
line, an unreadable screenshot), is reported with the reason and left out: the others are exported, and
nothing of the failed one reaches the output. When none can be exported, nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

from tracker.datasets.llamafactory import LlamaFactoryExport
from tracker.datasets.messages import MessagesExport
from tracker.datasets.osworld_traj import OSWorldExport
from tracker.datasets.parquet import ParquetExport
from tracker.datasets.samples import DEFAULT_PREAMBLE, HISTORY_STEPS, STEP_SELECTIONS, SampleCounts
from tracker.datasets.sources import DatasetError, find_trajectories, load_trajectory

__all__ = ["EXPORT_FORMATS", "ExportOptions", "ExportReport", "export_trajectories"]

EXPORT_FORMATS = ("llamafactory", "parquet", "osworld", "messages")


@dataclass(frozen=True)
class ExportOptions:
    """How samples are made (llamafactory, messages) and whether existing output may be replaced."""

    steps: str = "human"  # one of STEP_SELECTIONS
    boosts: bool = True
    history_steps: int = HISTORY_STEPS
    preamble: str = DEFAULT_PREAMBLE
    overwrite: bool = False
    dataset_name: str | None = None  # llamafactory: the dataset_info.json key (default: OUT's stem)


@dataclass
class ExportReport:
    """What an export did: the trajectories written, those left out and why, the counts, the files."""

    format: str
    out: Path
    exported: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    counts: SampleCounts = field(default_factory=SampleCounts)
    files: list[Path] = field(default_factory=list)


def _writer(format: str, out: Path, options: ExportOptions, single: bool):
    if format in ("llamafactory", "messages"):
        common = {"preamble": options.preamble, "steps": options.steps, "boosts": options.boosts,
                  "history_steps": options.history_steps, "overwrite": options.overwrite}
        if format == "messages":
            return MessagesExport(out, **common)
        return LlamaFactoryExport(out, name=options.dataset_name, **common)
    if format == "parquet":
        return ParquetExport(out, overwrite=options.overwrite)
    return OSWorldExport(out, single=single, overwrite=options.overwrite)


def export_trajectories(folders: list[Path | str], format: str, out: Path | str,
                        options: ExportOptions = ExportOptions(),
                        on_done: Callable[[Path, str | None], None] | None = None) -> ExportReport:
    """Export the trajectories in ``folders`` (each a trajectory or a folder of them) to ``out``.

    ``on_done(path, error)`` is called after each trajectory (error None when it was exported). Raises
    DatasetError only for what stops the whole export: an unknown format or option, output that exists
    (without ``overwrite``), a missing optional dependency."""
    if format not in EXPORT_FORMATS:
        raise DatasetError(f"unknown export format {format!r}; one of {', '.join(EXPORT_FORMATS)}")
    if options.steps not in STEP_SELECTIONS:
        raise DatasetError(f"steps must be one of {', '.join(STEP_SELECTIONS)}, not {options.steps!r}")
    report = ExportReport(format, Path(out))
    paths: list[Path] = []
    for folder in folders:
        try:
            paths += [p for p in find_trajectories([folder]) if p not in paths]
        except DatasetError as error:
            report.failed.append((Path(folder), str(error)))
            if on_done:
                on_done(Path(folder), str(error))
    if not paths:
        return report
    writer = _writer(format, report.out, options, single=len(paths) == 1)
    try:
        for path in paths:
            try:
                writer.add(load_trajectory(path))
            except DatasetError as error:
                report.failed.append((path, str(error)))
                if on_done:
                    on_done(path, str(error))
                continue
            report.exported.append(path)
            if on_done:
                on_done(path, None)
        if not report.exported:
            writer.abort()
            return report
        report.files = writer.finish()
    except BaseException:
        writer.abort()
        raise
    report.counts = writer.counts
    return report
