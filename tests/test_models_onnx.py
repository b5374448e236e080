"""OnnxModel on a tiny ONNX graph built here with onnx.helper, whose answers are predictable.

The graph's logits put 10.0 on token (last input id + step) mod V and 0 elsewhere, where step is 1
for a dark image and 2 for a bright one (mean normalized pixel > 0). With the vocabulary below (V = 16)
and a prompt ending in "<|assistant|>" (id 4), greedy decoding counts up through it until eos (id 2):
dark   -> a b c d e f g h i j <unk> <pad> <s> </s>   text "a b c d e f g h i j" (14 tokens)
bright -> b d f h j <pad> </s>                       text "b d f h j" (7 tokens)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
tokenizers = pytest.importorskip("tokenizers")

from onnx import TensorProto, helper  # noqa: E402

from models.base import Message, ModelResponse, VisionLanguageModel  # noqa: E402
from models.errors import ModelConfigError, ModelError, ModelUnavailable  # noqa: E402
from models.backends.onnx_backend import OnnxModel, choose_providers  # noqa: E402
from models.profile import ModelProfile  # noqa: E402

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<unk>"]
VOCAB = SPECIAL_TOKENS[:5] + list("abcdefghij") + ["<unk>"]  # ids: specials 0-4, a=5 .. j=14, <unk>=15
V = len(VOCAB)
IMAGE_SIZE = (8, 12)  # H, W
CONFIG = {
    "image_size": list(IMAGE_SIZE), "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "eos_token_id": 2, "bos_token_id": 1,
    "chat_template": "<|{role}|> {text} ", "generation_prompt": "<|assistant|>",
}
DARK_ANSWER = "a b c d e f g h i j"
BRIGHT_ANSWER = "b d f h j"


def counting_graph(pixel_shape: list, input_names: tuple[str, str] = ("pixel_values", "input_ids")) -> onnx.ModelProto:
    """logits[0, t] = one-hot((input_ids[0, t] + 1 + (mean(pixels) > 0)) mod V) * 10."""
    pixels, ids = input_names
    nodes = [
        helper.make_node("ReduceMean", [pixels], ["mean"], keepdims=0),
        helper.make_node("Greater", ["mean", "zero_f"], ["bright"]),
        helper.make_node("Cast", ["bright"], ["bright_i"], to=TensorProto.INT64),
        helper.make_node("Add", [ids, "one_i"], ["next_dark"]),
        helper.make_node("Add", ["next_dark", "bright_i"], ["next"]),
        helper.make_node("Mod", ["next", "vocab_size"], ["target"]),
        helper.make_node("OneHot", ["target", "depth", "on_off"], ["logits"], axis=-1),
    ]
    constants = [
        helper.make_tensor("zero_f", TensorProto.FLOAT, [], [0.0]),
        helper.make_tensor("one_i", TensorProto.INT64, [], [1]),
        helper.make_tensor("vocab_size", TensorProto.INT64, [], [V]),
        helper.make_tensor("depth", TensorProto.INT64, [], [V]),
        helper.make_tensor("on_off", TensorProto.FLOAT, [2], [0.0, 10.0]),
    ]
    graph = helper.make_graph(
        nodes, "counting_vlm",
        [helper.make_tensor_value_info(pixels, TensorProto.FLOAT, pixel_shape),
         helper.make_tensor_value_info(ids, TensorProto.INT64, [1, "T"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "T", V])],
        initializer=constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # old enough for any onnxruntime >= 1.15
    onnx.checker.check_model(model)
    return model


def write_export(folder: Path, graph: onnx.ModelProto | None = None, config: dict | None = None) -> Path:
    """An export folder following the contract in models.backends.onnx_backend."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(graph or counting_graph([1, 3, *IMAGE_SIZE]), str(folder / "model.onnx"))
    tokenizer = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text(json.dumps(CONFIG if config is None else config))
    return folder


def open_model(folder: Path, **profile: object) -> OnnxModel:
    return OnnxModel(ModelProfile(name="counting", backend="onnx", model=str(folder), **profile))


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_export(tmp_path_factory.mktemp("onnx-export"))


@pytest.fixture(scope="module")
def model(export: Path) -> OnnxModel:
    return open_model(export)


DARK = Image.new("RGB", (64, 40), (10, 10, 10))
BRIGHT = Image.new("RGB", (64, 40), (250, 250, 250))


def ask(image: Image.Image | None = DARK) -> list[Message]:
    content = ("a b",) if image is None else (image, "a b")
    return [Message.of("system", "c"), Message("user", content)]


def test_greedy_answer_is_exact(model: OnnxModel) -> None:
    assert isinstance(model, VisionLanguageModel)
    response = model.generate(ask(DARK))
    assert isinstance(response, ModelResponse)
    assert response.text == DARK_ANSWER
    assert response.finish_reason == "stop"
    assert model.prompt(ask(DARK)) == "<|system|> c <|user|> a b <|assistant|>"
    assert response.usage.prompt_tokens == 7  # <s>, then <|system|> (not in the vocabulary: <unk>) and 5 more
    assert response.usage.completion_tokens == 14  # ten words, <unk>, <pad>, <s> and the eos
    assert response.latency_s > 0


def test_the_image_changes_the_answer(model: OnnxModel) -> None:
    assert model.generate(ask(BRIGHT)).text == BRIGHT_ANSWER
    # only the last image counts, and no image at all is the mean colour (normalized 0: "dark" here)
    assert model.generate([Message.of("user", BRIGHT, DARK, "a")]).text == DARK_ANSWER
    assert model.generate(ask(None)).text == DARK_ANSWER


def test_pixel_values_follow_the_contract(model: OnnxModel) -> None:
    pixels = model.pixel_values(Image.new("RGB", (30, 20), (255, 0, 127)))
    assert pixels.shape == (1, 3, *IMAGE_SIZE) and pixels.dtype == np.float32
    assert np.allclose(pixels[0, 0], 1.0) and np.allclose(pixels[0, 1], -1.0)
    assert np.allclose(pixels[0, 2], (127 / 255 - 0.5) / 0.5)


def test_max_tokens(model: OnnxModel) -> None:
    response = model.generate(ask(DARK), max_tokens=3)
    assert response.text == "a b c"
    assert response.usage.completion_tokens == 3
    assert response.finish_reason == "length"


def test_profile_max_tokens_is_the_default(export: Path) -> None:
    assert open_model(export, max_tokens=2).generate(ask(DARK)).text == "a b"


def test_stop_strings(model: OnnxModel) -> None:
    response = model.generate(ask(DARK), stop=["x", "d e"])
    assert response.text == "a b c "
    assert response.finish_reason == "stop"
    assert response.usage.completion_tokens == 5  # generation ended as soon as "d e" appeared


def test_sampling_is_seeded(export: Path) -> None:
    hot = {"temperature": 50.0, "extra_body": {"seed": 7}}
    first = open_model(export, **hot).generate(ask(DARK), max_tokens=8)
    second = open_model(export, **hot).generate(ask(DARK), max_tokens=8)
    assert first.text == second.text and first.usage == second.usage
    greedy = open_model(export).generate(ask(DARK), max_tokens=8, temperature=0)
    assert first.text != greedy.text  # nearly uniform at temperature 50: not the counting answer


def test_top_p_keeps_only_the_likeliest_token(export: Path) -> None:
    narrow = open_model(export, temperature=50.0, top_p=0.01, extra_body={"seed": 3})
    assert narrow.generate(ask(DARK)).text == DARK_ANSWER


def test_cpu_provider_is_chosen_here(model: OnnxModel) -> None:
    assert model.providers[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert model.providers == ["CPUExecutionProvider"]
    assert choose_providers((), ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(("B", "A"), ["A", "B", "C"]) == ["B", "A"]


def test_unavailable_provider_is_named(export: Path) -> None:
    with pytest.raises(ModelUnavailable, match="NoSuchExecutionProvider"):
        open_model(export, providers=("NoSuchExecutionProvider",))


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no such folder"):
        open_model(tmp_path / "nope")


def test_missing_file_is_named(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelConfigError, match="missing tokenizer.json"):
        open_model(folder)


def test_wrong_input_name_is_named(tmp_path: Path) -> None:
    graph = counting_graph([1, 3, *IMAGE_SIZE], input_names=("image", "input_ids"))
    with pytest.raises(ModelConfigError, match="inputs are \\['image', 'input_ids'\\].*'pixel_values'"):
        open_model(write_export(tmp_path / "export", graph=graph))


def test_image_size_mismatch_is_named(tmp_path: Path) -> None:
    graph = counting_graph([1, 3, 16, 16])
    with pytest.raises(ModelConfigError, match="'pixel_values' has shape \\[1, 3, 16, 16\\]"):
        open_model(write_export(tmp_path / "export", graph=graph))


def test_dynamic_image_size_is_accepted(tmp_path: Path) -> None:
    model = open_model(write_export(tmp_path / "export", graph=counting_graph([1, 3, "H", "W"])))
    assert model.generate(ask(BRIGHT)).text == BRIGHT_ANSWER


@pytest.mark.parametrize("change, message", [
    ({"eos_token_id": None}, "eos_token_id"),
    ({"image_size": [8]}, "'image_size' must be a list of 2 numbers"),
    ({"image_std": [0.5, 0, 0.5]}, "'image_std' must not contain 0"),
    ({"chat_template": "{speaker}: {text}"}, "'chat_template' must be a format string"),
])
def test_bad_config_is_named(tmp_path: Path, change: dict, message: str) -> None:
    config = {k: v for k, v in {**CONFIG, **change}.items() if v is not None}
    with pytest.raises(ModelConfigError, match=message):
        open_model(write_export(tmp_path / "export", config=config))


def test_invalid_onnx_file_is_a_config_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export")
    (folder / "model.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ModelConfigError, match="model.onnx cannot be loaded"):
        open_model(folder)


def test_missing_runtime_names_the_install(export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ModelUnavailable, match="needs onnxruntime: pip install onnxruntime"):
        open_model(export)


def test_closed_model_refuses(export: Path) -> None:
    model = open_model(export)
    model.close()
    with pytest.raises(ModelError, match="closed"):
        model.generate(ask(DARK))
