"""`pcagent eval` end to end, each task on its own Xvfb display with openbox and real programs: bundled
tasks replayed from their recorded solutions score 1 (one task per program), a wrong trajectory scores 0,
an unsupported task is reported apart, a rerun resumes; an end-to-end planner over the scripted model
server solves tasks; Ray (a local instance) runs them too; setup steps that need a display."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from models.scripted_server import ScriptedServer
from pcagent.eval.setup import TaskEnvironment, run_steps
from tracker.format.trajectory import read_trajectory

pytestmark = pytest.mark.display

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "pcagent" / "eval" / "tasks"
SOLUTIONS = REPO / "pcagent" / "eval" / "solutions"
ONE_PER_PROGRAM = {"sampleapp": "sampleapp-rename-item", "mousepad": "mousepad-csv-row", "xterm": "xterm-scores-csv",
                   "pcmanfm": "pcmanfm-rename-docx", "galculator": "galculator-multiply"}


@pytest.fixture(autouse=True)
def _programs():
    for tool in ("Xvfb", "openbox", "xdotool", "xclip", "mousepad", "pcmanfm", "galculator", "xterm"):
        if not shutil.which(tool):
            skip_or_fail(f"{tool} is not installed: run installer/install-debian.sh --test")
    for module in ("openpyxl", "docx", "rapidfuzz"):
        pytest.importorskip(module, reason="the eval extra: pip install -e '.[eval]'")


def _eval(*args, timeout=420) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pcagent", "eval", *map(str, args)], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _result(out: Path, model: str, domain: str, task_id: str) -> dict:
    folder = out / "pyautogui" / "screenshot" / model / domain / task_id
    record = json.loads((folder / "result.json").read_text())
    record["folder"] = folder
    return record


def _unsupported_task(folder: Path) -> Path:
    task = {"id": "chrome-open-tabs", "snapshot": "chrome", "instruction": "Bookmark this page.", "source": "",
            "config": [{"type": "chrome_open_tabs", "parameters": {"urls_to_open": ["https://example.org"]}}],
            "related_apps": ["chrome"], "evaluator": {"func": "is_expected_bookmarks",
                                                      "result": {"type": "bookmarks"}, "expected": {"type": "rule"}},
            "proxy": False}
    path = folder / "chrome" / "chrome-open-tabs.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(task))
    return path


def test_replayed_solutions_score_one_a_wrong_one_zero_and_a_rerun_resumes(tmp_path):
    replays = tmp_path / "replays"
    for task_id in ONE_PER_PROGRAM.values():
        shutil.copytree(SOLUTIONS / task_id, replays / task_id)
    # the Save task replayed with a recording that clicks Open: a wrong trajectory
    shutil.copytree(SOLUTIONS / "sampleapp-open-or-save", replays / "sampleapp-click-save")
    tasks = [TASKS / domain / f"{task_id}.json" for domain, task_id in ONE_PER_PROGRAM.items()]
    tasks += [TASKS / "sampleapp" / "sampleapp-click-save.json", _unsupported_task(tmp_path / "more")]
    out = tmp_path / "results"
    # what an interrupted run leaves: a task folder without result.txt, its trajectory half written
    stale = out / "pyautogui" / "screenshot" / "replay" / "galculator" / "galculator-multiply" / "trajectory"
    stale.mkdir(parents=True)
    (stale / "steps.jsonl").write_text('{"index": 0, "time": 1, "actor": "agent", "action": "wait"}\n')
    done = _eval(*tasks, "--replay", replays, "--workers", 2, "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    for domain, task_id in ONE_PER_PROGRAM.items():
        record = _result(out, "replay", domain, task_id)
        assert (record["status"], record["score"], record["outcome"]) == ("scored", 1.0, "finish"), record
        folder = record["folder"]
        assert (folder / "result.txt").read_text().strip() == "1.0"
        lines = [json.loads(line) for line in (folder / "traj.jsonl").read_text().splitlines()]
        assert len(lines) == record["steps"] == len(read_trajectory(folder / "trajectory").steps) >= 2
        assert set(lines[0]) == {"step_num", "action_timestamp", "action", "response", "reward", "done", "info",
                                 "screenshot_file"}
        assert lines[-1]["action"] == "DONE" and lines[-1]["done"] and not lines[0]["done"]
        assert all((folder / line["screenshot_file"]).is_file() for line in lines)
    wrong = _result(out, "replay", "sampleapp", "sampleapp-click-save")
    assert (wrong["status"], wrong["score"]) == ("scored", 0.0)
    assert (wrong["folder"] / "result.txt").read_text().strip() == "0.0"
    unsupported = _result(out, "replay", "chrome", "chrome-open-tabs")
    assert unsupported["status"] == "unsupported"
    assert unsupported["error"] == "needs the VM snapshot 'chrome' (only a fresh local desktop is available)"
    assert not (unsupported["folder"] / "result.txt").exists()
    summary = json.loads((out / "pyautogui" / "screenshot" / "replay" / "summary.json").read_text())
    assert summary["overall"]["tasks"] == 7 and summary["overall"]["solved"] == 5
    assert summary["overall"]["unsupported"] == 1 and summary["domains"]["sampleapp"]["success_rate"] == 0.5
    assert "overall" in done.stdout and "unsupported: chrome-open-tabs: needs the VM snapshot" in done.stdout

    # a rerun finds every scored task's result.txt and runs nothing again
    stamp = (wrong["folder"] / "result.txt").stat().st_mtime
    started = time.monotonic()
    again = _eval(*tasks, "--replay", replays, "--workers", 2, "--out", out)
    assert again.returncode == 0, again.stdout + again.stderr
    assert time.monotonic() - started < 20
    assert (wrong["folder"] / "result.txt").stat().st_mtime == stamp
    assert "solved 5" in again.stderr


def _said(thought: str, action: str, instruction: str) -> dict:
    return {"response": f"{thought}\nAction: {action}", "match": instruction}


def test_an_end_to_end_planner_over_the_scripted_server_solves_tasks(tmp_path):
    save_click = read_trajectory(SOLUTIONS / "sampleapp-click-save").steps[0]  # where openbox puts Save
    x, y = save_click.pointer
    script = [
        _said("The shortcut is asked for.", "hotkey (ctrl, shift, t)", r"Ctrl\+Shift\+T"),
        _said("Done.", "finish", r"Ctrl\+Shift\+T"),
        _said("Select everything.", "hotkey (ctrl, a)", r"draft\.txt"),
        _said("Type the new text.", "type text: Final version", r"draft\.txt"),
        _said("Save it.", "hotkey (ctrl, s)", r"draft\.txt"),
        _said("Saved.", "finish", r"draft\.txt"),
        _said("The Save button is top left.", f"click ({x}, {y})", "Click the Save button"),
        _said("Clicked.", "finish", "Click the Save button"),
    ]
    with ScriptedServer(script) as server:
        models = tmp_path / "models.toml"
        models.write_text(f'[profiles.planner]\nbackend = "openai"\nbase_url = "{server.base_url}"\n'
                          f'model = "scripted"\nmax_retries = 0\nimage_max_pixels = {1280 * 800}\n')
        tasks = [TASKS / "sampleapp" / "sampleapp-shortcut.json", TASKS / "mousepad" / "mousepad-replace-text.json",
                 TASKS / "sampleapp" / "sampleapp-click-save.json"]
        out = tmp_path / "results"
        done = _eval(*tasks, "--planner", "planner", "--planner-kind", "end-to-end", "--models-file", models,
                     "--workers", 2, "--settle", 0.5, "--out", out)
        assert done.returncode == 0, done.stdout + done.stderr
        assert server.unused_entries == []
    for domain, task_id, steps in (("sampleapp", "sampleapp-shortcut", 2), ("mousepad", "mousepad-replace-text", 4),
                                   ("sampleapp", "sampleapp-click-save", 2)):
        record = _result(out, "scripted", domain, task_id)
        assert (record["status"], record["score"], record["steps"]) == ("scored", 1.0, steps), record
        meta = read_trajectory(record["folder"] / "trajectory").meta
        assert meta["agent"]["planner_kind"] == "end-to-end" and meta["agent"]["mode"] == "auto"


def test_a_local_ray_instance_runs_tasks(tmp_path):
    pytest.importorskip("ray", reason="the eval extra: pip install -e '.[eval]'")
    out = tmp_path / "results"
    done = _eval(TASKS / "galculator", "--replay", SOLUTIONS, "--ray", "local", "--workers", 2, "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    for task_id in ("galculator-multiply", "galculator-divide"):
        record = _result(out, "replay", "galculator", task_id)
        assert (record["status"], record["score"]) == ("scored", 1.0), record
        assert (record["folder"] / "traj.jsonl").is_file() and (record["folder"] / "trajectory" / "meta.json").is_file()
        spec = json.loads((record["folder"] / "spec.json").read_text())
        assert spec["result_dir"] == str(record["folder"])  # the worker's scratch path is not left behind
    assert "on Ray (local)" in done.stdout


def test_open_activate_and_close_window_steps_on_a_display(tmp_path, wm_display):
    from pcagent.testbed.xdo import Xdo

    (tmp_path / "notes.txt").write_text("hello\n")
    env = TaskEnvironment(tmp_path / "run", tmp_path, wm_display.env)
    xdo = Xdo(env.env)
    try:
        run_steps(env, [{"type": "download", "parameters": {"files": [{"url": "notes.txt", "path": "/home/user/notes.txt"}]}},
                        {"type": "open", "parameters": {"path": "/home/user/notes.txt"}},
                        {"type": "activate_window", "parameters": {"window_name": "notes.txt - Mousepad"}}])
        assert "notes.txt" in xdo.run("getactivewindow", "getwindowname")
        run_steps(env, [{"type": "close_window", "parameters": {"window_name": "notes.txt - Mousepad"}}])
        deadline = time.monotonic() + 10
        while env.processes[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert env.processes[0].poll() is not None  # the editor quit when its window was closed
    finally:
        env.close()
