"""The scripted OpenAI-compatible server, spoken to with plain httpx over loopback."""

from __future__ import annotations

import json
import threading
import time
from typing import Iterator

import httpx
import pytest

from models.errors import ModelConfigError
from models.scripted_server import ScriptedServer, ScriptError, last_user_text, load_script


def chat(text: str, **extra) -> dict:
    return {"model": "m", "messages": [{"role": "system", "content": "be brief"},
                                       {"role": "user", "content": [{"type": "text", "text": text}]}], **extra}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


def post(client: httpx.Client, server: ScriptedServer, body: dict) -> httpx.Response:
    return client.post(f"{server.base_url}/chat/completions", json=body)


def answer(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def test_answers_in_order_then_fails_loudly(client):
    with ScriptedServer([{"response": "one"}, {"response": "two"}]) as server:
        assert answer(post(client, server, chat("a"))) == "one"
        assert answer(post(client, server, chat("b"))) == "two"
        exhausted = post(client, server, chat("c"))
        assert exhausted.status_code == 500
        assert exhausted.json()["error"]["message"] == "script exhausted"
        assert [last_user_text(body) for body in server.requests] == ["a", "b", "c"]
        assert server.unused_entries == []


def test_a_response_is_a_chat_completion_with_usage(client):
    with ScriptedServer([{"response": "click (1, 2)"}, {"response": "x", "usage": {"prompt_tokens": 7}}]) as server:
        data = post(client, server, chat("find the save button")).json()
        assert data["object"] == "chat.completion" and data["model"] == "m"
        assert data["choices"][0]["message"] == {"role": "assistant", "content": "click (1, 2)"}
        assert data["choices"][0]["finish_reason"] == "stop"
        # no usage in the entry: rough word counts ("be brief" + "find the save button"; "click (1, 2)")
        assert data["usage"] == {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}
        assert post(client, server, chat("y")).json()["usage"] == {"prompt_tokens": 7}


def test_match_picks_the_first_unused_entry_whose_regex_fits(client):
    script = [{"response": "saved", "match": r"(?i)save"},
              {"response": "plain"},
              {"response": "opened", "match": "open"}]
    with ScriptedServer(script) as server:
        assert answer(post(client, server, chat("open the file"))) == "plain"  # first entry that accepts it
        assert answer(post(client, server, chat("now open it"))) == "opened"
        refused = post(client, server, chat("close it"))
        assert refused.status_code == 500
        assert "no unused script entry matches the last user message 'close it'" in refused.text
        assert answer(post(client, server, chat("SAVE please"))) == "saved"
        assert server.unused_entries == []


def test_repeat_counts_and_forever(client):
    with ScriptedServer([{"response": "twice", "repeat": 2}, {"response": "always", "repeat": "forever"}]) as server:
        answers = [answer(post(client, server, chat(str(i)))) for i in range(5)]
        assert answers == ["twice", "twice", "always", "always", "always"]


def test_latency_delays_the_answer(client):
    with ScriptedServer([{"response": "slow", "latency_s": 0.3}]) as server:
        started = time.monotonic()
        assert answer(post(client, server, chat("x"))) == "slow"
        assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize("fault, status, check", [
    ("http_500", 500, lambda r: r.json()["error"]["type"] == "server_error"),
    ("http_401", 401, lambda r: "invalid API key" in r.text),
    ("html", 200, lambda r: r.headers["content-type"].startswith("text/html") and "<html>" in r.text),
    ("malformed_json", 200, lambda r: r.text.startswith("{") and not _is_json(r.text)),
    ("no_choices", 200, lambda r: r.json()["choices"] == []),
    ("null_content", 200, lambda r: r.json()["choices"][0]["message"]["content"] is None),
])
def test_faults(client, fault, status, check):
    with ScriptedServer([{"fault": fault}]) as server:
        response = post(client, server, chat("x"))
        assert response.status_code == status and check(response)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_429_sends_retry_after_when_asked(client):
    with ScriptedServer([{"fault": "http_429", "retry_after": 2}, {"fault": "http_429"}]) as server:
        first, second = post(client, server, chat("x")), post(client, server, chat("x"))
        assert first.status_code == second.status_code == 429
        assert first.headers["retry-after"] == "2" and "retry-after" not in second.headers


def test_disconnect_closes_without_an_answer(client):
    with ScriptedServer([{"fault": "disconnect"}]) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            post(client, server, chat("x"))


def test_hang_outlasts_the_client_and_stop_ends_it(client):
    server = ScriptedServer([{"fault": "hang"}]).start()
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{server.base_url}/chat/completions", json=chat("x"), timeout=0.2)
    started = time.monotonic()
    server.stop()  # the handler is still inside its 30 s hang
    assert time.monotonic() - started < 1.0
    with pytest.raises(httpx.ConnectError):  # stopped means stopped
        client.get(f"http://127.0.0.1:{server.port}/v1/models")


def test_stream_requests_are_refused_clearly(client):
    with ScriptedServer([{"response": "x"}]) as server:
        refused = post(client, server, chat("x", stream=True))
        assert refused.status_code == 400 and "does not stream" in refused.text
        assert server.unused_entries == [0]  # nothing consumed


def test_models_endpoint_and_unknown_routes(client):
    with ScriptedServer([], model="planner-x") as server:
        models = client.get(f"{server.base_url}/models").json()
        assert [m["id"] for m in models["data"]] == ["planner-x"]
        assert client.post(server.base_url.removesuffix("/v1") + "/chat/completions", json={}).status_code == 404
        assert client.post(f"{server.base_url}/chat/completions", content=b"{not json").status_code == 400


def test_requests_are_recorded_from_many_threads(client):
    with ScriptedServer([{"response": "ok", "repeat": "forever"}]) as server:
        def send(i: int) -> None:  # one shared client: httpx.Client is thread-safe
            assert answer(post(client, server, chat(f"request {i}"))) == "ok"

        threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(last_user_text(b) for b in server.requests) == sorted(f"request {i}" for i in range(16))
        assert len(server.request_headers) == 16


def test_base_url_needs_a_started_server():
    server = ScriptedServer([])
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.base_url
    with server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0


@pytest.mark.parametrize("entry, words", [
    ({"response": "x", "colour": "red"}, "unknown key(s) colour"),
    ({"response": "x", "fault": "html"}, "give exactly one of 'response'"),
    ({}, "give exactly one of 'response'"),
    ({"response": 3}, "'response' must be a string"),
    ({"fault": "explode"}, "unknown fault 'explode'"),
    ({"response": "x", "match": "("}, "'match' is not a valid regex"),
    ({"response": "x", "repeat": 0}, "'repeat' must be a positive integer"),
    ({"response": "x", "repeat": "always"}, "'repeat' must be a positive integer"),
    ({"response": "x", "latency_s": -1}, "'latency_s' must be a number"),
    ({"response": "x", "usage": 5}, "'usage' must be an object"),
    ({"tool_calls": [{"name": "f"}], "fault": "html"}, "give exactly one of 'response'"),
    ({"tool_calls": [{"arguments": {}}]}, "'tool_calls' must be a list of"),
    ({"tool_calls": {"name": "f"}}, "'tool_calls' must be a list of"),
    ("just text", "expected an object"),
])
def test_bad_entries_are_named(entry, words):
    with pytest.raises(ScriptError, match="script entry 1: " + words.replace("(", r"\(").replace(")", r"\)")):
        ScriptedServer([{"response": "fine"}, entry])


def test_load_script_reads_and_checks_a_file(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"response": "click (1, 2)"}, {"fault": "http_500"}]))
    assert load_script(good) == [{"response": "click (1, 2)"}, {"fault": "http_500"}]

    broken = tmp_path / "broken.json"
    broken.write_text('[{"response": "x"},\n {"response": }]')
    with pytest.raises(ScriptError, match=r"broken.json: not valid JSON: .*line 2"):
        load_script(broken)
    not_a_list = tmp_path / "object.json"
    not_a_list.write_text('{"response": "x"}')
    with pytest.raises(ScriptError, match="a script is a JSON list of entries, got dict"):
        load_script(not_a_list)
    bad_entry = tmp_path / "bad.json"
    bad_entry.write_text('[{"response": "x"}, {"fault": "oops"}]')
    with pytest.raises(ScriptError, match=r"bad.json: script entry 1: unknown fault 'oops'"):
        load_script(bad_entry)
    with pytest.raises(ScriptError, match="cannot read script .*missing.json"):
        load_script(tmp_path / "missing.json")
    assert issubclass(ScriptError, ModelConfigError)
