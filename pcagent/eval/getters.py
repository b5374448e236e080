"""OSWorld's getters on a local task environment: what a metric compares.

- ``vm_file`` {path, dest, multi=False, gives=[0]}: the file copied into the task's cache (as ``dest``); its
  path, or None when the file is not there (with ``multi``, lists of paths and dests, and ``gives`` picks the
  ones returned).
- ``vm_command_line`` {command, shell=False}: the command's standard output; ``vm_command_error``: its
  standard error.
- ``rule`` {rules}: the rules themselves.
- ``cache_file`` {path}: a file in the task's cache, else beside the task file (bundled expectations);
  FileNotFoundError when neither has it.
- ``cloud_file`` {path (a URL), dest, multi, gives}: downloaded (or copied, for local paths and file:// URLs)
  into the cache.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from pcagent.eval.setup import SetupError, TaskEnvironment, fetch_file

__all__ = ["get_state"]


def _picked(config: dict, paths: list[Path | None]) -> Any:
    gives = config.get("gives", [0]) if config.get("multi", False) else [0]
    picked = [str(p) if p is not None else None for i, p in enumerate(paths) if i in gives]
    return picked[0] if len(picked) == 1 else picked


def _pairs(config: dict) -> list[tuple[str, str]]:
    if config.get("multi", False):
        return list(zip(config["path"], config["dest"]))
    return [(config["path"], config.get("dest") or Path(str(config["path"])).name)]


def _vm_file(env: TaskEnvironment, config: dict) -> Any:
    paths: list[Path | None] = []
    for source, dest in _pairs(config):
        found = env.path(source)
        if not found.is_file():
            paths.append(None)  # OSWorld's getter answers None; the metric then scores 0
            continue
        copy = env.cache / dest
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found, copy)
        paths.append(copy)
    return _picked(config, paths)


def _cloud_file(env: TaskEnvironment, config: dict) -> Any:
    paths: list[Path | None] = []
    for url, dest in _pairs(config):
        copy = env.cache / dest
        try:
            fetch_file(url, copy, env.task_folder)
        except SetupError as exc:
            raise FileNotFoundError(str(exc)) from exc
        paths.append(copy)
    return _picked(config, paths)


def _cache_file(env: TaskEnvironment, config: dict) -> str:
    for folder in (env.cache, env.task_folder):
        candidate = folder / config["path"]
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"cache_file {config['path']!r} is neither in the cache nor beside the task file")


def _command(env: TaskEnvironment, config: dict, stream: str) -> str:
    try:
        done = env.run_command(config["command"], shell=config.get("shell", False))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FileNotFoundError(f"cannot run {config['command']!r}: {exc}") from exc
    return getattr(done, stream)


def get_state(env: TaskEnvironment, config: dict | None) -> Any:
    """The state a getter config describes (None for no config)."""
    if not config:
        return None
    kind = config.get("type")
    if kind == "vm_file":
        return _vm_file(env, config)
    if kind == "vm_command_line":
        return _command(env, config, "stdout")
    if kind == "vm_command_error":
        return _command(env, config, "stderr")
    if kind == "rule":
        return config["rules"]
    if kind == "cache_file":
        return _cache_file(env, config)
    if kind == "cloud_file":
        return _cloud_file(env, config)
    raise ValueError(f"getter {kind!r} is not supported here")
