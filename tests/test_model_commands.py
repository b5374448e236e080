"""`pcagent models ...` through register(), in process and as a real subprocess."""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image

from models.base import Message
from models.images import image_from_data_url
from models.backends.openai_compat import OpenAICompatibleModel
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer
from pcagent.cli.models import register

REPO_ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-cli-test-0123456789"
HARNESS = ("import argparse, sys; from pcagent.cli.models import register; "
           "parser = argparse.ArgumentParser(prog='pcagent'); "
           "register(parser.add_subparsers(dest='command', required=True)); "
           "args = parser.parse_args(sys.argv[1:]); sys.exit(args.func(args))")


def main(argv: list[str]) -> int:
    """What pcagent.cli.main.main will do once the lead wires register() in."""
    parser = argparse.ArgumentParser(prog="pcagent")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in list(os.environ):
        if variable.startswith("PCAGENT_PROFILE_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "models.toml"))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer([{"response": "the Save button is at (40, 12)",
                          "usage": {"prompt_tokens": 120, "completion_tokens": 9}},
                         {"fault": "http_401"}]) as running:
        yield running


# --- list ---

def test_list_without_a_file_says_where_it_would_be(tmp_path, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert f"Model profiles file: {tmp_path / 'models.toml'} (does not exist)" in out
    assert "[profiles.local]" in out


def test_list_shows_profiles_and_key_sources_but_never_keys(tmp_path, capsys, monkeypatch):
    (tmp_path / "models.toml").write_text(
        '[profiles.hosted]\nmodel = "gpt-4o"\nbase_url = "https://api.example.com/v1"\n'
        'api_key_env = "TEST_CLI_KEY"\n'
        '[profiles.local]\nbase_url = "http://127.0.0.1:8000/v1"\n'
        '[profiles.vault]\nbase_url = "https://v.example.com/v1"\napi_key_keyring = "vault:me"\n'
        '[profiles.inurl]\nbase_url = "https://g.example.com/v1?key=URLSECRET"\n')
    monkeypatch.setenv("TEST_CLI_KEY", KEY)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "  hosted: openai gpt-4o https://api.example.com/v1 [key $TEST_CLI_KEY (set)]" in out
    assert "  local: openai (server default model) http://127.0.0.1:8000/v1 [no key]" in out
    assert "  vault: openai (server default model) https://v.example.com/v1 [key from keyring 'vault']" in out
    assert "  inurl: openai (server default model) https://g.example.com/v1?key=*** [no key]" in out
    assert KEY not in out and "URLSECRET" not in out


def test_list_reports_a_bad_file(tmp_path, capsys):
    (tmp_path / "models.toml").write_text("[profiles.x]\nbackend = 'pytorch'\n")
    assert main(["models", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "field 'backend'" in err and "Traceback" not in err


# --- ask ---

def test_ask_sends_prompt_and_image_and_prints_answer_tokens_latency(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PCAGENT_PROFILE_DRY_BASE_URL", server.base_url)
    monkeypatch.setenv("PCAGENT_PROFILE_DRY_IMAGE_MAX_PIXELS", "10000")
    image_path = tmp_path / "screen.png"
    Image.new("RGB", (400, 100), (0, 128, 255)).save(image_path)
    assert main(["models", "ask", "dry", "Where is Save?", "--image", str(image_path), "--max-tokens", "50"]) == 0
    out, err = capsys.readouterr()
    assert out == "the Save button is at (40, 12)\n"
    assert "120 prompt + 9 completion tokens" in err and " s, finish stop]" in err
    [body] = server.requests
    assert body["max_tokens"] == 50 and body["messages"][0]["content"][0]["text"] == "Where is Save?"
    assert image_from_data_url(body["messages"][0]["content"][1]["image_url"]["url"]).size == (200, 50)


def test_ask_errors_are_one_clear_line(server, tmp_path, capsys, monkeypatch):
    assert main(["models", "ask", "nowhere", "hi"]) == 1
    assert "error: no model profile 'nowhere'" in capsys.readouterr().err

    monkeypatch.setenv("PCAGENT_PROFILE_DRY_BASE_URL", server.base_url)
    assert main(["models", "ask", "dry", "hi", "--image", str(tmp_path / "missing.png")]) == 1
    assert "error: cannot read image" in capsys.readouterr().err
    (tmp_path / "text.png").write_text("not an image")
    assert main(["models", "ask", "dry", "hi", "--image", str(tmp_path / "text.png")]) == 1
    assert "error: not a readable image" in capsys.readouterr().err

    monkeypatch.setenv("PCAGENT_PROFILE_DRY_API_KEY_ENV", "TEST_CLI_KEY")
    monkeypatch.setenv("TEST_CLI_KEY", KEY)
    main(["models", "ask", "dry", "first"])  # uses the good entry; the next one is the 401
    capsys.readouterr()
    assert main(["models", "ask", "dry", "hi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: profile 'dry': the server at") and "401" in err
    assert KEY not in err and "Traceback" not in err


# --- serve-script ---

def test_serve_script_rejects_a_bad_script(tmp_path, capsys):
    script = tmp_path / "script.json"
    script.write_text('[{"reply": "x"}]')
    assert main(["models", "serve-script", str(script)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {script}: script entry 0: unknown key(s) reply")


def _lines(stream: io.TextIOBase) -> tuple["queue.Queue[str]", threading.Thread]:
    """Lines of a subprocess's output, read on a thread (ending at EOF) so that waiting can time out."""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True)
    reader.start()
    return lines, reader


def _serve_and_ask(command: list[str], tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"response": "click (5, 6)", "match": "Save"}]))
    proc = subprocess.Popen([*command, "models", "serve-script", str(script)], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines, reader = _lines(proc.stdout)
        banner = lines.get(timeout=15)
        assert banner.startswith("Scripted model server at http://127.0.0.1:"), banner
        base_url = banner.split(" at ")[1].split(" ")[0]
        model = OpenAICompatibleModel(ModelProfile(name="dry", base_url=base_url, max_retries=0, timeout_s=5))
        with model:
            assert model.generate([Message.of("user", "Save the file")]).text == "click (5, 6)"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        reader.join(timeout=5)
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert any("entry 0" in line for line in rest) and "Stopped after 1 request(s).\n" in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_script_answers_a_real_request_in_a_subprocess(tmp_path):
    _serve_and_ask([sys.executable, "-c", HARNESS], tmp_path)


def test_pcagent_models_serve_script_once_wired_into_the_cli(tmp_path):
    wired = subprocess.run([sys.executable, "-m", "pcagent", "models", "--help"], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)
    if wired.returncode != 0:
        pytest.skip("`pcagent models` is not wired into pcagent/cli/main.py yet")
    _serve_and_ask([sys.executable, "-m", "pcagent"], tmp_path)
