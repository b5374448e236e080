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
