"""grounding.composite (order, fallback, Accept/Reject verification), grounding.marks, grounding.engines."""

from __future__ import annotations

from typing import Sequence

import pytest
from PIL import Image

from grounding.accessibility import AccessibilityGrounder
from grounding.base import Candidate, GroundingHints, GroundingResult
from grounding.composite import CompositeGrounder, parse_verdict
from grounding.engines import open_grounder
from grounding.marks import mark_drag, mark_point
from grounding.model_engine import ModelGrounder
from grounding.template import TemplateGrounder
from models.base import Message, ModelResponse
from models.errors import ModelConfigError, ModelConnectionError
from models.backends.openai_compat import OpenAICompatibleModel
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer

SCREEN = Image.new("RGB", (400, 300), "white")


class FixedEngine:
    """An engine with a fixed answer that counts its calls."""

    def __init__(self, name, result=None, error=None):
        self.name, self.result, self.error, self.calls = name, result, error, 0

    def ground(self, screenshot, description, hints=None):
        self.calls += 1
        if self.error:
            raise self.error
        return self.result


def hit(engine, *points, confidence=0.9):
    candidates = [Candidate(p, (p[0] - 5, p[1] - 5, p[0] + 5, p[1] + 5), confidence - i * 0.1, "x", engine)
                  for i, p in enumerate(points)]
    return GroundingResult.hit(candidates[0], candidates)


def miss(engine, reason):
    return GroundingResult.not_found(engine, reason)


class ScriptedVerifier:
    """A fake verifier model answering from a list; keeps the images it was shown."""

    name = "verifier"

    def __init__(self, answers):
        self.answers, self.prompts, self.images = list(answers), [], []

    def generate(self, messages: Sequence[Message], **kwargs) -> ModelResponse:
        self.prompts.append(messages[0].text)
        self.images.append(messages[0].images[0])
        return ModelResponse(self.answers.pop(0))

    def close(self):
        pass


# ---- order and fallback ---------------------------------------------------------------------------


def test_first_found_engine_wins_and_later_ones_are_not_asked():
    first, second = FixedEngine("a", hit("a", (10, 10))), FixedEngine("b", hit("b", (20, 20)))
    result = CompositeGrounder([first, second]).ground(SCREEN, "Save")
    assert result.point == (10, 10) and result.engine == "a" and second.calls == 0
    assert CompositeGrounder([first]).name == "composite"


def test_falls_back_past_not_found_errors_and_low_confidence():
    engines = [FixedEngine("a", miss("a", "no element matches")),
               FixedEngine("m", error=ModelConnectionError("server down")),
               FixedEngine("b", hit("b", (30, 30), confidence=0.3)),
               FixedEngine("c", hit("c", (40, 40)))]
    result = CompositeGrounder(engines, min_confidence=0.5).ground(SCREEN, "Save")
    assert result.found and result.engine == "c" and result.point == (40, 40)
    reasons = result.details["reasons"]
    assert reasons[0] == "a: no element matches" and "ModelConnectionError" in reasons[1]
    assert "below 0.5" in reasons[2]


def test_all_not_found_lists_every_reason():
    engines = [FixedEngine("a", miss("a", "accessibility is not available")), FixedEngine("b", miss("b", "no text"))]
    result = CompositeGrounder(engines).ground(SCREEN, "Save")
    assert not result.found and result.engine == "composite" and result.point is None
    assert "a: accessibility is not available" in result.reason and "b: no text" in result.reason


def test_when_every_engine_errors_the_first_error_is_raised():
    engines = [FixedEngine("m", error=ModelConnectionError("down")), FixedEngine("n", error=ModelConnectionError("x"))]
    with pytest.raises(ModelConnectionError, match="down"):
        CompositeGrounder(engines).ground(SCREEN, "Save")


def test_bad_arguments():
    with pytest.raises(ValueError):
        CompositeGrounder([])
    with pytest.raises(ValueError):
        CompositeGrounder([FixedEngine("a")], max_tries=0)


# ---- verification ---------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, accepted", [
    ("Accept", True), ("accept.", True), ("Accepted: the mark is on the button", True), ("Reject", False),
    ("REJECT - it is on the label", False), ("", False), ("maybe", False), ("Reject. I would not accept", False),
])
def test_parse_verdict(answer, accepted):
    assert parse_verdict(answer) is accepted


def test_rejected_candidate_gives_way_to_the_next_candidate_then_the_next_engine():
    a = FixedEngine("a", hit("a", (10, 10), (50, 50)))
    b = FixedEngine("b", hit("b", (90, 90)))
    verifier = ScriptedVerifier(["Reject", "I am not sure", "Accept"])
    result = CompositeGrounder([a, b], verifier=verifier).ground(SCREEN, "the Save button")
    assert result.found and result.point == (90, 90) and result.engine == "b"
    assert [(t["engine"], tuple(t["point"]), t["verdict"]) for t in result.details["tries"]] == [
        ("a", (10, 10), "reject"), ("a", (50, 50), "reject"), ("b", (90, 90), "accept")]
    assert "the Save button" in verifier.prompts[0]
    # the verifier saw the candidate marked in red, on a copy
    assert verifier.images[0].getpixel((10, 10))[0] > 200 and verifier.images[0].getpixel((10, 10))[1] < 80
    assert SCREEN.getpixel((10, 10)) == (255, 255, 255)


def test_verification_stops_after_max_tries():
    a = FixedEngine("a", hit("a", (10, 10), (50, 50), (70, 70)))
    b = FixedEngine("b", hit("b", (90, 90)))
    verifier = ScriptedVerifier(["Reject", "Reject"])
    result = CompositeGrounder([a, b], verifier=verifier, max_tries=2).ground(SCREEN, "Save")
    assert not result.found and len(result.details["tries"]) == 2 and b.calls == 0
    assert "rejected" in result.reason and "stopped after 2" in result.reason


def test_verification_through_the_scripted_server():
    a = FixedEngine("a", hit("a", (10, 10)))
    b = FixedEngine("b", hit("b", (200, 150)))
    with ScriptedServer([{"response": "Reject"}, {"response": "Accept"}]) as server:
        profile = ModelProfile("verifier", base_url=server.base_url, model="scripted", max_retries=0)
        with OpenAICompatibleModel(profile) as verifier:
            result = CompositeGrounder([a, b], verifier=verifier).ground(SCREEN, "the Open button")
        assert len(server.requests) == 2
        assert "the Open button" in str(server.requests[0]["messages"])
    assert result.point == (200, 150) and [t["verdict"] for t in result.details["tries"]] == ["reject", "accept"]


# ---- marks ----------------------------------------------------------------------------------------


def test_mark_point_and_drag_draw_on_a_copy():
    base = Image.new("RGB", (200, 100), "white")
    marked = mark_point(base, (50, 50), box=(30, 40, 70, 60))
    assert marked is not base and base.getpixel((50, 50)) == (255, 255, 255)
    assert marked.getpixel((50, 50)) == (255, 0, 0)  # the dot
    assert marked.getpixel((30, 50)) == (255, 0, 0)  # the box's left edge
    dragged = mark_drag(base, (20, 20), (180, 80), color="blue")
    assert dragged.getpixel((20, 20)) == (0, 0, 255) and dragged.getpixel((100, 50)) == (0, 0, 255)
    assert dragged.getpixel((178, 79)) == (0, 0, 255)  # the arrowhead
    assert mark_point(Image.new("L", (50, 50)), (5, 5)).mode == "RGB"


# ---- engines --------------------------------------------------------------------------------------


def test_open_grounder_names():
    assert isinstance(open_grounder("accessibility"), AccessibilityGrounder)
    assert isinstance(open_grounder(" template "), TemplateGrounder)
    composite = open_grounder("composite:accessibility, template")
    assert isinstance(composite, CompositeGrounder)
    assert [e.name for e in composite.engines] == ["accessibility", "template"]
    for bad in ("", "nope", "model:", "composite:", "composite:composite:ocr", "template:x"):
        with pytest.raises(ValueError) as info:
            open_grounder(bad)
        assert "accessibility" in str(info.value) or "needs" in str(info.value) or "composite" in str(info.value)


def test_the_default_chain_and_stored_screenshots():
    """`default` is accessibility, OCR, icons; on stored screenshots (live=False) accessibility steps aside."""
    from grounding.engines import DEFAULT_CHAIN
    from grounding.icons import IconGrounder

    chain = open_grounder("default")
    assert DEFAULT_CHAIN == "composite:accessibility,ocr,icons" and chain.name == "default"
    assert [e.name for e in chain.engines] == ["accessibility", "ocr", "icons"] and chain.settle_at == 0.9
    stored = open_grounder("default", live=False)
    assert [e.name for e in stored.engines] == ["ocr", "icons"] and stored.stepped_aside == ["accessibility"]
    assert isinstance(open_grounder("icons"), IconGrounder)
    with pytest.raises(ValueError, match="live desktop"):
        open_grounder("accessibility", live=False)
    with pytest.raises(ValueError):
        open_grounder("composite:default,ocr")


class EagerEngine(FixedEngine):
    """Wants icon-like descriptions first, as the icons engine does."""

    def wants_first(self, description):
        return "icon" in description


def test_eager_engines_go_first_and_unsure_answers_let_later_engines_speak():
    live = FixedEngine("accessibility", miss("accessibility", "no text match: nothing"))
    live.needs_live_screen = True
    text = FixedEngine("ocr", hit("ocr", (10, 10), confidence=0.85))
    icons = EagerEngine("icons", hit("icons", (200, 200), confidence=0.99))
    chain = CompositeGrounder([live, text, icons], settle_at=0.9)
    first = chain.ground(SCREEN, "the magnifying glass icon")
    assert first.engine == "icons" and (live.calls, text.calls, icons.calls) == (1, 0, 1)
    settled = chain.ground(SCREEN, "the Reload button")  # OCR only resembles the words: icons are asked
    assert settled.point == (200, 200) and (text.calls, icons.calls) == (1, 2)
    icons.result = miss("icons", "no icon match: view-refresh not seen on the screen")
    kept = chain.ground(SCREEN, "the Reload button")  # nobody surer: the unsure OCR answer stands
    assert kept.found and kept.point == (10, 10) and kept.engine == "ocr"


def test_open_grounder_model_with_a_factory():
    class WithProfile:
        def __init__(self, name, convention):
            self.name = name
            self.profile = ModelProfile(name, output_convention=convention)

        def generate(self, messages, **kwargs):
            return ModelResponse('<point x="50" y="50">')

        def close(self):
            pass

    grounder = open_grounder("model:molmo", model_factory=lambda name: WithProfile(name, "molmo_percent"))
    assert isinstance(grounder, ModelGrounder) and grounder.name == "model:molmo"
    assert grounder.ground(SCREEN, "Save").point == (200, 150)
    composite = open_grounder("composite:template,model:molmo",
                              model_factory=lambda name: WithProfile(name, "molmo_percent"))
    assert composite.ground(SCREEN, "Save", GroundingHints()).engine == "model:molmo"
    with pytest.raises(ModelConfigError, match="output_convention"):
        open_grounder("model:plain", model_factory=lambda name: WithProfile(name, None))


def test_open_grounder_ocr_is_lazy():
    pytest.importorskip("rapidocr")
    from grounding.ocr.engine import OcrGrounder

    assert isinstance(open_grounder("ocr"), OcrGrounder)


def test_model_grounder_profiles_come_from_the_given_models_file(tmp_path):
    """`--grounder model:X --models-file F` reads X from F, not from the user's models.toml."""
    from grounding.model_engine import ModelGrounder
    from models.errors import ModelConfigError

    models = tmp_path / "models.toml"
    models.write_text('[profiles.pointer]\nbase_url = "http://127.0.0.1:9/v1"\noutput_convention = "norm1000"\n')
    grounder = open_grounder("composite:accessibility,model:pointer", models_file=models)
    assert isinstance(grounder.engines[1], ModelGrounder) and grounder.engines[1].name == "model:pointer"
    with pytest.raises(ModelConfigError, match="no model profile 'pointer'"):
        open_grounder("model:pointer", models_file=tmp_path / "other.toml")
