"""grounding.model_engine: a pointing model's answers in each convention land in the right widget.

Unit tests use a small fake model; the end-to-end ones go through the real loopback ScriptedServer
and OpenAICompatibleModel with a screenshot of the real sample app.
"""

from __future__ import annotations

import socket
from typing import Sequence

import pytest
from PIL import Image

from grounding.base import EmptyDescription, GroundingHints
from grounding.coordinates import UITARS_MAX_PIXELS, UITARS_MIN_PIXELS, from_screen, smart_resize
from grounding.model_engine import ModelGrounder
from models.base import Message, ModelResponse
from models.errors import ModelConnectionError, ModelResponseError
from models.images import image_from_data_url
from models.backends.openai_compat import OpenAICompatibleModel
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer


class FakeModel:
    """Answers from a list, records what it was sent."""

    def __init__(self, answers: list[str], profile: ModelProfile | None = None) -> None:
        self.name = "fake"
        self.answers = list(answers)
        self.calls: list[tuple[list[Message], dict]] = []
        if profile is not None:
            self.profile = profile

    def generate(self, messages: Sequence[Message], *, max_tokens=None, temperature=None, stop=None) -> ModelResponse:
        self.calls.append((list(messages), {"temperature": temperature}))
        return ModelResponse(self.answers.pop(0), latency_s=0.01)

    def close(self) -> None:
        pass


def inside(rect, point) -> bool:
    return rect[0] <= point[0] < rect[2] and rect[1] <= point[1] < rect[3]


SCREEN = Image.new("RGB", (1280, 800), "white")


# ---- with a fake model ----------------------------------------------------------------------------


def test_molmo_percent_answer_maps_to_pixels_and_prompt_is_sent():
    model = FakeModel(['<point x="50" y="25" alt="Save">Save</point>'])
    result = ModelGrounder(model, "molmo_percent").ground(SCREEN, "the Save button")
    assert result.found and result.point == (640, 200) and result.engine == "model"
    messages, _ = model.calls[0]
    assert messages[0].text == "Point to the Save button" and messages[0].images[0].size == (1280, 800)
    assert result.details["sent_size"] == [1280, 800] and "Save" in result.details["answers"][0]["text"]


def test_screenshot_is_shrunk_to_the_profile_budget_and_absolute_uses_the_sent_size():
    profile = ModelProfile("p", image_max_pixels=640 * 400)
    model = FakeModel(["(320, 100)"], profile)
    result = ModelGrounder(model, "absolute").ground(SCREEN, "x")
    assert model.calls[0][0][0].images[0].size == (640, 400)
    assert result.details["sent_size"] == [640, 400]
    assert result.point == (640, 200)


@pytest.mark.parametrize("answer, why", [
    ("", "no coordinates"),
    ("I can't see a Save button here.", "no coordinates"),
    ('<point x="50" y=', "no coordinates"),  # truncated
    ("<html><body>oops</body></html>", "no coordinates"),
    ('<point x="150" y="20">', "no coordinates"),  # over 100 %: skipped by the parser
    ("(nan, nan)", "no coordinates"),
])
def test_answers_without_a_usable_point_are_not_found(answer, why):
    result = ModelGrounder(FakeModel([answer]), "molmo_percent").ground(SCREEN, "Save")
    assert not result.found and result.point is None and why in result.reason
    assert repr(answer[:10])[1:-1] in result.reason or answer == ""


def test_off_screen_absolute_point_is_not_found():
    result = ModelGrounder(FakeModel(["click(start_box='(1500, 300)')"]), "absolute").ground(SCREEN, "Save")
    assert not result.found and "off the screen" in result.reason


def test_long_answer_is_quoted_truncated():
    result = ModelGrounder(FakeModel(["blah " * 500]), "norm1000").ground(SCREEN, "Save")
    assert not result.found and len(result.reason) < 300 and "…" in result.reason


def test_samples_pick_the_point_nearest_the_median():
    model = FakeModel(["(500, 250)", "(100, 900)", "(505, 255)"])
    grounder = ModelGrounder(model, "norm1000", samples=3, temperature=0.7)
    result = grounder.ground(SCREEN, "Save")
    # in pixels (640, 200), (128, 720), (646, 204): the median is (640, 204), nearest to (640, 200)
    assert result.point == (640, 200)
    assert len(model.calls) == 3 and model.calls[0][1]["temperature"] == 0.7
    assert result.confidence == pytest.approx(2 / 3)
    assert {c.point for c in result.candidates} == {(646, 204), (640, 200), (128, 720)}


def test_samples_survive_one_bad_answer():
    model = FakeModel(["nothing", "(500, 250)", "(501, 250)"])
    result = ModelGrounder(model, "norm1000", samples=3).ground(SCREEN, "Save")
    assert result.found and result.point in {(640, 200), (641, 200)}


def test_bad_arguments():
    with pytest.raises(ValueError):
        ModelGrounder(FakeModel([]), "percent")
    with pytest.raises(ValueError):
        ModelGrounder(FakeModel([]), "norm1000", samples=0)
    with pytest.raises(EmptyDescription):
        ModelGrounder(FakeModel([]), "norm1000").ground(SCREEN, "  ")


def test_model_errors_propagate():
    class Broken(FakeModel):
        def generate(self, messages, **kwargs):
            raise ModelResponseError("HTML instead of JSON")

    with pytest.raises(ModelResponseError):
        ModelGrounder(Broken([]), "norm1000").ground(SCREEN, "Save")


# ---- through the real scripted OpenAI-compatible server ----------------------------------------------


def profile_for(server: ScriptedServer, **fields) -> ModelProfile:
    return ModelProfile("grounder", base_url=server.base_url, model="scripted", max_retries=0, timeout_s=5,
                        **fields)


def answers_for(point, size, sent):
    """What each convention's model would answer for a pixel of the screenshot."""
    x, y = from_screen(*point, "molmo_percent", size, sent)
    n = from_screen(*point, "norm1000", size, sent)
    a = from_screen(*point, "absolute", size, sent)
    u = from_screen(*point, "uitars_resized", size, sent)
    return {
        "molmo_percent": f'<point x="{x:.1f}" y="{y:.1f}" alt="target">target</point>',
        "norm1000": f"<|box_start|>({round(n[0])},{round(n[1])})<|box_end|>",
        "absolute": f'[{{"point_2d": [{round(a[0])}, {round(a[1])}], "label": "target"}}]',
        "uitars_resized": f"Thought: there it is.\nAction: click(start_box='({round(u[0])},{round(u[1])})')",
    }


def test_unit_check_of_uitars_frame():
    assert smart_resize(1280, 800, min_pixels=UITARS_MIN_PIXELS, max_pixels=UITARS_MAX_PIXELS) == (1288, 812)


@pytest.mark.display
@pytest.mark.timeout(120)
def test_each_convention_lands_in_the_right_widget_of_the_sample_app(sample_app, grab):
    screenshot = grab()
    sent_budget = 800 * 500  # the model sees a shrunk copy: absolute coordinates are of that copy
    targets = {"molmo_percent": "save", "norm1000": "password", "absolute": "item_3", "uitars_resized": "delete"}
    sent = (800, 500)
    script = [{"response": answers_for(sample_app.center(widget), screenshot.size, sent)[convention]}
              for convention, widget in targets.items()]
    with ScriptedServer(script) as server:
        model = OpenAICompatibleModel(profile_for(server, image_max_pixels=sent_budget))
        try:
            for convention, widget in targets.items():
                result = ModelGrounder(model, convention).ground(screenshot, f"the {widget}")
                assert result.found, result.reason
                assert inside(sample_app.rect(widget), result.point), (convention, result.point)
                assert result.details["sent_size"] == list(sent)
        finally:
            model.close()
        requests = server.requests
    assert len(requests) == 4
    image_part = next(p for p in requests[0]["messages"][0]["content"] if p["type"] == "image_url")
    assert image_from_data_url(image_part["image_url"]["url"]).size == sent
    text_part = next(p for p in requests[0]["messages"][0]["content"] if p["type"] == "text")
    assert text_part["text"] == "Point to the save"


def test_scripted_garbage_and_off_screen_answers_are_not_found():
    script = [{"response": "Sorry, I cannot help with that."}, {"response": '<point x="55" y='},
              {"response": "(2000, 100)"}, {"response": ""}]
    with ScriptedServer(script) as server:
        with OpenAICompatibleModel(profile_for(server)) as model:
            grounder = ModelGrounder(model, "absolute")
            results = [grounder.ground(SCREEN, "Save") for _ in script]
    assert [r.found for r in results] == [False] * 4
    assert all(r.point is None for r in results)
    assert "off the screen" in results[2].reason


def test_scripted_html_answer_is_a_model_error():
    with ScriptedServer([{"fault": "html"}]) as server:
        with OpenAICompatibleModel(profile_for(server)) as model:
            with pytest.raises(ModelResponseError):
                ModelGrounder(model, "absolute").ground(SCREEN, "Save")


def test_unreachable_server_is_a_connection_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    profile = ModelProfile("gone", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout_s=2)
    with OpenAICompatibleModel(profile) as model:
        with pytest.raises(ModelConnectionError):
            ModelGrounder(model, "molmo_percent").ground(SCREEN, "Save", GroundingHints())
