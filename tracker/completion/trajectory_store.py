"""Where completion keeps its results: the trajectory's steps.jsonl, and a log beside it.

- ``completion.jsonl`` (the completion log) gets one line per finished piece of work, appended and flushed
  the moment it is known: the step, the pass, done with the fields it wrote or failed with the error. A run
  killed at any moment loses nothing it was told: the next run applies logged results that steps.jsonl
  does not have yet (`pending_results`) before it asks for anything.
- steps.jsonl is rewritten with the new fields (`write_fields`) to a temporary file that is synced and
  renamed into place, so a crash leaves the old file or the new one. It is re-read just before each
  write and only the lines of changed steps are replaced: every other line, even one no reader accepts,
  stays byte for byte. A thought that is already there (typed by the human, or written by the agent) is
  never replaced.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tracker.format.trajectory import STEPS_FILE, Step, atomic_write, parse_json_line

__all__ = ["LOG_FILE", "CompletionLog", "has_text", "merge_fields", "pending_results", "write_fields"]

LOG_FILE = "completion.jsonl"


def has_text(value: Any) -> bool:
    """Whether a thought-like value ({"text": ...} or a string) holds some text."""
    text = value.get("text") if isinstance(value, dict) else value
    return isinstance(text, str) and bool(text.strip())


def merge_fields(step: dict[str, Any], fields: dict[str, Any]) -> bool:
    """Set ``fields`` on a step object (in place): ``completion`` records merge pass by pass, and an existing
    thought is kept. Returns whether anything changed."""
    changed = False
    for key, value in fields.items():
        if key == "thought" and has_text(step.get("thought")):
            continue
        if key == "completion":
            current = step.get("completion") if isinstance(step.get("completion"), dict) else {}
            value = {**current, **value}
        if step.get(key) != value:
            step[key] = value
            changed = True
    return changed


def write_fields(root: Path, updates: dict[int, dict[str, Any]]) -> int:
    """Write ``updates`` (step index -> fields) into root/steps.jsonl atomically; returns the steps changed.

    The file is read again here, so lines that changed on disk since it was first read are merged, not lost.
    """
    path = root / STEPS_FILE
    lines = path.read_bytes().split(b"\n")
    seen: set[int] = set()
    changed = 0
    for number, raw in enumerate(lines):
        obj = parse_json_line(raw) if raw.strip() else None
        index = obj.get("index") if isinstance(obj, dict) else None
        if not isinstance(index, int) or index not in updates or index in seen:
            continue
        seen.add(index)
        if merge_fields(obj, updates[index]):
            lines[number] = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            changed += 1
    if changed:
        atomic_write(path, b"\n".join(lines), sync=True)
    return changed


class CompletionLog:
    """The append-only completion log of one trajectory; `append` may be called from one thread at a time
    per log (the runner's), and is serialised anyway."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOG_FILE
        self._handle = None
        self._lock = threading.Lock()

    def records(self) -> list[dict[str, Any]]:
        """Every whole record; a torn last line (a run killed mid-write) is ignored."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        return [obj for obj in map(parse_json_line, data.split(b"\n")) if isinstance(obj, dict)]

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps({"time": round(time.time(), 3), **record}, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._lock:
            if self._handle is None:
                self._handle = open(self.path, "ab")  # noqa: SIM115 - kept open for the run, closed by close()
                if self._handle.tell() and not self.path.read_bytes().endswith(b"\n"):
                    self._handle.write(b"\n")  # end a torn line so that this record stays whole
            self._handle.write(line)
            self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def pending_results(log: CompletionLog, steps: list[Step], output_keys: dict[str, str]) -> dict[int, dict[str, Any]]:
    """Fields of logged results that the steps lack (a run stopped between logging and writing steps.jsonl):
    step index -> fields. A record counts only for the step it was made for (same index and action)."""
    by_index = {step.index: step for step in steps}
    pending: dict[int, dict[str, Any]] = {}
    for record in log.records():
        step = by_index.get(record.get("index"))  # type: ignore[arg-type]
        fields = record.get("fields")
        key = output_keys.get(record.get("pass", ""))
        if record.get("status") != "done" or step is None or record.get("action") != step.action \
                or not isinstance(fields, dict) or key is None:
            continue
        if key in step.extra and not (key == "thought" and not has_text(step.extra.get("thought"))):
            continue
        pending.setdefault(step.index, {}).update(fields)
    return pending
