"""The agent loop: capture, plan, ground, propose, pass the gate, execute, record.

Each step the planner sees the task, recent history (the agent's and the human's steps)
and the screen; an element it names is grounded; the gate (the user, a rule or the
policy) decides; the executor acts; the step is appended to the trajectory. A person
can take over at any time just by using the mouse or keyboard (the recorder running
alongside hears it): the agent stops before its next injected input, the person's
steps are recorded as actor "human", and when control is handed back the planner is
told what the person did.

Recovery, as in PC Agent: a target not found is reported to the planner (up to
`max_replans` times in a row), output that does not parse gets feedback and a retry
(up to `max_parse_retries`), and the same action on an unchanged screen
`max_repeats` times — in every case the agent then asks the user. A model that cannot be
reached, times out or answers garbage (models.errors), and an action the executor cannot
perform, pause the agent at once: the error is recorded in meta.json's "errors" and the user
chooses to retry (hand control back) or stop; stopping there ends the run with outcome "error".
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from PIL import Image

from grounding.base import Grounder, GroundingHints, GroundingResult
from models.errors import ModelError
from pcagent.agent.executor import ExecutionError
from pcagent.agent.types import (Decision, Executor, HistoryItem, PlanContext, Planner, PlannerOutput,
                                 PlanningError, Proposal)
from pcagent.collab.metrics import CollaborationMetrics
from tracker.format.actions import Action, format_action, type_text
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryWriter
from tracker.privacy import REDACTED_TEXT, hide_text
from tracker.recording.own_windows import OWN_WINDOWS_KEY

TERMINAL_KINDS = ("finish", "fail")


class UserChannel(Protocol):
    """How the loop talks to the person: the approval gate plus waiting for control back."""

    def decide(self, proposal: Proposal) -> Decision: ...

    def wait_for_user(self, message: str, resume: threading.Event) -> str | None:
        """Tell the user `message`; block until they hand control back (Enter or the resume
        event). Returns what they typed ("" for none), or None when they chose to stop."""
        ...


@dataclass
class AgentConfig:
    mode: str = "confirm"
    max_steps: int = 30
    history_steps: int = 10
    max_parse_retries: int = 3
    max_replans: int = 3
    max_repeats: int = 3
    settle_s: float = 0.6  # after acting, let the screen update before the next capture


class _AnyEvent:
    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(event.is_set() for event in self._events)


@dataclass
class HumanActivity:
    """Shared with the recorder's callbacks: the person's input and steps, thread-safe."""

    acting: threading.Event = field(default_factory=threading.Event)  # input since the agent last looked
    interrupt: threading.Event = field(default_factory=threading.Event)  # the pause hotkey
    resume: threading.Event = field(default_factory=threading.Event)  # the pause hotkey again
    stop: threading.Event = field(default_factory=threading.Event)  # the stop hotkey
    steps: list[Step] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def attention(self) -> "_AnyEvent":
        """Set while the person wants control (pause hotkey or their own input): what a gate
        waiting for a decision watches, so it stops waiting at once."""
        return _AnyEvent(self.interrupt, self.acting)

    def take_steps(self) -> list[Step]:
        with self.lock:
            steps, self.steps = self.steps, []
        return steps

    def add_step(self, step: Step) -> None:
        with self.lock:
            self.steps.append(step)


def _screen_hash(image: Image.Image) -> str:
    """A fingerprint of the screen for "unchanged?" checks; area-averaged to a quarter size, which
    still sees any visible change and costs a fifth of hashing every pixel."""
    return hashlib.blake2b(image.reduce(4).tobytes(), digest_size=16).hexdigest()


def _guard_record(proposal: Proposal) -> dict | None:
    """What the step records of its guard check: what was seen at the point, and why approval was asked."""
    record = {key: value for key, value in (("saw", proposal.guard_saw), ("reasons", proposal.guard_reasons))
              if value}
    return record or None


class AgentLoop:
    def __init__(self, task: str, *, planner: Planner, grounder: Grounder | None, executor: Executor,
                 user: UserChannel, writer: TrajectoryWriter,
                 capture: Callable[[], tuple[Image.Image, tuple[int, int]]],
                 guards: Callable[[Proposal], list[str]] | None = None,
                 metrics: CollaborationMetrics | None = None, activity: HumanActivity | None = None,
                 config: AgentConfig | None = None,
                 report: Callable[[str, dict], None] | None = None,
                 redact: Callable[[Action], str | None] | None = None,
                 screenshot_format: ScreenshotFormat | None = None) -> None:
        """``redact(action)`` is shown every executed action in order and says why typed text must not be
        stored (tracker.privacy.TypingRedactor, as for the person's typing), or None."""
        self.task = task
        self.planner, self.grounder, self.executor = planner, grounder, executor
        self.user, self.writer, self.capture = user, writer, capture
        self.guards = guards or (lambda proposal: [])
        self.metrics = metrics or CollaborationMetrics()
        self.activity = activity or HumanActivity()
        self.config = config or AgentConfig()
        self.report = report or (lambda kind, data: None)
        self.redact = redact or (lambda action: None)
        self.screenshot_format = screenshot_format or ScreenshotFormat("png")
        self.history: list[HistoryItem] = []
        self.feedback: list[str] = []
        self.outcome: str | None = None
        self._parse_failures = self._replans = self._repeats = 0
        self._last_executed: tuple[str, str] | None = None  # (action, screen hash before it)
        self.errors: list[dict] = []  # model and executor faults, as meta.json records them
        self._unresolved_fault = False  # the user stopped while a fault was being shown
        self._shown_windows: list | None = None  # pcagent's windows in the latest capture
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pcagent-screenshot")

    # --- the loop ---------------------------------------------------------------------------
    def run(self) -> str:
        """Run until finish, fail, stop or the step limit; return the outcome."""
        try:
            self._run()
        finally:
            self._encoder.shutdown(wait=True)
        self.metrics.outcome = self.outcome
        self.report("finished", {"outcome": self.outcome})
        return self.outcome

    def _run(self) -> None:
        agent_steps = 0
        while self.outcome is None:
            if self.activity.stop.is_set():
                self.outcome = "error" if self._unresolved_fault else "stopped"
            elif agent_steps >= self.config.max_steps:
                self.outcome = "step_limit"
            elif self.activity.interrupt.is_set():
                self._hand_over("Paused (interrupt). Press the pause hotkey to resume.")
            elif self.activity.acting.is_set():
                self._hand_over("You took over. Press the pause hotkey to hand control back.")
            else:
                self._collect_human_steps()
                with self.metrics.timed("agent"):
                    if self._step():
                        agent_steps += 1

    def _step(self) -> bool:
        """One planning round; True when it used up a step (an action was recorded)."""
        shot, origin = self.capture()
        # pcagent's own windows a capture could not keep out of the picture (the front end's capture says so)
        self._shown_windows = shot.info.get(OWN_WINDOWS_KEY)
        # the trajectory's copy of the screen, encoded while the model thinks
        encoded = self._encoder.submit(self.screenshot_format.encode, shot)
        context = PlanContext(self.task, shot, origin, self.history[-self.config.history_steps:],
                              list(self.feedback), step_index=self.writer.next_index)
        started = time.monotonic()
        try:
            output = self.planner.plan(context)
        except ModelError as exc:
            self._fault("model", exc)
            return False
        except PlanningError as exc:
            self._parse_failures += 1
            self.report("planning_error", {"error": str(exc), "raw": exc.raw})
            self.feedback = [f"Your last answer could not be used: {exc.feedback}"]
            if self._parse_failures >= self.config.max_parse_retries:
                self._parse_failures = 0
                self._ask_user(f"The planner's output could not be parsed {self.config.max_parse_retries} "
                               f"times (last: {exc}).")
            return False
        self._parse_failures = 0
        self.feedback = []
        plan_s = time.monotonic() - started
        planned = output.action
        if planned.kind in TERMINAL_KINDS:
            self._record(output, planned, encoded, None, Decision("approve", "policy"), {"plan_s": plan_s})
            self.outcome = planned.kind
            return True
        if planned.kind == "call_user":
            self._record(output, planned, encoded, None, Decision("approve", "policy"), {"plan_s": plan_s})
            self._ask_user(f"The agent asks: {planned.text}")
            return True
        grounding, action, ground_s = None, planned, 0.0
        if planned.is_element_click:
            try:
                grounding, ground_s = self._ground(shot, origin, planned)
            except ModelError as exc:  # a grounding model that is down or answers garbage
                self._fault("model", exc)
                return False
            if not grounding.found:
                self._replans += 1
                self.feedback = [f'The element "{planned.element}" was not found on the screen '
                                 f"({grounding.reason}). Describe it differently or choose another action."]
                self.report("not_found", {"element": planned.element, "reason": grounding.reason})
                if self._replans >= self.config.max_replans:
                    self._replans = 0
                    self._ask_user(f'"{planned.element}" could not be found {self.config.max_replans} times.')
                return False
            action = planned.with_point(grounding.point[0] + origin[0], grounding.point[1] + origin[1])
        self._replans = 0
        screen = _screen_hash(shot)
        if self._last_executed == (format_action(action), screen):
            self._repeats += 1
        else:
            self._repeats = 0
        if self._repeats + 1 >= self.config.max_repeats:
            self._repeats = 0
            self._last_executed = None
            self._ask_user(f"The agent proposed {action} {self.config.max_repeats} times on an unchanged "
                           "screen; it may be stuck.")
            return False
        proposal = Proposal(context.step_index, output.thought, action, planned, shot, grounding,
                            screen_origin=origin)
        proposal.guard_reasons = self.guards(proposal)
        self.report("proposal", {"proposal": proposal})
        self.metrics.stop_clock("agent")  # waiting for the person is review time, not agent time
        with self.metrics.timed("review"):
            decision = self.user.decide(proposal)
        self.metrics.start_clock("agent")
        if decision.verdict == "edit" and decision.action is not None:
            action = decision.action
            if action.is_element_click:
                grounding, extra_s = self._ground(shot, origin, action)
                ground_s += extra_s
                if not grounding.found:
                    self.feedback = [f'The user\'s replacement "{action}" could not be grounded.']
                    return False
                action = action.with_point(grounding.point[0] + origin[0], grounding.point[1] + origin[1])
        timing = {"plan_s": round(plan_s, 3), "ground_s": round(ground_s, 3)}
        return self._apply(decision, output, planned, action, encoded, grounding, screen, timing,
                           _guard_record(proposal))

    def _apply(self, decision: Decision, output: PlannerOutput, planned: Action, action: Action,
               encoded: Future, grounding: GroundingResult | None, screen: str, timing: dict,
               guard: dict | None = None) -> bool:
        self.metrics.record_decision(decision)
        verdict = decision.verdict
        if verdict == "stop":
            self.outcome = "stopped"
            return False
        if verdict in ("approve", "edit"):
            if self.activity.interrupt.is_set() or self.activity.acting.is_set():
                self.feedback = [f"Your proposal {action} was not executed: the user intervened."]
                return False  # the person came first: no input from the agent
            if action.kind in TERMINAL_KINDS:
                self._record(output, action, encoded, grounding, decision, timing, guard=guard)
                self.outcome = action.kind
                return True
            started = time.monotonic()
            try:
                self.executor.execute(action)
            except ExecutionError as exc:
                self._fault("executor", exc)
                return False
            timing["execute_s"] = round(time.monotonic() - started, 3)
            self._record(output, action, encoded, grounding, decision, timing, planned=planned, guard=guard,
                         redacted=self.redact(action))
            self._last_executed = (format_action(action), screen)
            time.sleep(self.config.settle_s)
            return True
        note = {"reject": "rejected by the user", "takeover": "the user chose to act",
                "pause": "paused by the user"}.get(verdict, verdict)
        self.history.append(HistoryItem("agent", format_action(planned), output.thought, note))
        if verdict == "reject":
            self.feedback = [f"The user rejected your proposal {action}; do not repeat it."]
        if verdict == "pause":
            if not self.activity.acting.is_set():  # else the person already took over by acting
                self.activity.interrupt.set()
        elif verdict in ("reject", "takeover"):
            self.activity.acting.set()
        return False

    # --- helpers ----------------------------------------------------------------------------
    def _ground(self, shot: Image.Image, origin: tuple[int, int], action: Action) -> tuple[GroundingResult, float]:
        started = time.monotonic()
        if self.grounder is None:
            result = GroundingResult.not_found("none", "no grounder is configured")
        else:
            result = self.grounder.ground(shot, action.element, GroundingHints(screen_origin=origin))
        return result, time.monotonic() - started

    def _record(self, output: PlannerOutput, action: Action, encoded: Future,
                grounding: GroundingResult | None, decision: Decision, timing: dict,
                planned: Action | None = None, guard: dict | None = None, redacted: str | None = None) -> None:
        thought, raw, stored = output.thought, output.raw, action
        if redacted and action.text:  # the typed text stays in memory (history) only
            thought, raw = hide_text(thought, action.text), hide_text(raw, action.text)
            stored = type_text(REDACTED_TEXT)
            planned = None
        extra: dict = {"thought": {"text": thought, "source": "agent"},
                       "decision": decision.to_dict(), "timing": timing}
        if redacted:
            extra["redacted"] = redacted
        if self._shown_windows:
            extra[OWN_WINDOWS_KEY] = self._shown_windows
        if guard:
            extra["guard"] = guard
        if planned is not None and planned != action:
            extra["planned_action"] = format_action(planned)
        if grounding is not None:
            extra["grounding"] = grounding.to_dict()
        if raw:
            extra["model_output"] = raw
        if output.model_latency_s:
            timing["model_s"] = round(output.model_latency_s, 3)
        if output.details:
            extra["planner_details"] = output.details
        with self.writer.step_slot() as index:
            data = encoded.result()
            path = self.writer.save_screenshot(index, data, self.screenshot_format.extension_of(data))
            step = Step(index=index, time=round(time.time(), 3), actor="agent", action=format_action(stored),
                        screenshot=path, pointer=action.point, extra=extra)
            self.writer.append_step(step)
        self.metrics.record_step("agent")
        self.history.append(HistoryItem("agent", format_action(action), output.thought))
        self.report("step", {"step": step})

    def _collect_human_steps(self) -> None:
        steps = self.activity.take_steps()
        if not steps:
            return
        self.metrics.record_step("human", len(steps))
        for step in steps:
            self.history.append(HistoryItem("human", step.action, None, "done by the user"))
        done = "; ".join(step.action for step in steps)
        self.feedback.append(f"Since your last step the user did: {done}. Continue from the current screen.")

    def _hand_over(self, message: str) -> None:
        """The person has control; wait until they hand it back."""
        self.report("paused", {"message": message})
        self.metrics.start_clock("human")
        self.activity.resume.clear()
        answer = self.user.wait_for_user(message, self.activity.resume)
        self.metrics.stop_clock("human")
        self.activity.interrupt.clear()
        self.activity.acting.clear()
        if answer is None:
            self.activity.stop.set()
        elif answer:
            self.feedback.append(f"The user says: {answer}")
        self._collect_human_steps()

    def _fault(self, kind: str, error: Exception) -> None:
        """A model or executor failure: record it, tell the user, and let them retry or stop."""
        entry = {"step": self.writer.next_index, "time": round(time.time(), 3), "kind": kind, "error": str(error)}
        self.errors.append(entry)
        self.writer.update_meta(errors=list(self.errors))
        self.report("fault", entry)
        what = "The model failed" if kind == "model" else "The action could not be performed"
        self._unresolved_fault = True
        self._hand_over(f"{what} (error above). Hand control back to try again.")
        if not self.activity.stop.is_set():
            self._unresolved_fault = False

    def _ask_user(self, message: str) -> None:
        self._hand_over(f"{message} Act yourself if needed, then press Enter (or type an answer) to continue.")
