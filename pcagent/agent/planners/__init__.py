"""Planners: the prompted planner (planner+grounder or end-to-end), UI-TARS, and replay of a recording."""

from __future__ import annotations

import typing

from pcagent.agent.planners.prompted import PROMPT_PLANNER_KINDS, PromptPlanner
from pcagent.agent.planners.uitars import UITarsPlanner

if typing.TYPE_CHECKING:  # annotations only: the package namespace stays its public API
    from typing import Any

    from models.base import VisionLanguageModel

__all__ = ["make_planner", "PLANNER_CHOICES", "PROMPT_PLANNER_KINDS", "PromptPlanner", "UITarsPlanner"]

PLANNER_CHOICES = (*PROMPT_PLANNER_KINDS, "uitars")  # what make_planner (and `pcagent run --planner-kind`) take


def make_planner(kind: str, model: VisionLanguageModel, **options: Any) -> PromptPlanner | UITarsPlanner:
    """A planner by kind: "planner+grounder", "end-to-end" (PromptPlanner) or "uitars" (UITarsPlanner)."""
    if kind in PROMPT_PLANNER_KINDS:
        return PromptPlanner(model, kind=kind, **options)
    if kind in ("uitars", "ui-tars"):
        return UITarsPlanner(model, **options)
    raise ValueError(f"unknown planner kind {kind!r}; one of {', '.join(PLANNER_CHOICES)}")
