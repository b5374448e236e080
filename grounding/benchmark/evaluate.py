"""Grounding benchmark: run a grounder over ScreenSpot-format samples and score it.

A prediction is correct when its point lies inside the sample's box (ScreenSpot's rule). "Not found"
counts as wrong; an error from the engine (GroundingError, ModelError) is recorded on that sample and
counts as wrong, and the run goes on. Accuracy is reported overall and per data type, platform and
application, with latency percentiles.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable

from grounding.base import Grounder, GroundingError, load_screenshot
from grounding.benchmark.screenspot import Sample

try:  # models/ sits below grounding/; keep evaluate usable if it is trimmed away
    from models.errors import ModelError
except ImportError:  # pragma: no cover
    class ModelError(Exception):  # type: ignore[no-redef]
        pass


@dataclass
class SampleResult:
    """What one sample got: the predicted point and whether it hit the box."""

    id: str
    instruction: str
    box: list[int]
    data_type: str
    platform: str
    application: str
    point: list[int] | None
    found: bool
    correct: bool
    engine: str
    latency_s: float
    error: str | None = None
    reason: str | None = None  # the engine's "not found" reason
    image: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class Group:
    """Accuracy over one slice of the samples."""

    total: int = 0
    correct: int = 0
    errors: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of values; 0 when there are none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class EvalReport:
    """Scores of one engine on one set of samples."""

    engine: str
    results: list[SampleResult] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def correct(self) -> int:
        return sum(r.correct for r in self.results)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def errors(self) -> int:
        return sum(r.error is not None for r in self.results)

    def by(self, key: str) -> dict[str, Group]:
        """Accuracy per value of a result field: "data_type", "platform" or "application"."""
        groups: dict[str, Group] = {}
        for r in self.results:
            group = groups.setdefault(str(getattr(r, key)) or "(none)", Group())
            group.total += 1
            group.correct += r.correct
            group.errors += r.error is not None
        return dict(sorted(groups.items()))

    def latency(self, q: float) -> float:
        return percentile([r.latency_s for r in self.results], q)

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (for BENCHMARKS.md and scripts)."""
        def table(key: str) -> dict[str, Any]:
            return {k: {"total": g.total, "correct": g.correct, "accuracy": round(g.accuracy, 4)}
                    for k, g in self.by(key).items()}
        return {"engine": self.engine, "total": self.total, "correct": self.correct,
                "accuracy": round(self.accuracy, 4), "errors": self.errors,
                "latency_p50_s": round(self.latency(50), 4), "latency_p95_s": round(self.latency(95), 4),
                "data_type": table("data_type"), "platform": table("platform"),
                "application": table("application")}

    def format_table(self) -> str:
        """A plain-text table: overall, then per data type, platform and application."""
        lines = [f"engine: {self.engine}   samples: {self.total}   errors: {self.errors}   "
                 f"latency p50 {self.latency(50) * 1000:.0f} ms, p95 {self.latency(95) * 1000:.0f} ms",
                 f"{'slice':<40} {'n':>6} {'correct':>8} {'accuracy':>9}",
                 f"{'overall':<40} {self.total:>6} {self.correct:>8} {self.accuracy * 100:>8.1f}%"]
        for key in ("data_type", "platform", "application"):
            for value, group in self.by(key).items():
                label = f"{key}={value}"[:40]
                lines.append(f"{label:<40} {group.total:>6} {group.correct:>8} {group.accuracy * 100:>8.1f}%")
        return "\n".join(lines)


def _run_one(sample: Sample, grounder: Grounder, image_cache: dict[Path, Any]) -> SampleResult:
    engine = getattr(grounder, "name", type(grounder).__name__)
    point, found, error, reason = None, False, None, None
    start = time.perf_counter()
    try:
        if sample.image_path not in image_cache:
            image_cache.clear()  # samples of one screenshot come together; keep just one image
            image_cache[sample.image_path] = load_screenshot(sample.image_path)
        start = time.perf_counter()  # time the engine, not the PNG decoder
        result = grounder.ground(image_cache[sample.image_path], sample.instruction)
        found = bool(result.found and result.point is not None)
        point = [int(result.point[0]), int(result.point[1])] if found else None
        reason = result.reason
        engine = result.engine or engine
    except (GroundingError, ModelError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - start
    return SampleResult(
        id=sample.id, instruction=sample.instruction, box=list(sample.box), data_type=sample.data_type,
        platform=sample.platform, application=sample.application, point=point, found=found,
        correct=found and point is not None and sample.contains(*point), engine=engine,
        latency_s=round(latency, 4), error=error, reason=reason, image=str(sample.image_path))


def evaluate(samples: Iterable[Sample], grounder: Grounder, *,
             on_result: Callable[[SampleResult], None] | None = None,
             results_path: str | Path | None = None) -> EvalReport:
    """Ground every sample's instruction on its image and score the answers.

    ``on_result`` is called after each sample (progress); ``results_path`` gets one JSON line per
    sample, flushed as it goes, so an interrupted run keeps what it measured.
    """
    report = EvalReport(getattr(grounder, "name", type(grounder).__name__))
    stream: IO[str] | None = open(results_path, "w", encoding="utf-8") if results_path else None
    image_cache: dict[Path, Any] = {}
    try:
        for sample in samples:
            result = _run_one(sample, grounder, image_cache)
            report.results.append(result)
            if stream is not None:
                stream.write(result.to_json() + "\n")
                stream.flush()
            if on_result is not None:
                on_result(result)
    finally:
        if stream is not None:
            stream.close()
    return report


def write_results(report: EvalReport, path: str | Path) -> None:
    """Per-sample results of a finished report as JSONL."""
    with open(path, "w", encoding="utf-8") as stream:
        for result in report.results:
            stream.write(result.to_json() + "\n")
