"""`open_model(profile)`: the backend a profile names, its module imported only when asked for.

The transformers and ONNX backends need heavy packages (torch, transformers, onnxruntime); importing
them lazily keeps `import models` light, and a missing package becomes a ModelUnavailable that says
what to install.
"""

from __future__ import annotations

import importlib

from models.base import VisionLanguageModel
from models.errors import ModelConfigError, ModelUnavailable
from models.profile import BACKENDS, ModelProfile

# backend -> (module, class, what to install when the import fails)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "openai": ("models.backends.openai_compat", "OpenAICompatibleModel", "pip install --force-reinstall pcagent"),
    "transformers": ("models.backends.transformers_backend", "TransformersModel", "pip install 'pcagent[transformers]'"),
    "onnx": ("models.backends.onnx_backend", "OnnxModel", "pip install 'pcagent[onnx]' (onnxruntime-gpu for CUDA)"),
}
assert set(_BACKENDS) == set(BACKENDS), "every backend in models.profile.BACKENDS needs an entry here"


def open_model(profile: ModelProfile) -> VisionLanguageModel:
    """Construct the backend for `profile`; the caller closes it."""
    if profile.backend not in _BACKENDS:
        raise ModelConfigError(f"profile {profile.name!r}: unknown backend {profile.backend!r}; "
                               f"one of {', '.join(_BACKENDS)}")
    module_name, class_name, install_hint = _BACKENDS[profile.backend]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:  # backends raise ModelUnavailable themselves; this catches the rest
        raise ModelUnavailable(f"profile {profile.name!r}: backend {profile.backend!r} cannot be loaded "
                               f"({exc}): {install_hint}") from exc
    return getattr(module, class_name)(profile)
