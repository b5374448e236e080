"""Grounding benchmark: run a grounder over ScreenSpot-format samples and score it.

A prediction is correct when its point lies inside the sample's box (ScreenSpot's rule). "Not found"
counts as wrong; an error from the engine (GroundingError, ModelError) is recorded on that sample and
counts as wrong, and the run goes on. Accuracy is reported overall and per data type, platform,
application, split and phrasing, with latency percentiles.

Every miss says why in ``SampleResult.miss``: for "not found" the categories the engines gave ("no text
match", "role mismatch", "ambiguous", "icon not in theme", "no icon match", "not available"), for a wrong
point "ambiguous" (several equal matches) or "wrong match" (another element matched better), else "error".
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


SLICES = ("data_type", "platform", "application", "split", "phrasing")


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
    miss: str | None = None  # why it is wrong (MISS_CATEGORIES), None when correct
    label: str | None = None  # what the engine matched (text, element name or icon name)
    split: str = ""  # the dataset's split ("tune", "held-out"), when it has one
    phrasing: str = ""  # how the instruction was phrased ("bare", "role", "relational", ...), when known

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
        """Accuracy per value of a result field: "data_type", "platform", "application", "split", ..."""
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
                "seconds_per_target": round(self.seconds_per_target, 4),
                **{key: table(key) for key in SLICES}, "misses": dict(self.misses())}

    @property
    def seconds_per_target(self) -> float:
        """The engine's time over all samples, divided by their number."""
        return sum(r.latency_s for r in self.results) / self.total if self.total else 0.0

    def misses(self) -> dict[str, int]:
        """How many samples were missed for each reason."""
        counts: dict[str, int] = {}
        for r in self.results:
            if r.miss:
                counts[r.miss] = counts.get(r.miss, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))

    def format_table(self) -> str:
        """A plain-text table: overall, then per data type, platform and application."""
        lines = [f"engine: {self.engine}   samples: {self.total}   errors: {self.errors}   "
                 f"latency p50 {self.latency(50) * 1000:.0f} ms, p95 {self.latency(95) * 1000:.0f} ms, "
                 f"{self.seconds_per_target:.3f} s per target",
                 f"{'slice':<40} {'n':>6} {'correct':>8} {'accuracy':>9}",
                 f"{'overall':<40} {self.total:>6} {self.correct:>8} {self.accuracy * 100:>8.1f}%"]
        for key in SLICES:
            groups = self.by(key)
            if key in ("split", "phrasing") and set(groups) == {"(none)"}:
                continue  # a dataset without splits or phrasing kinds
            for value, group in groups.items():
                label = f"{key}={value}"[:40]
                lines.append(f"{label:<40} {group.total:>6} {group.correct:>8} {group.accuracy * 100:>8.1f}%")
        if self.misses():
            lines.append("misses: " + ", ".join(f"{why} {n}" for why, n in self.misses().items()))
        return "\n".join(lines)


MISS_CATEGORIES = ("no text match", "role mismatch", "ambiguous", "icon not in theme", "no icon match",
                   "not available", "wrong match", "error")


def miss_reason(found: bool, correct: bool, reason: str | None, error: str | None, details: dict) -> str | None:
    """Why a sample was missed, as MISS_CATEGORIES words ("no text match; icon not in theme"); None if hit."""
    if correct:
        return None
    if error:
        return "error"
    if found:
        return "ambiguous" if int(details.get("equal_matches") or details.get("ambiguous") or 1) > 1 else "wrong match"
    text = reason or ""
    named = [c for c in MISS_CATEGORIES if c in text]
    return "; ".join(named) if named else "no text match"


def _run_one(sample: Sample, grounder: Grounder, image_cache: dict[Path, Any]) -> SampleResult:
    engine = getattr(grounder, "name", type(grounder).__name__)
    point, found, error, reason, details, label = None, False, None, None, {}, None
    start = time.perf_counter()
    try:
        if sample.image_path not in image_cache:
            image_cache.clear()  # samples of one screenshot come together; keep just one image
            image_cache[sample.image_path] = load_screenshot(sample.image_path)
        start = time.perf_counter()  # time the engine, not the PNG decoder
        result = grounder.ground(image_cache[sample.image_path], sample.instruction)
        found = bool(result.found and result.point is not None)
        point = [int(result.point[0]), int(result.point[1])] if found else None
        reason, details = result.reason, result.details
        label = result.candidates[0].label if found and result.candidates else None
        engine = result.engine or engine
    except (GroundingError, ModelError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    latency = time.perf_counter() - start
    correct = found and point is not None and sample.contains(*point)
    return SampleResult(
        id=sample.id, instruction=sample.instruction, box=list(sample.box), data_type=sample.data_type,
        platform=sample.platform, application=sample.application, point=point, found=found,
        correct=correct, engine=engine, latency_s=round(latency, 4), error=error, reason=reason,
        image=str(sample.image_path), miss=miss_reason(found, correct, reason, error, details), label=label,
        split=str(sample.extra.get("split") or ""), phrasing=str(sample.extra.get("phrasing") or ""))


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
