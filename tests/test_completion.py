"""Cognition completion (tracker.completion, `pcagent trace complete`) against the real scripted model server on
loopback: trajectories written by TrajectoryWriter with real images in every screenshot format."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from grounding import coordinates
from models.factory import open_model
from models.images import image_from_data_url
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer, last_user_text
from pcagent.cli.main import main
from tracker.completion import LOG_FILE, CompletionOptions, PromptSet, complete_trajectories
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta, read_trajectory
from tracker.format.trajectory_check import check_trajectory

REPO = Path(__file__).resolve().parent.parent
SIZE = (320, 200)
HUMAN_THOUGHT = {"text": "I type the name I was given.", "source": "human", "time": 1700000001.5}

# Answers by pass, matched on a phrase each default prompt ends with.
DESCRIBE = {"match": "Which element was clicked", "response": "Element: the blue 'Save' button", "repeat": "forever"}
CHECK = {"match": "Is the description right", "response": "Verdict: good", "repeat": "forever"}
THOUGHT = {"match": "thought just before this action", "response": "I save my work now.", "repeat": "forever"}
REFLECTION = {"match": "Was the last step correct",
              "response": "Correct: yes\nRedundant: no\nReflection: The click did what I wanted.", "repeat": "forever"}
BOOST = {"match": "Think about the next step", "response": "I press Save.\nAction: click (60, 45)", "repeat": "forever"}


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in list(os.environ):
        if variable.startswith("PCAGENT_PROFILE_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "no-models.toml"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def screen(number: int) -> Image.Image:
    """A small screen with a blue button that moves from step to step."""
    image = Image.new("RGB", SIZE, (236, 236, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20 + 8 * number, 20, 120 + 8 * number, 60), fill=(30, 90, 200))
    draw.text((30 + 8 * number, 32), f"Save {number}", fill=(255, 255, 255))
    draw.rectangle((0, 180, 319, 199), fill=(60, 60, 60))
    return image


FORMATS = [ScreenshotFormat("png"), ScreenshotFormat("jxl"), ScreenshotFormat("webp"), ScreenshotFormat("avif", 90),
           ScreenshotFormat("jpeg", 90)]


def build(root: Path, actions: list[str], *, thoughts: dict[int, dict] | None = None,
          task: str = "Save the report") -> Path:
    """A finished human recording; step i's screenshot in FORMATS[i % 5]."""
    meta = new_meta(task={"mode": "free", "description": task},
                    screens=[{"left": 0, "top": 0, "width": SIZE[0], "height": SIZE[1]}])
    with TrajectoryWriter(root, meta) as writer:
        for index, action in enumerate(actions):
            fmt = FORMATS[index % len(FORMATS)]
            path = writer.save_screenshot(index, fmt.encode(screen(index)), fmt.extension)
            extra = {"thought": dict(thoughts[index])} if thoughts and index in thoughts else {}
            writer.append_step(Step(index, 1700000000.0 + index, "human", action, path,
                                    element={"name": "Save", "role": "push button"}, extra=extra))
        writer.close("finish")
    return root


def profile_for(server: ScriptedServer, **fields) -> ModelProfile:
    values = {"model": "scripted-vlm", "max_retries": 0, "timeout_s": 5.0, **fields}
    return ModelProfile(name="scripted", base_url=server.base_url, **values)


def run(roots: list[Path], server: ScriptedServer, options: CompletionOptions, **profile_fields):
    profile = profile_for(server, **profile_fields)
    model = open_model(profile)
    try:
        return complete_trajectories(roots, model, profile, options)
    finally:
        model.close()


def images_of(body: dict) -> list[Image.Image]:
    return [image_from_data_url(part["image_url"]["url"]) for message in body["messages"]
            if isinstance(message["content"], list) for part in message["content"] if part["type"] == "image_url"]


def work_of(body: dict) -> tuple[str, str, int]:
    """(task, pass, step index) of a request, read from its prompt."""
    text = last_user_text(body)
    task = re.search(r"Task(?: of the recording)?: (.*)", text).group(1)
    if "Was the last step correct" in text:
        return task, "reflection", int(re.search(r"\(step (\d+) of", text).group(1))
    name = "describe" if "Which element" in text else "check" if "Is the description" in text else "thought"
    return task, name, int(re.search(r"Step (\d+) of \d+[.:]", text).group(1)) - 1


# ---- fields filled ----------------------------------------------------------------------------------

def test_every_pass_fills_its_fields_in_every_screenshot_format_and_human_thoughts_stay(tmp_path, serve):
    actions = ["click (60, 40)", "type text: Quarterly", "double click (100, 45)", "drag from (30, 40) to (200, 150)",
               "finish"]
    root = build(tmp_path / "t", actions, thoughts={1: HUMAN_THOUGHT})
    typed_line = (root / "steps.jsonl").read_text().splitlines()[1]
    server = serve([DESCRIBE, CHECK, THOUGHT, REFLECTION, BOOST])
    options = CompletionOptions(passes=("describe", "check", "thought", "reflection", "boost"), boost_samples=2,
                                concurrency=4)
    summary = run([root], server, options)

    assert summary.ok and summary.total("failed") == 0
    counts = {name: (c.done, c.skipped) for name, c in summary.counts.items()}
    assert counts == {"describe": (2, 3), "check": (2, 3), "thought": (4, 1), "reflection": (4, 1), "boost": (5, 0)}
    assert summary.requests == len(server.requests) == 2 + 2 + 4 + 4 + 5 * 2
    assert summary.prompt_tokens > 0 and summary.completion_tokens > 0
    steps = read_trajectory(root).steps
    assert steps[0].extra["action_description"] == "click element: the blue 'Save' button"
    assert steps[2].extra["action_description"] == "double click element: the blue 'Save' button"
    assert steps[0].extra["action_description_checked"] == {"verdict": "good"}
    assert "action_description" not in steps[1].extra  # typing has no click target
    for step in (steps[0], steps[2], steps[3], steps[4]):
        assert step.extra["thought"] == {"text": "I save my work now.", "source": "completed", "model": "scripted-vlm",
                                         "profile": "scripted", "pass": "thought", "mode": "history"}
    assert steps[1].extra["thought"] == HUMAN_THOUGHT  # typed while recording: kept as it was
    assert json.loads((root / "steps.jsonl").read_text().splitlines()[1])["thought"] == json.loads(typed_line)["thought"]
    assert "reflection" not in steps[0].extra
    assert steps[3].extra["reflection"] == {"previous_step": 2, "correct": True, "redundant": False,
                                            "text": "The click did what I wanted.", "source": "completed",
                                            "model": "scripted-vlm", "profile": "scripted", "pass": "reflection"}
    assert steps[0].extra["boost"]["samples"] == [{"thought": "I press Save.", "action": "click (60, 45)"}]
    assert steps[4].extra["boost"]["samples"] == []  # the human finished here; a click does not
    record = steps[0].extra["completion"]["describe"]
    assert record["status"] == "done" and record["model"] == "scripted-vlm" and record["cached"] is False
    assert [p for p in check_trajectory(root) if p.severity == "error"] == []

    # what the model saw: the click marked on describe's screenshot, the untouched screenshot for boost
    describe_body = next(b for b in server.requests if "Which element" in last_user_text(b)
                         and "Step 1 of 5:" in last_user_text(b))
    marked = images_of(describe_body)[0]
    assert marked.getpixel((60, 40))[0] > 200 and marked.getpixel((60, 40))[2] < 80  # the red dot
    boost_body = next(b for b in server.requests if "Think about the next step" in last_user_text(b)
                      and "first step" in last_user_text(b))
    assert images_of(boost_body)[0].convert("RGB").tobytes() == screen(0).tobytes()  # PNG: exact
    reflection_body = next(b for b in server.requests if "(step 3 of" in last_user_text(b))
    assert [image.size for image in images_of(reflection_body)] == [SIZE, SIZE, (160, 100)]  # before, after, close-up


def test_hindsight_mode_shows_the_next_steps(tmp_path, serve):
    root = build(tmp_path / "t", ["click (60, 40)", "press key: enter", "finish"])
    server = serve([THOUGHT])
    summary = run([root], server, CompletionOptions(passes=("thought",), thought_mode="hindsight"))
    assert summary.ok and summary.counts["thought"].done == 3
    first = next(last_user_text(b) for b in server.requests if "Step 1 of 3." in last_user_text(b))
    assert "Step 2: press key: enter" in first and "Step 3: finish" in first
    assert read_trajectory(root).steps[0].extra["thought"]["mode"] == "hindsight"


# ---- faults, exit codes and the summary -------------------------------------------------------------

def test_faults_are_recorded_the_rest_is_done_and_a_rerun_retries_only_them(tmp_path, serve, capsys, monkeypatch):
    root = build(tmp_path / "t", ["click (60, 40)"] * 5)
    faulty = serve([
        {"match": r"(?s)Step 2 of 5:.*Which element", "fault": "http_500"},
        {"match": r"(?s)Step 4 of 5:.*Which element", "response": "I am not sure.\nMaybe a button?"},  # garbage
        {"match": r"(?s)Step 3 of 5\..*thought just before", "fault": "hang", "latency_s": 5},  # a timeout
        DESCRIBE, THOUGHT])
    args = ["trace", "complete", str(root), "--model", "scripted", "--passes", "describe,thought", "--no-progress"]
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_BASE_URL", faulty.base_url)
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_MAX_RETRIES", "0")
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_TIMEOUT_S", "1.5")
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "done 7 (cached 0), failed 3, skipped 0; 10 requests" in out
    assert re.search(r"step 1 describe: .*500", out) and re.search(r"step 3 describe: unusable answer", out)
    assert re.search(r"step 2 thought: .*did not answer within 1.5 s", out)
    steps = read_trajectory(root).steps
    assert steps[1].extra["completion"]["describe"]["status"] == "failed"
    assert "500" in steps[1].extra["completion"]["describe"]["error"]
    assert "action_description" not in steps[1].extra and "thought" not in steps[2].extra
    assert steps[0].extra["action_description"] and steps[4].extra["thought"]["text"] == "I save my work now."
    log = [json.loads(line) for line in (root / LOG_FILE).read_text().splitlines()]
    assert sorted((r["index"], r["pass"]) for r in log if r["status"] == "failed") == \
        [(1, "describe"), (2, "thought"), (3, "describe")]

    healthy = serve([DESCRIBE, THOUGHT])
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_BASE_URL", healthy.base_url)
    assert main(args) == 0
    assert sorted(work_of(body)[1:] for body in healthy.requests) == [("describe", 1), ("describe", 3), ("thought", 2)]
    assert "done 3 (cached 0), failed 0" in capsys.readouterr().out
    assert all("thought" in s.extra and "action_description" in s.extra for s in read_trajectory(root).steps)


def test_an_unreachable_model_exits_3_and_bad_arguments_exit_2(tmp_path, serve, capsys, monkeypatch):
    root = build(tmp_path / "t", ["click (60, 40)", "finish"])
    gone = serve([])
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_BASE_URL", gone.base_url)
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_MAX_RETRIES", "0")
    gone.stop()
    assert main(["trace", "complete", str(root), "--model", "scripted", "--no-progress"]) == 3
    assert main(["trace", "complete", str(root), "--model", "scripted", "--passes", "thoughts"]) == 2
    assert main(["trace", "complete", str(tmp_path), "--model", "nobody"]) == 2  # no such profile
    assert main(["trace", "complete", str(tmp_path / "t" / "screenshots"), "--model", "scripted"]) == 2
    err = capsys.readouterr().err
    assert "unknown pass(es) thoughts" in err and "no model profile 'nobody'" in err
    assert "not a trajectory folder" in err


# ---- cache and resume ------------------------------------------------------------------------------

def test_the_cache_answers_a_second_run_without_a_request(tmp_path, serve):
    actions = ["click (60, 40)", "click (100, 45)", "finish"]
    first, second = build(tmp_path / "a", actions), build(tmp_path / "b", actions)  # same screens, same steps
    options = CompletionOptions(passes=("describe", "check", "thought", "reflection", "boost"), boost_samples=2,
                                cache_dir=tmp_path / "cache")
    asked = serve([DESCRIBE, CHECK, THOUGHT, REFLECTION, BOOST])
    summary = run([first], asked, options)
    assert summary.ok and summary.requests == len(asked.requests) > 0 and summary.total("cached") == 0

    silent = serve([])  # answers nothing: any request would fail
    again = run([second], silent, options)
    assert again.ok and silent.requests == [] and again.requests == 0
    assert again.total("done") == again.total("cached") == summary.total("done")
    assert again.prompt_tokens == 0
    steps = read_trajectory(second).steps
    assert steps[0].extra["completion"]["thought"]["cached"] is True
    assert steps[0].extra["thought"]["text"] == "I save my work now."
    assert steps[0].extra["boost"] == read_trajectory(first).steps[0].extra["boost"] | {}

    other = serve([THOUGHT])  # another model is another cache key
    third = build(tmp_path / "c", actions)
    assert run([third], other, CompletionOptions(passes=("thought",), cache_dir=tmp_path / "cache"),
               model="another-vlm").requests == 3


def test_resume_after_a_killed_run_repeats_no_request(tmp_path, serve):
    actions = ["click (60, 40)", "click (90, 50)", "click (120, 60)", "click (150, 70)", "click (180, 80)", "finish"]
    roots = [build(tmp_path / f"t{n}", actions, task=f"Save report {n}") for n in range(2)]
    slow = serve([{**DESCRIBE, "latency_s": 0.15}, {**THOUGHT, "latency_s": 0.15}])
    env = {**os.environ, "PCAGENT_PROFILE_SCRIPTED_BASE_URL": slow.base_url, "PCAGENT_PROFILE_SCRIPTED_MAX_RETRIES": "0"}
    command = [sys.executable, "-m", "pcagent", "trace", "complete", *map(str, roots), "--model", "scripted",
               "--passes", "describe,thought", "--concurrency", "2", "--no-cache", "--no-progress"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def done_so_far() -> set[tuple[str, str, int]]:
        return {(f"Save report {n}", r["pass"], r["index"]) for n, root in enumerate(roots)
                if (root / LOG_FILE).exists() for r in _whole_records(root / LOG_FILE) if r["status"] == "done"}

    deadline = time.monotonic() + 30
    while len(done_so_far()) < 6 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # a crash: no chance to write anything more
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    done_before = done_so_far()
    everything = {(f"Save report {n}", name, index) for n in range(2)
                  for name, count in (("describe", 5), ("thought", 6)) for index in range(count)}
    assert 6 <= len(done_before) < len(everything)
    for root in roots:  # steps.jsonl is whole whatever moment the kill came
        assert [p for p in check_trajectory(root) if p.severity == "error"] == []

    resumed = serve([DESCRIBE, THOUGHT])
    summary = run(roots, resumed, CompletionOptions(passes=("describe", "thought"), cache_dir=None))
    asked_again = [work_of(body) for body in resumed.requests]
    assert summary.ok and len(asked_again) == len(set(asked_again))
    assert set(asked_again) == everything - done_before  # nothing done before is asked again
    for root in roots:
        steps = read_trajectory(root).steps
        assert all(s.extra["thought"]["source"] == "completed" for s in steps)
        assert all(s.extra["action_description"] for s in steps[:5])


def _whole_records(path: Path) -> list[dict]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # the line the kill cut short
            pass
    return records


# ---- boost ------------------------------------------------------------------------------------------

def test_boost_keeps_only_samples_that_parse_point_on_the_screen_and_end_like_the_human(tmp_path, serve):
    root = build(tmp_path / "t", ["click (40, 30)"])
    answers = ["I click the button.\nAction: click (40, 30)", "I click the button.\nAction: click (40, 30)",
               "I click far away.\nAction: click (9999, 30)", "I click.\nAction: click (x, y)",
               "I am done.\nAction: finish", "I click it.\nAction: click element: the OK button",
               "blah blah, no action here", "Action: click (10, 10)",
               "I scroll.\nAction: scroll (0, -3) at (50, 50)", "import os; os.system('rm -rf /')"]
    server = serve([{"match": "Think about the next step", "response": text} for text in answers])
    summary = run([root], server, CompletionOptions(passes=("boost",), boost_samples=len(answers)))
    assert summary.ok and len(server.requests) == len(answers)
    boost = read_trajectory(root).steps[0].extra["boost"]
    assert boost["samples"] == [{"thought": "I click the button.", "action": "click (40, 30)"},
                                {"thought": "I scroll.", "action": "scroll (0, -3) at (50, 50)"}]
    assert boost["duplicates"] == 1 and boost["requested"] == len(answers)
    reasons = " | ".join(boost["rejected"])
    assert len(boost["rejected"]) == 7
    for why in ("off the screen", "placeholder", "finishes where the human did not", "no coordinates",
                "0 'Action:' lines", "no thought"):
        assert why in reasons
    assert {body["temperature"] for body in server.requests} == {1.0}
    assert (summary.boost_kept, summary.boost_rejected) == (2, 7)


@pytest.mark.parametrize("action_format, convention, answer, expected", [
    ("uitars", "uitars_resized", "Thought: I press Save.\nAction: click(start_box='(140,90)')", (140, 90)),
    ("opencua", "norm1", ("## Thought:\nI press Save.\n## Action:\nClick Save\n## Code:\n```python\n"
                          "pyautogui.click(x=0.25, y=0.5)\n```"), (0.25, 0.5)),
    ("qwen_computer_use", "norm1000", ('Thought: I press Save.\n<tool_call>\n{"name": "computer_use", "arguments": '
                                       '{"action": "left_click", "coordinate": [500, 250]}}\n</tool_call>'), (500, 250)),
])
def test_boost_reads_the_profiles_own_output_format(tmp_path, serve, action_format, convention, answer, expected):
    root = build(tmp_path / "t", ["click (40, 30)"])
    server = serve([{"match": "Think about the next step", "response": answer},
                    {"match": "Think about the next step", "response": answer.replace("0.25", "1.5")
                     .replace("140", "4000").replace("500, 250", "500, 2500")}])
    summary = run([root], server, CompletionOptions(passes=("boost",), boost_samples=2), action_format=action_format,
                  output_convention=convention)
    boost = read_trajectory(root).steps[0].extra["boost"]
    x, y = coordinates.to_screen(*expected, convention, SIZE, SIZE)
    assert summary.ok and boost["samples"] == [{"thought": "I press Save.", "action": f"click ({x}, {y})"}]
    assert len(boost["rejected"]) == 1 and "off the screen" in boost["rejected"][0]
    assert boost["action_format"] == action_format


def test_boost_with_openai_tool_calls(tmp_path, serve):
    root = build(tmp_path / "t", ["click (40, 30)"])
    call = {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [80, 50]}}
    server = serve([{"match": "Think about the next step", "response": "Thought: I press Save.", "tool_calls": [call]}])
    summary = run([root], server, CompletionOptions(passes=("boost",), boost_samples=1), action_format="tool_calls")
    assert summary.ok
    assert server.requests[0]["tools"][0]["function"]["name"] == "computer_use"
    assert read_trajectory(root).steps[0].extra["boost"]["samples"] == [
        {"thought": "I press Save.", "action": "click (80, 50)"}]


# ---- prompts and the file on disk ---------------------------------------------------------------------

def test_prompts_can_be_overridden_by_file_and_bad_ones_are_refused(tmp_path, serve, capsys, monkeypatch):
    root = build(tmp_path / "t", ["click (60, 40)", "finish"])
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "thought.user.txt").write_text("Objective: $task\nNow: $action\n$screenshot\n"
                                              "Write the person's thought just before this action.\n")
    server = serve([THOUGHT])
    summary = run([root], server, CompletionOptions(passes=("thought",), prompts_dir=prompts))
    assert summary.ok and last_user_text(server.requests[0]).startswith("Objective: Save the report\nNow: click (60, 40)")
    assert PromptSet(prompts).sources["thought.user.txt"] == str(prompts / "thought.user.txt")

    (prompts / "thought.user.txt").write_text("Task: $task $nonsense\n$screenshot\n")
    monkeypatch.setenv("PCAGENT_PROFILE_SCRIPTED_BASE_URL", server.base_url)
    assert main(["trace", "complete", str(root), "--model", "scripted", "--prompts", str(prompts)]) == 2
    assert "unknown placeholder(s) $nonsense" in capsys.readouterr().err
    (prompts / "thought.user.txt").unlink()
    (prompts / "thougth.user.txt").write_text("typo\n")
    assert main(["trace", "complete", str(root), "--model", "scripted", "--prompts", str(prompts)]) == 2
    assert "unknown prompt file(s) thougth.user.txt" in capsys.readouterr().err


def test_lines_completion_does_not_touch_stay_byte_for_byte(tmp_path, serve):
    root = build(tmp_path / "t", ["click (60, 40)", "press key: enter", "finish"])
    path = root / "steps.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines.insert(1, b'{"index": "not a step", "note": "kept as it is"}')
    path.write_bytes(b"\n".join(lines))
    server = serve([DESCRIBE])
    summary = run([root], server, CompletionOptions(passes=("describe",)))
    assert summary.counts["describe"].done == 1 and any("line skipped" in p for p in summary.problems)
    after = path.read_bytes().split(b"\n")
    assert after[1:] == lines[1:] and after[0] != lines[0]
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_trace_check_holds_completed_fields_to_their_shape(tmp_path, serve):
    root = build(tmp_path / "t", ["click (60, 40)", "click (90, 50)", "finish"])
    run([root], serve([DESCRIBE, CHECK, THOUGHT, REFLECTION, BOOST]),
        CompletionOptions(passes=("describe", "check", "thought", "reflection", "boost"), boost_samples=1))
    assert [p for p in check_trajectory(root) if p.severity == "error"] == []
    path = root / "steps.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["boost"]["samples"].append({"thought": "x", "action": "click element: the OK button"})
    lines[0]["action_description"] = "press key: enter"
    lines[1]["reflection"]["previous_step"] = 5
    lines[2]["thought"].pop("model")
    lines[2]["completion"]["thought"] = {"status": "failed"}
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    found = " | ".join(p.message for p in check_trajectory(root) if p.severity == "error")
    for why in ("boost must be", "must be an element click", "reflection must be", "completed thought needs",
                "completion must map"):
        assert why in found
