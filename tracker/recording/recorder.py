"""The recorder: real input and the screen in, a trajectory of human steps out.

Threads, and why:
- pynput's listener threads only timestamp events onto a queue (never block);
- the capture thread keeps a ring of recent frames (the screen just before each event);
- the processing thread merges events into actions and looks up the element and
  window for each (AT-SPI and X calls, bounded by timeouts);
- the writer thread encodes screenshots and appends steps, in order, so a slow PNG
  never delays the listeners.
Control hotkeys (pause, finish, fail, stop) travel on the same queue as input, so
they take effect exactly between the events around them.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tracker.format import actions
from tracker.recording.capture import CaptureUnavailable, Frame, FrameRing, NoDisplay, describe_screens
from tracker.recording.injection import InjectionLedger
from tracker.recording.input_events import InputEvent
from tracker.recording.input_listener import InputListener, InputUnavailable
from tracker.recording.merge import ActionMerger, Control, MergeConfig, MergedAction, parse_hotkey_spec
from tracker.recording.context import ContextProvider, StepContext
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryError, TrajectoryWriter, new_meta, screenshot_name
from tracker.privacy import REDACTED_TEXT, PrivacySettings, TypingRedactor

DEFAULT_HOTKEYS = {
    "pause": "ctrl+shift+f9",
    "finish": "ctrl+shift+f10",
    "fail": "ctrl+shift+f11",
    "stop": "ctrl+shift+f12",
}

STEP_QUEUE_BOUND = 16  # merged steps waiting for the writer (each may hold a raw frame)


class RecorderError(RuntimeError):
    """The recorder cannot start or run here; the message says why and what to do."""


@dataclass
class RecorderConfig:
    fps: float = 10.0
    merge: MergeConfig = field(default_factory=MergeConfig)
    hotkeys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))
    exclude_windows: list[str] = field(default_factory=list)  # title or application substrings
    exclude_window_ids: set[int] = field(default_factory=set)  # e.g. the terminal an agent is run from
    accessibility: bool = True
    screenshot_format: ScreenshotFormat = field(default_factory=ScreenshotFormat.default)
    # "auto" (X DAMAGE where available, else periodic), "damage" or "periodic"; PCAGENT_CAPTURE sets the default
    capture: str = field(default_factory=lambda: os.environ.get("PCAGENT_CAPTURE", "auto"))
    privacy: PrivacySettings = field(default_factory=PrivacySettings)  # which typed text is redacted

    def settings(self) -> dict:
        """What goes into meta.json's "recorder"."""
        m = self.merge
        return {
            "name": "pcagent-recorder", "fps": self.fps, "hotkeys": dict(self.hotkeys),
            "double_click_s": m.double_click_s, "double_click_px": m.double_click_px,
            "drag_px": m.drag_px, "idle_wait_s": m.idle_wait_s,
            "exclude_windows": list(self.exclude_windows), "accessibility": self.accessibility,
            "capture": self.capture, "privacy": self.privacy.to_dict(),
            "screenshot_format": self.screenshot_format.to_dict(),
        }


def _caps_lock_on() -> bool:
    try:
        from Xlib import display as xdisplay

        d = xdisplay.Display()
        try:
            return bool(d.get_keyboard_control().led_mask & 1)
        finally:
            d.close()
    except Exception:
        return False


class Recorder:
    """Records one trajectory into `out` until stopped (by call, signal or hotkey)."""

    def __init__(self, out: Path | str, *, task: dict | None = None,
                 config: RecorderConfig | None = None,
                 on_step: Callable[[Step], None] | None = None,
                 on_status: Callable[[str], None] | None = None,
                 writer: TrajectoryWriter | None = None,
                 ledger: InjectionLedger | None = None,
                 on_human_input: Callable[[InputEvent], None] | None = None,
                 on_control: Callable[[str], bool] | None = None) -> None:
        """With `writer`, human steps go into a trajectory someone else owns (an agent run):
        the recorder neither creates nor closes it. `ledger` claims the agent's own injected
        input; `on_human_input` hears the first raw event of each human action as it happens;
        `on_control` may take a control hotkey over (return True) instead of the recorder."""
        self.out = Path(out)
        self.task = task or {"mode": "none"}
        self.config = config or RecorderConfig()
        self.on_step = on_step
        self.on_status = on_status or (lambda message: None)
        self.outcome: str | None = None
        self.paused = False
        self.steps_written = 0
        self.steps_excluded = 0
        self._events: queue.SimpleQueue[InputEvent | Control | None] = queue.SimpleQueue()
        # Bounded: when steps come faster than they are encoded, the merging thread waits here while
        # raw input keeps queueing in `_events` (unbounded, never lost); memory stays a few frames.
        self._to_write: queue.Queue[MergedAction | None] = queue.Queue(maxsize=STEP_QUEUE_BOUND)
        self._stopped = threading.Event()
        self._ring = FrameRing(fps=self.config.fps, capture=self.config.capture)
        self._listener = InputListener(self._events)
        self._writer: TrajectoryWriter | None = writer
        self._owns_writer = writer is None
        self._ledger = ledger
        self.on_human_input = on_human_input
        self.on_control = on_control
        self._threads: list[threading.Thread] = []
        self._context: ContextProvider | None = None
        self._wall_offset = time.time() - time.monotonic()
        self._last_shot: tuple[Frame, str] | None = None
        self._redactor = TypingRedactor(self.config.privacy)  # writer thread only: sees every action in order
        self.errors: list[str] = []
        self.accessibility_available: bool | None = None
        self.accessibility_reason: str | None = None

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> "Recorder":
        if not os.environ.get("DISPLAY") and os.name == "posix" and not os.environ.get("WAYLAND_DISPLAY"):
            raise RecorderError("no display: DISPLAY is not set (start an X session or Xvfb)") \
                from NoDisplay("DISPLAY is not set")
        controls = {}
        for command, spec in self.config.hotkeys.items():
            try:
                controls[parse_hotkey_spec(spec)] = command
            except (ValueError, actions.ActionError) as exc:
                raise RecorderError(f"bad {command} hotkey {spec!r}: {exc}") from exc
        self.config.merge.control_hotkeys = controls
        try:
            screens = describe_screens()
            self._ring.start()
        except CaptureUnavailable as exc:
            raise RecorderError(str(exc)) from exc
        if self._owns_writer:
            meta = new_meta(task=self.task, screens=screens, recorder=self._settings(),
                            screenshot_format=self.config.screenshot_format.to_dict())
            try:
                self._writer = TrajectoryWriter(self.out, meta)
            except (OSError, TrajectoryError) as exc:
                self._ring.stop()
                raise RecorderError(f"cannot write the trajectory to {self.out}: {exc}") from exc
        started = threading.Event()
        self._threads = [
            threading.Thread(target=self._process, args=(started,), name="pcagent-merge", daemon=True),
            threading.Thread(target=self._write, name="pcagent-writer", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        started.wait(10)
        try:
            self._listener.start()
        except InputUnavailable as exc:
            self._shutdown("stopped")
            raise RecorderError(str(exc)) from exc
        return self

    def _settings(self) -> dict:
        """meta.json's "recorder": the config, with the capture mode that actually ran."""
        settings = {**self.config.settings(), "capture": self._ring.mode or self.config.capture}
        if self._ring.mode_note:
            settings["capture_note"] = self._ring.mode_note
        return settings

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the recording stops (stop/finish/fail hotkey or `stop()`)."""
        return self._stopped.wait(timeout)

    def stop(self, outcome: str = "stopped") -> Path:
        """End the recording, write every pending step, and close the trajectory."""
        self.request_stop(outcome)
        self._stopped.wait(10)
        return self._shutdown(self.outcome or outcome)

    def request_stop(self, outcome: str = "stopped") -> None:
        """Ask the processing thread to end the recording; `wait()` returns once it has.
        Safe to call from a signal handler (it only puts on a SimpleQueue)."""
        self._events.put(Control(outcome, time.monotonic()))

    def pause(self) -> None:
        self._events.put(Control("pause", time.monotonic()))

    def finish(self) -> None:
        self._events.put(Control("finish", time.monotonic()))

    def fail(self) -> None:
        self._events.put(Control("fail", time.monotonic()))

    def _shutdown(self, outcome: str) -> Path:
        if not self._listener.stop():
            self.errors.append("an input listener thread did not end")
        self._events.put(None)
        self._ring.stop()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads = []
        if self._ring.error:
            self.errors.append(str(self._ring.error))
        if self._writer is not None:
            if not self._owns_writer:
                self._writer = None
                return self.out
            self._writer.update_meta(recorder={
                **self._settings(), "frames_grabbed": self._ring.grabs,
                "accessibility_available": self.accessibility_available,
                "accessibility_reason": self.accessibility_reason,
                "steps_excluded": self.steps_excluded, "errors": self.errors,
            })
            self._writer.close(outcome=self.outcome or outcome)
            self._writer = None
        return self.out

    # --- processing thread ------------------------------------------------------------------
    def _process(self, started: threading.Event) -> None:
        self._context = ContextProvider(accessibility=self.config.accessibility,
                                        window_labels=self.config.privacy.window_labels)
        self.accessibility_available = self._context.accessibility_available
        self.accessibility_reason = self._context.accessibility_reason
        now = time.monotonic()
        merger = ActionMerger(self.config.merge, context_for=self._context.for_event, window_for=self._window_id,
                              caps_lock=_caps_lock_on(), started_at=now)
        started.set()
        try:
            while True:
                try:
                    item = self._events.get(timeout=0.05)
                except queue.Empty:
                    item = False
                if item is None:
                    break
                out: list = []
                if isinstance(item, Control):
                    out = [item]
                elif item is not False and not (self._ledger and self._ledger.claim(item)):
                    if self.on_human_input and merger.starts_action(item) and not self._excluded(item):
                        self.on_human_input(item)
                    out = merger.feed(item, self._ring.before(item.t))
                out += merger.tick(time.monotonic(), self._ring.latest())
                for result in out:
                    if isinstance(result, Control):
                        if self._control(result, merger):
                            return
                    else:
                        self._to_write.put(result)
        except Exception as exc:  # keep what was recorded; say what broke
            self.errors.append(f"processing stopped: {exc!r}")
            self._stopped.set()
        finally:
            for result in merger.flush():
                self._to_write.put(result)
            self._to_write.put(None)
            self._context.close()

    def _window_id(self, event: InputEvent) -> int | None:
        """Which window a key goes to, by id alone: a title that changes while typing is no new window."""
        window = self._context.window_for(event)
        return window.window_id if window else None

    def _excluded(self, event: InputEvent) -> bool:
        config = self.config
        if not (config.exclude_windows or config.exclude_window_ids):
            return False
        return StepContext(None, self._context.window_for(event)).matches(
            config.exclude_windows, config.exclude_window_ids)

    def _control(self, control: Control, merger: ActionMerger) -> bool:
        """Apply a control; True when the recording ends."""
        if self.on_control and self.on_control(control.command):
            return False
        if control.command == "pause":
            if merger.paused:
                merger.resume(time.monotonic())
                self.paused = False
                self.on_status("resumed")
            else:
                for result in merger.pause():
                    self._to_write.put(result)
                self.paused = True
                self.on_status("paused")
            return False
        for result in merger.flush():
            self._to_write.put(result)
        if control.command in ("finish", "fail"):
            final = actions.FINISH if control.command == "finish" else actions.FAIL
            self._to_write.put(MergedAction(final, control.t, control.t, None, self._ring.latest(), None))
        self.outcome = self.outcome or {"stop": "stopped"}.get(control.command, control.command)
        self.on_status(self.outcome)
        self._stopped.set()
        return True

    # --- writer thread ----------------------------------------------------------------------
    def _write(self) -> None:
        while True:
            merged = self._to_write.get()
            if merged is None:
                return
            try:
                self._write_step(merged)
            except Exception as exc:  # e.g. disk full: report, keep going with the rest
                self.errors.append(f"step not written: {exc!r}")

    def _write_step(self, merged: MergedAction) -> None:
        context: StepContext | None = merged.context
        action, extra = merged.action, {}
        # First, before anything can print or fail with the text in hand; excluded steps too, so
        # that the redactor follows every click and key.
        reason = self._redactor.observe(action, context)
        if reason:
            action, extra["redacted"] = actions.type_text(REDACTED_TEXT), reason
        if context and context.matches(self.config.exclude_windows, self.config.exclude_window_ids):
            self.steps_excluded += 1
            return
        writer = self._writer
        frame = merged.frame
        data = None
        if frame is not None and not (self._last_shot and frame.same_pixels(self._last_shot[0])):
            data = frame.encode(self.config.screenshot_format)  # outside the slot: the slow part
        if context and context.element is None and context.element_missing:
            extra["element_missing"] = context.element_missing  # why "element" is null
        with writer.step_slot() as index:
            step = Step(
                index=index, time=round(merged.t + self._wall_offset, 3), actor="human",
                action=actions.format_action(action), screenshot=self._screenshot(index, frame, data),
                pointer=merged.pointer,
                element=context.element_dict() if context else None,
                window=context.window_dict() if context else None,
                extra=extra,
            )
            writer.append_step(step)
        self.steps_written += 1
        if self.on_step:
            self.on_step(step)

    def _screenshot(self, index: int, frame: Frame | None, data: bytes | None) -> str | None:
        if frame is None:
            return None
        if data is None and self._last_shot and frame.same_pixels(self._last_shot[0]):
            # The same screen as the step before (fast input, or nothing changed): link, don't store twice.
            relative = screenshot_name(index, self._last_shot[1].rsplit("/", 1)[-1].split(".", 1)[1])
            try:
                os.link(self._writer.root / self._last_shot[1], self._writer.root / relative)
            except OSError:
                shutil.copyfile(self._writer.root / self._last_shot[1], self._writer.root / relative)
            return relative
        relative = self._writer.save_screenshot(index, data, self.config.screenshot_format.extension_of(data))
        self._last_shot = (frame, relative)
        return relative
