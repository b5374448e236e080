"""Training samples from trajectories, in PC Agent-E's shape: for one step, the instruction (what the agent
can do, the task, the earlier steps, the screen) and the answer the model should learn to give::

    <thought>

    Action: <canonical action>

Which steps become samples (``steps``): ``"human"`` (PC Agent-E: every human step), or ``"all"``: also the
agent's steps the gate approved (an edited step is left out: its thought is about the action the agent
planned, not the one performed). Every accepted boost (the completion's alternative thought + action
samples for a human step, step key ``boost``) is one more sample with the same instruction. A step gives no
sample without a thought, with its typed text redacted, or without a screenshot; :class:`SampleCounts` says
how many were left out and why.

Actions and history are written in pixels of the screenshot (step coordinates minus the virtual desktop's
top-left, tracker.format.trajectory.desktop_origin), the last ``history_steps`` steps of the history as
thought plus action. The preamble (role and action space) may be replaced with a researcher's own text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator

from tracker.datasets.sources import task_text
from tracker.format.actions import Action, ActionError, drag, format_action, parse_action
from tracker.format.trajectory import Step, Trajectory, desktop_origin

__all__ = ["DEFAULT_PREAMBLE", "HISTORY_STEPS", "STEP_SELECTIONS", "SampleCounts", "TrainingSample",
           "accepted_boosts", "image_action", "image_action_text", "response_text", "sample_steps", "thought_of",
           "training_samples"]

HISTORY_STEPS = 10  # PC Agent-E's history cut-off
STEP_SELECTIONS = ("human", "all")

DEFAULT_PREAMBLE = """You operate a computer for a user, one GUI action at a time. Each turn you get the task, \
the steps taken so far and a screenshot of the screen as it is now. Look at the screenshot, think in the first \
person about where things stand and what the next step should be, then give that one step.

Answer in exactly this form:
<your thinking, a few sentences>

Action: <one action from the list below>

Actions:
click (x, y)            left-click at the point
right click (x, y)      right-click at the point
double click (x, y)     double-click at the point
drag from (x1, y1) to (x2, y2)   press at the first point and release at the second
scroll (dx, dy)         turn the wheel by notches: dy > 0 up, dy < 0 down, dx > 0 right, dx < 0 left
scroll (dx, dy) at (x, y)   the same with the pointer over that point
press key: <key>        one key, e.g. enter, esc, tab, backspace, page_down, f5
hotkey (<k1>, <k2>)     keys held together, e.g. hotkey (ctrl, s)
type text: <text>       type into the focused field
wait                    wait for the screen to settle
finish                  the task is done
fail                    the task cannot be done

x and y are pixels of the screenshot; (0, 0) is its top-left corner."""


@dataclass(frozen=True)
class TrainingSample:
    """One instruction and the answer to learn for it."""

    trajectory: Trajectory
    step: Step
    instruction: str  # the text shown with the screenshot (the preamble is apart)
    response: str  # thought + "\n\nAction: " + action
    kind: str  # "human" | "agent" | "boost"


@dataclass
class SampleCounts:
    """What an export wrote ("human samples": 12, "rows": 40, ...) and the steps it left out, by reason."""

    written: Counter = field(default_factory=Counter)
    left_out: Counter = field(default_factory=Counter)

    def merge(self, other: SampleCounts) -> None:
        self.written.update(other.written)
        self.left_out.update(other.left_out)

    def summary(self) -> str:
        """"wrote 12 human samples, 30 boost samples; left out 3 steps without a thought"."""
        text = "wrote " + (", ".join(f"{n} {what}" for what, n in self.written.items()) or "nothing")
        if self.left_out:
            text += "; left out " + ", ".join(f"{n} {'step' if n == 1 else 'steps'} {why}"
                                              for why, n in sorted(self.left_out.items()))
        return text


def thought_of(step: Step) -> tuple[str, str | None]:
    """(text, source) of the step's thought as stored; ("", None) when it has none."""
    thought = step.extra.get("thought")
    if isinstance(thought, dict):
        text, source = thought.get("text"), thought.get("source")
        return (text if isinstance(text, str) else ""), (source if isinstance(source, str) else None)
    if isinstance(thought, str):
        return thought, None
    return "", None


def image_action(action: Action, origin: tuple[int, int]) -> Action:
    """``action`` with its points moved from desktop coordinates to screenshot pixels."""
    ox, oy = origin
    if (ox, oy) == (0, 0) or action.point is None:
        return action
    x, y = action.point[0] - ox, action.point[1] - oy
    if action.kind == "drag":
        return drag(x, y, action.end[0] - ox, action.end[1] - oy)  # type: ignore[index]
    return Action(action.kind, point=(x, y), delta=action.delta)


def image_action_text(text: str, origin: tuple[int, int]) -> str:
    """Canonical action text in screenshot pixels (the text itself when it does not parse)."""
    try:
        return format_action(image_action(parse_action(text), origin))
    except ActionError:
        return text


def response_text(thought: str, action: str) -> str:
    """The answer as PC Agent-E writes it: the thought, a blank line, ``Action: <action>``."""
    return f"{thought}\n\nAction: {action}" if thought else f"Action: {action}"


def accepted_boosts(step: Step) -> list[tuple[str, str]]:
    """(thought, canonical action) of each boost sample of the step that was accepted and still parses."""
    boost = step.extra.get("boost")
    samples = boost.get("samples") if isinstance(boost, dict) else boost
    accepted = []
    for sample in samples if isinstance(samples, list) else []:
        if not isinstance(sample, dict) or sample.get("accepted") is False:
            continue
        thought, action = sample.get("thought"), sample.get("action")
        if isinstance(thought, dict):
            thought = thought.get("text")
        if not isinstance(thought, str) or not thought.strip() or not isinstance(action, str):
            continue
        try:
            accepted.append((thought.strip(), format_action(parse_action(action))))
        except ActionError:
            continue
    return accepted


def _instruction(task: str, history: list[str], shown: int, size: tuple[int, int] | None) -> str:
    lines = [f"Task: {task or '(no task given)'}", ""]
    recent = history[-shown:] if shown > 0 else []
    hidden = [f"({len(history) - len(recent)} earlier steps not shown)"] if len(recent) < len(history) else []
    lines += ["Steps so far:", *hidden, *recent] if history else ["Steps so far: none, this is the first step."]
    screen = f" ({size[0]} x {size[1]} pixels)" if size else ""
    lines += ["", f"The current screen{screen} is shown. What is the next step?"]
    return "\n".join(lines)


def _history_entry(number: int, step: Step, origin: tuple[int, int]) -> str:
    thought = thought_of(step)[0].strip()
    action = image_action_text(step.action, origin)
    return f"Step {number}:\n{thought}\nAction: {action}" if thought else f"Step {number}:\nAction: {action}"


def _selected(step: Step, steps: str) -> str | None:
    """The sample kind of a step the selection takes, or None."""
    if step.actor == "human":
        return "human"
    decision = step.extra.get("decision")
    verdict = decision.get("verdict") if isinstance(decision, dict) else None
    if steps == "all" and step.actor == "agent" and verdict in (None, "approve"):
        return "agent"
    return None


def _left_out_because(step: Step) -> str | None:
    """Why a selected step gives no sample, or None when it gives one."""
    if step.extra.get("redacted"):
        return "with redacted text"
    if not step.screenshot:
        return "without a screenshot"
    if not thought_of(step)[0].strip():
        return "without a thought"
    return None


def sample_steps(trajectory: Trajectory, steps: str = "human") -> list[Step]:
    """The steps of a trajectory that give samples (so that their screenshots can be prepared first)."""
    return [step for step in trajectory.steps if _selected(step, steps) and _left_out_because(step) is None]


def training_samples(trajectory: Trajectory, counts: SampleCounts, *, steps: str = "human", boosts: bool = True,
                     history_steps: int = HISTORY_STEPS,
                     size_of: Callable[[Step], tuple[int, int] | None] | None = None) -> Iterator[TrainingSample]:
    """The samples of one trajectory, in step order (a step's own sample before its boosts), counted in
    ``counts``. ``size_of`` gives a step's screenshot size, shown in the instruction."""
    if steps not in STEP_SELECTIONS:
        raise ValueError(f"steps must be one of {', '.join(STEP_SELECTIONS)}, not {steps!r}")
    origin = desktop_origin(trajectory.meta)
    task = task_text(trajectory.meta)
    history: list[str] = []
    for number, step in enumerate(trajectory.steps, start=1):
        kind = _selected(step, steps)
        if kind is not None:
            thought = thought_of(step)[0].strip()
            reason = _left_out_because(step)
            if reason:
                counts.left_out[reason] += 1
            else:
                instruction = _instruction(task, history, history_steps, size_of(step) if size_of else None)
                action = image_action_text(step.action, origin)
                counts.written[f"{kind} samples"] += 1
                yield TrainingSample(trajectory, step, instruction, response_text(thought, action), kind)
                for boost_thought, boost_action in (accepted_boosts(step) if boosts and kind == "human" else []):
                    counts.written["boost samples"] += 1
                    yield TrainingSample(trajectory, step, instruction,
                                         response_text(boost_thought, image_action_text(boost_action, origin)), "boost")
        history.append(_history_entry(number, step, origin))
