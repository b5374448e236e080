"""ScreenSpot-format grounding datasets: read them, write them.

A dataset is a JSON file (a list of records), a JSONL file (one record a line) or a folder holding
one of those (``dataset.json``, ``dataset.jsonl``, or the only ``*.json``/``*.jsonl`` in it). A record:

    {"img_filename": "shot.png", "instruction": "click the Save button", "bbox": [l, t, w, h],
     "data_type": "text" | "icon", "platform": "linux" (or "data_source"), "application": "...", ...}

ScreenSpot's own files give ``bbox`` as x, y, width, height (``bbox_format="xywh"``); the datasets this
project writes use left, top, right, bottom (``"xyxy"``, recorded as ``"bbox_format"`` in each record so
that a reader can tell). Images resolve relative to the file, then to an ``images/`` folder beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from grounding.base import Box

BBOX_FORMATS = ("xywh", "xyxy")
DATASET_FILE = "dataset.json"
_KNOWN_KEYS = {"img_filename", "instruction", "bbox", "bbox_format", "data_type", "platform",
               "data_source", "application", "id"}


class DatasetError(ValueError):
    """A dataset that cannot be read; the message names the file and the record."""


@dataclass(frozen=True)
class Sample:
    """One grounding target: find ``instruction`` on the image; correct inside ``box``."""

    image_path: Path
    instruction: str
    box: Box  # left, top, right, bottom in image pixels (right/bottom exclusive)
    data_type: str = "text"  # "text" | "icon"
    platform: str = ""
    application: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def contains(self, x: float, y: float) -> bool:
        """Whether a predicted point lies inside the target box."""
        left, top, right, bottom = self.box
        return left <= x < right and top <= y < bottom


def _dataset_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise DatasetError(f"no dataset at {path}")
    for name in (DATASET_FILE, "dataset.jsonl"):
        if (path / name).is_file():
            return path / name
    found = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file())
    if len(found) == 1:
        return found[0]
    what = "no .json/.jsonl file" if not found else f"several ({', '.join(p.name for p in found)})"
    raise DatasetError(f"{path}: {what}; name the dataset file")


def _read_records(file: Path) -> list[Any]:
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{file}: line {number} is not JSON: {exc}") from exc
        return records
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{file}: not JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("samples"), list):
        return data["samples"]
    if not isinstance(data, list):
        raise DatasetError(f"{file}: expected a list of records")
    return data


def _box(raw: Any, bbox_format: str, where: str) -> Box:
    if not isinstance(raw, (list, tuple)) or len(raw) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
        raise DatasetError(f"{where}: bbox must be four numbers, got {raw!r}")
    a, b, c, d = (float(v) for v in raw)
    left, top, right, bottom = (a, b, a + c, b + d) if bbox_format == "xywh" else (a, b, c, d)
    if right <= left or bottom <= top or left < 0 or top < 0:
        raise DatasetError(f"{where}: bbox {list(raw)} ({bbox_format}) is empty or negative")
    # boxes may be fractional in published sets; keep every pixel the box touches
    return (int(left), int(top), int(-(-right // 1)), int(-(-bottom // 1)))


def _image(name: Any, base: Path, where: str) -> Path:
    if not isinstance(name, str) or not name:
        raise DatasetError(f"{where}: img_filename is missing")
    for candidate in (base / name, base / "images" / name):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{where}: image {name!r} not found beside the dataset or in images/")


def load_dataset(path: str | Path, bbox_format: str | None = None) -> list[Sample]:
    """Read a ScreenSpot-format dataset. Raises DatasetError naming the record on any problem.

    ``bbox_format`` ("xywh" | "xyxy") overrides each record's own ``bbox_format``; without either,
    boxes are ScreenSpot's xywh.
    """
    if bbox_format is not None and bbox_format not in BBOX_FORMATS:
        raise DatasetError(f"bbox_format must be one of {BBOX_FORMATS}, got {bbox_format!r}")
    file = _dataset_file(Path(path))
    samples = []
    for number, record in enumerate(_read_records(file), 1):
        where = f"{file}: record {number}"
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: not an object")
        missing = [k for k in ("img_filename", "instruction", "bbox") if k not in record]
        if missing:
            raise DatasetError(f"{where}: missing {', '.join(missing)}")
        instruction = record["instruction"]
        if not isinstance(instruction, str) or not instruction.strip():
            raise DatasetError(f"{where}: instruction is empty")
        fmt = bbox_format or record.get("bbox_format") or "xywh"
        if fmt not in BBOX_FORMATS:
            raise DatasetError(f"{where}: unknown bbox_format {fmt!r}")
        samples.append(Sample(
            image_path=_image(record["img_filename"], file.parent, where),
            instruction=instruction.strip(),
            box=_box(record["bbox"], fmt, where),
            data_type=str(record.get("data_type") or "text"),
            platform=str(record.get("platform") or record.get("data_source") or ""),
            application=str(record.get("application") or ""),
            extra={k: v for k, v in record.items() if k not in _KNOWN_KEYS},
            id=str(record.get("id") or f"{file.stem}-{number}"),
        ))
    return samples


def sample_record(sample: Sample, image_name: str) -> dict[str, Any]:
    """The JSON record of a sample (xyxy box) whose image is stored as ``image_name``."""
    return {
        "id": sample.id, "img_filename": image_name, "instruction": sample.instruction,
        "bbox": list(sample.box), "bbox_format": "xyxy", "data_type": sample.data_type,
        "platform": sample.platform, "application": sample.application, **sample.extra,
    }


def _same_file(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def write_dataset(folder: str | Path, samples: Iterable[Sample]) -> Path:
    """Write ``folder/dataset.json`` (xyxy boxes) with images under ``folder/images/``.

    Images already inside ``folder/images`` are referenced in place; others are copied there.
    Returns the dataset file.
    """
    import shutil

    folder = Path(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    records = []
    for sample in samples:
        source = Path(sample.image_path)
        name = source.name
        if source.resolve().parent != images.resolve():
            target, n = images / name, 1
            while target.exists() and not _same_file(target, source):
                target, n = images / f"{source.stem}-{n}{source.suffix}", n + 1  # a name clash
            if not target.exists():
                shutil.copyfile(source, target)
            name = target.name
        records.append(sample_record(sample, name))
    file = folder / DATASET_FILE
    file.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    readme = folder / "README.txt"
    if not readme.exists():
        readme.write_text(
            "ScreenSpot-format grounding dataset written by pcagent.\n"
            "dataset.json: a list of records {id, img_filename, instruction, bbox, bbox_format, data_type,\n"
            "platform, application, ...}. bbox_format is \"xyxy\": [left, top, right, bottom] in pixels of\n"
            "the image (right/bottom exclusive). Images are in images/.\n"
            "Read it with grounding.benchmark.screenspot.load_dataset(folder) or evaluate it with\n"
            "`pcagent grounding eval FOLDER --engine ocr --bbox-format xyxy`.\n", encoding="utf-8")
    return file
