"""Collaboration metrics for meta.json["collaboration"] (CowPilot's session log and measures).

The loop tells it three things:

    metrics.record_decision(decision)      once per proposal the gate decided
    metrics.record_step("agent" | "human") once per step performed (an edited action counts as
                                           "human": the human wrote it, the executor only typed it)
    with metrics.timed("agent"): ...       time spent planning/grounding/executing ("agent"), acting
                                           ("human"), or waiting for a decision ("review"); or
                                           start_clock(who) / stop_clock(who) where a `with` does not fit

and at the end `metrics.outcome = "success"` (or any short word: "failure", "stopped", ...).
Step accuracy is approved / proposed, as in CowPilot; an edit is not an approval.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pcagent.agent.types import VERDICTS, Decision

__all__ = ["CollaborationMetrics", "ACTORS", "CLOCKS", "INTERVENTION_VERDICTS"]

ACTORS = ("agent", "human")
CLOCKS = ("agent", "human", "review")
# A user who does any of these stepped in; a stop ends the run and is reported as the outcome instead.
INTERVENTION_VERDICTS = ("reject", "edit", "takeover", "pause")


class CollaborationMetrics:
    """Counts and clocks for one run; `clock` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.proposed = 0
        self.verdicts: Counter[str] = Counter()  # verdict -> count
        self.approved_by: Counter[str] = Counter()  # "user" | "timeout" | "policy" | "rule" -> count
        self.interventions = 0
        self.steps: Counter[str] = Counter()  # actor -> count
        self.last_step_by: str | None = None
        self.outcome: str | None = None
        self._elapsed: dict[str, float] = {name: 0.0 for name in CLOCKS}
        self._started: dict[str, float] = {}

    # --- counting ---

    def record_decision(self, decision: Decision) -> None:
        """One proposal, and what the gate decided about it."""
        if decision.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {decision.verdict!r}; verdicts are {', '.join(VERDICTS)}")
        self.proposed += 1
        self.verdicts[decision.verdict] += 1
        if decision.verdict == "approve":
            self.approved_by[decision.by] += 1
        if decision.by == "user" and decision.verdict in INTERVENTION_VERDICTS:
            self.interventions += 1

    def record_step(self, actor: str, count: int = 1) -> None:
        """Steps performed by `actor` (several at once when a human's events are summarised)."""
        if actor not in ACTORS:
            raise ValueError(f"unknown actor {actor!r}; actors are {', '.join(ACTORS)}")
        if count < 0:
            raise ValueError(f"step count must be >= 0, not {count}")
        if count:
            self.steps[actor] += count
            self.last_step_by = actor

    # --- clocks ---

    def start_clock(self, who: str) -> None:
        """Start timing `who`; starting a running clock keeps its first start."""
        self._check_clock(who)
        self._started.setdefault(who, self._clock())

    def stop_clock(self, who: str) -> None:
        """Stop timing `who`; stopping a stopped clock does nothing."""
        self._check_clock(who)
        started = self._started.pop(who, None)
        if started is not None:
            self._elapsed[who] += max(0.0, self._clock() - started)

    @contextmanager
    def timed(self, who: str) -> Iterator[None]:
        self.start_clock(who)
        try:
            yield
        finally:
            self.stop_clock(who)

    def seconds(self, who: str) -> float:
        """Time on `who`'s clock so far, a running stretch included."""
        self._check_clock(who)
        running = self._started.get(who)
        return self._elapsed[who] + (max(0.0, self._clock() - running) if running is not None else 0.0)

    @staticmethod
    def _check_clock(who: str) -> None:
        if who not in CLOCKS:
            raise ValueError(f"unknown clock {who!r}; clocks are {', '.join(CLOCKS)}")

    # --- results ---

    @property
    def approved(self) -> int:
        return self.verdicts["approve"]

    @property
    def step_accuracy(self) -> float | None:
        """Approved / proposed (CowPilot); None before any proposal."""
        return self.approved / self.proposed if self.proposed else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for meta.json["collaboration"]."""
        total_steps = self.steps["agent"] + self.steps["human"]
        accuracy = self.step_accuracy
        return {
            "proposed": self.proposed,
            "approved": self.approved,
            "approved_by": dict.fromkeys(("user", "timeout", "policy", "rule"), 0) | dict(self.approved_by),
            "edited": self.verdicts["edit"],
            "rejected": self.verdicts["reject"],
            "takeovers": self.verdicts["takeover"],
            "pauses": self.verdicts["pause"],
            "stops": self.verdicts["stop"],
            "interventions": self.interventions,
            "step_accuracy": round(accuracy, 4) if accuracy is not None else None,
            "agent_steps": self.steps["agent"],
            "human_steps": self.steps["human"],
            "total_steps": total_steps,
            "human_step_share": round(self.steps["human"] / total_steps, 4) if total_steps else None,
            "last_step_by": self.last_step_by,
            "agent_time_s": round(self.seconds("agent"), 3),
            "human_time_s": round(self.seconds("human"), 3),
            "review_time_s": round(self.seconds("review"), 3),
            "outcome": self.outcome,
        }
