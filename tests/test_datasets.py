"""`pcagent trace export` and `import-osworld`: every export format loads back the way its consumer reads it
(LLaMA-Factory's sharegpt JSON, OpenAI messages, Hugging Face datasets' Parquet, OSWorld's traj.jsonl), an
OSWorld result folder (written by the evaluation harness's code, or in OSWorld's own layout) imports into a
trajectory `trace check` accepts and round-trips, and broken input is named while the rest goes on."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.collaborative_trajectory import (
    HOSTILE_THOUGHT, LOSSLESS, REPO, TASK, build_collaborative_trajectory, copy_recorded, screen,
)
from tracker.datasets.osworld_traj import TRAJ_FIELDS, TRAJ_FILE
from tracker.datasets.sources import unique_folder_name
from tracker.format.trajectory import Trajectory, read_trajectory
from tracker.format.trajectory_check import check_trajectory


def pcagent(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pcagent", *map(str, args)], cwd=REPO, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory) -> Path:
    """A folder holding the collaborative trajectory and a real recording."""
    folder = tmp_path_factory.mktemp("trajectories")
    build_collaborative_trajectory(folder / "collab")
    copy_recorded(folder / "recorded")
    return folder


def test_llamafactory_export_has_pc_agent_e_shape_and_its_dataset_info(trajectories, tmp_path):
    data = tmp_path / "LLaMA-Factory" / "data"
    data.mkdir(parents=True)
    (data / "dataset_info.json").write_text(json.dumps({"alpaca_en_demo": {"file_name": "alpaca_en_demo.json"}}))
    done = pcagent("trace", "export", trajectories / "collab", "--format", "llamafactory", "--out", data / "pc.json")
    assert done.returncode == 0, done.stderr
    assert "wrote 2 human samples, 1 boost samples; left out 1 step without a thought" in done.stdout

    samples = json.loads((data / "pc.json").read_text())
    assert [len(s["messages"]) for s in samples] == [2, 2, 2]
    for sample in samples:
        user, assistant = sample["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"].endswith("<image>") and user["content"].count("<image>") == 1
        assert f"Task: {TASK}" in user["content"] and "Action: <one action" in user["content"]
        (image,) = sample["images"]
        assert not Path(image).is_absolute()
        with Image.open(data / image) as opened:  # where LLaMA-Factory looks: relative to its dataset_dir
            assert opened.format in ("PNG", "JPEG", "WEBP") and opened.size == (320, 200)
    # the human's own step, then its boost sample on the same screenshot; then the completed thought
    assert samples[0]["messages"][1]["content"] == HOSTILE_THOUGHT.replace("<image>", "[image]") + \
        "\n\nAction: click (45, 50)"
    assert samples[1]["messages"][1]["content"].endswith("\n\nAction: click (44, 51)")
    assert samples[1]["images"] == samples[0]["images"] and samples[1]["messages"][0] == samples[0]["messages"][0]
    third = samples[2]["messages"]
    assert third[1]["content"] == "I scroll down to find the list.\n\nAction: scroll (0, -3) at (150, 100)"
    assert "Steps so far:" in third[0]["content"] and "Action: type text: Report" in third[0]["content"]
    assert "Steps so far: none" in samples[0]["messages"][0]["content"]
    # the JPEG XL screenshot of step 1 is not a sample; step 3's AVIF was converted to PNG
    assert samples[2]["images"][0].endswith("000003.png")
    with Image.open(data / samples[0]["images"][0]) as first:
        assert first.convert("RGB").tobytes() == screen(0).tobytes()

    info = json.loads((data / "dataset_info.json").read_text())
    assert info["alpaca_en_demo"] == {"file_name": "alpaca_en_demo.json"}  # other entries are kept
    assert info["pc"] == {"file_name": "pc.json", "formatting": "sharegpt",
                          "columns": {"messages": "messages", "images": "images"},
                          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                   "assistant_tag": "assistant"}}

    again = pcagent("trace", "export", trajectories / "collab", "--format", "llamafactory", "--out", data / "pc.json")
    assert again.returncode == 1 and "already exists (--force replaces it)" in again.stderr
    with_agent = pcagent("trace", "export", trajectories, "--format", "llamafactory", "--out", data / "pc.json",
                         "--steps", "all", "--no-boost", "--force")
    assert with_agent.returncode == 0, with_agent.stderr
    # the approved agent step joins; the edited one does not; the recording has no thoughts yet
    assert "wrote 2 human samples, 1 agent samples" in with_agent.stdout
    recorded = len(read_trajectory(trajectories / "recorded").steps)
    assert f"left out {1 + recorded} steps without a thought" in with_agent.stdout


def test_messages_jsonl_lines_are_chat_requests_with_the_screenshot_inside(trajectories, tmp_path):
    out = tmp_path / "messages.jsonl"
    done = pcagent("trace", "export", trajectories / "collab", "--format", "messages", "--out", out)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 3
    system, user, assistant = lines[2]["messages"]
    assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
    text_part, image_part = user["content"]
    assert text_part["type"] == "text" and "Task: " + TASK in text_part["text"]
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")  # AVIF is not for every consumer: sent as PNG
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert image.size == (320, 200)
    assert assistant["content"].endswith("Action: scroll (0, -3) at (150, 100)")


def test_parquet_loads_in_hugging_face_datasets_with_the_images(trajectories, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets", reason="the datasets extra: pip install -e '.[datasets]'")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "steps.parquet"
    done = pcagent("trace", "export", trajectories, "--format", "parquet", "--out", out)
    assert done.returncode == 0, done.stderr
    recorded = read_trajectory(trajectories / "recorded")
    loaded = datasets.load_dataset("parquet", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert isinstance(loaded.features["image"], datasets.Image)
    assert len(loaded) == 5 + len(recorded.steps)
    rows = [row for row in loaded if row["trajectory"] == "collab"]
    assert [row["actor"] for row in rows] == ["human", "agent", "agent", "human", "human"]
    assert [row["decision"] for row in rows] == [None, "approve", "edit", None, None]
    assert [row["thought_source"] for row in rows] == ["human", "agent", "agent", "completed", None]
    assert rows[0]["thought"] == HOSTILE_THOUGHT and rows[0]["task"] == TASK
    assert rows[0]["boosts"] == [{"thought": "The Save button is at the top left; I press it.",
                                  "action": "click (44, 51)"}]
    assert rows[3]["reflection"] == "Moving the window uncovered the list."
    assert rows[0]["element_rect"] == [20, 40, 70, 60] and rows[0]["application"] == "sampleapp"
    for index in LOSSLESS:  # PNG, JPEG XL (stored as PNG) and lossless WebP come back pixel for pixel
        assert rows[index]["image"].convert("RGB").tobytes() == screen(index).tobytes()
    assert all(row["image"].size == (320, 200) for row in rows)
    assert json.loads(rows[2]["extra"])["planned_action"] == "drag from (100, 20) to (120, 40)"
    first_recorded = next(row for row in loaded if row["trajectory"] == "recorded")
    assert first_recorded["action"] == recorded.steps[0].action and first_recorded["image"].size == (1280, 800)


def test_osworld_export_writes_traj_lines_and_imports_back(trajectories, tmp_path):
    out = tmp_path / "results"
    done = pcagent("trace", "export", trajectories / "collab", "--format", "osworld", "--out", out)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in (out / TRAJ_FILE).read_text().splitlines()]
    assert [tuple(line) for line in lines] == [TRAJ_FIELDS] * 5
    assert [line["step_num"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["action"] == "pyautogui.click(45, 50, button='left')" and lines[-1]["action"] == "DONE"
    assert [line["done"] for line in lines] == [False] * 4 + [True]
    assert lines[0]["response"] == HOSTILE_THOUGHT and lines[1]["info"]["actor"] == "agent"
    assert all((out / line["screenshot_file"]).is_file() for line in lines[:-1])
    assert lines[-1]["screenshot_file"] is None
    assert len(list(out.glob("step_0_*.png"))) == 1

    back = tmp_path / "back"
    imported = pcagent("trace", "import-osworld", out, back)
    assert imported.returncode == 0, imported.stderr
    assert pcagent("trace", "check", back).returncode == 0
    original, copy = read_trajectory(trajectories / "collab"), read_trajectory(back)
    assert copy.meta["task"]["description"] == TASK and copy.meta["outcome"] == "finish"
    for before, after in zip(original.steps, copy.steps, strict=True):
        assert (after.action, after.actor, after.time) == (before.action, before.actor, before.time)
        assert after.extra.get("thought", {}).get("text") == before.extra.get("thought", {}).get("text")
        assert after.extra.get("thought", {}).get("source") == before.extra.get("thought", {}).get("source")
        with Image.open(back / after.screenshot) as got:
            expected = screen(before.index) if before.index in LOSSLESS else \
                Image.open(trajectories / "collab" / before.screenshot).convert("RGB")
            assert got.convert("RGB").tobytes() == expected.tobytes()


def test_results_written_by_the_evaluation_harness_import(tmp_path):
    from pcagent.eval.results import write_task_results
    from pcagent.eval.tasks import load_task

    task = load_task(REPO / "pcagent" / "eval" / "tasks" / "sampleapp" / "sampleapp-rename-item.json")
    folder = tmp_path / "pyautogui" / "screenshot" / "replay" / "sampleapp" / task.id
    copy_recorded(folder / "trajectory")
    final = Image.new("RGB", (1280, 800), "navy")
    write_task_results(task, {"model": "replay"}, folder, {"status": "scored", "score": 1.0, "outcome": "finish"},
                       final)
    recorded = read_trajectory(folder / "trajectory")
    imported = pcagent("trace", "import-osworld", tmp_path / "pyautogui", tmp_path / "imported")
    assert imported.returncode == 0, imported.stderr
    dest = tmp_path / "imported" / "screenshot" / "replay" / "sampleapp" / task.id
    assert check_trajectory(dest) == []
    copy = read_trajectory(dest)
    assert copy.meta["task"]["description"] == task.instruction and copy.meta["score"] == 1.0
    assert [s.action for s in copy.steps] == [s.action for s in recorded.steps]
    assert [s.actor for s in copy.steps] == ["human"] * len(recorded.steps)
    with Image.open(dest / copy.meta["final_screenshot"]) as image:
        assert image.convert("RGB").tobytes() == final.tobytes()
    source = folder / "trajectory" / recorded.steps[1].screenshot
    with Image.open(dest / copy.steps[1].screenshot) as image, Image.open(source) as original:
        assert image.convert("RGB").tobytes() == original.convert("RGB").tobytes()


def _osworld_folder(folder: Path, actions: list, responses: list[str] | None = None) -> Path:
    """A result folder in OSWorld's own layout: the screen after each step, no screen before the first."""
    folder.mkdir(parents=True)
    lines = []
    for number, action in enumerate(actions, start=1):
        stamp = f"20240101@1200{number:02d}"
        name = f"step_{number}_{stamp}.png"
        screen(number).save(folder / name)
        lines.append({"step_num": number, "action_timestamp": stamp, "action": action,
                      "response": (responses or [""] * len(actions))[number - 1], "reward": 0,
                      "done": number == len(actions), "info": {}, "screenshot_file": name})
    (folder / TRAJ_FILE).write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "result.txt").write_text("0.5\n")
    return folder


def test_osworld_own_layout_imports_with_its_task_and_bad_folders_are_named(tmp_path):
    results = tmp_path / "results" / "pyautogui" / "screenshot" / "gpt-4o" / "os"
    _osworld_folder(results / "task-a", [
        "import pyautogui\nimport time\npyautogui.click(100, 120)\ntime.sleep(0.5)\npyautogui.typewrite('hello')",
        {"action_type": "HOTKEY", "parameters": {"keys": ["ctrl", "s"]}},
        "pyautogui.moveTo(50, 60)\npyautogui.dragTo(90, 60, duration=0.5)",
        "DONE"], ["I click the field and type.", "", "", "Done."])
    _osworld_folder(results / "task-b", ["import os\nos.system('rm -rf ~')"])
    tasks = tmp_path / "examples" / "os"
    tasks.mkdir(parents=True)
    (tasks / "task-a.json").write_text(json.dumps({"id": "task-a", "instruction": "Type hello and save."}))

    done = pcagent("trace", "import-osworld", tmp_path / "results", tmp_path / "imported", "--task",
                   tmp_path / "examples")
    assert done.returncode == 1
    assert "task-b" in done.stderr and "os.system is not an allowed call" in done.stderr
    assert "1 of 2 result folders could not be imported" in done.stderr
    assert not (tmp_path / "imported" / "pyautogui" / "screenshot" / "gpt-4o" / "os" / "task-b").exists()
    dest = tmp_path / "imported" / "pyautogui" / "screenshot" / "gpt-4o" / "os" / "task-a"
    assert pcagent("trace", "check", dest).returncode == 0
    trajectory = read_trajectory(dest)
    assert [s.action for s in trajectory.steps] == ["click (100, 120)", "type text: hello", "hotkey (ctrl, s)",
                                                    "drag from (50, 60) to (90, 60)", "finish"]
    assert {s.actor for s in trajectory.steps} == {"agent"}
    # no screen before step 1 in OSWorld's layout; the second action of line 1 was not captured apart
    assert [s.screenshot is not None for s in trajectory.steps] == [False, False, True, True, True]
    assert trajectory.steps[0].extra["thought"] == {"text": "I click the field and type.", "source": "imported"}
    assert trajectory.meta["task"]["description"] == "Type hello and save." and trajectory.meta["score"] == 0.5
    assert trajectory.meta["final_screenshot"]


def test_export_names_a_broken_trajectory_and_exports_the_others(trajectories, tmp_path):
    broken = tmp_path / "broken"
    build_collaborative_trajectory(broken)
    (broken / "screenshots" / "000003.avif").write_bytes(b"not an image")
    bad_line = tmp_path / "bad-line"
    build_collaborative_trajectory(bad_line)
    with open(bad_line / "steps.jsonl", "r+") as handle:
        text = handle.read().splitlines()
        text[1] = '{"index": 1, "time": "soon", "actor": "agent", "action": "wait"}'
        handle.seek(0)
        handle.write("\n".join(text) + "\n")
        handle.truncate()
    out = tmp_path / "data.json"
    done = pcagent("trace", "export", broken, bad_line, trajectories / "collab", tmp_path / "missing",
                   "--format", "llamafactory", "--out", out)
    assert done.returncode == 1
    assert "000003.avif: screenshot cannot be decoded" in done.stderr
    assert "bad-line: steps.jsonl:2: step time must be a number" in done.stderr
    assert "missing: no such folder" in done.stderr
    assert "Exported 1 trajectories" in done.stdout
    samples = json.loads(out.read_text())
    assert len(samples) == 3 and all("/collab/" in s["images"][0] for s in samples)
    assert not (tmp_path / "data_images" / "broken").exists()  # nothing of a failed trajectory is left

    nothing = pcagent("trace", "export", broken, "--format", "parquet", "--out", tmp_path / "x.parquet")
    assert nothing.returncode == 1 and not (tmp_path / "x.parquet").exists()


def test_trajectories_of_the_same_name_get_folders_of_their_own(tmp_path: Path) -> None:
    taken: set[str] = set()
    names = [unique_folder_name(Trajectory(tmp_path / parent / name, {}, [], []), taken)
             for parent, name in (("a", "rec 1"), ("b", "rec 1"), ("c", "rec 1"), ("d", "rec_1-2"), ("e", "ü"))]
    assert names == ["rec_1", "rec_1-2", "rec_1-3", "rec_1-2-2", "_"]
    assert taken == set(names)
