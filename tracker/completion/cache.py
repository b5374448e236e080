"""The on-disk cache of model answers for completion: a second run with the same prompt, images and model
asks nothing.

The key (`request_key`) hashes what decides an answer: the model (the server's model name and the backend;
not the server's address, so a local server on a new port still finds its answers), the sampling settings,
the image budget, every message's text and every image's digest, and the sample number of a boost sample. One JSON file per answer under ``<dir>/<key[:2]>/<key>.json``,
written to a temporary name and renamed, so an interrupted run leaves whole entries or none; an entry
that cannot be read is a miss. Only answers that their pass accepted are stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.profile import ModelProfile
from tracker.format.trajectory import atomic_write

__all__ = ["CachedAnswer", "ResponseCache", "default_cache_dir", "request_key"]

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/pcagent/completion, else ~/.cache/pcagent/completion."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pcagent" / "completion"


@dataclass(frozen=True)
class CachedAnswer:
    text: str
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments JSON text)
    sent_sizes: tuple[tuple[int, int], ...] = ()  # the images' sizes as the model saw them
    model: str = ""
    usage: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"version": CACHE_VERSION, "text": self.text, "tool_calls": [list(c) for c in self.tool_calls],
                "sent_sizes": [list(s) for s in self.sent_sizes], "model": self.model, "usage": self.usage}

    @classmethod
    def from_json(cls, data: Any) -> CachedAnswer | None:
        try:
            if data.get("version") != CACHE_VERSION or not isinstance(data["text"], str):
                return None
            calls = tuple((str(name), str(arguments)) for name, arguments in data.get("tool_calls", []))
            sizes = tuple((int(w), int(h)) for w, h in data.get("sent_sizes", []))
            usage = {str(k): int(v) for k, v in (data.get("usage") or {}).items()}
            return cls(data["text"], calls, sizes, str(data.get("model", "")), usage)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


def request_key(profile: ModelProfile, messages: list[tuple[str, list[Any]]], *, temperature: float | None,
                max_tokens: int | None, tools: Any = None, sample: int | None = None) -> str:
    """The cache key; ``messages`` are (role, parts) with each image given as its digest ({"image": ...})."""
    material = {
        "model": profile.model, "backend": profile.backend,
        "image_max_pixels": profile.image_max_pixels, "image_format": profile.image_format,
        "top_p": profile.top_p, "extra_body": profile.to_dict()["extra_body"],  # secrets masked "temperature": temperature,
        "max_tokens": max_tokens, "tools": tools, "sample": sample, "messages": messages,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Answers by request key in ``root``; safe to share between threads and between runs."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedAnswer | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        return CachedAnswer.from_json(data)

    def put(self, key: str, answer: CachedAnswer) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(answer.to_json(), ensure_ascii=False).encode("utf-8"), sync=False)
