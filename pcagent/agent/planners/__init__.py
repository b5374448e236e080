"""Planners: the prompted planner (planner+grounder or end-to-end), UI-TARS, Qwen's computer_use (in the text or
as OpenAI tool_calls), OpenCUA, and replay of a recording. `make_planner` picks one from the model's profile."""

from __future__ import annotations

import inspect
import typing

from pcagent.agent.planners.opencua import OpenCUAPlanner
from pcagent.agent.planners.prompted import PROMPT_PLANNER_KINDS, PromptPlanner
from pcagent.agent.planners.qwen import QwenPlanner
from pcagent.agent.planners.uitars import UITarsPlanner

if typing.TYPE_CHECKING:  # annotations only: the package namespace stays its public API
    from typing import Any

    from models.base import VisionLanguageModel

__all__ = ["DEFAULT_CONVENTIONS", "make_planner", "OpenCUAPlanner", "PLANNER_CHOICES", "planner_kind",
           "PROMPT_PLANNER_KINDS", "PromptPlanner", "QwenPlanner", "UITarsPlanner"]

# what make_planner (and `pcagent run --planner-kind`) take; the last four are profile action_formats
PLANNER_CHOICES = (*PROMPT_PLANNER_KINDS, "uitars", "qwen_computer_use", "opencua", "tool_calls")
# How a kind's models write coordinates when the profile's output_convention does not say. Qwen's
# computer_use has none: Qwen2.5-VL and Qwen3-VL differ, and a wrong guess clicks elsewhere.
DEFAULT_CONVENTIONS = {"end-to-end": "absolute", "uitars": "uitars_resized", "opencua": "uitars_resized",
                       "tool_calls": "absolute"}


def planner_kind(profile: Any) -> str:
    """The kind a profile asks for: its action_format, where "pcagent" (our grammar) means planner+grounder,
    or end-to-end when the profile says how the model writes coordinates (output_convention)."""
    action_format = getattr(profile, "action_format", None) or "pcagent"
    if action_format == "pcagent":
        return "end-to-end" if getattr(profile, "output_convention", None) else "planner+grounder"
    return action_format


def make_planner(kind: str | None, model: VisionLanguageModel, **options: Any
                 ) -> PromptPlanner | UITarsPlanner | QwenPlanner | OpenCUAPlanner:
    """A planner for the model: of `kind` (one of PLANNER_CHOICES; --planner-kind) or, when None, of the kind
    its profile asks for (`planner_kind`). Coordinates follow the profile's output_convention unless
    `options` give a convention."""
    profile = getattr(model, "profile", None)
    kind = {"ui-tars": "uitars"}.get(kind or "", kind) or planner_kind(profile)
    if kind not in PLANNER_CHOICES:
        raise ValueError(f"unknown planner kind {kind!r}; one of {', '.join(PLANNER_CHOICES)}")
    if kind == "planner+grounder":
        return PromptPlanner(model, kind=kind, **options)
    convention = options.pop("convention", None) or getattr(profile, "output_convention", None) \
        or DEFAULT_CONVENTIONS.get(kind)
    if convention is None:
        name = getattr(profile, "name", None) or getattr(model, "name", "the model")
        raise ValueError(f"profile {name!r}: {kind} needs output_convention: \"uitars_resized\" for Qwen2.5-VL "
                         f"(pixels of its smart-resized image) or \"norm1000\" for Qwen3-VL")
    if kind == "end-to-end":
        return PromptPlanner(model, kind=kind, convention=convention, **options)
    if kind == "uitars":
        return UITarsPlanner(model, convention=convention, **options)
    if kind == "opencua":
        return OpenCUAPlanner(model, convention=convention, **options)
    if kind == "tool_calls" and "tools" not in inspect.signature(model.generate).parameters:
        raise ValueError(f"the tool_calls format needs a backend that sends a tools schema (backend \"openai\"), "
                         f"not {type(model).__name__}; use qwen_computer_use to carry the schema in the prompt")
    return QwenPlanner(model, convention=convention, transport="text" if kind == "qwen_computer_use" else "tool_calls",
                       **options)
