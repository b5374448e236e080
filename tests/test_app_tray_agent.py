"""An agent task run from the tray, end to end, the way a person does it: `pcagent app` runs as a real child
process docked in trayer on Xvfb with openbox; its models.toml (in the config folder the app reads) points a
profile at the scripted model server on loopback. xdotool opens the tray menu, picks "Run a task…", fills
the run dialog (task text, profile, mode) and starts the run; in the approval panel it approves steps
(Enter), rejects one (Esc) and hands control back with the pause hotkey, takes over (Alt+T, the panel's
Take over), clicks in the sample app itself and hands back again with `pcagent ctl resume`. Then: the app is idle again, and the
saved trajectory has the expected actors, decisions and collaboration metrics, the sample app's log its
final state, and by pixels neither the marker nor the panel (both drawn in MARKER_COLOR) is in any saved
screenshot while a grab of the screen during the run shows both.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.images import register_image_plugins
from models.scripted_server import ScriptedServer
from pcagent.app.ui.marker import BAR_LENGTH, BAR_WIDTH, MARKER_COLOR
from pcagent.testbed.xdo import Xdo, grab
from tests.test_app_tray import (  # noqa: F401 (desktop and tray_app are fixtures)
    _center,
    _check_saved,
    _geometry,
    _poll,
    _sample_events,
    _visible_own_windows,
    desktop,
    open_tray_menu,
    tray_app,
)

PANEL_TITLE = "pcagent: approve the agent's step"
RUN_DIALOG_TITLE = "pcagent: run a task"
PAUSE_HOTKEY = "ctrl+shift+F9"  # the recorder's pause control: during a run it takes and hands back control


def said(thought: str, action: str) -> dict:
    return {"response": f"{thought}\nAction: {action}"}


SCRIPT = [said("The name goes in the Name field.", "click element: the Name text field"),  # Enter
          said("Now the name.", "type text: Ada Lovelace"),  # Enter
          said("Remove the item.", "click element: Delete button"),  # Esc, then the pause hotkey
          said("Save the form.", "click element: Save button"),  # Take over: the person clicks Open
          said("The person opened it. Save.", "click element: Save button"),  # Enter
          said("Done.", "finish")]


def marker_pixels(image: Image.Image) -> int:
    """Pixels of exactly the marker's (and the panel frame's) colour."""
    pixels = np.asarray(image.convert("RGB"))
    return int(np.all(pixels == np.array(MARKER_COLOR, dtype=np.uint8), axis=-1).sum())


def write_config(config_home: Path, base_url: str) -> None:
    """models.toml with the scripted profile after one that cannot answer (the dialog must pick it), and
    settings.toml whose default mode is auto (the dialog must switch it to confirm)."""
    folder = config_home / "pcagent"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.toml").write_text(
        '[profiles.a-unreachable]\nbackend = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
        "max_retries = 0\n\n"
        f'[profiles.scripted]\nbackend = "openai"\nbase_url = "{base_url}"\nmodel = "scripted"\nmax_retries = 0\n')
    (folder / "settings.toml").write_text('[app]\ndefault_mode = "auto"\n')


class Desk:
    """The test's view of the desktop: pcagent's windows as xdotool finds them, and the app's status."""

    def __init__(self, env: dict, app, server: ScriptedServer) -> None:
        self.env, self.app, self.server, self.xdo = env, app, server, Xdo(env)

    def window(self, title: str, timeout: float = 30) -> int:
        def found() -> int | None:
            assert self.app.proc.poll() is None, "the app exited"
            return next((w for w, name in _visible_own_windows(self.env).items() if name == title), None)

        return _poll(found, timeout, f"no window {title!r}")

    def focused(self, window: int) -> None:
        _poll(lambda: self.xdo.run("getwindowfocus").strip() == str(window), 5, f"{window} did not get the keyboard")

    def gone(self, window: int, timeout: float = 15) -> None:
        _poll(lambda: window not in _visible_own_windows(self.env), timeout, f"window {window} stayed")

    def proposal(self, number: int) -> int:
        """Wait for the panel to ask about the script's `number`th answer and to have the keyboard."""
        def asking() -> int | None:
            assert self.app.proc.poll() is None, "the app exited"
            if len(self.server.requests) <= number:
                return None
            return next((w for w, name in _visible_own_windows(self.env).items() if name == PANEL_TITLE), None)

        panel = _poll(asking, 60, f"the panel did not ask about proposal {number}")
        assert len(self.server.requests) == number + 1, (len(self.server.requests), number)
        assert self.app.status()["state"] == "waiting_approval"
        self.focused(panel)
        return panel

    def panel_and_marker_on_screen(self, panel: int, display) -> None:
        """A grab of the screen shows the panel's frame and, outside the panel, the marker's bars."""
        x, y, width, height = _geometry(self.env, panel)

        def both_shown() -> tuple[int, int] | None:
            pixels = np.all(np.asarray(grab(display)) == np.array(MARKER_COLOR, dtype=np.uint8), axis=-1)
            inside = int(pixels[y:y + height, x:x + width].sum())
            outside = int(pixels.sum()) - inside
            return (inside, outside) if inside > 1000 and outside >= 4 * BAR_LENGTH * BAR_WIDTH else None

        _poll(both_shown, 5, "the panel and the marker were not on the screen")

    def answer(self, panel: int, key: str) -> None:
        """Press `key` in the panel, and wait until it has left the screen."""
        self.xdo.key(key)
        self.gone(panel)

    def waiting_for_hand_back(self) -> None:
        """The agent waits for control back (no panel: the person acts); the tray and `ctl status` say so."""
        def waiting() -> bool:
            status = self.app.status()
            return status["state"] == "waiting_approval" and "hand control back" in (status["message"] or "")

        _poll(waiting, 15, "the agent did not wait for control back")
        assert PANEL_TITLE not in _visible_own_windows(self.env).values()


@pytest.fixture
def scripted_server():
    server = ScriptedServer(SCRIPT).start()
    yield server
    server.stop()


def test_a_task_run_from_the_tray_is_approved_rejected_taken_over_and_handed_back(
        desktop, tray_app, scripted_server, wm_display):  # noqa: F811 (the fixtures imported above)
    env, folder, _, ready = desktop
    app, server = tray_app, scripted_server
    desk = Desk(env, app, server)
    xdo = desk.xdo
    write_config(Path(env["XDG_CONFIG_HOME"]), server.base_url)
    assert app.status()["state"] == "idle"
    try:
        open_tray_menu(env, xdo)
        xdo.key("k")  # Run a tas&k…
        dialog = desk.window(RUN_DIALOG_TITLE)
        desk.focused(dialog)  # the task text has the focus; Tab goes on to the profile, then the mode
        xdo.type("Enter the name and save")
        xdo.key("Tab", "s", "Tab", "c")  # profile "scripted", mode "confirm: approve each step"
        xdo.key("Return")  # Run
        desk.gone(dialog)

        panel = desk.proposal(0)  # click the Name field: Enter approves
        desk.panel_and_marker_on_screen(panel, wm_display)  # so that finding none in a screenshot means something
        desk.answer(panel, "Return")
        desk.answer(desk.proposal(1), "Return")  # type the name: Enter approves
        desk.answer(desk.proposal(2), "Escape")  # the Delete click: Esc rejects, and the person has control
        desk.waiting_for_hand_back()
        xdo.key(PAUSE_HOTKEY)  # they did nothing: hand back at once
        desk.answer(desk.proposal(3), "alt+t")  # Save: the person takes over with the panel's &Take over
        desk.waiting_for_hand_back()
        opens = len(_sample_events(folder, "button_clicked"))
        trajectory = Path(app.status()["trajectory"])
        xdo.click(*_center(ready, "open"))
        _poll(lambda: len(_sample_events(folder, "button_clicked")) > opens, 5, "Open was not clicked")
        _poll(lambda: '"actor": "human"' in (trajectory / "steps.jsonl").read_text(), 10,
              "the person's click was not recorded")
        app.ctl("resume")  # hand back, this time as a desktop shortcut would: `pcagent ctl resume`
        desk.answer(desk.proposal(4), "Return")  # Save: Enter approves; then the agent finishes
        status = app.wait_state("idle", 30)
        open_tray_menu(env, xdo)  # the icon is still docked in the tray after the run hid and showed it
        xdo.key("Escape")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- the app's output ---\n{app.output()}") from exc

    assert (status["trajectory"], status["outcome"], status["steps"]) == (str(trajectory), "finish", 5)
    assert server.unused_entries == []
    open_ = _center(ready, "open")
    assert "do not repeat it" in json.dumps(server.requests[3])  # the model is told of the rejection
    told = json.dumps(server.requests[4])  # and of what the person did
    assert "Since your last step the user did" in told and f"click ({open_[0]}, {open_[1]})" in told

    # the sample app's final state
    assert _sample_events(folder, "name_changed")[-1]["text"] == "Ada Lovelace"
    assert [e["name"] for e in _sample_events(folder, "button_clicked")] == ["Open", "Save"]

    # the trajectory: actors, decisions, metrics; no pcagent window in any step or screenshot
    steps = _check_saved(trajectory)
    assert [(s.actor, s.action.split(" (")[0]) for s in steps] == [
        ("agent", "click"), ("agent", "type text: Ada Lovelace"), ("human", "click"), ("agent", "click"),
        ("agent", "finish")]
    assert steps[2].action == f"click ({open_[0]}, {open_[1]})"
    for step, widget in ((steps[0], "name"), (steps[3], "save")):  # the grounded clicks hit their widgets
        left, top, right, bottom = ready["widgets"][widget]
        assert left <= step.pointer[0] < right and top <= step.pointer[1] < bottom, (widget, step.action)
    assert [(s.extra.get("decision") or {}).get("verdict") for s in steps] == [
        "approve", "approve", None, "approve", "approve"]
    assert [(s.extra.get("decision") or {}).get("by") for s in steps] == ["user", "user", None, "user", "policy"]
    meta = json.loads((trajectory / "meta.json").read_text())
    metrics = meta["collaboration"]
    assert (metrics["proposed"], metrics["approved"], metrics["rejected"], metrics["takeovers"],
            metrics["interventions"]) == (5, 3, 1, 1, 2)
    assert metrics["approved_by"]["user"] == 3 and metrics["approved_by"]["timeout"] == 0
    assert (metrics["human_steps"], metrics["agent_steps"], metrics["last_step_by"]) == (1, 4, "agent")
    assert metrics["human_time_s"] > 0 and metrics["review_time_s"] > 0
    assert meta["outcome"] == "finish" and meta["agent"]["mode"] == "confirm"
    assert meta["agent"]["planner"]["name"] == "scripted"
    register_image_plugins()
    shots = [trajectory / s.screenshot for s in steps if s.screenshot]
    assert len(shots) == 5
    for shot in shots:
        with Image.open(shot) as image:
            assert marker_pixels(image) == 0, f"{shot.name} shows the marker or the panel"
