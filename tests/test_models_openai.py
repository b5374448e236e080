"""OpenAICompatibleModel against a real ScriptedServer on loopback (no HTTP mocks), and models.images."""

from __future__ import annotations

import socket
import time
import traceback

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from models.base import Message, Usage
from models.errors import (ModelAuthError, ModelConfigError, ModelConnectionError, ModelError,
                           ModelHTTPError, ModelResponseError, ModelTimeout)
from models.factory import open_model
from models.images import (UnreadableImageError, fit_to_pixels, image_from_bytes, image_from_data_url,
                           to_data_url)
from models.backends.openai_compat import OpenAICompatibleModel
from models.profile import ModelProfile

KEY = "sk-test-9f8e7d6c5b4a"


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for variable in list(os.environ):
        if variable.startswith("PCAGENT_PROFILE_"):
            monkeypatch.delenv(variable)
    monkeypatch.delenv("TEST_MODELS_KEY", raising=False)


def model_for(base_url: str, **fields) -> OpenAICompatibleModel:
    values = {"model": "test-model", "timeout_s": 5.0, "max_retries": 2, **fields}
    return OpenAICompatibleModel(ModelProfile(name="test", base_url=base_url, **values), backoff_s=0.01)


def gradient(width: int, height: int) -> Image.Image:
    """Red on the left, blue on the right: a resize that flips or crops would show."""
    image = Image.new("RGB", (width, height), (255, 0, 0))
    image.paste((0, 0, 255), (width // 2, 0, width, height))
    return image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- what the server receives ---

def test_text_and_image_conversation_arrives_as_openai_json(serve):
    server = serve([{"response": "click (10, 20)"}])
    model = model_for(server.base_url, image_max_pixels=400 * 250, temperature=0.2, top_p=0.9,
                      extra_body={"top_k": 5})
    messages = [Message.of("system", "You operate a computer."),
                Message.of("user", "Where is Save?", gradient(1600, 1000), "Answer with a click.")]
    response = model.generate(messages, max_tokens=64, stop=["\n\n"])
    assert response.text == "click (10, 20)"

    [body] = server.requests
    assert body["model"] == "test-model"
    assert body["max_tokens"] == 64 and body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["stop"] == ["\n\n"] and body["top_k"] == 5 and "stream" not in body
    assert body["messages"][0] == {"role": "system", "content": "You operate a computer."}
    user = body["messages"][1]
    assert user["role"] == "user"
    assert [part["type"] for part in user["content"]] == ["text", "image_url", "text"]
    assert user["content"][0]["text"] == "Where is Save?"
    url = user["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = image_from_data_url(url)
    assert sent.size == (400, 250)  # 1600x1000 fitted to 100,000 pixels, aspect kept
    assert sent.getpixel((10, 125))[:3] == (255, 0, 0) and sent.getpixel((390, 125))[:3] == (0, 0, 255)


def test_small_images_are_not_upscaled_and_jpeg_is_honoured(serve):
    server = serve([{"response": "ok"}])
    model = model_for(server.base_url, image_format="jpeg")
    model.generate([Message.of("user", "look", gradient(120, 80))])
    url = server.requests[0]["messages"][0]["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert image_from_data_url(url).size == (120, 80)


def test_profile_defaults_and_call_arguments(serve):
    server = serve([{"response": "a"}, {"response": "b"}])
    model = model_for(server.base_url, temperature=None, model="")
    model.generate([Message.of("user", "hi")])
    model.generate([Message.of("user", "hi")], temperature=0.7)
    first, second = server.requests
    assert "temperature" not in first and "model" not in first and first["max_tokens"] == 512
    assert second["temperature"] == 0.7


def test_usage_latency_model_and_finish_reason(serve):
    server = serve([{"response": "done", "latency_s": 0.2, "finish_reason": "length",
                     "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}},
                    {"response": "no usage", "usage": None}])
    model = model_for(server.base_url)
    response = model.generate([Message.of("user", "go")])
    assert response.usage == Usage(11, 3) and response.usage.total_tokens == 14
    assert 0.2 <= response.latency_s < 2.0
    assert response.model == "test-model" and response.finish_reason == "length"
    assert model.generate([Message.of("user", "again")]).usage == Usage(None, None)


def test_list_models(serve):
    server = serve([])
    assert model_for(server.base_url).list_models() == ["scripted"]


# --- retries ---

def test_retries_500_then_succeeds(serve):
    server = serve([{"fault": "http_500", "repeat": 2}, {"response": "finally"}])
    assert model_for(server.base_url, max_retries=2).generate([Message.of("user", "x")]).text == "finally"
    assert len(server.requests) == 3


def test_500_after_all_retries_is_an_http_error(serve):
    server = serve([{"fault": "http_500", "repeat": "forever"}])
    with pytest.raises(ModelHTTPError) as caught:
        model_for(server.base_url, max_retries=2).generate([Message.of("user", "x")])
    assert caught.value.status == 500 and "scripted fault http_500" in str(caught.value)
    assert len(server.requests) == 3


def test_429_waits_for_a_short_retry_after(serve):
    server = serve([{"fault": "http_429", "retry_after": 0.3}, {"response": "ok"}])
    model = model_for(server.base_url)
    model.backoff_s = 20.0  # only Retry-After can make this quick
    started = time.monotonic()
    assert model.generate([Message.of("user", "x")]).text == "ok"
    assert 0.3 <= time.monotonic() - started < 3.0
    assert len(server.requests) == 2


def test_429_retried_with_backoff_when_no_retry_after(serve):
    server = serve([{"fault": "http_429", "repeat": 2}, {"response": "ok"}])
    assert model_for(server.base_url).generate([Message.of("user", "x")]).text == "ok"
    assert len(server.requests) == 3


def test_429_with_a_long_retry_after_fails_at_once(serve):
    server = serve([{"fault": "http_429", "retry_after": 3600}, {"response": "never"}])
    with pytest.raises(ModelHTTPError) as caught:
        model_for(server.base_url).generate([Message.of("user", "x")])
    assert caught.value.status == 429 and "retry after 3600 s" in str(caught.value)
    assert len(server.requests) == 1


def test_disconnect_is_retried(serve):
    server = serve([{"fault": "disconnect"}, {"response": "back"}])
    assert model_for(server.base_url).generate([Message.of("user", "x")]).text == "back"
    assert len(server.requests) == 2


def test_disconnects_until_the_end_are_a_connection_error(serve):
    server = serve([{"fault": "disconnect", "repeat": "forever"}])
    with pytest.raises(ModelConnectionError, match="cannot be reached"):
        model_for(server.base_url, max_retries=1).generate([Message.of("user", "x")])
    assert len(server.requests) == 2


# --- errors that fail at once ---

def test_401_is_an_auth_error_without_retries(serve):
    server = serve([{"fault": "http_401", "repeat": "forever"}])
    with pytest.raises(ModelAuthError) as caught:
        model_for(server.base_url, api_key_env="TEST_MODELS_KEY").generate([Message.of("user", "x")])
    assert caught.value.status == 401
    assert "$TEST_MODELS_KEY, which is not set" in str(caught.value)
    assert len(server.requests) == 1


def test_404_is_an_http_error_with_the_base_url_hint(serve):
    server = serve([{"response": "unused"}])
    root = server.base_url.removesuffix("/v1")  # the classic mistake
    with pytest.raises(ModelHTTPError) as caught:
        model_for(root).generate([Message.of("user", "x")])
    assert type(caught.value) is ModelHTTPError and caught.value.status == 404
    assert "it usually ends in /v1" in str(caught.value) and "/v1/chat/completions" in caught.value.body


def test_html_is_a_response_error_with_the_base_url_hint(serve):
    server = serve([{"fault": "html"}])
    with pytest.raises(ModelResponseError, match=r"with HTML, not a chat completion — is base_url right\? "
                                                 r"it usually ends in /v1"):
        model_for(server.base_url).generate([Message.of("user", "x")])
    assert len(server.requests) == 1


@pytest.mark.parametrize("fault, words", [("malformed_json", "malformed JSON"),
                                          ("no_choices", "without choices"),
                                          ("null_content", "no text content"),
                                          ("bad_content_parts", "no text content")])
def test_answers_that_are_not_chat_completions(serve, fault, words):
    server = serve([{"fault": fault}])
    with pytest.raises(ModelResponseError, match=words):
        model_for(server.base_url).generate([Message.of("user", "x")])
    assert len(server.requests) == 1


def test_unreachable_port_is_a_quick_connection_error():
    model = model_for(f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    started = time.monotonic()
    with pytest.raises(ModelConnectionError, match="cannot be reached.*3 attempt"):
        model.generate([Message.of("user", "x")])
    assert time.monotonic() - started < 2.0


def test_hang_is_a_timeout_within_the_retry_budget(serve):
    server = serve([{"fault": "hang", "repeat": "forever"}])
    timeout_s, retries = 0.3, 1
    model = model_for(server.base_url, timeout_s=timeout_s, max_retries=retries)
    started = time.monotonic()
    with pytest.raises(ModelTimeout, match="did not answer within 0.3 s"):
        model.generate([Message.of("user", "x")])
    elapsed = time.monotonic() - started
    assert timeout_s * (retries + 1) <= elapsed < timeout_s * (retries + 1) + 1.5
    assert len(server.requests) == retries + 1


def test_configuration_mistakes():
    with pytest.raises(ModelConfigError, match="needs base_url"):
        OpenAICompatibleModel(ModelProfile(name="x"))
    with pytest.raises(ModelConfigError, match="must start with http"):
        OpenAICompatibleModel(ModelProfile(name="x", base_url="localhost:8000/v1"))


# --- the API key ---

def test_api_key_goes_as_bearer_and_nowhere_else(serve, monkeypatch):
    monkeypatch.setenv("TEST_MODELS_KEY", KEY)
    server = serve([{"response": "ok"}, {"fault": "http_401"}, {"fault": "http_500", "repeat": 2},
                    {"fault": "html"}, {"fault": "hang", "repeat": "forever"}])
    model = model_for(server.base_url, api_key_env="TEST_MODELS_KEY", max_retries=1, timeout_s=0.3)
    model.generate([Message.of("user", "x")])
    assert server.request_headers[0]["authorization"] == f"Bearer {KEY}"
    assert KEY not in repr(model) and KEY not in repr(model.profile)

    errors: list[ModelError] = []
    for _ in range(4):  # 401, 500 twice, html, hang
        with pytest.raises(ModelError) as caught:
            model.generate([Message.of("user", "x")])
        errors.append(caught.value)
    assert [type(e) for e in errors] == [ModelAuthError, ModelHTTPError, ModelResponseError, ModelTimeout]
    for error in errors:
        shown = "".join(traceback.format_exception(error)) + repr(error) + getattr(error, "body", "")
        assert KEY not in shown


def test_no_authorization_header_without_a_key(serve):
    server = serve([{"response": "ok"}])
    model_for(server.base_url, extra_headers={"X-Trace": "1"}).generate([Message.of("user", "x")])
    assert "authorization" not in server.request_headers[0]
    assert server.request_headers[0]["x-trace"] == "1"


# --- the factory ---

def test_open_model_picks_the_backend(serve):
    server = serve([{"response": "via factory"}])
    model = open_model(ModelProfile(name="p", base_url=server.base_url))
    try:
        assert isinstance(model, OpenAICompatibleModel)
        assert model.generate([Message.of("user", "x")]).text == "via factory"
    finally:
        model.close()
    with pytest.raises(ModelConfigError, match="unknown backend 'nope'"):
        open_model(ModelProfile(name="p", backend="nope"))


# --- images ---

@settings(max_examples=60, deadline=None)
@given(width=st.integers(1, 3000), height=st.integers(1, 3000), budget=st.integers(1, 4_000_000))
def test_fit_to_pixels_keeps_the_budget_and_the_aspect(width, height, budget):
    image = Image.new("L", (width, height))
    fitted, scale = fit_to_pixels(image, budget)
    new_w, new_h = fitted.size
    if width * height <= budget:
        assert fitted is image and scale == 1.0
        return
    assert new_w <= width and new_h <= height and scale == new_w / width
    if min(new_w, new_h) > 1:  # a side clamped to one pixel may push past a tiny budget
        assert new_w * new_h <= budget
        assert abs(new_h - height * scale) <= height / width + 1


def test_to_data_url_round_trips_png_and_flattens_alpha_for_jpeg():
    image = Image.new("RGBA", (30, 20), (0, 255, 0, 255))
    assert image_from_data_url(to_data_url(image)).getpixel((5, 5)) == (0, 255, 0, 255)
    clear = Image.new("RGBA", (30, 20), (0, 0, 0, 0))
    flat = image_from_data_url(to_data_url(clear, "jpeg"))
    assert flat.mode == "RGB" and min(flat.getpixel((5, 5))) > 240  # white, not black
    with pytest.raises(ValueError, match="image format"):
        to_data_url(image, "gif")


def test_unreadable_bytes_are_a_clear_error():
    with pytest.raises(UnreadableImageError, match=r"not a readable image \(11 bytes"):
        image_from_bytes(b"hello world")
    import base64

    png = base64.b64decode(to_data_url(Image.new("RGB", (50, 50))).partition(",")[2])
    with pytest.raises(UnreadableImageError):
        image_from_bytes(png[: len(png) // 2])  # truncated: fails here, not later
    with pytest.raises(UnreadableImageError, match="not a base64 image data URL"):
        image_from_data_url("http://example.com/a.png")
