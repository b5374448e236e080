"""Starting the bundled sample app as a child process and waiting until it is ready, and ending any
child program (SIGTERM, then SIGKILL).

The demo, the dataset maker, the benchmarks and the tests all run it the same way: a
child on some display, logging JSON lines; its "ready" event carries every widget's
rectangle.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping


class SampleAppError(RuntimeError):
    """The sample app exited or did not get ready; the message has its last error output."""


def read_ready(log: Path) -> dict | None:
    """The app's "ready" event from its log, or None while it has not logged it."""
    if not log.exists():
        return None
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # a line still being written
            break
        if event.get("event") == "ready":
            return event
    return None


def start_sample_app(env: Mapping[str, str], log: Path, *args: object,
                     timeout: float = 30.0) -> tuple[subprocess.Popen, dict]:
    """Run `python -m pcagent.testbed.sampleapp --log LOG ARGS...`; return (process, ready event)."""
    stderr_path = Path(log).with_suffix(".stderr")
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "pcagent.testbed.sampleapp", "--log", str(log), *map(str, args)],
                                env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = read_ready(Path(log))
        if ready is not None:
            return proc, ready
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    stop_process(proc)
    error = stderr_path.read_text(errors="replace")[-2000:]
    raise SampleAppError(f"the sample app did not get ready within {timeout} s "
                         f"(exit status {proc.returncode}): {error or 'no error output'}")


def stop_process(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End a child program we started: SIGTERM, then SIGKILL if it lingers past ``grace_s``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace_s)
