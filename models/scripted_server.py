"""A real OpenAI-compatible HTTP server on loopback that answers from a script.

Tests point a profile's base_url at it instead of mocking HTTP; users dry-run a task with it
(`pcagent models serve-script SCRIPT.json`). A script is a list of entries:

    {"response": "click (10, 20)"}                      answer this text once
    {"response": "finish", "match": "Save the file"}    only when the regex matches the last user text
    {"response": "wait", "repeat": 3}                   three times ("repeat": "forever": never used up)
    {"response": "ok", "latency_s": 0.5}                answer after half a second
    {"response": "ok", "usage": {"prompt_tokens": 9, "completion_tokens": 1}}   ("usage": null: none)
    {"tool_calls": [{"name": "computer_use", "arguments": {"action": "wait"}}]}   OpenAI-style function
                                                        calls (with "response" too: text beside them)
    {"fault": "http_429", "retry_after": 0.2}           misbehave instead (FAULTS below)

Each request takes the first unused entry that accepts it (no "match", or a "match" found by
re.search in the last user message's text). Once none does, the server answers HTTP 500
"script exhausted" so that a test fails loudly. Requests with "stream": true get HTTP 400: the
server never streams. GET /v1/models lists one model.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from models.errors import ModelConfigError

FAULTS = {
    "http_500": "HTTP 500 with a JSON error",
    "http_429": "HTTP 429 (with Retry-After when the entry has retry_after)",
    "http_401": "HTTP 401 invalid API key",
    "html": "HTTP 200 with an HTML page",
    "malformed_json": "HTTP 200 with a truncated JSON body",
    "no_choices": "HTTP 200 with an empty choices list",
    "null_content": "HTTP 200 with a choice whose message content is null",
    "bad_content_parts": "HTTP 200 with content parts whose text is null or a number",
    "disconnect": "close the connection without answering",
    "hang": "answer nothing for latency_s (default 30 s, cut short by stop()), then close",
}
ENTRY_KEYS = ("response", "match", "latency_s", "repeat", "fault", "usage", "retry_after", "finish_reason",
              "tool_calls")
HANG_DEFAULT_S = 30.0


class ScriptError(ModelConfigError):
    """A script that cannot be run: bad file, bad JSON, bad entry."""


@dataclass
class _Entry:
    index: int
    response: str | None
    match: re.Pattern[str] | None
    latency_s: float
    remaining: int | None  # None: forever
    fault: str | None
    usage: dict[str, Any] | None | bool  # False: not given (count words)
    retry_after: float | None
    finish_reason: str
    tool_calls: list[dict[str, Any]]  # [{"name": ..., "arguments": {...} or JSON text}]

    def accepts(self, user_text: str) -> bool:
        return self.remaining != 0 and (self.match is None or self.match.search(user_text) is not None)


def _parse_entry(index: int, raw: Any) -> _Entry:
    where = f"script entry {index}"
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: expected an object like {{\"response\": \"...\"}}, got {raw!r}")
    unknown = sorted(set(raw) - set(ENTRY_KEYS))
    if unknown:
        raise ScriptError(f"{where}: unknown key(s) {', '.join(unknown)}; keys are {', '.join(ENTRY_KEYS)}")
    response, fault = raw.get("response"), raw.get("fault")
    tool_calls = _tool_calls(raw.get("tool_calls", []), where)
    if (response is None and not tool_calls) == (fault is None):
        raise ScriptError(f"{where}: give exactly one of 'response' (text, and/or 'tool_calls') or 'fault'")
    if response is not None and not isinstance(response, str):
        raise ScriptError(f"{where}: 'response' must be a string")
    if fault is not None and fault not in FAULTS:
        raise ScriptError(f"{where}: unknown fault {fault!r}; one of {', '.join(FAULTS)}")
    try:
        match = re.compile(raw["match"]) if raw.get("match") is not None else None
    except (re.error, TypeError) as exc:
        raise ScriptError(f"{where}: 'match' is not a valid regex: {exc}") from None
    repeat = raw.get("repeat", 1)
    if repeat != "forever" and (not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1):
        raise ScriptError(f"{where}: 'repeat' must be a positive integer or \"forever\", got {repeat!r}")
    numbers = {}
    for key in ("latency_s", "retry_after"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
            raise ScriptError(f"{where}: {key!r} must be a number of seconds >= 0, got {value!r}")
        numbers[key] = value
    usage = raw.get("usage", False)
    if usage not in (False, None) and not isinstance(usage, dict):
        raise ScriptError(f"{where}: 'usage' must be an object or null")
    latency = numbers["latency_s"]
    return _Entry(index=index, response=response, match=match,
                  latency_s=float(latency if latency is not None else (HANG_DEFAULT_S if fault == "hang" else 0)),
                  remaining=None if repeat == "forever" else repeat, fault=fault, usage=usage,
                  retry_after=numbers["retry_after"], tool_calls=tool_calls,
                  finish_reason=str(raw.get("finish_reason") or ("tool_calls" if tool_calls else "stop")))


def _tool_calls(raw: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(call, dict) and isinstance(call.get("name"), str)
                                            and isinstance(call.get("arguments", {}), (dict, str))
                                            for call in raw):
        raise ScriptError(f"{where}: 'tool_calls' must be a list of {{\"name\": ..., \"arguments\": {{...}}}}")
    return raw


def _arguments_text(arguments: dict[str, Any] | str) -> str:
    """Arguments as OpenAI sends them: JSON text (a script may give the text itself, even malformed)."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def load_script(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a script file: a JSON list of entries. Raises ScriptError saying what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"cannot read script {path}: {exc}") from exc
    try:
        script = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScriptError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(script, list):
        raise ScriptError(f"{path}: a script is a JSON list of entries, got {type(script).__name__}")
    try:
        for index, raw in enumerate(script):
            _parse_entry(index, raw)
    except ScriptError as exc:
        raise ScriptError(f"{path}: {exc}") from None
    return script


def last_user_text(body: dict[str, Any]) -> str:
    """The text parts of the last user message in a chat completions request body."""
    messages = body.get("messages") if isinstance(body, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "\n".join(str(p.get("text", "")) for p in content
                                 if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _word_count(body: dict[str, Any]) -> int:
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    words = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        parts = [content] if isinstance(content, str) else \
            [p.get("text", "") for p in content or [] if isinstance(p, dict)]
        words += sum(len(str(part).split()) for part in parts)
    return words


class ScriptedServer:
    """Serves a script on `host`:`port` (0: any free port) until `stop()`; a context manager.

    `requests` holds every chat-completion request body received, in order, and `request_headers`
    their headers (lower-case names), so tests can check what a client sent. `log`, when given, is
    called with one line per request (the serve-script command prints them).
    """

    def __init__(self, script: list[dict[str, Any]], host: str = "127.0.0.1", port: int = 0,
                 *, model: str = "scripted", log: Callable[[str], None] | None = None) -> None:
        self._entries = [_parse_entry(i, raw) for i, raw in enumerate(script)]
        self.host, self.port, self.model = host, port, model
        self._log = log
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._request_headers: list[dict[str, str]] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the scripted server is not started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(h) for h in self._request_headers]

    @property
    def unused_entries(self) -> list[int]:
        """Indexes of entries that still have answers left (not counting "forever" ones)."""
        with self._lock:
            return [e.index for e in self._entries if e.remaining]

    def start(self) -> "ScriptedServer":
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"scripted": self})
        self._httpd = _HTTPServer((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"scripted-server-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # ends hangs and latencies in handler threads
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _take(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[_Entry | None, str]:
        """Record the request and claim the entry that answers it (None with why when none)."""
        user_text = last_user_text(body)
        with self._lock:
            self._requests.append(body)
            self._request_headers.append(headers)
            entry = next((e for e in self._entries if e.accepts(user_text)), None)
            if entry is not None and entry.remaining is not None:
                entry.remaining -= 1
            if entry is not None:
                return entry, ""
            if any(e.remaining != 0 for e in self._entries):
                return None, f"no unused script entry matches the last user message {user_text[:200]!r}"
            return None, "script exhausted"

    def _say(self, line: str) -> None:
        if self._log is not None:
            self._log(line)


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 makes a burst of parallel clients wait a second for SYN retries


class _Handler(BaseHTTPRequestHandler):
    scripted: ScriptedServer  # set on the per-server subclass
    server_version = "pcagent-scripted/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the default writes every request to stderr

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send_json(status, {"error": {"message": message, "type": kind}})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") == "/v1/models":
            self._send_json(200, {"object": "list", "data": [
                {"id": self.scripted.model, "object": "model", "owned_by": "pcagent-scripted"}]})
        else:
            self._error(404, f"no route GET {self.path}; try /v1/models or POST /v1/chat/completions")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route POST {self.path}; the endpoint is /v1/chat/completions")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            self._error(400, "the request body is not JSON")
            return
        if not isinstance(body, dict):
            self._error(400, "the request body must be a JSON object")
            return
        if body.get("stream"):
            self._error(400, "this scripted server does not stream: send \"stream\": false")
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        entry, why = self.scripted._take(body, headers)
        if entry is None:
            self.scripted._say(f"request {len(self.scripted.requests)}: {why} -> HTTP 500")
            self._error(500, why, "script_error")
            return
        self.scripted._say(f"request {len(self.scripted.requests)}: entry {entry.index} "
                           f"({entry.fault or repr((entry.response or '')[:60])})")
        if entry.latency_s and self.scripted._stopping.wait(entry.latency_s):
            return  # stopping: drop the connection
        if entry.fault:
            self._fault(entry)
        else:
            self._answer(entry, body)

    def _answer(self, entry: _Entry, body: dict[str, Any]) -> None:
        text = entry.response or ""
        # content is null beside tool calls without text, as OpenAI answers them
        message: dict[str, Any] = {"role": "assistant", "content": entry.response}
        if entry.tool_calls:
            message["tool_calls"] = [
                {"id": f"call_{len(self.scripted.requests)}_{n}", "type": "function",
                 "function": {"name": call["name"], "arguments": _arguments_text(call.get("arguments", {}))}}
                for n, call in enumerate(entry.tool_calls)]
        usage = entry.usage
        if usage is False:  # not given: rough word counts, so dry runs still show numbers
            prompt, completion = _word_count(body), len(text.split())
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        payload: dict[str, Any] = {
            "id": f"chatcmpl-scripted-{len(self.scripted.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model") or self.scripted.model),
            "choices": [{"index": 0, "message": message, "finish_reason": entry.finish_reason}],
        }
        if usage is not None:
            payload["usage"] = usage
        self._send_json(200, payload)

    def _fault(self, entry: _Entry) -> None:
        fault = entry.fault
        if fault == "http_500":
            self._error(500, "scripted fault http_500", "server_error")
        elif fault == "http_429":
            headers = {"Retry-After": f"{entry.retry_after:g}"} if entry.retry_after is not None else None
            self._send_json(429, {"error": {"message": "scripted fault http_429: rate limited",
                                            "type": "rate_limit_error"}}, headers)
        elif fault == "http_401":
            self._error(401, "scripted fault http_401: invalid API key", "authentication_error")
        elif fault == "html":
            self._send(200, b"<!doctype html><html><head><title>Welcome</title></head>"
                            b"<body><h1>It works!</h1></body></html>", "text/html; charset=utf-8")
        elif fault == "malformed_json":
            self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"index": 0, "mess', "application/json")
        elif fault == "no_choices":
            self._send_json(200, {"id": "chatcmpl-empty", "object": "chat.completion", "choices": []})
        elif fault == "null_content":
            self._send_json(200, {"id": "chatcmpl-null", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "length"}]})
        elif fault == "bad_content_parts":
            parts = [{"type": "text", "text": None}, {"type": "text", "text": 42}, {"type": "text"}]
            self._send_json(200, {"id": "chatcmpl-parts", "object": "chat.completion", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": parts}, "finish_reason": "stop"}]})
        # "disconnect" and "hang" (after its latency) answer nothing: the connection just closes
        self.close_connection = True
