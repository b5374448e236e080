"""`pcagent record` as a child process, for the demo, the benchmarks and the tests.

A child process is how the recorder really runs (its own pynput listeners, its own X
connections, stopped by a signal or its hotkey, killable), so the demo and the tests
drive exactly that.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Mapping, Sequence


class RecorderProcess:
    def __init__(self, out: Path | str | None, *args: str, env: Mapping[str, str] | None = None,
                 program: Sequence[str] = (sys.executable, "-m", "pcagent")) -> None:
        """`program` is what runs the `record` command (a benchmark may run a patched copy). `out` None: no
        --out, so the recorder picks the folder (settings.toml's trajectories_dir); `out` is then the folder
        it printed once started."""
        self.out = Path(out) if out is not None else None
        self.args = [str(a) for a in args]
        self.env = dict(env) if env is not None else None
        self.program = [str(part) for part in program]
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> "RecorderProcess":
        """Start recording; return once the recorder listens (it printed "Recording to")."""
        self.proc = subprocess.Popen(
            [*self.program, "record", *(["--out", str(self.out)] if self.out else []), *self.args],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not any(line.startswith("Recording to") for line in self.lines):
            if self.proc.poll() is not None:
                self._reader.join(2)
                raise RuntimeError("pcagent record exited with %s:\n%s" % (self.proc.returncode, self.output))
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("pcagent record did not start within %s s:\n%s" % (timeout, self.output))
            time.sleep(0.02)
        if self.out is None:
            started = next(line for line in self.lines if line.startswith("Recording to"))
            self.out = Path(started.removeprefix("Recording to").strip())
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = 10.0) -> str:
        """Wait until the recorder printed a line containing `text` (e.g. a step's action)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            time.sleep(0.02)
        raise TimeoutError(f"recorder printed no line with {text!r}; output:\n{self.output}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGINT, as Ctrl-C would: the recorder writes what is pending and closes."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        return self.wait(timeout)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(5)
        return code

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (the crash-safety case)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
