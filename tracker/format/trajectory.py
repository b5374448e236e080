"""The on-disk trajectory format shared by human recordings, agent runs and collaborative runs.

A trajectory is a folder::

    meta.json         format name and version, task, platform, screens, recorder/agent, outcome
    steps.jsonl       one JSON object per step, appended and flushed as each step happens
    screenshots/      000000.png, 000001.png, ...: the screen just *before* each step

Writing is crash-safe: steps are whole lines flushed one at a time, screenshots and meta.json are written to
a temporary file and renamed into place. Reading is tolerant: a recorder killed mid-write leaves at most a
torn last line, which the reader skips with a warning. :mod:`tracker.format.trajectory_check` is the strict checker.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from models.text_excerpt import shorten
from tracker.format.actions import Action, ActionError, format_action, parse_action

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "ACTORS", "META_FILE", "STEPS_FILE", "SCREENSHOT_DIR",
    "TrajectoryError", "Problem", "Step", "Trajectory", "TrajectoryWriter",
    "new_meta", "desktop_origin", "read_trajectory", "read_with_line_numbers", "format_step_line",
    "screenshot_name", "atomic_write", "is_temporary_file", "parse_json_line", "utc_now_iso", "is_json_int",
    "is_finite_number",
]

FORMAT_NAME = "pcagent-trajectory"
FORMAT_VERSION = 2  # 2: screenshots may be PNG, JPEG XL, WebP, AVIF or JPEG (meta.json "screenshot_format")
ACTORS = ("human", "agent")
META_FILE = "meta.json"
STEPS_FILE = "steps.jsonl"
SCREENSHOT_DIR = "screenshots"

_CORE_STEP_KEYS = ("index", "time", "actor", "action", "screenshot", "pointer", "element", "window")
_EXT_PATTERN = re.compile(r"[a-z0-9]+(?:\.[a-z0-9]+)*")  # "png", "marked.png"


class TrajectoryError(Exception):
    """A trajectory folder that cannot be read or written at all."""


@dataclass
class Problem:
    """One finding of the reader or checker."""

    severity: str  # "error" | "warning"
    where: str  # "steps.jsonl:7", "meta.json", "screenshots/000003.png"
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def is_json_int(value: object) -> bool:
    """An integer as the format means it: JSON's true and false are not (Python counts bool as int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """A finite number: JSON readers accept NaN and 1e400 (infinity), which no time or size can be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Step:
    """One action in a trajectory, with the context it happened in."""

    index: int
    time: float  # unix seconds
    actor: str  # "human" | "agent"
    action: str  # canonical action text
    screenshot: str | None  # relative to the trajectory folder, e.g. "screenshots/000003.png"
    pointer: tuple[int, int] | None = None  # pointer position when the action began
    element: dict | None = None  # {"name", "role", "rect": [l, t, r, b], "application"}
    window: dict | None = None  # {"title", "application"}
    # Every other key (action_description, thought, grounding, decision, timing, ...) round-trips here.
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The JSON object stored as one line of steps.jsonl."""
        data: dict[str, Any] = {
            "index": self.index, "time": self.time, "actor": self.actor, "action": self.action,
            "screenshot": self.screenshot,
            "pointer": list(self.pointer) if self.pointer is not None else None,
            "element": self.element, "window": self.window,
        }
        for key, value in self.extra.items():
            if key not in data:
                data[key] = value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Step:
        """Build a step from its JSON object; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"a step must be a JSON object, not {type(data).__name__}")
        for key in ("index", "time", "actor", "action"):
            if key not in data:
                raise ValueError(f"step is missing {key!r}")
        if not is_json_int(data["index"]) or data["index"] < 0:
            raise ValueError(f"step index must be a non-negative integer, not {data['index']!r}")
        if not is_finite_number(data["time"]):
            raise ValueError(f"step time must be a number (unix seconds), not {data['time']!r}")
        for key in ("actor", "action"):
            if not isinstance(data[key], str):
                raise ValueError(f"step {key} must be text, not {data[key]!r}")
        screenshot = data.get("screenshot")
        if screenshot is not None and not isinstance(screenshot, str):
            raise ValueError(f"step screenshot must be a relative path or null, not {screenshot!r}")
        pointer = data.get("pointer")
        if pointer is not None:
            if not isinstance(pointer, (list, tuple)) or len(pointer) != 2 \
                    or not all(map(is_json_int, pointer)):
                raise ValueError(f"step pointer must be [x, y] integers or null, not {pointer!r}")
            pointer = (pointer[0], pointer[1])
        for key in ("element", "window"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise ValueError(f"step {key} must be an object or null, not {data[key]!r}")
        extra = {k: v for k, v in data.items() if k not in _CORE_STEP_KEYS}
        return cls(index=data["index"], time=data["time"], actor=data["actor"], action=data["action"],
                   screenshot=screenshot, pointer=pointer, element=data.get("element"),
                   window=data.get("window"), extra=extra)

    def parsed_action(self) -> Action:
        """The step's action as an :class:`Action` (raises ActionError if it does not parse)."""
        return parse_action(self.action)


@dataclass
class Trajectory:
    """A trajectory as read from disk, with whatever the reader had to skip or complain about."""

    root: Path
    meta: dict
    steps: list[Step]
    problems: list[Problem]


# ---------------------------------------------------------------------------------------------------
# Metadata


def utc_now_iso() -> str:
    """Now in UTC to the millisecond, as meta.json and the completion records write it: "...T12:00:00.000Z"."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _display_server() -> str | None:
    """The kind of display this process would capture: x11, wayland, windows, quartz or None."""
    session = os.environ.get("XDG_SESSION_TYPE", "").strip().lower()
    if session in ("x11", "wayland"):
        return session
    if os.environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    if os.environ.get("DISPLAY"):
        return "x11"
    system = platform.system()
    if system == "Windows":
        return "windows"
    if system == "Darwin":
        return "quartz"
    return session or None


def new_meta(task: dict | None = None, screens: list[dict] | None = None, recorder: dict | None = None,
             **extra: Any) -> dict:
    """A fresh meta.json object for a new trajectory; extra keys are added at the top level."""
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "id": uuid.uuid4().hex,
        "created": utc_now_iso(),
        "task": task if task is not None else {"mode": "none"},
        "platform": {
            "os": platform.system(),
            "release": platform.release(),
            "display_server": _display_server(),
            "python": platform.python_version(),
        },
        "screens": screens if screens is not None else [],
        "recorder": recorder if recorder is not None else {},
        "agent": None,
        "outcome": None,
        "ended": None,
        "collaboration": None,
    }
    meta.update(extra)
    return meta


def desktop_origin(meta: dict) -> tuple[int, int]:
    """The virtual desktop's top-left corner: where pixel (0, 0) of a screenshot lies in step coordinates.

    The top-left-most corner of meta.json's screens, (0, 0) without any; a screen whose left or top is not
    an integer is passed over (the strict checker reports it), so one bad entry does not move the rest.
    """
    screens = meta.get("screens")
    corners = [(s["left"], s["top"]) for s in screens if isinstance(s, dict)
               and is_json_int(s.get("left")) and is_json_int(s.get("top"))] if isinstance(screens, list) else []
    if not corners:
        return (0, 0)
    return (min(left for left, _ in corners), min(top for _, top in corners))


# ---------------------------------------------------------------------------------------------------
# Writing


def screenshot_name(index: int, ext: str = "png") -> str:
    """The relative path of step ``index``'s screenshot, e.g. "screenshots/000003.png"."""
    return f"{SCREENSHOT_DIR}/{index:06d}.{ext}"


def is_temporary_file(name: str) -> bool:
    """Whether ``name`` is one of our temporary files (atomic_write's): hidden and ending in .tmp, so that no
    reader takes it for a real file."""
    return name.startswith(".") and name.endswith(".tmp")


def atomic_write(path: Path, data: bytes, *, sync: bool) -> None:
    """Write data to path so that a crash leaves either the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _dump_meta(meta: dict) -> bytes:
    return (json.dumps(meta, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


class TrajectoryWriter:
    """Writes one trajectory folder, step by step, so that a crash at any moment leaves it readable.

    ``append_step`` and ``update_meta`` may be called from several threads. meta.json is written from
    ``meta`` at once. With ``exist_ok`` an existing trajectory is continued (pass its own meta to keep its
    id): ``next_index`` follows its last readable step, and a torn last line left by a crash is cut off first. ``fsync`` also syncs every step and screenshot to disk (power-loss safety,
    at some speed cost); meta.json is always synced.
    """

    def __init__(self, root: Path | str, meta: dict, *, exist_ok: bool = False, fsync: bool = False) -> None:
        self.root = Path(root)
        self._sync = fsync
        self._lock = threading.Lock()
        self._slot = threading.Lock()  # held from choosing an index to appending its step
        self._closed = False
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, not {type(meta).__name__}")
        if meta.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise TrajectoryError(f"meta format is {meta['format']!r}, expected {FORMAT_NAME!r}")
        self.meta = dict(meta)
        self.meta.setdefault("format", FORMAT_NAME)
        self.meta.setdefault("version", FORMAT_VERSION)

        if self.root.exists() and not self.root.is_dir():
            raise TrajectoryError(f"{self.root} exists and is not a folder")
        if self.root.is_dir() and any(self.root.iterdir()) and not exist_ok:
            raise TrajectoryError(f"{self.root} already exists and is not empty (pass exist_ok to continue it)")
        (self.root / SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        steps_path = self.root / STEPS_FILE
        self.next_index = _repair_and_count(steps_path)
        atomic_write(self.root / META_FILE, _dump_meta(self.meta), sync=True)
        self._steps = open(steps_path, "ab")

    # Screenshots are written before their step, possibly from worker threads; no lock is needed
    # because each goes to its own temporary name.
    def save_screenshot(self, index: int, data: bytes, ext: str = "png") -> str:
        """Store a screenshot atomically and return its relative path ("screenshots/000003.png")."""
        if not is_json_int(index) or index < 0:
            raise ValueError(f"screenshot index must be a non-negative integer, not {index!r}")
        if not _EXT_PATTERN.fullmatch(ext):
            raise ValueError(f"screenshot extension must be like 'png' or 'marked.png', not {ext!r}")
        relative = screenshot_name(index, ext)
        atomic_write(self.root / relative, bytes(data), sync=self._sync)
        return relative

    def append_step(self, step: Step) -> None:
        """Append one step as one flushed line. Its index must be ``next_index`` and its action canonical."""
        try:
            canonical = format_action(parse_action(step.action))
        except ActionError as error:
            raise ValueError(f"step {step.index}: {error}") from None
        if canonical != step.action:
            raise ValueError(f"step {step.index}: action {step.action!r} is not canonical ({canonical!r})")
        if step.actor not in ACTORS:
            raise ValueError(f"step {step.index}: actor must be one of {ACTORS}, not {step.actor!r}")
        Step.from_dict(step.to_dict())  # the same validation a reader applies
        # Serialise before writing so an unserialisable extra never leaves half a line.
        line = (json.dumps(step.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._closed:
                raise ValueError("the trajectory writer is closed")
            if step.index != self.next_index:
                raise ValueError(f"step index {step.index} is out of order (expected {self.next_index})")
            self._steps.write(line)
            self._steps.flush()
            if self._sync:
                os.fsync(self._steps.fileno())
            self.next_index += 1

    def amend_last_step(self, change: Callable[[dict], None]) -> Step:
        """Change the step written last (say, add a thought typed about it) and return it.

        ``change`` edits the step's JSON object in place; its index and action stay as they are. steps.jsonl
        is rewritten to a temporary file and renamed into place, so a crash leaves the old file or the new one.
        """
        with self._lock:
            if self._closed:
                raise ValueError("the trajectory writer is closed")
            path = self.root / STEPS_FILE
            self._steps.flush()
            data = path.read_bytes()
            cut = data.rstrip(b"\n").rfind(b"\n") + 1
            last = parse_json_line(data[cut:]) if data.strip() else None
            if not isinstance(last, dict):
                raise ValueError("there is no step to amend yet")
            amended = json.loads(json.dumps(last))
            change(amended)
            if (amended.get("index"), amended.get("action")) != (last.get("index"), last.get("action")):
                raise ValueError("amending a step cannot change its index or action")
            step = Step.from_dict(amended)
            line = (json.dumps(amended, ensure_ascii=False) + "\n").encode("utf-8")
            self._steps.close()
            try:
                atomic_write(path, data[:cut] + line, sync=self._sync)
            finally:
                self._steps = open(path, "ab")
            return step

    @contextmanager
    def step_slot(self) -> Iterator[int]:
        """The next step's index, reserved until the block ends; for writers on several threads.

        Inside the block, save the step's screenshot under that index and append the step:
        ``with writer.step_slot() as i: path = writer.save_screenshot(i, png); writer.append_step(...)``.
        """
        with self._slot:
            yield self.next_index

    def update_meta(self, **fields: Any) -> None:
        """Set top-level meta.json fields and rewrite it atomically."""
        with self._lock:
            self.meta.update(fields)
            atomic_write(self.root / META_FILE, _dump_meta(self.meta), sync=True)

    def close(self, outcome: str | None = None) -> None:
        """Finish the trajectory: record the outcome (if given) and the end time. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._steps.close()
            if outcome is not None:
                self.meta["outcome"] = outcome
            self.meta["ended"] = utc_now_iso()
            atomic_write(self.root / META_FILE, _dump_meta(self.meta), sync=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _repair_and_count(steps_path: Path) -> int:
    """Cut a torn last line off an existing steps file and return the index that comes next."""
    if not steps_path.exists():
        return 0
    data = steps_path.read_bytes()
    if data and not data.endswith(b"\n"):
        head, newline, tail = data.rpartition(b"\n")
        if parse_json_line(tail) is None:
            with open(steps_path, "r+b") as handle:
                handle.truncate(len(head) + len(newline))
        else:  # a complete object that only lacks its newline
            with open(steps_path, "ab") as handle:
                handle.write(b"\n")
    next_index = 0
    for line in steps_path.read_bytes().split(b"\n"):
        obj = parse_json_line(line)
        if isinstance(obj, dict) and is_json_int(obj.get("index")):
            next_index = max(next_index, obj["index"] + 1)
    return next_index


# ---------------------------------------------------------------------------------------------------
# Reading


def parse_json_line(raw: bytes) -> Any | None:
    """The JSON value of one line, or None if it is not valid UTF-8 JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _read_meta(root: Path) -> dict:
    path = root / META_FILE
    if not root.is_dir():
        raise TrajectoryError(f"{root} is not a trajectory folder (no such folder)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrajectoryError(f"{path} is missing: {root} is not a trajectory folder") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TrajectoryError(f"{path} cannot be read: {error}") from None
    try:
        meta = json.loads(text)
    except ValueError as error:
        raise TrajectoryError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(meta, dict):
        raise TrajectoryError(f"{path} must hold a JSON object, not {type(meta).__name__}")
    return meta


def _read_steps(root: Path) -> tuple[list[tuple[int, dict]], list[Problem]]:
    """The raw step objects with their line numbers, and the problems met reading them."""
    path = root / STEPS_FILE
    problems: list[Problem] = []
    if not path.exists():
        return [], [Problem("warning", STEPS_FILE, "missing: the trajectory has no steps")]
    lines = path.read_bytes().split(b"\n")
    ends_cleanly = lines[-1] == b""
    if ends_cleanly:
        lines.pop()
    last_content = max((n for n, line in enumerate(lines) if line.strip()), default=-1)
    objects: list[tuple[int, dict]] = []
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        where = f"{STEPS_FILE}:{number + 1}"
        obj = parse_json_line(raw)
        if obj is None:
            if number == last_content:  # what a recorder killed mid-write leaves behind
                problems.append(Problem("warning", where, "incomplete last line skipped"))
            else:
                problems.append(Problem("error", where, "not valid JSON; line skipped"))
            continue
        if number == last_content and not ends_cleanly:
            problems.append(Problem("warning", where, "last line has no trailing newline"))
        if not isinstance(obj, dict):
            problems.append(Problem("error", where, "a step must be a JSON object; line skipped"))
            continue
        objects.append((number + 1, obj))
    return objects, problems


def read_with_line_numbers(root: Path) -> tuple[dict, list[tuple[int, Step]], list[Problem]]:
    """meta.json, the readable steps each with its steps.jsonl line number, and the reader's problems: what
    :func:`read_trajectory` reads, for callers that name lines (the checker, completion). Raises as it does."""
    meta = _read_meta(root)
    objects, problems = _read_steps(root)
    steps: list[tuple[int, Step]] = []
    for number, obj in objects:
        try:
            steps.append((number, Step.from_dict(obj)))
        except ValueError as error:
            problems.append(Problem("error", f"{STEPS_FILE}:{number}", f"{error}; line skipped"))
    return meta, steps, problems


def read_trajectory(root: Path | str) -> Trajectory:
    """Read a trajectory folder, skipping (and reporting) unreadable step lines.

    Raises :class:`TrajectoryError` only when meta.json is missing or not a JSON object.
    """
    root = Path(root)
    meta, steps, problems = read_with_line_numbers(root)
    return Trajectory(root=root, meta=meta, steps=[step for _, step in steps], problems=problems)


# ---------------------------------------------------------------------------------------------------
# Display


def format_step_line(step: Step, start: float | None = None) -> str:
    """A one-line summary of a step for ``trace show``.

    Shows seconds since ``start`` (e.g. the first step's time) when given, else the local clock time::

          3  12.41s  human  click (10, 20)  [Save — push button]  «I save the file…»
    """
    if start is not None:
        when = f"{step.time - start:7.2f}s"
    else:
        when = time.strftime("%H:%M:%S", time.localtime(step.time))
    parts = [f"{step.index:3d}", when, f"{step.actor:<5}", step.action if "\n" not in step.action
             else shorten(step.action, 80)]
    element = step.element or {}
    label = " — ".join(str(element[k]) for k in ("name", "role") if element.get(k))
    if label:
        parts.append(f"[{shorten(label, 60)}]")
    thought = step.extra.get("thought")
    thought_text = thought.get("text") if isinstance(thought, dict) else thought
    if isinstance(thought_text, str) and thought_text.strip():
        parts.append(f"«{shorten(thought_text, 60)}»")
    return "  " + "  ".join(parts)
