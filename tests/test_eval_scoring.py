"""OSWorld's scoring rules on constructed evaluators: infeasible, a final fail, one metric, and/or lists
(short-circuits, mean, maximum), missing results, metric errors. States come from a fake getter."""

from __future__ import annotations

import pytest

from pcagent.eval.scoring import score_task

CALLS: list[str] = []


def _metric(result, expected=None, **options):
    """Scores the number the fake getter handed it; records each call."""
    CALLS.append(result)
    if result == "boom":
        raise ValueError("bad input")
    return float(result)


METRICS = {"m": _metric}


def get_state(config):
    """A getter config {"type": "value", "value": V} gives V; {"type": "missing"} has no file."""
    if config is None:
        return None
    if config["type"] == "missing":
        raise FileNotFoundError("no such file")
    return config["value"]


def value(v):
    return {"type": "value", "value": v}


def score(evaluator, failed=False):
    CALLS.clear()
    return score_task(evaluator, agent_failed=failed, get_state=get_state, metrics=METRICS)


def test_infeasible_scores_one_only_when_the_agent_ended_with_fail():
    assert score({"func": "infeasible"}, failed=True).score == 1.0
    assert score({"func": "infeasible"}, failed=False).score == 0.0


def test_a_final_fail_scores_zero_even_when_the_metric_would_pass():
    result = score({"func": "m", "result": value(1)}, failed=True)
    assert (result.score, result.rule) == (0.0, "final_fail")
    assert CALLS == []  # the metric is not even run
    assert score({"func": ["m", "m"], "conj": "or", "result": [value(1), value(1)]}, failed=True).score == 0.0


def test_a_single_metric_gives_its_score_and_a_missing_result_gives_zero():
    assert score({"func": "m", "result": value(0.25)}).score == 0.25
    missing = score({"func": "m", "result": {"type": "missing"}})
    assert missing.score == 0.0 and "no such file" in missing.metrics[0].error


def test_and_stops_at_the_first_zero_else_averages():
    stopped = score({"func": ["m", "m", "m"], "conj": "and", "result": [value(1), value(0), value(1)]})
    assert (stopped.score, stopped.rule) == (0.0, "and_short_circuit")
    assert CALLS == [1, 0]  # the third metric never ran
    assert score({"func": ["m", "m"], "result": [value(1), value(0.5)]}).score == 0.75  # and is the default
    assert score({"func": ["m", "m"], "conj": "and", "result": [value(1), {"type": "missing"}]}).score == 0.0


def test_or_stops_at_the_first_one_else_takes_the_maximum():
    stopped = score({"func": ["m", "m", "m"], "conj": "or", "result": [value(0.2), value(1), value(0)]})
    assert (stopped.score, stopped.rule) == (1.0, "or_short_circuit")
    assert CALLS == [0.2, 1]
    assert score({"func": ["m", "m"], "conj": "or", "result": [value(0.2), value(0.6)]}).score == 0.6
    # a missing result under `or` is a 0 for that metric, the others still count
    assert score({"func": ["m", "m"], "conj": "or", "result": [{"type": "missing"}, value(0.4)]}).score == 0.4


def test_expected_state_and_options_reach_the_metric():
    seen = {}

    def metric(result, expected=None, **options):
        seen.update(result=result, expected=expected, options=options)
        return 1.0

    score_task({"func": ["x", "x"], "result": [value("r"), value("r2")], "expected": [value("e"), None],
                "options": [{"o": 1}, {}]}, agent_failed=False, get_state=get_state, metrics={"x": metric})
    assert seen == {"result": "r2", "expected": None, "options": {}}
    score_task({"func": "x", "result": value("r"), "expected": value("e"), "options": {"o": 1}},
               agent_failed=False, get_state=get_state, metrics={"x": metric})
    assert seen == {"result": "r", "expected": "e", "options": {"o": 1}}


def test_a_metric_that_raises_scores_zero_with_its_reason():
    result = score({"func": ["m", "m"], "conj": "or", "result": [value("boom"), value(0.3)]})
    assert result.score == 0.3
    assert "bad input" in result.metrics[0].error


@pytest.mark.parametrize("conj", ["and", "or"])
def test_report_lists_each_metric_run(conj):
    result = score({"func": ["m", "m"], "conj": conj, "result": [value(0.5), value(0.5)]})
    assert [m.to_dict() for m in result.metrics] == [{"func": "m", "score": 0.5}] * 2
    assert result.to_dict()["rule"] == conj
