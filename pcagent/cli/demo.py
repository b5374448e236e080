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
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from grounding.base import box_center
from models.backends.openai_compat import OpenAICompatibleModel
from models.errors import ModelError
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer
from pcagent.cli import exit_codes
from pcagent.cli.trace.inspect import print_steps
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.sampleapp_process import SampleAppError, start_sample_app, stop_process
from pcagent.testbed.virtual_display import DisplayError, VirtualDisplay
from pcagent.testbed.xdo import Xdo
from tracker.completion import CompletionOptions, PromptError, complete_trajectories
from tracker.datasets.sources import DatasetError
from tracker.format.actions import ActionError, parse_action
from tracker.format.trajectory import Step, Trajectory, TrajectoryError, read_trajectory
from tracker.format.trajectory_check import check_trajectory
from tracker.recording.options import new_trajectory_folder
from tracker.report import write_report

DEMO_TASK = "Enter the name Ada Lovelace, open Item 4, move the square, rename Item 2, scroll the list and save"
PANEL_PICTURE = "approval-panel.png"
COUNTDOWN_S = 1.0  # each replayed step waits this long in the approval panel, then approves itself
# The stand-in that completes the demonstration's thoughts: its name is in every thought it writes (and in
# the report), so that nobody takes them for a real model's.
SCRIPTED_MODEL = "scripted-demo-model"
SCRIPTED_PROFILE = "scripted-demo"


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


_ROLE_NOUNS = {"push button": "button", "text": "field", "entry": "field", "password text": "field",
               "check box": "check box", "radio button": "option", "menu item": "menu entry",
               "combo box": "drop-down list", "page tab": "tab"}
_KEY_PURPOSES = {"enter": "to confirm it", "down": "to move to the next entry", "up": "to move to the entry above",
                 "escape": "to close it", "tab": "to move to the next field"}


def _target(step: Step) -> str:
    """The step's recorded target in words ('the "Save" button', '"Item 4"'); '' when none was recorded."""
    element = step.element or {}
    name = " ".join(str(element.get("name") or "").split())
    if not name:
        return ""
    noun = _ROLE_NOUNS.get(str(element.get("role") or ""))
    return f'the "{name}" {noun}' if noun else f'"{name}"'


def scripted_thought(step: Step) -> str:
    """What the demo's scripted model answers for a step's thought: a short first-person thought written
    from the recorded action and its target."""
    try:
        action = parse_action(step.action)
    except ActionError:
        return "I take the next step of the task."
    target, role = _target(step), str((step.element or {}).get("role") or "")
    kind = action.kind
    if kind == "click":
        if not target:
            return "I click where the next part of the task is."
        if role in ("text", "entry", "password text"):
            return f"I click {target} so that I can type into it."
        return f"I click {target}, the next thing the task asks for."
    if kind in ("double_click", "right_click", "middle_click"):
        verb = {"double_click": "double-click", "right_click": "right-click", "middle_click": "middle-click"}[kind]
        purpose = {"double_click": " to open it", "right_click": " to open its context menu"}.get(kind, "")
        return f"I {verb} {target or 'there'}{purpose}."
    if kind == "drag":
        return f"I drag {target} to its new place." if target else "I drag it to its new place."
    if kind == "scroll":
        dy = action.delta[1] if action.delta else 0
        direction = "down" if dy < 0 else "up" if dy > 0 else "sideways"
        return f"I scroll {direction} to see more of the {'list' if role == 'list item' else 'window'}."
    if kind == "type_text":
        into = f" into {target}" if target and role in ("text", "entry", "password text") else ""
        return f'I type "{action.text}"{into}, as the task asks.'
    if kind == "press_key":
        key = action.keys[0]
        return f"I press {key.capitalize()} {_KEY_PURPOSES.get(key, 'for the next part of the task')}."
    if kind == "hotkey":
        return f"I press {'+'.join(key.capitalize() for key in action.keys)} for the next part of the task."
    return {"wait": "I wait for the screen to settle.", "finish": "Everything the task asks for is done, so I finish.",
            "fail": "I cannot do this task, so I stop.",
            "call_user": "I need the user here, so I ask them."}.get(kind, "I take the next step of the task.")


def _thought_script(trajectory: Trajectory) -> list[dict]:
    """One script entry per step, matched on the thought prompt's own line for the step (its number, so
    that two equal actions get their own answers)."""
    count = len(trajectory.steps)
    return [{"match": re.escape(f"Step {number} of {count}. The action taken now: {step.action}"),
             "response": scripted_thought(step)} for number, step in enumerate(trajectory.steps, start=1)]


def complete_thoughts(recorded: Path) -> bool:
    """Complete the recording's missing thoughts with the scripted model (thoughts the human typed stay);
    print them. False when some step could not be completed (each failure printed)."""
    trajectory = read_trajectory(recorded)
    started = time.monotonic()
    with ScriptedServer(_thought_script(trajectory), model=SCRIPTED_MODEL) as server:
        # a small image keeps the requests quick: the scripted model reads only the prompt's text
        profile = ModelProfile(name=SCRIPTED_PROFILE, model=SCRIPTED_MODEL, base_url=server.base_url,
                               image_max_pixels=320 * 200, image_format="jpeg", timeout_s=10.0, max_retries=0)
        with httpx.Client(trust_env=False) as client:  # loopback, straight: no proxy from the environment
            model = OpenAICompatibleModel(profile, client=client)
            try:
                summary = complete_trajectories([recorded], model, profile,
                                                CompletionOptions(passes=("thought",), cache_dir=None))
            finally:
                model.close()
    counts = summary.counts["thought"]
    print(f"\nCompleted {counts.done} thoughts ({counts.skipped} already there) in "
          f"{time.monotonic() - started:.1f} s with {SCRIPTED_MODEL}, a scripted stand-in on loopback that "
          "answers from the recorded steps (with a real model: pcagent trace complete DIR --model PROFILE):")
    for step in read_trajectory(recorded).steps:
        thought = step.extra.get("thought")
        if isinstance(thought, dict):
            by = f" by {thought['model']}" if thought.get("model") else ""
            print(f"  {step.index:3d}  {thought.get('text')}  ({thought.get('source')}{by})")
    for failure in summary.failures:
        print(f"pcagent demo: thought of step {failure.step} failed: {failure.error}", file=sys.stderr)
    for problem in summary.problems:
        print(f"pcagent demo: {problem}", file=sys.stderr)
    return summary.ok


def run_demo(args) -> int:
    if not shutil.which("xdotool"):
        print("pcagent demo: xdotool is not installed (apt-get install xdotool, or run "
              "installer/install-debian.sh)", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else new_trajectory_folder("demo")
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
    try:
        completed = complete_thoughts(recorded)
    except (OSError, ModelError, PromptError, TrajectoryError) as exc:  # loopback refused, a broken prompt file
        print(f"pcagent demo: completing the thoughts failed: {exc}", file=sys.stderr)
        completed = False
    errors = [p for path in (recorded, replayed) if path.exists()
              for p in check_trajectory(path) if p.severity == "error"]
    for problem in errors:
        print(problem, file=sys.stderr)
    print(f"\nTrajectories:\n  recorded: {recorded}\n  replayed: {replayed}\n"
          f"  inspect them with: pcagent trace show {recorded}")
    if (out / PANEL_PICTURE).exists():
        print(f"The approval panel at work: {out / PANEL_PICTURE}")
    reported = _write_reports({"the demonstration": recorded, "the replay": replayed})
    return 1 if errors or replay_code != 0 or not completed or not reported else 0


def _write_reports(folders: dict[str, Path]) -> bool:
    """Each trajectory's HTML report, its path printed; False when one could not be written or shows a
    problem (printed)."""
    ok = True
    print("HTML reports (they work offline):")
    for label, folder in folders.items():
        if not folder.exists():
            continue
        try:
            result = write_report(folder)
        except DatasetError as exc:
            print(f"pcagent demo: no report for {folder}: {exc}", file=sys.stderr)
            ok = False
            continue
        for problem in result.problems:
            print(problem, file=sys.stderr)
        ok = ok and not any(problem.startswith("error:") for problem in result.problems)
        print(f"  report of {label}: {result.path}")
    return ok


def register(commands) -> None:
    demo = commands.add_parser("demo", help="record a scripted demonstration of the sample app on a virtual "
                                            "display, replay it, complete its thoughts with a scripted model "
                                            "and write HTML reports")
    demo.add_argument("--out", help="trajectory folder (default: a new folder under the data dir)")
    demo.add_argument("--show", action="store_true",
                      help="run on your own display to watch it (it takes the mouse and keyboard meanwhile) "
                           "instead of a private virtual one")
    demo.set_defaults(func=run_demo)
