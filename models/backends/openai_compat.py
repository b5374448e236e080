"""Any server that speaks the OpenAI chat completions API: vLLM, SGLang, Ollama, llama.cpp, LM Studio,
hosted APIs.

`generate` POSTs {base_url}/chat/completions with images as data URLs fitted to the profile's pixel
budget. 429 (honouring a short Retry-After), 5xx, connection failures and timeouts are retried up to
`profile.max_retries` times with exponential backoff and jitter; everything else fails at once. httpx
errors are mapped onto models.errors here, at the boundary; no message, repr or log line holds the key.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from typing import Any, Sequence

import httpx

from models.base import Message, ModelResponse, ToolCall, Usage
from models.errors import (ModelAuthError, ModelConfigError, ModelConnectionError, ModelError,
                           ModelHTTPError, ModelResponseError, ModelTimeout)
from models.images import fit_to_pixels, to_data_url
from models.profile import ModelProfile, safe_url
from models.profiles import resolve_api_key
from models.text_excerpt import shorten

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 30.0  # a longer Retry-After fails at once rather than stalling the agent
MAX_BACKOFF_S = 8.0
BODY_EXCERPT_CHARS = 300
BASE_URL_HINT = "is base_url right? it usually ends in /v1"


def _retry_after_s(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class OpenAICompatibleModel:
    """A VisionLanguageModel behind an OpenAI-compatible HTTP endpoint.

    `client` lets a caller share a configured httpx.Client (proxies, certificates); it is not closed by
    `close()`. `backoff_s` is the first retry's delay (doubled each retry, plus up to 50 % jitter).
    """

    def __init__(self, profile: ModelProfile, *, client: httpx.Client | None = None,
                 backoff_s: float = 0.5) -> None:
        if not profile.base_url:
            raise ModelConfigError(f"profile {profile.name!r}: backend 'openai' needs base_url "
                                   f"(e.g. http://127.0.0.1:8000/v1)")
        if not profile.base_url.startswith(("http://", "https://")):
            raise ModelConfigError(f"profile {profile.name!r}: base_url {safe_url(profile.base_url)!r} "
                                   f"must start with http:// or https://")
        self.name = profile.name
        self.profile = profile
        self.backoff_s = backoff_s
        self._base_url = profile.base_url.rstrip("/")
        self._api_key = resolve_api_key(profile)
        self._owns_client = client is None
        self._client = client or httpx.Client()
        self._timeout = httpx.Timeout(profile.timeout_s)

    def __repr__(self) -> str:
        return (f"OpenAICompatibleModel(name={self.name!r}, model={self.profile.model!r}, "
                f"base_url={safe_url(self._base_url)!r})")

    # --- the VisionLanguageModel protocol ---

    def generate(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 temperature: float | None = None, stop: Sequence[str] | None = None,
                 tools: Sequence[dict[str, Any]] | None = None) -> ModelResponse:
        """Send the conversation; latency_s is the whole wait, retries included. ``tools``: OpenAI function
        schemas ({"type": "function", "function": {...}}); the answer's calls come back in `tool_calls`."""
        body = self.request_body(messages, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                 tools=tools)
        started = time.perf_counter()
        data = self._request_json("POST", "/chat/completions", body)
        latency_s = time.perf_counter() - started
        return self._parse_completion(data, latency_s)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> "OpenAICompatibleModel":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- diagnostics ---

    def list_models(self) -> list[str]:
        """The model ids the server offers (GET {base_url}/models)."""
        data = self._request_json("GET", "/models", None)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise self._response_error("answered GET /models without a 'data' list", json.dumps(data))
        return [str(entry.get("id")) for entry in entries if isinstance(entry, dict)]

    # --- request building ---

    def request_body(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                     temperature: float | None = None, stop: Sequence[str] | None = None,
                     tools: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The JSON body `generate` would send (public so tests and logs can look at it)."""
        profile = self.profile
        body: dict[str, Any] = {}
        if profile.model:
            body["model"] = profile.model
        body["messages"] = [self._message_json(m) for m in messages]
        body["max_tokens"] = max_tokens if max_tokens is not None else profile.max_tokens
        temperature = temperature if temperature is not None else profile.temperature
        if temperature is not None:
            body["temperature"] = temperature
        if profile.top_p is not None:
            body["top_p"] = profile.top_p
        if stop:
            body["stop"] = list(stop)
        if tools:
            body["tools"] = [dict(tool) for tool in tools]
        body.update(profile.extra_body)
        return body

    def _message_json(self, message: Message) -> dict[str, Any]:
        # text-only messages go as a plain string: some servers reject part lists for system/assistant
        if not message.images:
            return {"role": message.role, "content": message.text}
        parts: list[dict[str, Any]] = []
        for part in message.content:
            if isinstance(part, str):
                parts.append({"type": "text", "text": part})
            else:
                fitted, _ = fit_to_pixels(part, self.profile.image_max_pixels)
                url = to_data_url(fitted, self.profile.image_format)
                parts.append({"type": "image_url", "image_url": {"url": url}})
        return {"role": message.role, "content": parts}

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", **self.profile.extra_headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    # --- sending, retrying, mapping errors ---

    def _where(self) -> str:
        return f"profile {self.name!r}: the server at {safe_url(self._base_url)}"

    def _excerpt(self, text: str) -> str:
        """A short, key-free excerpt of a response body (the `error.message` of a JSON error)."""
        try:
            error = json.loads(text).get("error")
            if isinstance(error, dict) and error.get("message"):
                text = str(error["message"])
            elif isinstance(error, str):
                text = error
        except (ValueError, AttributeError):
            pass
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return shorten(text, BODY_EXCERPT_CHARS)

    def _response_error(self, problem: str, body: str) -> ModelResponseError:
        return ModelResponseError(f"{self._where()} {problem}: {self._excerpt(body)!r}")

    def _backoff(self, attempt: int) -> float:
        delay = min(MAX_BACKOFF_S, self.backoff_s * (2 ** attempt))
        return delay * (1 + 0.5 * random.random())

    def _request_json(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        url = self._base_url + path
        attempts = self.profile.max_retries + 1
        for attempt in range(attempts):
            try:
                response = self._client.request(method, url, json=body, headers=self._headers(),
                                                timeout=self._timeout)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise ModelConfigError(f"profile {self.name!r}: base_url {safe_url(self._base_url)!r} "
                                       f"is not a usable URL: {exc}") from exc
            except httpx.TimeoutException as exc:
                failure: ModelError = self._timeout_error(exc, attempt + 1)
                cause: Exception = exc
                delay = self._backoff(attempt)
            except httpx.TransportError as exc:
                failure = ModelConnectionError(f"{self._where()} cannot be reached "
                                               f"({type(exc).__name__}: {exc}) after {attempt + 1} "
                                               f"attempt(s); is it running?")
                cause, delay = exc, self._backoff(attempt)
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return self._decode(response, method, path)
                failure = self._http_error(response)
                cause, delay = failure, self._backoff(attempt)
                retry_after = _retry_after_s(response) if response.status_code == 429 else None
                if retry_after is not None:
                    if retry_after > MAX_RETRY_AFTER_S:
                        raise ModelHTTPError(f"{failure} (the server asks to retry after {retry_after:.0f} s)",
                                             response.status_code, failure.body) from None
                    delay = retry_after
            if attempt + 1 == attempts:
                if failure is cause:
                    raise failure
                raise failure from cause
            log.info("%s: %s; retry %d of %d in %.2f s", self.name, type(failure).__name__,
                     attempt + 1, self.profile.max_retries, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _timeout_error(self, exc: httpx.TimeoutException, attempts: int) -> ModelError:
        if isinstance(exc, httpx.ConnectTimeout):
            return ModelConnectionError(f"{self._where()} did not accept a connection within "
                                        f"{self.profile.timeout_s} s ({attempts} attempt(s))")
        return ModelTimeout(f"{self._where()} did not answer within {self.profile.timeout_s} s "
                            f"({attempts} attempt(s))")

    def _http_error(self, response: httpx.Response) -> ModelHTTPError:
        status = response.status_code
        excerpt = self._excerpt(response.text)
        message = f"{self._where()} answered {status} {response.reason_phrase}: {excerpt}"
        if status in (401, 403):
            if self.profile.api_key_env and not self._api_key:
                message += f" (the key is read from ${self.profile.api_key_env}, which is not set)"
            elif not self._api_key:
                message += " (the profile names no API key: set api_key_env or api_key_keyring)"
            return ModelAuthError(message, status, excerpt)
        if status in (404, 405):
            message += f" — {BASE_URL_HINT}"
        return ModelHTTPError(message, status, excerpt)

    def _decode(self, response: httpx.Response, method: str, path: str) -> Any:
        """A 2xx JSON body, or the error the response amounts to."""
        if response.status_code >= 300:
            raise self._http_error(response)
        text = response.text
        content_type = response.headers.get("content-type", "")
        if "html" in content_type or text.lstrip()[:1] == "<":
            raise ModelResponseError(f"{self._where()} answered {method} {path} with HTML, not a chat "
                                     f"completion — {BASE_URL_HINT}")
        try:
            return json.loads(text)
        except ValueError:
            raise self._response_error(f"answered {method} {path} with malformed JSON", text) from None

    def _parse_completion(self, data: Any, latency_s: float) -> ModelResponse:
        raw = json.dumps(data)[:BODY_EXCERPT_CHARS * 2]
        if not isinstance(data, dict):
            raise self._response_error("answered with JSON that is not a chat completion", raw)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._response_error("answered without choices", raw)
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # some servers answer with content parts; only string texts count
            texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
            content = "".join(texts) if texts else None
        tool_calls = self._tool_calls(message, raw)
        if content is None and tool_calls:  # a function-calling answer often carries no text at all
            content = ""
        if not isinstance(content, str):
            raise self._response_error(
                f"answered with no text content (finish_reason {choice.get('finish_reason')!r})", raw)
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}

        def count(key: str) -> int | None:
            value = usage.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return ModelResponse(text=content,
                             usage=Usage(count("prompt_tokens"), count("completion_tokens")),
                             latency_s=latency_s, model=str(data.get("model") or self.profile.model),
                             finish_reason=choice.get("finish_reason"), tool_calls=tool_calls)

    def _tool_calls(self, message: Any, raw: str) -> tuple[ToolCall, ...]:
        """The message's function calls, arguments kept as JSON text (Ollama sends an object: re-encoded)."""
        entries = message.get("tool_calls") if isinstance(message, dict) else None
        if entries is None:
            return ()
        if not isinstance(entries, list):
            raise self._response_error("answered with tool_calls that are not a list", raw)
        calls = []
        for entry in entries:
            function = entry.get("function") if isinstance(entry, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            arguments = function.get("arguments", "") if isinstance(function, dict) else None
            if isinstance(arguments, dict):
                arguments = json.dumps(arguments)
            if not isinstance(name, str) or not isinstance(arguments, str):
                raise self._response_error("answered with a tool call without a function name and arguments", raw)
            call_id = entry.get("id")
            calls.append(ToolCall(name, arguments, call_id if isinstance(call_id, str) else None))
        return tuple(calls)
