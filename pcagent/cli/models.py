"""`pcagent models ...`: list profiles, serve a scripted model for dry runs, ask a profile a question.

`register(commands)` adds the group to the CLI's subparsers; every handler returns an exit code and
prints errors as one clear line (never a traceback, never an API key).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

EXAMPLE_PROFILE = """\
[profiles.local]
model = "Qwen/Qwen2.5-VL-7B-Instruct"
base_url = "http://127.0.0.1:8000/v1"
# api_key_env = "OPENAI_API_KEY"   # for hosted APIs: the variable that holds the key"""


def _key_source(profile) -> str:
    """Where the key comes from, and whether it is there; never the key."""
    if profile.api_key_env:
        state = "set" if os.environ.get(profile.api_key_env) else "not set"
        return f"key ${profile.api_key_env} ({state})"
    if profile.api_key_keyring:
        return f"key from keyring {profile.api_key_keyring.partition(':')[0]!r}"
    return "no key"


def _list(args: argparse.Namespace) -> int:
    from models.errors import ModelError
    from models.profile import safe_url
    from models.profiles import default_config_path, load_profiles

    path = Path(args.config).expanduser() if args.config else default_config_path()
    try:
        profiles = load_profiles(path)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = "" if path.exists() else " (does not exist)"
    print(f"Model profiles file: {path}{state}")
    if not profiles:
        print(f"No profiles. Add one to that file, for example:\n\n{EXAMPLE_PROFILE}")
        return 0
    for name in sorted(profiles):
        p = profiles[name]
        target = safe_url(p.base_url) if p.backend == "openai" else (p.device or ",".join(p.providers))
        described = " ".join(part for part in (p.backend, p.model or "(server default model)", target) if part)
        print(f"  {name}: {described} [{_key_source(p)}]")
    return 0


def _serve_script(args: argparse.Namespace) -> int:
    from models.scripted_server import ScriptedServer, ScriptError, load_script

    try:
        script = load_script(args.script)
        server = ScriptedServer(script, host=args.host, port=args.port, model=args.model,
                                log=lambda line: print(line, flush=True))
        server.start()
    except ScriptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Scripted model server at {server.base_url} ({len(script)} entries); Ctrl-C stops it.\n"
          f"Use it with: PCAGENT_PROFILE_SCRIPTED_BASE_URL={server.base_url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print(f"Stopped after {len(server.requests)} request(s).", flush=True)
    return 0


def _ask(args: argparse.Namespace) -> int:
    from models.base import Message
    from models.errors import ModelError
    from models.factory import open_model
    from models.images import UnreadableImageError, image_from_bytes
    from models.profiles import get_profile

    try:
        profile = get_profile(args.profile, args.config, timeout_s=args.timeout, max_tokens=args.max_tokens)
        content: list = [args.prompt]
        if args.image:
            content.append(image_from_bytes(Path(args.image).read_bytes()))
        model = open_model(profile)
        try:
            response = model.generate([Message.of("user", *content)])
        finally:
            model.close()
    except (ModelError, UnreadableImageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot read image {args.image}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(response.text)
    usage = response.usage
    tokens = f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens" \
        if usage.total_tokens is not None else "tokens not reported"
    print(f"[{args.profile}: {response.model or profile.model}, {tokens}, {response.latency_s:.2f} s, "
          f"finish {response.finish_reason}]", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `models list | serve-script | ask` to the CLI's subparsers; returns the group's parser."""
    group = commands.add_parser("models", help="model profiles: list them, ask one, serve a scripted model")
    sub = group.add_subparsers(dest="models_command", required=True, metavar="SUBCOMMAND")

    listing = sub.add_parser("list", help="the profiles and the file they come from (never keys)")
    listing.add_argument("--config", metavar="FILE", help="profiles file (default: $PCAGENT_MODELS_FILE "
                                                          "or ~/.config/pcagent/models.toml)")
    listing.set_defaults(func=_list)

    serve = sub.add_parser("serve-script", help="serve an OpenAI-compatible model that answers from a "
                                                "JSON script, for dry runs; runs until Ctrl-C")
    serve.add_argument("script", metavar="SCRIPT.json", help="a JSON list of entries like "
                                                             "{\"response\": \"click (10, 20)\"}")
    serve.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--model", default="scripted", help="model name listed at /v1/models")
    serve.set_defaults(func=_serve_script)

    ask = sub.add_parser("ask", help="send one prompt (and image) to a profile; print answer, tokens, latency")
    ask.add_argument("profile")
    ask.add_argument("prompt")
    ask.add_argument("--image", metavar="PATH", help="an image to send with the prompt")
    ask.add_argument("--config", metavar="FILE", help="profiles file")
    ask.add_argument("--timeout", type=float, help="seconds to wait (overrides the profile)")
    ask.add_argument("--max-tokens", type=int, help="answer length limit (overrides the profile)")
    ask.set_defaults(func=_ask)
    return group
