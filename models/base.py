"""One small interface for every vision-language model backend.

A conversation is a list of `Message`s whose content mixes text and images; every backend
answers with a `ModelResponse` (text, token usage, latency, and the tool calls of a model served with
function calling). A backend that can send a tools schema takes ``tools=`` in `generate`. Backends live in their own
modules (openai_compat, transformers_backend, onnx_backend) and import their heavy SDKs
lazily; `models.factory.open_model(profile)` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, Union, runtime_checkable

from PIL import Image

Content = Union[str, Image.Image]


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: tuple[Content, ...]  # text and PIL images, in order

    @classmethod
    def of(cls, role: str, *content: Content) -> "Message":
        return cls(role, tuple(content))

    @property
    def text(self) -> str:
        """The message's text parts joined (images left out)."""
        return "\n".join(part for part in self.content if isinstance(part, str))

    @property
    def images(self) -> list[Image.Image]:
        return [part for part in self.content if isinstance(part, Image.Image)]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ToolCall:
    """One function call from an OpenAI-style ``tool_calls`` answer; nothing here is run."""

    name: str
    arguments: str  # the JSON text as the server sent it: the caller decodes and checks it
    id: str | None = None


@dataclass(frozen=True)
class ModelResponse:
    text: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    model: str = ""
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@runtime_checkable
class VisionLanguageModel(Protocol):
    """What every backend implements."""

    name: str  # the profile name, for messages and trajectories

    def generate(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: Sequence[str] | None = None) -> ModelResponse:
        """Answer the conversation; raise a models.errors.ModelError subclass on failure."""
        ...

    def close(self) -> None: ...
