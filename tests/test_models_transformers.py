"""TransformersModel on a tiny real LLaVA built here (random weights, no downloads).

The model is a LLaVA (CLIP vision tower + Llama text model) shrunk to two layers of width 32, with a
WordLevel tokenizer made with the `tokenizers` library, the PIL CLIP image processor (no torchvision
needed) and a small Jinja chat template — saved with save_pretrained and loaded back through
AutoProcessor / AutoModelForImageTextToText exactly as a real checkpoint would be.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from models.base import Message, ModelResponse, VisionLanguageModel  # noqa: E402
from models.errors import ModelConfigError, ModelError, ModelUnavailable  # noqa: E402
from models.profile import ModelProfile  # noqa: E402
from models.backends.transformers_backend import TransformersModel, to_hf_chat  # noqa: E402

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
WORDS = [f"w{i}" for i in range(100)]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>"
    "{% if m['content'] is string %} {{ m['content'] }} {% else %}"
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }} {% endif %}"
    "{% endfor %}{% endif %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_llava(folder: Path) -> None:
    """Save a two-layer LLaVA with random weights and its processor to `folder`."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    # The PIL image processor works without torchvision (transformers 5); 4.x calls it CLIPImageProcessor.
    image_processor_class = getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)
    image_processor = image_processor_class(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    processor = transformers.LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE)
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=28, patch_size=14, projection_dim=32)
    text = transformers.LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                    num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                    max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    config = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_index=vocab["<image>"],
                                      vision_feature_layer=-1, image_seq_length=4)
    torch.manual_seed(0)
    model = transformers.LlavaForConditionalGeneration(config)
    model.generation_config.bos_token_id, model.generation_config.eos_token_id = 1, 2
    model.generation_config.pad_token_id = 0
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_vlm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llava")
    build_tiny_llava(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_vlm(tiny_vlm_path: Path) -> TransformersModel:
    model = TransformersModel(ModelProfile(name="tiny", backend="transformers", model=str(tiny_vlm_path),
                                           device="cpu", max_tokens=12, image_max_pixels=64 * 64))
    yield model
    model.close()


def screenshot(color: tuple[int, int, int] = (200, 30, 30)) -> Image.Image:
    return Image.new("RGB", (320, 200), color)


def conversation(image: Image.Image | None = None) -> list[Message]:
    return [
        Message.of("system", "w1 w2"),
        Message.of("user", image if image is not None else screenshot(), "w3 w4 w5"),
    ]


def test_generate_returns_a_response_with_usage(tiny_vlm: TransformersModel) -> None:
    assert isinstance(tiny_vlm, VisionLanguageModel)
    assert tiny_vlm.device == "cpu" and tiny_vlm.dtype == torch.float32
    response = tiny_vlm.generate(conversation())
    assert isinstance(response, ModelResponse)
    assert response.text.strip()  # random weights: arbitrary words, but some
    assert response.usage.prompt_tokens > 4  # the four image tokens and the text
    assert 0 < response.usage.completion_tokens <= 12
    assert response.latency_s > 0
    assert response.model == tiny_vlm.profile.model
    assert response.finish_reason in ("stop", "length")


def test_temperature_zero_is_deterministic(tiny_vlm: TransformersModel) -> None:
    first = tiny_vlm.generate(conversation(), temperature=0)
    second = tiny_vlm.generate(conversation(), temperature=0)
    assert first.text == second.text
    assert first.usage == second.usage


def test_sampling_runs(tiny_vlm: TransformersModel) -> None:
    response = tiny_vlm.generate(conversation(), temperature=1.0, max_tokens=5)
    assert response.usage.completion_tokens <= 5


def test_max_tokens_is_respected(tiny_vlm: TransformersModel) -> None:
    response = tiny_vlm.generate(conversation(), max_tokens=3)
    assert response.usage.completion_tokens <= 3
    longer = tiny_vlm.generate(conversation(), max_tokens=12)
    if response.finish_reason == "length":
        assert response.usage.completion_tokens == 3
        assert longer.text.startswith(response.text)


def test_stop_string_trims_the_answer(tiny_vlm: TransformersModel) -> None:
    full = tiny_vlm.generate(conversation(), max_tokens=12)
    words = full.text.split()
    assert len(words) >= 2, f"the tiny model answered too little to test stop strings: {full.text!r}"
    stop = words[1]
    expected = full.text[: full.text.index(stop)]
    stopped = tiny_vlm.generate(conversation(), max_tokens=12, stop=[stop])
    assert stopped.text == expected
    assert stop not in stopped.text
    assert stopped.finish_reason == "stop"
    assert stopped.usage.completion_tokens <= full.usage.completion_tokens  # it ended early


def test_images_are_resized_to_the_profile_limit() -> None:
    chat, images = to_hf_chat([Message.of("user", "look", Image.new("RGB", (1600, 1000)))], 400 * 250)
    assert chat == [{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image"}]}]
    assert images[0].size[0] * images[0].size[1] <= 400 * 250
    assert images[0].size == (400, 250)


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no such folder"):
        TransformersModel(ModelProfile(name="gone", backend="transformers", model=str(tmp_path / "nope")))


def test_folder_without_a_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ModelConfigError, match="not a model folder: no config.json"):
        TransformersModel(ModelProfile(name="empty", backend="transformers", model=str(tmp_path), device="cpu"))


def test_profile_without_model_is_a_config_error() -> None:
    with pytest.raises(ModelConfigError, match="model"):
        TransformersModel(ModelProfile(name="blank", backend="transformers"))


def test_closed_model_refuses(tiny_vlm_path: Path) -> None:
    model = TransformersModel(ModelProfile(name="t", backend="transformers", model=str(tiny_vlm_path),
                                           device="cpu"))
    model.close()
    with pytest.raises(ModelError, match="closed"):
        model.generate(conversation())


def test_missing_torch_names_the_install(tiny_vlm_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ModelUnavailable, match=r"pip install 'pcagent\[transformers\]'"):
        TransformersModel(ModelProfile(name="t", backend="transformers", model=str(tiny_vlm_path)))


def test_the_image_reaches_the_model(tiny_vlm: TransformersModel) -> None:
    red = tiny_vlm.generate(conversation(screenshot((200, 30, 30))))
    blue = tiny_vlm.generate(conversation(screenshot((0, 0, 250))))
    assert red.text != blue.text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runs_in_bfloat16(tiny_vlm_path: Path) -> None:
    model = TransformersModel(ModelProfile(name="gpu", backend="transformers", model=str(tiny_vlm_path),
                                           max_tokens=8))  # device None: cuda when available
    assert model.device == "cuda" and model.dtype == torch.bfloat16
    assert next(model.model.parameters()).dtype == torch.bfloat16
    first, second = model.generate(conversation()), model.generate(conversation())
    assert first.text == second.text and 0 < first.usage.completion_tokens <= 8
    model.close()
