"""A vision-language model exported to ONNX, run with ONNX Runtime (CUDA when present, else CPU).

Export contract — `profile.model` is a folder holding:

- `model.onnx`: exactly two inputs and a `logits` output (extra outputs are ignored)
    - `pixel_values` float32 [1, 3, H, W] — one RGB image resized to H x W (no aspect kept),
      scaled to 0..1 and normalized per channel: (x - image_mean) / image_std
    - `input_ids` int64 [1, T] — the whole prompt plus the tokens generated so far; T must be a
      dynamic axis (the graph has no KV cache: each step re-runs the full sequence)
    - `logits` float32 [1, T, V] — only the last position is read
- `tokenizer.json`: a `tokenizers` library tokenizer. Prompts are encoded without its special-token
  post-processing; `bos_token_id`, when set, is prepended here. Answers are decoded with special
  tokens skipped.
- `config.json`:
    - `image_size`: [H, W]; `image_mean`, `image_std`: three floats each
    - `eos_token_id`: an id or a list of ids; `bos_token_id`: an id or null (optional)
    - `chat_template` (optional): a Python format string applied to each message with the fields
      `{role}` and `{text}`, default "<|{role}|>\\n{text}\\n"; `generation_prompt` (optional) is
      appended after the last message, default "<|assistant|>\\n"

The model sees one image: the last one in the conversation (a computer-use step's current
screenshot); without any image, pixel_values is all zeros (the mean colour). Decoding is greedy at
temperature 0 and sampled above it (softmax of logits / temperature, nucleus `profile.top_p`, numpy
RNG seeded once per model from `profile.extra_body["seed"]`) until an eos id, max_tokens or a stop
string. onnxruntime and tokenizers are imported lazily: `pip install onnxruntime tokenizers`
(or onnxruntime-gpu for CUDA).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from models.base import Message, ModelResponse, Usage
from models.errors import ModelConfigError, ModelError, ModelUnavailable
from models.profile import ModelProfile

INSTALL_HINT = "pip install onnxruntime tokenizers  (onnxruntime-gpu for CUDA)"
DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
DEFAULT_CHAT_TEMPLATE = "<|{role}|>\n{text}\n"
DEFAULT_GENERATION_PROMPT = "<|assistant|>\n"
EXPORT_FILES = ("model.onnx", "tokenizer.json", "config.json")


def _import_runtime() -> tuple[Any, Any]:
    try:
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        raise ModelUnavailable(f"the onnx backend needs {exc.name}: {INSTALL_HINT}") from exc
    return onnxruntime, tokenizers


@dataclass(frozen=True)
class ExportConfig:
    """config.json of an export, checked."""

    image_size: tuple[int, int]  # (H, W)
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    eos_token_ids: frozenset[int]
    bos_token_id: int | None
    chat_template: str
    generation_prompt: str

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "ExportConfig":
        def need(key: str) -> Any:
            if key not in data:
                raise ModelConfigError(f"{where}: config.json has no {key!r}")
            return data[key]

        def numbers(key: str, count: int) -> tuple:
            value = need(key)
            if (not isinstance(value, list) or len(value) != count
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise ModelConfigError(f"{where}: config.json {key!r} must be a list of {count} numbers, got {value!r}")
            return tuple(value)

        size = numbers("image_size", 2)
        if not all(isinstance(v, int) and v > 0 for v in size):
            raise ModelConfigError(f"{where}: config.json 'image_size' must be two positive integers [H, W]")
        std = numbers("image_std", 3)
        if any(v == 0 for v in std):
            raise ModelConfigError(f"{where}: config.json 'image_std' must not contain 0")
        eos = need("eos_token_id")
        eos_ids = eos if isinstance(eos, list) else [eos]
        if not eos_ids or not all(isinstance(e, int) and not isinstance(e, bool) for e in eos_ids):
            raise ModelConfigError(f"{where}: config.json 'eos_token_id' must be an id or a list of ids")
        bos = data.get("bos_token_id")
        if bos is not None and not isinstance(bos, int):
            raise ModelConfigError(f"{where}: config.json 'bos_token_id' must be an id or null")
        template = data.get("chat_template") or DEFAULT_CHAT_TEMPLATE
        try:
            template.format(role="user", text="")
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ModelConfigError(
                f"{where}: config.json 'chat_template' must be a format string using only "
                f"{{role}} and {{text}}: {exc!r}"
            ) from exc
        generation_prompt = data.get("generation_prompt", DEFAULT_GENERATION_PROMPT)
        if not isinstance(generation_prompt, str):
            raise ModelConfigError(f"{where}: config.json 'generation_prompt' must be a string")
        return cls(image_size=size, image_mean=numbers("image_mean", 3), image_std=std,
                   eos_token_ids=frozenset(eos_ids), bos_token_id=bos, chat_template=template,
                   generation_prompt=generation_prompt)


def choose_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The requested providers (or CUDA then CPU) that this onnxruntime build has, in order."""
    return [p for p in (requested or DEFAULT_PROVIDERS) if p in available]


class OnnxModel:
    """A VisionLanguageModel on an ONNX export that follows the contract in this module's docstring."""

    def __init__(self, profile: ModelProfile) -> None:
        if not profile.model:
            raise ModelConfigError(f"profile {profile.name!r}: backend 'onnx' needs model = <export folder>")
        ort, tokenizers = _import_runtime()
        self.name = profile.name
        self.profile = profile
        self._where = f"profile {profile.name!r}: ONNX export {profile.model!r}"
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(profile.extra_body.get("seed"))
        folder = profile.model
        if not os.path.isdir(folder):
            raise ModelUnavailable(f"{self._where}: no such folder")
        missing = [f for f in EXPORT_FILES if not os.path.isfile(os.path.join(folder, f))]
        if missing:
            raise ModelConfigError(f"{self._where}: missing {', '.join(missing)} (needs {', '.join(EXPORT_FILES)})")
        self.config = self._read_config(os.path.join(folder, "config.json"))
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
            raise ModelConfigError(f"{self._where}: tokenizer.json cannot be read: {exc}") from exc
        self.providers = self._providers(ort)
        try:
            self.session = ort.InferenceSession(os.path.join(folder, "model.onnx"), providers=self.providers)
        except Exception as exc:  # onnxruntime's errors share no public base class
            raise ModelConfigError(f"{self._where}: model.onnx cannot be loaded: {exc}") from exc
        self.providers = self.session.get_providers()
        self._check_graph()

    def _read_config(self, path: str) -> ExportConfig:
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except (OSError, ValueError) as exc:
            raise ModelConfigError(f"{self._where}: config.json is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelConfigError(f"{self._where}: config.json must hold an object")
        return ExportConfig.from_dict(data, self._where)

    def _providers(self, ort: Any) -> list[str]:
        available = ort.get_available_providers()
        chosen = choose_providers(self.profile.providers, available)
        if not chosen:
            raise ModelUnavailable(f"{self._where}: none of the providers {list(self.profile.providers)} is in "
                                   f"this onnxruntime build (it has {available})")
        return chosen

    def _check_graph(self) -> None:
        """Check the graph's inputs and outputs against the export contract; name what is wrong."""
        inputs = {i.name: i for i in self.session.get_inputs()}
        if set(inputs) != {"pixel_values", "input_ids"}:
            raise ModelConfigError(f"{self._where}: model.onnx inputs are {sorted(inputs)}; "
                                   "the contract is exactly 'pixel_values' and 'input_ids'")
        if "logits" not in {o.name for o in self.session.get_outputs()}:
            raise ModelConfigError(f"{self._where}: model.onnx has no output named 'logits'")
        height, width = self.config.image_size
        expectations = {  # name: (type, shape; None = any size, "dynamic" = must not be fixed)
            "pixel_values": ("tensor(float)", (1, 3, height, width)),
            "input_ids": ("tensor(int64)", (1, "dynamic")),
        }
        for name, (dtype, shape) in expectations.items():
            graph_input = inputs[name]
            if graph_input.type != dtype:
                raise ModelConfigError(f"{self._where}: model.onnx input {name!r} is {graph_input.type}, not {dtype}")
            if len(graph_input.shape) != len(shape):
                raise ModelConfigError(f"{self._where}: model.onnx input {name!r} has shape {graph_input.shape}; "
                                       f"the contract is {list(shape)}")
            for actual, wanted in zip(graph_input.shape, shape):
                fixed = isinstance(actual, int)
                if (wanted == "dynamic" and fixed) or (isinstance(wanted, int) and fixed and actual != wanted):
                    raise ModelConfigError(
                        f"{self._where}: model.onnx input {name!r} has shape {graph_input.shape}; the contract "
                        f"is {list(shape)} (image_size from config.json, a dynamic sequence axis)")

    def pixel_values(self, image: Image.Image | None) -> np.ndarray:
        """The image as the graph's `pixel_values`: resized, scaled to 0..1, normalized, [1, 3, H, W]."""
        height, width = self.config.image_size
        if image is None:
            return np.zeros((1, 3, height, width), dtype=np.float32)
        array = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR),
                           dtype=np.float32) / 255.0
        array = (array - np.asarray(self.config.image_mean, np.float32)) / np.asarray(self.config.image_std, np.float32)
        return array.transpose(2, 0, 1)[np.newaxis].astype(np.float32)

    def prompt(self, messages: Sequence[Message]) -> str:
        """The conversation rendered with the export's chat template and generation prompt."""
        rendered = "".join(self.config.chat_template.format(role=m.role, text=m.text) for m in messages)
        return rendered + self.config.generation_prompt

    def generate(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: Sequence[str] | None = None) -> ModelResponse:
        """Decode token by token until an eos id, `max_tokens` or a stop string."""
        max_new_tokens = max_tokens if max_tokens is not None else self.profile.max_tokens
        if temperature is None:
            temperature = self.profile.temperature or 0.0
        stop = [s for s in (stop or ()) if s]
        images = [image for m in messages for image in m.images]
        pixels = self.pixel_values(images[-1] if images else None)
        prompt_ids = self.tokenizer.encode(self.prompt(messages), add_special_tokens=False).ids
        if self.config.bos_token_id is not None:
            prompt_ids = [self.config.bos_token_id] + prompt_ids
        with self._lock:
            if self.session is None:
                raise ModelError(f"{self._where}: the model is closed")
            started = time.perf_counter()
            generated, text, finish_reason = self._decode(pixels, prompt_ids, max_new_tokens, temperature, stop)
            latency = time.perf_counter() - started
        return ModelResponse(text=text, usage=Usage(prompt_tokens=len(prompt_ids), completion_tokens=len(generated)),
                             latency_s=latency, model=self.profile.model, finish_reason=finish_reason)

    def _decode(self, pixels: np.ndarray, prompt_ids: list[int], max_new_tokens: int, temperature: float,
                stop: list[str]) -> tuple[list[int], str, str]:
        generated: list[int] = []
        while len(generated) < max_new_tokens:
            token = self._next_token(pixels, prompt_ids + generated, temperature)
            generated.append(token)
            if token in self.config.eos_token_ids:
                return generated, self._text(generated), "stop"
            if stop:
                text = self._text(generated)
                cuts = [text.find(s) for s in stop if s in text]
                if cuts:
                    return generated, text[: min(cuts)], "stop"
        return generated, self._text(generated), "length"

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _next_token(self, pixels: np.ndarray, ids: list[int], temperature: float) -> int:
        feeds = {"pixel_values": pixels, "input_ids": np.asarray([ids], dtype=np.int64)}
        try:
            (logits,) = self.session.run(["logits"], feeds)
        except Exception as exc:  # onnxruntime's errors share no public base class
            raise ModelError(f"{self._where}: inference failed: {exc}") from exc
        if logits.ndim != 3 or logits.shape[:2] != (1, len(ids)):
            raise ModelConfigError(f"{self._where}: model.onnx returned logits of shape {list(logits.shape)}; "
                                   f"the contract is [1, T, V] with T = {len(ids)} here")
        last = logits[0, -1].astype(np.float64)
        if temperature <= 0:
            return int(np.argmax(last))
        return self._sample(last / temperature)

    def _sample(self, scaled_logits: np.ndarray) -> int:
        probabilities = np.exp(scaled_logits - scaled_logits.max())
        probabilities /= probabilities.sum()
        top_p = self.profile.top_p
        if top_p is not None and 0 < top_p < 1:
            # Keep the smallest set of most likely tokens whose probability reaches top_p.
            order = np.argsort(-probabilities)
            keep = order[: int(np.searchsorted(np.cumsum(probabilities[order]), top_p)) + 1]
            nucleus = np.zeros_like(probabilities)
            nucleus[keep] = probabilities[keep]
            probabilities = nucleus / nucleus.sum()
        return int(self._rng.choice(len(probabilities), p=probabilities))

    def close(self) -> None:
        """Release the ONNX Runtime session."""
        with self._lock:
            self.session = None
