"""`pcagent demo`: the whole recording path on a fresh machine, with nothing to set up.

It starts a private virtual display, opens the bundled sample app on it, starts the
recorder, performs a scripted demonstration with real X input (xdotool), ends it with
the finish hotkey, and prints the recorded trajectory. Then the agent replays it on the
app with its widgets moved, each step shown in the tray app's approval panel and approved
by the panel's countdown; a picture of the panel at work goes into the demo's folder. No
network, no GPU, and the user's own desktop is never touched — unless `--show` asks to
watch it there (it then takes the mouse and keyboard for a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pcagent.cli import exit_codes
from pcagent.cli.trace.inspect import print_steps
from grounding.base import box_center
from pcagent.cli.record import default_out
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.sampleapp_process import SampleAppError, start_sample_app, stop_process
from pcagent.testbed.virtual_display import DisplayError, VirtualDisplay
from pcagent.testbed.xdo import Xdo
from tracker.format.trajectory import read_trajectory
from tracker.format.trajectory_check import check_trajectory

DEMO_TASK = "Enter the name Ada Lovelace, open Item 4, move the square, rename Item 2, scroll the list and save"
PANEL_PICTURE = "approval-panel.png"
COUNTDOWN_S = 1.0  # each replayed step waits this long in the approval panel, then approves itself


class DemoError(RuntimeError):
    pass


def _launch_app(env: dict, log: Path, *args: str) -> tuple[subprocess.Popen, dict]:
    try:
        return start_sample_app(env, log, *args)
    except SampleAppError as exc:
        raise DemoError(str(exc)) from exc


def _demonstrate(env: dict, widgets: dict) -> None:
    """What a person would do for DEMO_TASK, as real X input."""
    xdo = Xdo(env)

    def click(name: str, button: int = 1, repeat: int = 1) -> None:
        x, y = box_center(widgets[name])
        xdo.run("mousemove", x, y, "click", "--repeat", repeat, "--delay", 80, button)
        time.sleep(0.7)  # longer than the double-click window: one action each

    click("name")
    xdo.run("type", "--delay", 40, "Ada Lovelace")
    xdo.run("key", "Return")
    time.sleep(0.3)
    click("item_4", repeat=2)
    x1, y1 = box_center(widgets["drag"])
    canvas = widgets["canvas"]
    x2, y2 = canvas[0] + 150, canvas[1] + 250
    steps = [f"mousemove {x1 + (x2 - x1) * i // 10} {y1 + (y2 - y1) * i // 10} sleep 0.02" for i in range(11)]
    xdo.run("mousemove", x1, y1, "mousedown", 1, *" ".join(steps).split(), "mouseup", 1)
    time.sleep(0.3)
    click("item_2", button=3)
    xdo.run("key", "Down", "Down", "Return")  # the menu's second entry: Rename
    time.sleep(0.3)
    x, y = box_center(widgets["items"])
    xdo.run("mousemove", x, y, "click", "--repeat", 3, "--delay", 40, 5)
    time.sleep(0.3)
    click("save")
    xdo.run("key", "ctrl+shift+F10")  # the recorder's finish hotkey


class _UsersDisplay:
    """--show: the user's own display in place of a private one."""

    def __enter__(self) -> _UsersDisplay:
        if not os.environ.get("DISPLAY"):
            raise DisplayError("--show needs a display: DISPLAY is not set")
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def child_env(self) -> dict:
        return dict(os.environ)


def _replay(env: dict, recorded: Path, replayed: Path, panel_picture: Path) -> int:
    """`pcagent replay` of the recording, each step approved in the approval panel by its countdown, its
    output streamed to ours."""
    proc = subprocess.Popen([sys.executable, "-m", "pcagent", "replay", str(recorded), "--mode", "confirm",
                             "--panel", "--countdown", str(COUNTDOWN_S), "--panel-snapshot", str(panel_picture),
                             "--out", str(replayed), "--settle", "0.5"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            print(f"  {line.rstrip()}", flush=True)
        return proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()


def _app_summary(log: Path) -> str:
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    names = [e["text"] for e in events if e.get("event") == "name_changed"]
    clicked = [e["name"] for e in events if e.get("event") == "button_clicked"]
    opened = [e["text"] for e in events if e.get("event") == "item_double_clicked"]
    return (f"name field: {names[-1] if names else '(empty)'!r}; opened: {', '.join(opened) or 'nothing'}; "
            f"buttons clicked: {', '.join(clicked) or 'none'}")


def run_demo(args) -> int:
    if not shutil.which("xdotool"):
        print("pcagent demo: xdotool is not installed (apt-get install xdotool, or run "
              "installer/install-debian.sh)", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else default_out("demo")
    recorded, replayed = out / "recorded", out / "replayed"
    print("Starting the sample app on your display (hands off the mouse and keyboard) ..." if args.show
          else "Starting a virtual display and the sample app ...", flush=True)
    try:
        with (_UsersDisplay() if args.show else VirtualDisplay(1280, 800, accessibility=True)) as display, \
                tempfile.TemporaryDirectory(prefix="pcagent-demo-") as scratch:
            env = display.child_env()
            app, ready = _launch_app(env, Path(scratch) / "app.jsonl")
            try:
                recorder = RecorderProcess(recorded, "--task", DEMO_TASK, "--idle-wait", "0", env=env).start()
                print(f"Recording the demonstration: {DEMO_TASK}", flush=True)
                try:
                    _demonstrate(env, ready["widgets"])
                    code = recorder.wait(60)
                except BaseException:
                    recorder.kill()
                    raise
            finally:
                stop_process(app, grace_s=10)
            if code != 0:
                print(f"pcagent demo: the recorder failed:\n{recorder.output}", file=sys.stderr)
                return 1
            trajectory = read_trajectory(recorded)
            print(f"\nRecorded {len(trajectory.steps)} steps (outcome: {trajectory.meta.get('outcome')}):")
            print_steps(trajectory)
            print("\nThe app now opens with its widgets moved; the agent replays the demonstration, "
                  "finding each target again (accessibility tree, the recorded crop, OCR). Each step waits "
                  f"{COUNTDOWN_S:g} s in the approval panel, then approves itself:", flush=True)
            log = Path(scratch) / "app-moved.jsonl"
            app, _ = _launch_app(env, log, "--layout", "moved")
            try:
                replay_code = _replay(env, recorded, replayed, out / PANEL_PICTURE)
            finally:
                stop_process(app, grace_s=10)
            print(f"\nWhat the moved app saw: {_app_summary(log)}")
    except (DisplayError, DemoError, subprocess.SubprocessError) as exc:
        print(f"pcagent demo: {exc}", file=sys.stderr)
        return exit_codes.exit_code_for(exc)
    errors = [p for path in (recorded, replayed) if path.exists()
              for p in check_trajectory(path) if p.severity == "error"]
    for problem in errors:
        print(problem, file=sys.stderr)
    print(f"\nTrajectories:\n  recorded: {recorded}\n  replayed: {replayed}\n"
          f"  inspect them with: pcagent trace show {recorded}")
    if (out / PANEL_PICTURE).exists():
        print(f"The approval panel at work: {out / PANEL_PICTURE}")
    return 1 if errors or replay_code != 0 else 0


def register(commands) -> None:
    demo = commands.add_parser("demo", help="record a scripted demonstration of the sample app "
                                            "on a virtual display and print the steps")
    demo.add_argument("--out", help="trajectory folder (default: a new folder under the data dir)")
    demo.add_argument("--show", action="store_true",
                      help="run on your own display to watch it (it takes the mouse and keyboard meanwhile) "
                           "instead of a private virtual one")
    demo.set_defaults(func=run_demo)
