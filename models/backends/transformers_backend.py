"""A local image-text-to-text model run with Hugging Face transformers (a GPU when there is one).

`TransformersModel(profile)` loads `profile.model` — a model folder as its publisher ships it (config.json,
the safetensors weights, tokenizer files, preprocessor_config.json, the chat template), or a hub id already
in the local Hugging Face cache; nothing is ever downloaded (`local_files_only=True`) — with
`AutoModelForImageTextToText` and the folder's processor, renders the conversation with the model's own
chat template and generates. torch and transformers are imported lazily, so the rest of `models/` works
without them: `pip install 'pcagent[transformers]'`.

Qwen-VL folders (Qwen2-VL, Qwen2.5-VL, UI-TARS, Qwen3-VL): their `AutoProcessor` also builds a video
processor that needs torchvision, whose PyPI wheel breaks beside the CPU torch. Without a usable one the
processor is built image-only from the folder's PIL image processor, tokenizer and chat template
(models.backends.qwen_vl); with one (`pip install 'pcagent[gpu]'` on a CUDA machine) `AutoProcessor` is
used as is. Either way the profile's `image_max_pixels` (and `image_min_pixels`, when set) become the
image processor's max/min pixels.

Device: `profile.device`, else "cuda" when torch sees one, else "cpu"; weights are bfloat16 on
CUDA and float32 on CPU, placed with `device_map` when accelerate is installed. Decoding is greedy at
temperature 0 (the profile's default) and sampled (with `profile.top_p`) above it; stop strings end
generation early and are trimmed from the text. One generation runs at a time per model (a lock), since a
model's GPU memory is not shared safely. Every load failure is a ModelUnavailable (a package or file is
missing: what to install or fetch) or a ModelConfigError (the folder is not a model), naming the file or
field.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import time
from typing import Any, Sequence

from PIL import Image

from models.backends.qwen_vl import (GPU_HINT, QWEN_VL_PROCESSORS, image_only_processor, pixel_budget, read_json,
                                     torchvision_usable)
from models.base import Message, ModelResponse, Usage
from models.errors import ModelConfigError, ModelError, ModelUnavailable
from models.images import fit_to_pixels
from models.profile import ModelProfile

INSTALL_HINT = "pip install 'pcagent[transformers]'"


def _import_torch_and_transformers() -> tuple[Any, Any]:
    try:
        import torch

        if ("transformers" not in sys.modules and importlib.util.find_spec("torchvision") is not None
                and not torchvision_usable()):
            # Installed but broken (PyPI's wheel beside the CPU torch): transformers only checks that it is
            # installed, then imports it with its image utilities and fails. Hidden, it counts as absent.
            sys.modules["torchvision"] = None
        import transformers
    except ImportError as exc:
        raise ModelUnavailable(
            f"the transformers backend needs torch and transformers ({exc.name} is missing): {INSTALL_HINT}"
        ) from exc
    return torch, transformers


def to_hf_chat(messages: Sequence[Message], image_max_pixels: int) -> tuple[list[dict], list[Image.Image]]:
    """Convert messages to the HF multimodal chat format, plus the (resized) images in order.

    Each image becomes a `{"type": "image"}` part; the processor receives the pixels separately,
    in the same order, and expands each part into the model's image tokens.
    """
    conversation: list[dict] = []
    images: list[Image.Image] = []
    for message in messages:
        parts: list[dict] = []
        for item in message.content:
            if isinstance(item, Image.Image):
                images.append(fit_to_pixels(item.convert("RGB"), image_max_pixels)[0])
                parts.append({"type": "image"})
            else:
                parts.append({"type": "text", "text": item})
        conversation.append({"role": message.role, "content": parts})
    return conversation, images


def _stop_criteria(transformers: Any, tokenizer: Any, prompt_length: int, stop: Sequence[str]) -> Any:
    """A StoppingCriteria that ends generation once the new text contains any stop string."""

    class StopOnText(transformers.StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
            text = tokenizer.decode(input_ids[0, prompt_length:], skip_special_tokens=True)
            return any(s in text for s in stop)

    return transformers.StoppingCriteriaList([StopOnText()])


def _trim_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop string; say whether one was found."""
    cuts = [text.find(s) for s in stop if s and s in text]
    if not cuts:
        return text, False
    return text[: min(cuts)], True


def _looks_like_hub_id(path: str) -> bool:
    """Whether `path` reads as a hub id ("org/name", maybe in the local cache) rather than a folder."""
    return path.count("/") == 1 and not path.startswith((".", "/", "~")) and "\\" not in path


class TransformersModel:
    """A VisionLanguageModel on a local transformers image-text-to-text model."""

    def __init__(self, profile: ModelProfile) -> None:
        if not profile.model:
            raise ModelConfigError(f"profile {profile.name!r}: backend 'transformers' needs model = <local folder>")
        torch, transformers = _import_torch_and_transformers()
        self.name = profile.name
        self.profile = profile
        self._torch = torch
        self._transformers = transformers
        self._lock = threading.Lock()
        self.device = profile.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.processor, self.model = self._load(profile.model)

    def _load(self, path: str) -> tuple[Any, Any]:
        where = f"profile {self.name!r}: model {path!r}"
        model_type = self._folder_model_type(path, where)
        processor = self._loading(path, where, "its processor", lambda: self._load_processor(path, model_type, where))
        if getattr(processor, "chat_template", None) is None:
            raise ModelConfigError(f"{where}: the processor has no chat template (chat_template.jinja, "
                                   "chat_template.json or tokenizer_config.json 'chat_template')")
        if self.device.startswith("cuda") and not self._torch.cuda.is_available():
            raise ModelUnavailable(f"{where}: cannot use device {self.device!r}: this torch sees no CUDA device")
        placement = {"device_map": self.device} if importlib.util.find_spec("accelerate") else {}
        model = self._loading(path, where, "its weights", lambda: self._transformers.AutoModelForImageTextToText
                              .from_pretrained(path, local_files_only=True, **self._dtype_kwarg(), **placement))
        if not placement:
            try:
                model.to(self.device)
            except (RuntimeError, AssertionError) as exc:  # e.g. "cuda" asked for on a CPU-only torch
                raise ModelUnavailable(f"{where}: cannot use device {self.device!r}: {exc}") from exc
        model.eval()
        return processor, model

    def _folder_model_type(self, path: str, where: str) -> str | None:
        """config.json's model_type, checked; None for a hub id (transformers reads it from the cache)."""
        if not os.path.isdir(path):
            if not _looks_like_hub_id(path):
                raise ModelUnavailable(f"{where}: no such folder")
            return None
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ModelConfigError(f"{where}: not a model folder: no config.json (expected the folder as its "
                                   "publisher ships it: config.json, *.safetensors, tokenizer files, "
                                   "preprocessor_config.json)")
        model_type = read_json(os.path.join(path, "config.json"), where).get("model_type")
        if not isinstance(model_type, str) or not model_type:
            raise ModelConfigError(f"{where}: config.json has no 'model_type' (not a transformers model folder?)")
        if model_type not in self._transformers.CONFIG_MAPPING:
            raise ModelUnavailable(f"{where}: config.json 'model_type' is {model_type!r}, which transformers "
                                   f"{self._transformers.__version__} does not know: pip install -U transformers")
        return model_type

    def _load_processor(self, path: str, model_type: str | None, where: str) -> Any:
        transformers = self._transformers
        if model_type not in QWEN_VL_PROCESSORS:
            return transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        budget = pixel_budget(path, where, min_pixels=self.profile.image_min_pixels,
                              max_pixels=self.profile.image_max_pixels)
        if not torchvision_usable():
            return image_only_processor(transformers, path, model_type, where, budget)
        processor = transformers.AutoProcessor.from_pretrained(path, local_files_only=True)
        # the same pixel budget on the (torchvision) image processor
        processor.image_processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True,
                                                                                    **budget)
        return processor

    def _loading(self, path: str, where: str, what: str, load: Any) -> Any:
        """Run one loading step, mapping what transformers raises to ModelUnavailable / ModelConfigError."""
        try:
            return load()
        except ModelError:
            raise
        except ImportError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            if "torchvision" in str(exc).lower():
                raise ModelUnavailable(f"{where}: {what} needs torchvision ({message}): {GPU_HINT}") from exc
            named = re.search(r"requires the (\S+) librar", message)
            package = exc.name or (named.group(1).lower() if named else None)
            install = f"pip install {package}" if package else "install the package it names"
            raise ModelUnavailable(f"{where}: {what} needs a missing package ({message}): {install}") from exc
        except OSError as exc:
            hint = "" if os.path.isdir(path) else (" (a hub id must already be in the local Hugging Face cache; "
                                                   f"nothing is downloaded: fetch it first, e.g. `hf download {path}`)")
            raise ModelUnavailable(f"{where}: {what} cannot be read: {exc}{hint}") from exc
        except MemoryError as exc:
            raise ModelUnavailable(f"{where}: not enough memory to load {what}") from exc
        except Exception as exc:  # ValueError, KeyError, RuntimeError (weights that do not fit the config), ...
            if "torchvision" in str(exc):  # transformers was imported before the broken torchvision was hidden
                raise ModelUnavailable(f"{where}: {what} needs torchvision, which is installed but does not work "
                                       f"with this torch ({exc}): pip uninstall torchvision; {GPU_HINT}") from exc
            if type(exc).__name__ == "SafetensorError":  # matched by name: safetensors is not imported here
                raise ModelUnavailable(f"{where}: {what} cannot be read (a damaged or partly copied "
                                       f".safetensors file?): {exc}") from exc
            raise ModelConfigError(f"{where}: cannot load {what} as an image-text-to-text model: "
                                   f"{type(exc).__name__}: {exc}") from exc

    def _dtype_kwarg(self) -> dict:
        # transformers renamed torch_dtype= to dtype= in 4.56; the old name still works but warns.
        major, minor = (int(x) for x in self._transformers.__version__.split(".")[:2])
        return {"dtype": self.dtype} if (major, minor) >= (4, 56) else {"torch_dtype": self.dtype}

    def generate(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: Sequence[str] | None = None) -> ModelResponse:
        """Answer the conversation; only the newly generated tokens are decoded."""
        max_new_tokens = max_tokens if max_tokens is not None else self.profile.max_tokens
        if temperature is None:
            temperature = self.profile.temperature or 0.0
        stop = [s for s in (stop or ()) if s]
        conversation, images = to_hf_chat(messages, self.profile.image_max_pixels)
        with self._lock:
            if self.model is None:
                raise ModelError(f"profile {self.name!r}: the model is closed")
            started = time.perf_counter()
            inputs = self._encode(conversation, images)
            prompt_length = int(inputs["input_ids"].shape[1])
            options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0}
            if temperature > 0:
                options["temperature"] = temperature
                if self.profile.top_p is not None:
                    options["top_p"] = self.profile.top_p
            if stop:
                options["stopping_criteria"] = _stop_criteria(
                    self._transformers, self.processor.tokenizer, prompt_length, stop)
            try:
                with self._torch.inference_mode():
                    output = self.model.generate(**inputs, **options)
            except (RuntimeError, ValueError) as exc:
                raise ModelError(f"profile {self.name!r}: generation failed: {exc}") from exc
            new_tokens = output[0, prompt_length:]
            text = self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True)
            latency = time.perf_counter() - started
            ended_by_eos = len(new_tokens) > 0 and int(new_tokens[-1]) in self._eos_token_ids()
        text, stopped_by_text = _trim_at_stop(text, stop)
        return ModelResponse(
            text=text,
            usage=Usage(prompt_tokens=prompt_length, completion_tokens=int(len(new_tokens))),
            latency_s=latency,
            model=self.profile.model,
            finish_reason="stop" if stopped_by_text or ended_by_eos else "length",
        )

    def _eos_token_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            return set()
        return {int(eos)} if isinstance(eos, int) else {int(e) for e in eos}

    def _encode(self, conversation: list[dict], images: list[Image.Image]) -> Any:
        try:
            prompt = self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
            inputs = self.processor(text=prompt, images=images or None, return_tensors="pt")
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelConfigError(f"profile {self.name!r}: cannot build the prompt: {exc}") from exc
        return inputs.to(self.device, dtype=self.dtype)

    def close(self) -> None:
        """Drop the weights (and free GPU memory) — the model cannot answer afterwards."""
        with self._lock:
            self.model = None
            self.processor = None
            if self.device.startswith("cuda"):
                self._torch.cuda.empty_cache()
