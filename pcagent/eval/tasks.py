"""Tasks in OSWorld's JSON format: loading them, and saying which ones this local desktop cannot run.

A task file holds one object: ``id``, ``snapshot``, ``instruction``, ``source``, ``related_apps``,
``config`` (setup steps ``{type, parameters}``), ``evaluator`` ({func, conj, result, expected, options,
postconfig}), ``proxy``, ``fixed_ip``, ``possibility_of_env_change``. A task's domain is its ``domain`` key
if it has one, else the name of the folder it sits in (OSWorld keeps ``examples/<domain>/<id>.json``).

`unsupported_reason` names the first thing a task needs that a fresh local desktop does not give: a VM
snapshot, a proxy, a fixed IP, a Chrome debugging port, Google Drive, or a setup step, getter, metric or
table rule this package does not implement. Such a task is reported as unsupported, never run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcagent.eval.metrics import METRICS, unsupported_metric_options

__all__ = ["GETTERS", "LOCAL_SNAPSHOTS", "SETUP_STEPS", "Task", "TaskError", "load_task", "load_tasks",
           "unsupported_reason"]

SETUP_STEPS = ("launch", "open", "execute", "command", "sleep", "activate_window", "close_window", "download")
GETTERS = ("vm_file", "vm_command_line", "vm_command_error", "rule", "cache_file", "cloud_file")
# Snapshots that mean "the machine as it starts": anything else names a VM image to revert to.
LOCAL_SNAPSHOTS = (None, "", "local", "init_state")
# Why OSWorld's other setup steps and getters cannot run here, by name or name prefix.
_NEEDS = {
    "chrome": "a Chrome remote debugging port", "active_tab": "a Chrome remote debugging port",
    "open_tabs": "a Chrome remote debugging port", "page_info": "a Chrome remote debugging port",
    "bookmarks": "a Chrome profile", "history": "a Chrome profile", "cookie": "a Chrome profile",
    "googledrive": "Google Drive", "login": "an online account login", "update_browse_history": "a Chrome profile",
    "accessibility_tree": "OSWorld's accessibility-tree server", "vlc": "VLC's HTTP interface",
    "proxy": "a proxy",
}


class TaskError(ValueError):
    """A task file that cannot be read as a task; the message names the file and the field."""


@dataclass
class Task:
    id: str
    instruction: str
    domain: str
    path: Path  # the task file; files a task names by a relative path are read beside it
    raw: dict[str, Any] = field(repr=False)

    @property
    def config(self) -> list[dict]:
        return self.raw.get("config") or []

    @property
    def evaluator(self) -> dict:
        return self.raw.get("evaluator") or {}

    @property
    def related_apps(self) -> list[str]:
        return list(self.raw.get("related_apps") or [])

    @property
    def funcs(self) -> list[str]:
        func = self.evaluator.get("func")
        return [func] if isinstance(func, str) else list(func or [])


def load_task(path: Path | str, domain: str | None = None) -> Task:
    """One task file; raises TaskError when it is not a task."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TaskError(f"{path}: cannot read the task: {exc}") from exc
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: a task is a JSON object, not {type(raw).__name__}")
    for key, kind in (("id", str), ("instruction", str), ("evaluator", dict)):
        if not isinstance(raw.get(key), kind):
            raise TaskError(f"{path}: the task needs {key!r} ({kind.__name__})")
    if not isinstance(raw.get("config", []), list):
        raise TaskError(f"{path}: 'config' must be a list of setup steps")
    func = raw["evaluator"].get("func")
    if not (isinstance(func, str) or (isinstance(func, list) and func and all(isinstance(f, str) for f in func))):
        raise TaskError(f"{path}: evaluator.func must be a metric name or a list of them")
    if "/" in raw["id"] or raw["id"] in ("", ".", ".."):
        raise TaskError(f"{path}: the task id {raw['id']!r} cannot name a folder")
    return Task(id=raw["id"], instruction=raw["instruction"], domain=str(raw.get("domain") or domain or path.parent.name),
                path=path.resolve(), raw=raw)


def load_tasks(paths: list[Path | str]) -> list[Task]:
    """Every task in these files and folders (folders are searched recursively for *.json, skipping
    trajectory folders), sorted by domain and id. Two tasks with one id raise TaskError."""
    tasks: list[Task] = []
    for given in map(Path, paths):
        if given.is_dir():
            found = [load_task(p) for p in sorted(given.rglob("*.json")) if _looks_like_task(p)]
            if not found:
                raise TaskError(f"{given}: no task files (*.json with an instruction and an evaluator) in this folder")
            tasks += found
        elif given.is_file():
            tasks.append(load_task(given))
        else:
            raise TaskError(f"{given}: no such file or folder")
    seen: dict[str, Path] = {}
    for task in tasks:
        if task.id in seen:
            raise TaskError(f"task id {task.id!r} is in both {seen[task.id]} and {task.path}")
        seen[task.id] = task.path
    return sorted(tasks, key=lambda t: (t.domain, t.id))


def _looks_like_task(path: Path) -> bool:
    """In a folder, JSON files that are clearly something else (a trajectory's meta.json, a task's data
    file) are passed over; one with an instruction or an evaluator is a task, and is checked as one."""
    if (path.parent / "steps.jsonl").exists():
        return False
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True  # load_task says what is wrong with it
    return not isinstance(raw, dict) or "instruction" in raw or "evaluator" in raw


def _needs(name: str) -> str | None:
    for prefix, need in _NEEDS.items():
        if name.startswith(prefix) or name.endswith(prefix):
            return need
    return None


def _steps_reason(steps: Any, where: str) -> str | None:
    for index, step in enumerate(steps or []):
        kind = step.get("type") if isinstance(step, dict) else None
        if kind in SETUP_STEPS:
            continue
        need = _needs(str(kind))
        return (f"{where} step {index + 1} ({kind}) needs {need}" if need
                else f"{where} step {index + 1} has type {kind!r}, which is not supported here "
                     f"(supported: {', '.join(SETUP_STEPS)})")
    return None


def _getter_reason(spec: Any, role: str) -> str | None:
    specs = spec if isinstance(spec, list) else [spec]
    for item in specs:
        if item is None or item == {}:
            continue
        kind = item.get("type") if isinstance(item, dict) else None
        if kind in GETTERS:
            continue
        need = _needs(str(kind))
        return (f"the {role} getter {kind!r} needs {need}" if need
                else f"the {role} getter {kind!r} is not supported here (supported: {', '.join(GETTERS)})")
    return None


def unsupported_reason(task: Task) -> str | None:
    """Why this task cannot run on a fresh local desktop, or None when it can."""
    raw = task.raw
    if raw.get("snapshot") not in LOCAL_SNAPSHOTS:
        return f"needs the VM snapshot {raw['snapshot']!r} (only a fresh local desktop is available)"
    if raw.get("proxy"):
        return "needs a proxy (proxy: true)"
    if raw.get("fixed_ip"):
        return "needs a fixed IP address (fixed_ip: true)"
    evaluator = task.evaluator
    reason = _steps_reason(task.config, "setup") or _steps_reason(evaluator.get("postconfig"), "postconfig")
    if reason:
        return reason
    funcs = task.funcs
    options = evaluator.get("options")
    options = options if isinstance(options, list) else [options] * len(funcs)
    for index, func in enumerate(funcs):
        if func != "infeasible" and func not in METRICS:
            need = _needs(func)
            return f"the metric {func!r} needs {need}" if need else f"the metric {func!r} is not supported here"
        option = options[index] if index < len(options) else None
        if reason := unsupported_metric_options(func, option or {}):
            return reason
    if funcs == ["infeasible"]:
        return None
    if len(funcs) > 1 and evaluator.get("conj", "and") not in ("and", "or"):
        return f"evaluator.conj is {evaluator.get('conj')!r}: only 'and' and 'or' are defined"
    return _getter_reason(evaluator.get("result"), "result") or _getter_reason(evaluator.get("expected"), "expected")
