"""One agent task from the tray app, run on a worker thread with the pieces `pcagent run` uses (no Qt here).

    supervisor = AgentSupervisor(AgentTask("Save the file", planner="planner"), make_gate, listener=controller,
                                 hider=ui)
    supervisor.start()            # the worker opens the planner, then pcagent.agent.session.run_session
    supervisor.pause() / .resume() / .stop()

The worker owns everything slow: opening the model and the grounder, reading settings, every model call,
grounding, OCR and trajectory write. The UI only answers the gate (`make_gate` builds it, given the run's
events), hides its windows when asked (`hider`) and hears the controller's calls, which come from the
worker: `agent_started(trajectory)`, `agent_waiting(True/False)` around each wait for the person (with the
agent's message when it waits for control to be handed back), and `agent_finished(outcome)`.

As with `pcagent run`, a recorder runs alongside: the person's steps (a takeover) and the agent's land in
one trajectory, actor "human" and "agent". Two things are added for a front end with windows on the same
screen: `HidingCapture` hides those windows around every capture the agent makes (and marks a step
`pcagent_windows` if one stayed mapped), and `AlwaysAskGuard` adds the person's "always ask for steps like
this" list (settings.toml [approval]) to the action guards, so such a step never auto-continues.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from pcagent.agent.loop import HumanActivity
from pcagent.agent.session import Capture, OpenedPlanner, SessionOptions
from pcagent.agent.types import MODES, Decision, Proposal
from pcagent.app.approval_rules import load_approval_settings
from pcagent.collab.gates import AutoGate, InteractiveGate
from tracker.format.actions import Action
from tracker.recording.options import new_trajectory_folder
from tracker.recording.own_windows import OWN_WINDOWS_KEY, own_windows

__all__ = ["AgentSupervisor", "AgentTask", "AlwaysAskGuard", "GateSetup", "HidingCapture", "SupervisorListener",
           "WindowHider"]

UNMAP_TIMEOUT_S = 1.0  # how long a capture waits for pcagent's windows to leave the screen


class SupervisorListener(Protocol):
    """Who hears how the run goes (the app's controller); called from the worker thread."""

    def agent_started(self, trajectory_path: Path, stop: Callable[[], None] | None = None,
                      pause: Callable[[], None] | None = None, resume: Callable[[], None] | None = None) -> Any:
        """Raises when a run cannot start now (a recording is going on): the run then does not start."""
        ...

    def agent_waiting(self, waiting: bool, message: str | None = None) -> None:
        """Waits for the person (True) or goes on (False); `message` when it waits for a hand-back."""
        ...

    def agent_finished(self, outcome: str) -> None: ...


class WindowHider(Protocol):
    """The UI's side of keeping its windows out of the agent's screenshots; both calls come from the worker
    and return once the UI thread has done it (or after a timeout)."""

    def hide_windows(self) -> Any: ...

    def restore_windows(self, hidden: Any) -> None: ...


@dataclass(frozen=True)
class GateSetup:
    """What a gate for one run is given: the events it watches while it waits for the person."""

    interrupt: Any  # is_set(): the person took over (acted, or pressed the pause hotkey)
    stop: threading.Event  # the run is being stopped
    countdown_s: float | None  # confirm mode: approve by itself after this many seconds
    suggest: bool = False  # suggest mode: the agent proposes, the person always acts
    acting: threading.Event | None = None  # set while the person has control (they act; show nothing)


@dataclass
class AgentTask:
    """What to run: a task for a planner profile (models.toml), or a recording to replay; and how."""

    text: str | None = None
    planner: str | None = None
    replay: str | None = None
    mode: str = "confirm"
    countdown_s: float | None = None
    max_steps: int = 30
    settle_s: float = 0.6
    grounder: str = "default"
    planner_kind: str | None = None
    models_file: str | None = None
    out: Path | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; modes are {', '.join(MODES)}")
        if (self.planner is None) == (self.replay is None):
            raise ValueError("a task needs a planner profile or a recording to replay (one of them)")
        if self.planner is not None and not (self.text or "").strip():
            raise ValueError("describe the task for the agent")
        if self.countdown_s is not None and self.countdown_s < 0:
            raise ValueError(f"the countdown must be >= 0 seconds, not {self.countdown_s}")

    def open(self) -> OpenedPlanner:
        """The planner (and grounder); raises ModelError, ValueError or TrajectoryError."""
        from pcagent.agent.session import open_planner, open_replay

        if self.replay is not None:
            return open_replay(self.replay, mode=self.mode, max_steps=self.max_steps)
        return open_planner(self.planner, mode=self.mode, max_steps=self.max_steps, models_file=self.models_file,
                            planner_kind=self.planner_kind, grounder=self.grounder)


class HidingCapture:
    """The agent's screen capture with pcagent's own windows kept out of the picture: the UI hides them, the
    capture waits until X says none is mapped, grabs, and the UI restores them. If one stays mapped
    anyway, the image says so in ``image.info[OWN_WINDOWS_KEY]`` and the loop records it on the step."""

    def __init__(self, capture: Capture, hider: WindowHider, *, timeout_s: float = UNMAP_TIMEOUT_S) -> None:
        self.capture, self.hider, self.timeout_s = capture, hider, timeout_s
        self._windows = None  # an X connection of the worker thread's own, opened on first use

    def __call__(self) -> tuple[Image.Image, tuple[int, int]]:
        hidden = self.hider.hide_windows()
        try:
            shown = self._wait_until_unmapped()
            image, origin = self.capture()
        finally:
            self.hider.restore_windows(hidden)
        if shown:
            image.info[OWN_WINDOWS_KEY] = shown
        return image, origin

    def _wait_until_unmapped(self) -> list[dict]:
        if self._windows is None:
            from grounding.accessibility import open_windows

            self._windows = open_windows()
        deadline = time.monotonic() + self.timeout_s
        while True:
            shown = own_windows(self._windows)
            if not shown or time.monotonic() >= deadline:
                return shown
            time.sleep(0.005)

    def close(self) -> None:
        if self._windows is not None:
            self._windows.close()
            self._windows = None


class AlwaysAskGuard:
    """The action guards, plus "always ask for steps like this": a step whose application (the window at
    its point, or the active window for keys) and action kind the person marked needs their approval.
    The application goes into the step's guard record ("saw"); the list is re-read for every step, so a
    box ticked in this run holds for its next steps too."""

    def __init__(self, inner: Any, settings_path: str | Path | None = None) -> None:
        self.inner = inner
        self.settings_path = settings_path
        self._settings = load_approval_settings(settings_path)  # a bad file stops the run before it starts
        self._windows = None  # the worker thread's X connection

    def check(self, proposal: Proposal, element_text: str | None = None,
              focused_role: str | None = None) -> list[str]:
        reasons = list(self.inner.check(proposal, element_text=element_text, focused_role=focused_role))
        application = self.application_of(proposal.action)
        if application:
            proposal.guard_saw = {**(proposal.guard_saw or {}), "application": application}
        try:
            self._settings = load_approval_settings(self.settings_path)
        except ValueError:  # edited into a bad state meanwhile: keep the rules read last
            pass
        rule = self._settings.always_ask_for(application, proposal.action.kind)
        if rule is not None:
            reasons.append(rule.reason())
        return reasons

    def application_of(self, action: Action) -> str | None:
        if self._windows is None:
            from grounding.accessibility import open_windows

            self._windows = open_windows()
        window = self._windows.window_at(*action.point) if action.point is not None else \
            self._windows.active_window()
        return window.application if window is not None else None

    def close(self) -> None:
        if self._windows is not None:
            self._windows.close()
            self._windows = None


class _ReportsWaiting:
    """The person's gate, telling the listener while it waits for them."""

    def __init__(self, gate: InteractiveGate, listener: SupervisorListener | None) -> None:
        self.gate, self.listener = gate, listener

    def _waiting(self, waiting: bool, message: str | None = None) -> None:
        if self.listener is not None:
            try:
                self.listener.agent_waiting(waiting, message)
            except Exception:  # noqa: BLE001, S110 - a tray that cannot show "waiting" must not stop the run
                pass

    def decide(self, proposal: Proposal) -> Decision:
        self._waiting(True)
        try:
            return self.gate.decide(proposal)
        finally:
            self._waiting(False)

    def wait_for_user(self, message: str, resume: threading.Event | None = None) -> str | None:
        self._waiting(True, message)  # the panel may show nothing (the person acts): the tray says why
        try:
            return self.gate.wait_for_user(message, resume)
        finally:
            self._waiting(False)


class _Refused(RuntimeError):
    """The listener would not let the run start."""


@dataclass
class _Result:
    outcome: str | None = None
    out: Path | None = None
    error: str | None = None  # why the run could not start or broke, for the person
    exception: BaseException | None = field(default=None, repr=False)


class AgentSupervisor:
    """Runs one AgentTask on a worker thread; see the module docstring."""

    def __init__(self, task: AgentTask, make_gate: Callable[[GateSetup], InteractiveGate], *,
                 listener: SupervisorListener | None = None, hider: WindowHider | None = None,
                 report: Callable[[str, dict], None] | None = None,
                 on_done: Callable[[AgentSupervisor], None] | None = None,
                 opened: OpenedPlanner | None = None, options: SessionOptions | None = None,
                 settings_path: str | Path | None = None) -> None:
        """`opened` and `options`: a caller that has the planner and the session options already
        (`pcagent run --panel`); otherwise the worker opens them from `task` and settings.toml."""
        self.task = task
        self.activity = HumanActivity()
        self.listener = listener
        self.hider = hider
        self.report = report
        self.on_done = on_done
        self.settings_path = settings_path
        self._opened, self._options = opened, options
        self._make_gate = make_gate
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.result = _Result()

    # --- control, from any thread ---------------------------------------------------------------
    def start(self) -> AgentSupervisor:
        if self._thread is not None:
            raise RuntimeError("this supervisor has already run its task")
        self._thread = threading.Thread(target=self._run, name="pcagent-agent", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        """As the pause hotkey: the agent stops before its next input and waits for the person."""
        activity = self.activity
        if not (activity.interrupt.is_set() or activity.acting.is_set()):
            activity.interrupt.set()

    def resume(self) -> None:
        """Hand control back to the agent."""
        self.activity.resume.set()

    def stop(self) -> None:
        """End the run: a waiting gate returns at once; a model call in flight is let finish."""
        self.activity.stop.set()
        self.activity.resume.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    # --- the worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        from models.errors import ModelError
        from pcagent.agent.session import SessionError, run_session
        from tracker.format.trajectory import TrajectoryError

        result = self.result
        opened, closers, started = self._opened, [], False
        try:
            result.out = Path(self.task.out) if self.task.out else new_trajectory_folder(
                "run", settings_path=self.settings_path)
            if self.listener is not None:
                try:
                    # first: it may refuse
                    self.listener.agent_started(result.out, stop=self.stop, pause=self.pause, resume=self.resume)
                except Exception as exc:  # e.g. a recording is going on
                    raise _Refused(str(exc)) from exc
            started = True
            if opened is None:
                opened = self.task.open()
                closers.append(opened.close)
            options = self._options or self._session_options()
            guard = AlwaysAskGuard(options.guard or _default_guard(), self.settings_path)
            closers.append(guard.close)
            options.guard = guard
            options.activity = self.activity
            options.gate = self._gate(options)
            if self.hider is not None:
                captures: list[HidingCapture] = []

                def wrap(capture: Capture) -> Capture:
                    captures.append(HidingCapture(capture, self.hider))
                    return captures[-1]

                options.wrap_capture = wrap
                closers.append(lambda: [capture.close() for capture in captures])
            task = opened.task or self.task.text or ""
            result.outcome, result.out = run_session(task, result.out, planner=opened.planner,
                                                     grounder=opened.grounder, options=options,
                                                     agent_settings=opened.settings, report=self.report)
        except (_Refused, SessionError, ModelError, TrajectoryError, ValueError, OSError) as exc:  # SettingsError too
            result.outcome, result.error, result.exception = "error", str(exc), exc
        except Exception as exc:  # noqa: BLE001 - the run must end with a report, not a silent dead thread
            result.outcome, result.error, result.exception = "error", f"{type(exc).__name__}: {exc}", exc
        finally:
            for close in reversed(closers):
                try:
                    close()
                except Exception:  # noqa: BLE001, S110 - releasing must not hide the outcome
                    pass
            if self.listener is not None and started:
                try:
                    self.listener.agent_finished(result.outcome or "error")
                except Exception as exc:  # noqa: BLE001 - the outcome is in the trajectory; the state is the app's
                    result.error = result.error or f"{type(exc).__name__}: {exc}"
            self._done.set()
            if self.on_done is not None:
                self.on_done(self)

    def _gate(self, options: SessionOptions) -> Any:
        mode = options.mode
        setup = GateSetup(self.activity.attention, self.activity.stop,
                          options.countdown_s if mode == "confirm" else None, suggest=mode == "suggest",
                          acting=self.activity.acting)
        person = _ReportsWaiting(self._make_gate(setup), self.listener)
        return AutoGate(person) if mode == "auto" else person

    def _session_options(self) -> SessionOptions:
        """What `pcagent run` reads for a session: settings.toml's privacy and screenshot format."""
        from tracker.format.screenshot_format import load_screenshot_format
        from tracker.privacy import load_privacy_settings

        task = self.task
        return SessionOptions(mode=task.mode, countdown_s=task.countdown_s, max_steps=task.max_steps,
                              settle_s=task.settle_s, privacy=load_privacy_settings(self.settings_path),
                              screenshot_format=load_screenshot_format(self.settings_path))


def _default_guard() -> Any:
    from pcagent.collab.guards import ActionGuard

    return ActionGuard()
