"""OSWorld's scoring rules (DesktopEnv.evaluate), on states that getters fetch:

1. ``func == "infeasible"``: 1 when the agent's last action was ``fail``, else 0.
2. Otherwise a last action ``fail`` scores 0.
3. One metric: its score (0 when the result getter finds no file).
4. A list of metrics with ``conj`` ``and`` (the default): the first 0 ends with 0, else the mean; with
   ``or``: the first 1 ends with 1, else the maximum. A result getter that finds no file makes the metric 0
   (and, under ``and``, the task 0).

A metric is called ``metric(result, expected, **options)``, or ``metric(result, **options)`` when the task
gives no expected state for it. A metric that raises scores 0 and its error is reported, so one bad task
never stops a run. The postconfig steps run before any of this (runner code calls them first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from pcagent.eval.metrics import METRICS

__all__ = ["MetricScore", "Score", "score_task"]

Getter = Callable[[dict], Any]  # a getter config -> the state (raises FileNotFoundError when there is none)


@dataclass
class MetricScore:
    func: str
    score: float
    error: str | None = None

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"func": self.func, "score": self.score}
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class Score:
    score: float
    rule: str  # which rule decided: infeasible, final_fail, single, and, or, and_short_circuit, ...
    metrics: list[MetricScore] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"score": self.score, "rule": self.rule, "metrics": [m.to_dict() for m in self.metrics]}


def _as_list(value: Any, length: int) -> list:
    return list(value) if isinstance(value, list) else [value] * length


def _run_metric(func: str, result_spec: Any, expected_spec: Any, options: dict | None, get_state: Getter,
                metrics: dict[str, Callable[..., float]]) -> MetricScore:
    """One metric on fresh states. A missing result file raises FileNotFoundError (the caller's rule)."""
    result = get_state(result_spec)
    try:
        expected = get_state(expected_spec) if expected_spec else None
        metric = metrics[func]
        value = metric(result, expected, **(options or {})) if expected is not None \
            else metric(result, **(options or {}))
        value = float(value)
        if math.isnan(value):
            raise ValueError("the metric gave NaN")
        return MetricScore(func, value)
    except Exception as exc:  # noqa: BLE001 - a broken metric or expected file scores 0, with its reason
        return MetricScore(func, 0.0, f"{type(exc).__name__}: {exc}")


def score_task(evaluator: dict, *, agent_failed: bool, get_state: Getter,
               metrics: dict[str, Callable[..., float]] | None = None) -> Score:
    """Score one finished task. ``agent_failed``: its last action was ``fail``."""
    metrics = METRICS if metrics is None else metrics
    func = evaluator["func"]
    if func == "infeasible":
        return Score(1.0 if agent_failed else 0.0, "infeasible")
    if agent_failed:
        return Score(0.0, "final_fail")
    if isinstance(func, str):
        try:
            scored = _run_metric(func, evaluator.get("result"), evaluator.get("expected"),
                                 evaluator.get("options"), get_state, metrics)
        except FileNotFoundError as exc:
            return Score(0.0, "single", [MetricScore(func, 0.0, f"no result: {exc}")])
        return Score(scored.score, "single", [scored])
    conj = evaluator.get("conj", "and")
    results = _as_list(evaluator.get("result"), len(func))
    expected = _as_list(evaluator.get("expected"), len(func))
    options = [o or {} for o in _as_list(evaluator.get("options"), len(func))]
    done: list[MetricScore] = []
    for index, name in enumerate(func):
        if name == "infeasible":  # only meaningful alone; in a list it can only have passed rule 2
            done.append(MetricScore(name, 0.0, "infeasible inside a list"))
            continue
        try:
            scored = _run_metric(name, results[index], expected[index] if index < len(expected) else None,
                                 options[index] if index < len(options) else {}, get_state, metrics)
        except FileNotFoundError as exc:
            scored = MetricScore(name, 0.0, f"no result: {exc}")
        done.append(scored)
        if conj == "and" and scored.score == 0.0:
            return Score(0.0, "and_short_circuit", done)
        if conj == "or" and scored.score == 1.0:
            return Score(1.0, "or_short_circuit", done)
    values = [m.score for m in done]
    if conj == "and":
        return Score(sum(values) / len(values), "and", done)
    return Score(max(values), "or", done)
