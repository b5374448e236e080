"""One request of a completion pass, answered from the cache or by the model.

A `Request` holds messages whose images are `ImagePart` recipes; `ModelCaller.ask` hashes it into a cache
key, returns a cached answer when there is one, and otherwise decodes the images, fits them to the
profile's pixel budget (models.images, so the backend sends them unchanged and the sizes the model saw are
known) and calls the model. The caller stores an answer only once its pass has accepted it (`store`).
Model errors (models.errors) propagate unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from models.base import Message, VisionLanguageModel
from models.images import fit_to_pixels
from models.profile import ModelProfile
from tracker.completion.cache import CachedAnswer, ResponseCache, request_key
from tracker.completion.step_images import ImagePart

__all__ = ["Answer", "ModelCaller", "Request"]

Part = Any  # str or ImagePart


@dataclass(frozen=True)
class Request:
    messages: tuple[tuple[str, tuple[Part, ...]], ...]  # (role, parts)
    temperature: float | None = None  # None: the profile's
    max_tokens: int | None = None  # None: the profile's
    tools: tuple[dict[str, Any], ...] | None = None  # OpenAI function schemas (backend "openai" only)
    sample: int | None = None  # a boost sample's number: samples of one prompt are cached apart

    @property
    def images(self) -> list[ImagePart]:
        return [part for _, parts in self.messages for part in parts if isinstance(part, ImagePart)]


@dataclass
class Answer:
    text: str
    tool_calls: tuple[tuple[str, str], ...] = ()
    sent_sizes: tuple[tuple[int, int], ...] = ()  # each image's size as sent, in message order
    model: str = ""
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    key: str = field(default="", repr=False)


class ModelCaller:
    """Asks `model` (opened from `profile`), through `cache` when given. Thread-safe."""

    def __init__(self, model: VisionLanguageModel, profile: ModelProfile, cache: ResponseCache | None) -> None:
        self.model, self.profile, self.cache = model, profile, cache
        self._lock = threading.Lock()
        self.requests = 0  # requests sent to the model

    def key(self, request: Request) -> str:
        messages = [(role, [{"image": part.digest()} if isinstance(part, ImagePart) else part for part in parts])
                    for role, parts in request.messages]
        return request_key(self.profile, messages, temperature=self._temperature(request),
                           max_tokens=self._max_tokens(request), tools=list(request.tools) if request.tools else None,
                           sample=request.sample)

    def _temperature(self, request: Request) -> float | None:
        return request.temperature if request.temperature is not None else self.profile.temperature

    def _max_tokens(self, request: Request) -> int:
        return request.max_tokens if request.max_tokens is not None else self.profile.max_tokens

    def ask(self, request: Request) -> Answer:
        key = self.key(request) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return Answer(hit.text, hit.tool_calls, hit.sent_sizes, hit.model, cached=True, key=key)
        messages, sizes = [], []
        for role, parts in request.messages:
            content = []
            for part in parts:
                if isinstance(part, ImagePart):
                    image, _ = fit_to_pixels(part.load(), self.profile.image_max_pixels)
                    sizes.append(image.size)
                    content.append(image)
                else:
                    content.append(part)
            messages.append(Message(role, tuple(content)))
        options: dict[str, Any] = {"max_tokens": self._max_tokens(request), "temperature": self._temperature(request)}
        if request.tools:
            options["tools"] = [dict(tool) for tool in request.tools]
        with self._lock:
            self.requests += 1
        response = self.model.generate(messages, **options)
        calls = tuple((call.name, call.arguments) for call in response.tool_calls)
        return Answer(response.text, calls, tuple(sizes), response.model or self.profile.model, cached=False,
                      prompt_tokens=response.usage.prompt_tokens or 0,
                      completion_tokens=response.usage.completion_tokens or 0, key=key)

    def store(self, answer: Answer) -> None:
        """Keep an accepted answer for the next run (nothing to do for one that came from the cache)."""
        if self.cache is None or answer.cached or not answer.key:
            return
        usage = {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens}
        self.cache.put(answer.key, CachedAnswer(answer.text, answer.tool_calls, answer.sent_sizes, answer.model, usage))
