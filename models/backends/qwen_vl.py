"""Qwen-VL model folders as their publishers ship them (Qwen2-VL, Qwen2.5-VL, UI-TARS, Qwen3-VL).

Shared by both local backends:

- reading a folder's JSON files and its chat template (`chat_template.jinja`, `chat_template.json`, or
  `tokenizer_config.json`'s `chat_template`), with errors that name the file and field;
- Qwen's image preprocessing, in numpy: "smart resize" to multiples of patch x merge (28 for Qwen2/2.5,
  32 for Qwen3) within min/max pixels, then rows of `3 * temporal_patch * patch * patch` values (1176 for
  14x14 patches), in the order the vision encoder expects (`patch_rows`);
- the M-RoPE 3-D position ids of a prompt whose images are already expanded into image tokens
  (`mrope_position_ids`), as transformers' `get_rope_index` computes them for images;
- for transformers without torchvision: an image-only processor (`image_only_processor`). A Qwen-VL
  folder's `AutoProcessor` also builds a video processor, and that one needs torchvision, whose PyPI wheel
  breaks beside the CPU torch; the image processor has a PIL variant that needs nothing more.

numpy and PIL only at import time; transformers is handed in by the caller.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from models.errors import ModelConfigError, ModelUnavailable
from models.images import smart_resize

# config.json model_type -> the transformers processor class for it
QWEN_VL_PROCESSORS = {
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen3_vl": "Qwen3VLProcessor",
    "qwen3_vl_moe": "Qwen3VLProcessor",
}
GPU_HINT = "on a CUDA machine: pip install 'pcagent[gpu]' (PyPI's torchvision breaks beside the CPU torch)"
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json", "tokenizer_config.json")


def read_json(path: str, where: str) -> dict:
    """A JSON object from `path`. A missing file is a ModelUnavailable (an incomplete download), one that is
    not a JSON object a ModelConfigError; both name the file."""
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError as exc:
        raise ModelUnavailable(f"{where}: {name} is missing (copy the model's folder whole)") from exc
    except (OSError, ValueError) as exc:
        raise ModelConfigError(f"{where}: {name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelConfigError(f"{where}: {name} must hold a JSON object")
    return data


def _template_from(value: Any) -> str | None:
    """A template field: a string, or a list of {"name", "template"} whose "default" one is used."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list):
        named = {entry.get("name"): entry.get("template") for entry in value if isinstance(entry, dict)}
        return _template_from(named.get("default"))
    return None


def find_chat_template(folders: Sequence[str], where: str) -> str:
    """The model's own chat template from the first of CHAT_TEMPLATE_FILES found in `folders`."""
    for folder in folders:
        for name in CHAT_TEMPLATE_FILES:
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                continue
            if name.endswith(".jinja"):
                with open(path, encoding="utf-8") as file:
                    return file.read()
            template = _template_from(read_json(path, where).get("chat_template"))
            if template is not None:
                return template
            if name == "chat_template.json":
                raise ModelConfigError(f"{where}: chat_template.json has no 'chat_template' string")
    raise ModelConfigError(f"{where}: no chat template: expected chat_template.jinja, chat_template.json or a "
                           "'chat_template' in tokenizer_config.json")


@dataclass(frozen=True)
class QwenImageConfig:
    """preprocessor_config.json of a Qwen-VL model, with the pixel budget in force."""

    patch_size: int
    temporal_patch_size: int
    merge_size: int
    min_pixels: int
    max_pixels: int
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]

    @classmethod
    def from_dict(cls, data: dict, where: str, *, min_pixels: int | None = None,
                  max_pixels: int | None = None) -> "QwenImageConfig":
        """Older exports give min_pixels/max_pixels, newer ones size {shortest_edge, longest_edge} (both
        in pixels); the profile's budget, when given, replaces the folder's."""
        def integer(key: str, value: Any) -> int:
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelConfigError(f"{where}: preprocessor_config.json {key!r} must be a positive integer, "
                                       f"got {value!r}")
            return value

        def triple(key: str) -> tuple[float, float, float]:
            value = data.get(key)
            if (not isinstance(value, list) or len(value) != 3
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise ModelConfigError(f"{where}: preprocessor_config.json {key!r} must be three numbers, "
                                       f"got {value!r}")
            return tuple(float(v) for v in value)  # type: ignore[return-value]

        size = data.get("size") if isinstance(data.get("size"), dict) else {}
        folder_min = data.get("min_pixels", size.get("shortest_edge"))
        folder_max = data.get("max_pixels", size.get("longest_edge"))
        if folder_min is None or folder_max is None:
            raise ModelConfigError(f"{where}: preprocessor_config.json has no pixel budget: expected 'min_pixels' "
                                   "and 'max_pixels', or 'size' with 'shortest_edge' and 'longest_edge'")
        std = triple("image_std")
        if 0.0 in std:
            raise ModelConfigError(f"{where}: preprocessor_config.json 'image_std' must not contain 0")
        patch, merge = integer("patch_size", data.get("patch_size")), integer("merge_size", data.get("merge_size"))
        maximum = max_pixels if max_pixels is not None else integer("max_pixels", folder_max)
        minimum = min_pixels if min_pixels is not None else integer("min_pixels", folder_min)
        if min_pixels is None and minimum > maximum:
            # A budget below the folder's minimum (Qwen3-VL's is 65536) would be upscaled past the budget:
            # fall back to Qwen2-VL's minimum, four merged tokens.
            minimum = min(4 * (patch * merge) ** 2, maximum)
        if minimum > maximum:
            raise ModelConfigError(f"{where}: image_min_pixels {minimum} is above image_max_pixels {maximum}")
        temporal = integer("temporal_patch_size", data.get("temporal_patch_size"))
        return cls(patch_size=patch, temporal_patch_size=temporal, merge_size=merge, min_pixels=minimum,
                   max_pixels=maximum, image_mean=triple("image_mean"), image_std=std)

    @property
    def factor(self) -> int:
        """Image sides are multiples of this: one merged token covers factor x factor pixels."""
        return self.patch_size * self.merge_size

    @property
    def patch_row_width(self) -> int:
        """Values per row of pixel_values: 3 channels x temporal x patch x patch (1176 for Qwen2/2.5)."""
        return 3 * self.temporal_patch_size * self.patch_size * self.patch_size


def image_grid(width: int, height: int, config: QwenImageConfig) -> tuple[int, int, int]:
    """The (t, h, w) patch grid of an image of this size after the smart resize."""
    resized_width, resized_height = smart_resize(width, height, config.factor, config.min_pixels, config.max_pixels)
    return 1, resized_height // config.patch_size, resized_width // config.patch_size


def patch_rows(image: Image.Image, config: QwenImageConfig) -> tuple[np.ndarray, tuple[int, int, int]]:
    """One image as the vision encoder's `pixel_values` rows and its grid (t, h, w) in patches.

    Resized (bicubic, like the PIL image processor) to the smart-resize target, scaled to 0..1,
    normalized, repeated to fill a temporal patch, and cut into patches ordered merge-window by
    merge-window, each row holding channel, time, y, x.
    """
    width, height = smart_resize(image.width, image.height, config.factor, config.min_pixels, config.max_pixels)
    resized = image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    pixels = np.asarray(resized, dtype=np.float32) / 255.0
    pixels = (pixels - np.asarray(config.image_mean, np.float32)) / np.asarray(config.image_std, np.float32)
    frames = np.repeat(pixels.transpose(2, 0, 1)[np.newaxis], config.temporal_patch_size, axis=0)
    patch, merge, temporal = config.patch_size, config.merge_size, config.temporal_patch_size
    grid_h, grid_w = height // patch, width // patch
    patches = frames.reshape(1, temporal, 3, grid_h // merge, merge, patch, grid_w // merge, merge, patch)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return patches.reshape(grid_h * grid_w, config.patch_row_width), (1, grid_h, grid_w)


def mrope_position_ids(input_ids: Sequence[int], image_token_id: int, grids: Sequence[tuple[int, int, int]],
                       merge_size: int) -> tuple[np.ndarray, int]:
    """Qwen's 3-D rotary positions [3, T] (time, row, column) for one prompt, and the delta that later
    tokens add to their index (position = index + delta on all three axes).

    Text advances all three axes together; an image's tokens, a run of t*h*w / merge_size^2 image token
    ids, take the next position plus their (time, row, column) in the merged grid, and the text after it
    goes on from the largest of those plus one.
    """
    ids = np.asarray(input_ids, dtype=np.int64)
    positions = np.zeros((3, len(ids)), dtype=np.int64)
    next_position, index, image = 0, 0, 0
    while index < len(ids):
        if ids[index] != image_token_id:
            positions[:, index] = next_position
            next_position += 1
            index += 1
            continue
        if image >= len(grids):
            raise ValueError(f"the prompt has more image token runs than the {len(grids)} image(s) given")
        t, h, w = (int(v) for v in grids[image])
        rows, columns = h // merge_size, w // merge_size
        count = t * rows * columns
        if not np.all(ids[index:index + count] == image_token_id):
            raise ValueError(f"image {image} needs {count} image tokens in a row at position {index}")
        time_index, row_index, column_index = np.meshgrid(np.arange(t), np.arange(rows), np.arange(columns),
                                                          indexing="ij")
        span = slice(index, index + count)
        positions[0, span] = next_position + time_index.ravel()
        positions[1, span] = next_position + row_index.ravel()
        positions[2, span] = next_position + column_index.ravel()
        next_position = int(positions[:, span].max()) + 1
        index += count
        image += 1
    if image != len(grids):
        raise ValueError(f"{len(grids)} image(s) given but the prompt has image tokens for {image}")
    return positions, next_position - len(ids)


def torchvision_usable() -> bool:
    """Whether torchvision imports and runs with this torch (PyPI's wheel beside a CPU torch does not)."""
    try:
        importlib.import_module("torchvision")
    except Exception:  # ImportError, or a RuntimeError about missing torch operators
        return False
    return True


def pixel_budget(path: str, where: str, *, min_pixels: int | None, max_pixels: int | None) -> dict[str, int]:
    """min_pixels / max_pixels for a Qwen-VL image processor: the profile's, and the folder's minimum
    lowered to fit a smaller maximum (else transformers would upscale past the budget)."""
    if not os.path.isdir(path):  # a hub id: transformers finds the file; pass what the profile says
        return {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
    config = QwenImageConfig.from_dict(read_json(os.path.join(path, "preprocessor_config.json"), where), where,
                                       min_pixels=min_pixels, max_pixels=max_pixels)
    return {"min_pixels": config.min_pixels, "max_pixels": config.max_pixels}


def image_only_processor(transformers: Any, path: str, model_type: str, where: str, budget: dict[str, int]) -> Any:
    """The folder's processor without its video processor: the PIL image processor (with the pixel
    `budget`), the tokenizer and the model's chat template; asking it for video raises ModelUnavailable."""
    base = getattr(transformers, QWEN_VL_PROCESSORS[model_type], None)
    if base is None:
        raise ModelUnavailable(f"{where}: transformers {transformers.__version__} has no "
                               f"{QWEN_VL_PROCESSORS[model_type]}: pip install -U transformers")

    class ImageOnlyProcessor(base):  # type: ignore[misc, valid-type]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [name for name in super().get_attributes() if name != "video_processor"]

        def __call__(self, *args: Any, videos: Any = None, **kwargs: Any) -> Any:
            if videos is not None:
                raise ModelUnavailable(f"{where}: video input needs the video processor, which needs "
                                       f"torchvision: {GPU_HINT}")
            return super().__call__(*args, **kwargs)

    ImageOnlyProcessor.__name__ = ImageOnlyProcessor.__qualname__ = f"{base.__name__}ImageOnly"
    if os.path.isdir(path) and not (os.path.isfile(os.path.join(path, "tokenizer.json")) or all(
            os.path.isfile(os.path.join(path, name)) for name in ("vocab.json", "merges.txt"))):
        # transformers would build an empty tokenizer from tokenizer_config.json alone
        raise ModelUnavailable(f"{where}: no tokenizer: expected tokenizer.json (or vocab.json and merges.txt)")
    # the PIL image processor even where a torchvision is installed but broken (transformers only checks
    # that it is installed); transformers 4.x calls the choice use_fast
    pil = {"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5 else {"use_fast": False}
    image_processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True, **pil, **budget)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    folders = [path] if os.path.isdir(path) else []
    template = find_chat_template(folders, where) if folders else tokenizer.chat_template
    return ImageOnlyProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)
