"""`open_grounder(spec)`: a grounder from a short name, as the CLI and settings write it.

    ocr                        grounding.ocr.engine.OcrGrounder (RapidOCR on ONNX Runtime) with its own
                               OcrCache: a grounder opened once per session or evaluation re-reads only
                               what changed between screenshots
    accessibility              grounding.accessibility.engine.AccessibilityGrounder
    template                   grounding.template.TemplateGrounder
    model:PROFILE              grounding.model_engine.ModelGrounder over the model profile PROFILE
    composite:a,b,...          grounding.composite.CompositeGrounder over those, asked in that order

Engines' modules are imported only when named, so asking for "accessibility" never loads OCR models.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from grounding.base import Grounder

__all__ = ["open_grounder", "SPEC_NAMES"]

SPEC_NAMES = ("ocr", "accessibility", "template", "model:PROFILE", "composite:a,b,...")

def _ocr_grounder() -> Grounder:
    from grounding.ocr import OcrCache, OcrGrounder

    return OcrGrounder(cache=OcrCache())


def _simple(module_name: str, class_name: str) -> Callable[[], Grounder]:
    return lambda: getattr(importlib.import_module(module_name), class_name)()


# simple name -> how to build it
_SIMPLE: dict[str, Callable[[], Grounder]] = {
    "ocr": _ocr_grounder,
    "accessibility": _simple("grounding.accessibility.engine", "AccessibilityGrounder"),
    "template": _simple("grounding.template", "TemplateGrounder"),
}


def _unknown(spec: str) -> ValueError:
    return ValueError(f"unknown grounder {spec!r}; valid: {', '.join(SPEC_NAMES)} "
                      f"(e.g. 'composite:accessibility,ocr')")


def _model_grounder(profile_name: str, model_factory: Callable[[str], Any] | None,
                    models_file: str | Path | None) -> Grounder:
    from grounding.model_engine import ModelGrounder
    from models.errors import ModelConfigError

    if model_factory is not None:
        model = model_factory(profile_name)
        profile = getattr(model, "profile", None)
    else:
        from models.factory import open_model
        from models.profiles import get_profile

        profile = get_profile(profile_name, models_file)
        model = None
    convention = getattr(profile, "output_convention", None)
    if not convention:
        raise ModelConfigError(f"profile {profile_name!r} has no output_convention, so its answers cannot be "
                               f"read as points; set output_convention to one of molmo_percent, norm1000, "
                               f"absolute, uitars_resized")
    if model is None:
        model = open_model(profile)
    return ModelGrounder(model, convention, name=f"model:{profile_name}")


def open_grounder(spec: str, *, model_factory: Callable[[str], Any] | None = None,
                  models_file: str | Path | None = None) -> Grounder:
    """The grounder ``spec`` names. "model:PROFILE" reads PROFILE from ``models_file`` (default: the user's
    models.toml); ``model_factory(profile_name) -> VisionLanguageModel`` replaces models.factory for
    "model:..." (tests, or a caller that already holds the model).

    Raises ValueError for an unknown or malformed spec (listing the valid ones); a model profile
    problem surfaces as models.errors.ModelConfigError.
    """
    spec = (spec or "").strip()
    kind, _, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind in _SIMPLE and not argument:
        return _SIMPLE[kind]()
    if kind == "model":
        if not argument.strip():
            raise ValueError("'model:' needs a profile name, e.g. 'model:molmo'")
        return _model_grounder(argument.strip(), model_factory, models_file)
    if kind == "composite":
        parts = _split_parts(argument)
        if not parts:
            raise ValueError("'composite:' needs engines, e.g. 'composite:accessibility,ocr'")
        if any(p.split(":", 1)[0].strip().lower() == "composite" for p in parts):
            raise ValueError("a composite cannot contain another composite")
        from grounding.composite import CompositeGrounder

        return CompositeGrounder([open_grounder(p, model_factory=model_factory, models_file=models_file)
                                  for p in parts])
    raise _unknown(spec)


def _split_parts(argument: str) -> list[str]:
    """'accessibility, ocr,model:x' -> ['accessibility', 'ocr', 'model:x']."""
    return [part.strip() for part in argument.split(",") if part.strip()]
