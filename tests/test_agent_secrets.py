"""The agent's own typing goes through the recorder's redaction: a password the agent types into a
password field is not stored (action, model output, thought) and not shown (prompt, console). Real Qt
sample app on Xvfb, a scripted loopback model, `pcagent run` on a pty."""

from __future__ import annotations

import sys

from models.scripted_server import ScriptedServer
from tests.pty_process import PtyProcess
from tracker.format.trajectory import read_trajectory

SECRET = "hunter2-Zq9"


def test_a_password_the_agent_types_is_stored_and_shown_nowhere(sample_app, xdisplay, tmp_path):
    x, y = sample_app.center("password")
    script = [{"response": f"Click the password field.\nAction: click ({x}, {y})"},
              {"response": f"I type the password {SECRET} now.\nAction: type text: {SECRET}"},
              {"response": "Done.\nAction: finish"}]
    out = tmp_path / "run"
    with ScriptedServer(script) as server:
        models = tmp_path / "models.toml"
        models.write_text(f'[profiles.planner]\nbase_url = "{server.base_url}"\nmodel = "m"\nmax_retries = 0\n'
                          f"image_max_pixels = {1280 * 800}\n")
        proc = PtyProcess([sys.executable, "-m", "pcagent", "run", "log in", "--planner", "planner",
                           "--planner-kind", "end-to-end", "--models-file", str(models), "--mode", "auto",
                           "--out", str(out), "--settle", "0.3"], env=xdisplay.child_env())
        try:
            proc.read_until("types into a password field", timeout=60)  # the guard asks, in auto mode too
            proc.read_until("> ")
            proc.write("a\n")
            assert proc.wait(60) == 0, proc.text
        finally:
            proc.close()
    typed = sample_app.wait_for("password_changed")
    assert typed.get("length") == len(SECRET) or SECRET not in str(typed)  # the app got it (it logs length)
    assert SECRET not in proc.text and "hidden: password" in proc.text
    steps = read_trajectory(out).steps
    assert steps[1].action == "type text: ********" and steps[1].extra["redacted"] == "password"
    assert SECRET not in steps[1].extra["model_output"] and SECRET not in steps[1].extra["thought"]["text"]
    for path in out.rglob("*"):
        if path.is_file() and path.parent.name != "screenshots":
            assert SECRET.encode() not in path.read_bytes(), path
