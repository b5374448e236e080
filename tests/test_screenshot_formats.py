"""Step screenshots in every format: what the recorder stores decodes, a lossless format exactly, through
the writer, the reader, `trace check` and the replay's template grounder; identical screens are stored
once; a burst of input loses nothing while steps wait for the encoder (a bounded queue)."""

from __future__ import annotations


import pytest

from grounding.base import load_screenshot
from grounding.template import TemplateGrounder, crop_template
from pcagent.testbed.recorder_process import RecorderProcess
from tracker.format.actions import parse_action
from tracker.format.screenshot_format import (FORMATS, LOSSLESS_ONLY, LOSSY_ONLY, ScreenshotFormat,
                                              load_screenshot_format)
from tracker.format.trajectory import TrajectoryWriter, new_meta, read_trajectory
from tracker.format.trajectory_check import check_trajectory
from tracker.recording.capture import Frame, _open_mss, grab_frame
from tracker.recording.merge import MergedAction
from tracker.recording.recorder import Recorder, RecorderConfig
from tracker.settings import SettingsError

ALL = [ScreenshotFormat(f) for f in FORMATS if f not in LOSSY_ONLY] + \
    [ScreenshotFormat(f, 85) for f in FORMATS if f not in LOSSLESS_ONLY]


@pytest.fixture
def frame(sample_app, xdisplay, monkeypatch):
    """A real grab of the sample app on Xvfb (BGRX, as the recorder's ring holds it)."""
    monkeypatch.setenv("DISPLAY", xdisplay.display)
    with _open_mss() as sct:
        return grab_frame(sct)


@pytest.mark.parametrize("fmt", ALL, ids=lambda f: f"{f.format}-{f.quality or 'lossless'}")
def test_every_format_round_trips_through_writer_reader_check_and_template(fmt, frame, sample_app, tmp_path):
    root = tmp_path / "t"
    with TrajectoryWriter(root, new_meta(screens=[], screenshot_format=fmt.to_dict())) as writer:
        data = frame.encode(fmt)  # straight from the captured BGRX pixels, as the recorder does
        assert data == fmt.encode(frame.to_image())  # the same file as from an Image
        path = writer.save_screenshot(0, data, fmt.extension_of(data))
        writer.close("finish")
    assert path == f"screenshots/000000.{fmt.extension_of(data)}"
    assert read_trajectory(root).meta["screenshot_format"] == fmt.to_dict()
    assert [p for p in check_trajectory(root) if p.severity == "error"] == []
    shot = load_screenshot(root / path)
    captured = frame.to_image()
    if fmt.lossless:
        assert shot.tobytes() == captured.tobytes()  # exactly the captured pixels
    save = sample_app.rect("save")
    template = crop_template(shot, save, pad=2)
    found = TemplateGrounder().ground(captured, "the Save button", hints=_hints(template))
    assert found.found and save[0] <= found.point[0] < save[2] and save[1] <= found.point[1] < save[3]


def test_smallest_keeps_jxl_on_flat_screens_and_takes_webp_where_it_is_smaller(frame):
    import random

    from PIL import Image, ImageDraw, ImageFont

    smallest, jxl = ScreenshotFormat("smallest"), ScreenshotFormat("jxl")
    flat = frame.to_image()
    assert smallest.encode(flat) == jxl.encode(flat)  # the flat sample app: no second encoding
    rng = random.Random(1)  # dense: text over a noisy wallpaper, where lossless WebP wins
    photo = Image.effect_noise((400, 240), 20).convert("RGB")
    draw = ImageDraw.Draw(photo)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 12)
    for y in range(0, 240, 14):
        words = " ".join(rng.choice(["def", "return", "self", "import", "value", "for"]) for _ in range(12))
        draw.text((2, y), words, font=font, fill=(20, 20, 20))
    data = smallest.encode(photo)
    assert smallest.extension_of(data) == "webp" and len(data) < len(jxl.encode(photo))
    assert smallest.encode_bgrx(photo.tobytes("raw", "BGRX"), *photo.size) == data  # the capture's way too
    import io

    assert Image.open(io.BytesIO(data)).convert("RGB").tobytes() == photo.tobytes()  # still lossless
    with pytest.raises(ValueError, match="lossless only"):
        ScreenshotFormat("smallest", 85)


def _hints(template):
    from grounding.base import GroundingHints

    return GroundingHints(template=template)


def test_lossless_is_the_default_and_lossy_needs_a_quality(tmp_path, monkeypatch):
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(tmp_path / "settings.toml"))
    assert load_screenshot_format().lossless
    (tmp_path / "settings.toml").write_text("[screenshots]\nformat = 'webp'\nquality = 80\n")
    assert load_screenshot_format() == ScreenshotFormat("webp", 80)
    assert load_screenshot_format(format="png") == ScreenshotFormat("png")  # the command line wins
    for text, says in (("[screenshots]\nformat = 'jpeg'\n", "jpeg is lossy only"),
                       ("[screenshots]\nformat = 'bmp'\n", "unknown image format 'bmp'"),
                       ("[screenshots]\nquality = 101\n", "from 1 to 100"),
                       ("[screenshots]\nqualty = 5\n", r"unknown key\(s\) 'qualty'")):
        (tmp_path / "settings.toml").write_text(text)
        with pytest.raises(SettingsError, match=says):
            load_screenshot_format()


def test_an_identical_new_frame_is_stored_once(frame, tmp_path):
    """Two grabs of an unchanged screen are different frames with the same pixels: one file, linked."""
    recorder = Recorder(tmp_path / "t", config=RecorderConfig(screenshot_format=ScreenshotFormat("png")))
    recorder._writer = TrajectoryWriter(tmp_path / "t", new_meta(screens=[]))
    again = Frame(frame.t + 1.0, frame.left, frame.top, frame.width, frame.height, bytes(frame.bgra))  # a new grab
    assert again is not frame and again.same_pixels(frame)
    for index, shot in enumerate((frame, again)):
        recorder._write_step(MergedAction(parse_action("press key: f5"), shot.t, shot.t, None, shot, None))
    recorder._writer.close("stopped")
    first, second = sorted((tmp_path / "t" / "screenshots").iterdir())
    assert first.stat().st_ino == second.stat().st_ino


def test_a_burst_of_input_loses_nothing(sample_app, xdisplay, xdo, tmp_path):
    """500 typed characters and 60 separate key steps as fast as xdotool sends them, recorded as WebP."""
    text = "".join("abcdefghijklmnopqrstuvwxyz0123456789"[i % 36] for i in range(500))
    rec = RecorderProcess(tmp_path / "t", "--idle-wait", "0", "--image-format", "webp",
                          env=xdisplay.child_env()).start()
    try:
        xdo.click(*sample_app.center("name"))
        xdo.type(text, delay_ms=1)
        xdo.click(*sample_app.center("items"))
        xdo.key(*["Down"] * 60, delay_ms=1)
        # the stop hotkey, not a signal: it reaches the recorder behind every key sent before it (a signal can
        # overtake keys the X server has not yet passed on, which a person pressing stop never sees)
        xdo.key("ctrl+shift+F12")
        assert rec.wait() == 0, rec.output
    finally:
        rec.kill()
    steps = read_trajectory(tmp_path / "t").steps
    actions = [s.action for s in steps]
    assert f"type text: {text}" in actions
    assert actions.count("press key: down") == 60
    assert all(s.screenshot.endswith(".webp") for s in steps if s.screenshot)
    assert [p for p in check_trajectory(tmp_path / "t") if p.severity == "error"] == []
    assert sample_app.events("name_changed")[-1]["text"] == text
