"""The seams of the agent: planner, approval gate, executor, and the values between them.

    Agent loop (pcagent.agent.loop)
      capture -> Planner.plan(PlanContext) -> PlannerOutput (thought + Action)
              -> ground element clicks (grounding) -> Proposal
              -> ApprovalGate.decide(Proposal) -> Decision
              -> Executor.execute(Action) -> trajectory step (actor "agent")

A planner never produces input itself and nothing a model says is executed as code:
its text is parsed into a tracker.format.actions.Action or rejected with PlanningError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from grounding.base import GroundingResult
from tracker.format.actions import Action

# The kind a planner records on its steps: how its actions name targets (by description for a grounder,
# by coordinates, or taken from a recording). Not the command line's --planner-kind choices.
PLANNER_STEP_KINDS = ("planner+grounder", "end-to-end", "replay")
MODES = ("confirm", "auto", "suggest")
VERDICTS = ("approve", "reject", "edit", "takeover", "pause", "stop")


class PlanningError(Exception):
    """The planner's output could not be turned into an action; `feedback` goes back to it."""

    def __init__(self, message: str, raw: str = "", feedback: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.feedback = feedback or message


@dataclass(frozen=True)
class HistoryItem:
    """One earlier step as the planner sees it."""

    actor: str  # "agent" | "human"
    action: str  # canonical text
    thought: str | None = None
    note: str | None = None  # e.g. "rejected by the user", "element not found"


@dataclass
class PlanContext:
    task: str
    screenshot: Image.Image  # the whole virtual desktop, physical pixels
    screen_origin: tuple[int, int] = (0, 0)  # the screenshot's top-left on the virtual desktop
    history: list[HistoryItem] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)  # what went wrong / what the human did since
    step_index: int = 0


@dataclass(frozen=True)
class PlannerOutput:
    thought: str
    action: Action  # screen coordinates when it has any; "click element: ..." for a grounder
    raw: str = ""  # the model's text, for the trajectory
    model_latency_s: float = 0.0
    usage: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)  # e.g. {"model_point": [x, y], "convention": ...}


class Planner(Protocol):
    kind: str  # one of PLANNER_STEP_KINDS
    name: str  # profile or source, for meta.json

    def plan(self, context: PlanContext) -> PlannerOutput:
        """The next thought and action; raise PlanningError on output that does not parse."""
        ...


@dataclass
class Proposal:
    """A step the agent wants to take, before the gate decides."""

    index: int
    thought: str
    action: Action  # executable: coordinates, never an element description
    planned: Action  # as the planner wrote it (may be "click element: ...")
    screenshot: Image.Image
    grounding: GroundingResult | None = None
    guard_reasons: list[str] = field(default_factory=list)  # why a rule wants approval
    screen_origin: tuple[int, int] = (0, 0)  # the screenshot's top-left on the desktop
    guard_saw: dict | None = None  # what the guards found at the action's point (recorded with the step)
    redacted: str | None = None  # why the text it would type is a secret: never shown, never stored

    @property
    def needs_approval(self) -> bool:
        return bool(self.guard_reasons)


@dataclass(frozen=True)
class Decision:
    verdict: str  # one of VERDICTS
    by: str  # "user" | "rule" | "policy" | "timeout" (auto-continue after a countdown)
    action: Action | None = None  # the replacement for "edit"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": self.verdict, "by": self.by}
        if self.action is not None:
            data["action"] = str(self.action)
        if self.note:
            data["note"] = self.note
        return data


class ApprovalGate(Protocol):
    def decide(self, proposal: Proposal) -> Decision: ...


class Executor(Protocol):
    def execute(self, action: Action) -> None:
        """Perform one coordinate-level action on the real desktop."""
        ...
