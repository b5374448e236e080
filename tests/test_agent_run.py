"""`pcagent run` on a real X display: the sample app, a scripted model server, real input.

The agent runs as a child process on a pseudo-terminal (where its approval prompts appear),
the model is a loopback OpenAI-compatible server answering from a script, and "the human"
is xdotool. Each test checks what the app saw and what the trajectory holds.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from grounding.coordinates import from_screen
from models.scripted_server import ScriptedServer
from tests.pty_process import PtyProcess
from tracker.format.trajectory import read_trajectory

PAUSE = "ctrl+shift+F9"


@pytest.fixture
def agent(xdisplay, tmp_path):
    """`agent(script, *args, profile=...) -> (PtyProcess, ScriptedServer, out)`; cleaned up after."""
    started = []

    def start(script, *args, image_max_pixels=1280 * 800, output_convention=None, action_format=None):
        server = ScriptedServer(script).start()
        models = tmp_path / f"models-{len(started)}.toml"
        lines = ["[profiles.planner]", 'backend = "openai"', f'base_url = "{server.base_url}"',
                 'model = "scripted"', "max_retries = 0", f"image_max_pixels = {image_max_pixels}"]
        if output_convention:
            lines.append(f'output_convention = "{output_convention}"')
        if action_format:
            lines.append(f'action_format = "{action_format}"')
        models.write_text("\n".join(lines) + "\n")
        out = tmp_path / f"run-{len(started)}"
        proc = PtyProcess([sys.executable, "-m", "pcagent", "run", "the task", "--planner", "planner",
                           "--models-file", str(models), "--out", str(out), "--settle", "0.4", *args],
                          env=xdisplay.child_env())
        started.append((proc, server))
        return proc, server, out

    yield start
    for proc, server in started:
        proc.close()
        server.stop()


def said(thought, action):
    return {"response": f"{thought}\nAction: {action}"}


def app_saw_input(app, since):
    return [e for e in app.events() if e["t"] > since and e["event"] in ("mouse_press", "key", "wheel")]


def test_planner_and_grounder_complete_a_task(sample_app, agent):
    script = [said("The name goes in the Name field.", "click element: the Name text field"),
              said("Now the name itself.", "type text: Ada Lovelace"),
              said("Confirm it.", "press key: enter"),
              said("Save the work.", "click element: Save button"),
              said("Done.", "finish")]
    proc, server, out = agent(script, "--mode", "auto")
    assert proc.wait(120) == 0, proc.text
    assert sample_app.events("name_changed")[-1]["text"] == "Ada Lovelace"
    assert sample_app.events("name_return") and sample_app.events("button_clicked")[-1]["name"] == "Save"
    trajectory = read_trajectory(out)
    steps = trajectory.steps
    assert [s.actor for s in steps] == ["agent"] * 5, [(s.actor, s.action) for s in steps]
    name, save = sample_app.rect("name"), sample_app.rect("save")
    x, y = steps[0].pointer
    assert name[0] <= x < name[2] and name[1] <= y < name[3]
    assert steps[0].extra["planned_action"] == "click element: the Name text field"
    assert steps[0].extra["grounding"]["found"] and steps[0].extra["decision"]["by"] == "policy"
    assert steps[0].extra["thought"] == {"text": "The name goes in the Name field.", "source": "agent"}
    x, y = steps[3].pointer
    assert save[0] <= x < save[2] and save[1] <= y < save[3]
    assert [s.action for s in steps[1:3]] == ["type text: Ada Lovelace", "press key: enter"]
    assert trajectory.meta["outcome"] == "finish"
    metrics = trajectory.meta["collaboration"]
    assert metrics["proposed"] == 4 and metrics["interventions"] == 0
    # the task, and a screenshot, reached the model each time
    assert len(server.requests) == 5
    assert "the task" in json.dumps(server.requests[0])
    assert "data:image/png;base64," in json.dumps(server.requests[0])


def test_end_to_end_planner_clicks_in_its_own_image_space(sample_app, agent):
    save = sample_app.center("save")
    # The model sees the 1280x800 screen at 640x400: it answers in those pixels.
    script = [said("Save.", f"click ({save[0] // 2}, {save[1] // 2})"), said("Done.", "finish")]
    proc, server, out = agent(script, "--mode", "auto", "--planner-kind", "end-to-end",
                              image_max_pixels=640 * 400)
    assert proc.wait(120) == 0, proc.text
    assert sample_app.events("button_clicked")[-1]["name"] == "Save"
    x, y = read_trajectory(out).steps[0].pointer
    assert abs(x - save[0]) <= 2 and abs(y - save[1]) <= 2


def test_uitars_planner_completes_a_task(sample_app, agent):
    open_ = sample_app.center("open")
    mx, my = from_screen(*open_, "uitars_resized", (1280, 800))
    script = [{"response": f"Thought: Open it.\nAction: click(start_box='({round(mx)},{round(my)})')"},
              {"response": "Thought: Done.\nAction: finished(content='opened')"}]
    proc, server, out = agent(script, "--mode", "auto", "--planner-kind", "uitars")
    assert proc.wait(120) == 0, proc.text
    assert sample_app.events("button_clicked")[-1]["name"] == "Open"
    assert [s.action for s in read_trajectory(out).steps][-1] == "finish"


def computer_use(thought: str, **arguments) -> dict:
    """A Qwen3-VL answer: the Action sentence, then the computer_use call."""
    call = json.dumps({"name": "computer_use", "arguments": arguments})
    return {"response": f"Action: {thought}\n<tool_call>\n{call}\n</tool_call>"}


def test_a_qwen_computer_use_profile_needs_no_planner_kind(sample_app, agent):
    name, save = sample_app.center("name"), sample_app.center("save")
    # Qwen3-VL points in 0..1000 of the screenshot; the profile says so and nothing else is needed
    at = {target: [round(v) for v in from_screen(*point, "norm1000", (1280, 800))]
          for target, point in (("name", name), ("save", save))}
    script = [computer_use("Click the Name field.", action="left_click", coordinate=at["name"]),
              computer_use("Type the name.", action="type", text="Grace Hopper"),
              computer_use("Click Save.", action="left_click", coordinate=at["save"]),
              computer_use("The name is saved.", action="terminate", status="success")]
    proc, server, out = agent(script, "--mode", "auto", action_format="qwen_computer_use",
                              output_convention="norm1000")
    assert proc.wait(120) == 0, proc.text
    assert sample_app.events("name_changed")[-1]["text"] == "Grace Hopper"
    assert sample_app.events("button_clicked")[-1]["name"] == "Save"
    trajectory = read_trajectory(out)
    steps = trajectory.steps
    assert [s.action for s in steps][1:] == ["type text: Grace Hopper", steps[2].action, "finish"]
    for step, expected in ((steps[0], name), (steps[2], save)):
        assert abs(step.pointer[0] - expected[0]) <= 2 and abs(step.pointer[1] - expected[1]) <= 2
    assert steps[0].extra["planner_details"]["convention"] == "norm1000"
    assert trajectory.meta["agent"]["planner_kind"] == "qwen_computer_use"
    system = server.requests[0]["messages"][0]["content"]
    assert "<tools>" in system and '"name": "computer_use"' in system


def test_reject_then_the_human_acts_then_resume(sample_app, agent, xdo):
    app = sample_app
    script = [said("Delete it.", "click element: Delete button"), said("The user opened it; done.", "finish")]
    proc, server, out = agent(script, "--mode", "confirm")
    at = proc.read_until("approve")
    proc.write("r\n")
    proc.read_until("hand control back", start=at)
    open_ = app.center("open")
    xdo.click(*open_)  # the human acts
    app.wait_for("button_clicked", name="Open")
    time.sleep(1.0)  # let the recorder write the step
    proc.write("\n")  # hand control back
    assert proc.wait(120) == 0, proc.text
    assert not [e for e in app.events("button_clicked") if e["name"] == "Delete"]
    trajectory = read_trajectory(out)
    assert [(s.actor, s.action) for s in trajectory.steps] == [
        ("human", f"click ({open_[0]}, {open_[1]})"), ("agent", "finish")]
    second = json.dumps(server.requests[1])
    assert f"click ({open_[0]}, {open_[1]})" in second and "reject" in second.lower()
    metrics = trajectory.meta["collaboration"]
    assert metrics["rejected"] == 1 and metrics["human_steps"] == 1 and metrics["interventions"] == 1


def test_the_human_takes_over_just_by_acting(sample_app, agent, xdo):
    app = sample_app
    script = [said("Delete it.", "click element: Delete button"), said("The user saved; done.", "finish")]
    proc, server, out = agent(script, "--mode", "confirm")
    at = proc.read_until("approve")
    save = app.center("save")
    xdo.click(*save)  # no answer at the prompt: the person simply acts
    at = proc.read_until("You took over", start=at)
    app.wait_for("button_clicked", name="Save")
    time.sleep(1.0)
    proc.write("\n")  # hand control back
    assert proc.wait(120) == 0, proc.text
    assert [e["name"] for e in app.events("button_clicked")] == ["Save"]
    trajectory = read_trajectory(out)
    assert [(s.actor, s.action) for s in trajectory.steps] == [
        ("human", f"click ({save[0]}, {save[1]})"), ("agent", "finish")]
    assert f"click ({save[0]}, {save[1]})" in json.dumps(server.requests[1])
    assert trajectory.meta["collaboration"]["last_step_by"] == "agent"


def test_suggest_mode_the_agent_proposes_and_the_human_acts(sample_app, agent, xdo):
    app = sample_app
    script = [said("Open it.", "click element: Open button"), said("Done.", "finish")]
    proc, server, out = agent(script, "--mode", "suggest")
    proc.read_until("Open")
    time.sleep(1.0)
    assert not app.events("button_clicked"), "in suggest mode the agent never acts"
    open_ = app.center("open")
    xdo.click(*open_)
    app.wait_for("button_clicked", name="Open")
    time.sleep(1.0)
    proc.write("\n")
    assert proc.wait(120) == 0, proc.text
    trajectory = read_trajectory(out)
    assert [(s.actor, s.action) for s in trajectory.steps] == [
        ("human", f"click ({open_[0]}, {open_[1]})"), ("agent", "finish")]


def test_the_user_edits_a_proposed_step(sample_app, agent):
    app = sample_app
    script = [said("Delete it.", "click element: Delete button"), said("Done.", "finish")]
    proc, server, out = agent(script, "--mode", "confirm")
    proc.read_until("approve")
    proc.write("e click element: Open button\n")
    assert proc.wait(120) == 0, proc.text
    assert [e["name"] for e in app.events("button_clicked")] == ["Open"]
    step = read_trajectory(out).steps[0]
    assert step.extra["decision"] == {"verdict": "edit", "by": "user", "action": "click element: Open button"}
    left, top, right, bottom = app.rect("open")
    assert left <= step.pointer[0] < right and top <= step.pointer[1] < bottom
    assert read_trajectory(out).meta["collaboration"]["edited"] == 1


def test_interrupt_during_the_countdown_stops_the_step_before_any_input(sample_app, agent, xdo):
    app = sample_app
    script = [said("Save.", "click element: Save button"), said("Done.", "finish")]
    proc, server, out = agent(script, "--mode", "confirm", "--countdown", "3")
    proc.read_until("auto-approve")
    since = time.time()
    xdo.key(PAUSE)
    proc.read_until("Paused")
    time.sleep(3.5)  # past the countdown: nothing may happen
    assert [e for e in app_saw_input(app, since) if e["event"] != "key"] == []  # keys: the hotkey itself
    assert not app.events("button_clicked")
    proc.write("s\n")
    assert proc.wait(60) == 0, proc.text
    assert not app.events("button_clicked")
    assert read_trajectory(out).meta["outcome"] == "stopped"


def test_a_guarded_click_in_auto_mode_waits_for_approval(sample_app, agent):
    app = sample_app
    script = [said("Remove the item.", "click element: Delete button"), said("Done.", "finish")]
    proc, server, out = agent(script, "--mode", "auto")
    proc.read_until("delete")
    time.sleep(1.5)
    assert not app.events("button_clicked"), "a guarded step ran without approval"
    proc.write("a\n")
    assert proc.wait(120) == 0, proc.text
    assert app.events("button_clicked")[-1]["name"] == "Delete"
    step = read_trajectory(out).steps[0]
    assert step.extra["decision"]["by"] == "user"


@pytest.mark.parametrize("answers", [
    ["", "I think I should click somewhere.", "Action: click (12,"],
    ["Action: click (5000, 5000)", "Action: rm -rf /", "Action: __import__('os').system('true')"],
])
def test_garbage_model_output_never_produces_input(sample_app, agent, answers):
    app = sample_app
    since = time.time()
    script = [{"response": a} for a in answers]
    proc, server, out = agent(script, "--mode", "auto", "--planner-kind", "end-to-end")
    proc.read_until("could not be parsed")
    proc.write("s\n")
    assert proc.wait(60) == 0, proc.text
    assert app_saw_input(app, since) == []
    assert read_trajectory(out).steps == []


def test_without_a_planner_run_says_how_to_point_it_at_a_model(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "pcagent", "run", "do something"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "base_url" in result.stderr and "OpenAI-compatible" in result.stderr
    assert "--planner" in result.stderr


def _unreachable_models_file(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    models = tmp_path / "down.toml"
    models.write_text(f'[profiles.planner]\nbackend = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                      'model = "m"\nmax_retries = 1\n')
    return models


def test_a_model_that_is_down_pauses_the_agent_records_the_error_and_exits_3(xdisplay, tmp_path):
    """Connection refused: no traceback, the error in meta.json, the user asked; stopping exits 3."""
    out = tmp_path / "run"
    proc = PtyProcess([sys.executable, "-m", "pcagent", "run", "the task", "--planner", "planner",
                       "--models-file", str(_unreachable_models_file(tmp_path)), "--out", str(out),
                       "--mode", "auto"], env=xdisplay.child_env())
    try:
        first = proc.read_until("Hand control back to try again")
        proc.write("\n")  # retry: the model is still down
        proc.read_until("Hand control back to try again", start=first)
        proc.write("s\n")
        assert proc.wait(60) == 3, proc.text
    finally:
        proc.close()
    assert "Traceback" not in proc.text
    assert sum("error (model):" in line for line in proc.text.splitlines()) == 2
    meta = read_trajectory(out).meta
    assert meta["outcome"] == "error"
    assert [e["kind"] for e in meta["errors"]] == ["model", "model"] and "cannot be reached" in meta["errors"][0]["error"]


def test_exit_codes_for_no_display_and_a_bad_command(tmp_path):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-m", "pcagent", "run", "x", "--planner", "planner",
                             "--models-file", str(_unreachable_models_file(tmp_path)), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 4 and "no display" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "pcagent", "no-such-command"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2


def test_an_action_the_executor_cannot_perform_pauses_and_is_recorded(sample_app, agent):
    """Xvfb's keyboard has no F24: the executor refuses, the agent asks, a retry goes on with the task."""
    script = [said("Press F24.", "press key: f24"), said("Then it is done.", "finish")]
    proc, server, out = agent(script, "--mode", "auto")
    proc.read_until("The action could not be performed (error above)")
    proc.write("\n")
    assert proc.wait(60) == 0, proc.text
    meta = read_trajectory(out).meta
    assert meta["outcome"] == "finish" and "Traceback" not in proc.text
    assert [(e["kind"], "no key for 'f24'" in e["error"]) for e in meta["errors"]] == [("executor", True)]


def test_run_refuses_the_template_grounder(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "pcagent", "run", "x", "--planner", "planner", "--models-file",
                             str(_unreachable_models_file(tmp_path)), "--grounder", "composite:accessibility,template"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "works in `pcagent replay`" in result.stderr
