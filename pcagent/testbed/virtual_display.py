"""A private virtual X display (Xvfb) with an optional accessibility (AT-SPI) stack.

``VirtualDisplay`` starts, in this order:

1. ``Xvfb`` on a free display number chosen by the server itself (``-displayfd``), so several test
   runs can run side by side; ``-noreset`` keeps server state (RandR monitors) when the last client
   disconnects.
2. With several ``screens``: one wide X screen (monitors side by side, top-aligned) cut into RandR 1.5
   monitors. Xvfb's own ``+xinerama`` with several ``-screen`` puts every head at (0, 0), so it cannot
   model a desktop of several monitors; RandR monitors are what mss and Qt read.
3. With ``accessibility=True``: a private D-Bus session bus (``dbus-daemon --session``) and the AT-SPI
   bus (``at-spi-bus-launcher --launch-immediately``, which registers ``org.a11y.Bus`` on it). Missing
   pieces do not fail the start: ``accessibility_error`` says what is missing.
4. With ``window_manager="openbox"`` (or ``"xfwm4"``): that window manager, started after the buses so
   that it and its children share them, and awaited until it owns the screen (``_NET_SUPPORTING_WM_CHECK``).
   Every real desktop has one: windows get frames and title bars, and the WM places them.

Every process is started in its own process group and ended by that group in ``stop()``.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from typing import IO, Mapping

WINDOW_MANAGERS = {  # name -> command line: no session manager, no compositor
    "openbox": ("openbox", "--sm-disable"),
    "xfwm4": ("xfwm4", "--compositor=off", "--sm-client-disable"),
}

AT_SPI_BUS_LAUNCHER_PATHS = (
    "/usr/libexec/at-spi-bus-launcher",
    "/usr/lib/at-spi2-core/at-spi-bus-launcher",
    "/usr/lib/at-spi-bus-launcher",
)


def _set_monitor_request():
    """RandR 1.5 SetMonitor with the monitor fields inline.

    python-xlib 0.33's own ``xrandr_set_monitor`` cannot pack its MonitorInfo argument.
    """
    from Xlib.protocol import rq

    class SetMonitor(rq.Request):
        _request = rq.Struct(
            rq.Card8("opcode"), rq.Opcode(43), rq.RequestLength(), rq.Window("window"),
            rq.Card32("name"), rq.Bool("primary"), rq.Bool("automatic"), rq.LengthOf("crtcs", 2),
            rq.Int16("x"), rq.Int16("y"), rq.Card16("width_in_pixels"), rq.Card16("height_in_pixels"),
            rq.Card32("width_in_millimeters"), rq.Card32("height_in_millimeters"),
            rq.List("crtcs", rq.Card32Obj),
        )

    return SetMonitor


class DisplayError(RuntimeError):
    """The virtual display could not be started; the message says what to install or check."""


def find_at_spi_bus_launcher() -> str | None:
    """Path of at-spi-bus-launcher (Debian package at-spi2-core), or None."""
    for path in AT_SPI_BUS_LAUNCHER_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("at-spi-bus-launcher")


def side_by_side_layout(screens: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Monitor rectangles (x, y, w, h) for screens placed left to right, top-aligned."""
    rects, x = [], 0
    for width, height in screens:
        rects.append((x, 0, width, height))
        x += width
    return rects


class VirtualDisplay:
    """An Xvfb display (optionally several monitors, optionally with AT-SPI) for child processes.

    Use as a context manager or call ``start()``/``stop()``. ``env`` holds the variables a child
    process needs; ``child_env()`` merges them into ``os.environ``.
    """

    def __init__(
        self,
        width: int = 1280,
        height: int = 800,
        *,
        screens: list[tuple[int, int]] | None = None,
        depth: int = 24,
        accessibility: bool = True,
        dpi: int | None = None,
        window_manager: str | None = None,
    ) -> None:
        if window_manager is not None and window_manager not in WINDOW_MANAGERS:
            raise ValueError(f"unknown window manager {window_manager!r}; one of {', '.join(WINDOW_MANAGERS)}")
        self.screens: list[tuple[int, int]] = list(screens) if screens else [(width, height)]
        self.monitors: list[tuple[int, int, int, int]] = side_by_side_layout(self.screens)
        self.width = sum(w for w, _ in self.screens)
        self.height = max(h for _, h in self.screens)
        self.depth = depth
        self.accessibility = accessibility
        self.dpi = dpi
        self.window_manager = window_manager
        self.display: str = ""
        self.env: dict[str, str] = {}
        self.accessibility_error: str | None = None
        self.dbus_address: str | None = None
        self.a11y_bus_address: str | None = None
        self._procs: list[subprocess.Popen] = []
        self._started = False
        self._atexit_registered = False
        self._xvfb_log: IO[bytes] | None = None

    # ----- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> "VirtualDisplay":
        """Start Xvfb (and the accessibility buses); return self. Raises DisplayError."""
        if self._started:
            return self
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        try:
            self._start_xvfb(timeout)
            self.env = {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}
            if len(self.screens) > 1:
                self._define_monitors()
            if self.accessibility:
                self._start_accessibility(timeout)
            if self.window_manager:
                self._start_window_manager(timeout)
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """End every process this display started (newest first). Safe to call twice."""
        procs, self._procs = self._procs, []
        for proc in reversed(procs):
            end_process_group(proc)
        if self._xvfb_log is not None:
            self._xvfb_log.close()
            self._xvfb_log = None
        if getattr(self, "_runtime_dir", None):
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
        self._started = False

    def __enter__(self) -> "VirtualDisplay":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def child_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default ``os.environ``) updated with this display's variables."""
        env = dict(os.environ if base is None else base)
        env.pop("WAYLAND_DISPLAY", None)  # keep toolkits on X11
        env.update(self.env)
        return env

    # ----- Xvfb ----------------------------------------------------------------------------------

    def _start_xvfb(self, timeout: float) -> None:
        xvfb = shutil.which("Xvfb")
        if not xvfb:
            raise DisplayError("Xvfb is not installed: apt-get install xvfb")
        read_fd, write_fd = os.pipe()
        cmd = [
            xvfb, "-displayfd", str(write_fd), "-noreset", "-nolisten", "tcp",
            "-screen", "0", f"{self.width}x{self.height}x{self.depth}",
        ]
        if self.dpi:
            cmd += ["-dpi", str(self.dpi)]
        # stderr to a file, not a pipe: nobody reads it while Xvfb runs, and a full pipe would block it
        self._xvfb_log = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(
                cmd, pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._xvfb_log, start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self._procs.append(proc)
        try:
            number = read_line_with_timeout(read_fd, timeout)
        finally:
            os.close(read_fd)
        if not number.strip().isdigit():
            proc.poll()
            self._xvfb_log.seek(0)
            err = self._xvfb_log.read().decode(errors="replace")[-2000:]
            raise DisplayError(f"Xvfb did not report a display number (exit {proc.poll()}): {err}")
        self.display = f":{number.strip()}"
        self._wait_for_x(timeout)

    def _wait_for_x(self, timeout: float) -> None:
        """Wait until an X client can connect to the display."""
        from Xlib import display as xdisplay
        from Xlib.error import DisplayError as XlibDisplayError

        deadline = time.monotonic() + timeout
        while True:
            try:
                xdisplay.Display(self.display).close()
                return
            except (XlibDisplayError, ConnectionError, OSError) as exc:
                if time.monotonic() > deadline or self._procs[0].poll() is not None:
                    raise DisplayError(f"X display {self.display} does not answer: {exc}") from exc
                time.sleep(0.05)

    def _define_monitors(self) -> None:
        """Cut the wide X screen into RandR 1.5 monitors (what mss and Qt report)."""
        from Xlib import display as xdisplay
        from Xlib.ext import randr

        conn = xdisplay.Display(self.display)
        try:
            root = conn.screen().root
            outputs = root.xrandr_get_screen_resources().outputs
            opcode = conn.display.get_extension_major(randr.extname)
            SetMonitor = _set_monitor_request()
            for index, (x, y, w, h) in enumerate(self.monitors):
                SetMonitor(
                    display=conn.display, opcode=opcode, window=root,
                    name=conn.intern_atom(f"PCAGENT-{index}"), primary=index == 0, automatic=False,
                    x=x, y=y, width_in_pixels=w, height_in_pixels=h,
                    width_in_millimeters=w * 254 // 960, height_in_millimeters=h * 254 // 960,
                    # the first monitor takes over the screen's only output, which hides the
                    # automatic full-screen monitor; the others have no output
                    crtcs=outputs[:1] if index == 0 else [],
                )
            conn.sync()
        finally:
            conn.close()

    # ----- window manager ------------------------------------------------------------------------

    def _start_window_manager(self, timeout: float) -> None:
        command = WINDOW_MANAGERS[self.window_manager]
        if not shutil.which(command[0]):
            raise DisplayError(f"{command[0]} is not installed: apt-get install {command[0]}")
        proc = subprocess.Popen(list(command), env=self.child_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._procs.append(proc)
        from Xlib import display as xdisplay

        conn = xdisplay.Display(self.display)
        try:
            check = conn.intern_atom("_NET_SUPPORTING_WM_CHECK")
            root = conn.screen().root
            deadline = time.monotonic() + timeout
            while root.get_full_property(check, 0) is None:  # set once the WM manages the screen
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise DisplayError(f"{command[0]} did not take over the display (exit {proc.poll()})")
                time.sleep(0.02)
        finally:
            conn.close()

    # ----- accessibility -------------------------------------------------------------------------

    def _start_accessibility(self, timeout: float) -> None:
        dbus_daemon = shutil.which("dbus-daemon")
        launcher = find_at_spi_bus_launcher()
        if not dbus_daemon:
            self.accessibility_error = "dbus-daemon is not installed: apt-get install dbus dbus-x11"
            return
        if not launcher:
            self.accessibility_error = "at-spi-bus-launcher is not installed: apt-get install at-spi2-core"
            return
        # A private runtime folder: at-spi-bus-launcher puts its socket under it, and the shared
        # default (~/.cache/at-spi/bus_<display>) collides when display numbers are reused.
        self._runtime_dir = tempfile.mkdtemp(prefix="pcagent-display-")
        self.env["XDG_RUNTIME_DIR"] = self._runtime_dir
        try:
            self.dbus_address = self._start_session_bus(dbus_daemon, timeout)
            self.env["DBUS_SESSION_BUS_ADDRESS"] = self.dbus_address
            proc = subprocess.Popen(
                [launcher, "--launch-immediately"], env=self.child_env(),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self._procs.append(proc)
            self.a11y_bus_address = wait_for_a11y_bus(self.dbus_address, timeout)
        except (DisplayError, OSError) as exc:
            self.accessibility_error = f"AT-SPI bus did not start: {exc}"
            return
        self.env.update({
            "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
            "QT_ACCESSIBILITY": "1",
            "GTK_MODULES": "gail:atk-bridge",
            "NO_AT_BRIDGE": "0",
        })

    def _start_session_bus(self, dbus_daemon: str, timeout: float) -> str:
        """Start a private session bus; return its address."""
        proc = subprocess.Popen(
            [dbus_daemon, "--session", "--nofork", "--nopidfile", "--print-address=1"],
            env=self.child_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs.append(proc)
        assert proc.stdout is not None
        address = read_line_with_timeout(proc.stdout.fileno(), timeout).strip()
        if not address:
            raise DisplayError(f"dbus-daemon printed no address (exit {proc.poll()})")
        return address


def wait_for_a11y_bus(session_address: str, timeout: float = 10.0) -> str:
    """Ask org.a11y.Bus on the session bus for the AT-SPI bus address until it answers."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection

    bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with open_dbus_connection(bus=session_address) as conn:
                reply = conn.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=2)
            if reply.header.message_type.name == "method_return" and reply.body and reply.body[0]:
                return reply.body[0]
            last_error = DisplayError(f"GetAddress answered {reply.body!r}")
        except Exception as exc:  # noqa: BLE001 - any D-Bus failure means "not yet"
            last_error = exc
        time.sleep(0.1)
    raise DisplayError(f"org.a11y.Bus did not answer GetAddress: {last_error}")


def read_line_with_timeout(fd: int, timeout: float) -> str:
    """Read up to a newline from fd, giving up after timeout seconds."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").split("\n", 1)[0]


def end_process_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGTERM the process's group (it was started as a session leader), then SIGKILL if needed."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
