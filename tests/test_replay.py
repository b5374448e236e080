"""pcagent.agent.planners.replay: replaying a real recording on a moved layout, re-grounding every target.

The recording is made once per module by the real recorder (`pcagent record` as a child process) while
xdotool clicks Save, clicks the Name field, types "Ada", presses Enter and clicks Delete. The tests then
drive ReplayPlanner directly with real screenshots and execute its actions with xdotool.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from grounding.accessibility import NullAccessibility, open_accessibility
from grounding.accessibility import list_elements
from grounding.base import Candidate, GroundingHints, GroundingResult
from pcagent.agent.types import PlanContext
from pcagent.agent.executor import PyAutoGuiExecutor
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.agent.planners.replay import ReplayPlanner, default_replay_grounder
from pcagent.testbed.sampleapp_process import start_sample_app, stop_process
from pcagent.testbed.xdo import Xdo
from tracker.format.actions import Action, parse_action
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta, read_trajectory

TASK = "Save, enter the name Ada, delete"
XDO_KEYS = {"enter": "Return", "esc": "Escape", "tab": "Tab", "backspace": "BackSpace"}


def inside(rect, point) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


# ---- the recording ----------------------------------------------------------------------------------


def _start_app(env: dict, log: Path, *args: str) -> tuple[subprocess.Popen, dict]:
    """The sample app, once it logged "ready" (the module fixture cannot use launch_sample_app)."""
    return start_sample_app(env, log, *args)


_stop = stop_process


@pytest.fixture(scope="module")
def recording(xdisplay, tmp_path_factory):
    """(trajectory folder, the default layout's widget rectangles) of a real recorded demonstration."""
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed")
    if xdisplay.accessibility_error:
        pytest.skip(xdisplay.accessibility_error)
    scratch = tmp_path_factory.mktemp("replay")
    env = xdisplay.child_env()
    app, ready = _start_app(env, scratch / "app.jsonl")
    out = scratch / "trajectory"
    recorder = RecorderProcess(out, "--task", TASK, "--idle-wait", "0", env=env)
    try:
        recorder.start()
        widgets = ready["widgets"]
        xdo = Xdo(env)
        for action in ("save", "name", "type", "delete"):
            if action == "type":
                xdo.type("Ada")
                xdo.key("Return")
            else:
                rect = widgets[action]
                xdo.click((rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2)
            time.sleep(0.7)  # one step each, never a double click
        assert recorder.stop() == 0, recorder.output
    finally:
        recorder.kill()
        _stop(app)
    time.sleep(0.3)  # the window is gone from the screen before a test starts another app
    steps = read_trajectory(out).steps
    actions = [step.action for step in steps]
    # without element names this is a different test (crop-only); say why instead of failing obscurely
    assert steps and steps[0].element and steps[0].element.get("name") == "Save", (
        f"the recorder saw no accessible elements: {read_trajectory(out).meta['recorder'].get('accessibility_reason')}")
    assert [a.split(" (")[0] for a in actions] == ["click", "click", "type text: Ada", "press key: enter", "click"]
    return out, {name: tuple(rect) for name, rect in widgets.items()}


@pytest.fixture
def a11y(xdisplay):
    """The virtual display's AT-SPI backend (generous timeouts: other test sessions may load the machine)."""
    if xdisplay.accessibility_error:
        pytest.skip(xdisplay.accessibility_error)
    backend = open_accessibility(env=dict(xdisplay.env), timeout=5.0, query_timeout=2.0)
    assert not isinstance(backend, NullAccessibility), backend.reason
    yield backend
    backend.close()


@pytest.fixture
def grounder(a11y):
    """The default replay grounder, its accessibility engine on the virtual display's AT-SPI bus."""
    return default_replay_grounder(a11y)


def wait_until_listed(a11y, name: str, timeout: float = 5.0) -> None:
    """A freshly started app registers with AT-SPI a moment after its window shows."""
    deadline = time.monotonic() + timeout
    while not any(e.name == name for e in list_elements(a11y).elements):
        assert time.monotonic() < deadline, f"{name!r} never appeared in the accessibility tree"
        time.sleep(0.1)


def execute(xdo: Xdo, action: Action) -> None:
    """The few actions this recording has, as real X input."""
    if action.kind == "click":
        xdo.click(*action.point)
    elif action.kind == "type_text":
        xdo.type(action.text)
    elif action.kind == "press_key":
        xdo.key(XDO_KEYS.get(action.keys[0], action.keys[0]))
    else:
        raise AssertionError(f"unexpected action {action}")


def context(grab, index: int) -> PlanContext:
    return PlanContext(task=TASK, screenshot=grab(), step_index=index)


# ---- on the virtual display -------------------------------------------------------------------------


@pytest.mark.display
@pytest.mark.timeout(180)
def test_replay_regrounds_every_target_on_the_moved_layout(recording, launch_sample_app, xdisplay, grab, grounder,
                                                         a11y):
    """Planned by ReplayPlanner, executed by the agent's own executor (pyautogui)."""
    trajectory, recorded_widgets = recording
    executor = PyAutoGuiExecutor(display=xdisplay.display, wait_s=0.2)
    app = launch_sample_app("--layout", "moved")
    wait_until_listed(a11y, "Delete")
    assert app.widgets["save"] != recorded_widgets["save"]  # the layout really moved
    planner = ReplayPlanner(trajectory, grounder=grounder)
    assert planner.kind == "replay"
    targets = {0: "save", 1: "name", 4: "delete"}
    timings, outputs = [], []
    for index in range(10):
        ctx = context(grab, index)
        start = time.perf_counter()
        output = planner.plan(ctx)
        timings.append(time.perf_counter() - start)
        outputs.append(output)
        action = output.action
        if action.kind == "finish":
            break
        assert action.kind != "call_user", output
        if index in targets:
            assert inside(app.widgets[targets[index]], action.point), (index, output, app.widgets[targets[index]])
            assert output.details["recorded_point"] != output.details["grounded_point"]
            assert output.details["engine"] == "accessibility", output.details
            assert output.details["confidence"] >= 0.9
        executor.execute(action)
        if index == 0:
            app.wait_for("button_clicked", name="Save")
        time.sleep(0.2)  # let the app react (focus, text) before the next screenshot
    assert [str(o.action).split(" (")[0] for o in outputs] == [
        "click", "click", "type text: Ada", "press key: enter", "click", "finish"]
    app.wait_for("name_return", text="Ada")
    app.wait_for("button_clicked", name="Delete")
    assert app.events("name_changed")[-1]["text"] == "Ada"
    assert outputs[0].thought == "Replaying step 0: " + read_trajectory(trajectory).steps[0].action + " on Save"
    print(f"\nreplay plan() per step on the moved layout: "
          f"{', '.join(f'{t * 1000:.0f} ms' for t in timings)}")


@pytest.mark.display
@pytest.mark.timeout(120)
def test_the_template_finds_a_target_when_accessibility_cannot(recording, launch_sample_app, grab):
    trajectory, _ = recording
    app = launch_sample_app("--layout", "moved")
    planner = ReplayPlanner(trajectory, grounder=default_replay_grounder(NullAccessibility("switched off")))
    start = time.perf_counter()
    output = planner.plan(context(grab, 0))
    elapsed = time.perf_counter() - start
    assert output.details["engine"] == "template", output.details
    assert inside(app.widgets["save"], output.action.point)
    print(f"\nreplay plan() by template: {elapsed * 1000:.0f} ms")


@pytest.mark.display
@pytest.mark.timeout(120)
def test_exact_mode_asks_the_user_when_the_target_moved(recording, launch_sample_app, grab):
    trajectory, _ = recording
    launch_sample_app("--layout", "moved")
    planner = ReplayPlanner(trajectory, exact=True)
    output = planner.plan(context(grab, 0))
    assert output.action.kind == "call_user"
    assert output.action.text.startswith("step 0: the screen at (") and output.action.text.endswith("no longer shows Save")
    assert planner.position == 0  # asked again next time, not skipped


@pytest.mark.display
@pytest.mark.timeout(120)
def test_exact_mode_on_the_same_layout_replays_the_recorded_coordinates(recording, launch_sample_app, xdo, grab):
    trajectory, _ = recording
    app = launch_sample_app()
    recorded = [step.action for step in read_trajectory(trajectory).steps]
    planner = ReplayPlanner(trajectory, exact=True)
    replayed = []
    for index in range(len(recorded)):
        output = planner.plan(context(grab, index))
        assert output.action.kind != "call_user", output
        replayed.append(str(output.action))
        execute(xdo, output.action)
        time.sleep(0.2)
    assert replayed == recorded
    assert planner.plan(context(grab, len(recorded))).action.kind == "finish"
    app.wait_for("button_clicked", name="Delete")


@pytest.mark.display
@pytest.mark.timeout(120)
def test_a_target_found_nowhere_asks_the_user(recording, grab, grounder):
    trajectory, _ = recording
    # no application at all: nothing to find by name, crop or text
    ctx = context(grab, 0)
    output = ReplayPlanner(trajectory, grounder=grounder).plan(ctx)
    assert output.action.kind == "call_user", output
    assert output.action.text.startswith("step 0: could not find 'Save' on the screen")
    assert "grounded_point" not in output.details


@pytest.mark.display
@pytest.mark.timeout(120)
def test_an_element_that_is_not_there_is_never_guessed(recording, launch_sample_app, grab, grounder, a11y, tmp_path):
    """A recorded "Publish" button (drawn where Save was) on an app that has none."""
    source, _ = recording
    first = read_trajectory(source).steps[0]
    shot = Image.open(source / first.screenshot).convert("RGB")
    left, top, right, bottom = first.element["rect"]
    draw = ImageDraw.Draw(shot)
    draw.rectangle((left + 6, top + 6, right - 6, bottom - 6), fill=(250, 250, 250))
    draw.text((left + 22, top + 12), "Publish", fill=(0, 0, 0))
    step = Step(0, first.time, "human", first.action, None, first.pointer,
                {**first.element, "name": "Publish"}, first.window)
    trajectory = write_trajectory(tmp_path / "publish", [(step, shot)])
    launch_sample_app("--layout", "moved")
    wait_until_listed(a11y, "Delete")
    output = ReplayPlanner(trajectory, grounder=grounder).plan(context(grab, 0))
    assert output.action.kind == "call_user", output
    assert "could not find 'Publish'" in output.action.text


@pytest.mark.display
@pytest.mark.timeout(120)
def test_a_step_recorded_without_an_element_is_found_by_the_text_beside_it(recording, launch_sample_app, grab,
                                                                          grounder, a11y, tmp_path):
    """A right click opens a menu on the press, which can hide the element from AT-SPI: the step then
    has no element, and the label read off the recorded screenshot names the target."""
    source, widgets = recording
    first = read_trajectory(source).steps[0]  # the click on Save
    shot = Image.open(source / first.screenshot).convert("RGB")
    step = Step(0, first.time, "human", first.action, None, first.pointer, None, first.window)
    trajectory = write_trajectory(tmp_path / "unnamed", [(step, shot)])
    app = launch_sample_app("--layout", "moved")
    wait_until_listed(a11y, "Save")
    output = ReplayPlanner(trajectory, grounder=grounder).plan(context(grab, 0))
    assert output.details.get("label_from_screenshot") == "Save", output.details
    assert output.action.kind == "click" and inside(app.widgets["save"], output.action.point), output


# ---- without a display: the bookkeeping -------------------------------------------------------------


def write_trajectory(root: Path, steps: list[tuple[Step, Image.Image | None]], outcome: str = "finish") -> Path:
    screens = [{"index": 0, "left": 0, "top": 0, "width": 400, "height": 300, "scale": 1.0, "primary": True}]
    with TrajectoryWriter(root, new_meta(screens=screens)) as writer:
        for step, image in steps:
            if image is not None:
                buffer = io.BytesIO()
                image.save(buffer, "PNG")
                step.screenshot = writer.save_screenshot(step.index, buffer.getvalue())
            writer.append_step(step)
        writer.close(outcome)
    return root


class FixedGrounder:
    """Finds every target at one box (or nowhere), and remembers what it was asked."""

    name = "fixed"

    def __init__(self, box=None, confidence=0.95, engine="accessibility"):
        self.box, self.confidence, self.engine = box, confidence, engine
        self.asked: list[tuple[str, GroundingHints]] = []

    def ground(self, screenshot, description, hints=None):
        self.asked.append((description, hints))
        if self.box is None:
            return GroundingResult.not_found(self.engine, "not there")
        point = ((self.box[0] + self.box[2]) // 2, (self.box[1] + self.box[3]) // 2)
        return GroundingResult.hit(Candidate(point, self.box, self.confidence, description, self.engine))


def busy_image(seed: int = 0) -> Image.Image:
    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    for i in range(0, 400, 23):
        draw.line((i, 0, (i * 7 + seed) % 400, 300), fill=((i * 5) % 255, 80, 160))
    return image


def make_step(index, action, element=None, **extra):
    pointer = parse_action(action).point
    return Step(index, 1000.0 + index, "human", action, None, pointer, element, None, extra)


def test_steps_are_replayed_in_order_with_thoughts_and_the_drag_end_moves_with_its_start(tmp_path):
    button = {"name": "OK", "role": "push button", "rect": [40, 40, 100, 70], "application": "x"}
    steps = [
        (make_step(0, "click (50, 50)", button, thought={"text": "I confirm.", "source": "human"}), busy_image()),
        (make_step(1, "wait"), None),
        (make_step(2, "call user: is this right?"), None),
        (make_step(3, "drag from (70, 55) to (200, 150)", button), busy_image()),
        (make_step(4, "scroll (0, -3)"), None),
    ]
    root = write_trajectory(tmp_path / "t", steps, outcome="fail")
    grounder = FixedGrounder(box=(240, 140, 300, 170))  # the button, 200 px right and 100 px down
    planner = ReplayPlanner(root, grounder=grounder)
    outputs = [planner.plan(PlanContext(TASK, busy_image(1), step_index=i)) for i in range(5)]
    assert [str(o.action) for o in outputs] == [
        "click (250, 150)", "wait", "drag from (270, 155) to (400, 250)", "scroll (0, -3)", "fail"]
    assert outputs[0].thought == "I confirm."
    assert outputs[2].thought == "Replaying step 3: drag from (70, 55) to (200, 150) on OK"
    assert outputs[0].details["recorded_point"] == [50, 50] and outputs[0].details["grounded_point"] == [250, 150]
    assert outputs[0].details["engine"] == "accessibility" and outputs[0].details["confidence"] == 0.95
    description, hints = grounder.asked[0]
    assert description == "OK" and hints.element_name == "OK" and hints.role == "push button"
    assert hints.near == (50, 50) and hints.template.size == (68, 38)  # the rect plus 4 px around it


def test_a_low_confidence_answer_asks_the_user_and_the_step_is_tried_again(tmp_path):
    root = write_trajectory(tmp_path / "t", [(make_step(0, "click (50, 50)", {"name": "OK"}), busy_image())])
    planner = ReplayPlanner(root, grounder=FixedGrounder(box=(0, 0, 10, 10), confidence=0.3))
    first = planner.plan(PlanContext(TASK, busy_image(1)))
    assert first.action.kind == "call_user" and first.action.text.startswith("step 0: could not find 'OK'")
    planner._grounder = FixedGrounder(box=(0, 0, 10, 10))
    assert str(planner.plan(PlanContext(TASK, busy_image(1))).action) == "click (5, 5)"
    assert planner.plan(PlanContext(TASK, busy_image(1))).action.kind == "finish"


def test_an_unnamed_target_is_looked_for_by_its_crop_only(tmp_path):
    recorded = busy_image()
    root = write_trajectory(tmp_path / "t", [(make_step(0, "click (200, 150)"), recorded)])
    grounder = FixedGrounder(box=(0, 0, 10, 10))
    live = Image.new("RGB", (400, 300), "white")
    live.paste(recorded.crop((170, 130, 230, 170)), (40, 30))  # the crop, moved by (-130, -100)
    output = ReplayPlanner(root, grounder=grounder).plan(PlanContext(TASK, live))
    assert grounder.asked == []  # no name: the text engines are not asked
    assert output.details["engine"] == "template" and str(output.action) == "click (70, 50)"
