"""OpenAI chat messages, one sample per line (``trace export --format messages``).

``OUT`` is a JSONL file; each line holds one sample of tracker.datasets.samples in the shape OpenAI's chat
API and its fine-tuning files take::

    {"messages": [{"role": "system", "content": "<preamble>"},
                  {"role": "user", "content": [{"type": "text", "text": "<instruction>"},
                                               {"type": "image_url",
                                                "image_url": {"url": "data:image/png;base64,..."}}]},
                  {"role": "assistant", "content": "<thought>\\n\\nAction: <action>"}]}

The screenshot travels inside the line as a data URL (PNG, JPEG and WebP as stored, JPEG XL and AVIF as
PNG), so the file stands alone.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tracker.datasets.samples import SampleCounts, sample_steps, training_samples
from tracker.datasets.sources import DatasetError, PortableImage, portable_images
from tracker.format.trajectory import Step, Trajectory

__all__ = ["MessagesExport"]

_MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}


def _data_url(picture: PortableImage) -> str:
    return f"data:{_MIME[picture.extension]};base64,{base64.b64encode(picture.data).decode('ascii')}"


class MessagesExport:
    """Writes samples to a temporary file as they come; ``finish`` puts it in place."""

    def __init__(self, out: Path, *, preamble: str, steps: str = "human", boosts: bool = True,
                 history_steps: int = 10, overwrite: bool = False) -> None:
        if out.exists() and not overwrite:
            raise DatasetError(f"{out} already exists (--force replaces it)")
        if out.is_dir():
            raise DatasetError(f"{out} is a folder; messages are written to a .jsonl file")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.preamble, self.steps, self.boosts, self.history_steps = preamble, steps, boosts, history_steps
        self.counts = SampleCounts()
        self._tmp = out.with_name(f".{out.name}.tmp")
        self._file = open(self._tmp, "w", encoding="utf-8")  # noqa: SIM115 - open across add() calls

    def add(self, trajectory: Trajectory) -> None:
        """Append a trajectory's samples; on DatasetError nothing of it is kept."""
        prepared = portable_images(trajectory, sample_steps(trajectory, self.steps))
        urls = {index: (_data_url(picture), picture.size) for index, picture in prepared.items() if picture}

        def image(step: Step) -> tuple[str, tuple[int, int]] | None:
            return urls.get(step.index)

        counts, lines = SampleCounts(), []
        for sample in training_samples(trajectory, counts, steps=self.steps, boosts=self.boosts,
                                       history_steps=self.history_steps,
                                       size_of=lambda step: image(step)[1] if image(step) else None):
            url, _ = image(sample.step)  # type: ignore[misc]  # samples come only from steps with a screenshot
            user = [{"type": "text", "text": sample.instruction}, {"type": "image_url", "image_url": {"url": url}}]
            lines.append(json.dumps({"messages": [{"role": "system", "content": self.preamble},
                                                  {"role": "user", "content": user},
                                                  {"role": "assistant", "content": sample.response}]},
                                    ensure_ascii=False))
        # a trajectory's lines are written only once all of them were made
        self._file.write("".join(line + "\n" for line in lines))
        self.counts.merge(counts)

    def finish(self) -> list[Path]:
        self._file.close()
        self._tmp.replace(self.out)
        return [self.out]

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)
