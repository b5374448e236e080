"""The public API of `models`: `__all__` lists exactly what the package exports, and importing it
stays light (no heavy SDK, nothing from the layers above)."""

from __future__ import annotations

import subprocess
import sys
import types

import models


def test_all_lists_exactly_the_public_names():
    public = {name for name, value in vars(models).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert set(models.__all__) == public
    assert models.__all__ == sorted(models.__all__, key=str.casefold)
    assert len(models.__all__) == len(set(models.__all__))


def test_exports_are_our_own():
    for name in models.__all__:
        assert getattr(models, name).__module__.startswith("models."), name


def test_the_promised_names_are_exported():
    promised = {"Message", "ModelResponse", "Usage", "VisionLanguageModel", "ModelProfile", "open_model",
                "load_profiles", "get_profile", "ScriptedServer", "ModelError", "ModelConfigError",
                "ModelUnavailable", "ModelConnectionError", "ModelTimeout", "ModelHTTPError", "ModelAuthError",
                "ModelResponseError"}
    assert promised <= set(models.__all__)


def test_importing_models_is_light_and_respects_the_layers():
    code = ("import sys, models, models.openai_compat, models.scripted_server, models.factory; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for name in ("torch", "transformers", "onnxruntime", "keyring", "grounding", "tracker", "pcagent"):
        assert f"'{name}'" not in loaded, f"importing models pulled in {name}"
