"""/proc CPU accounting for the benchmarks: per-process CPU seconds, the machine's busy time, load.

Linux only (reads /proc/<pid>/stat, /proc/stat, /proc/loadavg).
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> tuple[float, int] | None:
    """(utime + stime in seconds, session id) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): session is field 6, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[3])


def machine_busy_s() -> float:
    """Seconds of CPU time the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def loadavg() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        xvfb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "xvfb"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        xvfb = "unknown"
    versions = []
    for module in ("PIL", "mss", "pynput", "PySide6"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception:  # noqa: BLE001 - informational only
            pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model, "cores": str(os.cpu_count()), "memory": mem,
        "python": platform.python_version(), "xvfb": f"Xvfb (Debian xvfb {xvfb})",
        "os": platform.platform(), "libraries": ", ".join(versions),
    }



def cpu_snapshot(display, pids: dict[str, int]) -> dict[int, tuple[str, float]]:
    """CPU seconds of every process to measure: the named pids and everything in the sessions
    of the display's own processes (Xvfb; dbus-daemon, at-spi-bus-launcher and what they start)."""
    sessions = {proc.pid: ("xvfb" if i == 0 else "a11y") for i, proc in enumerate(display._procs)}
    xvfb_pid = display._procs[0].pid
    snap: dict[int, tuple[str, float]] = {}
    for label, pid in pids.items():
        stat = proc_stat(pid)
        if stat:
            snap[pid] = (label, stat[0])
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in snap:
            continue
        stat = proc_stat(int(entry))
        if stat and stat[1] in sessions:
            snap[int(entry)] = ("xvfb" if int(entry) == xvfb_pid else "a11y", stat[0])
    return snap


def cpu_delta(before: dict, after: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid, (label, cpu) in after.items():
        start = before.get(pid, (label, 0.0))[1]
        out[label] = out.get(label, 0.0) + cpu - start
    return out


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime
