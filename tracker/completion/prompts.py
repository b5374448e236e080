"""The completion prompts: text files under tracker/completion/prompts/, each replaceable by a researcher.

Every pass has a ``<pass>.system.txt`` and a ``<pass>.user.txt`` (thought also ``thought_hindsight.user.txt``;
boost one ``boost_format.<action_format>.txt`` per model output format, put into its system prompt). A
folder given as ``--prompts DIR`` replaces the files it holds, by the same names; the others stay ours.

A file is a ``string.Template``: ``$name`` (or ``${name}``) is filled in, ``$$`` is a dollar sign. Image
placeholders (``$screenshot``, ``$before``, ``$after``, ``$closeup``) must end their line: the text before
them on the line is the image's caption, and the line goes away when an optional image is missing (the
close-up of a step that acted on no point). Each file is checked when loaded: an unknown placeholder, a
missing required image or an image in the middle of a line is a PromptError naming the file.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["PROMPT_FILES", "PromptError", "PromptSet"]

_COMMON = ("task", "step_number", "step_count")
_CLICK = (*_COMMON, "action", "action_words", "x", "y", "element_hint")


@dataclass(frozen=True)
class _Spec:
    """What a prompt file may hold: text placeholders, images it must place and images it may place."""

    text: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    optional_images: tuple[str, ...] = ()


PROMPT_FILES: dict[str, _Spec] = {
    "describe.system.txt": _Spec(),
    "describe.user.txt": _Spec(_CLICK, ("screenshot",)),
    "check.system.txt": _Spec(),
    "check.user.txt": _Spec((*_CLICK, "description"), ("screenshot",)),
    "thought.system.txt": _Spec(),
    "thought.user.txt": _Spec((*_COMMON, "history", "action", "element_note"), ("screenshot",)),
    "thought_hindsight.user.txt": _Spec((*_COMMON, "history", "future", "action", "element_note"), ("screenshot",)),
    "reflection.system.txt": _Spec(),
    "reflection.user.txt": _Spec(("task", "step_count", "history", "previous_number", "previous_action",
                                  "previous_element_note", "previous_thought"), ("before", "after"), ("closeup",)),
    "boost.system.txt": _Spec(("answer_format",)),
    "boost.user.txt": _Spec(("task", "step_number", "step_count", "history", "width", "height"), ("screenshot",)),
    "boost_format.pcagent.txt": _Spec(("coordinates",)),
    "boost_format.uitars.txt": _Spec(("coordinates",)),
    "boost_format.opencua.txt": _Spec(("coordinates",)),
    "boost_format.qwen_computer_use.txt": _Spec(("schema",)),
    "boost_format.tool_calls.txt": _Spec(),
}

_SENTINEL = "\x00"  # wraps an image name inside rendered text; stripped from every filled-in value


class PromptError(ValueError):
    """A prompt file that cannot be used (unknown placeholder, misplaced image, unreadable file)."""


def _placeholders(template: string.Template) -> set[str]:
    return {m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)
            if m.group("named") or m.group("braced")}


class PromptSet:
    """The prompt files: ours, with those in ``override_dir`` taking their place."""

    def __init__(self, override_dir: str | Path | None = None) -> None:
        self.override_dir = Path(override_dir) if override_dir is not None else None
        self.sources: dict[str, str] = {}  # file name -> where it was read from
        self._templates: dict[str, string.Template] = {}
        overrides = self._overrides()
        packaged = resources.files("tracker.completion") / "prompts"
        for name in PROMPT_FILES:
            path = overrides.get(name)
            try:
                text = path.read_text(encoding="utf-8") if path else (packaged / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PromptError(f"prompt file {path or name} cannot be read: {exc}") from exc
            self.sources[name] = str(path) if path else f"(built in) {name}"
            self._templates[name] = self._checked(name, text)

    def _overrides(self) -> dict[str, Path]:
        if self.override_dir is None:
            return {}
        if not self.override_dir.is_dir():
            raise PromptError(f"--prompts {self.override_dir}: not a folder")
        found = {path.name: path for path in sorted(self.override_dir.iterdir()) if path.suffix == ".txt"}
        unknown = sorted(set(found) - set(PROMPT_FILES))
        if unknown:
            raise PromptError(f"{self.override_dir}: unknown prompt file(s) {', '.join(unknown)}; the files are "
                              f"{', '.join(PROMPT_FILES)}")
        return found

    def _checked(self, name: str, text: str) -> string.Template:
        spec = PROMPT_FILES[name]
        where = self.sources[name]
        template = string.Template(text)
        if not template.is_valid():
            raise PromptError(f"{where}: a '$' that starts no placeholder (write $$ for a dollar sign)")
        images = (*spec.images, *spec.optional_images)
        unknown = sorted(_placeholders(template) - set(spec.text) - set(images))
        if unknown:
            known = ", ".join(f"${n}" for n in (*spec.text, *images)) or "none"
            raise PromptError(f"{where}: unknown placeholder(s) {', '.join('$' + n for n in unknown)}; "
                              f"this file may use {known}")
        rendered = template.safe_substitute({n: f"{_SENTINEL}{n}{_SENTINEL}" for n in images})
        for image in images:
            count = rendered.count(f"{_SENTINEL}{image}{_SENTINEL}")
            if count == 0 and image in spec.images:
                raise PromptError(f"{where}: the image placeholder ${image} is missing; the model needs it")
            if count > 1:
                raise PromptError(f"{where}: ${image} appears {count} times; place it once")
        for line in rendered.splitlines():
            if _SENTINEL in line and not line.rstrip().endswith(_SENTINEL):
                raise PromptError(f"{where}: an image placeholder must end its line: {line.strip()!r}")
            if line.count(_SENTINEL) > 2:
                raise PromptError(f"{where}: one image per line: {line.strip()!r}")
        return template

    def text(self, name: str, **values: Any) -> str:
        """A prompt file without images, filled in."""
        return self._fill(name, values, {}).strip()

    def parts(self, name: str, images: Mapping[str, Any], **values: Any) -> tuple[Any, ...]:
        """A prompt file as message content: text and the given images in the file's order. An optional
        image given as None drops its line."""
        rendered = self._fill(name, values, images)
        content: list[Any] = []
        lines: list[str] = []

        def flush() -> None:
            text = "\n".join(lines).strip()
            if text:
                content.append(text)
            lines.clear()

        for line in rendered.splitlines():
            if _SENTINEL not in line:
                lines.append(line)
                continue
            caption, image_name, _ = line.split(_SENTINEL)
            image = images.get(image_name)
            if image is None:
                continue
            lines.append(caption.rstrip())
            flush()
            content.append(image)
        flush()
        return tuple(content)

    def _fill(self, name: str, values: Mapping[str, Any], images: Mapping[str, Any]) -> str:
        spec = PROMPT_FILES[name]
        missing = [n for n in spec.images if images.get(n) is None and n in images]
        if missing:
            raise ValueError(f"{name}: required image(s) {', '.join(missing)} not given")
        filled = {key: str(value).replace(_SENTINEL, "") for key, value in values.items()}
        filled.update({n: f"{_SENTINEL}{n}{_SENTINEL}" for n in (*spec.images, *spec.optional_images)})
        absent = sorted(set(spec.text) - set(filled))
        if absent:
            raise ValueError(f"{name}: no value for {', '.join(absent)}")
        return self._templates[name].substitute(filled)

