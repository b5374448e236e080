"""The tray app's core, without Qt: what the app is doing, the recorder it runs, and who is told.

States::

    idle ──record──▶ recording ◀──pause/resume──▶ paused
      ▲                 │ finish / fail / stop (or the recorder's own hotkeys)
      └──── saved ◀─────┘
    idle ──agent_started──▶ agent_running ◀──agent_waiting──▶ waiting_approval ──agent_finished──▶ idle

`AppController` is called from any thread (the Qt layer's workers, the `pcagent ctl` server) and never from
the UI thread for what blocks: starting a recording opens the screen and input listeners, and ending one
writes what is pending. Listeners get a `ControllerEvent` on the thread that caused it; the Qt layer turns
them into signals. The agent supervisor reports its run through `agent_started`, `agent_waiting` and
`agent_finished`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcagent.cli.record import DIFFICULTIES, TaskFileError, load_task
from tracker.format.trajectory import META_FILE, STEPS_FILE, atomic_write
from tracker.recording.options import RecordingOptions, new_trajectory_folder
from tracker.recording.options import load_recording_options as read_recording_options
from tracker.recording.recorder import Recorder, RecorderError
from tracker.settings import SettingsError

__all__ = [
    "AGENT_RUNNING", "IDLE", "PAUSED", "RECORDING", "STATES", "WAITING_APPROVAL", "AppController", "AppStatus",
    "ControllerError", "ControllerEvent", "RecordingOptions", "describe_free_task", "free_task", "given_task",
    "load_recording_options", "no_task", "task_from_file",
]

IDLE, RECORDING, PAUSED, AGENT_RUNNING, WAITING_APPROVAL = (
    "idle", "recording", "paused", "agent_running", "waiting_approval")
STATES = (IDLE, RECORDING, PAUSED, AGENT_RUNNING, WAITING_APPROVAL)
_DOING = {RECORDING: "a recording is running", PAUSED: "a recording is paused",
          AGENT_RUNNING: "the agent is running", WAITING_APPROVAL: "the agent waits for approval"}
STATE_CHANGE_WAIT_S = 3.0  # how long pause/resume wait for the recorder to confirm
SAVE_WAIT_S = 60.0  # how long finish/fail/stop wait for the trajectory to be written


class ControllerError(RuntimeError):
    """A request that does not fit what the app is doing, or bad input; the message says why."""


# --- tasks: the same objects `pcagent record` writes into meta.json --------------------------------------
def given_task(text: str) -> dict:
    if not isinstance(text, str) or not text.strip():
        raise ControllerError("the task text is empty")
    return {"mode": "given", "description": text.strip()}


def free_task() -> dict:
    """Described and rated after recording (`describe_free_task`)."""
    return {"mode": "free", "description": None, "difficulty": None}


def no_task() -> dict:
    return {"mode": "none"}


def task_from_file(path: str | Path, task_id: str) -> dict:
    try:
        return load_task(Path(path), task_id)
    except TaskFileError as exc:
        raise ControllerError(str(exc)) from exc


def describe_free_task(trajectory: str | Path, description: str, difficulty: str) -> None:
    """Give a finished free-task recording its description and difficulty (meta.json, written atomically)."""
    if not description.strip():
        raise ControllerError("the description is empty")
    if difficulty not in DIFFICULTIES:
        raise ControllerError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}")
    meta_path = Path(trajectory) / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ControllerError(f"cannot read {meta_path}: {exc}") from exc
    meta["task"] = {"mode": "free", "description": description.strip(), "difficulty": difficulty}
    atomic_write(meta_path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), sync=True)


# --- options: tracker.recording.options reads them, as for `pcagent record` ----------------------------
def load_recording_options(path: str | Path | None = None, **overrides: Any) -> RecordingOptions:
    """settings.toml's [recorder] and [hotkeys] under `overrides` (tracker.recording.options), a bad value
    raised as a ControllerError naming the file and key."""
    try:
        return read_recording_options(path, **overrides)
    except SettingsError as exc:
        raise ControllerError(str(exc)) from exc


# --- status -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AppStatus:
    """What `pcagent ctl status` prints and the tray shows."""

    state: str
    trajectory: str | None = None  # the recording or agent run in progress, else the last one
    steps: int = 0  # steps written to that trajectory
    task: dict | None = None
    outcome: str | None = None  # how the last recording or agent run ended
    message: str | None = None  # the last error or note for the person

    def to_dict(self) -> dict:
        return {"state": self.state, "trajectory": self.trajectory, "steps": self.steps, "task": self.task,
                "outcome": self.outcome, "message": self.message}


@dataclass(frozen=True)
class ControllerEvent:
    """kind: "state" (the state changed), "step" (a step was written), "saved" (a recording ended and is on
    disk; `status.task` says whether it still needs a description), "error" (`message` says what failed)."""

    kind: str
    status: AppStatus
    message: str | None = None


Listener = Callable[[ControllerEvent], None]


class _Recording:
    def __init__(self, recorder: Recorder, path: Path, task: dict) -> None:
        self.recorder = recorder
        self.path = path
        self.task = task
        self.saved = threading.Event()
        self.finalize_lock = threading.Lock()


class AppController:
    """The app's state and the recorder it runs; see the module docstring."""

    def __init__(self, options: RecordingOptions | None = None, *,
                 recorder_factory: Callable[..., Recorder] = Recorder,
                 load_options: Callable[[], RecordingOptions] | None = None) -> None:
        """`load_options` reads the options afresh (settings.toml under the command line's): each recording
        then starts with what the settings window saved last."""
        self._load_options = load_options
        self.options = options or (load_options() if load_options else RecordingOptions())
        self._recorder_factory = recorder_factory
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._state = IDLE
        self._starting = False
        self._recording: _Recording | None = None
        self._trajectory: str | None = None
        self._task: dict | None = None
        self._steps = 0
        self._outcome: str | None = None
        self._message: str | None = None
        self._agent_stop: Callable[[], None] | None = None
        self._agent_pause: Callable[[], None] | None = None  # the agent run's pause and hand-back
        self._agent_resume: Callable[[], None] | None = None
        self._listeners: list[Listener] = []

    # --- listeners and status ---------------------------------------------------------------------------
    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, kind: str, message: str | None = None) -> None:
        status = self.status()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(ControllerEvent(kind, status, message))

    @property
    def state(self) -> str:
        with self._lock:
            return self._state

    def status(self) -> AppStatus:
        with self._lock:
            steps = self._steps
            if self._recording is not None:
                steps = self._recording.recorder.steps_written
            elif self._state in (AGENT_RUNNING, WAITING_APPROVAL) and self._trajectory:
                steps = _count_steps(Path(self._trajectory))
            return AppStatus(self._state, self._trajectory, steps, self._task, self._outcome, self._message)

    def _set_state(self, state: str, kind: str = "state", message: str | None = None) -> None:
        with self._lock:
            self._state = state
            self._message = message
            self._changed.notify_all()
        self._notify(kind, message)

    def _refuse(self, what: str) -> ControllerError:
        with self._lock:
            doing = _DOING.get(self._state, "nothing is running")
        return ControllerError(f"cannot {what}: {doing}")

    # --- recording --------------------------------------------------------------------------------------
    def start_recording(self, task: dict | None = None, out: str | Path | None = None) -> AppStatus:
        """Start recording into `out` (default: a new folder in the trajectories folder). Blocks while the
        recorder starts; raises ControllerError (its cause says more: no display, a bad settings file)."""
        task = task or no_task()
        with self._lock:
            if self._state != IDLE or self._starting:
                raise self._refuse("start a recording")
            self._starting = True
        try:
            self.reload_options()
            try:
                config = self.options.recorder_config()
            except SettingsError as exc:  # [privacy] or [screenshots]
                raise ControllerError(str(exc)) from exc
            path = Path(out) if out else new_trajectory_folder("rec", self.options.folder())
            holder: list[_Recording] = []
            recorder = self._recorder_factory(
                path, task=task, config=config,
                on_step=lambda step: self._notify("step"),
                on_status=lambda status: self._recorder_said(holder[0], status) if holder else None)
            recording = _Recording(recorder, path, task)
            holder.append(recording)
            try:
                recorder.start()
            except RecorderError as exc:
                raise ControllerError(str(exc)) from exc
            with self._lock:
                self._recording = recording
                self._trajectory, self._task, self._steps, self._outcome = str(path), task, 0, None
        except ControllerError as exc:
            self._report(str(exc))
            raise
        finally:
            with self._lock:
                self._starting = False
        self._set_state(RECORDING)
        return self.status()

    def reload_options(self) -> RecordingOptions:
        """Read the options again (when made with `load_options`); raises ControllerError on a bad file."""
        if self._load_options is not None:
            self.options = self._load_options()
        return self.options

    def _recorder_said(self, recording: _Recording, status: str) -> None:
        """The recorder's own news (on its processing thread): paused, resumed, or ended by its hotkeys."""
        if status == "paused":
            self._set_state(PAUSED)
        elif status == "resumed":
            self._set_state(RECORDING)
        else:  # finish, fail, stopped: write it out on a thread of its own (this one must return first)
            threading.Thread(target=self._save, args=(recording,), name="pcagent-save", daemon=True).start()

    def _save(self, recording: _Recording) -> None:
        with recording.finalize_lock:
            if recording.saved.is_set():
                return
            recorder = recording.recorder
            message = None
            try:
                recorder.stop()
            except Exception as exc:  # noqa: BLE001 - whatever broke, the app goes on; the person is told
                message = f"the recording did not close cleanly: {exc}"
            if recorder.errors:
                message = message or f"recorded with warnings: {recorder.errors[0]}"
            with self._lock:
                self._recording = None
                self._steps = recorder.steps_written
                self._outcome = recorder.outcome or "stopped"
            recording.saved.set()
        self._set_state(IDLE, "saved", message)

    def _active_recording(self, what: str) -> _Recording:
        with self._lock:
            if self._recording is None or self._state not in (RECORDING, PAUSED):
                raise self._refuse(what)
            return self._recording

    def pause(self) -> AppStatus:
        """Pause the recording, or take control from a running agent (it stops before its next input)."""
        with self._lock:
            agent_pause = self._agent_pause if self._state == AGENT_RUNNING else None
        if agent_pause is not None:
            agent_pause()
            return self.status()
        recording = self._active_recording("pause")
        if self.state == PAUSED:
            raise ControllerError("cannot pause: the recording is paused already")
        recording.recorder.pause()
        return self._await_state(PAUSED)

    def resume(self) -> AppStatus:
        """Resume the recording, or hand control back to an agent that waits for the person."""
        with self._lock:
            agent_resume = self._agent_resume if self._state == WAITING_APPROVAL else None
        if agent_resume is not None:
            agent_resume()
            return self.status()
        recording = self._active_recording("resume")
        if self.state != PAUSED:
            raise ControllerError("cannot resume: the recording is not paused")
        recording.recorder.pause()  # the recorder's pause control toggles
        return self._await_state(RECORDING)

    def _await_state(self, state: str) -> AppStatus:
        deadline = time.monotonic() + STATE_CHANGE_WAIT_S
        with self._changed:
            while self._state != state:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ControllerError(f"the recorder did not confirm {state} within {STATE_CHANGE_WAIT_S:.0f} s")
                self._changed.wait(left)
        return self.status()

    def finish(self) -> AppStatus:
        """End the recording as done (a `finish` step); blocks until it is saved."""
        return self._end("finish")

    def fail(self) -> AppStatus:
        """End the recording as failed (a `fail` step); blocks until it is saved."""
        return self._end("fail")

    def stop(self) -> AppStatus:
        """End the recording (no final step) and block until it is saved; during an agent run, ask the
        agent to stop."""
        with self._lock:
            agent_stop = self._agent_stop if self._state in (AGENT_RUNNING, WAITING_APPROVAL) else None
            agent = self._state in (AGENT_RUNNING, WAITING_APPROVAL)
        if agent:
            if agent_stop is None:
                raise ControllerError("cannot stop: the agent run gives no way to stop it from here")
            agent_stop()
            return self.status()
        return self._end("stop")

    def _end(self, how: str) -> AppStatus:
        recording = self._active_recording(how)
        recorder = recording.recorder
        {"finish": recorder.finish, "fail": recorder.fail, "stop": recorder.request_stop}[how]()
        recorder.wait(10)
        self._save(recording)
        if not recording.saved.wait(SAVE_WAIT_S):
            raise ControllerError(f"the recording was not saved within {SAVE_WAIT_S:.0f} s")
        return self.status()

    def add_thought(self, text: str, about: str = "next") -> AppStatus:
        """Attach a thought to the next recorded step (about="previous": the step recorded last)."""
        recording = self._active_recording("add a thought")
        try:
            recording.recorder.add_thought(text, about)
        except ValueError as exc:
            raise ControllerError(str(exc)) from exc
        return self.status()

    def shutdown(self) -> None:
        """On quit: save a recording in progress."""
        with self._lock:
            recording = self._recording
        if recording is not None:
            recording.recorder.request_stop()
            recording.recorder.wait(10)
            self._save(recording)

    def _report(self, message: str) -> None:
        with self._lock:
            self._message = message
        self._notify("error", message)

    # --- the agent, as its supervisor reports it --------------------------------------------------------
    def agent_started(self, trajectory_path: str | Path, stop: Callable[[], None] | None = None,
                      pause: Callable[[], None] | None = None,
                      resume: Callable[[], None] | None = None) -> AppStatus:
        """An agent run began writing `trajectory_path`; `stop` asks it to stop (`pcagent ctl stop`), `pause`
        to wait for the person, `resume` to take control back from them (the tray's and ctl's pause and
        resume)."""
        with self._lock:
            if self._state != IDLE or self._starting:
                raise self._refuse("start the agent")
            self._trajectory, self._task, self._steps, self._outcome = str(trajectory_path), None, 0, None
            self._agent_stop, self._agent_pause, self._agent_resume = stop, pause, resume
        self._set_state(AGENT_RUNNING)
        return self.status()

    def agent_waiting(self, waiting: bool, message: str | None = None) -> AppStatus:
        """The agent waits for the person (True), or goes on (False). `message`: why, when it is not a step
        to approve (the person has control, and how to hand it back); the status and the tray show it."""
        with self._lock:
            if self._state not in (AGENT_RUNNING, WAITING_APPROVAL):
                raise ControllerError("no agent run is going on")
        self._set_state(WAITING_APPROVAL if waiting else AGENT_RUNNING, message=message if waiting else None)
        return self.status()

    def agent_finished(self, outcome: str | None) -> AppStatus:
        with self._lock:
            if self._state not in (AGENT_RUNNING, WAITING_APPROVAL):
                raise ControllerError("no agent run is going on")
            if self._trajectory:
                self._steps = _count_steps(Path(self._trajectory))
            self._outcome = outcome
            self._agent_stop = self._agent_pause = self._agent_resume = None
        self._set_state(IDLE, "saved")
        return self.status()


def _count_steps(trajectory: Path) -> int:
    """Complete lines of steps.jsonl (an agent run's steps, written by another thread)."""
    try:
        with open(trajectory / STEPS_FILE, "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return 0
