"""make-dataset on a real virtual display, and `pcagent grounding eval` end to end."""

from __future__ import annotations

import argparse
import json
import os
import shutil

import pytest
from PIL import Image, ImageDraw, ImageFont

from grounding.benchmark.screenspot import load_dataset
from pcagent.cli.grounding import register
from pcagent.testbed.grounding_dataset import QUICK_VARIANTS, make_dataset
from pcagent.testbed.real_programs import REAL_PROGRAMS

pytestmark = pytest.mark.timeout(240)


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pcagent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def need_display_tools() -> None:
    for tool in ("Xvfb", "xdotool"):
        if not shutil.which(tool):
            if os.environ.get("CI"):
                pytest.fail(f"{tool} is not installed (installer/install-debian.sh installs it)")
            pytest.skip(f"{tool} is not installed")


@pytest.mark.display
def test_quick_sample_app_dataset_matches_the_app(tmp_path, launch_sample_app):
    need_display_tools()
    report = make_dataset(tmp_path / "set", variants=QUICK_VARIANTS, real_programs=[], log=lambda _: None)
    samples = load_dataset(tmp_path / "set")
    assert len(samples) == len(report.samples) >= 30
    assert {s.data_type for s in samples} == {"text", "icon"}
    assert {s.application for s in samples} == {"pcagent-sampleapp"} and {s.platform for s in samples} == {"linux"}
    for sample in samples:
        with Image.open(sample.image_path) as image:
            assert image.size == (1280, 800)
            assert sample.box[2] <= image.width and sample.box[3] <= image.height

    # the same app, launched the same way, puts its widgets exactly where the records say
    app = launch_sample_app("--menus", "--font-size", "9")
    by_target = {s.extra["target"]: s for s in samples}
    for name in ("save", "delete", "menu_file", "menu_help", "icon_save", "icon_search", "item_3"):
        assert by_target[name].box == app.rect(name), name
    assert by_target["icon_save"].data_type == "icon" and "floppy" in by_target["icon_save"].instruction
    assert by_target["save"].data_type == "text" and "Save" in by_target["save"].instruction
    menu_items = [s for s in samples if s.extra["target"].startswith("File>")]
    assert [s.extra["text"] for s in menu_items][:3] == ["New", "Open", "Save"]
    assert all(s.image_path.name.endswith("file-menu.png") for s in menu_items)
    readme = (tmp_path / "set" / "README.txt").read_text()
    assert "xyxy" in readme
    assert json.loads((tmp_path / "set" / "dataset.json").read_text())[0]["bbox_format"] == "xyxy"


@pytest.mark.display
def test_real_program_dataset(tmp_path):
    need_display_tools()
    program = REAL_PROGRAMS["mousepad"]
    if program.missing():
        if os.environ.get("CI"):
            pytest.fail(f"mousepad is missing in CI: installer/install-debian.sh installs it ({program.missing()})")
        pytest.skip(f"mousepad {program.missing()}")
    report = make_dataset(tmp_path / "set", variants=(), real_programs=["mousepad"], quick=True,
                          log=lambda _: None)
    samples = load_dataset(tmp_path / "set")
    assert samples and {s.application for s in samples} == {"mousepad"}, report.format()
    names = {s.extra["name"]: s for s in samples}
    assert "File" in names and names["File"].extra["role"] == "menu"
    left, top, right, bottom = names["File"].box
    assert top < 40 and left < 60 and right - left < 120  # the menu bar's first title
    assert any(s.extra["role"] == "menu item" for s in samples), "the File menu was opened and listed"


def test_eval_command_end_to_end(tmp_path, capsys):
    """`grounding eval` over a tiny dataset of drawn words with the OCR engine."""
    image = Image.new("RGB", (640, 200), "white")
    draw = ImageDraw.Draw(image)
    font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    font = ImageFont.truetype(font_path, 28) if os.path.exists(font_path) else ImageFont.load_default()
    draw.text((40, 40), "Save", fill="black", font=font)
    draw.text((400, 120), "Cancel", fill="black", font=font)
    (tmp_path / "images").mkdir()
    image.save(tmp_path / "images" / "words.png")
    records = [
        {"img_filename": "words.png", "instruction": 'click "Save"', "bbox": [30, 30, 120, 80],
         "data_type": "text", "platform": "linux"},
        {"img_filename": "words.png", "instruction": 'click "Cancel"', "bbox": [390, 110, 120, 50],
         "data_type": "text", "platform": "linux"},
        {"img_filename": "words.png", "instruction": 'click "Delete"', "bbox": [0, 0, 50, 50],
         "data_type": "text", "platform": "linux"},
    ]
    (tmp_path / "dataset.json").write_text(json.dumps(records))
    out = tmp_path / "results.jsonl"
    assert cli("grounding", "eval", str(tmp_path), "--engine", "ocr", "--out", str(out)) == 0
    table = capsys.readouterr().out
    assert "engine: ocr" in table and "overall" in table
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in results] == [True, True, False]
    assert results[2]["found"] is False
    assert cli("grounding", "eval", str(tmp_path), "--engine", "ocr", "--limit", "1") == 0
    assert "samples: 1" in capsys.readouterr().out
    assert cli("grounding", "eval", str(tmp_path), "--engine", "nonsense") == 1
    assert cli("grounding", "eval", str(tmp_path / "nowhere"), "--engine", "ocr") == 1


def test_eval_of_the_default_chain_reads_each_screenshot_once(tmp_path, capsys, monkeypatch):
    """`--engine default` on stored screenshots: accessibility steps aside, OCR answers text targets and
    icons answer icon-only ones; OCR reads each screenshot once, however many targets it holds, and every
    miss says why."""
    pytest.importorskip("cairosvg")
    import grounding.icons.engine
    from grounding.icons import ThemeIndex
    from grounding.icons.templates import render_icon

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # rendered icons go there, not to ~/.cache
    monkeypatch.setattr(grounding.icons.engine, "_shared", {})

    font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not os.path.exists(font_path) or not os.path.exists("/usr/share/icons/Adwaita/index.theme"):
        pytest.skip("needs DejaVu fonts and the Adwaita icon theme")
    index = ThemeIndex("Adwaita")
    (tmp_path / "images").mkdir()
    records = []
    for shot, (word, icon, look) in enumerate([("Cancel", "edit-cut", "the scissors"),
                                               ("Apply", "document-save", "the floppy disk icon")]):
        image = Image.new("RGB", (640, 240), (246, 245, 244))
        draw = ImageDraw.Draw(image)
        draw.text((60, 150), word, fill=(20, 20, 20), font=ImageFont.truetype(font_path, 20))
        glyph = render_icon(index.pick(icon, 24), 24)
        image.paste(glyph, (300, 40), glyph)
        image.save(tmp_path / "images" / f"shot{shot}.png")
        text_box = [50, 140, 60 + 14 * len(word), 185]
        records += [
            {"img_filename": f"shot{shot}.png", "instruction": f"the {word} button", "bbox": text_box,
             "bbox_format": "xyxy", "data_type": "text"},
            {"img_filename": f"shot{shot}.png", "instruction": f'click "{word}"', "bbox": text_box,
             "bbox_format": "xyxy", "data_type": "text"},
            {"img_filename": f"shot{shot}.png", "instruction": look, "bbox": [296, 36, 328, 68],
             "bbox_format": "xyxy", "data_type": "icon"},
            {"img_filename": f"shot{shot}.png", "instruction": "the frobnicator icon", "bbox": [0, 0, 20, 20],
             "bbox_format": "xyxy", "data_type": "icon"},
        ]
    (tmp_path / "dataset.json").write_text(json.dumps(records))
    out = tmp_path / "results.jsonl"
    assert cli("grounding", "eval", str(tmp_path), "--engine", "default", "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "engine: default" in printed and "stepped aside (they read the live desktop): accessibility" in printed
    # two reads for two screenshots (the second only where it differs); every other question is a cache hit
    assert "OCR over 2 screenshots: 1 full reads, 1 partial, 4 answered from the cache" in printed
    assert "s per target" in printed
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["correct"] for r in results] == [True, True, True, False] * 2
    assert [r["engine"] for r in results[:3]] == ["ocr", "ocr", "icons"]
    assert all(r["miss"] is None for r in results if r["correct"])
    assert {r["miss"] for r in results if not r["correct"]} == {"no text match; icon not in theme"}


def test_planner_phrasings_and_the_held_out_split(tmp_path):
    """Several planner-style phrasings per target; held-out targets get wordings of their own; the keyfile
    GSettings backend file that shows mousepad's toolbar."""
    from pcagent.testbed.planner_phrasing import HELD_OUT, TUNE, Target, phrasings, split_of
    from pcagent.testbed.real_programs import write_gsettings_keyfile

    box = Target("mousepad-light-dialog:check box:Match case", "Match case", "check box", "text",
                 (("dialog", "Find and Replace"),))
    kinds = dict(phrasings(box))
    assert set(kinds) == {"bare", "role", "relational", "container"}
    assert "Find and Replace dialog" in kinds["container"] and "Match case" in kinds["role"]
    save = Target("mousepad-light-plain:push button:Save", "Save", "push button", "icon", (("tool bar", ""),))
    assert {kind for kind, _ in phrasings(save)} == {"function", "look"}
    divide = Target("galculator-light-plain:push button:/", "/", "push button", "icon")
    assert "divide" in dict(phrasings(divide))["function"]
    keys = [f"program-{n}:label:Label {n}" for n in range(400)]
    held = [k for k in keys if split_of(k) == "held-out"]
    assert 0.2 < len(held) / len(keys) < 0.4 and split_of(keys[0]) == split_of(keys[0])
    tuned = next(k for k in keys if split_of(k) == "tune")
    for key, wordings, noun in ((held[0], HELD_OUT, "checkbox"), (tuned, TUNE, "check box")):
        role_phrase = dict(phrasings(Target(key, "Wrap", "check box", "text")))["role"]
        assert role_phrase in {w.format(label="Wrap", role=noun) for w in wordings["role"]}, (key, role_phrase)
    keyfile = write_gsettings_keyfile(tmp_path, (("org/xfce/mousepad/preferences/window", "toolbar-visible", "true"),))
    assert keyfile.read_text() == "[org/xfce/mousepad/preferences/window]\ntoolbar-visible=true\n\n"


def test_a_launchers_children_count_as_the_program():
    """localc (a shell script) starts soffice, which owns the window: windows are matched over the tree."""
    import os
    import subprocess
    import sys
    import time

    from pcagent.testbed.real_programs import _process_tree

    child = "import time; time.sleep(30)"
    launcher = subprocess.Popen([sys.executable, "-c",
                                 f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"])
    try:
        deadline = time.monotonic() + 10
        while len(_process_tree(launcher.pid)) < 2:
            assert time.monotonic() < deadline, "the child never appeared"
            time.sleep(0.05)
        assert launcher.pid in _process_tree(launcher.pid)
    finally:
        for pid in _process_tree(launcher.pid) - {launcher.pid}:
            os.kill(pid, 9)
        launcher.kill()
        launcher.wait()
