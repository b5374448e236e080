"""Approval gates: who lets a proposed step run (CowPilot's interaction model, Magentic-UI's guards).

A gate answers `decide(proposal) -> Decision` and `wait_for_user(message, resume)` (the loop's hand-back
after a takeover or pause). A gate only decides; the loop executes, grounds edited element clicks and
records the decision. Here: the protocol a human-answered gate implements, the policy gate for auto mode
(a guarded step still goes to the human), and the lines that show a proposal to a human. The terminal's
gates are in pcagent.collab.terminal.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Protocol

from models.text_excerpt import escape_controls
from pcagent.agent.types import Decision, Proposal
from tracker.privacy import hide_text

__all__ = ["AutoGate", "InteractiveGate", "describe_proposal"]


class InteractiveGate(Protocol):
    """A gate a human answers, which can also wait for them to hand control back."""

    def decide(self, proposal: Proposal) -> Decision: ...

    def wait_for_user(self, message: str, resume: threading.Event | None = None) -> str | None: ...


class AutoGate:
    """Approves by policy; a guarded proposal goes to `interactive` (the guard wins over auto mode)."""

    def __init__(self, interactive: InteractiveGate) -> None:
        self.interactive = interactive

    def wait_for_user(self, message: str, resume: threading.Event | None = None) -> str | None:
        return self.interactive.wait_for_user(message, resume)

    def decide(self, proposal: Proposal) -> Decision:
        if not proposal.needs_approval:
            return Decision("approve", by="policy")
        decision = self.interactive.decide(proposal)
        guarded = "guarded: " + "; ".join(proposal.guard_reasons)
        return replace(decision, note=f"{decision.note}; {guarded}" if decision.note else guarded)


def describe_proposal(proposal: Proposal) -> list[str]:
    """The lines a human needs to judge a step: thought, action, target, guard reasons.

    Everything that came from a model is shown with its control characters escaped, and a multi-line
    thought is indented, so that no text can pose as another line of the prompt (an ANSI escape that
    clears the line, a carriage return, a fake "Action:" line)."""
    lines = [f"--- step {proposal.index} ---"]
    secret = proposal.action.text if proposal.redacted and proposal.action.kind == "type_text" else None
    if proposal.thought:
        shown = hide_text(proposal.thought, secret) if secret else proposal.thought
        thought = escape_controls(shown.strip(), keep="\n").split("\n")
        lines.append(f"Thought: {thought[0]}")
        lines += [f"         {line}" for line in thought[1:]]
    if secret is not None:  # a secret is not shown, even here
        lines.append(f"Action:  type text: ******** ({len(proposal.action.text or '')} characters, "
                     f"hidden: {proposal.redacted})")
    else:
        lines.append(f"Action:  {escape_controls(str(proposal.action))}")
        if proposal.planned != proposal.action:
            lines.append(f"Planned: {escape_controls(str(proposal.planned))}")
    target = _describe_target(proposal)
    if target:
        lines.append(f"Target:  {escape_controls(target)}")
    if proposal.guard_reasons:
        lines.append("Needs approval:")
        lines += [f"  - {escape_controls(reason)}" for reason in proposal.guard_reasons]
    return lines


def _describe_target(proposal: Proposal) -> str | None:
    action = proposal.action
    if action.kind == "drag":
        where = f"from {action.point} to {action.end}"
    elif action.point is not None:
        where = f"({action.point[0]}, {action.point[1]})"
    else:
        return None
    grounding = proposal.grounding
    if grounding is None or not grounding.found:
        return where
    best = next((c for c in grounding.candidates if c.point == grounding.point), None)
    label = f' "{best.label}"' if best is not None and best.label else ""
    return f"{where}{label} - {grounding.engine}, confidence {grounding.confidence:.2f}"
