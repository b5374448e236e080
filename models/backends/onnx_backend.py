"""A Qwen-VL model exported to ONNX, run with ONNX Runtime (CUDA when present, else CPU).

`profile.model` is an export folder in the split layout of the onnx-community exports (see
models.backends.onnx_qwen_vl): config.json, generation_config.json, preprocessor_config.json, the
tokenizer files (tokenizer.json, tokenizer_config.json) and the chat template beside them, and
vision_encoder / embed_tokens / decoder_model_merged graphs, usually in `onnx/`. `profile.onnx_dtype`
picks a variant of the graphs (`fp16`, `q4`, ...).

The conversation is rendered with the model's own chat template (Jinja, as transformers renders it), each
image placeholder is expanded to the image's token count, and every image goes through the model's own
preprocessing: the profile's `image_max_pixels` (and `image_min_pixels`, when set) bound the smart
resize, which keeps the aspect. Decoding runs the prompt once, then one token per step with the key/value
cache; greedy at temperature 0, sampled above it (softmax of logits / temperature, nucleus
`profile.top_p`, numpy RNG seeded once per model from `profile.extra_body["seed"]`) until an eos id,
max_tokens or a stop string. onnxruntime, tokenizers and jinja2 are imported lazily:
`pip install 'pcagent[onnx]'` (and onnxruntime-gpu for CUDA).
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime
from typing import Any, Sequence

import numpy as np
from PIL import Image

from models.backends.onnx_qwen_vl import QwenVLExport
from models.backends.qwen_vl import find_chat_template, image_grid, read_json
from models.base import Message, ModelResponse, Usage
from models.errors import ModelConfigError, ModelError, ModelUnavailable
from models.images import fit_to_pixels
from models.profile import ModelProfile

INSTALL_HINT = "pip install 'pcagent[onnx]'  (onnxruntime-gpu for CUDA)"
DEFAULT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
_SPECIAL_TOKEN_FIELDS = ("bos_token", "eos_token", "pad_token", "unk_token")


def _import_runtime() -> tuple[Any, Any, Any]:
    try:
        import jinja2
        import jinja2.sandbox
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        raise ModelUnavailable(f"the onnx backend needs {exc.name}: {INSTALL_HINT}") from exc
    return onnxruntime, tokenizers, jinja2


def choose_providers(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The requested providers (or CUDA then CPU) that this onnxruntime build has, in order."""
    return [p for p in (requested or DEFAULT_PROVIDERS) if p in available]


def compile_chat_template(jinja2: Any, source: str, where: str) -> Any:
    """The template in a sandbox set up as transformers sets it up (trim_blocks, lstrip_blocks,
    loop controls, tojson, raise_exception, strftime_now), so it renders the same text."""
    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
               sort_keys: bool = False) -> str:
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                               extensions=["jinja2.ext.loopcontrols"])
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return environment.from_string(source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        raise ModelConfigError(f"{where}: the chat template is not valid Jinja (line {exc.lineno}): {exc}") from exc


def to_template_messages(messages: Sequence[Message]) -> tuple[list[dict], list[Image.Image]]:
    """Messages as chat-template input (`{"type": "image"}` and `{"type": "text"}` parts) and the images
    in order."""
    conversation, images = [], []
    for message in messages:
        parts = []
        for item in message.content:
            if isinstance(item, Image.Image):
                images.append(item)
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": item})
        conversation.append({"role": message.role, "content": parts})
    return conversation, images


class OnnxModel:
    """A VisionLanguageModel on a Qwen-VL ONNX export in the split layout."""

    def __init__(self, profile: ModelProfile) -> None:
        if not profile.model:
            raise ModelConfigError(f"profile {profile.name!r}: backend 'onnx' needs model = <export folder>")
        ort, tokenizers, jinja2 = _import_runtime()
        self.name = profile.name
        self.profile = profile
        self._where = where = f"profile {profile.name!r}: ONNX export {profile.model!r}"
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(profile.extra_body.get("seed"))
        folder = profile.model
        if not os.path.isdir(folder):
            raise ModelUnavailable(f"{where}: no such folder")
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise ModelConfigError(f"{where}: not an export folder: no config.json (point model at the folder that "
                                   "holds config.json, the tokenizer files and onnx/)")
        for name in ("tokenizer.json", "preprocessor_config.json"):
            if not os.path.isfile(os.path.join(folder, name)):
                raise ModelUnavailable(f"{where}: {name} is missing (copy the export's folder whole)")
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
            raise ModelConfigError(f"{where}: tokenizer.json cannot be read: {exc}") from exc
        tokenizer_config_path = os.path.join(folder, "tokenizer_config.json")
        tokenizer_config = read_json(tokenizer_config_path, where) if os.path.isfile(tokenizer_config_path) else {}
        self._special_tokens = {field: value.get("content") if isinstance(value, dict) else value
                                for field in _SPECIAL_TOKEN_FIELDS if (value := tokenizer_config.get(field))}
        self.chat_template = compile_chat_template(jinja2, find_chat_template([folder], where), where)
        self._template_error = jinja2.exceptions.TemplateError
        available = ort.get_available_providers()
        providers = choose_providers(profile.providers, available)
        if not providers:
            raise ModelUnavailable(f"{where}: none of the providers {list(profile.providers)} is in this "
                                   f"onnxruntime build (it has {available})")
        self.export: QwenVLExport | None = QwenVLExport(
            ort, folder, where, providers=providers, dtype=profile.onnx_dtype,
            min_pixels=profile.image_min_pixels, max_pixels=profile.image_max_pixels)
        self.providers = self.export.providers
        self.image_token = self.tokenizer.id_to_token(self.export.image_token_id)
        if self.image_token is None:
            raise ModelConfigError(f"{where}: config.json 'image_token_id' {self.export.image_token_id} is not in "
                                   "tokenizer.json")

    def prompt(self, messages: Sequence[Message]) -> str:
        """The conversation rendered with the model's chat template, ending with the generation prompt."""
        conversation, _ = to_template_messages(messages)
        try:
            return self.chat_template.render(messages=conversation, add_generation_prompt=True, **self._special_tokens)
        except self._template_error as exc:
            raise ModelConfigError(f"{self._where}: the chat template refused the conversation: {exc}") from exc

    def encode(self, messages: Sequence[Message]) -> tuple[list[int], list[Image.Image]]:
        """Prompt token ids, each image placeholder expanded to its image's token count, and the images
        (fitted to the profile's pixel budget) in order."""
        export = self._open_export()
        _, images = to_template_messages(messages)
        images = [fit_to_pixels(image.convert("RGB"), self.profile.image_max_pixels)[0] for image in images]
        pieces = self.prompt(messages).split(self.image_token)
        if len(pieces) - 1 != len(images):
            raise ModelConfigError(f"{self._where}: the chat template placed {len(pieces) - 1} image placeholders "
                                   f"for {len(images)} images")
        grids = [image_grid(image.width, image.height, export.image_config) for image in images]
        expanded = pieces[0] + "".join(self.image_token * export.image_token_count(grid) + piece
                                       for grid, piece in zip(grids, pieces[1:]))
        return self.tokenizer.encode(expanded, add_special_tokens=False).ids, images

    def _open_export(self) -> QwenVLExport:
        if self.export is None:
            raise ModelError(f"{self._where}: the model is closed")
        return self.export

    def generate(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: Sequence[str] | None = None) -> ModelResponse:
        """Decode token by token until an eos id, `max_tokens` or a stop string."""
        max_new_tokens = max_tokens if max_tokens is not None else self.profile.max_tokens
        if temperature is None:
            temperature = self.profile.temperature or 0.0
        stop = [s for s in (stop or ()) if s]
        with self._lock:
            started = time.perf_counter()
            prompt_ids, images = self.encode(messages)
            generated, text, finish_reason = self._decode(prompt_ids, images, max_new_tokens, temperature, stop)
            latency = time.perf_counter() - started
        return ModelResponse(text=text, usage=Usage(prompt_tokens=len(prompt_ids), completion_tokens=len(generated)),
                             latency_s=latency, model=self.profile.model, finish_reason=finish_reason)

    def greedy_token_ids(self, messages: Sequence[Message], max_new_tokens: int, *, kv_cache: bool = True,
                         stop_at_eos: bool = True) -> list[int]:
        """The greedy answer's token ids, with the key/value cache or by re-running the whole sequence each
        step (for checking the cache and measuring it; `generate` always uses the cache)."""
        with self._lock:
            prompt_ids, images = self.encode(messages)
            export = self._open_export()
            decoding = export.start(prompt_ids, images, kv_cache=kv_cache)
            generated: list[int] = []
            while len(generated) < max_new_tokens:
                generated.append(int(np.argmax(decoding.logits)))
                if stop_at_eos and generated[-1] in export.eos_token_ids:
                    break
                if len(generated) < max_new_tokens:
                    decoding.advance(generated[-1])
            return generated

    def _decode(self, prompt_ids: list[int], images: list[Image.Image], max_new_tokens: int, temperature: float,
                stop: list[str]) -> tuple[list[int], str, str]:
        generated: list[int] = []
        if max_new_tokens < 1:
            return generated, "", "length"
        export = self._open_export()
        decoding = export.start(prompt_ids, images, kv_cache=True)
        while True:
            token = self._pick(decoding.logits, temperature)
            generated.append(token)
            if token in export.eos_token_ids:
                return generated, self._text(generated), "stop"
            if stop:
                text = self._text(generated)
                cuts = [text.find(s) for s in stop if s in text]
                if cuts:
                    return generated, text[: min(cuts)], "stop"
            if len(generated) >= max_new_tokens:
                return generated, self._text(generated), "length"
            decoding.advance(token)

    def _text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _pick(self, logits: np.ndarray, temperature: float) -> int:
        if temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / temperature
        probabilities = np.exp(scaled - scaled.max())
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
        """Release the ONNX Runtime sessions."""
        with self._lock:
            self.export = None
