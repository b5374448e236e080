"""OCR grounding (grounding.ocr.engine) and its cache (grounding.ocr.cache), on real pixels.

The sample app is OCR'd on the virtual display (one full read per app launch, shared by every widget
checked); the menu-bar and position cases use small PIL-rendered images. OCR takes ~1-2 s for a
1280x800 screen on 2 cores, so the number of full reads here is kept to three.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from grounding.base import EmptyDescription, Grounder, GroundingHints, InvalidScreenshot
from grounding.ocr.engine import OcrBox, OcrGrounder, RapidOcrEngine, group_words_by_line, text_candidates
from grounding.ocr.cache import OcrCache, plan_regions

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


class CountingEngine:
    """Wraps an engine and counts the reads (and pixels) it is asked for."""

    def __init__(self, inner: RapidOcrEngine) -> None:
        self.inner = inner
        self.calls = 0
        self.pixels = 0

    def read(self, image):
        self.calls += 1
        array = np.asarray(image)
        self.pixels += array.shape[0] * array.shape[1]
        return self.inner.read(image)


@pytest.fixture(scope="module")
def rapid_engine() -> RapidOcrEngine:
    return RapidOcrEngine()


@pytest.fixture
def engine(rapid_engine: RapidOcrEngine) -> CountingEngine:
    return CountingEngine(rapid_engine)


def font(size: int = 15) -> ImageFont.FreeTypeFont:
    if not FONT_PATH.exists():
        pytest.skip(f"{FONT_PATH} is missing (Debian: fonts-dejavu-core)")
    return ImageFont.truetype(str(FONT_PATH), size)


def draw_words(draw: ImageDraw.ImageDraw, origin: tuple[int, int], text: str, fnt) -> dict[str, tuple]:
    """Draw text and return each word's pixel box, measured with the same font."""
    draw.text(origin, text, font=fnt, fill=(20, 20, 20))
    boxes, x = {}, origin[0]
    for index, word in enumerate(text.split(" ")):
        if word:
            left, top, right, bottom = draw.textbbox((x, origin[1]), word, font=fnt)
            boxes[word] = (left, top, right, bottom)
        x += draw.textlength(word + " ", font=fnt)
    return boxes


def inside(point, box, slack: int = 0) -> bool:
    return box[0] - slack <= point[0] < box[2] + slack and box[1] - slack <= point[1] < box[3] + slack


# ----- the sample app on a real display -------------------------------------------------------------

TEXT_WIDGETS = [
    ("save", 'click the "Save" button'), ("open", 'click the "Open" button'), ("delete", "click the Delete button"),
    ("status", 'the status label "Ready"'), ("name_label", "the Name: label"),
    ("password_label", "click Password"), ("drag", "Drag me"), ("pad", "Pressed 0 times"),
]


@pytest.mark.display
def test_grounds_every_text_widget_of_the_sample_app(sample_app, grab, engine) -> None:
    grounder = OcrGrounder(cache=OcrCache(engine))
    assert isinstance(grounder, Grounder)
    screenshot = grab()
    items = [name for name in sample_app.widgets if name.startswith("item_")]
    assert len(items) >= 20
    cases = TEXT_WIDGETS + [(name, f"click Item {name[5:]} in the list") for name in items] \
        + [(name, f'double-click "{name.replace("_", " ").title()}"') for name in items[:3]]
    misses = []
    for name, description in cases:
        result = grounder.ground(screenshot, description)
        if not (result.found and inside(result.point, sample_app.widgets[name])):
            misses.append((name, description, result.point, result.reason))
        else:
            assert result.confidence >= 0.8 and result.engine == "ocr" and result.latency_s >= 0
    assert not misses, misses
    assert engine.calls == 1, "one OCR of the screen serves every question about it"


@pytest.mark.display
def test_cache_reads_only_the_change_and_matches_a_full_read(sample_app, grab, xdo, engine, rapid_engine) -> None:
    cache = OcrCache(engine)
    grounder = OcrGrounder(cache=cache)
    before = grab()
    assert grounder.ground(before, 'the status "Ready"').found
    assert grounder.ground(before.copy(), "Save").found  # same pixels, another image object
    assert (engine.calls, cache.stats.full_runs, cache.stats.cache_hits) == (1, 1, 1)

    xdo.click(*sample_app.center("open"))
    sample_app.wait_for("button_clicked", name="Open")
    status = sample_app.widgets["status"]
    after = grab()
    deadline = time.monotonic() + 3
    while np.array_equal(np.asarray(after.crop(status)), np.asarray(before.crop(status))):
        assert time.monotonic() < deadline, "the status label was not repainted"
        time.sleep(0.05)
        after = grab()

    found = grounder.ground(after, 'the status text "Clicked Open"')
    assert cache.stats.last_mode == "partial" and cache.stats.partial_runs == 1
    assert found.found and inside(found.point, status), found
    assert cache.stats.pixels_ocr - before.width * before.height < 0.1 * before.width * before.height
    gone = grounder.ground(after, 'the status "Ready"')
    assert not gone.found, gone
    assert grounder.ground(after, 'click the "Delete" button').found  # kept from the first read

    partial = cache.read(after)
    full = rapid_engine.read(after)  # the reference: a fresh read of the whole new screen
    assert sorted(b.text for b in partial if b.level == "line") == sorted(b.text for b in full if b.level == "line")
    for box in (b for b in full if b.level == "line"):
        twins = [p for p in partial if p.level == "line" and p.text == box.text]
        centre = ((box.box[0] + box.box[2]) // 2, (box.box[1] + box.box[3]) // 2)
        assert any(inside(centre, p.box) for p in twins), (box, twins)


# ----- synthetic images -----------------------------------------------------------------------------

def test_menu_bar_word_lands_on_that_word_alone(engine) -> None:
    image = Image.new("RGB", (800, 300), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 800, 28), fill=(230, 230, 230))
    words = draw_words(draw, (10, 6), "File  Edit  View  Help", font(15))
    grounder = OcrGrounder(engine)
    result = grounder.ground(image, "click Edit in the menu bar")
    assert result.found, result
    assert inside(result.point, words["Edit"], slack=2)
    assert not any(inside(result.point, words[w]) for w in ("File", "View", "Help"))
    assert result.details["position_hint"] == {"region": "menu bar"}
    for word in ("File", "View", "Help"):
        assert inside(grounder.ground(image, f'click the "{word}" menu').point, words[word], slack=2)
    assert engine.calls == 4  # no cache: every question reads again


def test_multi_word_target_position_and_ordinal(engine) -> None:
    image = Image.new("RGB", (1000, 600), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    left = draw_words(draw, (40, 40), "Apply", font(16))["Apply"]
    right = draw_words(draw, (880, 500), "Apply", font(16))["Apply"]
    line = draw_words(draw, (300, 260), "Open  Save As  Close", font(16))
    grounder = OcrGrounder(cache=OcrCache(engine))

    save_as = grounder.ground(image, 'click "Save As..."')
    assert save_as.found and save_as.box is not None
    assert inside(save_as.point, (line["Save"][0], line["Save"][1], line["As"][2], line["As"][3]), slack=2)
    assert save_as.box[0] <= line["Save"][0] + 3 and save_as.box[2] >= line["As"][2] - 3  # both words

    assert inside(grounder.ground(image, "click Apply at the bottom right").point, right, slack=2)
    assert inside(grounder.ground(image, "click Apply in the top left corner").point, left, slack=2)
    assert inside(grounder.ground(image, "click the second Apply button").point, right, slack=2)
    assert inside(grounder.ground(image, "click the first Apply button").point, left, slack=2)
    assert inside(grounder.ground(image, "Apply", GroundingHints(near=(900, 480))).point, right, slack=2)
    assert inside(grounder.ground(image, "Apply", GroundingHints(position="top left")).point, left, slack=2)
    third = grounder.ground(image, "click the third Apply button")
    assert not third.found and "2" in third.reason
    assert engine.calls == 1


def test_role_words_choose_by_layout_and_a_check_box_gets_the_click(engine) -> None:
    """A menu title sits in a bar of words far apart; the same word alone on a line of text wins without a
    role. A check box's label is read and the point moves onto the box drawn left of it."""
    image = Image.new("RGB", (900, 420), (246, 245, 244))
    draw = ImageDraw.Draw(image)
    bar = draw_words(draw, (10, 6), "File    Edit    Search    Help", font(15))
    typed = draw_words(draw, (40, 200), "File", font(13))["File"]  # smaller: it wins a tie between equals
    draw_words(draw, (40, 150), "The report lists every File and its size.", font(15))
    draw.rectangle((40, 300, 55, 315), outline=(120, 120, 120), width=1)  # an unticked check box
    label = draw_words(draw, (64, 299), "Match case", font(15))
    grounder = OcrGrounder(cache=OcrCache(engine))
    assert inside(grounder.ground(image, "File").point, typed, slack=2)  # without a role: the typed word
    for description in ('the "File" menu', "open the File menu", "the File menu title"):
        assert inside(grounder.ground(image, description).point, bar["File"], slack=2), description
    ticked = grounder.ground(image, "tick the Match case check box")
    assert inside(ticked.point, (40, 300, 56, 316), slack=1) and ticked.details["mark"] == [40, 300, 56, 316]
    assert ticked.box[0] <= 40 and ticked.box[2] >= label["case"][2] - 2  # box and label together
    assert inside(grounder.ground(image, "Match case").point, (label["Match"][0], 295, label["case"][2], 320))
    below = grounder.ground(image, "the File line below the report")
    assert below.found and inside(below.point, typed, slack=2)
    assert engine.calls == 1


def test_not_found_is_an_explicit_answer(engine) -> None:
    image = Image.new("RGB", (600, 200), (250, 250, 250))
    draw_words(ImageDraw.Draw(image), (30, 80), "Cancel  Apply", font(16))
    grounder = OcrGrounder(cache=OcrCache(engine))
    result = grounder.ground(image, 'click the "Frobnicate" button')
    assert not result.found and result.point is None and result.box is None and result.confidence == 0.0
    assert "frobnicate" in result.reason and result.candidates  # the closest texts, for the log
    assert json.loads(json.dumps(result.to_dict()))["found"] is False
    blank = grounder.ground(Image.new("RGB", (300, 200), "white"), "click OK")
    assert not blank.found and blank.reason == "no text match: no text found on the screen"


@pytest.mark.parametrize("screenshot, description, error", [
    (None, "click OK", InvalidScreenshot),
    ("screen.png", "click OK", InvalidScreenshot),
    (Image.new("RGB", (0, 0)), "click OK", InvalidScreenshot),
    (Image.new("RGB", (50, 50)), "", EmptyDescription),
    (Image.new("RGB", (50, 50)), "   ", EmptyDescription),
    (Image.new("RGB", (50, 50)), None, EmptyDescription),
    (Image.new("RGB", (50, 50)), "in the toolbar", EmptyDescription),  # a place but no text to find
])
def test_garbage_inputs_raise_typed_errors(screenshot, description, error) -> None:
    class NeverCalled:
        def read(self, image):
            raise AssertionError("bad input must be refused before any OCR")

    with pytest.raises(error):
        OcrGrounder(NeverCalled()).ground(screenshot, description)


# ----- pure parts of the engine and the cache -------------------------------------------------------

def test_words_are_grouped_into_their_lines_and_runs_are_scored() -> None:
    boxes = [OcrBox("File Edit View", (0, 0, 150, 24), 0.99),
             OcrBox("File", (5, 2, 30, 22), 0.99, "word"), OcrBox("Edit", (45, 2, 70, 22), 0.99, "word"),
             OcrBox("View", (85, 2, 110, 22), 0.99, "word"), OcrBox("Stray", (300, 300, 340, 320), 0.9, "word")]
    groups = group_words_by_line(boxes)
    assert [w.text for w in groups[0][1]] == ["File", "Edit", "View"]
    assert groups[1] == (None, [boxes[-1]])
    best = max(text_candidates(boxes, ["edit view"]), key=lambda c: c.score)
    assert best.label == "Edit View" and best.box == (45, 2, 110, 22)


def test_region_planning_covers_stale_lines_and_merges() -> None:
    # only the last glyph of "Name: A" changed: the crop must hold the whole (stale) line
    regions = plan_regions([(112, 104, 128, 120)], [(20, 100, 120, 124)], 1280, 800, margin=16, merge_gap=48)
    assert len(regions) == 1 and regions[0][0] <= 20 and regions[0][2] >= 120
    assert all((r[2] - r[0]) % 32 == 0 and (r[3] - r[1]) % 32 == 0 for r in regions)
    two = plan_regions([(0, 0, 16, 16), (600, 600, 616, 616)], [], 1280, 800, margin=16, merge_gap=48)
    assert len(two) == 2
    one = plan_regions([(100, 100, 116, 116), (150, 100, 166, 116)], [], 1280, 800, margin=16, merge_gap=48)
    assert len(one) == 1


def test_cache_identical_pixels_cost_nothing_and_big_changes_read_everything() -> None:
    class FakeEngine:
        def __init__(self) -> None:
            self.shapes: list[tuple[int, int]] = []

        def read(self, image):
            self.shapes.append(np.asarray(image).shape[:2])
            return []

    fake = FakeEngine()
    cache = OcrCache(fake)
    screen = np.full((400, 600, 3), 200, np.uint8)
    cache.read(screen)
    cache.read(screen.copy())
    assert fake.shapes == [(400, 600)] and cache.stats.cache_hits == 1
    changed = screen.copy()
    changed[50:60, 50:90] = 0
    cache.read(changed)
    assert cache.stats.partial_runs == 1 and fake.shapes[-1][0] * fake.shapes[-1][1] < 0.05 * 400 * 600
    cache.read(np.zeros_like(screen))
    assert cache.stats.full_runs == 2 and fake.shapes[-1] == (400, 600)


def test_the_ocr_grounder_the_product_opens_has_a_cache(sample_app, grab) -> None:
    """`--grounder ocr` and the composite's OCR re-read only what changed: a second question about the
    same screen costs no OCR at all."""
    from grounding.composite import CompositeGrounder
    from grounding.engines import open_grounder
    from pcagent.agent.planners.replay import default_replay_grounder

    grounder = open_grounder("ocr")
    screen = grab()
    assert grounder.ground(screen, "Save").found and grounder.ground(screen, "Open").found
    assert grounder.cache.stats.full_runs == 1 and grounder.cache.stats.cache_hits == 1
    for composite in (open_grounder("composite:accessibility,ocr"), default_replay_grounder()):
        assert isinstance(composite, CompositeGrounder)
        assert [g.cache is not None for g in composite.engines if hasattr(g, "cache")] == [True]
