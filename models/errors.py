"""Errors from talking to models, in one tree; foreign errors are mapped at the boundary.

    ModelError
     ├── ModelConfigError       a profile that cannot work (unknown backend, missing field, bad value)
     ├── ModelUnavailable       a backend's package or model files are missing (message: what to install)
     ├── ModelConnectionError   the server cannot be reached (after retries)
     ├── ModelTimeout           no answer in time (after retries)
     ├── ModelHTTPError         the server answered with an error status (after retries for 429/5xx)
     │    └── ModelAuthError    401/403: the API key is missing or wrong
     └── ModelResponseError     an answer that is not a chat completion (HTML, malformed JSON, no choices)

Every message says which profile/server it concerns and never contains an API key.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error raised by models/."""


class ModelConfigError(ModelError):
    pass


class ModelUnavailable(ModelError):
    pass


class ModelConnectionError(ModelError):
    pass


class ModelTimeout(ModelError):
    pass


class ModelHTTPError(ModelError):
    def __init__(self, message: str, status: int, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ModelAuthError(ModelHTTPError):
    pass


class ModelResponseError(ModelError):
    pass
