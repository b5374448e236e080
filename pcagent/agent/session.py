"""One agent run on the real desktop: everything the loop needs, wired and torn down.

The trajectory is shared: the agent appends its steps, and a recorder running alongside
appends the person's steps (actor "human") whenever they take over. The recorder's
control hotkeys become the agent's: pause/resume interrupts the agent (before its next
injected input) and hands control back; stop ends the run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

from PIL import Image

from grounding.base import Grounder
from models.text_excerpt import escape_controls, shorten
from pcagent.agent.loop import AgentConfig, AgentLoop, HumanActivity, UserChannel
from pcagent.agent.types import Planner, Proposal
from pcagent.collab.metrics import CollaborationMetrics
from pcagent.collab.terminal import make_gate
from pcagent.agent.executor import PyAutoGuiExecutor
from pcagent.collab.guards import ActionGuard
from pcagent.collab.point_target import PointLookup
from tracker.recording.capture import CaptureUnavailable, NoDisplay, describe_screens, grab_frame
from tracker.recording.injection import InjectionLedger
from tracker.recording.merge import MergeConfig
from tracker.format.actions import Action
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.privacy import PrivacySettings, TypingRedactor
from tracker.recording.context import StepContext
from tracker.recording.recorder import DEFAULT_HOTKEYS, Recorder, RecorderConfig, RecorderError
from tracker.format.trajectory import TrajectoryError, TrajectoryWriter, new_meta


Capture = Callable[[], "tuple[Image.Image, tuple[int, int]]"]  # the whole desktop and its top-left


class SessionError(RuntimeError):
    """The run cannot start here; the message says why."""


@dataclass
class SessionOptions:
    mode: str = "confirm"
    countdown_s: float | None = None
    max_steps: int = 30
    settle_s: float = 0.6
    hotkeys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))
    guard: ActionGuard | None = None  # None: the default rules
    privacy: PrivacySettings = field(default_factory=PrivacySettings)  # whose typing is redacted, for both actors
    screenshot_format: ScreenshotFormat = field(default_factory=ScreenshotFormat.default)  # both actors' steps
    stdin: IO | None = None
    stdout: IO | None = None
    # A front end other than the terminal (the tray app's approval panel) brings its own gate, drives the run
    # through `activity` (pause, hand back, stop), and wraps the screen capture (to hide its windows).
    gate: UserChannel | None = None  # None: the terminal's gate for `mode`
    activity: HumanActivity | None = None
    wrap_capture: Callable[[Capture], Capture] | None = None


class _ScreenCapture:
    """The whole virtual desktop as a PIL image and its origin; one mss instance per thread."""

    def __init__(self) -> None:
        self._sct = None

    def __call__(self) -> tuple[Image.Image, tuple[int, int]]:
        if self._sct is None:
            import mss

            self._sct = mss.MSS() if hasattr(mss, "MSS") else mss.mss()
        frame = grab_frame(self._sct)
        return frame.to_image().copy(), (frame.left, frame.top)

    def close(self) -> None:
        if self._sct is not None:
            self._sct.close()


class _Desktop:
    """What the guards and the typing redaction ask about the live desktop: the element at a point or with
    focus, and the window there (AT-SPI and X; each answers None where it cannot)."""

    def __init__(self) -> None:
        from grounding.accessibility import open_accessibility, open_windows

        self.accessibility = open_accessibility()
        self.windows = open_windows()

    def context_for(self, action: Action) -> StepContext:
        a11y = self.accessibility if self.accessibility.available else None
        if action.kind == "type_text":
            return StepContext(a11y.focused_element() if a11y else None, self.windows.active_window())
        if action.point is not None:
            return StepContext(a11y.element_at(*action.point) if a11y else None, self.windows.window_at(*action.point))
        return StepContext(None, self.windows.active_window())

    def close(self) -> None:
        self.accessibility.close()
        self.windows.close()


def _guard_check(guard: ActionGuard, desktop: _Desktop, redactor: TypingRedactor) -> Callable[[Proposal], list[str]]:
    """The loop's guard callback: it tells the guards what the action would hit. A pointer action gets
    the element (else the OCR text) at its point, typing gets the focused element's role and whether the
    text is a secret (then the prompt hides it); what was seen is kept on the proposal, and the step
    records it."""
    lookup = PointLookup(desktop.accessibility)

    def check(proposal: Proposal) -> list[str]:
        action = proposal.action
        element_text, role = None, None
        if action.kind == "type_text":
            context = desktop.context_for(action)
            role = context.element.role if context.element else None
            proposal.redacted = redactor.reason(action.text or "", context)
            proposal.guard_saw = {"focused_role": role} if role else None
        elif action.point is not None:
            seen = lookup.at(proposal.screenshot, action.point, proposal.screen_origin)
            element_text = seen.text
            proposal.guard_saw = seen.to_dict()
        return guard.check(proposal, element_text=element_text, focused_role=role)

    return check


def _typing_redaction(redactor: TypingRedactor, desktop: _Desktop) -> Callable[[Action], str | None]:
    """The agent's typing goes through the recorder's redaction: the same rules, the same settings."""
    return lambda action: redactor.observe(action, desktop.context_for(action))


def _ancestor_pids() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                pid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _terminal_window_ids() -> set[int]:
    """The terminal emulator the run was started from (a window of one of our ancestor
    processes): typing the approvals there is not the person taking over."""
    from grounding.accessibility import open_windows

    windows = open_windows()
    try:
        return {w.window_id for w in windows.windows_of(_ancestor_pids()) if w.window_id is not None}
    finally:
        windows.close()


@dataclass
class OpenedPlanner:
    """A planner ready to run: its grounder (None when it points by itself), what meta.json's "agent"
    records of it, the task (a replay's comes from the recording) and how to release its model."""

    planner: Planner
    grounder: Grounder | None
    settings: dict
    task: str | None = None
    close: Callable[[], None] = lambda: None


def open_planner(profile_name: str, *, mode: str, max_steps: int, models_file: str | None = None,
                 planner_kind: str | None = None, grounder: str = "default", base_url: str | None = None,
                 model: str | None = None) -> OpenedPlanner:
    """The planner a model profile describes (`pcagent run`), with its grounder when it names targets.

    Raises models.errors.ModelError (a profile or model problem) or ValueError (a bad kind or grounder)."""
    from grounding.engines import open_grounder
    from models.factory import open_model
    from models.profiles import get_profile
    from pcagent.agent.planners import make_planner, planner_kind as kind_of

    profile = get_profile(profile_name, models_file, base_url=base_url, model=model)
    opened = open_model(profile)
    try:
        planner = make_planner(planner_kind, opened)
        ground = None
        if planner.kind == "planner+grounder":
            if "template" in grounder.lower():  # it matches a recorded crop: only a replay has one
                raise ValueError("the template grounder needs a recorded crop of the target; it works in "
                                 "`pcagent replay`, not `pcagent run`")
            ground = open_grounder(grounder, models_file=models_file)
    except BaseException:
        opened.close()
        raise
    settings = {"planner": profile.to_dict(), "planner_kind": planner_kind or kind_of(profile),
                "grounder": grounder if ground else None, "mode": mode, "max_steps": max_steps}
    return OpenedPlanner(planner, ground, settings, close=opened.close)


def open_replay(trajectory: str | Path, *, mode: str, max_steps: int, exact: bool = False,
                grounder: str | None = None, models_file: str | None = None) -> OpenedPlanner:
    """A recorded trajectory replayed, re-grounding each target (`pcagent replay`); its task is the
    recording's. Raises tracker TrajectoryError (a missing or invalid recording) or ValueError."""
    from grounding.engines import open_grounder
    from pcagent.agent.planners.replay import ReplayPlanner

    ground = open_grounder(grounder, models_file=models_file) if grounder else None
    planner = ReplayPlanner(trajectory, exact=exact, grounder=ground)
    task = (planner.trajectory.meta.get("task") or {}).get("description") or f"replay {trajectory}"
    settings = {"planner": planner.name, "planner_kind": "replay", "exact": exact, "grounder": grounder,
                "mode": mode, "max_steps": max_steps, "source": str(Path(trajectory).resolve())}
    return OpenedPlanner(planner, None, settings, task=task)


def run_session(task: str, out: Path, *, planner: Planner, grounder: Grounder | None,
                options: SessionOptions, agent_settings: dict,
                report: Callable[[str, dict], None] | None = None) -> tuple[str, Path]:
    """Run the agent until it ends; return (outcome, trajectory folder). The outcome is "error" when the
    user stopped the run at a model or executor failure; meta.json's "errors" says which."""
    if not os.environ.get("DISPLAY"):
        raise SessionError("no display: DISPLAY is not set (run inside an X session, or use `pcagent demo`)") \
            from NoDisplay("DISPLAY is not set")
    try:
        screens = describe_screens()
    except CaptureUnavailable as exc:
        raise SessionError(str(exc)) from exc
    meta = new_meta(task={"mode": "given", "description": task}, screens=screens, agent=agent_settings,
                    screenshot_format=options.screenshot_format.to_dict())
    try:
        writer = TrajectoryWriter(out, meta)
    except (OSError, TrajectoryError) as exc:
        raise SessionError(f"cannot write the trajectory to {out}: {exc}") from exc

    activity = options.activity or HumanActivity()
    ledger = InjectionLedger()
    metrics = CollaborationMetrics()

    def on_control(command: str) -> bool:
        if command == "pause":
            if activity.interrupt.is_set() or activity.acting.is_set():
                activity.resume.set()  # pressed again: hand control back
            else:
                activity.interrupt.set()
            return True
        if command in ("stop", "finish", "fail"):
            activity.stop.set()
            activity.resume.set()
            return True
        return False

    recorder = Recorder(out, writer=writer, ledger=ledger,
                        config=RecorderConfig(hotkeys=options.hotkeys, exclude_window_ids=_terminal_window_ids(),
                                              merge=MergeConfig(idle_wait_s=None),  # the person is not "waiting"
                                              privacy=options.privacy, screenshot_format=options.screenshot_format),
                        on_step=activity.add_step, on_human_input=lambda event: activity.acting.set(),
                        on_control=on_control)
    capture = _ScreenCapture()
    desktop: _Desktop | None = None
    outcome = "error"
    try:
        recorder.start()
        gate = options.gate or make_gate(options.mode, countdown_s=options.countdown_s,
                                         interrupt=activity.attention, stdin=options.stdin, stdout=options.stdout)
        desktop = _Desktop()
        redactor = TypingRedactor(options.privacy)
        guards = _guard_check(options.guard or ActionGuard(), desktop, redactor)

        loop = AgentLoop(task, planner=planner, grounder=grounder,
                         executor=PyAutoGuiExecutor(ledger), user=gate, writer=writer,
                         capture=options.wrap_capture(capture) if options.wrap_capture else capture,
                         guards=guards, metrics=metrics, activity=activity,
                         config=AgentConfig(mode=options.mode, max_steps=options.max_steps,
                                            settle_s=options.settle_s),
                         report=report, redact=_typing_redaction(redactor, desktop),
                         screenshot_format=options.screenshot_format)
        outcome = loop.run()
    except RecorderError as exc:
        raise SessionError(str(exc)) from exc
    finally:
        try:
            recorder.stop()
        finally:
            capture.close()
            if desktop is not None:
                desktop.close()
            metrics.outcome = outcome
            writer.update_meta(collaboration=metrics.to_dict())
            writer.close(outcome=outcome)
    return outcome, out


def print_report(kind: str, data: dict, stream: IO | None = None) -> None:
    """What `pcagent run` prints as the run goes."""
    stream = stream or sys.stdout
    if kind == "step":
        step = data["step"]
        thought = (step.extra.get("thought") or {}).get("text") or ""
        where = ""
        grounding = step.extra.get("grounding")
        replayed = step.extra.get("planner_details") or {}
        if grounding:
            where = f"  [grounded by {grounding['engine']}, confidence {grounding['confidence']}]"
        elif replayed.get("engine") and replayed.get("recorded_point"):
            x, y = replayed["recorded_point"]
            where = (f"  [recorded at ({x}, {y}); found by {replayed['engine']}, "
                     f"confidence {float(replayed.get('confidence') or 0):.2f}]")
        print(f"step {step.index}: {escape_controls(step.action)}{where}\n  thought: {shorten(thought, 300)}",
              file=stream, flush=True)
    elif kind == "fault":
        print(f"error ({data['kind']}): {data['error']}", file=stream, flush=True)
    elif kind == "planning_error":
        print(f"planner output rejected: {data['error']}", file=stream, flush=True)
    elif kind == "not_found":
        print(f"not found: {data['element']} ({data['reason']})", file=stream, flush=True)
    elif kind == "finished":
        print(f"finished: {data['outcome']}", file=stream, flush=True)
