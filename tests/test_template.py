"""grounding.template: a crop from one screenshot found again after a layout change and a scale change."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from grounding.base import GroundingHints
from grounding.template import TemplateGrounder, crop_template


def inside(rect, point) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


def scaled(rect, factor):
    return tuple(round(v * factor) for v in rect)


def busy_screen(size=(1920, 1080), seed=0) -> Image.Image:
    """A 'desktop' of many small labelled boxes, so a template has look-alikes to beat."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, "#e0e0e0")
    draw = ImageDraw.Draw(image)
    for i in range(250):
        x, y = int(rng.integers(0, size[0] - 70)), int(rng.integers(0, size[1] - 30))
        draw.rectangle((x, y, x + 60, y + 24), outline="black", fill=tuple(int(v) for v in rng.integers(150, 255, 3)))
        draw.text((x + 5, y + 5), f"W{i}", fill="black")
    return image


def draw_target(image: Image.Image, x: int, y: int) -> tuple[int, int, int, int]:
    draw = ImageDraw.Draw(image)
    draw.rectangle((x, y, x + 100, y + 36), fill="#3070d0", outline="black")
    draw.text((x + 20, y + 10), "Save file", fill="white")
    draw.ellipse((x + 80, y + 8, x + 94, y + 22), fill="yellow")
    return (x, y, x + 101, y + 37)


# ---- synthetic screens ----------------------------------------------------------------------------


def test_crop_template_pads_and_clips():
    image = Image.new("RGB", (100, 50))
    assert crop_template(image, (10, 10, 20, 20)).size == (18, 18)
    assert crop_template(image, (0, 0, 10, 10), pad=4).size == (14, 14)
    with pytest.raises(ValueError):
        crop_template(image, (200, 200, 210, 210))


def test_finds_the_template_on_1080p_and_reports_the_time():
    screen = busy_screen()
    box = draw_target(screen, 1500, 900)
    template = crop_template(screen, box)
    grounder = TemplateGrounder()
    hints = GroundingHints(template=template)
    grounder.ground(screen, "warm-up", hints)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        result = grounder.ground(screen, "the Save file button", hints)
        timings.append(time.perf_counter() - start)
    assert result.found and inside(box, result.point) and result.confidence > 0.95
    assert result.details["scale"] == pytest.approx(1.0, abs=0.07)
    median = sorted(timings)[1]
    print(f"template matching on 1920x1080 ({len(grounder.scales)} scales): median {median * 1000:.0f} ms")
    assert median < 2.0


def test_missing_or_blank_template_and_no_match_are_not_found():
    screen = busy_screen(size=(800, 600))
    grounder = TemplateGrounder()
    assert "needs hints.template" in grounder.ground(screen, "x").reason
    blank = grounder.ground(screen, "x", GroundingHints(template=Image.new("RGB", (40, 20), "white")))
    assert not blank.found and "blank" in blank.reason
    other = Image.new("RGB", (90, 40), "white")
    ImageDraw.Draw(other).ellipse((5, 5, 85, 35), fill="magenta", outline="black")
    ImageDraw.Draw(other).line((0, 0, 90, 40), fill="black", width=3)
    result = grounder.ground(screen, "x", GroundingHints(template=other))
    assert not result.found and "below 0.8" in result.reason and result.point is None


def test_two_equal_matches_are_ambiguous_unless_near_decides():
    screen = busy_screen(size=(1280, 800), seed=1)
    first = draw_target(screen, 100, 600)
    second = draw_target(screen, 1000, 100)
    template = crop_template(screen, first, pad=0)  # no padding: the surroundings differ between the two
    grounder = TemplateGrounder()
    result = grounder.ground(screen, "Save file", GroundingHints(template=template))
    assert result.found and result.details["ambiguous"] == 2 and result.confidence <= 0.5
    points = [c.point for c in result.candidates[:2]]
    assert any(inside(first, p) for p in points) and any(inside(second, p) for p in points)
    chosen = grounder.ground(screen, "Save file", GroundingHints(template=template, near=(990, 90)))
    assert inside(second, chosen.point) and chosen.details["resolved_by"] == "near"
    assert chosen.confidence > 0.95


# ---- the real sample app ----------------------------------------------------------------------------


@pytest.mark.display
@pytest.mark.timeout(180)
def test_widget_crop_found_after_layout_change_and_at_1_5x(launch_sample_app, grab):
    default = launch_sample_app()
    before = grab()
    templates = {name: crop_template(before, default.rect(name)) for name in ("name", "drag")}
    default.stop()
    moved = launch_sample_app("--layout", "moved")
    after = grab()
    grounder = TemplateGrounder()
    for name, template in templates.items():
        assert moved.rect(name) != default.rect(name)
        result = grounder.ground(after, f"the {name} widget", GroundingHints(template=template))
        assert result.found, result.reason
        assert inside(moved.rect(name), result.point), (name, result.point, moved.rect(name))
        # the same screen on a 1.5x display
        big = after.resize((round(after.width * 1.5), round(after.height * 1.5)), Image.Resampling.BICUBIC)
        result = grounder.ground(big, f"the {name} widget", GroundingHints(template=template))
        assert result.found, result.reason
        assert inside(scaled(moved.rect(name), 1.5), result.point), (name, result.point)
        assert result.details["scale"] == pytest.approx(1.5, abs=0.1)
