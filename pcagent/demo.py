"""`pcagent demo`: the whole recording path on a fresh machine, with nothing to set up.

It starts a private virtual display, opens the bundled sample app on it, starts the
recorder, performs a scripted demonstration with real X input (xdotool), ends it with
the finish hotkey, and prints the recorded trajectory. No network, no GPU, and the
user's own desktop is never touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pcagent.cli import print_steps
from pcagent.record import default_out
from pcagent.recorder_process import RecorderProcess
from pcagent.virtual_display import DisplayError, VirtualDisplay
from tracker.trajectory import read_trajectory
from tracker.trajectory_check import check_trajectory

DEMO_TASK = "Enter the name Ada Lovelace, open Item 4, move the square, rename Item 2, scroll the list and save"


class DemoError(RuntimeError):
    pass


def _xdotool(env: dict, *args: object) -> None:
    subprocess.run(["xdotool", *map(str, args)], env=env, check=True, timeout=30)


def _launch_app(env: dict, log: Path) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "pcagent.sampleapp", "--log", str(log)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the sample app exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                event = json.loads(line)
                if event.get("event") == "ready":
                    return proc, event
        time.sleep(0.05)
    proc.kill()
    raise DemoError("the sample app did not start within 30 s")


def _center(rect: list[int]) -> tuple[int, int]:
    return (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2


def _demonstrate(env: dict, widgets: dict) -> None:
    """What a person would do for DEMO_TASK, as real X input."""
    def click(name: str, button: int = 1, repeat: int = 1) -> None:
        x, y = _center(widgets[name])
        _xdotool(env, "mousemove", x, y, "click", "--repeat", repeat, "--delay", 80, button)
        time.sleep(0.7)  # longer than the double-click window: one action each

    click("name")
    _xdotool(env, "type", "--delay", 40, "Ada Lovelace")
    _xdotool(env, "key", "Return")
    time.sleep(0.3)
    click("item_4", repeat=2)
    x1, y1 = _center(widgets["drag"])
    canvas = widgets["canvas"]
    x2, y2 = canvas[0] + 150, canvas[1] + 250
    steps = [f"mousemove {x1 + (x2 - x1) * i // 10} {y1 + (y2 - y1) * i // 10} sleep 0.02" for i in range(11)]
    _xdotool(env, "mousemove", x1, y1, "mousedown", 1, *" ".join(steps).split(), "mouseup", 1)
    time.sleep(0.3)
    click("item_2", button=3)
    _xdotool(env, "key", "Down", "Down", "Return")  # the menu's second entry: Rename
    time.sleep(0.3)
    x, y = _center(widgets["items"])
    _xdotool(env, "mousemove", x, y, "click", "--repeat", 3, "--delay", 40, 5)
    time.sleep(0.3)
    click("save")
    _xdotool(env, "key", "ctrl+shift+F10")  # the recorder's finish hotkey


def run_demo(args) -> int:
    if not shutil.which("xdotool"):
        print("pcagent demo: xdotool is not installed (apt-get install xdotool, or run "
              "installer/install-debian.sh)", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else default_out("demo")
    print("Starting a virtual display and the sample app ...", flush=True)
    try:
        with VirtualDisplay(1280, 800, accessibility=True) as display, \
                tempfile.TemporaryDirectory(prefix="pcagent-demo-") as scratch:
            env = display.child_env()
            app, ready = _launch_app(env, Path(scratch) / "app.jsonl")
            try:
                recorder = RecorderProcess(out, "--task", DEMO_TASK, "--idle-wait", "0", env=env).start()
                print(f"Recording the demonstration: {DEMO_TASK}", flush=True)
                try:
                    _demonstrate(env, ready["widgets"])
                    code = recorder.wait(60)
                except BaseException:
                    recorder.kill()
                    raise
            finally:
                app.terminate()
                app.wait(10)
    except (DisplayError, DemoError, subprocess.SubprocessError) as exc:
        print(f"pcagent demo: {exc}", file=sys.stderr)
        return 1
    if code != 0:
        print(f"pcagent demo: the recorder failed:\n{recorder.output}", file=sys.stderr)
        return 1
    trajectory = read_trajectory(out)
    print(f"\nRecorded {len(trajectory.steps)} steps (outcome: {trajectory.meta.get('outcome')}):")
    print_steps(trajectory)
    errors = [p for p in check_trajectory(out) if p.severity == "error"]
    for problem in errors:
        print(problem, file=sys.stderr)
    print(f"\nTrajectory: {out}\n  inspect it with: pcagent trace show {out}")
    return 1 if errors else 0
