"""A task's environment on a local desktop, and OSWorld's setup steps run in it.

Each task gets a fresh temporary home (its programs' HOME, their working folder, OSWorld's ``/home/user``),
a cache folder for getters, and a display (``TaskEnvironment.env`` holds its variables). Paths in steps and
getters may be absolute, start with ``~/`` or OSWorld's ``/home/user/``, which both mean the task's home, or
be relative to the home. In command lines, ``/home/user`` is replaced by the task's home too; ``python``
finds this interpreter (its folder leads PATH), so tasks can start ``python -m pcagent.testbed.sampleapp``.

Steps (``{type, parameters}``):

- ``launch`` {command, shell=False}: start a program and go on (it is ended with the task).
- ``open`` {path}: open a file or folder with ``xdg-open`` where installed, else with the program this desktop
  has for it (pcmanfm for folders, mousepad for text files).
- ``execute`` / ``command`` {command, shell=False, until?}: run a command to its end (120 s at most);
  ``until`` {returncode, stdout, stderr} retries it (up to 5 times) until the output matches.
- ``sleep`` {seconds}.
- ``activate_window`` / ``close_window`` {window_name, strict=False, by_class=False}: through xdotool.
- ``download`` {files: [{url, path}]}: a local path (relative to the task file), a file:// URL, or an
  http(s) URL when the network can be reached.

Only the commands the task declares are run, as child processes; nothing is evaluated in this process.
A step that fails raises SetupError naming the step.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pcagent.testbed.sampleapp_process import stop_process
from pcagent.testbed.xdo import Xdo

__all__ = ["OSWORLD_HOME", "SetupError", "TaskEnvironment", "fetch_file", "run_steps"]

OSWORLD_HOME = "/home/user"  # the VM user's home in OSWorld's task files
COMMAND_TIMEOUT_S = 120.0
DOWNLOAD_TIMEOUT_S = 60.0
_TEXT_SUFFIXES = {".txt", ".csv", ".tsv", ".json", ".md", ".log", ".py", ".sh", ".xml", ".ini", ".cfg",
                  ".conf", ".yaml", ".yml", ".html", ".css", ".js"}


class SetupError(RuntimeError):
    """A setup (or postconfig) step could not be done; the message says which and why."""


@dataclass
class TaskEnvironment:
    root: Path  # the task's scratch folder: home/, cache/
    task_folder: Path  # where the task file is: relative download and cache_file paths start there
    display_env: Mapping[str, str]  # DISPLAY and the accessibility buses
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.cache = self.root / "cache"
        for folder in (self.home, self.cache):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """What the task's programs run with: the display, the fresh home, this interpreter first on PATH."""
        env = dict(os.environ)
        env.pop("WAYLAND_DISPLAY", None)
        env.update(self.display_env)
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            env.pop(name, None)  # the programs keep their settings in the fresh home
        env["HOME"] = str(self.home)
        env["PWD"] = str(self.home)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")])
        return env

    def path(self, given: str) -> Path:
        """A path from a task: OSWorld's /home/user and ~ mean this home; relative paths start there."""
        text = os.fspath(given)
        if text == OSWORLD_HOME or text.startswith(OSWORLD_HOME + "/"):
            return self.home / text[len(OSWORLD_HOME):].lstrip("/")
        if text == "~" or text.startswith("~/"):
            return self.home / text[1:].lstrip("/")
        path = Path(text)
        return path if path.is_absolute() else self.home / path

    def command(self, command: str | list[str]) -> str | list[str]:
        """A task's command line with OSWorld's home replaced by this one."""
        home = str(self.home)
        pattern = re.compile(re.escape(OSWORLD_HOME) + r"(?!\w)")
        if isinstance(command, str):
            return pattern.sub(home, command)
        return [pattern.sub(home, str(part)) for part in command]

    def run_command(self, command: str | list[str], shell: bool = False,
                    timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run a declared command to its end in the home folder; its output is returned as text."""
        command = self.command(command)
        if shell and isinstance(command, list):
            command = shlex.join(command)
        elif not shell and isinstance(command, str):
            command = shlex.split(command)
        return subprocess.run(command, shell=shell, env=self.env, cwd=self.home, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, errors="replace", timeout=timeout)

    def launch(self, command: str | list[str], shell: bool = False) -> subprocess.Popen:
        """Start a declared program and leave it running (ended by `close`)."""
        command = self.command(command)
        if shell and isinstance(command, list):
            command = shlex.join(command)
        elif not shell and isinstance(command, str):
            command = shlex.split(command)
        log = open(self.root / f"launch-{len(self.processes)}.log", "wb")
        try:
            proc = subprocess.Popen(command, shell=shell, env=self.env, cwd=self.home, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        """End every program the steps started, newest first."""
        while self.processes:
            stop_process(self.processes.pop(), grace_s=3)


def fetch_file(url: str, dest: Path, task_folder: Path) -> None:
    """Copy a local path or file:// URL, or download an http(s) URL, to dest."""
    parsed = urllib.parse.urlparse(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if parsed.scheme in ("", "file"):
        source = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else url)
        source = source if source.is_absolute() else task_folder / source
        if not source.is_file():
            raise SetupError(f"cannot download {url}: no such file {source}")
        shutil.copyfile(source, dest)
        return
    if parsed.scheme not in ("http", "https"):
        raise SetupError(f"cannot download {url}: only local paths, file:// and http(s) URLs are supported")
    import httpx

    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=DOWNLOAD_TIMEOUT_S) as response:
            response.raise_for_status()
            with open(dest, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as exc:
        raise SetupError(f"cannot download {url} (is the network reachable from here?): {exc}") from exc


def _until_met(done: subprocess.CompletedProcess, until: dict) -> bool:
    if "returncode" in until and done.returncode != until["returncode"]:
        return False
    return all(until[key] in getattr(done, key) for key in ("stdout", "stderr") if key in until)


def _execute(env: TaskEnvironment, p: dict) -> None:
    tries = 5 if p.get("until") else 1
    for attempt in range(tries):
        try:
            done = env.run_command(p["command"], shell=p.get("shell", False))
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SetupError(f"cannot run {p['command']!r}: {exc}") from exc
        if not p.get("until") or _until_met(done, p["until"]):
            return
        time.sleep(0.5)
    raise SetupError(f"{p['command']!r} never met until={p['until']!r}")


def _open(env: TaskEnvironment, p: dict) -> None:
    path = env.path(p["path"])
    if not path.exists():
        raise SetupError(f"cannot open {path}: no such file or folder")
    if shutil.which("xdg-open"):
        program = ["xdg-open"]
    elif path.is_dir() and shutil.which("pcmanfm"):
        program = ["pcmanfm"]
    elif path.suffix.lower() in _TEXT_SUFFIXES and shutil.which("mousepad"):
        program = ["mousepad"]
    else:
        raise SetupError(f"no program to open {path.name} here (install xdg-utils)")
    env.launch([*program, str(path)])


def _window_ids(env: TaskEnvironment, p: dict, timeout: float = 10.0) -> list[str]:
    name = p["window_name"]
    pattern = f"^{re.escape(name)}$" if p.get("strict", False) else re.escape(name)
    by = "--class" if p.get("by_class", False) else "--name"
    xdo = Xdo(env.env)
    deadline = time.monotonic() + timeout
    while True:  # a just launched program may not have mapped its window yet
        try:
            return xdo.run("search", "--onlyvisible", by, pattern).split()
        except subprocess.CalledProcessError:  # xdotool found none
            if time.monotonic() > deadline:
                raise SetupError(f"no window named {name!r}") from None
            time.sleep(0.2)


def _window(env: TaskEnvironment, p: dict, action: str) -> None:
    xdo = Xdo(env.env)
    for window in _window_ids(env, p):
        xdo.run(action, window)
        if action == "windowactivate":
            return


def _run_step(env: TaskEnvironment, kind: str, p: dict) -> None:
    if kind == "launch":
        env.launch(p["command"], shell=p.get("shell", False))
    elif kind in ("execute", "command"):
        _execute(env, p)
    elif kind == "open":
        _open(env, p)
    elif kind == "sleep":
        time.sleep(float(p["seconds"]))
    elif kind == "activate_window":
        _window(env, p, "windowactivate")
    elif kind == "close_window":
        _window(env, p, "windowclose")
    elif kind == "download":
        for item in p["files"]:
            fetch_file(item["url"], env.path(item["path"]), env.task_folder)
    else:
        raise SetupError(f"setup step type {kind!r} is not supported here")


def run_steps(env: TaskEnvironment, steps: list[dict[str, Any]], where: str = "setup") -> None:
    """Run steps in order; the first that fails raises SetupError."""
    for index, step in enumerate(steps or []):
        kind = step.get("type")
        try:
            _run_step(env, kind, step.get("parameters") or {})
        except SetupError as exc:
            raise SetupError(f"{where} step {index + 1} ({kind}): {exc}") from exc
        except (KeyError, TypeError, ValueError, OSError, subprocess.SubprocessError) as exc:
            raise SetupError(f"{where} step {index + 1} ({kind}): {type(exc).__name__}: {exc}") from exc
