"""Replaying a click on an element that has no name (mousepad's empty text area): found again by its role,
application and place among its siblings in the live accessibility listing, not by name or crop.

On the display with openbox (``wm_display``). The replayed mousepad is another one: moved, resized and
in a dark theme, so neither the recorded coordinates nor the recorded crop would find the text area.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from grounding.accessibility import ElementInfo, list_elements, open_accessibility
from pcagent.agent.planners.replay import ReplayPlanner
from pcagent.agent.planners.role_refind import refind_by_role, same_place_inside
from pcagent.agent.types import PlanContext
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.sampleapp_process import stop_process
from pcagent.testbed.xdo import Xdo, grab
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta, read_trajectory

LINE = "Hello from the replay"
FILE_NAME = "saved-note.txt"
MOVED = (40, 60, 900, 560)  # x, y, width, height of the replayed mousepad window


class Mousepad:
    """One mousepad on the display, with a HOME of its own (its Save dialog opens there)."""

    def __init__(self, display, home: Path, dark: bool = False) -> None:
        self.home = home
        runtime = home / "runtime"
        runtime.mkdir(parents=True, mode=0o700)
        self.env = display.child_env()
        self.env.update({
            "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"), "XDG_RUNTIME_DIR": str(runtime), "GDK_BACKEND": "x11",
            "GTK_MODULES": "gail:atk-bridge", "NO_AT_BRIDGE": "0", "LANG": "C.UTF-8",
            "GTK_THEME": "Adwaita:dark" if dark else "Adwaita",
        })
        self.xdo = Xdo(self.env)
        self.proc = subprocess.Popen(["mousepad"], env=self.env, cwd=home, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.window = self.xdo.run("search", "--sync", "--onlyvisible", "--class", "mousepad").split()[0]

    def move(self, x: int, y: int, width: int, height: int) -> None:
        self.xdo.run("windowsize", "--sync", self.window, width, height)
        self.xdo.run("windowmove", "--sync", self.window, x, y)

    def stop(self) -> None:
        stop_process(self.proc, grace_s=10)


@pytest.fixture
def a11y(wm_display):
    if wm_display.accessibility_error:
        pytest.skip(wm_display.accessibility_error)
    backend = open_accessibility(env=dict(wm_display.env), timeout=5.0, query_timeout=2.0)
    assert backend.available, backend.reason
    yield backend
    backend.close()


@pytest.fixture
def mousepad(wm_display, tmp_path):
    """``mousepad(dark=False) -> Mousepad``; each is ended at teardown (it is one instance per D-Bus
    session: a second one started meanwhile would open its window in the first)."""
    if not shutil.which("mousepad") or not shutil.which("xdotool"):
        pytest.skip("mousepad and xdotool are needed: run installer/install-debian.sh --test")
    started: list[Mousepad] = []

    def start(dark: bool = False) -> Mousepad:
        for earlier in started:
            earlier.stop()
        app = Mousepad(wm_display, tmp_path / f"home-{len(started)}", dark)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


def text_area(a11y, timeout: float = 10.0) -> ElementInfo:
    """mousepad's text area as the live listing has it, once it has settled where its window is."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        found = [e for e in list_elements(a11y, everything=True, include_unnamed=True).elements
                 if e.role == "text" and e.application == "mousepad" and not e.name]
        if len(found) == 1 and found[0].rect == last:
            return found[0]
        last = found[0].rect if len(found) == 1 else None
        time.sleep(0.2)
    raise AssertionError("mousepad's text area never showed in the accessibility listing")


def inside(rect, point) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


def hand_built_trajectory(root: Path, shot: Image.Image, rect: tuple, point: tuple[int, int]) -> Path:
    """A click into the text area as the recorder writes it when the element has no name."""
    screens = [{"index": 0, "left": 0, "top": 0, "width": shot.width, "height": shot.height, "scale": 1.0,
                "primary": True}]
    element = {"name": None, "role": "text", "rect": list(rect), "application": "mousepad"}
    window = {"title": "Untitled 1 - Mousepad", "application": "mousepad"}
    with TrajectoryWriter(root, new_meta(screens=screens)) as writer:
        step = Step(0, time.time(), "human", f"click ({point[0]}, {point[1]})", None, point, element, window)
        path = root / "shot.png"
        shot.save(path)
        step.screenshot = writer.save_screenshot(0, path.read_bytes())
        writer.append_step(step)
        writer.close("finish")
    return root


# ---- the matching on its own --------------------------------------------------------------------------


def test_the_only_unnamed_element_of_its_role_and_application_is_the_one():
    text = ElementInfo(None, "text", (50, 80, 650, 480), "mousepad")
    listing = [ElementInfo("File", "menu", (0, 0, 40, 20), "mousepad"), text,
               ElementInfo("Find", "text", (0, 500, 100, 520), "mousepad"),  # named: another element
               ElementInfo(None, "text", (0, 0, 900, 30), "galculator"),  # another application
               ElementInfo(None, "text", (60, 90, 100, 100), "mousepad", covered=True)]  # under a dialog
    match = refind_by_role({"name": "", "role": "text", "rect": [0, 0, 10, 10], "application": "mousepad"},
                           None, listing)
    assert match.element is text and match.how == "the only unnamed text of mousepad"
    several = refind_by_role({"name": None, "role": "text", "application": "mousepad"}, None,
                             listing + [ElementInfo(None, "text", (700, 80, 900, 480), "mousepad")])
    assert several.element is None and len(several.siblings) == 2  # which one is not known: ask
    assert same_place_inside([100, 100, 300, 200], (150, 150), (0, 0, 400, 400)) == (100, 200)


# ---- on the display -----------------------------------------------------------------------------------


@pytest.mark.display
@pytest.mark.timeout(120)
def test_a_click_into_an_empty_text_area_is_replayed_on_a_moved_dark_editor(wm_display, mousepad, a11y, tmp_path):
    recorded_app = mousepad()
    recorded_rect = text_area(a11y).rect
    recorded_shot = grab(wm_display)
    point = (recorded_rect[0] + (recorded_rect[2] - recorded_rect[0]) // 3,
             recorded_rect[1] + (recorded_rect[3] - recorded_rect[1]) // 4)
    trajectory = hand_built_trajectory(tmp_path / "by-hand", recorded_shot, recorded_rect, point)
    recorded_app.stop()

    live_app = mousepad(dark=True)
    live_app.move(*MOVED)
    live = text_area(a11y)
    assert live.rect != recorded_rect
    planner = ReplayPlanner(trajectory, accessibility=a11y)
    output = planner.plan(PlanContext("type a note", grab(wm_display)))
    assert output.action.kind == "click", output
    assert output.details["engine"] == "accessibility-role", output.details
    assert output.details["by_role"]["how"] == "the only unnamed text of mousepad"
    x, y = output.action.point
    assert inside(live.rect, (x, y))
    # the same relative place inside the text area, give or take a pixel of rounding
    assert abs((x - live.rect[0]) / (live.rect[2] - live.rect[0]) - 1 / 3) < 0.01
    assert abs((y - live.rect[1]) / (live.rect[3] - live.rect[1]) - 1 / 4) < 0.01


def wait_for(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.1)


def save_dialog_is_open(a11y) -> bool:
    return any(e.name == "Save As" for e in list_elements(a11y, everything=True).elements)


@pytest.mark.display
@pytest.mark.timeout(240)
def test_a_recorded_mousepad_session_is_replayed_on_a_moved_dark_editor(wm_display, mousepad, a11y, tmp_path):
    """Recorded by the real recorder: a click into the empty text area, a typed line, ctrl+s, a typed
    file name, Enter. Replayed by `pcagent replay --mode auto` on another mousepad; the file on disk
    says whether the line went into the text area and was saved."""
    recorded_app = mousepad()
    rect = text_area(a11y).rect
    point = (rect[0] + (rect[2] - rect[0]) // 3, rect[1] + (rect[3] - rect[1]) // 4)
    recorder = RecorderProcess(tmp_path / "recorded", "--idle-wait", "0", env=wm_display.child_env()).start()
    try:
        xdo = recorded_app.xdo
        xdo.click(*point)
        time.sleep(0.7)  # past the double-click window
        xdo.type(LINE)
        time.sleep(1.0)  # a person's pause: the recorder has merged the line before the dialog takes focus
        xdo.key("ctrl+s")
        wait_for(lambda: save_dialog_is_open(a11y), "the Save As dialog")
        xdo.type(FILE_NAME)
        time.sleep(0.7)  # the dialog's name completion settles before Enter counts as Save
        xdo.key("Return")
        wait_for((recorded_app.home / FILE_NAME).exists, "saving the recorded file")
        assert recorder.stop() == 0, recorder.output
    finally:
        recorder.kill()
    recorded_app.stop()
    steps = read_trajectory(recorder.out).steps
    print("\nrecorded steps:\n" + "\n".join(f"  {s.action}  element={s.element}  window={s.window}" for s in steps))
    assert [s.action for s in steps] == [f"click ({point[0]}, {point[1]})", f"type text: {LINE}",
                                         "hotkey (ctrl, s)", f"type text: {FILE_NAME}", "press key: enter"]

    live_app = mousepad(dark=True)
    live_app.move(*MOVED)
    assert text_area(a11y).rect != rect
    replay = subprocess.run(
        [sys.executable, "-m", "pcagent", "replay", str(recorder.out), "--mode", "auto", "--settle", "1.5",
         "--max-steps", "8", "--out", str(tmp_path / "replayed")],
        env=wm_display.child_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    print(replay.stdout[-3000:])
    saved = live_app.home / FILE_NAME
    wait_for(saved.exists, f"the replay saving {saved}\n{replay.stdout[-2000:]}{replay.stderr[-2000:]}", timeout=5)
    assert saved.read_text().rstrip("\n") == LINE
    first = read_trajectory(tmp_path / "replayed").steps[0]
    assert first.extra["planner_details"]["engine"] == "accessibility-role", first.extra
