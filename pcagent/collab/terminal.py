"""The terminal's gates: the human answers each step on a terminal (or any pair of streams).

    confirm  TerminalGate   the human answers every step; with a countdown, silence approves
                            (CowPilot auto-continues after 8 s) — never for a guarded step
    auto     AutoGate       the policy approves; a guarded step still goes to the human
    suggest  SuggestGate    the agent only suggests; the human performs every step

A gate only decides; the loop executes, grounds edited element clicks and records the decision.
Every gate also has `wait_for_user(message, resume)` for the loop's hand-back after a takeover or
pause, reading the same input so that no two readers compete for stdin.
The terminal gate reads its input with select() and short timeouts, so a countdown ends on time and
the pause hotkey (another thread sets `interrupt`) is noticed within ~50 ms, on a pty or a pipe.
"""

from __future__ import annotations

import codecs
import io
import math
import os
import queue
import select
import sys
import threading
import time
from enum import Enum
from typing import IO, Any, TextIO

from pcagent.agent.types import MODES, Decision, Proposal
from pcagent.collab.gates import AutoGate, describe_proposal
from tracker.format.actions import ActionError, parse_action

__all__ = ["KEY_HELP", "make_gate", "POLL_S", "SuggestGate", "TerminalGate"]

KEY_HELP = "[Enter/a] approve  [r] reject  [e] edit  [t] take over  [p] pause  [s] stop"
GUARDED_KEY_HELP = "[a] approve (Enter alone is not enough: this step is guarded)  [r] reject  [e] edit  " \
                   "[t] take over  [p] pause  [s] stop"
POLL_S = 0.05  # how often a waiting read looks at the interrupt event and the clock

_CHOICES = {
    "a": "approve", "approve": "approve", "y": "approve", "yes": "approve",
    "r": "reject", "reject": "reject", "n": "reject", "no": "reject",
    "e": "edit", "edit": "edit",
    "t": "takeover", "take": "takeover", "takeover": "takeover",  # "take over": first word
    "p": "pause", "pause": "pause",
    "s": "stop", "stop": "stop", "q": "stop", "quit": "stop",
}


class _Wait(Enum):
    """Why a read returned without a line."""

    TIMED_OUT = "timed out"
    INTERRUPTED = "interrupted"
    CLOSED = "input closed"


# ---------------------------------------------------------------------------------------------------
# Reading lines without blocking past a deadline


class _LineReader:
    """Lines from a stream, waiting at most until a deadline and never past a set interrupt.

    On POSIX with a real file descriptor (tty, pty, pipe) it polls the fd with select() and reads raw
    bytes, so nothing hides in a Python buffer where select() cannot see it. Other streams (StringIO,
    a Windows console) are read by a daemon thread into a queue. Unconsumed lines carry over to the
    next read, so answers typed ahead are kept.
    """

    def __init__(self, stream: IO[Any]) -> None:
        self._fd = self._usable_fd(stream)
        encoding = getattr(stream, "encoding", None) or "utf-8"
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._pending = ""
        self._closed = False
        self._lines: queue.Queue[str | None] | None = None
        if self._fd is None:
            self._lines = queue.Queue()
            threading.Thread(target=self._pump, args=(stream,), name="gate-input", daemon=True).start()

    @staticmethod
    def _usable_fd(stream: IO[Any]) -> int | None:
        if sys.platform == "win32":  # select() there works on sockets only
            return None
        try:
            return stream.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            return None

    def _pump(self, stream: IO[Any]) -> None:
        assert self._lines is not None
        while True:
            line = stream.readline()
            if not line:
                self._lines.put(None)
                return
            self._lines.put(line.decode(errors="replace") if isinstance(line, bytes) else line)

    def read_line(self, deadline: float | None, interrupt: threading.Event | None,
                  on_tick: Any = None) -> str | _Wait:
        """One line without its newline, or why there is none. `on_tick(now)` runs every poll."""
        while True:
            if interrupt is not None and interrupt.is_set():
                return _Wait.INTERRUPTED
            line = self._take_line()
            if line is not None:
                return line
            if self._closed:
                return _Wait.CLOSED
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return _Wait.TIMED_OUT
            if on_tick is not None:
                on_tick(now)
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - now))
            self._wait_for_input(wait)

    def _take_line(self) -> str | None:
        if "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            return line.rstrip("\r")
        if self._closed and self._pending:  # a last line without a newline
            line, self._pending = self._pending, ""
            return line
        return None

    def _wait_for_input(self, wait: float) -> None:
        if self._lines is not None:
            try:
                item = self._lines.get(timeout=wait)
            except queue.Empty:
                return
            if item is None:
                self._closed = True
            else:
                self._pending += item if item.endswith("\n") else item + "\n"
            return
        assert self._fd is not None
        try:
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                return
            data = os.read(self._fd, 4096)
        except OSError:  # EIO: the pty's other side is gone; EBADF: closed under us
            data = b""
        if data:
            self._pending += self._decoder.decode(data)
        else:
            self._pending += self._decoder.decode(b"", final=True)
            self._closed = True


# ---------------------------------------------------------------------------------------------------
# Gates


class TerminalGate:
    """Asks the human on a terminal (or any pair of streams); see the module docstring."""

    def __init__(self, input_stream: IO[Any] | None = None, output: TextIO | None = None,
                 countdown_s: float | None = None, interrupt: threading.Event | None = None) -> None:
        if countdown_s is not None and countdown_s < 0:
            raise ValueError(f"countdown_s must be >= 0 or None, not {countdown_s!r}")
        self.output = output if output is not None else sys.stdout
        self.countdown_s = countdown_s
        self.interrupt = interrupt
        self._input = input_stream
        self._lazy_reader: _LineReader | None = None

    @property
    def _reader(self) -> _LineReader:
        # Made on first use: a gate that is never asked must not start reading stdin.
        if self._lazy_reader is None:
            self._lazy_reader = _LineReader(self._input if self._input is not None else sys.stdin)
        return self._lazy_reader

    def decide(self, proposal: Proposal) -> Decision:
        guarded = proposal.needs_approval
        self._say(*describe_proposal(proposal))
        # A guarded step never auto-continues: silence must not approve it.
        deadline = None
        if self.countdown_s is not None and not guarded:
            deadline = time.monotonic() + self.countdown_s
        while True:
            self._say(GUARDED_KEY_HELP if guarded else KEY_HELP)
            self._write("> ")
            answer = self._reader.read_line(deadline, self.interrupt, self._countdown_ticker(deadline))
            if isinstance(answer, _Wait):
                if deadline is not None:
                    self._write("\n")
                return self._without_answer(answer)
            deadline = None  # any answer means a human is here: no more auto-continue
            word, _, rest = answer.strip().partition(" ")
            choice = "approve" if word == "" and not guarded else _CHOICES.get(word.lower())
            if choice == "approve":
                return Decision("approve", by="user")
            if choice == "reject":
                return Decision("reject", by="user", note=rest.strip() or None)
            if choice == "edit":
                decision = self._ask_for_edit(rest.strip())
                if decision is not None:
                    return decision
                continue
            if choice in ("takeover", "pause", "stop"):
                return Decision(choice, by="user")
            hint = "type a and Enter to approve a guarded step" if word == "" else f"unknown choice {word!r}"
            self._say(hint)

    def wait_for_user(self, message: str, resume: threading.Event | None = None) -> str | None:
        """Tell the human `message`, then wait until they hand control back.

        Returns the line they typed (a note for the agent; "" for a bare Enter, or when `resume` is
        set, e.g. by the pause hotkey pressed again), or None when they stop: "s", or input closed.
        Shares this gate's input, so typed-ahead lines are never split between two readers.
        """
        self._say(message, "[Enter] hand control back (type a note for the agent first if you like)  [s] stop")
        self._write("> ")
        answer = self._reader.read_line(None, resume)
        if answer is _Wait.INTERRUPTED:
            self._write("\n")
            return ""
        if isinstance(answer, _Wait) or answer.strip().lower() in ("s", "stop"):
            return None
        return answer.strip()

    def _ask_for_edit(self, text: str) -> Decision | None:
        """The replacement action, or None to go back to the main prompt (empty line)."""
        while True:
            if not text:
                self._write("Replacement action (empty line: back): ")
                answer = self._reader.read_line(None, self.interrupt)
                if isinstance(answer, _Wait):
                    return self._without_answer(answer)
                text = answer.strip()
                if not text:
                    return None
            try:
                # Element clicks are fine here: the loop grounds them like the planner's.
                return Decision("edit", by="user", action=parse_action(text))
            except ActionError as exc:
                self._say(f"Not an action: {exc}")
                text = ""

    def _without_answer(self, why: _Wait) -> Decision:
        if why is _Wait.INTERRUPTED:
            return Decision("pause", by="user", note="pause hotkey")
        if why is _Wait.CLOSED:
            return Decision("stop", by="user", note="input closed")
        self._say(f"No answer in {self.countdown_s:g} s: approved.")
        return Decision("approve", by="timeout", note=f"auto-continued after {self.countdown_s:g} s")

    def _countdown_ticker(self, deadline: float | None) -> Any:
        """Redraws "auto-approve in N s" whenever the whole seconds left change."""
        if deadline is None:
            return None
        shown: list[int] = []

        def tick(now: float) -> None:
            left = math.ceil(max(0.0, deadline - now))
            if not shown or shown[-1] != left:
                shown.append(left)
                self._write(f"\r> auto-approve in {left} s ")
        return tick

    def _say(self, *lines: str) -> None:
        self._write("".join(line + "\n" for line in lines))

    def _write(self, text: str) -> None:
        self.output.write(text)
        self.output.flush()


class SuggestGate:
    """Shows the step as a suggestion; the human performs it (the loop waits and records them)."""

    def __init__(self, input_stream: IO[Any] | None = None, output: TextIO | None = None) -> None:
        self.output = output if output is not None else sys.stdout
        self._terminal = TerminalGate(input_stream, self.output)  # for wait_for_user only

    def decide(self, proposal: Proposal) -> Decision:
        lines = ["Suggestion:", *describe_proposal(proposal), "Your turn: do this (or something better) yourself."]
        self.output.write("".join(line + "\n" for line in lines))
        self.output.flush()
        return Decision("takeover", by="policy", note="suggest mode: the human acts")

    def wait_for_user(self, message: str, resume: threading.Event | None = None) -> str | None:
        return self._terminal.wait_for_user(message, resume)


def make_gate(mode: str, *, countdown_s: float | None = None, interrupt: threading.Event | None = None,
              stdin: IO[Any] | None = None, stdout: TextIO | None = None) -> TerminalGate | AutoGate | SuggestGate:
    """The gate for a collaboration mode (MODES); stdin/stdout default to the process's own."""
    if mode == "confirm":
        return TerminalGate(stdin, stdout, countdown_s=countdown_s, interrupt=interrupt)
    if mode == "auto":
        return AutoGate(TerminalGate(stdin, stdout, countdown_s=None, interrupt=interrupt))
    if mode == "suggest":
        return SuggestGate(stdin, stdout)
    raise ValueError(f"unknown collaboration mode {mode!r}; modes are {', '.join(MODES)}")
