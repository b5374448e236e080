"""`open_grounder(spec)`: a grounder from a short name, as the CLI and settings write it.

    default                    the default chain, DEFAULT_CHAIN: accessibility, then OCR, then icons
    ocr                        grounding.ocr.engine.OcrGrounder (RapidOCR on ONNX Runtime) with its own
                               OcrCache: a grounder opened once per session or evaluation re-reads only
                               what changed between screenshots
    accessibility              grounding.accessibility.engine.AccessibilityGrounder
    icons                      grounding.icons.IconGrounder (the installed icon themes, template matching)
    template                   grounding.template.TemplateGrounder
    model:PROFILE              grounding.model_engine.ModelGrounder over the model profile PROFILE
    composite:a,b,...          grounding.composite.CompositeGrounder over those, asked in that order

``live=False`` opens a grounder for stored screenshots (an evaluation): engines that read the live desktop
rather than the screenshot (``needs_live_screen``: accessibility) step aside, and a spec naming only such
an engine is refused. Engines' modules are imported only when named, so asking for "accessibility" never
loads OCR models.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from grounding.base import Grounder

__all__ = ["DEFAULT_CHAIN", "open_grounder", "SPEC_NAMES"]

SPEC_NAMES = ("default", "ocr", "accessibility", "icons", "template", "model:PROFILE", "composite:a,b,...")
# Accessibility names win where the application exposes them; OCR reads text; icons find icon-only
# buttons. Icon-like descriptions ("the magnifying glass icon") go to icons before OCR, and an OCR match
# that is only near the words lets icons answer first (SETTLE_AT).
DEFAULT_CHAIN = "composite:accessibility,ocr,icons"
SETTLE_AT = 0.9


def _ocr_grounder() -> Grounder:
    from grounding.ocr import OcrCache, OcrGrounder

    return OcrGrounder(cache=OcrCache())


def _simple(module_name: str, class_name: str) -> Callable[[], Grounder]:
    return lambda: getattr(importlib.import_module(module_name), class_name)()


# simple name -> how to build it
_SIMPLE: dict[str, Callable[[], Grounder]] = {
    "ocr": _ocr_grounder,
    "accessibility": _simple("grounding.accessibility.engine", "AccessibilityGrounder"),
    "icons": _simple("grounding.icons", "IconGrounder"),
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
                  models_file: str | Path | None = None, live: bool = True) -> Grounder:
    """The grounder ``spec`` names. "model:PROFILE" reads PROFILE from ``models_file`` (default: the user's
    models.toml); ``model_factory(profile_name) -> VisionLanguageModel`` replaces models.factory for
    "model:..." (tests, or a caller that already holds the model). ``live=False``: for stored
    screenshots (see the module docstring).

    Raises ValueError for an unknown or malformed spec (listing the valid ones); a model profile
    problem surfaces as models.errors.ModelConfigError.
    """
    spec = (spec or "").strip()
    kind, _, argument = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "default" and not argument:
        kind, _, argument = DEFAULT_CHAIN.partition(":")
        settle_at: float | None = SETTLE_AT
    else:
        settle_at = None
    if kind in _SIMPLE and not argument:
        grounder = _SIMPLE[kind]()
        if not live and getattr(grounder, "needs_live_screen", False):
            raise ValueError(f"the {kind} grounder reads the live desktop, not a stored screenshot; score it with "
                             f"`pcagent grounding make-dataset --live-eval {kind}`")
        return grounder
    if kind == "model":
        if not argument.strip():
            raise ValueError("'model:' needs a profile name, e.g. 'model:molmo'")
        return _model_grounder(argument.strip(), model_factory, models_file)
    if kind == "composite":
        parts = _split_parts(argument)
        if not parts:
            raise ValueError("'composite:' needs engines, e.g. 'composite:accessibility,ocr'")
        if any(p.split(":", 1)[0].strip().lower() in ("composite", "default") for p in parts):
            raise ValueError("a composite cannot contain another composite")
        from grounding.composite import CompositeGrounder

        engines = [open_grounder(p, model_factory=model_factory, models_file=models_file) for p in parts]
        aside = [getattr(e, "name", "?") for e in engines if not live and getattr(e, "needs_live_screen", False)]
        engines = [e for e in engines if live or not getattr(e, "needs_live_screen", False)]
        if not engines:
            raise ValueError(f"every engine of {spec!r} reads the live desktop; none can score stored screenshots")
        composite = CompositeGrounder(engines, settle_at=settle_at, stepped_aside=aside)
        if settle_at is not None:
            composite.name = "default"
        return composite
    raise _unknown(spec)


def _split_parts(argument: str) -> list[str]:
    """'accessibility, ocr,model:x' -> ['accessibility', 'ocr', 'model:x']."""
    return [part.strip() for part in argument.split(",") if part.strip()]
