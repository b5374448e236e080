"""OnnxModel on a Qwen-VL export in the onnx-community split layout, built here from a tiny random Qwen2.5-VL.

tests/qwen_vl_folders.py builds the model folder as its publisher ships it and exports it: embed_tokens and
decoder_model_merged (with past key values) from torch, the vision encoder with onnx's helper in the published
input and output names. The runner's parts are checked against transformers: the image preprocessing against
the PIL image processor, the M-RoPE positions against the model's get_rope_index, the prompt and its tokens
against the tokenizer's chat template and the processor, and the greedy answer against the torch model.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("jinja2")

from models.backends.onnx_backend import OnnxModel, choose_providers, to_template_messages  # noqa: E402
from models.backends.onnx_qwen_vl import graph_file, graph_folder  # noqa: E402
from models.backends.qwen_vl import (QwenImageConfig, image_only_processor, mrope_position_ids,  # noqa: E402
                                     patch_rows)
from models.base import Message, ModelResponse, VisionLanguageModel  # noqa: E402
from models.errors import ModelConfigError, ModelError, ModelUnavailable  # noqa: E402
from models.profile import ModelProfile  # noqa: E402
from tests.qwen_vl_folders import (build_qwen2_5_vl, export_qwen_vl_onnx, load_eager,  # noqa: E402
                                   vision_encoder_graph)

BUDGET = 28 * 28 * 16  # at most 16 image tokens per image


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_qwen2_5_vl(tmp_path_factory.mktemp("qwen2_5_vl"))


@pytest.fixture(scope="module")
def torch_model(source: Path):
    return load_eager(source)


@pytest.fixture(scope="module")
def export(source: Path, torch_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_qwen_vl_onnx(torch_model, source, tmp_path_factory.mktemp("onnx-export"))


def open_model(folder: Path, **profile: object) -> OnnxModel:
    options = {"max_tokens": 12, "image_max_pixels": BUDGET, **profile}
    return OnnxModel(ModelProfile(name="qwen-onnx", backend="onnx", model=str(folder), **options))


@pytest.fixture(scope="module")
def model(export: Path) -> OnnxModel:
    return open_model(export)


def screenshot(color: tuple[int, int, int], size: tuple[int, int] = (320, 200)) -> Image.Image:
    image = Image.new("RGB", size, color)
    image.paste((255, 255, 255), (20, 20, 120, 60))
    return image


def ask(color: tuple[int, int, int] = (200, 30, 30)) -> list[Message]:
    return [Message.of("system", "You operate a computer."),
            Message.of("user", screenshot(color), "Click the Save button.")]


def two_images() -> list[Message]:
    return [Message.of("user", screenshot((0, 90, 0), (500, 120)), "before", screenshot((9, 9, 200), (150, 260)),
                       "after: click Save")]


# -- the model's own preprocessing ---------------------------------------------------------------------------

QWEN2_5_PREPROCESSOR = {"min_pixels": 3136, "max_pixels": 40000, "patch_size": 14, "temporal_patch_size": 2,
                        "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                        "image_std": [0.26862954, 0.26130258, 0.27577711],
                        "image_processor_type": "Qwen2VLImageProcessor"}
QWEN3_PREPROCESSOR = {"size": {"longest_edge": 60000, "shortest_edge": 4096}, "patch_size": 16,
                      "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5],
                      "image_std": [0.5, 0.5, 0.5], "image_processor_type": "Qwen2VLImageProcessorFast"}


@pytest.mark.parametrize("config, width", [(QWEN2_5_PREPROCESSOR, 1176), (QWEN3_PREPROCESSOR, 1536)],
                         ids=["qwen2.5-vl", "qwen3-vl"])
def test_patch_rows_match_the_transformers_image_processor(tmp_path: Path, config: dict, width: int,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # the PIL processor, as on a CPU machine
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    reference = transformers.AutoImageProcessor.from_pretrained(tmp_path, local_files_only=True)
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (217, 333, 3), dtype=np.uint8))
    expected = reference(images=[image], return_tensors="np")
    rows, grid = patch_rows(image, QwenImageConfig.from_dict(config, "test"))
    assert rows.shape == (grid[1] * grid[2], width)
    assert list(grid) == expected["image_grid_thw"][0].tolist()
    np.testing.assert_allclose(rows, expected["pixel_values"], atol=1e-5)
    assert grid[2] > grid[1]  # 333x217 stays landscape: the aspect is kept, not stretched to a square


def test_mrope_positions_match_the_models_get_rope_index(model: OnnxModel, torch_model) -> None:
    ids, images = model.encode(two_images())
    _, grids = model.export.image_inputs(images)
    positions, delta = mrope_position_ids(ids, model.export.image_token_id, grids, merge_size=2)
    input_ids = torch.tensor([ids])
    expected, expected_delta = torch_model.model.get_rope_index(
        input_ids, (input_ids == model.export.image_token_id).int(), image_grid_thw=torch.tensor(grids))
    assert len(grids) == 2 and grids[0] != grids[1]
    np.testing.assert_array_equal(positions, expected[:, 0].numpy())
    assert delta == int(expected_delta) < 0  # images span fewer positions than tokens


# -- the prompt --------------------------------------------------------------------------------------------

def test_the_prompt_is_the_models_chat_template(model: OnnxModel, export: Path, source: Path) -> None:
    messages = ask()
    conversation, images = to_template_messages(messages)
    tokenizer = transformers.AutoTokenizer.from_pretrained(export, local_files_only=True)
    assert model.prompt(messages) == tokenizer.apply_chat_template(conversation, tokenize=False,
                                                                   add_generation_prompt=True)
    assert model.prompt(messages).startswith("<|im_start|>system\nYou operate a computer.<|im_end|>\n<|im_start|>user\n"
                                             "<|vision_start|><|image_pad|><|vision_end|>Click the Save button.")
    # the same token ids as the transformers processor, image placeholders expanded alike
    processor = image_only_processor(transformers, str(source), "qwen2_5_vl", "test",
                                     {"min_pixels": 3136, "max_pixels": BUDGET})
    expected = processor(text=[model.prompt(messages)], images=images, return_tensors="np")
    ids, _ = model.encode(messages)
    assert ids == expected["input_ids"][0].tolist()


# -- decoding ----------------------------------------------------------------------------------------------

def torch_greedy(torch_model, model: OnnxModel, messages: list[Message], count: int) -> list[int]:
    """The same answer from the torch model: its embeddings, the export's image features, transformers'
    positions, the whole sequence through the torch decoder at every step."""
    ids, images = model.encode(messages)
    rows, grids = model.export.image_inputs(images)
    (features,) = model.export.run("vision_encoder", {"pixel_values": rows, "grid_thw": np.asarray(grids)},
                                   ["image_features"])
    input_ids = torch.tensor([ids])
    image_tokens = input_ids == model.export.image_token_id
    positions, delta = torch_model.model.get_rope_index(input_ids, image_tokens.int(),
                                                        image_grid_thw=torch.tensor(grids))
    embed = torch_model.get_input_embeddings()
    answer: list[int] = []
    with torch.no_grad():
        embeds = embed(input_ids)
        embeds[image_tokens] = torch.from_numpy(features)
        for _ in range(count):
            hidden = torch_model.model.language_model(inputs_embeds=embeds, position_ids=positions).last_hidden_state
            answer.append(int(torch_model.lm_head(hidden)[0, -1].argmax()))
            embeds = torch.cat([embeds, embed(torch.tensor([[answer[-1]]]))], dim=1)
            positions = torch.cat([positions, torch.full((3, 1, 1), positions.shape[2] + int(delta))], dim=2)
    return answer


def test_the_greedy_answer_matches_the_torch_model(model: OnnxModel, torch_model) -> None:
    for messages in (ask(), two_images()):
        assert model.greedy_token_ids(messages, 10, stop_at_eos=False) == torch_greedy(torch_model, model, messages, 10)


def test_the_cached_decode_gives_the_tokens_of_a_full_rerun(model: OnnxModel) -> None:
    for messages in (ask(), two_images()):
        cached = model.greedy_token_ids(messages, 24, stop_at_eos=False)
        assert len(cached) == 24 and len(set(cached)) > 1
        assert cached == model.greedy_token_ids(messages, 24, kv_cache=False, stop_at_eos=False)


def test_generate_answers_and_the_image_changes_the_answer(model: OnnxModel) -> None:
    assert isinstance(model, VisionLanguageModel)
    red = model.generate(ask((200, 30, 30)))
    assert isinstance(red, ModelResponse) and red.model == model.profile.model and red.latency_s > 0
    assert red.usage.completion_tokens == 12 and red.finish_reason == "length"
    assert red.usage.prompt_tokens == len(model.encode(ask())[0])
    assert red.text == model.generate(ask((200, 30, 30))).text  # greedy
    assert red.text != model.generate(ask((0, 0, 250))).text


def test_max_tokens_and_stop_strings(model: OnnxModel) -> None:
    full = model.generate(ask(), max_tokens=12)
    short = model.generate(ask(), max_tokens=3)
    assert short.usage.completion_tokens == 3 and short.finish_reason == "length"
    assert full.text.startswith(short.text)
    stop = full.text[len(full.text) // 2:][:2]
    stopped = model.generate(ask(), max_tokens=12, stop=[stop])
    assert stopped.text == full.text[: full.text.index(stop)] and stopped.finish_reason == "stop"
    assert stopped.usage.completion_tokens < 12


def test_an_eos_token_ends_the_answer(model: OnnxModel, export: Path, tmp_path: Path) -> None:
    answer = model.greedy_token_ids(ask(), 12, stop_at_eos=False)
    copy = copy_of(export, tmp_path)
    (copy / "generation_config.json").write_text(json.dumps({"eos_token_id": [answer[2]]}))
    response = open_model(copy).generate(ask())
    assert response.usage.completion_tokens == answer.index(answer[2]) + 1 and response.finish_reason == "stop"


def test_sampling_is_seeded_and_top_p_narrows_it(export: Path, model: OnnxModel) -> None:
    hot = {"temperature": 50.0, "extra_body": {"seed": 7}}
    first, second = open_model(export, **hot).generate(ask()), open_model(export, **hot).generate(ask())
    assert first.text == second.text
    assert first.text != model.generate(ask()).text  # near uniform at temperature 50
    narrow = open_model(export, temperature=50.0, top_p=1e-6, extra_body={"seed": 3})
    assert narrow.generate(ask()).text == model.generate(ask()).text  # only the likeliest token is left


def test_the_profile_sets_the_pixel_budget(export: Path) -> None:
    small = open_model(export, image_max_pixels=28 * 28 * 8)
    large = open_model(export, image_min_pixels=28 * 28 * 64, image_max_pixels=28 * 28 * 128)
    for built, low, high in ((small, 0, 8), (large, 64, 128)):
        _, grids = built.export.image_inputs(built.encode(ask())[1])
        (t, h, w), = grids
        assert low <= h * w // 4 <= high and w > h


def test_cpu_provider_is_chosen_here(model: OnnxModel) -> None:
    assert model.providers[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert model.providers == ["CPUExecutionProvider"]
    assert choose_providers((), ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers(("B", "A"), ["A", "B", "C"]) == ["B", "A"]


def test_closed_model_refuses(export: Path) -> None:
    closed = open_model(export)
    closed.close()
    with pytest.raises(ModelError, match="closed"):
        closed.generate(ask())


# -- the layout, and folders that do not follow it ---------------------------------------------------------

def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "export"
    shutil.copytree(folder, copy)
    return copy


def test_graph_variants_are_picked_by_onnx_dtype(tmp_path: Path) -> None:
    for name in ("embed_tokens.onnx", "embed_tokens_q4.onnx", "decoder_model_merged_q4.onnx",
                 "decoder_model_merged_fp16.onnx", "vision_encoder_fp16.onnx"):
        (tmp_path / name).write_bytes(b"")
    assert graph_file(str(tmp_path), "embed_tokens", None, "w").endswith("/embed_tokens.onnx")  # fp32 first
    assert graph_file(str(tmp_path), "embed_tokens", "q4", "w").endswith("/embed_tokens_q4.onnx")
    assert graph_file(str(tmp_path), "vision_encoder", None, "w").endswith("/vision_encoder_fp16.onnx")  # the only one
    with pytest.raises(ModelConfigError, match="decoder_model_merged comes as fp16, q4; set the profile's onnx_dtype"):
        graph_file(str(tmp_path), "decoder_model_merged", None, "w")
    with pytest.raises(ModelUnavailable, match=r"vision_encoder_q4.onnx is missing \(onnx_dtype = 'q4'\); "
                                               "this export has vision_encoder as fp16"):
        graph_file(str(tmp_path), "vision_encoder", "q4", "w")
    with pytest.raises(ModelConfigError, match="onnx_dtype 'q3' is not one of"):
        graph_file(str(tmp_path), "embed_tokens", "q3", "w")


def test_graphs_beside_the_json_files_are_found(export: Path, tmp_path: Path) -> None:
    copy = copy_of(export, tmp_path)
    for graph in (copy / "onnx").iterdir():
        graph.rename(copy / graph.name)
    (copy / "onnx").rmdir()
    assert graph_folder(str(copy), "w") == str(copy)
    assert open_model(copy).generate(ask()).text == open_model(export).generate(ask()).text


def replace_vision_encoder(folder: Path, **graph: object) -> None:
    onnx.save(vision_encoder_graph(64, **graph), str(folder / "onnx" / "vision_encoder.onnx"))


def set_config(folder: Path, **fields: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **fields}))


@pytest.mark.parametrize("change, error, message", [
    (lambda f: (f / "onnx" / "decoder_model_merged.onnx").unlink(), ModelUnavailable,
     r"onnx/decoder_model_merged.onnx is missing \(the split layout needs vision_encoder.onnx, embed_tokens.onnx"),
    (lambda f: shutil.rmtree(f / "onnx"), ModelConfigError, "no ONNX graphs: expected vision_encoder.onnx"),
    (lambda f: replace_vision_encoder(f, input_names=("pixel_values", "image_grid_thw")), ModelConfigError,
     r"vision_encoder.onnx has unexpected inputs \['image_grid_thw'\] and lacks \['grid_thw'\]"),
    (lambda f: replace_vision_encoder(f, patch_row=1536), ModelConfigError,
     r"vision_encoder.onnx takes pixel_values rows of 1536 values, but preprocessor_config.json \(patch_size 14"),
    (lambda f: (f / "onnx" / "embed_tokens.onnx").write_bytes(b"not a protobuf"), ModelConfigError,
     "embed_tokens.onnx cannot be loaded"),
    (lambda f: set_config(f, num_hidden_layers=3), ModelConfigError,
     r"decoder_model_merged.onnx has unexpected inputs \[\] and lacks \['past_key_values.2.key'"),
    (lambda f: set_config(f, model_type="qwen3_vl"), ModelConfigError,
     "config.json 'model_type' is 'qwen3_vl'; the ONNX backend runs qwen2_vl, qwen2_5_vl exports"),
    (lambda f: set_config(f, image_token_id=None), ModelConfigError, "config.json has no integer 'image_token_id'"),
    (lambda f: (f / "config.json").unlink(), ModelConfigError, "not an export folder: no config.json"),
    (lambda f: (f / "tokenizer.json").unlink(), ModelUnavailable, "tokenizer.json is missing"),
    (lambda f: (f / "preprocessor_config.json").write_text("[]"), ModelConfigError,
     "preprocessor_config.json must hold a JSON object"),
    (lambda f: (f / "tokenizer_config.json").write_text("{}"), ModelConfigError, "no chat template"),
], ids=["missing-graph", "no-graphs", "input-names", "patch-width", "invalid-graph", "layer-count", "model-type",
        "image-token", "no-config", "no-tokenizer", "bad-preprocessor", "no-chat-template"])
def test_a_broken_export_names_the_file_or_field(export: Path, tmp_path: Path, change, error, message: str) -> None:
    folder = copy_of(export, tmp_path)
    change(folder)
    with pytest.raises(error, match=message):
        open_model(folder)


def test_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no such folder"):
        open_model(tmp_path / "nope")


def test_unavailable_provider_is_named(export: Path) -> None:
    with pytest.raises(ModelUnavailable, match="NoSuchExecutionProvider"):
        open_model(export, providers=("NoSuchExecutionProvider",))


def test_missing_runtime_names_the_install(export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ModelUnavailable, match=r"needs onnxruntime: pip install 'pcagent\[onnx\]'"):
        open_model(export)
