"""PyAutoGuiExecutor on a real X display: every action kind reaches the sample app, refused actions
inject nothing, and the injection ledger claims exactly the executor's own input."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time

import pytest

from pcagent.agent.executor import ExecutionError, PyAutoGuiExecutor
from tracker.format import actions
from tracker.recording.injection import InjectionLedger
from tracker.recording.input_events import InputEvent, KeyEvent, MouseButtonEvent, ScrollEvent
from tracker.recording.input_listener import InputListener

pytestmark = pytest.mark.display

INPUT_EVENTS = ("mouse_press", "key", "wheel")


@pytest.fixture
def executor(xdisplay) -> PyAutoGuiExecutor:
    executor = PyAutoGuiExecutor(display=xdisplay.display, wait_s=0.2)
    executor.connect()
    return executor


def input_event_count(app) -> int:
    return sum(1 for e in app.events() if e.get("event") in INPUT_EVENTS)


def focus_name_field(executor: PyAutoGuiExecutor, app) -> None:
    executor.execute(actions.click(*app.center("name")))
    app.wait_for("mouse_press")


# ----- each action kind reaches the app ------------------------------------------------------------


def test_click_presses_button(executor, sample_app):
    executor.execute(actions.click(*sample_app.center("save")))
    sample_app.wait_for("button_clicked", name="Save")


def test_double_click_opens_item(executor, sample_app):
    executor.execute(actions.double_click(*sample_app.center("item_3")))
    sample_app.wait_for("item_double_clicked", text="Item 3")


def test_right_click_shows_context_menu(executor, sample_app):
    x, y = sample_app.center("item_5")
    executor.execute(actions.right_click(x, y))
    menu = sample_app.wait_for("context_menu_shown")
    assert menu["item"] == "Item 5" and abs(menu["x"] - x) <= 1 and abs(menu["y"] - y) <= 1
    executor.execute(actions.press_key("esc"))


def test_middle_click_at_point(executor, sample_app):
    x, y = sample_app.center("pad")
    executor.execute(actions.middle_click(x, y))
    sample_app.wait_for("mouse_press", button="middle", x=x, y=y)


def test_drag_moves_square_to_target(executor, sample_app):
    start = sample_app.center("drag")
    target = (850, 300)  # inside the canvas, so the square is not clamped
    executor.execute(actions.drag(*start, *target))
    sample_app.wait_for("drag_start")
    drop = sample_app.wait_for("drop")
    assert drop["pointer"] == list(target)
    assert abs(drop["center"][0] - target[0]) <= 2 and abs(drop["center"][1] - target[1]) <= 2


def test_scroll_turns_wheel_where_pointer_is(executor, sample_app, xdo):
    x, y = sample_app.center("items")
    xdo.move(x, y)  # a scroll action has no position: it scrolls under the pointer
    executor.execute(actions.scroll(0, -3))
    assert sample_app.wait_for("list_scrolled")["value"] > 0
    wheels = [sample_app.wait_for("wheel") for _ in range(3)]
    assert all(w["dy"] < 0 and (w["x"], w["y"]) == (x, y) for w in wheels)
    executor.execute(actions.scroll(2, 0))
    ours = [sample_app.wait_for("wheel")["dx"] for _ in range(2)]
    xdo.scroll(x, y, 2, horizontal=True)  # wheel right (button 7), as a person's mouse sends it
    theirs = [sample_app.wait_for("wheel")["dx"] for _ in range(2)]
    assert ours == theirs and ours[0] != 0  # (Qt counts right as negative)
    assert xdo.position() == (x, y)


def test_scroll_at_a_point_moves_there_first(executor, sample_app, xdo):
    """UI-TARS' scroll(start_box=...) and 'scroll (dx, dy) at (x, y)' scroll over that point, not wherever
    the pointer happens to be."""
    x, y = sample_app.center("items")
    xdo.move(*sample_app.center("save"))
    executor.execute(actions.scroll(0, -2, at=(x, y)))
    wheels = [sample_app.wait_for("wheel") for _ in range(2)]
    assert all((w["x"], w["y"]) == (x, y) for w in wheels) and xdo.position() == (x, y)


def test_type_ascii_text(executor, sample_app):
    focus_name_field(executor, sample_app)
    text = "Hello, World (1 < 2 > 0)! ~#$%^&*_+{}|:\"?"
    executor.execute(actions.type_text(text))
    sample_app.wait_for("name_changed", text=text)
    typed = [e for e in sample_app.events("key") if e["text"]]
    assert len(typed) == len(text)  # one key press per character: typed, not pasted


def test_type_non_ascii_pastes_and_restores_clipboard(executor, sample_app, xdisplay):
    if not shutil.which("xclip"):
        pytest.skip("xclip is not installed")
    env = xdisplay.child_env()
    subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=b"what the user copied", env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=5)
    focus_name_field(executor, sample_app)
    executor.execute(actions.type_text("Grüße, мир €"))
    sample_app.wait_for("name_changed", text="Grüße, мир €")
    assert [e["key"] for e in sample_app.events("key")][-2:] == ["Control", "V"]
    clipboard = subprocess.run(["xclip", "-selection", "clipboard", "-o"], env=env, capture_output=True,
                               timeout=5)
    assert clipboard.stdout == b"what the user copied"


def test_type_newlines_as_enter(executor, sample_app):
    focus_name_field(executor, sample_app)
    executor.execute(actions.type_text("ab\ncd"))
    sample_app.wait_for("name_return", text="ab")
    sample_app.wait_for("name_changed", text="abcd")


def test_hotkey_triggers_shortcut(executor, sample_app):
    focus_name_field(executor, sample_app)
    executor.execute(actions.hotkey("ctrl", "shift", "t"))
    sample_app.wait_for("shortcut", keys="ctrl+shift+t")


def test_press_enter(executor, sample_app):
    focus_name_field(executor, sample_app)
    executor.execute(actions.type_text("x"))
    executor.execute(actions.press_key("enter"))
    sample_app.wait_for("name_return", text="x")


def test_wait_and_loop_actions_inject_nothing(executor, sample_app):
    before = input_event_count(sample_app)
    started = time.monotonic()
    executor.execute(actions.WAIT)
    assert time.monotonic() - started >= 0.2
    for action in (actions.FINISH, actions.FAIL, actions.call_user("which file?")):
        executor.execute(action)
    time.sleep(0.2)
    assert input_event_count(sample_app) == before


# ----- refused actions inject nothing --------------------------------------------------------------


@pytest.mark.parametrize("action", [
    actions.click(1280, 10),
    actions.double_click(-1, 300),
    actions.right_click(100, 800),
    actions.drag(100, 100, 2000, 100),
    actions.click(0, 0),  # a fail-safe corner
    actions.click_element("the Save button"),
], ids=str)
def test_refused_action_injects_nothing(executor, sample_app, xdo, action):
    xdo.move(500, 500)
    before = input_event_count(sample_app)
    with pytest.raises(ExecutionError):
        executor.execute(action)
    time.sleep(0.3)
    assert input_event_count(sample_app) == before
    assert xdo.position() == (500, 500)


def test_pointer_in_corner_triggers_fail_safe(executor, sample_app, xdo):
    xdo.move(0, 0)  # the person "slams" the mouse into a corner
    before = input_event_count(sample_app)
    with pytest.raises(ExecutionError, match="fail-safe triggered"):
        executor.execute(actions.click(*sample_app.center("save")))
    time.sleep(0.3)
    assert input_event_count(sample_app) == before
    xdo.move(500, 500)


def test_other_display_is_refused(executor):
    with pytest.raises(ExecutionError, match="already bound"):
        PyAutoGuiExecutor(display=":4321")


# ----- the ledger claims the executor's input and nothing else -------------------------------------


class ClaimingConsumer:
    """Plays the recorder's processing thread: claims each listened event as it arrives."""

    def __init__(self, ledger: InjectionLedger, events: queue.SimpleQueue) -> None:
        self.ledger = ledger
        self.events = events
        self.seen: list[tuple[InputEvent, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.events.get(timeout=0.02)
            except queue.Empty:
                continue
            self.seen.append((event, self.ledger.claim(event)))

    def stop(self) -> None:
        time.sleep(0.5)  # let the last events arrive
        self._stop.set()
        self._thread.join(timeout=2)


def stop_listener(listener: InputListener, xdo) -> None:
    """Stop the listener, nudging it with input: pynput's X listeners only notice stop() at their
    next event (moses-palmer/pynput#583), else they linger until the display closes under them."""
    stopper = threading.Thread(target=listener.stop)
    stopper.start()
    time.sleep(0.05)
    xdo.move(600, 660)
    xdo.key("shift")
    stopper.join()


def near(event: InputEvent, point: tuple[int, int]) -> bool:
    return abs(event.x - point[0]) <= 3 and abs(event.y - point[1]) <= 3


def test_ledger_claims_agent_input_but_not_the_humans(xdisplay, sample_app, xdo, monkeypatch):
    monkeypatch.setenv("DISPLAY", xdisplay.display)  # pynput's listeners connect to $DISPLAY
    events: queue.SimpleQueue = queue.SimpleQueue()
    listener = InputListener(events)
    listener.start()
    ledger = InjectionLedger()
    executor = PyAutoGuiExecutor(ledger, display=xdisplay.display)
    consumer = ClaimingConsumer(ledger, events)
    human = sample_app.center("pad")
    save, item, name = sample_app.center("save"), sample_app.center("item_3"), sample_app.center("name")
    try:
        executor.execute(actions.click(*save))
        xdo.click(*human)  # the person clicks elsewhere in the same step (inside the ledger's grace)
        executor.execute(actions.double_click(*item))
        executor.execute(actions.scroll(0, -2))
        xdo.click(*human)
        executor.execute(actions.click(*name))
        # the person clicks while the agent is still typing: a button event is never the agent's keys
        clicker = threading.Timer(0.15, xdo.click, args=human)
        clicker.start()
        executor.execute(actions.type_text("the quick brown fox jumps"))
        clicker.join()
        executor.execute(actions.type_text("ü"))  # pasted: ctrl+v keys
    finally:
        consumer.stop()
        stop_listener(listener, xdo)

    buttons = [(e, claimed) for e, claimed in consumer.seen if isinstance(e, MouseButtonEvent)]
    humans = [claimed for e, claimed in buttons if near(e, human)]
    agents = [claimed for e, claimed in buttons if not near(e, human)]
    assert humans == [False] * 6  # 3 human clicks, press and release
    assert agents == [True] * 8  # click, double click, click
    assert [c for e, c in consumer.seen if isinstance(e, ScrollEvent)] == [True, True]
    keys = [c for e, c in consumer.seen if isinstance(e, KeyEvent)]
    assert len(keys) >= 2 * len("the quick brown fox jumps") and all(keys)
    assert ledger.claimed == len(agents) + 2 + len(keys)
    sample_app.wait_for("name_changed", text="the quick brown fox jumpsü", timeout=10)
    assert len(sample_app.events("pad_press")) == 3
