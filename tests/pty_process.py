"""A child process on a pseudo-terminal, as a person at a terminal would run it."""

from __future__ import annotations

import os
import pty
import subprocess
import time


class PtyProcess:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.leader, follower = pty.openpty()
        self.proc = subprocess.Popen(argv, env=env, stdin=follower, stdout=follower, stderr=follower)
        os.close(follower)
        self.seen = b""

    @property
    def text(self) -> str:
        return self.seen.decode(errors="replace")

    def _pump(self, timeout: float) -> None:
        import select

        ready, _, _ = select.select([self.leader], [], [], timeout)
        if ready:
            try:
                self.seen += os.read(self.leader, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def read_until(self, text: str, timeout: float = 30.0, start: int = 0) -> int:
        """Wait until `text` appears after offset `start`; return the offset just past it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.text.find(text, start)
            if found >= 0:
                return found + len(text)
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear within {timeout} s; output:\n{self.text[-4000:]}")
            self._pump(0.05)

    def write(self, text: str) -> None:
        os.write(self.leader, text.encode())

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"still running after {timeout} s; output:\n{self.text[-4000:]}")
            self._pump(0.05)
        self._pump(0.05)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        try:
            os.close(self.leader)
        except OSError:
            pass
