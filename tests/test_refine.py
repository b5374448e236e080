"""`pcagent trace refine`: each pass on trajectories written with TrajectoryWriter (real images in the real
formats), the marks' pixels, the normalisation maths, the report, and one recording made on the sample app
under openbox refined end to end."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pcagent.cli.main import main as pcagent_main
from pcagent.testbed.recorder_process import RecorderProcess
from pcagent.testbed.xdo import Xdo
from tracker.format.pctracker import import_pctracker
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import (
    Step,
    TrajectoryWriter,
    desktop_origin,
    new_meta,
    read_trajectory,
)
from tracker.format.trajectory_check import check_trajectory
from tracker.refine.marks import draw_marks, has_marks
from tracker.refine.normalize import Scaler
from tracker.refine.options import OptionsError, RefineOptions, parse_resolution
from tracker.refine.passes import merge_extras
from tracker.refine.runner import REPORT_FILE, RefineError, refine

RED = (255, 0, 0)
GREY = (128, 128, 128)
FORMATS = {"png": ScreenshotFormat("png"), "webp": ScreenshotFormat("webp"), "jpeg": ScreenshotFormat("jpeg", 90),
           "jxl": ScreenshotFormat("jxl")}


def screen(color=GREY, size=(320, 200), square=None) -> Image.Image:
    """A flat screen, with a blue square (l, t, r, b) when asked."""
    image = Image.new("RGB", size, color)
    if square:
        ImageDraw.Draw(image).rectangle((square[0], square[1], square[2] - 1, square[3] - 1), fill=(0, 0, 255))
    return image


def build(root: Path, steps: list, *, task: str | None = "Tidy the desktop", outcome: str = "stopped",
          fmt: str = "png", screens: list | None = None) -> Path:
    """A trajectory of ``steps``: (action, image or None, {step fields and extras}), in format ``fmt``."""
    size = next((s[1].size for s in steps if s[1] is not None), (320, 200))
    screens = screens if screens is not None else [
        {"index": 0, "left": 0, "top": 0, "width": size[0], "height": size[1], "scale": 1.0, "primary": True}]
    meta = new_meta(task={"mode": "given", "description": task} if task else {"mode": "none"}, screens=screens,
                    screenshot_format=FORMATS[fmt].to_dict())
    with TrajectoryWriter(root, meta) as writer:
        for index, (action, image, fields) in enumerate(steps):
            fields = dict(fields)
            path = None
            if image is not None:
                step_format = FORMATS[fields.pop("format", fmt)]
                path = writer.save_screenshot(index, step_format.encode(image), step_format.extension)
            core = {key: fields.pop(key) for key in ("pointer", "element", "window", "actor") if key in fields}
            writer.append_step(Step(index=index, time=1000.0 + index, actor=core.get("actor", "human"),
                                    action=action, screenshot=path, pointer=core.get("pointer"),
                                    element=core.get("element"), window=core.get("window"), extra=fields))
        writer.close(outcome)
    return root


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def errors_of(folder: Path) -> list:
    return [p for p in check_trajectory(folder) if p.severity == "error"]


def actions_of(folder: Path) -> list[str]:
    return [s.action for s in read_trajectory(folder).steps]


def only(*names: str, **settings) -> RefineOptions:
    return RefineOptions(passes=frozenset(names), **settings)


# ---------------------------------------------------------------------------------------------------
# Marks


def test_marks_are_drawn_where_the_action_happened():
    base = screen(size=(400, 300))
    click_step = Step(0, 0.0, "human", "click (100, 120)", None,
                      element={"name": "OK", "role": "push button", "rect": [60, 100, 140, 140], "application": None})
    marked = draw_marks(base, click_step)
    assert base.getpixel((100, 120)) == GREY  # the original is untouched
    assert marked.getpixel((100, 120)) == RED  # the dot
    assert marked.getpixel((60, 130)) == RED and marked.getpixel((139, 101)) == RED  # the box's edges
    # the circle round the point (radius 11 at this size), clear between it and the dot
    assert marked.getpixel((100 + 10, 120)) == RED and marked.getpixel((100 + 6, 120)) == GREY
    assert marked.getpixel((300, 250)) == GREY

    drag_step = Step(1, 0.0, "human", "drag from (50, 50) to (350, 250)", None)
    dragged = draw_marks(base, drag_step)
    assert dragged.getpixel((50, 50)) == RED and dragged.getpixel((200, 150)) == RED  # start and the line
    assert dragged.getpixel((345, 246)) == RED  # the arrowhead at the end
    assert dragged.getpixel((50, 250)) == GREY

    up = draw_marks(base, Step(2, 0.0, "human", "scroll (0, 3)", None, pointer=(200, 200)))
    assert up.getpixel((200, 200)) == RED and up.getpixel((200, 175)) == RED and up.getpixel((200, 225)) != RED
    down = draw_marks(base, Step(3, 0.0, "human", "scroll (0, -3) at (200, 100)", None))
    assert down.getpixel((200, 125)) == RED and down.getpixel((200, 75)) != RED

    typing = Step(4, 0.0, "human", "type text: hello", None, element={"rect": [10, 10, 90, 40]})
    assert not has_marks(typing) and draw_marks(base, typing).tobytes() == base.tobytes()

    # Step coordinates are on the virtual desktop; the screenshot starts at its top-left corner.
    origin = desktop_origin({"screens": [{"left": -200, "top": 0, "width": 200, "height": 300},
                                         {"left": 0, "top": 0, "width": 200, "height": 300}]})
    assert origin == (-200, 0)
    shifted = draw_marks(base, Step(5, 0.0, "human", "click (-100, 50)", None), origin)
    assert shifted.getpixel((100, 50)) == RED


# ---------------------------------------------------------------------------------------------------
# The passes


def test_every_default_pass_on_one_recording(tmp_path):
    element = {"name": "Save", "role": "push button", "rect": [90, 90, 120, 110], "application": "editor"}
    a, b, c, d = screen((10, 10, 10)), screen((20, 20, 20)), screen((30, 30, 30)), screen((40, 40, 40))
    src = build(tmp_path / "src", [
        ("wait", a, {"thought": {"text": "I wait", "source": "human"}}),
        ("press key: ctrl", a, {}),
        ("click (100, 100)", b, {"element": element, "thought": {"text": "I press Save", "source": "human"}}),
        ("drag from (101, 102) to (300, 150)", b, {"thought": {"text": "and drag it", "source": "human"},
                                                   "action_description": "drag the Save button"}),
        ("click (50, 50)", c, {"window": {"title": "pcagent", "application": "pcagent"}}),  # pcagent's own
        ("click (60, 60)", c, {}),  # the next screenshot is the same: it changed nothing
        ("hotkey (ctrl, s)", c, {"thought": {"text": "I save", "source": "completed", "model": "m", "pass": "thought"}}),
        ("type text: done", d, {"pcagent_windows": [{"title": "thought", "application": "pcagent", "pid": 1,
                                                     "rect": [0, 0, 10, 10]}]}),
        ("press key: enter", d, {}),
    ])
    before = tree_digest(src)
    lines = []
    report = refine(src, tmp_path / "dest", echo=lines.append)
    dest = tmp_path / "dest"
    assert tree_digest(src) == before  # SRC is never modified
    assert errors_of(dest) == []
    trajectory = read_trajectory(dest)
    steps = trajectory.steps
    assert [s.action for s in steps] == ["drag from (101, 102) to (300, 150)", "hotkey (ctrl, s)",
                                         "press key: enter", "finish"]
    assert [s.index for s in steps] == [0, 1, 2, 3]
    assert [s.screenshot for s in steps] == ["screenshots/000000.png", "screenshots/000001.png",
                                             "screenshots/000002.png", None]
    merged = steps[0]
    assert merged.element == element and merged.time == 1002.0  # the press's element, screenshot and time
    assert merged.extra["thought"] == {"text": "I press Save\nand drag it", "source": "human"}
    assert merged.extra["action_description"] == "drag the Save button"
    assert merged.extra["refined"] == [{"pass": "merge-drag", "action_was": "click (100, 100)"}]
    assert steps[1].extra["thought"] == {"text": "I save", "source": "completed", "model": "m", "pass": "thought"}
    with Image.open(dest / merged.screenshot) as image:
        assert image.getpixel((5, 5)) == (20, 20, 20)  # the press's screenshot, renamed
    assert merged.extra["marked_screenshot"] == "screenshots/000000.marked.png"
    with Image.open(dest / merged.extra["marked_screenshot"]) as image:
        assert image.getpixel((101, 102)) == RED and image.getpixel((200, 126)) == RED
    assert steps[1].extra["marked_screenshot"] == steps[1].screenshot  # a hotkey: nothing to mark
    assert trajectory.meta["outcome"] == "finish" and trajectory.meta["refinement"]["source_id"]
    assert steps[3].extra["refined"] == [{"pass": "force-finish", "added": True}]

    saved = json.loads((dest / REPORT_FILE).read_text())
    assert saved == json.loads(json.dumps(report.to_dict()))
    entry = saved["trajectories"][0]
    assert entry["status"] == "refined" and (entry["steps_in"], entry["steps_out"]) == (9, 4)
    passes = entry["passes"]
    assert passes["own-windows"]["counts"] == {"dropped": 2}
    assert [c["step"] for c in passes["own-windows"]["changes"]] == [4, 7]
    assert passes["merge-drag"]["changes"][0]["with_step"] == 3
    assert passes["drop-redundant"]["counts"] == {"leading wait dropped": 1, "stray modifier dropped": 1}
    assert [c["step"] for c in passes["drop-unchanged"]["changes"]] == [5]
    assert passes["force-finish"]["counts"] == {"finish appended": 1}
    assert passes["marks"]["counts"] == {"marked": 1, "nothing to mark": 2}
    assert "9 -> 4 steps" in lines[0] and "own-windows: 2 dropped" in lines[0]


def test_passes_switch_off_one_by_one(tmp_path):
    src = build(tmp_path / "src", [("wait", screen(), {}), ("press key: ctrl", screen(), {}),
                                   ("click (5, 5)", screen(), {}), ("press key: a", screen((1, 2, 3)), {})])
    (src / "screenshots" / "000001.png").unlink()
    os.link(src / "screenshots" / "000000.png", src / "screenshots" / "000001.png")  # as the recorder links
    refine(src, tmp_path / "none", only())
    assert actions_of(tmp_path / "none") == ["wait", "press key: ctrl", "click (5, 5)", "press key: a"]
    shots = tmp_path / "none" / "screenshots"
    assert os.path.samefile(shots / "000000.png", shots / "000001.png")  # still one file
    assert not os.path.samefile(shots / "000001.png", shots / "000002.png")
    assert "marked_screenshot" not in read_trajectory(tmp_path / "none").steps[0].extra
    refine(src, tmp_path / "redundant", only("drop-redundant", "force-finish", "drop-unusable"))
    assert actions_of(tmp_path / "redundant") == ["click (5, 5)", "press key: a", "finish"]
    refine(src, tmp_path / "replace", only("force-finish", "drop-unchanged", finish_mode="replace"))
    assert actions_of(tmp_path / "replace") == ["press key: ctrl", "click (5, 5)", "finish"]

    # The command line: --no-PASS, --only, and options that do not go together.
    from pcagent.cli.main import build_parser
    from pcagent.cli.trace.refine import options_from_args

    parse = build_parser().parse_args
    options = options_from_args(parse(["trace", "refine", "a", "b", "--no-marks", "--no-merge-drag"]))
    assert "marks" not in options.passes and "merge-drag" not in options.passes and options.runs("force-finish")
    options = options_from_args(parse(["trace", "refine", "a", "b", "--only", "marks,normalize", "--resolution",
                                       "720p"]))
    assert options.ordered == ("normalize", "marks") and options.resolution == (1280, 720)
    with pytest.raises(OptionsError, match="needs a target resolution"):
        options_from_args(parse(["trace", "refine", "a", "b", "--only", "normalize"]))
    with pytest.raises(OptionsError, match="unknown pass"):
        only("merge-drags")
    assert pcagent_main(["trace", "refine", str(src), str(tmp_path / "x"), "--resolution", "wide"]) == 2


def test_unusable_recordings_are_dropped(tmp_path, capsys):
    good = [("click (5, 5)", screen(), {}), ("finish", screen((9, 9, 9)), {})]
    build(tmp_path / "src" / "good", good)
    build(tmp_path / "src" / "untasked", good, task=None)
    build(tmp_path / "src" / "failed", [("click (5, 5)", screen(), {}), ("fail", screen((9, 9, 9)), {})],
          outcome="fail")
    report = refine(tmp_path / "src", tmp_path / "dest")
    assert {t["source"]: t.get("reason") for t in report.trajectories} == {
        "failed": "ended in fail", "good": None, "untasked": "no task description"}
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["good", REPORT_FILE]
    assert errors_of(tmp_path / "dest" / "good") == []

    kept = refine(tmp_path / "src", tmp_path / "kept", RefineOptions(keep_failed=True))
    assert [t["status"] for t in kept.trajectories] == ["refined", "refined", "dropped"]
    assert actions_of(tmp_path / "kept" / "failed") == ["click (5, 5)", "fail"]  # a failure is never "finish"
    assert read_trajectory(tmp_path / "kept" / "failed").meta["outcome"] == "fail"

    # One recording that is dropped: nothing is written.
    assert pcagent_main(["trace", "refine", str(tmp_path / "src" / "untasked"), str(tmp_path / "one")]) == 0
    assert not (tmp_path / "one").exists()
    assert "dropped (no task description)" in capsys.readouterr().out


def test_own_windows_go_by_identity_not_by_colour(tmp_path):
    looks_like_ours = screen((240, 240, 240))  # PC Tracker's grey: no reason to drop a step
    src = build(tmp_path / "src", [
        ("click (5, 5)", looks_like_ours, {"window": {"title": "Settings", "application": "other"}}),
        ("click (6, 6)", screen((1, 1, 1)), {"window": {"title": "Thought", "application": "PCAgent"}}),
        ("click (7, 7)", screen((2, 2, 2)), {"pcagent_windows": [{"title": "Approve?", "application": "pcagent",
                                                                   "pid": 7, "rect": [0, 0, 50, 50]}]}),
        ("click (8, 8)", screen((3, 3, 3)), {"pcagent_windows": []}),
    ])
    refine(src, tmp_path / "dest", only("own-windows"))
    assert actions_of(tmp_path / "dest") == ["click (5, 5)", "click (8, 8)"]


def test_merge_press_and_drag_in_a_pc_tracker_import(tmp_path):
    """A PC Tracker recording (its own layout, imported): stray ctrl presses, a press then a drag from the
    same point, a wobble that was really a click."""
    events = tmp_path / "events"
    lines = []
    for n, (action, extra) in enumerate([
            ("wait", {}), ("press key ctrl", {}), ("hotkey (Ctrl, C)", {}),
            ("click (100, 60)", {"element": "Icon", "rect": {"left": 90, "top": 50, "right": 110, "bottom": 70}}),
            ("drag from (101, 60) to (200, 120)", {"thought": "I drag the icon to the folder."}),
            ("drag from (30, 30) to (32, 31)", {}), ("press key shift", {}), ("type text: A", {}),
            ("finish", {})]):
        shot = f"screenshot/{n}.png"
        (events / "screenshot").mkdir(parents=True, exist_ok=True)
        screen((n * 20, 0, 0)).save(events / shot)
        lines.append({"timestamp": f"2024-11-26_16:15:{10 + n:02d}", "action": action, "screenshot": shot,
                      "element": None, "rect": None, **extra})
    (events / "task_20241126_161510.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (events / "task_20241126_161510.md").write_text("# Given Task\n**Description:** File the icon\n")
    imported, _ = import_pctracker(events, tmp_path / "imported")
    refine(imported, tmp_path / "dest", only("merge-drag", "drop-redundant"))
    steps = read_trajectory(tmp_path / "dest").steps
    assert [s.action for s in steps] == ["hotkey (ctrl, c)", "drag from (101, 60) to (200, 120)", "click (30, 30)",
                                         "type text: A", "finish"]
    assert steps[1].element["rect"] == [90, 50, 110, 70]
    assert steps[1].extra["thought"] == {"text": "I drag the icon to the folder.", "source": "imported"}
    with Image.open(tmp_path / "dest" / steps[1].screenshot) as image:
        assert image.getpixel((0, 0)) == (60, 0, 0)  # the press's screenshot

    # Two thoughts on merged steps: one source's are joined, a human's is kept over a model's.
    completed = {"text": "I press it", "source": "completed", "model": "m", "pass": "thought"}
    human = {"text": "I drag it", "source": "human"}
    assert merge_extras({"thought": completed}, {"thought": human})["thought"] == human
    assert merge_extras({"thought": human}, {"thought": completed})["thought"] == human
    assert merge_extras({"thought": human}, {"thought": {"text": "away", "source": "human"}})["thought"] == {
        "text": "I drag it\naway", "source": "human"}

    # A click somewhere else before a drag is two actions.
    src = build(tmp_path / "src", [("click (10, 10)", screen(), {}),
                                   ("drag from (40, 40) to (90, 90)", screen((5, 5, 5)), {})])
    refine(src, tmp_path / "apart", only("merge-drag"))
    assert actions_of(tmp_path / "apart") == ["click (10, 10)", "drag from (40, 40) to (90, 90)"]


@pytest.mark.parametrize("fmt", ["webp", "jxl"])
def test_unchanged_screens_are_compared_by_pixels(tmp_path, fmt):
    same, other = screen((50, 60, 70), square=(10, 10, 40, 40)), screen((50, 60, 70), square=(11, 10, 41, 40))
    src = build(tmp_path / "src", [
        ("click (1, 1)", same, {"format": "png"}),  # next: the same pixels in another format -> dropped
        ("wait", same, {}),  # next: one pixel column differs -> kept
        ("right click (3, 3)", other, {}),  # next: the same pixels, stored again -> dropped
        ("type text: x", other, {}),  # not a click or wait: kept
        ("double click (4, 4)", other, {"format": "jpeg"}),  # lossy: its pixels differ from the next -> kept
        ("finish", other, {}),
    ], fmt=fmt)
    refine(src, tmp_path / "dest", only("drop-unchanged"))
    assert actions_of(tmp_path / "dest") == ["wait", "type text: x", "double click (4, 4)", "finish"]
    assert read_trajectory(tmp_path / "dest").steps[0].screenshot == f"screenshots/000000.{fmt}"


def test_normalising_scales_coordinates_and_images_together(tmp_path):
    # A 1600x900 screen going to 1280x720 (x 0.8); a blue square the click lands in.
    square = (400, 300, 560, 420)
    element = {"name": "Tile", "role": "button", "rect": list(square), "application": "app"}
    src = build(tmp_path / "src", [
        ("click (480, 360)", screen(size=(1600, 900), square=square), {"pointer": (480, 360), "element": element,
                                                                      "window": {"title": "w", "application": "a",
                                                                                 "rect": [0, 0, 1600, 900]}}),
        ("drag from (0, 0) to (1599, 899)", screen((9, 9, 9), size=(1600, 900)),
         {"grounding": {"found": True, "point": [800, 450], "box": [700, 400, 900, 500], "candidates": [
             {"point": [10, 10], "box": None, "score": 1.0}]}, "planned_action": "click (100, 100)"}),
        ("scroll (0, -2) at (1000, 500)", screen((8, 8, 8), size=(1600, 900)), {}),
        ("finish", screen((7, 7, 7), size=(1600, 900)), {}),
    ], fmt="webp")
    refine(src, tmp_path / "dest", only("normalize", "marks", resolution=parse_resolution("1280x720")))
    dest = tmp_path / "dest"
    assert errors_of(dest) == []
    trajectory = read_trajectory(dest)
    click, drag, scroll, _ = trajectory.steps
    assert click.action == "click (384, 288)" and click.pointer == (384, 288)
    assert click.element["rect"] == [320, 240, 448, 336] and click.window["rect"] == [0, 0, 1280, 720]
    assert drag.action == "drag from (0, 0) to (1279, 719)"  # the screen's last pixel stays on the screen
    assert drag.extra["grounding"]["point"] == [640, 360] and drag.extra["grounding"]["box"] == [560, 320, 720, 400]
    assert drag.extra["grounding"]["candidates"][0]["point"] == [8, 8]
    assert drag.extra["planned_action"] == "click (80, 80)"
    assert scroll.action == "scroll (0, -2) at (800, 400)"  # wheel notches are not pixels: unchanged
    assert trajectory.meta["screens"][0] | {"scale": None} == {"index": 0, "left": 0, "top": 0, "width": 1280,
                                                               "height": 720, "scale": None, "primary": True}
    with Image.open(dest / click.screenshot) as image:
        assert image.size == (1280, 720) and image.format == "WEBP"
        inside = image.convert("RGB")
        assert inside.getpixel((330, 250)) == (0, 0, 255) and inside.getpixel((440, 330)) == (0, 0, 255)
        assert inside.getpixel((310, 250)) == GREY and inside.getpixel((330, 340)) == GREY
    with Image.open(dest / click.extra["marked_screenshot"]) as marked:
        assert marked.convert("RGB").getpixel((384, 288)) == RED

    # The maths, with a desktop whose top-left is not (0, 0) and an upscale.
    scaler = Scaler(origin=(-1280, 0), source=(2560, 800), target=(3840, 1200))
    assert scaler.point((-1280, 0)) == (0, 0) and scaler.point((1279, 799)) == (3839, 1199)
    assert scaler.point((0, 400)) == (1920, 600)
    assert scaler.rect([-1280, 0, 1280, 800]) == [0, 0, 3840, 1200]


def test_scrolls_rewritten_to_the_vertical_form(tmp_path):
    src = build(tmp_path / "src", [
        ("scroll (2, -3)", screen(), {"pointer": (10, 10)}),
        ("scroll (4, 0)", screen((1, 1, 1)), {}),
        ("scroll (0, 2) at (30, 40)", screen((2, 2, 2)), {}),
        ("scroll (0, 5)", screen((3, 3, 3)), {}),
    ])
    refine(src, tmp_path / "dest", only("vertical-scroll"))
    steps = read_trajectory(tmp_path / "dest").steps
    assert [(s.action, s.pointer) for s in steps] == [("scroll (0, -3)", (10, 10)), ("scroll (0, 2)", (30, 40)),
                                                      ("scroll (0, 5)", None)]
    report = json.loads((tmp_path / "dest" / REPORT_FILE).read_text())
    assert report["totals"]["vertical-scroll"] == {"rewritten": 2, "horizontal scroll dropped": 1}


def test_a_corrupt_trajectory_is_reported_and_the_others_go_on(tmp_path, capsys):
    build(tmp_path / "src" / "a", [("click (5, 5)", screen(), {}), ("finish", screen((1, 1, 1)), {})])
    broken = build(tmp_path / "src" / "b", [("click (5, 5)", screen(), {}), ("finish", screen((1, 1, 1)), {})])
    shot = broken / "screenshots" / "000001.png"
    shot.write_bytes(shot.read_bytes()[:60])  # a truncated PNG
    (tmp_path / "src" / "c").mkdir()
    (tmp_path / "src" / "c" / "steps.jsonl").write_text("{}\n")  # no meta.json
    code = pcagent_main(["trace", "refine", str(tmp_path / "src"), str(tmp_path / "dest")])
    assert code == 1
    captured = capsys.readouterr()
    assert "b: ERROR not a valid trajectory" in captured.out and "truncated PNG" in captured.out
    assert "meta.json is missing" in captured.out
    assert "1 refined, 0 dropped, 2 failed" in captured.out
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["a", REPORT_FILE]
    assert not list(tmp_path.glob(".dest*"))  # no temporary folder left behind

    with pytest.raises(RefineError, match="not empty"):
        refine(tmp_path / "src" / "a", tmp_path / "dest")
    with pytest.raises(RefineError, match="inside"):
        refine(tmp_path / "src", tmp_path / "src" / "a" / "refined")
    with pytest.raises(RefineError, match="no trajectories"):
        refine(tmp_path / "dest" / "a" / "screenshots", tmp_path / "elsewhere")


# ---------------------------------------------------------------------------------------------------
# End to end: a real recording under openbox, refined by the command

def test_a_real_recording_refined_by_the_command(wm_display, launch_sample_app, tmp_path):
    """Recorded with `pcagent record` while xdotool works the sample app under openbox, then refined with
    `pcagent trace refine` to 1280x720 with vertical scrolls, and checked with `pcagent trace check`."""
    if not shutil.which("xdotool"):
        pytest.skip("xdotool is not installed")
    env = wm_display.child_env()
    app = launch_sample_app(display=wm_display)
    xdo = Xdo(env)
    save, square, items = app.center("save"), app.center("drag"), app.center("items")
    canvas = app.rect("canvas")
    blank = (canvas[2] - 20, canvas[3] - 20)  # an empty corner of the canvas: clicking it changes nothing
    target = (canvas[0] + 150, canvas[1] + 250)
    rec = RecorderProcess(tmp_path / "raw", "--task", "Move the square", "--idle-wait", "1.5", env=env).start()
    try:
        time.sleep(2.0)  # idle: a leading wait
        xdo.click(*save)
        app.wait_for("button_clicked", name="Save")
        xdo.move(*blank)  # off the Save button first: its hover highlight going would be a change
        time.sleep(0.6)
        xdo.click(*blank)
        time.sleep(0.4)
        xdo.drag(*square, *target)
        app.wait_for("drop")
        xdo.scroll(*items, -3)
        app.wait_for("list_scrolled")
        xdo.scroll(*items, 2, horizontal=True)  # summed with the vertical turns into one scroll
        time.sleep(0.3)
        xdo.key("ctrl+shift+F10")  # finish
        assert rec.wait() == 0, rec.output
    finally:
        rec.kill()
    raw = [s.action for s in read_trajectory(tmp_path / "raw").steps]
    assert raw[0] == "wait" and raw[2] == f"click ({blank[0]}, {blank[1]})" and raw[-1] == "finish", raw
    assert raw[4].startswith("scroll (") and not raw[4].startswith("scroll (0,") and len(raw) == 6, raw

    result = subprocess.run([sys.executable, "-m", "pcagent", "trace", "refine", str(tmp_path / "raw"),
                             str(tmp_path / "refined"), "--resolution", "1280x720", "--vertical-scroll"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    check = subprocess.run([sys.executable, "-m", "pcagent", "trace", "check", str(tmp_path / "refined")],
                           check=False, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout

    def scaled(point):  # 1280x800 -> 1280x720
        return point[0], int((point[1] + 0.5) * 0.9)

    steps = read_trajectory(tmp_path / "refined").steps
    (sx, sy), (qx, qy), (tx, ty) = scaled(save), scaled(square), scaled(target)
    assert [s.action for s in steps] == [f"click ({sx}, {sy})", f"drag from ({qx}, {qy}) to ({tx}, {ty})",
                                         "scroll (0, -3)", "finish"]
    for step in steps:
        with Image.open(tmp_path / "refined" / step.screenshot) as image:
            assert image.size == (1280, 720)
    with Image.open(tmp_path / "refined" / steps[0].extra["marked_screenshot"]) as marked:
        assert marked.convert("RGB").getpixel((sx, sy)) == RED
    report = json.loads((tmp_path / "refined" / REPORT_FILE).read_text())["trajectories"][0]["passes"]
    assert report["drop-redundant"]["counts"] == {"leading wait dropped": 1}
    assert report["drop-unchanged"]["counts"] == {"dropped": 1}
    assert report["vertical-scroll"]["counts"] == {"rewritten": 1}
    assert "drop-unchanged: 1 dropped" in result.stdout
