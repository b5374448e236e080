"""The recorder: real input and the screen in, a trajectory of human steps out.

Threads, and why:
- pynput's listener threads only timestamp events onto a queue (never block);
- the capture thread keeps a ring of recent frames (the screen just before each event);
- the processing thread merges events into actions and looks up the element and
  window for each (AT-SPI and X calls, bounded by timeouts);
- the writer thread encodes screenshots and appends steps, in order, so a slow PNG
  never delays the listeners.
Control hotkeys (pause, finish, fail, stop) travel on the same queue as input, so
they take effect exactly between the events around them; so do thoughts the person types
(`add_thought`), which therefore land on exactly the step after (or before) them.

pcagent's own windows (the tray app's thought box, menus, panels) are never recorded:
input to them is dropped before merging, and a step's screenshot is a frame grabbed with
none of them on screen, waiting for a fresh one after they closed when need be; a step
that had to use a frame showing one says so under `pcagent_windows`.
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
from tracker.recording.capture import CaptureUnavailable, Frame, FrameRing, NoDisplay, describe_screens, grab_once
from tracker.recording.injection import InjectionLedger
from tracker.recording.input_events import InputEvent
from tracker.recording.input_listener import InputListener, InputUnavailable
from tracker.recording.merge import ActionMerger, Control, MergeConfig, MergedAction, parse_hotkey_spec
from tracker.recording.context import ContextProvider, StepContext
from tracker.recording.own_windows import OWN_WINDOWS_KEY, OwnWindowTimeline, is_own_window, own_window_timeline
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
RECORDER_CONTROLS = ("pause", "finish", "fail", "stop")  # hotkeys for other commands are the caller's
THOUGHT_ABOUT = ("next", "previous")
MAX_TICK_S = 1.0  # the processing thread looks at the clock at least this often
TICK_LATE_S = 0.002  # wake just after a deadline: the merger's are strict ("more than 0.5 s after")
CLEAN_FRAME_WAIT_S = 1.0  # how long a step waits for a frame without pcagent's windows once they closed


class RecorderError(RuntimeError):
    """The recorder cannot start or run here; the message says why and what to do."""


@dataclass(frozen=True)
class ThoughtNote:
    """A thought the person typed while recording, on its way to the step it is about."""

    text: str
    about: str  # "next": the next recorded step; "previous": the step recorded last
    time: float  # unix seconds it was given

    def to_dict(self) -> dict:
        return {"text": self.text, "source": "human", "time": round(self.time, 3)}


def merge_thoughts(old: dict | None, new: dict) -> dict:
    """Two thoughts on one step keep both texts, in order."""
    if not isinstance(old, dict) or not isinstance(old.get("text"), str) or not old["text"].strip():
        return new
    return {**new, "text": f"{old['text']}\n{new['text']}"}


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
    # pcagent's own windows as the app in this process reports them (see tracker.recording.own_windows)
    own_windows: OwnWindowTimeline = field(default_factory=own_window_timeline)

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
        self._events: queue.SimpleQueue[InputEvent | Control | ThoughtNote | None] = queue.SimpleQueue()
        # Bounded: when steps come faster than they are encoded, the merging thread waits here while
        # raw input keeps queueing in `_events` (unbounded, never lost); memory stays a few frames.
        self._to_write: queue.Queue[MergedAction | ThoughtNote | None] = queue.Queue(maxsize=STEP_QUEUE_BOUND)
        self._thoughts_next: list[dict] = []  # writer thread only: thoughts waiting for the next step
        self.unattached_thoughts: list[dict] = []  # thoughts no step came for (the recording ended first)
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

    def add_thought(self, text: str, about: str = "next") -> None:
        """Attach what the person typed as the `thought` (source "human") of the next recorded step, or with
        about="previous" of the step recorded last. Whatever is still being merged ends first, so the thought
        falls between the actions done before and after this call. Safe from any thread."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a thought needs some text")
        if about not in THOUGHT_ABOUT:
            raise ValueError(f"about must be one of {', '.join(THOUGHT_ABOUT)}, not {about!r}")
        self._events.put(ThoughtNote(text.strip(), about, time.time()))

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
            extra = {"unattached_thoughts": self.unattached_thoughts} if self.unattached_thoughts else {}
            self._writer.update_meta(recorder={
                **self._settings(), "frames_grabbed": self._ring.grabs,
                "accessibility_available": self.accessibility_available,
                "accessibility_reason": self.accessibility_reason,
                "steps_excluded": self.steps_excluded, "errors": self.errors, **extra,
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
                # Asleep until input or until the merger has something due (a click is final after the
                # double-click window): no wake-ups 20 times a second on a quiet desktop.
                due = merger.next_tick()
                wait = MAX_TICK_S if due is None else min(MAX_TICK_S, due - time.monotonic() + TICK_LATE_S)
                try:
                    item = self._events.get(timeout=max(0.0, wait))
                except queue.Empty:
                    item = False
                if item is None:
                    break
                out: list = []
                if isinstance(item, Control):
                    out = [item]
                elif isinstance(item, ThoughtNote):
                    out = [*merger.flush(), item]  # the thought falls between two actions
                elif item is not False and not (self._ledger and self._ledger.claim(item)):
                    if self.config.own_windows.receives(item):
                        merger.note_input(item.t)  # typing a thought is no idling
                    else:
                        starts = merger.starts_action(item)
                        if self.on_human_input and starts and not self._excluded(item):
                            self.on_human_input(item)
                        out = merger.feed(item, self._frame_before(item.t) if starts else self._ring.before(item.t))
                now = time.monotonic()
                self._waiting_on_own_window(now, merger)
                out += merger.tick(now, self._ring.latest())
                for result in out:
                    if isinstance(result, Control):
                        if self._control(result, merger):
                            return
                    else:
                        if isinstance(result, MergedAction) and result.action == actions.WAIT:  # the latest frame
                            result.frame = self._frame_before(result.t) or result.frame
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
        if control.command in self.config.hotkeys and control.command not in RECORDER_CONTROLS:
            return False  # the caller's own hotkey (the tray app's thought hotkey): never an action
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
            self._to_write.put(MergedAction(final, control.t, control.t, None, self._frame_before(control.t), None))
        self.outcome = self.outcome or {"stop": "stopped"}.get(control.command, control.command)
        self.on_status(self.outcome)
        self._stopped.set()
        return True

    # --- writer thread ----------------------------------------------------------------------
    def _write(self) -> None:
        while True:
            merged = self._to_write.get()
            if merged is None:
                self.unattached_thoughts += self._thoughts_next
                self._thoughts_next = []
                return
            try:
                if isinstance(merged, ThoughtNote):
                    self._take_thought(merged)
                else:
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
        if context and (context.matches(self.config.exclude_windows, self.config.exclude_window_ids)
                        or is_own_window(context.window)):
            self.steps_excluded += 1
            return
        if self._thoughts_next:
            thought: dict | None = None
            for note in self._thoughts_next:
                thought = merge_thoughts(thought, note)
            extra["thought"], self._thoughts_next = thought, []
        if merged.frame is not None:
            shown = self.config.own_windows.visible_at(merged.frame.t)
            if shown:  # no frame without them could be had: say so, so refinement can drop the step
                extra[OWN_WINDOWS_KEY] = [span.to_dict() for span in shown]
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

    def _take_thought(self, note: ThoughtNote) -> None:
        """Writer thread: a thought about the step written last goes into it now; one about the next
        step waits for it."""
        if note.about == "previous" and self.steps_written:
            self._writer.amend_last_step(
                lambda step: step.update(thought=merge_thoughts(step.get("thought"), note.to_dict())))
        else:  # nothing recorded yet to be "previous": it is about what comes
            self._thoughts_next.append(note.to_dict())

    # --- frames without pcagent's own windows -----------------------------------------------
    def _frame_before(self, t: float) -> Frame | None:
        """The screen just before `t` for a step's screenshot, without pcagent's own windows: the newest
        frame grabbed before `t` when it shows none; when some closed only just before `t`, the first frame
        grabbed after the screen beneath them was repainted (grabbed afresh when the ring has none yet).
        While one is still on screen, the frame as it is: the step then lists them under `pcagent_windows`.
        Processing thread only."""
        frame = self._ring.before(t)
        own = self.config.own_windows
        if frame is None or not own.visible_at(frame.t):
            return frame
        clean_from = own.clean_from(frame.t)
        if clean_from is None:
            return frame
        first_clean, candidate = None, self._ring.latest()
        while candidate is not None and candidate.t >= clean_from and not own.visible_at(candidate.t):
            first_clean = candidate
            earlier = self._ring.before(candidate.t)
            candidate = earlier if earlier is not candidate else None
        return first_clean or self._fresh_frame(clean_from) or frame

    def _fresh_frame(self, clean_from: float) -> Frame | None:
        """A frame grabbed now (once `clean_from` has come), if no pcagent window is on screen by then."""
        wait = clean_from - time.monotonic()
        if wait > CLEAN_FRAME_WAIT_S:
            return None
        if wait > 0:
            time.sleep(wait)
        try:
            fresh = grab_once()
        except CaptureUnavailable as exc:
            self.errors.append(f"no fresh frame after pcagent's window closed: {exc}")
            return None
        return None if self.config.own_windows.visible_at(fresh.t) else fresh

    def _waiting_on_own_window(self, now: float, merger: ActionMerger) -> None:
        """While a pcagent window has the keyboard (the person types a thought), nobody is idle."""
        if any(span.takes_keyboard for span in self.config.own_windows.open_spans()):
            merger.note_input(now)
