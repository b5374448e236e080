"""Collaboration metrics: counts, interventions, step accuracy, clocks, meta.json shape."""

from __future__ import annotations

import json

import pytest

from pcagent.agent.types import Decision
from pcagent.collab.metrics import CollaborationMetrics
from tracker.format.actions import click


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_collaborative_run():
    clock = FakeClock()
    metrics = CollaborationMetrics(clock)
    for decision, actor in [
        (Decision("approve", "user"), "agent"),
        (Decision("approve", "timeout"), "agent"),
        (Decision("approve", "policy"), "agent"),
        (Decision("edit", "user", action=click(1, 2)), "human"),
        (Decision("reject", "user"), None),
        (Decision("takeover", "user"), None),
        (Decision("pause", "user", note="pause hotkey"), None),
        (Decision("takeover", "policy", note="suggest mode: the human acts"), None),
        (Decision("stop", "user"), None),
    ]:
        metrics.record_decision(decision)
        if actor:
            metrics.record_step(actor)
    metrics.record_step("human", 3)  # the human's events after the takeover, summarised
    metrics.record_step("agent")
    metrics.outcome = "success"
    data = metrics.to_dict()
    assert data == {
        "proposed": 9, "approved": 3, "approved_by": {"user": 1, "timeout": 1, "policy": 1, "rule": 0},
        "edited": 1, "rejected": 1, "takeovers": 2, "pauses": 1, "stops": 1,
        "interventions": 4,  # edit, reject, takeover, pause by the user; not the policy's takeover or the stop
        "step_accuracy": round(3 / 9, 4), "agent_steps": 4, "human_steps": 4, "total_steps": 8,
        "human_step_share": 0.5, "last_step_by": "agent",
        "agent_time_s": 0.0, "human_time_s": 0.0, "review_time_s": 0.0, "outcome": "success",
    }
    json.dumps(data)


def test_empty_run():
    data = CollaborationMetrics().to_dict()
    assert data["proposed"] == 0 and data["step_accuracy"] is None and data["human_step_share"] is None
    assert data["last_step_by"] is None and data["outcome"] is None


def test_clocks():
    clock = FakeClock()
    metrics = CollaborationMetrics(clock)
    with metrics.timed("agent"):
        clock.now += 2.5
    metrics.start_clock("review")
    clock.now += 1.0
    metrics.start_clock("review")  # already running: keeps the first start
    clock.now += 1.0
    metrics.stop_clock("review")
    metrics.stop_clock("review")  # already stopped: nothing
    metrics.start_clock("human")
    clock.now += 4.0
    assert metrics.seconds("human") == 4.0  # a running stretch counts
    data = metrics.to_dict()
    assert (data["agent_time_s"], data["review_time_s"], data["human_time_s"]) == (2.5, 2.0, 4.0)


def test_timed_stops_the_clock_on_errors():
    clock = FakeClock()
    metrics = CollaborationMetrics(clock)
    with pytest.raises(RuntimeError):
        with metrics.timed("agent"):
            clock.now += 1
            raise RuntimeError("planner crashed")
    clock.now += 5
    assert metrics.seconds("agent") == 1


def test_bad_names_are_errors():
    metrics = CollaborationMetrics()
    with pytest.raises(ValueError, match="unknown actor 'robot'; actors are agent, human"):
        metrics.record_step("robot")
    with pytest.raises(ValueError, match="unknown clock 'lunch'"):
        metrics.start_clock("lunch")
    with pytest.raises(ValueError, match="unknown verdict 'maybe'"):
        metrics.record_decision(Decision("maybe", "user"))
    with pytest.raises(ValueError, match="step count"):
        metrics.record_step("agent", -1)
