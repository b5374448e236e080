"""Qwen-VL exported to ONNX in the split layout of the onnx-community exports (made for transformers.js).

The export folder holds config.json, generation_config.json, preprocessor_config.json and the tokenizer
files, and three graphs, usually in an `onnx/` subfolder (else beside the JSON files):

    vision_encoder.onnx        pixel_values [patches, 3*T*P*P] (1176 for Qwen2/2.5), grid_thw [images, 3]
                               -> image_features [image tokens, hidden]
    embed_tokens.onnx          input_ids [batch, seq] -> inputs_embeds [batch, seq, hidden]
    decoder_model_merged.onnx  inputs_embeds, attention_mask [batch, past+seq], position_ids [3, batch, seq],
                               past_key_values.{i}.key / .value [batch, kv_heads, past, head_dim]
                               -> logits [batch, seq, vocab], present.{i}.key / .value

Each graph may come in quantized variants named with transformers.js' suffixes (`_fp16`, `_q4`, `_q4f16`,
`_quantized`, `_int8`, `_uint8`, `_bnb4`); `dtype` picks one for all three. Inputs are cast to the types
each graph declares, so float16 graphs work too.

Decoding runs the prompt once and then one token per step against the key/value cache (`CachedDecoding`);
`FullRerunDecoding` re-runs the whole sequence each step, for checking the cache and measuring what it
saves. Images are the model's own preprocessing (models.backends.qwen_vl): aspect kept by the smart resize,
patch rows, M-RoPE positions; text after the prompt sits at index + rope delta on all three axes.
"""

from __future__ import annotations

import abc
import os
from typing import Any, Sequence

import numpy as np
from PIL import Image

from models.backends.qwen_vl import QwenImageConfig, mrope_position_ids, patch_rows, read_json
from models.errors import ModelConfigError, ModelError, ModelUnavailable

GRAPHS = ("vision_encoder", "embed_tokens", "decoder_model_merged")
DTYPE_SUFFIXES = {"fp32": "", "fp16": "_fp16", "q4": "_q4", "q4f16": "_q4f16", "q8": "_quantized",
                  "int8": "_int8", "uint8": "_uint8", "bnb4": "_bnb4"}
# The image positions here are Qwen2-VL's get_rope_index; Qwen2.5-VL's are the same for images.
MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")
_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
                "tensor(int64)": np.int64, "tensor(int32)": np.int32}


def graph_folder(folder: str, where: str) -> str:
    """Where the graphs are: `onnx/` when it holds any of them, else the folder itself."""
    for candidate in (os.path.join(folder, "onnx"), folder):
        if os.path.isdir(candidate) and any(name.startswith(GRAPHS) and name.endswith(".onnx")
                                            for name in os.listdir(candidate)):
            return candidate
    raise ModelConfigError(f"{where}: no ONNX graphs: expected {', '.join(g + '.onnx' for g in GRAPHS)} "
                           "in onnx/ or in the folder itself")


def graph_file(folder: str, graph: str, dtype: str | None, where: str) -> str:
    """The file of one graph: the `dtype` variant, else the plain (fp32) one, else the only variant."""
    present = {name: suffix for name, suffix in DTYPE_SUFFIXES.items()
               if os.path.isfile(os.path.join(folder, f"{graph}{suffix}.onnx"))}
    shown = f"onnx/{graph}" if os.path.basename(folder) == "onnx" else graph
    if dtype is not None:
        if dtype not in DTYPE_SUFFIXES:
            raise ModelConfigError(f"{where}: onnx_dtype {dtype!r} is not one of {', '.join(DTYPE_SUFFIXES)}")
        if dtype not in present:
            raise ModelUnavailable(f"{where}: {shown}{DTYPE_SUFFIXES[dtype]}.onnx is missing (onnx_dtype = {dtype!r}); "
                                   f"this export has {graph} as {', '.join(present) or 'nothing'}")
        chosen = dtype
    elif "fp32" in present:
        chosen = "fp32"
    elif len(present) == 1:
        (chosen,) = present
    elif not present:
        raise ModelUnavailable(f"{where}: {shown}.onnx is missing (the split layout needs "
                               f"{', '.join(g + '.onnx' for g in GRAPHS)})")
    else:
        raise ModelConfigError(f"{where}: {graph} comes as {', '.join(present)}; set the profile's onnx_dtype "
                               "to one of them")
    return os.path.join(folder, f"{graph}{DTYPE_SUFFIXES[chosen]}.onnx")


def _config_value(config: dict, key: str) -> Any:
    """A text-model field, from text_config (newer config.json) or the top level (older, flat ones)."""
    text_config = config.get("text_config")
    if isinstance(text_config, dict) and key in text_config:
        return text_config[key]
    return config.get(key)


def _token_ids(value: Any) -> frozenset[int]:
    values = value if isinstance(value, list) else [value]
    return frozenset(v for v in values if isinstance(v, int) and not isinstance(v, bool))


class QwenVLExport:
    """The three sessions of one export and what the folder's JSON files say about them."""

    def __init__(self, ort: Any, folder: str, where: str, *, providers: Sequence[str], dtype: str | None,
                 min_pixels: int | None, max_pixels: int | None) -> None:
        self.where = where
        config = read_json(os.path.join(folder, "config.json"), where)
        model_type = config.get("model_type")
        if model_type not in MODEL_TYPES:
            raise ModelConfigError(f"{where}: config.json 'model_type' is {model_type!r}; the ONNX backend runs "
                                   f"{', '.join(MODEL_TYPES)} exports")
        self.model_type = model_type
        self.image_token_id = config.get("image_token_id")
        if not isinstance(self.image_token_id, int):
            raise ModelConfigError(f"{where}: config.json has no integer 'image_token_id'")
        generation = os.path.join(folder, "generation_config.json")
        generation_config = read_json(generation, where) if os.path.isfile(generation) else {}
        eos = generation_config.get("eos_token_id")
        self.eos_token_ids = _token_ids(eos if eos is not None else _config_value(config, "eos_token_id"))
        if not self.eos_token_ids:
            raise ModelConfigError(f"{where}: no 'eos_token_id' in generation_config.json or config.json")
        self.image_config = QwenImageConfig.from_dict(
            read_json(os.path.join(folder, "preprocessor_config.json"), where), where,
            min_pixels=min_pixels, max_pixels=max_pixels)
        graphs = graph_folder(folder, where)
        self.files = {graph: graph_file(graphs, graph, dtype, where) for graph in GRAPHS}
        self.sessions = {}
        for graph, path in self.files.items():
            try:
                self.sessions[graph] = ort.InferenceSession(path, providers=list(providers))
            except Exception as exc:  # onnxruntime's errors share no public base class
                raise ModelConfigError(f"{where}: {os.path.basename(path)} cannot be loaded: {exc}") from exc
        self.providers = self.sessions["decoder_model_merged"].get_providers()
        self._input_types = {graph: {i.name: self._numpy_type(graph, i) for i in session.get_inputs()}
                             for graph, session in self.sessions.items()}
        self._check_vision_and_embedding()
        self.layers = self._check_decoder(_config_value(config, "num_hidden_layers"))
        self._past_shape, self._past_type = self._past_layout(config)

    # -- checks: every graph's names, against what this runner feeds and reads --------------------------

    def _io(self, graph: str) -> tuple[dict[str, Any], set[str]]:
        session = self.sessions[graph]
        return {i.name: i for i in session.get_inputs()}, {o.name for o in session.get_outputs()}

    def _expect(self, graph: str, inputs: set[str], outputs: set[str]) -> dict[str, Any]:
        actual_inputs, actual_outputs = self._io(graph)
        name = os.path.basename(self.files[graph])
        if set(actual_inputs) != inputs:
            unexpected, missing = sorted(set(actual_inputs) - inputs), sorted(inputs - set(actual_inputs))
            raise ModelConfigError(
                f"{self.where}: {name} has unexpected inputs {unexpected} and lacks {missing}; expected exactly "
                f"{sorted(inputs)[:8]}{' ...' if len(inputs) > 8 else ''}")
        if not outputs <= actual_outputs:
            raise ModelConfigError(f"{self.where}: {name} has no output {sorted(outputs - actual_outputs)} "
                                   f"(its outputs are {sorted(actual_outputs)[:8]})")
        return actual_inputs

    def _check_vision_and_embedding(self) -> None:
        inputs = self._expect("vision_encoder", {"pixel_values", "grid_thw"}, {"image_features"})
        width = inputs["pixel_values"].shape[-1] if inputs["pixel_values"].shape else None
        if isinstance(width, int) and width != self.image_config.patch_row_width:
            raise ModelConfigError(
                f"{self.where}: {os.path.basename(self.files['vision_encoder'])} takes pixel_values rows of {width} "
                f"values, but preprocessor_config.json (patch_size {self.image_config.patch_size}, temporal_patch_size "
                f"{self.image_config.temporal_patch_size}) makes rows of {self.image_config.patch_row_width}")
        self._expect("embed_tokens", {"input_ids"}, {"inputs_embeds"})

    def _check_decoder(self, layers: Any) -> int:
        if not isinstance(layers, int) or layers < 1:
            raise ModelConfigError(f"{self.where}: config.json has no 'num_hidden_layers' (top level or text_config)")
        past = {f"past_key_values.{i}.{kind}" for i in range(layers) for kind in ("key", "value")}
        present = {f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")}
        inputs = self._expect("decoder_model_merged", {"inputs_embeds", "attention_mask", "position_ids"} | past,
                              {"logits"} | present)
        rows = inputs["position_ids"].shape[0] if inputs["position_ids"].shape else None
        if isinstance(rows, int) and rows != 3:
            raise ModelConfigError(f"{self.where}: {os.path.basename(self.files['decoder_model_merged'])} takes "
                                   f"position_ids of shape {inputs['position_ids'].shape}; M-RoPE needs "
                                   "[3, batch, seq]")
        return layers

    def _past_layout(self, config: dict) -> tuple[tuple[int, int], Any]:
        """(kv_heads, head_dim) and the numpy type of the cache, from the graph where it fixes them."""
        graph_input = self._io("decoder_model_merged")[0]["past_key_values.0.key"]
        shape = list(graph_input.shape)
        heads = shape[1] if len(shape) == 4 and isinstance(shape[1], int) else \
            _config_value(config, "num_key_value_heads") or _config_value(config, "num_attention_heads")
        head_dim = shape[3] if len(shape) == 4 and isinstance(shape[3], int) else _config_value(config, "head_dim")
        if head_dim is None and heads:
            hidden, attention_heads = _config_value(config, "hidden_size"), _config_value(config, "num_attention_heads")
            head_dim = hidden // attention_heads if hidden and attention_heads else None
        if not isinstance(heads, int) or not isinstance(head_dim, int):
            raise ModelConfigError(f"{self.where}: the cache shape is neither fixed in the decoder nor given by "
                                   "config.json 'num_key_value_heads' and 'head_dim' (or hidden_size / heads)")
        return (heads, head_dim), self._input_types["decoder_model_merged"]["past_key_values.0.key"]

    def _numpy_type(self, graph: str, graph_input: Any) -> Any:
        if graph_input.type not in _NUMPY_TYPES:
            raise ModelConfigError(f"{self.where}: {os.path.basename(self.files[graph])} input {graph_input.name!r} "
                                   f"is {graph_input.type}, which this runner cannot feed")
        return _NUMPY_TYPES[graph_input.type]

    # -- running ------------------------------------------------------------------------------------------

    def run(self, graph: str, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> list[np.ndarray]:
        types = self._input_types[graph]
        typed = {name: value.astype(types[name], copy=False) for name, value in feeds.items()}
        try:
            return self.sessions[graph].run(outputs, typed)
        except Exception as exc:  # onnxruntime's errors share no public base class
            raise ModelError(f"{self.where}: {os.path.basename(self.files[graph])} failed: {exc}") from exc

    def image_inputs(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
        """Every image's patch rows, stacked, and their grids, in order."""
        rows, grids = [], []
        for image in images:
            image_rows, grid = patch_rows(image, self.image_config)
            rows.append(image_rows)
            grids.append(grid)
        return np.concatenate(rows), grids

    def image_token_count(self, grid: tuple[int, int, int]) -> int:
        return grid[0] * grid[1] * grid[2] // (self.image_config.merge_size ** 2)

    def prompt_embeddings(self, ids: Sequence[int], pixel_rows: np.ndarray | None,
                          grids: Sequence[tuple[int, int, int]]) -> np.ndarray:
        """inputs_embeds [1, T, hidden] for the prompt, the image tokens' rows replaced by image features."""
        (embeds,) = self.run("embed_tokens", {"input_ids": np.asarray([ids], dtype=np.int64)}, ["inputs_embeds"])
        embeds = embeds.astype(np.float32)
        image_positions = np.flatnonzero(np.asarray(ids) == self.image_token_id)
        if grids:
            feeds = {"pixel_values": pixel_rows, "grid_thw": np.asarray(grids, dtype=np.int64)}
            (features,) = self.run("vision_encoder", feeds, ["image_features"])
            if features.shape[0] != len(image_positions):
                raise ModelError(f"{self.where}: the vision encoder gave {features.shape[0]} image features for "
                                 f"{len(image_positions)} image tokens")
            embeds[0, image_positions] = features.astype(np.float32)
        return embeds

    def decoder_step(self, embeds: np.ndarray, positions: np.ndarray,
                     past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits of the last position, and the cache grown by these positions."""
        past_length = past[0].shape[2]
        feeds = {"inputs_embeds": embeds, "position_ids": positions[:, np.newaxis, :],
                 "attention_mask": np.ones((1, past_length + embeds.shape[1]), dtype=np.int64)}
        for i in range(self.layers):
            feeds[f"past_key_values.{i}.key"], feeds[f"past_key_values.{i}.value"] = past[2 * i], past[2 * i + 1]
        names = ["logits"] + [f"present.{i}.{kind}" for i in range(self.layers) for kind in ("key", "value")]
        logits, *present = self.run("decoder_model_merged", feeds, names)
        return logits[0, -1].astype(np.float32), present

    def empty_cache(self) -> list[np.ndarray]:
        heads, head_dim = self._past_shape
        return [np.zeros((1, heads, 0, head_dim), dtype=self._past_type) for _ in range(2 * self.layers)]

    def start(self, ids: Sequence[int], images: Sequence[Image.Image], *, kv_cache: bool = True) -> "Decoding":
        """Run the prompt; the returned decoding holds the next token's logits."""
        pixel_rows, grids = self.image_inputs(images) if images else (None, [])
        try:
            positions, rope_delta = mrope_position_ids(ids, self.image_token_id, grids, self.image_config.merge_size)
        except ValueError as exc:
            raise ModelError(f"{self.where}: {exc}") from exc
        embeds = self.prompt_embeddings(ids, pixel_rows, grids)
        decoding_class = CachedDecoding if kv_cache else FullRerunDecoding
        return decoding_class(self, embeds, positions, rope_delta)


class Decoding(abc.ABC):
    """One answer being decoded: `logits` for the next token; `advance(token)` appends it."""

    def __init__(self, export: QwenVLExport, embeds: np.ndarray, positions: np.ndarray, rope_delta: int) -> None:
        self.export, self.rope_delta, self.length = export, rope_delta, embeds.shape[1]
        self.logits = np.empty(0, dtype=np.float32)

    def _token_inputs(self, token: int) -> tuple[np.ndarray, np.ndarray]:
        (embed,) = self.export.run("embed_tokens", {"input_ids": np.asarray([[token]], dtype=np.int64)},
                                   ["inputs_embeds"])
        position = np.full((3, 1), self.length + self.rope_delta, dtype=np.int64)
        self.length += 1
        return embed.astype(np.float32), position

    @abc.abstractmethod
    def advance(self, token: int) -> None:
        """Append `token` and compute the logits after it."""


class CachedDecoding(Decoding):
    """The prompt once, then one token per step against the key/value cache."""

    def __init__(self, export: QwenVLExport, embeds: np.ndarray, positions: np.ndarray, rope_delta: int) -> None:
        super().__init__(export, embeds, positions, rope_delta)
        self.logits, self.cache = export.decoder_step(embeds, positions, export.empty_cache())

    def advance(self, token: int) -> None:
        embed, position = self._token_inputs(token)
        self.logits, self.cache = self.export.decoder_step(embed, position, self.cache)


class FullRerunDecoding(Decoding):
    """The whole sequence again at every step, with no cache: the reference the cache must match."""

    def __init__(self, export: QwenVLExport, embeds: np.ndarray, positions: np.ndarray, rope_delta: int) -> None:
        super().__init__(export, embeds, positions, rope_delta)
        self.embeds, self.positions = embeds, positions
        self.logits, _ = export.decoder_step(embeds, positions, export.empty_cache())

    def advance(self, token: int) -> None:
        embed, position = self._token_inputs(token)
        self.embeds = np.concatenate([self.embeds, embed], axis=1)
        self.positions = np.concatenate([self.positions, position], axis=1)
        self.logits, _ = self.export.decoder_step(self.embeds, self.positions, self.export.empty_cache())
