"""An agent run answered in the approval panel, end to end on Xvfb with a window manager.

`pcagent run --panel` runs the tray app's pieces (AgentSupervisor + QtGate + the panel and marker) against
the scripted model server and the sample app; "the person" is xdotool: Enter approves a step, a countdown
approves another, Esc rejects a guarded one, the person clicks themselves and hands control back with the
pause hotkey, Alt+A presses Approve; a probe timer measures the UI thread meanwhile. Then the trajectory (actors, decisions), meta.json's collaboration
metrics, the app's final state, and by pixels: neither the marker nor the panel (both drawn in
MARKER_COLOR) is in any saved screenshot, while the panel's own snapshot shows them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from models.images import register_image_plugins
from models.scripted_server import ScriptedServer
from pcagent.app.ui.marker import MARKER_COLOR
from pcagent.testbed.xdo import Xdo
from tracker.format.trajectory import read_trajectory
from tracker.recording.own_windows import OWN_WINDOWS_KEY

PANEL_TITLE = "pcagent: approve the agent's step"


def said(thought: str, action: str) -> dict:
    return {"response": f"{thought}\nAction: {action}"}


def marker_pixels(path) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB"))
    return int(np.all(pixels == np.array(MARKER_COLOR, dtype=np.uint8), axis=-1).sum())


class Panel:
    """The panel as X sees it, from the test's side."""

    def __init__(self, display, proc: subprocess.Popen) -> None:
        from grounding.accessibility.windows import X11Windows

        self.windows = X11Windows(display.display)
        self.proc = proc

    def _shown(self) -> bool:
        return any(w.application == "pcagent" and w.title == PANEL_TITLE for w in self.windows.top_levels())

    def wait_shown(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self._shown():
            assert self.proc.poll() is None, f"the run ended ({self.proc.returncode}) before the panel asked"
            assert time.monotonic() < deadline, "the panel did not ask"
            time.sleep(0.05)
        time.sleep(0.3)  # shown and focused: keys go to it

    def wait_gone(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self._shown():
            assert time.monotonic() < deadline, "the panel stayed"
            time.sleep(0.05)


@pytest.mark.skipif(not shutil.which("openbox"), reason="needs openbox")
def test_approve_countdown_reject_take_over_hand_back(wm_display, launch_sample_app, tmp_path):
    app = launch_sample_app(display=wm_display)
    server = ScriptedServer([said("The name goes in the Name field.", "click element: the Name text field"),
                             {**said("Now the name.", "type text: Ada Lovelace"), "latency_s": 1.0},
                             said("Remove the item.", "click element: Delete button"),
                             said("The person opened it. Save.", "click element: Save button"),
                             said("Done.", "finish")]).start()
    models = tmp_path / "models.toml"
    models.write_text(f'[profiles.planner]\nbackend = "openai"\nbase_url = "{server.base_url}"\nmodel = "scripted"\n'
                      "max_retries = 0\n")
    out, snapshot = tmp_path / "run", tmp_path / "panel.png"
    env = wm_display.child_env()
    env.update(PCAGENT_SETTINGS_FILE=str(tmp_path / "settings.toml"), PCAGENT_UI_PROBE="1")
    log = tmp_path / "run.log"
    with open(log, "w") as output:
        proc = subprocess.Popen([sys.executable, "-m", "pcagent", "run", "Enter the name and save", "--planner",
                                 "planner", "--models-file", str(models), "--out", str(out), "--settle", "0.4",
                                 "--panel", "--countdown", "2", "--panel-snapshot", str(snapshot)],
                                env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
    xdo, panel = Xdo(env), Panel(wm_display, proc)
    try:
        panel.wait_shown()  # step 0: Enter approves
        xdo.key("Return")
        panel.wait_gone()
        panel.wait_shown()  # step 1: nobody answers, the countdown approves
        panel.wait_gone(10)
        panel.wait_shown()  # the Delete click is guarded: Enter alone does not approve it
        xdo.key("Return")
        time.sleep(0.8)
        assert panel._shown() and not app.events("button_clicked")
        xdo.key("Escape")  # reject: the panel goes, the person acts
        panel.wait_gone()
        xdo.click(*app.center("open"))
        app.wait_for("button_clicked", name="Open")
        time.sleep(1.0)  # the recorder writes the person's step
        xdo.key("ctrl+shift+F9")  # hand control back
        panel.wait_shown()  # Save: Alt+A presses Approve
        xdo.key("alt+a")
        assert proc.wait(90) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        server.stop()
    text = log.read_text()

    assert app.events("name_changed")[-1]["text"] == "Ada Lovelace"
    assert [e["name"] for e in app.events("button_clicked")] == ["Open", "Save"]
    trajectory = read_trajectory(out)
    open_ = app.center("open")
    assert [(s.actor, s.action.split(" (")[0]) for s in trajectory.steps] == [
        ("agent", "click"), ("agent", "type text: Ada Lovelace"), ("human", "click"), ("agent", "click"),
        ("agent", "finish")]
    assert trajectory.steps[2].action == f"click ({open_[0]}, {open_[1]})"
    assert [(s.extra.get("decision") or {}).get("by") for s in trajectory.steps] == [
        "user", "timeout", None, "user", "policy"]
    metrics = trajectory.meta["collaboration"]
    assert (metrics["proposed"], metrics["approved"], metrics["rejected"], metrics["interventions"]) == (4, 3, 1, 1)
    assert metrics["approved_by"]["user"] == 2 and metrics["approved_by"]["timeout"] == 1
    assert (metrics["human_steps"], metrics["agent_steps"], metrics["last_step_by"]) == (1, 4, "agent")
    assert trajectory.meta["outcome"] == "finish"
    second = json.dumps(server.requests[3])
    assert "reject" in second.lower() and f"click ({open_[0]}, {open_[1]})" in second

    # Neither the marker nor the panel is in a saved screenshot; the panel's snapshot shows both.
    register_image_plugins()
    assert all(OWN_WINDOWS_KEY not in s.extra for s in trajectory.steps)
    shots = sorted((out / "screenshots").iterdir())
    assert len(shots) == 5 and [marker_pixels(path) for path in shots] == [0] * 5
    assert Image.open(snapshot).size == (1280, 800) and marker_pixels(snapshot) > 2000

    # The UI thread kept ticking through a 1 s model call and the waits for the person (goal: no stall over
    # 50 ms; the figure is printed: on a loaded 2-core machine the run's start-up stalls it a little longer).
    probe = json.loads(text.split("UI thread: ", 1)[1].splitlines()[0])
    print(f"UI thread while the agent ran: {probe}")
    assert probe["samples"] > 300 and probe["max_stall_ms"] < 500, probe
