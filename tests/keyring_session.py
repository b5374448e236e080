"""A real OS keyring for tests: gnome-keyring's Secret Service in a private D-Bus session bus.

    with secret_service(tmp_path) as env:      # env: DBUS_SESSION_BUS_ADDRESS and friends
        keyring.set_keyring(SecretService.Keyring())   # with those variables set in os.environ

or the fixtures ``real_keyring`` and ``no_keyring`` (import them into the test module).

Nothing touches the user's own keyring: the bus, the keyring files and the runtime folder are the test's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pcagent.testbed.virtual_display import end_process_group, read_line_with_timeout

SECRETS_NAME = "org.freedesktop.secrets"


def _ending_with_this_process(command: list[str]) -> list[str]:
    """The command run so that it gets SIGTERM when the test process dies: a crashed test leaves no daemon
    behind (setpriv's --pdeathsig; where it is missing, the fixture's own teardown is all there is)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


def _name_has_owner(address: str, name: str) -> bool:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    with open_dbus_connection(bus=address) as connection:
        reply = connection.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (name,)), timeout=2)
    return bool(reply.body and reply.body[0])


@contextmanager
def secret_service(tmp_path: Path, timeout: float = 15.0) -> Iterator[dict[str, str]]:
    """Start dbus-daemon and an unlocked gnome-keyring (secrets only); yield the environment to use them."""
    daemon, keyring_daemon = shutil.which("dbus-daemon"), shutil.which("gnome-keyring-daemon")
    if not daemon or not keyring_daemon:
        pytest.skip("needs dbus-daemon and gnome-keyring-daemon: apt-get install dbus gnome-keyring")
    home = tmp_path / "keyring-home"
    runtime = tmp_path / "keyring-runtime"
    for folder in (home, runtime):
        folder.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_RUNTIME_DIR": str(runtime)}
    processes: list[subprocess.Popen] = []
    try:
        bus = subprocess.Popen(_ending_with_this_process([daemon, "--session", "--nofork", "--nopidfile",
                                                          "--print-address=1"]), env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        processes.append(bus)
        address = read_line_with_timeout(bus.stdout.fileno(), timeout).strip()
        assert address, f"dbus-daemon printed no address (exit {bus.poll()})"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        secrets = subprocess.Popen(_ending_with_this_process([keyring_daemon, "--foreground", "--unlock",
                                                              "--components=secrets"]), env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        processes.append(secrets)
        secrets.stdin.write(b"test-keyring-password")  # the login keyring's password, made up for the test
        secrets.stdin.close()
        deadline = time.monotonic() + timeout
        while not _name_has_owner(address, SECRETS_NAME):
            assert secrets.poll() is None, f"gnome-keyring-daemon exited ({secrets.returncode})"
            assert time.monotonic() < deadline, "gnome-keyring-daemon did not take org.freedesktop.secrets"
            time.sleep(0.05)
        yield {key: env[key] for key in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}
    finally:
        for process in reversed(processes):
            end_process_group(process)


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    """The process's keyring backend as it was before the test."""
    import keyring

    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def real_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_keyring) -> Iterator[None]:
    """keyring's Secret Service backend on a private, unlocked gnome-keyring."""
    import keyring
    from keyring.backends import SecretService

    with secret_service(tmp_path) as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        keyring.set_keyring(SecretService.Keyring())
        yield


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch, restore_keyring) -> Iterator[None]:
    """No usable backend, the way keyring itself picks one: PYTHON_KEYRING_BACKEND names the fail backend."""
    import keyring.core

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()
    yield
