"""Task files (OSWorld's format), what makes a task unsupported here, the task environment's paths, the
setup steps and getters that need no display, and the run summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pcagent.eval.getters import get_state
from pcagent.eval.results import format_summary, model_folder, summarize
from pcagent.eval.sampleapp_state import app_state
from pcagent.eval.setup import SetupError, TaskEnvironment, run_steps
from pcagent.eval.tasks import TaskError, load_task, load_tasks, unsupported_reason

BUNDLED = Path(__file__).resolve().parent.parent / "pcagent" / "eval" / "tasks"
SOLUTIONS = BUNDLED.parent / "solutions"


def _task(tmp_path, **fields):
    raw = {"id": "t1", "snapshot": "local", "instruction": "do it", "config": [],
           "evaluator": {"func": "exact_match", "result": {"type": "rule", "rules": 1},
                         "expected": {"type": "rule", "rules": {"expected": 1}}}, **fields}
    path = tmp_path / "os" / f"{raw['id']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw))
    return load_task(path)


def test_the_bundled_suite_loads_is_supported_and_has_a_solution_per_task():
    tasks = load_tasks([BUNDLED])
    assert len(tasks) >= 20
    assert {t.domain for t in tasks} == {"sampleapp", "mousepad", "xterm", "pcmanfm", "galculator"}
    assert [t.id for t in tasks if unsupported_reason(t)] == []
    for task in tasks:
        assert (SOLUTIONS / task.id / "steps.jsonl").is_file(), task.id
    funcs = {f for t in tasks for f in t.funcs}
    assert funcs >= {"exact_match", "check_include_exclude", "check_direct_json_object", "infeasible",
                     "diff_text_file", "compare_table", "compare_docx_files", "check_list", "compare_images"}
    assert {t.evaluator.get("conj") for t in tasks if len(t.funcs) > 1} == {"and", "or"}


def test_a_domain_is_the_folder_unless_the_task_names_one(tmp_path):
    assert _task(tmp_path).domain == "os"
    assert _task(tmp_path, domain="chrome").domain == "chrome"


def test_malformed_tasks_and_duplicate_ids_are_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "x", "instruction": "y"}))
    with pytest.raises(TaskError, match="evaluator"):
        load_task(bad)
    bad.write_text(json.dumps({"id": "../x", "instruction": "y", "evaluator": {"func": "exact_match"}}))
    with pytest.raises(TaskError, match="folder"):
        load_task(bad)
    first = _task(tmp_path)
    copy = tmp_path / "other" / "t1.json"
    copy.parent.mkdir()
    copy.write_text(first.path.read_text())
    with pytest.raises(TaskError, match="both"):
        load_tasks([tmp_path / "os", copy])
    with pytest.raises(TaskError, match="no such"):
        load_tasks([tmp_path / "nowhere"])


@pytest.mark.parametrize("fields, reason", [
    ({"snapshot": "chrome"}, "needs the VM snapshot 'chrome'"),
    ({"proxy": True}, "needs a proxy"),
    ({"fixed_ip": True}, "fixed IP"),
    ({"config": [{"type": "launch", "parameters": {}}, {"type": "chrome_open_tabs", "parameters": {}}]},
     "setup step 2 (chrome_open_tabs) needs a Chrome remote debugging port"),
    ({"config": [{"type": "googledrive", "parameters": {}}]}, "needs Google Drive"),
    ({"config": [{"type": "tidy_desk", "parameters": {}}]}, "setup step 1 has type 'tidy_desk', which is not supported"),
    ({"evaluator": {"func": "exact_match", "result": {"type": "active_tab_info"}, "expected": {"type": "rule", "rules": {}}}},
     "the result getter 'active_tab_info' needs a Chrome remote debugging port"),
    ({"evaluator": {"func": "compare_pptx_files", "result": {"type": "vm_file"}}}, "the metric 'compare_pptx_files' is not supported"),
    ({"evaluator": {"func": "compare_table", "result": {"type": "vm_file"}, "options": {"rules": [{"type": "pivot_table"}]}}},
     "compare_table rule 'pivot_table'"),
    ({"evaluator": {"func": "exact_match", "postconfig": [{"type": "googledrive"}], "result": {"type": "rule"}}},
     "postconfig step 1 (googledrive) needs Google Drive"),
])
def test_unsupported_tasks_name_the_exact_reason(tmp_path, fields, reason):
    assert reason in unsupported_reason(_task(tmp_path, **fields))


def test_paths_and_commands_map_osworld_home_to_the_task_home(tmp_path):
    env = TaskEnvironment(tmp_path / "run", tmp_path, {"DISPLAY": ":99"})
    assert env.path("/home/user/Desktop/a.txt") == env.home / "Desktop" / "a.txt"
    assert env.path("~/a.txt") == env.home / "a.txt"
    assert env.path("a.txt") == env.home / "a.txt"
    assert env.path("/etc/hosts") == Path("/etc/hosts")
    assert env.command("cat /home/user/a.txt /home/username") == f"cat {env.home}/a.txt /home/username"
    assert env.command(["ls", "/home/user"]) == ["ls", str(env.home)]
    assert env.env["HOME"] == str(env.home) and env.env["DISPLAY"] == ":99"


def test_setup_steps_download_and_execute_then_getters_read_the_results(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "data.txt").write_text("one\ntwo\n")
    env = TaskEnvironment(tmp_path / "run", tmp_path, {})
    run_steps(env, [
        {"type": "download", "parameters": {"files": [
            {"url": "files/data.txt", "path": "/home/user/docs/data.txt"},
            {"url": (tmp_path / "files" / "data.txt").as_uri(), "path": "~/copy.txt"}]}},
        {"type": "execute", "parameters": {"command": "wc -l < /home/user/docs/data.txt > count.txt", "shell": True}},
        {"type": "command", "parameters": {"command": ["touch", "/home/user/flag"], "until": {"returncode": 0}}},
        {"type": "sleep", "parameters": {"seconds": 0}},
    ])
    assert (env.home / "copy.txt").read_text() == "one\ntwo\n"
    assert get_state(env, {"type": "vm_command_line", "command": ["cat", "/home/user/count.txt"]}) == "2\n"
    assert get_state(env, {"type": "vm_command_error", "command": "echo oops >&2", "shell": True}) == "oops\n"
    copied = get_state(env, {"type": "vm_file", "path": "/home/user/docs/data.txt", "dest": "d.txt"})
    assert copied == str(env.cache / "d.txt") and Path(copied).read_text() == "one\ntwo\n"
    assert get_state(env, {"type": "vm_file", "path": "/home/user/none.txt", "dest": "n.txt"}) is None
    multi = {"type": "vm_file", "multi": True, "path": ["~/copy.txt", "~/none", "~/flag"], "dest": ["a", "b", "c"],
             "gives": [1, 2]}
    assert get_state(env, multi) == [None, str(env.cache / "c")]
    assert get_state(env, {"type": "rule", "rules": {"expected": 1}}) == {"expected": 1}
    assert get_state(env, {"type": "cache_file", "path": "files/data.txt"}) == str(tmp_path / "files" / "data.txt")
    with pytest.raises(FileNotFoundError):
        get_state(env, {"type": "cache_file", "path": "files/none.txt"})
    cloud = get_state(env, {"type": "cloud_file", "path": (tmp_path / "files" / "data.txt").as_uri(), "dest": "c.txt"})
    assert Path(cloud).read_text() == "one\ntwo\n"


def test_a_failing_setup_step_says_which_and_why(tmp_path):
    env = TaskEnvironment(tmp_path / "run", tmp_path, {})
    with pytest.raises(SetupError, match=r"setup step 2 \(download\): cannot download files/none.txt"):
        run_steps(env, [{"type": "sleep", "parameters": {"seconds": 0}},
                        {"type": "download", "parameters": {"files": [{"url": "files/none.txt", "path": "x"}]}}])
    with pytest.raises(SetupError, match="never met"):
        run_steps(env, [{"type": "execute", "parameters": {"command": "echo no", "shell": True,
                                                             "until": {"stdout": "yes"}}}])
    with pytest.raises(SetupError, match="network"):
        run_steps(env, [{"type": "download", "parameters": {"files": [
            {"url": "http://127.0.0.1:9/none.txt", "path": "x"}]}}])


def test_the_summary_counts_domains_apps_errors_and_unsupported_apart():
    records = [
        {"task_id": "a", "domain": "os", "related_apps": ["xterm"], "status": "scored", "score": 1.0, "steps": 4, "time_s": 10},
        {"task_id": "b", "domain": "os", "related_apps": ["xterm", "mousepad"], "status": "scored", "score": 0.5, "steps": 2, "time_s": 20},
        {"task_id": "c", "domain": "office", "related_apps": ["mousepad"], "status": "error", "score": None, "error": "boom"},
        {"task_id": "d", "domain": "chrome", "related_apps": ["chrome"], "status": "unsupported", "score": None, "error": "port"},
    ]
    summary = summarize(records, wall_s=12.34)
    assert summary["overall"] == {"tasks": 4, "scored": 2, "errors": 1, "unsupported": 1, "solved": 1,
                                  "success_rate": round(1 / 3, 4), "mean_score": 0.5, "mean_steps": 2.0,
                                  "mean_time_s": 10.0}
    assert summary["domains"]["os"]["success_rate"] == 0.5
    assert summary["domains"]["chrome"]["success_rate"] is None
    assert summary["apps"]["mousepad"]["tasks"] == 2
    assert summary["unsupported"] == {"d": "port"} and summary["errors"] == {"c": "boom"}
    table = format_summary(summary)
    assert "domain os" in table and "app xterm" in table and "unsupported: d: port" in table
    assert model_folder("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen2.5-VL-7B-Instruct"
    assert model_folder("a b:c") == "a_b_c"


def test_the_sample_app_log_becomes_the_state_evaluators_read(tmp_path):
    events = [{"event": "ready"}, {"event": "name_changed", "text": "Ad"}, {"event": "name_changed", "text": "Ada"},
              {"event": "name_return", "text": "Ada"}, {"event": "button_clicked", "name": "Save"},
              {"event": "item_double_clicked", "text": "Item 4"}, {"event": "pad_press", "count": 1},
              {"event": "pad_press", "count": 2}, {"event": "context_action", "action": "Rename", "item": "Item 2"},
              {"event": "shortcut", "keys": "ctrl+shift+t"}, {"event": "list_scrolled", "value": 66}]
    log = tmp_path / "app.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events) + '{"event": "na')  # a line being written
    assert app_state(log) == {"name": "Ada", "name_entered": "Ada", "buttons": ["Save"], "opened": ["Item 4"],
                              "clicked_items": [], "context_actions": [{"action": "Rename", "item": "Item 2"}],
                              "pad_presses": 2, "shortcuts": ["ctrl+shift+t"], "drops": 0, "list_scroll": 66}
