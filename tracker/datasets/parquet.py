"""A Parquet file Hugging Face ``datasets`` loads, one row per step (``trace export --format parquet``).

``datasets.load_dataset("parquet", data_files="steps.parquet")`` gives rows with the screenshot as an
``Image`` feature (PNG, JPEG and WebP as stored, JPEG XL and AVIF as PNG) and these columns:

    trajectory_id, trajectory, task, outcome      which trajectory (meta.json's id, the folder's name)
    step, time, actor                             the step's index, unix time, "human" or "agent"
    action                                        canonical action text, in desktop coordinates
    image_action                                  the same in screenshot pixels (they differ only when a
                                                  monitor lies left of or above the primary one)
    action_description, thought, thought_source, reflection
    decision, decision_by                         the approval gate's verdict and who gave it
    element_name, element_role, element_rect, window_title, application
    redacted                                      why typed text was hidden, else null
    boosts                                        accepted alternative samples: [{thought, action}]
    image                                         the screenshot before the step (null without one)
    extra                                         every other key of the step, as JSON text

Every step is a row, whoever took it. Rows are written a trajectory at a time (a row group each), so memory
holds one trajectory's screenshots at most. Needs the ``datasets`` extra (``pip install 'pcagent[datasets]'``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tracker.datasets.samples import SampleCounts, accepted_boosts, image_action_text, thought_of
from tracker.datasets.sources import DatasetError, PortableImage, portable_images, task_text
from tracker.format.trajectory import Step, Trajectory, desktop_origin

__all__ = ["PARQUET_COLUMNS", "ParquetExport", "text_of"]

_STRING_COLUMNS = ("trajectory_id", "trajectory", "task", "outcome")
_STEP_STRINGS = ("actor", "action", "image_action", "action_description", "thought", "thought_source",
                 "reflection", "decision", "decision_by", "element_name", "element_role", "window_title",
                 "application", "redacted")
PARQUET_COLUMNS = (*_STRING_COLUMNS, "step", "time", *_STEP_STRINGS, "element_rect", "boosts", "image", "extra")
# the step keys that have columns of their own; the rest go to "extra"
_COLUMN_KEYS = {"index", "time", "actor", "action", "screenshot", "element", "window", "action_description",
                "thought", "reflection", "decision", "redacted", "boost"}


def _features() -> Any:
    try:
        import datasets
    except ImportError:
        raise DatasetError("the parquet export needs Hugging Face datasets: pip install 'pcagent[datasets]'") from None
    string = datasets.Value("string")
    columns: dict[str, Any] = {name: string for name in _STRING_COLUMNS}
    columns |= {"step": datasets.Value("int64"), "time": datasets.Value("float64")}
    columns |= {name: string for name in _STEP_STRINGS}
    columns |= {"element_rect": datasets.Sequence(datasets.Value("int64")),
                "boosts": [{"thought": string, "action": string}],
                "image": datasets.Image(), "extra": string}
    return datasets.Features({name: columns[name] for name in PARQUET_COLUMNS})


def text_of(value: object) -> str | None:
    """The text of a step field written as text or as an object with a "text" key."""
    if isinstance(value, dict):
        value = value.get("text")
    return value if isinstance(value, str) else None


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


class ParquetExport:
    """Writes each trajectory's rows as one row group of OUT."""

    def __init__(self, out: Path, *, overwrite: bool = False) -> None:
        features = _features()
        import pyarrow.parquet as pq  # datasets depends on pyarrow

        if out.exists() and not overwrite:
            raise DatasetError(f"{out} already exists (--force replaces it)")
        if out.is_dir():
            raise DatasetError(f"{out} is a folder; the parquet export is one .parquet file")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.counts = SampleCounts()
        self._schema = features.arrow_schema  # carries the features, so datasets sees an Image column
        self._tmp = out.with_name(f".{out.name}.tmp")
        self._writer = pq.ParquetWriter(self._tmp, self._schema)

    def _row(self, trajectory: Trajectory, step: Step, origin: tuple[int, int],
             picture: PortableImage | None) -> dict[str, Any]:
        meta = trajectory.meta
        element, window = step.element or {}, step.window or {}
        decision = step.extra.get("decision") if isinstance(step.extra.get("decision"), dict) else {}
        thought, source = thought_of(step)
        rect = element.get("rect")
        image = None if picture is None else {
            "bytes": picture.data, "path": f"{trajectory.root.name}/{step.index:06d}.{picture.extension}"}
        redacted = step.extra.get("redacted")
        return {
            "trajectory_id": str(meta.get("id") or ""), "trajectory": trajectory.root.resolve().name,
            "task": task_text(meta), "outcome": _string(meta.get("outcome")),
            "step": step.index, "time": float(step.time), "actor": step.actor, "action": step.action,
            "image_action": image_action_text(step.action, origin),
            "action_description": text_of(step.extra.get("action_description")),
            "thought": thought or None, "thought_source": source,
            "reflection": text_of(step.extra.get("reflection")),
            "decision": _string(decision.get("verdict")), "decision_by": _string(decision.get("by")),
            "element_name": _string(element.get("name")), "element_role": _string(element.get("role")),
            "element_rect": rect if isinstance(rect, list) and all(isinstance(v, int) for v in rect) else None,
            "window_title": _string(window.get("title")),
            "application": _string(element.get("application")) or _string(window.get("application")),
            "redacted": str(redacted) if redacted else None,
            "boosts": [{"thought": t, "action": image_action_text(a, origin)} for t, a in accepted_boosts(step)],
            "image": image,
            "extra": json.dumps({k: v for k, v in step.to_dict().items() if k not in _COLUMN_KEYS}, ensure_ascii=False),
        }

    def add(self, trajectory: Trajectory) -> None:
        """Append a trajectory's rows; on DatasetError nothing of it is written."""
        import pyarrow as pa

        origin = desktop_origin(trajectory.meta)
        pictures = portable_images(trajectory, trajectory.steps)
        rows = [self._row(trajectory, step, origin, pictures[step.index]) for step in trajectory.steps]
        if rows:
            self._writer.write_table(pa.Table.from_pylist(rows, schema=self._schema))
        self.counts.written["rows"] += len(rows)
        self.counts.written["screenshots"] += sum(row["image"] is not None for row in rows)

    def finish(self) -> list[Path]:
        self._writer.close()
        self._tmp.replace(self.out)
        return [self.out]

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)
