"""Tray app UI thread benchmark: how long the UI thread stalls while the app records (goal: never over 50 ms).

Run from the repository root:

    .venv/bin/python benchmarks/app_ui_benchmark.py [--rounds 8] [--chars 150] [--out BENCHMARKS.md]

Everything happens on a private Xvfb (1280x800, openbox, trayer as the tray host, the AT-SPI bus, the sample
app); the user's desktop is never touched. `pcagent app` runs as a child process with its probe on
(PCAGENT_UI_PROBE=1: a 10 ms Qt timer whose lateness is how long the UI thread was busy), and reports through
`pcagent ctl status`. Two runs in the same session:

- baseline: the app idle in the tray for as long as the recording run takes;
- recording: `pcagent ctl record`, then each round clicks Save, clicks the name field, types --chars
  characters at full xdotool speed, opens the thought box with the hotkey, types a thought and presses
  Enter; then `pcagent ctl stop` (the recorder writes everything; the UI thread must not wait for it).

Printed: probe samples, the longest stall, and the number of stalls over 50 ms, for both runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.markdown_sections import write_section  # noqa: E402
from benchmarks.proc_stats import machine_info  # noqa: E402
from grounding.base import box_center  # noqa: E402
from pcagent.testbed.sampleapp_process import start_sample_app, stop_process  # noqa: E402
from pcagent.testbed.virtual_display import VirtualDisplay  # noqa: E402
from pcagent.testbed.xdo import Xdo  # noqa: E402

TITLE = "## Tray app: UI thread stalls while recording"


def ctl(env: dict, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "pcagent", "ctl", *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pcagent ctl {' '.join(args)}: {result.stderr.strip()}")
    return json.loads(subprocess.run([sys.executable, "-m", "pcagent", "ctl", "status"], env=env, cwd=ROOT,
                                     capture_output=True, text=True, timeout=60, check=True).stdout)


def start_app(env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pcagent", "app", "--idle-wait", "0"], env=env, cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if subprocess.run([sys.executable, "-m", "pcagent", "ctl", "status"], env=env, cwd=ROOT,
                          capture_output=True, timeout=30, check=False).returncode == 0:
            return proc
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"the app did not start: {log.read_text(errors='replace')[-2000:]}")


def record_session(env: dict, ready: dict, rounds: int, chars: int) -> tuple[dict, int]:
    xdo = Xdo(env)
    widgets = ready["widgets"]
    ctl(env, "record")
    for round_index in range(rounds):
        xdo.click(*box_center(widgets["save"]))
        time.sleep(0.6)
        xdo.click(*box_center(widgets["name"]))
        time.sleep(0.6)
        xdo.key("ctrl+a")
        xdo.type(("lorem ipsum dolor sit amet " * (chars // 27 + 1))[:chars], delay_ms=5)
        xdo.key("ctrl+alt+t")
        time.sleep(0.4)
        xdo.type(f"round {round_index}: I type and then save")
        xdo.key("Return")
        time.sleep(0.4)
    stopped = ctl(env, "stop")
    return stopped["ui_probe"], stopped["steps"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--chars", type=int, default=150)
    parser.add_argument("--out", type=Path, help="write the section into this BENCHMARKS.md")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pcagent-app-bench-"))
    display = VirtualDisplay(1280, 800, accessibility=True, window_manager="openbox").start()
    tray = sample = None
    try:
        env = display.child_env()
        env.update(XDG_DATA_HOME=str(folder / "data"), XDG_CONFIG_HOME=str(folder / "config"), PCAGENT_UI_PROBE="1")
        tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                 "--height", "24"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sample, ready = start_sample_app(env, folder / "sampleapp.jsonl")

        app = start_app(env, folder / "recording.log")
        started = time.monotonic()
        try:
            recording, steps = record_session(env, ready, args.rounds, args.chars)
        finally:
            stop_process(app, grace_s=20)
        duration = time.monotonic() - started

        app = start_app(env, folder / "baseline.log")
        try:
            time.sleep(duration)
            baseline = ctl(env, "status")["ui_probe"]
        finally:
            stop_process(app, grace_s=20)
    finally:
        for proc in (sample, tray):
            if proc is not None:
                stop_process(proc)
        display.stop()

    rows = [("idle in the tray (baseline)", baseline), (f"recording ({steps} steps, {args.rounds} thoughts)", recording)]
    info = machine_info()
    setup = (f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['libraries']}; "
             f"{duration:.0f} s each; probe: a 10 ms Qt timer's lateness.")
    lines = [TITLE, "", setup, "",
             "| run | probe samples | longest stall | stalls over 50 ms |", "|---|---|---|---|"]
    lines += [f"| {name} | {probe['samples']} | {probe['max_stall_ms']:.1f} ms | {probe['stalls_over_50ms']} |"
              for name, probe in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        write_section(args.out, TITLE, text)
    return 0 if recording["stalls_over_50ms"] == 0 else 1


if __name__ == "__main__":
    os.environ.setdefault("PCAGENT_CAPTURE", "auto")
    sys.exit(main())
