"""TransformersModel on Qwen-VL folders as their publishers ship them, with torchvision absent.

The folders (tests/qwen_vl_folders.py) are a tiny Qwen2.5-VL in the layout of Qwen2.5-VL-7B-Instruct and
UI-TARS-1.5 (flat config.json, checkpoint key names of 4.x) and a tiny Qwen3-VL in the layout of
Qwen3-VL-2B-Instruct, random weights, built here. `AutoProcessor` cannot load either without torchvision
(their video processor needs it); the backend builds the image-only processor instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from models.backends.transformers_backend import TransformersModel, to_hf_chat  # noqa: E402
from models.base import Message  # noqa: E402
from models.errors import ModelConfigError, ModelUnavailable  # noqa: E402
from models.profile import ModelProfile  # noqa: E402
from tests.qwen_vl_folders import build_qwen2_5_vl, build_qwen3_vl  # noqa: E402

BUILDERS = {"qwen2_5_vl": build_qwen2_5_vl, "qwen3_vl": build_qwen3_vl}
BUDGET = 28 * 28 * 16  # small images keep generation fast


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen-vl")
    return {name: build(root / name) for name, build in BUILDERS.items()}


def open_model(folder: Path, **profile: object) -> TransformersModel:
    options = {"device": "cpu", "max_tokens": 8, "image_max_pixels": BUDGET, **profile}
    return TransformersModel(ModelProfile(name="qwen", backend="transformers", model=str(folder), **options))


@pytest.fixture(scope="module")
def models(folders: dict[str, Path]) -> dict[str, TransformersModel]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "torchvision", None)  # absent, even where a GPU machine has it
        loaded = {name: open_model(folder) for name, folder in folders.items()}
    yield loaded
    for model in loaded.values():
        model.close()


def screenshot(color: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (320, 200), color)
    image.paste((255, 255, 255), (20, 20, 120, 60))  # a "button"
    return image


def ask(color: tuple[int, int, int] = (200, 30, 30)) -> list[Message]:
    return [Message.of("system", "You operate a computer."),
            Message.of("user", screenshot(color), "Click the Save button.")]


def tokens(model: TransformersModel, messages: list[Message]) -> tuple[list[int], list[int]]:
    """The prompt's token ids as the backend builds them, and the image's grid (t, h, w)."""
    conversation, images = to_hf_chat(messages, model.profile.image_max_pixels)
    inputs = model._encode(conversation, images)
    return inputs["input_ids"][0].tolist(), inputs["image_grid_thw"][0].tolist()


@pytest.mark.skipif("torchvision" in sys.modules, reason="torchvision is loaded in this process")
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_auto_processor_cannot_load_these_folders_without_torchvision(folders: dict[str, Path], name: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ImportError, match="(?i)torchvision"):
        transformers.AutoProcessor.from_pretrained(folders[name], local_files_only=True)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_folder_loads_with_an_image_only_processor(models: dict[str, TransformersModel], name: str) -> None:
    model = models[name]
    assert type(model.processor).__name__.endswith("ImageOnly")
    assert type(model.processor.image_processor).__name__.endswith("Pil")  # needs nothing but Pillow
    assert model.dtype == torch.float32 and next(model.model.parameters()).dtype == torch.float32
    assert model.model.config.model_type == name


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_chat_template_puts_the_image_tokens_in_the_user_turn(models: dict[str, TransformersModel],
                                                                    name: str) -> None:
    model = models[name]
    tokenizer = model.processor.tokenizer
    ids, (t, h, w) = tokens(model, ask())
    start, end = tokenizer.convert_tokens_to_ids(["<|vision_start|>", "<|vision_end|>"])
    image = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    count = t * h * w // 4  # one token per 2x2 window of patches
    first = ids.index(start)
    assert ids[first + 1:first + 1 + count] == [image] * count and ids[first + 1 + count] == end
    assert ids.count(image) == count
    # the image opens the user turn: after the system turn, before the user's words
    before, after = tokenizer.decode(ids[:first]), tokenizer.decode(ids[first + count + 2:])
    assert before == "<|im_start|>system\nYou operate a computer.<|im_end|>\n<|im_start|>user\n"
    assert after == "Click the Save button.<|im_end|>\n<|im_start|>assistant\n"


def test_qwen2_5_template_adds_its_default_system_turn(models: dict[str, TransformersModel]) -> None:
    model = models["qwen2_5_vl"]
    ids, _ = tokens(model, [Message.of("user", screenshot((0, 0, 0)), "hello")])
    assert model.processor.tokenizer.decode(ids).startswith(
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>")


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_generation_runs_and_depends_on_the_image(models: dict[str, TransformersModel], name: str) -> None:
    model = models[name]
    red, blue = model.generate(ask((200, 30, 30))), model.generate(ask((0, 0, 250)))
    assert red.usage.completion_tokens == 8 and red.usage.prompt_tokens > 20
    assert red.text != blue.text
    assert model.generate(ask((200, 30, 30))).text == red.text  # greedy: the same image, the same answer


@pytest.mark.parametrize("name, side", [("qwen2_5_vl", 28), ("qwen3_vl", 32)])
def test_the_profile_sets_the_pixel_budget(folders: dict[str, Path], name: str, side: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    small = open_model(folders[name], image_max_pixels=side * side * 8)
    (t, h, w) = tokens(small, ask())[1]
    assert t == 1 and h * w * (side // 2) ** 2 <= side * side * 8  # within the budget: 8 merged tokens at most
    assert w > h  # the 320x200 screenshot keeps its landscape aspect
    large = open_model(folders[name], image_min_pixels=side * side * 64, image_max_pixels=side * side * 128)
    (t, h, w) = tokens(large, ask())[1]
    assert h * w * (side // 2) ** 2 >= side * side * 64  # upscaled to the minimum


def test_video_input_is_a_clear_error(models: dict[str, TransformersModel]) -> None:
    processor = models["qwen2_5_vl"].processor
    frames = [screenshot((0, 0, 0)), screenshot((255, 255, 255))]
    with pytest.raises(ModelUnavailable, match=r"video input needs .*torchvision.*pcagent\[gpu\]"):
        processor(text="<|vision_start|><|video_pad|><|vision_end|>", videos=[frames])


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    return copy


@pytest.mark.parametrize("change, error, message", [
    (lambda f: (f / "config.json").unlink(), ModelConfigError, "not a model folder: no config.json"),
    (lambda f: (f / "config.json").write_text("{"), ModelConfigError, "config.json is not valid JSON"),
    (lambda f: (f / "config.json").write_text('{"architectures": []}'), ModelConfigError,
     "config.json has no 'model_type'"),
    (lambda f: (f / "config.json").write_text('{"model_type": "qwen9_vl"}'), ModelUnavailable,
     r"'model_type' is 'qwen9_vl', which transformers .* does not know: pip install -U transformers"),
    (lambda f: (f / "model.safetensors").unlink(), ModelUnavailable, "its weights cannot be read: .*model.safetensors"),
    (lambda f: (f / "model.safetensors").write_bytes(b"\0" * 4), ModelUnavailable, "damaged or partly copied"),
    (lambda f: (f / "preprocessor_config.json").unlink(), ModelUnavailable, "preprocessor_config.json is missing"),
    (lambda f: [(f / name).unlink() for name in ("tokenizer.json", "vocab.json")], ModelUnavailable,
     r"no tokenizer: expected tokenizer.json \(or vocab.json and merges.txt\)"),
    (lambda f: (f / "chat_template.json").unlink(), ModelConfigError,
     "no chat template: expected chat_template.jinja, chat_template.json or a 'chat_template' in tokenizer_config"),
    (lambda f: (f / "preprocessor_config.json").write_text('{"patch_size": 14, "merge_size": 2}'),
     ModelConfigError, "preprocessor_config.json has no pixel budget"),
], ids=["no-config", "bad-json", "no-model-type", "unknown-model-type", "no-weights", "damaged-weights",
        "no-preprocessor", "no-tokenizer", "no-chat-template", "no-pixel-budget"])
def test_a_broken_folder_names_the_file_or_field(folders: dict[str, Path], tmp_path: Path, change, error,
                                                 message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    folder = copy_of(folders["qwen2_5_vl"], tmp_path)
    change(folder)
    with pytest.raises(error, match=message):
        open_model(folder)


def test_a_chat_template_jinja_file_wins(folders: dict[str, Path], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Newer publishers ship chat_template.jinja; it comes before chat_template.json."""
    monkeypatch.setitem(sys.modules, "torchvision", None)
    folder = copy_of(folders["qwen2_5_vl"], tmp_path)
    (folder / "chat_template.jinja").write_text(
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% for c in m.content %}{% if c.type == 'image' %}"
        "<|vision_start|><|image_pad|><|vision_end|>{% else %}[{{ c.text }}]{% endif %}{% endfor %}<|im_end|>\n"
        "{% endfor %}<|im_start|>assistant\n")
    model = open_model(folder)
    ids, _ = tokens(model, [Message.of("user", screenshot((0, 0, 0)), "hi")])
    assert model.processor.tokenizer.decode(ids).endswith("<|vision_end|>[hi]<|im_end|>\n<|im_start|>assistant")


def test_a_broken_torchvision_is_left_alone(folders: dict[str, Path], tmp_path: Path) -> None:
    """PyPI's torchvision beside the CPU torch is installed but fails to import; transformers only checks
    that it is installed. The folder still loads, image-only, with the PIL image processor (in a fresh
    process: transformers decides what is installed when it is imported)."""
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    code = ("import sys; from models.backends.transformers_backend import TransformersModel; "
            "from models.profile import ModelProfile; "
            f"m = TransformersModel(ModelProfile(name='q', backend='transformers', "
            f"model={str(folders['qwen2_5_vl'])!r}, device='cpu')); "
            "print(type(m.processor).__name__, type(m.processor.image_processor).__name__)")
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(repo)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["Qwen2_5_VLProcessorImageOnly", "Qwen2VLImageProcessorPil"]


@pytest.mark.skipif("torchvision" in sys.modules, reason="torchvision is loaded in this process")
def test_a_processor_that_needs_a_missing_package_names_it(folders: dict[str, Path], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A Qwen2.5-VL folder whose processor class is not one this backend can build without torchvision
    (here LLaVA-OneVision's, whose video processor needs it): AutoProcessor's ImportError becomes a
    ModelUnavailable that names torchvision and the extra that installs it."""
    monkeypatch.setitem(sys.modules, "torchvision", None)
    folder = copy_of(folders["qwen2_5_vl"], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "llava_onevision"}))
    preprocessor = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**preprocessor,
                                                                 "processor_class": "LlavaOnevisionProcessor"}))
    with pytest.raises(ModelUnavailable, match=r"its processor needs torchvision .*pip install 'pcagent\[gpu\]'"):
        open_model(folder)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch sees a CUDA device")
def test_asking_for_cuda_without_one_is_unavailable(folders: dict[str, Path]) -> None:
    with pytest.raises(ModelUnavailable, match="cannot use device 'cuda': this torch sees no CUDA device"):
        open_model(folders["qwen2_5_vl"], device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_cuda_runs_in_bfloat16(folders: dict[str, Path], name: str) -> None:
    model = open_model(folders[name], device=None)  # None: cuda when available
    assert model.device == "cuda" and next(model.model.parameters()).dtype == torch.bfloat16
    first, second = model.generate(ask()), model.generate(ask())
    assert first.text == second.text and first.usage.completion_tokens == 8
    model.close()
