"""LLaMA-Factory training data in PC Agent-E's shape (``trace export --format llamafactory``).

``OUT`` is the dataset's JSON file, e.g. ``LLaMA-Factory/data/pcagent.json``: a list of samples in
LLaMA-Factory's multimodal sharegpt layout::

    {"messages": [{"role": "user", "content": "<preamble>\\n\\n<instruction><image>"},
                  {"role": "assistant", "content": "<thought>\\n\\nAction: <action>"}],
     "images": ["pcagent_images/<trajectory>/000003.png"]}

one per sample of tracker.datasets.samples (a human step, and each of its accepted boosts). The screenshots
are copied beside it into ``<OUT stem>_images/<trajectory>/`` (PNG, JPEG and WebP as stored, JPEG XL and
AVIF as PNG) and named relative to OUT's folder, which is where LLaMA-Factory looks for them when that
folder is its ``dataset_dir``. ``dataset_info.json`` in the same folder gets (or has replaced) the entry
``<OUT stem>`` that tells LLaMA-Factory the layout; its other entries are kept.

The text a sample shows may not hold LLaMA-Factory's own placeholders: ``<image>``, ``<video>`` and
``<audio>`` written by a user or a model become ``[image]``, ``[video]``, ``[audio]``, so that the count of
``<image>`` tokens matches the count of images.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from tracker.datasets.samples import SampleCounts, sample_steps, training_samples
from tracker.datasets.sources import (
    DatasetError,
    PortableImage,
    portable_images,
    unique_folder_name,
)
from tracker.format.trajectory import Step, Trajectory, atomic_write

__all__ = ["DATASET_INFO_FILE", "LlamaFactoryExport", "dataset_info_entry"]

DATASET_INFO_FILE = "dataset_info.json"
IMAGE_TOKEN = "<image>"
_PLACEHOLDERS = re.compile(r"<(image|video|audio)>")


def dataset_info_entry(file_name: str) -> dict:
    """The dataset_info.json entry for a file this module writes."""
    return {"file_name": file_name, "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}


def _plain(text: str) -> str:
    return _PLACEHOLDERS.sub(r"[\1]", text)


def _read_dataset_info(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{path} exists but cannot be read as JSON ({error}); fix or move it") from None
    if not isinstance(info, dict):
        raise DatasetError(f"{path} must hold a JSON object of dataset entries")
    return info


class LlamaFactoryExport:
    """Collects samples trajectory by trajectory; ``finish`` writes the JSON and its dataset_info entry."""

    def __init__(self, out: Path, *, preamble: str, steps: str = "human", boosts: bool = True,
                 history_steps: int = 10, overwrite: bool = False, name: str | None = None) -> None:
        if out.suffix.lower() != ".json":
            raise DatasetError(f"{out}: a LLaMA-Factory dataset is a .json file")
        self.out = out
        self.name = name or out.stem
        self.images = out.with_name(f"{out.stem}_images")
        self.info_path = out.with_name(DATASET_INFO_FILE)
        self.preamble, self.steps, self.boosts, self.history_steps = preamble, steps, boosts, history_steps
        for existing in (out, self.images):
            if existing.exists() and not overwrite:
                raise DatasetError(f"{existing} already exists (--force replaces it)")
        self._info = _read_dataset_info(self.info_path)  # refuse a broken one before writing anything
        out.parent.mkdir(parents=True, exist_ok=True)
        if self.images.exists():
            shutil.rmtree(self.images)
        self.records: list[dict] = []
        self.counts = SampleCounts()
        self._folders: set[str] = set()

    def _folder_for(self, trajectory: Trajectory) -> str:
        return unique_folder_name(trajectory, self._folders)

    def add(self, trajectory: Trajectory) -> None:
        """Add a trajectory's samples; on DatasetError nothing of it is kept."""
        folder = self.images / self._folder_for(trajectory)
        written: dict[int, str] = {}
        counts, records = SampleCounts(), []
        try:
            prepared = portable_images(trajectory, sample_steps(trajectory, self.steps))

            def image(step: Step) -> PortableImage | None:
                return prepared.get(step.index)

            for sample in training_samples(trajectory, counts, steps=self.steps, boosts=self.boosts,
                                           history_steps=self.history_steps,
                                           size_of=lambda step: image(step).size if image(step) else None):
                if sample.step.index not in written:
                    picture = image(sample.step)
                    assert picture is not None  # samples come only from steps with a screenshot
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / f"{sample.step.index:06d}.{picture.extension}"
                    path.write_bytes(picture.data)
                    written[sample.step.index] = path.relative_to(self.out.parent).as_posix()
                user = f"{_plain(self.preamble)}\n\n{_plain(sample.instruction)}{IMAGE_TOKEN}"
                records.append({"messages": [{"role": "user", "content": user},
                                             {"role": "assistant", "content": _plain(sample.response)}],
                                "images": [written[sample.step.index]]})
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.records += records
        self.counts.merge(counts)

    def finish(self) -> list[Path]:
        """Write the dataset and its dataset_info.json entry; the files written."""
        _write_json(self.out, self.records, indent=1)
        self._info[self.name] = dataset_info_entry(self.out.name)
        _write_json(self.info_path, self._info, indent=2)
        return [self.out, self.info_path] + ([self.images] if self.images.exists() else [])

    def abort(self) -> None:
        """Remove the screenshots copied so far; the JSON and dataset_info.json were not touched."""
        shutil.rmtree(self.images, ignore_errors=True)


def _write_json(path: Path, value: object, indent: int) -> None:
    atomic_write(path, (json.dumps(value, ensure_ascii=False, indent=indent) + "\n").encode("utf-8"), sync=False)
