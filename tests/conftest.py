"""Shared fixtures: a virtual X display, the sample app running on it, xdotool input, screenshots.

- ``xdisplay`` (session): a started ``VirtualDisplay(1280, 800, accessibility=True)``, no window manager.
- ``wm_display`` (session): the same with openbox managing it, as on a user's desktop.
- ``launch_sample_app`` (function): ``launch_sample_app(*args, display=None, timeout=20) -> SampleApp``;
  every app it started is ended at teardown.
- ``sample_app`` (function): ``launch_sample_app()`` with the default layout at (0, 0), 1000x700.
- ``xdo`` (function): an ``Xdo`` driver bound to ``xdisplay``.
- ``grab`` (function): ``grab(region=None) -> PIL.Image`` of ``xdisplay``.
- ``qapp_args`` (session): pytest-qt's QApplication (``qtbot``, ``qapp``) runs on ``wm_display`` (xcb).
- ``serve`` (function): ``serve(script) -> ScriptedServer``, a started loopback model server (the OpenAI chat
  API answering from ``script``); every server it started is stopped at teardown.

The helpers also import directly: ``from pcagent.testbed.xdo import Xdo, grab``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # tests/ has no __init__.py; this makes ``tests.fakes`` and ``tests.pty_process`` importable
    sys.path.insert(0, str(REPO_ROOT))

from grounding.base import box_center  # noqa: E402
from models.scripted_server import ScriptedServer  # noqa: E402
from pcagent.testbed.sampleapp_process import stop_process  # noqa: E402
from pcagent.testbed.virtual_display import DisplayError, VirtualDisplay  # noqa: E402
from pcagent.testbed.xdo import Xdo, grab as grab_screen  # noqa: E402

EventPredicate = Callable[[dict], bool]


@pytest.fixture(autouse=True)
def _no_user_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's own settings.toml or models.toml, or writes to their cache: an empty config
    folder and a cache folder of the test run's own (a test that sets its own wins, it sets them later)."""
    home = tmp_path_factory.getbasetemp() / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    for name in ("PCAGENT_SETTINGS_FILE", "PCAGENT_MODELS_FILE"):
        monkeypatch.delenv(name, raising=False)


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where a missing tool is a broken setup."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


class SampleApp:
    """A running ``python -m pcagent.testbed.sampleapp`` and its JSON-lines event log."""

    def __init__(self, proc: subprocess.Popen, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.ready: dict = {}
        self.widgets: dict[str, tuple[int, int, int, int]] = {}
        self.window: tuple[int, int, int, int] = (0, 0, 0, 0)
        self._returned: set[int] = set()  # indexes of events wait_for has handed out

    def events(self, kind: str | None = None) -> list[dict]:
        """Every event logged so far (re-reads the log), or only those named ``kind``."""
        try:
            lines = self.log_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line still being written
                break
        return [e for e in events if kind is None or e.get("event") == kind]

    def wait_for(self, what: str | EventPredicate, timeout: float = 5.0, **fields: Any) -> dict:
        """Wait for the next matching event that no earlier ``wait_for`` returned, and return it.

        ``what`` is an event name or a predicate on the event dict; ``fields`` must match too,
        e.g. ``wait_for("button_clicked", name="Save")``.
        """
        def matches(event: dict) -> bool:
            if isinstance(what, str) and event.get("event") != what:
                return False
            if callable(what) and not what(event):
                return False
            return all(event.get(k) == v for k, v in fields.items())

        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self.events()):
                if index not in self._returned and matches(event):
                    self._returned.add(index)
                    return event
            if self.proc.poll() is not None:
                raise AssertionError(f"sample app exited with {self.proc.returncode} while waiting for {what!r}")
            if time.monotonic() > deadline:
                tail = [e.get("event") for e in self.events()][-15:]
                raise AssertionError(f"no {what!r} {fields or ''} event within {timeout} s; last events: {tail}")
            time.sleep(0.02)

    def rect(self, name: str) -> tuple[int, int, int, int]:
        """Global (left, top, right, bottom) of a widget from the ready event; right/bottom exclusive."""
        return self.widgets[name]

    def center(self, name: str) -> tuple[int, int]:
        """Global centre of a widget from the ready event."""
        return box_center(self.widgets[name])

    def stop(self) -> None:
        """End the app (by its pid): SIGTERM, then SIGKILL."""
        stop_process(self.proc)


@pytest.fixture(scope="session")
def xdisplay() -> Iterator[VirtualDisplay]:
    """A 1280x800 Xvfb display with a private D-Bus session bus and the AT-SPI bus."""
    if not shutil.which("Xvfb"):
        skip_or_fail("Xvfb is not installed: apt-get install xvfb")
    try:
        display = VirtualDisplay(1280, 800, accessibility=True).start()
    except DisplayError as exc:
        skip_or_fail(str(exc))
    yield display
    display.stop()


@pytest.fixture(scope="session")
def wm_display() -> Iterator[VirtualDisplay]:
    """A 1280x800 Xvfb display with the accessibility buses and openbox: frames, title bars, placement."""
    for tool in ("Xvfb", "openbox"):
        if not shutil.which(tool):
            skip_or_fail(f"{tool} is not installed: run installer/install-debian.sh --test")
    try:
        display = VirtualDisplay(1280, 800, accessibility=True, window_manager="openbox").start()
    except DisplayError as exc:
        skip_or_fail(str(exc))
    yield display
    display.stop()


@pytest.fixture(scope="session")
def qapp_args(wm_display: VirtualDisplay) -> list[str]:
    """pytest-qt's arguments for its QApplication: the test bed's display with a window manager.

    Here rather than per test module: pytest-qt makes one QApplication for the whole session, so whichever
    module created it first would otherwise choose the display for every Qt test after it.
    """
    return ["pcagent-tests", "-platform", "xcb", "-display", wm_display.display]


@pytest.fixture
def a11y(xdisplay: VirtualDisplay):
    """The AT-SPI backend on the virtual display's accessibility bus."""
    from grounding.accessibility import AtSpiAccessibility, open_accessibility

    if xdisplay.accessibility_error:
        skip_or_fail(xdisplay.accessibility_error)
    backend = open_accessibility(env=dict(xdisplay.env))
    assert isinstance(backend, AtSpiAccessibility), backend.reason
    yield backend
    backend.close()


@pytest.fixture
def xdo(xdisplay: VirtualDisplay) -> Xdo:
    """xdotool bound to the virtual display."""
    if not shutil.which("xdotool"):
        skip_or_fail("xdotool is not installed: apt-get install xdotool")
    return Xdo(xdisplay.child_env())


@pytest.fixture
def grab(xdisplay: VirtualDisplay) -> Callable[..., Any]:
    """``grab(region=None) -> PIL.Image``: a screenshot of the virtual display (or of a region)."""
    return lambda region=None: grab_screen(xdisplay, region)


@pytest.fixture
def launch_sample_app(xdisplay: VirtualDisplay, tmp_path: Path) -> Iterator[Callable[..., SampleApp]]:
    """Factory: ``launch_sample_app(*args, display=None, timeout=20) -> SampleApp``.

    ``args`` go to ``python -m pcagent.testbed.sampleapp`` (e.g. "--layout", "moved"); ``display`` is another
    started VirtualDisplay to run on (default: ``xdisplay``). Returns once the app logged "ready".
    """
    apps: list[SampleApp] = []

    def launch(*args: object, display: VirtualDisplay | None = None, timeout: float = 20.0) -> SampleApp:
        log_path = tmp_path / f"sampleapp-{len(apps)}.jsonl"
        stderr_path = tmp_path / f"sampleapp-{len(apps)}.stderr"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pcagent.testbed.sampleapp", "--log", str(log_path), *map(str, args)],
                env=(display or xdisplay).child_env(), cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=stderr,
            )
        app = SampleApp(proc, log_path)
        apps.append(app)
        try:
            app.ready = app.wait_for("ready", timeout=timeout)
        except AssertionError as exc:
            app.stop()
            raise AssertionError(f"{exc}\nstderr:\n{stderr_path.read_text(errors='replace')[-3000:]}") from exc
        app.widgets = {name: tuple(rect) for name, rect in app.ready["widgets"].items()}
        app.window = tuple(app.ready["window"])
        return app

    yield launch
    for app in apps:
        app.stop()


@pytest.fixture
def sample_app(launch_sample_app: Callable[..., SampleApp]) -> SampleApp:
    """The sample app in its default layout at (0, 0), 1000x700, ready."""
    return launch_sample_app()


@pytest.fixture
def serve() -> Iterator[Callable[[list[dict]], ScriptedServer]]:
    """``serve(script)``: a started ScriptedServer; all of them are stopped at teardown."""
    servers: list[ScriptedServer] = []

    def start(script: list[dict]) -> ScriptedServer:
        servers.append(ScriptedServer(script).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
