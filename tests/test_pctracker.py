"""Importing PC Tracker recordings, built here in PC Tracker's own layout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image

from tracker.format.pctracker import PCTrackerImportError, import_pctracker, read_task_markdown
from tracker.format.trajectory import read_trajectory
from tracker.format.trajectory_check import check_trajectory

MARKDOWN = """# Free Task
**Description:** rename "a, b.txt" to b.txt

**Level:** medium

### 2024-11-26_16:15:19
**Input:**

Given the screenshot as below. What's the next step?

**Output:**

click element Start at (10, 20)
"""


def save_png(path: Path, color: str, size: tuple[int, int] = (40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "PNG")


def make_recording(folder: Path, lines: list[dict], markdown: str | None = MARKDOWN,
                   stem: str = "free_task_20241126_161517") -> Path:
    """A PC Tracker recording: <stem>.jsonl, <stem>.md and screenshot/ with the PNGs the lines name."""
    folder.mkdir(parents=True, exist_ok=True)
    for line in lines:
        for key in ("screenshot", "marked_screenshot"):
            name = line.get(key)
            if name and not name.startswith("missing") and not (folder / name).exists():
                save_png(folder / name, "green" if key == "screenshot" else "red")
    jsonl = folder / f"{stem}.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    if markdown is not None:
        (folder / f"{stem}.md").write_text(markdown, encoding="utf-8")
    return jsonl


def line(n: int, action: str, **fields) -> dict:
    data = {"timestamp": f"2024-11-26_16:15:{10 + n:02d}", "action": action,
            "screenshot": f"screenshot/20241126_1615{10 + n:02d}_{n}.png", "element": None, "rect": None}
    data.update(fields)
    return data


STANDARD_LINES = [
    line(1, "click (10, 20)", element="Start", rect={"left": -9, "top": 184, "right": 1929, "bottom": 1002},
         marked_screenshot="screenshot/20241126_161511_1_marked.png",
         action_description="click the Start button", action_description_checked="Good",
         thought="I open the Start menu."),
    line(2, "press key enter", element="Unknown", rect={"left": 0, "top": 0, "right": 5, "bottom": 5}),
    line(3, "hotkey (Ctrl, C)"),
    line(4, "type text: Hello, world ", marked_screenshot="screenshot/20241126_161514_4.png"),
    line(5, "press key: Key.backspace"),
    line(6, "scroll (-3)"),
    line(7, "drag from (1, 2) to (30, 40)"),
    line(8, "finish"),
]


def test_import_a_recording(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "events", STANDARD_LINES)
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert dest == tmp_path / "out" and warnings == []
    assert check_trajectory(dest) == []
    trajectory = read_trajectory(dest)
    meta = trajectory.meta
    assert meta["task"] == {"mode": "free", "description": 'rename "a, b.txt" to b.txt', "difficulty": "medium"}
    assert meta["screens"] == [{"index": 0, "left": 0, "top": 0, "width": 40, "height": 30, "scale": None,
                                "primary": True}]
    assert meta["source"]["format"] == "pctracker" and meta["source"]["path"] == str(jsonl)
    assert meta["outcome"] == "finish"
    steps = trajectory.steps
    assert [s.action for s in steps] == [
        "click (10, 20)", "press key: enter", "hotkey (ctrl, c)", "type text: Hello, world ",
        "press key: backspace", "scroll (0, -3)", "drag from (1, 2) to (30, 40)", "finish"]
    assert {s.actor for s in steps} == {"human"}
    expected_time = time.mktime(time.strptime("2024-11-26_16:15:11", "%Y-%m-%d_%H:%M:%S"))
    assert steps[0].time == expected_time and steps[1].time == expected_time + 1
    first = steps[0]
    assert first.screenshot == "screenshots/000000.png" and first.pointer == (10, 20)
    assert first.element == {"name": "Start", "role": None, "rect": [-9, 184, 1929, 1002], "application": None}
    assert first.extra["marked_screenshot"] == "screenshots/000000.marked.png"
    assert first.extra["action_description"] == "click the Start button"
    assert first.extra["action_description_checked"] == "Good"
    assert first.extra["thought"] == {"text": "I open the Start menu.", "source": "imported"}
    with Image.open(dest / first.extra["marked_screenshot"]) as marked:
        assert marked.getpixel((0, 0)) == (255, 0, 0)
    assert steps[1].element["name"] is None  # "Unknown"
    assert steps[2].element is None and steps[2].pointer is None
    # An unmarked step's "marked" screenshot is its raw one: point at the copy, don't copy twice.
    assert steps[3].extra["marked_screenshot"] == steps[3].screenshot
    assert steps[6].pointer == (1, 2)


def test_import_from_the_folder(tmp_path: Path) -> None:
    make_recording(tmp_path / "rec", STANDARD_LINES[:2])
    dest, _ = import_pctracker(tmp_path / "rec", tmp_path / "out")
    assert len(read_trajectory(dest).steps) == 2


def test_a_folder_with_several_recordings_is_ambiguous(tmp_path: Path) -> None:
    make_recording(tmp_path / "rec", STANDARD_LINES[:1], stem="free_task_20240101_000000")
    make_recording(tmp_path / "rec", STANDARD_LINES[:1], stem="free_task_20240102_000000")
    with pytest.raises(PCTrackerImportError, match="free_task_20240101_000000.jsonl, free_task_20240102"):
        import_pctracker(tmp_path / "rec", tmp_path / "out")


def test_a_recording_that_did_not_finish_is_stopped(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", STANDARD_LINES[:3])
    dest, _ = import_pctracker(jsonl, tmp_path / "out")
    assert read_trajectory(dest).meta["outcome"] == "stopped"


def test_a_recording_that_failed_keeps_fail(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", [*STANDARD_LINES[:2], line(3, "fail")])
    dest, _ = import_pctracker(jsonl, tmp_path / "out")
    assert read_trajectory(dest).meta["outcome"] == "fail"


def test_a_missing_screenshot_is_a_warning_and_nothing_else_is_lost(tmp_path: Path) -> None:
    lines = [STANDARD_LINES[0], line(2, "click (5, 6)", screenshot="missing/nothing.png", element="OK"),
             line(3, "finish")]
    dest, warnings = import_pctracker(make_recording(tmp_path / "rec", lines), tmp_path / "out")
    assert len(warnings) == 1 and ":2:" in warnings[0] and "screenshot" in warnings[0]
    step = read_trajectory(dest).steps[1]
    assert step.screenshot is None and step.action == "click (5, 6)" and step.element["name"] == "OK"
    assert [p for p in check_trajectory(dest) if p.severity == "error"] == []


def test_a_damaged_screenshot_is_not_copied(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", STANDARD_LINES[:2])
    (tmp_path / "rec" / STANDARD_LINES[1]["screenshot"]).write_bytes(b"not a png")
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert len(warnings) == 1 and "unusable" in warnings[0]
    assert read_trajectory(dest).steps[1].screenshot is None
    assert [p for p in check_trajectory(dest) if p.severity == "error"] == []


def test_paths_outside_the_recording_are_refused(tmp_path: Path) -> None:
    """A screenshot path of ../id_rsa, an absolute path or a link out of the folder copies nothing."""
    secret = tmp_path / "id_rsa"
    secret.write_text("PRIVATE KEY")
    outside_png = tmp_path / "outside.png"
    save_png(outside_png, "blue")
    rec = tmp_path / "rec"
    lines = [line(1, "click (1, 2)", screenshot="../id_rsa"), line(2, "click (3, 4)", screenshot=str(outside_png)),
             line(3, "click (5, 6)", screenshot="screenshot/link.png"), line(4, "finish")]
    jsonl = make_recording(rec, lines[:2] + lines[3:])
    (rec / "screenshot").mkdir(exist_ok=True)
    (rec / "screenshot" / "link.png").symlink_to(outside_png)
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert len(warnings) == 3 and all("outside the recording's folder" in w for w in warnings)
    assert [s.screenshot for s in read_trajectory(dest).steps[:3]] == [None, None, None]
    copied = [p.read_bytes() for p in dest.rglob("*") if p.is_file()]
    assert not any(b"PRIVATE KEY" in data for data in copied)
    assert [p for p in check_trajectory(dest) if p.severity == "error"] == []


def test_files_that_are_not_images_are_not_copied(tmp_path: Path) -> None:
    """The first step's file is text named .png, another is a GIF: both dropped with a warning, no crash."""
    lines = [line(1, "click (1, 2)"), line(2, "click (3, 4)", screenshot="screenshot/anim.gif"), line(3, "finish")]
    jsonl = make_recording(tmp_path / "rec", [lines[0], lines[2]])
    (tmp_path / "rec" / lines[0]["screenshot"]).write_text("hello, not an image")
    Image.new("RGB", (4, 4)).save(tmp_path / "rec" / "screenshot" / "anim.gif", "GIF")
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert len(warnings) == 2 and all("unusable" in w for w in warnings) and "GIF" in warnings[1]
    trajectory = read_trajectory(dest)
    assert [s.screenshot for s in trajectory.steps] == [None, None, trajectory.steps[2].screenshot]
    assert not list((dest / "screenshots").glob("*.gif"))


@pytest.mark.parametrize("bad, message", [
    ({"action": "click (a, b)"}, "click (a, b)"),
    ({"action": None}, "missing action"),
    ({"timestamp": "yesterday"}, "yesterday"),
])
def test_a_bad_line_stops_the_import_before_writing(tmp_path: Path, bad: dict, message: str) -> None:
    lines = [STANDARD_LINES[0], {**STANDARD_LINES[1], **bad}, STANDARD_LINES[2]]
    jsonl = make_recording(tmp_path / "rec", lines)
    with pytest.raises(PCTrackerImportError) as caught:
        import_pctracker(jsonl, tmp_path / "out")
    assert f"{jsonl.name}:2" in str(caught.value) and message in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_invalid_json_and_empty_recordings_are_refused(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", STANDARD_LINES[:1])
    with open(jsonl, "a") as handle:
        handle.write("{oops\n")
    with pytest.raises(PCTrackerImportError, match=":2: not valid JSON"):
        import_pctracker(jsonl, tmp_path / "out")
    jsonl.write_text("\n")
    with pytest.raises(PCTrackerImportError, match="no steps"):
        import_pctracker(jsonl, tmp_path / "out")


def test_a_non_empty_destination_is_refused(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", STANDARD_LINES[:1])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(PCTrackerImportError, match="not empty"):
        import_pctracker(jsonl, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_a_missing_markdown_leaves_the_task_unknown(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", STANDARD_LINES[:1], markdown=None)
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert read_trajectory(dest).meta["task"]["mode"] == "none"
    assert any(".md" in w for w in warnings)


@pytest.mark.parametrize("markdown, task", [
    ("# Given Task\n**Description:** open the file\n\n**Level:** hard\n",
     {"mode": "given", "description": "open the file", "difficulty": "hard"}),
    ("# Non-Task\n", {"mode": "none", "description": None, "difficulty": None}),
    ("# Free Task\r\n**Description:** two\r\nlines\r\n\r\n**Level:** easy\r\n### 2024\n**Level:** no\n",
     {"mode": "free", "description": "two\nlines", "difficulty": "easy"}),
])
def test_task_markdown_variants(tmp_path: Path, markdown: str, task: dict) -> None:
    path = tmp_path / "task.md"
    path.write_bytes(markdown.encode("utf-8"))
    assert read_task_markdown(path) == task


def raw_drag_lines() -> list[dict]:
    """A raw PC Tracker recording (as tracker/monitor.py writes it, before refinement): a drag is
    `press (x, y)` where the button went down, then `drag to (x, y)` where it came up; each line has its
    own screenshot and time, the element is the press's."""
    return [
        line(1, "click (10, 20)"),
        line(2, "press (100, 200)", element="Slide 1", rect={"left": 90, "top": 190, "right": 300, "bottom": 260}),
        line(3, "drag to (400, 250)"),
        line(4, "press (50, 60)", element="OK"),
        line(5, "drag to (52, 63)"),  # |dx| + |dy| = 5: the hand wobbled, it was a click
        line(6, "finish"),
    ]


def test_raw_press_and_drag_to_become_one_drag_or_a_click(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    lines = raw_drag_lines()
    jsonl = make_recording(rec, lines)
    save_png(rec / lines[1]["screenshot"], "blue")  # the screen as the button went down
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert warnings == []
    trajectory = read_trajectory(dest)
    steps = trajectory.steps
    assert [s.action for s in steps] == ["click (10, 20)", "drag from (100, 200) to (400, 250)", "click (50, 60)",
                                         "finish"]
    assert [s.index for s in steps] == [0, 1, 2, 3]
    dragged = steps[1]
    assert dragged.time == time.mktime(time.strptime("2024-11-26_16:15:12", "%Y-%m-%d_%H:%M:%S"))
    assert dragged.extra["source_timestamp"] == "2024-11-26_16:15:12"
    assert dragged.pointer == (100, 200)
    assert dragged.element == {"name": "Slide 1", "role": None, "rect": [90, 190, 300, 260], "application": None}
    with Image.open(dest / dragged.screenshot) as shot:
        assert shot.getpixel((0, 0)) == (0, 0, 255)  # the press's screenshot, not the release's
    assert steps[2].element["name"] == "OK" and steps[2].pointer == (50, 60)
    assert len(list((dest / "screenshots").glob("*.png"))) == 4  # the `drag to` screenshots are not copied
    assert check_trajectory(dest) == []


def test_ends_six_pixels_apart_are_a_drag(tmp_path: Path) -> None:
    lines = [line(1, "press (50, 60)"), line(2, "drag to (53, 63)"), line(3, "finish")]
    dest, _ = import_pctracker(make_recording(tmp_path / "rec", lines), tmp_path / "out")
    assert [s.action for s in read_trajectory(dest).steps] == ["drag from (50, 60) to (53, 63)", "finish"]


def test_a_lone_press_or_drag_to_is_skipped_with_a_warning(tmp_path: Path) -> None:
    lines = [line(1, "drag to (5, 5)"),  # no press before it
             line(2, "click (10, 20)"),
             line(3, "press (100, 200)"),  # something else came between it and its release
             line(4, "type text: hi"),
             line(5, "drag to (400, 250)"),
             line(6, "press (7, 8)")]  # the recording ended with the button down
    jsonl = make_recording(tmp_path / "rec", lines)
    dest, warnings = import_pctracker(jsonl, tmp_path / "out")
    assert [s.action for s in read_trajectory(dest).steps] == ["click (10, 20)", "type text: hi"]
    assert len(warnings) == 4
    assert f"{jsonl.name}:1" in warnings[0] and "no `press` before it" in warnings[0]
    assert f"{jsonl.name}:3" in warnings[1] and "no `drag to` after it" in warnings[1]
    assert f"{jsonl.name}:5" in warnings[2] and "drag to (400, 250)" in warnings[2]
    assert f"{jsonl.name}:6" in warnings[3] and "skipped" in warnings[3]
    assert read_trajectory(dest).meta["outcome"] == "stopped"


def test_a_recording_of_only_unpaired_halves_is_refused_before_writing(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", [line(1, "press (1, 2)")])
    with pytest.raises(PCTrackerImportError, match=r"no steps to import: .*:1: 'press \(1, 2\)'"):
        import_pctracker(jsonl, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_bad_timestamp_on_a_drag_half_is_still_an_error(tmp_path: Path) -> None:
    jsonl = make_recording(tmp_path / "rec", [line(1, "press (1, 2)"), line(2, "drag to (50, 60)", timestamp="x")])
    with pytest.raises(PCTrackerImportError, match=":2: timestamp 'x'"):
        import_pctracker(jsonl, tmp_path / "out")
