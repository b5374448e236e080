"""The grounding benchmark scorer with a tiny fake grounder: hits, misses, not-found and errors."""

from __future__ import annotations

import json

from PIL import Image

from grounding.base import Candidate, GroundingError, GroundingResult
from grounding.benchmark.evaluate import evaluate, percentile
from grounding.benchmark.screenspot import Sample
from models.errors import ModelTimeout


class FakeGrounder:
    """Answers from a table: instruction -> point, "none" (not found) or an exception."""

    name = "fake"

    def __init__(self, answers):
        self.answers = answers
        self.images = []

    def ground(self, screenshot, description, hints=None):
        self.images.append(screenshot.size)
        answer = self.answers[description]
        if isinstance(answer, Exception):
            raise answer
        if answer == "none":
            return GroundingResult.not_found(self.name, "nothing like it")
        return GroundingResult.hit(Candidate(answer, None, 0.9, engine=self.name))


def test_scores_by_point_in_box_and_never_aborts(tmp_path):
    image = tmp_path / "shot.png"
    Image.new("RGB", (100, 80)).save(image)
    box = (10, 10, 30, 30)
    samples = [
        Sample(image, "hit", box, "text", "linux", "a", id="1"),
        Sample(image, "edge", box, "icon", "linux", "a", id="2"),  # right edge is exclusive
        Sample(image, "miss", box, "text", "windows", "b", id="3"),
        Sample(image, "none", box, "icon", "linux", "b", id="4"),
        Sample(image, "grounding error", box, "text", "linux", "b", id="5"),
        Sample(image, "model error", box, "text", "linux", "b", id="6"),
        Sample(tmp_path / "missing.png", "hit", box, "text", "linux", "b", id="7"),
    ]
    grounder = FakeGrounder({"hit": (20, 20), "edge": (30, 15), "miss": (50, 50), "none": "none",
                             "grounding error": GroundingError("bad"), "model error": ModelTimeout("slow")})
    seen = []
    results = tmp_path / "results.jsonl"
    report = evaluate(samples, grounder, on_result=seen.append, results_path=results)
    assert [r.correct for r in report.results] == [True, False, False, False, False, False, False]
    assert [r.found for r in report.results] == [True, True, True, False, False, False, False]
    assert report.errors == 3 and "ModelTimeout" in report.results[5].error
    assert "InvalidScreenshot" in report.results[6].error
    assert report.accuracy == 1 / 7 and len(seen) == 7
    assert report.by("data_type")["text"].total == 5 and report.by("data_type")["icon"].correct == 0
    assert report.by("application")["a"].accuracy == 0.5
    assert report.by("platform")["windows"].total == 1
    assert grounder.images == [(100, 80)] * 6  # the image is loaded once and reused

    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["1", "2", "3", "4", "5", "6", "7"]
    assert lines[0] | {"latency_s": 0} == lines[0] | {"latency_s": 0}
    assert lines[0]["point"] == [20, 20] and lines[0]["box"] == [10, 10, 30, 30]
    assert lines[0]["engine"] == "fake" and lines[3]["reason"] == "nothing like it"

    table = report.format_table()
    assert "overall" in table and "data_type=text" in table and "application=b" in table
    summary = report.summary()
    assert summary["data_type"]["text"] == {"total": 5, "correct": 1, "accuracy": 0.2}


def test_percentile():
    assert percentile([], 50) == 0.0
    assert percentile([3, 1, 2], 50) == 2
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([5], 95) == 5
