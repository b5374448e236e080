"""grounding.coordinates: smart_resize, model space <-> screenshot pixels, parsing model answers."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grounding.coordinates import (
    CONVENTIONS, UITARS_MAX_PIXELS, UITARS_MIN_PIXELS, CoordinateError, ScreenFrame, describe_convention,
    from_screen, median_point, model_frame_size, parse_points, smart_resize, to_screen, written_decimals,
)
from models.profile import OUTPUT_CONVENTIONS


def test_conventions_match_the_profile_list():
    assert set(CONVENTIONS) == set(OUTPUT_CONVENTIONS)


# ---- smart_resize ---------------------------------------------------------------------------------


def test_smart_resize_known_sizes():
    # Qwen2-VL processor defaults: 1920x1080 is over 1,003,520 pixels and shrinks
    assert smart_resize(1920, 1080) == (1316, 728)
    assert smart_resize(1280, 800) == (1260, 784)
    # UI-TARS' bounds: a 1080p screen rounds to multiples of 28 without shrinking
    assert smart_resize(1920, 1080, min_pixels=UITARS_MIN_PIXELS, max_pixels=UITARS_MAX_PIXELS) == (1932, 1092)
    assert smart_resize(10, 10) == (56, 56)  # tiny images grow to min_pixels


@given(st.integers(28, 5000), st.integers(28, 5000))
def test_smart_resize_rules(width, height):
    if max(width, height) / min(width, height) > 200:
        return
    new_w, new_h = smart_resize(width, height)
    assert new_w % 28 == 0 and new_h % 28 == 0
    assert 56 * 56 <= new_w * new_h <= 14 * 14 * 4 * 1280
    if min(width, height) >= 112:
        # rounding each side to a multiple of 28 moves it by at most 14 px: the aspect ratio stays close
        # (on smaller sides one rounding step is a large share of the side, as in the reference rule)
        assert abs(new_w / new_h - width / height) / (width / height) < 0.35


def test_smart_resize_rejects_bad_sizes():
    with pytest.raises(CoordinateError):
        smart_resize(0, 10)
    with pytest.raises(CoordinateError):
        smart_resize(10000, 10)


# ---- to_screen / from_screen ----------------------------------------------------------------------


def test_to_screen_each_convention():
    size = (1280, 800)
    assert to_screen(50, 25, "molmo_percent", size) == (640, 200)
    assert to_screen(500, 250, "norm1000", size) == (640, 200)
    assert to_screen(320, 100, "absolute", size, model_image_size=(640, 400)) == (640, 200)
    assert to_screen(640, 200, "absolute", size) == (640, 200)
    frame = smart_resize(1280, 800, min_pixels=UITARS_MIN_PIXELS, max_pixels=UITARS_MAX_PIXELS)
    assert frame == (1288, 812)
    assert to_screen(644, 203, "uitars_resized", size) == (640, 200)


def test_far_edges_are_the_last_pixel_and_beyond_is_off_screen():
    size = (1280, 800)
    assert to_screen(100, 100, "molmo_percent", size) == (1279, 799)
    assert to_screen(1000, 0, "norm1000", size) == (1279, 0)
    assert to_screen(-0.3, 0, "absolute", size) == (0, 0)  # rounding
    for x, y, convention in [(101, 50, "molmo_percent"), (-5, 10, "norm1000"), (1290, 5, "absolute"),
                             (5, 1200, "norm1000"), (float("nan"), 3, "absolute"), (math.inf, 3, "absolute")]:
        with pytest.raises(CoordinateError):
            to_screen(x, y, convention, size)
    with pytest.raises(CoordinateError):
        to_screen(1, 1, "pixels", size)
    with pytest.raises(CoordinateError):
        from_screen(1280, 5, "absolute", size)


sizes = st.tuples(st.integers(100, 4000), st.integers(100, 3000))


@settings(max_examples=300)
@given(sizes, st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True),
       st.sampled_from(CONVENTIONS), st.floats(0.2, 1.0))
def test_round_trip_screen_model_screen(size, fx, fy, convention, shrink):
    point = (int(fx * size[0]), int(fy * size[1]))
    sent = (max(1, int(size[0] * shrink)), max(1, int(size[1] * shrink)))
    model = from_screen(*point, convention, size, sent)
    assert to_screen(*model, convention, size, sent) == point
    # a model answers with rounded numbers: still within the rounding of one model unit
    frame = model_frame_size(convention, size, sent)
    rounded = to_screen(round(model[0]), round(model[1]), convention, size, sent)
    assert abs(rounded[0] - point[0]) <= size[0] / frame[0] / 2 + 1
    assert abs(rounded[1] - point[1]) <= size[1] / frame[1] / 2 + 1


@given(sizes, st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.sampled_from(CONVENTIONS))
def test_to_screen_never_returns_a_point_off_the_image(size, x, y, convention):
    try:
        px, py = to_screen(x, y, convention, size)
    except CoordinateError:
        return
    assert 0 <= px < size[0] and 0 <= py < size[1]


# ---- parse_points ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, convention, expected", [
    ('<point x="12.5" y="40" alt="Save">Save</point>', "molmo_percent", [(12.5, 40.0)]),
    ("<point x='12.5%' y='40%'>", "molmo_percent", [(12.5, 40.0)]),
    ('<points x1="10" y1="20" x2="30" y2="40" alt="items">items</points>', "molmo_percent",
     [(10.0, 20.0), (30.0, 40.0)]),
    ("(500, 250)", "norm1000", [(500.0, 250.0)]),
    ("[500,250]", "norm1000", [(500.0, 250.0)]),
    ("<|box_start|>(100,200),(300,400)<|box_end|>", "norm1000", [(200.0, 300.0)]),
    ("(100,200),(300,400)", "norm1000", [(200.0, 300.0)]),  # special tokens stripped by the server
    ("Thought: the Save button.\nAction: click(start_box='(235,512)')", "uitars_resized", [(235.0, 512.0)]),
    ("Action: click(start_box='<|box_start|>(235,512)<|box_end|>')", "uitars_resized", [(235.0, 512.0)]),
    ("Action: click(point='<point>235 512</point>')", "uitars_resized", [(235.0, 512.0)]),
    ("drag(start_box='(1,2)', end_box='(3,4)')", "absolute", [(1.0, 2.0), (3.0, 4.0)]),
    ('[{"bbox_2d": [10, 20, 30, 40], "label": "Save"}]', "absolute", [(20.0, 30.0)]),
    ('{"point_2d": [15, 25]}', "absolute", [(15.0, 25.0)]),
    ('{"x": 12, "y": 40.5}', "absolute", [(12.0, 40.5)]),
    ("<bbox>10 20 30 40</bbox>", "norm1000", [(20.0, 30.0)]),
])
def test_parse_points_formats(text, convention, expected):
    assert parse_points(text, convention) == expected


@pytest.mark.parametrize("text", [
    "", "I cannot find it.", "<point x=\"\" y=\"\">", "(x, y)", "(nan, 4)", "[1e999, 5]", "(-20, 30)",
    '<point x="140" y="40">', "<html><body>502 Bad Gateway</body></html>", "<point x=\"12.5\"",
])
def test_parse_points_rejects_garbage_and_impossible_points(text):
    assert parse_points(text, "molmo_percent") == []


@pytest.mark.parametrize("text", ["<point>" + " " * 50_000, "<bbox>1" + " " * 50_000, "<points " + " " * 50_000,
                                  "(1" + " " * 50_000, "<point>1" + " " * 50_000 + "2"])
def test_parse_points_is_linear_in_whitespace(text):
    """Nested quantifiers over the same spaces made 8,000 spaces take 2 s; this is 50,000."""
    started = time.perf_counter()
    parse_points(text)
    assert time.perf_counter() - started < 0.5


def test_parse_points_range_depends_on_convention():
    assert parse_points("(600, 300)", "molmo_percent") == []
    assert parse_points("(600, 300)", "norm1000") == [(600.0, 300.0)]
    assert parse_points("(1600, 300)", "norm1000") == []
    assert parse_points("(1600, 300)", "absolute") == [(1600.0, 300.0)]  # to_screen checks the image
    with pytest.raises(CoordinateError):
        parse_points("(1, 2)", "pixels")


def test_median_point():
    assert median_point([(0, 0), (10, 10), (11, 9)]) == (10, 9)
    assert median_point([(0, 0), (10, 20)]) == (5, 10)
    with pytest.raises(CoordinateError):
        median_point([])


def test_a_screen_frame_maps_between_the_model_and_the_desktop_both_ways():
    # a 1280x800 screenshot of a monitor left of the primary, sent to the model at 640x400
    frame = ScreenFrame("absolute", (1280, 800), (640, 400), origin=(-1280, 0))
    assert frame.to_desktop(140, 200) == (-1000, 400)
    assert frame.to_model(-1000, 400) == (140.0, 200.0)
    assert frame.extent() == (640.0, 400.0)
    assert ScreenFrame("norm1000", (1280, 800), (640, 400), (0, 0)).to_desktop(500, 500) == (640, 400)
    with pytest.raises(CoordinateError):
        frame.to_desktop(700, 10)  # right of the sent image
    with pytest.raises(CoordinateError):
        frame.to_model(10, 10)  # on the primary monitor, not on this screenshot


def test_every_convention_is_described_and_written_with_its_decimals():
    for convention in CONVENTIONS:
        sentence = describe_convention(convention, (640, 400))
        assert sentence.startswith("x and y ") and not sentence.endswith(".")
        assert ("640 x 400" in sentence) == (convention in ("absolute", "uitars_resized"))
    assert [written_decimals(c) for c in ("absolute", "norm1000", "molmo_percent", "norm1")] == [0, 0, 1, 3]
    with pytest.raises(CoordinateError):
        describe_convention("pixels", (640, 400))
