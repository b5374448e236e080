"""`pcagent ctl`: the running tray app's control socket, so that desktop shortcuts and scripts can drive it.

A Unix socket, `$XDG_RUNTIME_DIR/pcagent/ctl.sock` (else `/tmp/pcagent-<uid>/ctl.sock`), in a folder only its
user can enter (0700, owned by them, not a link), the socket itself 0600; the server also asks the kernel who
connected (SO_PEERCRED) and answers nobody but the same user. One JSON request per connection, one JSON
answer, each a line::

    {"command": "record", "task": "Rename the file"}      {"ok": true, "status": {"state": "recording", ...}}
    {"command": "thought", "text": "now I save it"}       {"ok": false, "error": "cannot add a thought: ..."}

Commands: record (task / task_file + task_id / mode "free" or "none"), pause, resume, thought (text, about
"next" or "previous"; without text the app opens its thought box), finish, fail, stop, status, focus.
The server runs on a thread of its own and each request on another, never on the UI thread. A lock file
beside the socket makes the app single-instance.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import struct
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pcagent.app.controller import AppController

__all__ = ["COMMANDS", "AppNotRunning", "CtlError", "CtlServer", "CtlUi", "dispatch", "peer_uid",
           "private_folder", "send_request", "socket_path"]

COMMANDS = ("record", "pause", "resume", "thought", "finish", "fail", "stop", "status", "focus")
MAX_REQUEST_BYTES = 64 * 1024
REQUEST_READ_S = 10.0
ANSWER_WAIT_S = 120.0  # finish/stop wait for the trajectory to be written


class CtlError(RuntimeError):
    """The control socket cannot be used: its folder is not private, or the request is bad."""


class AppNotRunning(CtlError):
    """No pcagent app answers on the control socket."""


class CtlUi(Protocol):
    """What only the UI can do; called from the server's threads (the UI hands it to its own thread)."""

    def focus(self) -> None: ...

    def open_thought_box(self, about: str) -> None: ...


def socket_path() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "pcagent" / "ctl.sock"
    return Path(tempfile.gettempdir()) / f"pcagent-{os.getuid()}" / "ctl.sock"


def private_folder(folder: Path, *, create: bool = True) -> Path:
    """`folder`, made if need be, checked to be a real folder of this user that nobody else can enter."""
    if create:
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700, parents=False)
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        raise AppNotRunning(f"no pcagent app is running ({folder} does not exist); start one with `pcagent app`") \
            from None
    if not stat.S_ISDIR(info.st_mode):
        raise CtlError(f"{folder} is not a folder (a link or a file is there); remove it")
    if info.st_uid != os.getuid():
        raise CtlError(f"{folder} belongs to another user (uid {info.st_uid}); refusing to use it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        if not create:
            raise CtlError(f"{folder} can be entered by other users (mode {stat.S_IMODE(info.st_mode):o})")
        os.chmod(folder, 0o700)
    return folder


def peer_uid(connection: socket.socket) -> int | None:
    """The user id of the process at the other end (Linux SO_PEERCRED); None where it cannot be asked."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    pid_uid_gid = connection.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", pid_uid_gid)[1]


# --- client -----------------------------------------------------------------------------------------------
def send_request(request: dict, path: Path | None = None, timeout: float = ANSWER_WAIT_S) -> dict:
    """Send one request to the running app and return its answer; raises AppNotRunning or CtlError."""
    path = path or socket_path()
    private_folder(path.parent, create=False)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise AppNotRunning("no pcagent app is running; start one with `pcagent app`") from None
        client.sendall(json.dumps(request).encode("utf-8") + b"\n")
        answer = _read_line(client)
    except TimeoutError:
        raise CtlError(f"the app did not answer within {timeout:.0f} s") from None
    except OSError as exc:
        raise CtlError(f"cannot talk to the app: {exc}") from exc
    finally:
        client.close()
    try:
        decoded = json.loads(answer)
    except ValueError:
        raise CtlError(f"the app answered something that is not JSON: {answer[:200]!r}") from None
    if not isinstance(decoded, dict):
        raise CtlError(f"the app answered {decoded!r}")
    return decoded


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise CtlError(f"message longer than {MAX_REQUEST_BYTES} bytes")
    return data


# --- server -----------------------------------------------------------------------------------------------
def dispatch(controller: AppController, request: dict, ui: CtlUi | None = None) -> dict:
    """Carry out one request; the answer is {"ok": true, "status": {...}} or {"ok": false, "error": "..."}."""
    from pcagent.app.controller import (
        ControllerError,
        free_task,
        given_task,
        no_task,
        task_from_file,
    )

    command = request.get("command") if isinstance(request, dict) else None
    if command not in COMMANDS:
        return {"ok": False, "error": f"unknown command {command!r}; commands: {', '.join(COMMANDS)}"}
    try:
        if command == "record":
            if request.get("task_file"):
                task = task_from_file(request["task_file"], str(request.get("task_id") or ""))
            elif request.get("task"):
                task = given_task(str(request["task"]))
            else:
                task = no_task() if request.get("mode") == "none" else free_task()
            status = controller.start_recording(task)
        elif command == "thought":
            about = request.get("about", "next")
            if about not in ("next", "previous"):
                raise ControllerError(f"about must be next or previous, not {about!r}")
            text = request.get("text")
            if text:
                status = controller.add_thought(str(text), about)
            else:
                if controller.state not in ("recording", "paused"):
                    raise ControllerError("cannot add a thought: no recording is running")
                if ui is None:
                    raise ControllerError("this app has no thought box; give the text: pcagent ctl thought TEXT")
                ui.open_thought_box(about)
                status = controller.status()
        elif command == "focus":
            if ui is not None:
                ui.focus()
            status = controller.status()
        elif command == "status":
            status = controller.status()
        else:
            status = getattr(controller, command)()
    except ControllerError as exc:
        return {"ok": False, "error": str(exc), "status": controller.status().to_dict()}
    return {"ok": True, "status": status.to_dict()}


class CtlServer:
    """Serves `handle(request) -> answer` on the control socket, each connection on a thread of its own."""

    def __init__(self, handle: Callable[[dict], dict], path: Path | None = None) -> None:
        self.handle = handle
        self.path = path or socket_path()
        self.refused = 0  # connections from other users
        self._socket: socket.socket | None = None
        self._lock_file: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> CtlServer:
        """Take the single-instance lock and listen; raises CtlError when another app holds the lock."""
        folder = private_folder(self.path.parent)
        lock = os.open(folder / "app.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock)
            raise CtlError("another pcagent app is running (it holds the control socket's lock)") from None
        self._lock_file = lock
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by an app that died: the lock says none is running
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is born 0600
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        server.listen(8)
        server.settimeout(0.25)
        self._socket = server
        self._thread = threading.Thread(target=self._serve, name="pcagent-ctl", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by stop()
            threading.Thread(target=self._answer, args=(connection,), name="pcagent-ctl-request",
                             daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            uid = peer_uid(connection)
            if uid is not None and uid != os.getuid():
                self.refused += 1
                connection.sendall(b'{"ok": false, "error": "refused: the app answers only its own user"}\n')
                return
            connection.settimeout(REQUEST_READ_S)
            try:
                raw = _read_line(connection)
                request = json.loads(raw)
            except (OSError, CtlError, ValueError) as exc:
                answer = {"ok": False, "error": f"bad request: {exc}"}
            else:
                try:
                    answer = self.handle(request)
                except Exception as exc:  # noqa: BLE001 - the server must answer and keep serving
                    answer = {"ok": False, "error": f"internal error: {exc!r}"}
            connection.settimeout(REQUEST_READ_S)
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps(answer).encode("utf-8") + b"\n")

    def stop(self) -> None:
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None
