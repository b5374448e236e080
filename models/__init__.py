"""Talking to vision-language models: OpenAI-compatible HTTP, local transformers, ONNX Runtime.

The lowest layer; it imports none of grounding, tracker or pcagent. backends/ holds one module per
backend, each imported only when a profile asks for it.
"""

from models.base import Message, ModelResponse, Usage, VisionLanguageModel
from models.errors import (ModelAuthError, ModelConfigError, ModelConnectionError, ModelError,
                           ModelHTTPError, ModelResponseError, ModelTimeout, ModelUnavailable)
from models.factory import open_model
from models.profile import ModelProfile
from models.profiles import get_profile, load_profiles
from models.scripted_server import ScriptedServer

__all__ = [
    "get_profile",
    "load_profiles",
    "Message",
    "ModelAuthError",
    "ModelConfigError",
    "ModelConnectionError",
    "ModelError",
    "ModelHTTPError",
    "ModelProfile",
    "ModelResponse",
    "ModelResponseError",
    "ModelTimeout",
    "ModelUnavailable",
    "open_model",
    "ScriptedServer",
    "Usage",
    "VisionLanguageModel",
]
