"""Executing coordinate-level actions on the real desktop with pyautogui.

pyautogui (and the Xlib connection it opens) binds to a display when it is first imported, so it
is imported lazily, for the display this executor names (or $DISPLAY), and a second executor that
names another display is refused. Its fail-safe stays on: a person who moves the pointer into a
screen corner aborts the agent with ``ExecutionError("fail-safe triggered ...")``.

Text pyautogui cannot type as keys (non-ASCII, or characters the keyboard layout lacks) is pasted:
it goes on the clipboard with ``xclip``, ``ctrl+v`` pastes it, and the previous clipboard text is
put back once the application has fetched the paste (if it does not within ``paste_timeout_s``, the
text stays on the clipboard for a late paste). Newlines are typed as Enter.
Every injection runs inside ``ledger.injecting(expected_for(action))``, so a recorder sharing the
ledger tells the agent's input from a person's.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from typing import Any, Callable

from tracker.format.action_convert import pyautogui_key
from tracker.format.actions import Action
from tracker.recording.injection import InjectionLedger, expected_for

# pyautogui's X11 backend leaves the media keys unmapped (silently a no-op); these keysyms fill them in.
_X11_MEDIA_KEYSYMS = {
    "playpause": "XF86AudioPlay", "volumemute": "XF86AudioMute", "volumedown": "XF86AudioLowerVolume",
    "volumeup": "XF86AudioRaiseVolume", "prevtrack": "XF86AudioPrev", "nexttrack": "XF86AudioNext",
}
PASTE_TIMEOUT_S = 2.0  # how long an application may take to fetch a paste before the clipboard is restored


def _named(action: Action) -> str:
    """An action for an error message, without the text it types (it may be a password)."""
    return f"type text ({len(action.text or '')} characters)" if action.kind == "type_text" else str(action)


class ExecutionError(RuntimeError):
    """An action that could not be (fully) performed; nothing is injected when it is refused up front."""


def _same_display(a: str, b: str) -> bool:
    """":5" and ":5.0" are the same display."""
    return a.removesuffix(".0") == b.removesuffix(".0")


class PyAutoGuiExecutor:
    """The agent's hands: ``execute(action)`` for coordinate-level canonical actions."""

    def __init__(self, ledger: InjectionLedger | None = None, *, display: str | None = None,
                 pause_s: float = 0.05, type_interval_s: float = 0.01, wait_s: float = 1.0,
                 drag_duration_s: float = 0.3, paste_timeout_s: float = PASTE_TIMEOUT_S) -> None:
        self.ledger = ledger
        self.display = display
        self.pause_s = pause_s  # pyautogui's pause after each of its calls, so the app keeps up
        self.type_interval_s = type_interval_s
        self.wait_s = wait_s
        self.drag_duration_s = drag_duration_s
        self.paste_timeout_s = paste_timeout_s
        self._gui: Any = None
        self._typeable: frozenset[str] = frozenset()
        if "pyautogui" in sys.modules and display is not None:
            self.connect()  # refuse a conflicting display now rather than at the first action

    def connect(self) -> None:
        """Load pyautogui for this executor's display now (``execute`` does it on first use).

        Raises ExecutionError when there is no usable display or pyautogui is bound to another one.
        """
        self._load()

    # ----- the one entry point -------------------------------------------------------------------

    def execute(self, action: Action) -> None:
        """Perform one action; raises ExecutionError (before any input when the action is unusable)."""
        kind = action.kind
        if kind in ("finish", "fail", "call_user"):
            return  # the agent loop handles these
        if kind == "wait":
            time.sleep(self.wait_s)
            return
        if action.is_element_click:
            raise ExecutionError(f"cannot execute {action}: an element click must be grounded to coordinates first")
        gui = self._load()
        self._check_points(action, gui)
        keys = [pyautogui_key(k) for k in action.keys]
        self._check_keys(keys)
        injecting = self.ledger.injecting(expected_for(action)) if self.ledger else contextlib.nullcontext()
        gui.PAUSE = self.pause_s
        try:
            with injecting:
                self._inject(action, keys, gui)
        except gui.FailSafeException as exc:
            raise ExecutionError(f"fail-safe triggered (pointer in a screen corner) during {_named(action)}") from exc
        except ExecutionError:
            raise
        except Exception as exc:  # pyautogui and Xlib errors (e.g. the display went away)
            why = type(exc).__name__ if action.kind == "type_text" else repr(exc)  # the text may show in it
            raise ExecutionError(f"{_named(action)} failed: {why}") from exc

    def _inject(self, action: Action, keys: list[str], gui: Any) -> None:
        kind = action.kind
        if kind in ("click", "right_click", "middle_click", "double_click"):
            x, y = action.point  # type: ignore[misc]
            button = {"right_click": "right", "middle_click": "middle"}.get(kind, "left")
            gui.click(x, y, clicks=2 if kind == "double_click" else 1, interval=0.02, button=button)
        elif kind == "drag":
            self._drag(action, gui)
        elif kind == "scroll":
            dx, dy = action.delta  # type: ignore[misc]
            if action.point is not None:
                gui.moveTo(*action.point)
            if dy:
                gui.scroll(dy)  # where the pointer is (moved over the action's point when it has one)
            if dx:
                gui.hscroll(dx)
        elif kind == "press_key":
            gui.press(keys[0])
        elif kind == "hotkey":
            gui.hotkey(*keys)
        elif kind == "type_text":
            self._type(action.text or "", gui)
        else:
            raise ExecutionError(f"cannot execute {action}: unknown action kind {kind!r}")

    def _drag(self, action: Action, gui: Any) -> None:
        (x1, y1), (x2, y2) = action.point, action.end  # type: ignore[misc]
        gui.mouseDown(x1, y1, button="left")
        try:
            gui.moveTo(x2, y2, duration=self.drag_duration_s)
            gui.mouseUp(x2, y2, button="left")
        except BaseException:
            # never leave the button held (e.g. when the fail-safe fires mid-drag)
            with contextlib.suppress(Exception):
                gui.platformModule._mouseUp(*gui.position(), "left")
            raise

    # ----- typing --------------------------------------------------------------------------------

    def _type(self, text: str, gui: Any) -> None:
        """Each line typed as keys when pyautogui can, else pasted; Enter between lines."""
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for i, line in enumerate(lines):
            if i:
                gui.press("enter")
            if not line:
                continue
            if all(c in self._typeable for c in line):
                gui.write(line, interval=self.type_interval_s)
            else:
                self._paste(line, gui)

    def _paste(self, text: str, gui: Any) -> None:
        """Paste `text` with ctrl+v through the clipboard (see XClipboard.paste)."""
        if not shutil.which("xclip"):
            raise ExecutionError("typing this text needs the clipboard: install xclip (apt-get install xclip)")
        XClipboard(self._env()).paste(text.encode("utf-8"), lambda: gui.hotkey("ctrl", "v"),
                                      self.paste_timeout_s)

    # ----- checks and setup ----------------------------------------------------------------------

    def _check_points(self, action: Action, gui: Any) -> None:
        width, height = gui.size()
        for point in (action.point, action.end):
            if point is None:
                continue
            x, y = point
            if not (0 <= x < width and 0 <= y < height):
                raise ExecutionError(f"cannot execute {action}: ({x}, {y}) is outside the virtual desktop "
                                     f"(0, 0)-({width - 1}, {height - 1})")
            if (x, y) in gui.FAILSAFE_POINTS:
                raise ExecutionError(f"cannot execute {action}: ({x}, {y}) is a fail-safe corner")

    def _check_keys(self, keys: list[str]) -> None:
        mapping = getattr(self._gui.platformModule, "keyboardMapping", None)
        if mapping is None:
            return  # not X11: pyautogui's own checks apply
        missing = [k for k in keys if not mapping.get(k)]
        if missing:
            raise ExecutionError(f"no key for {', '.join(map(repr, missing))} on this display's keyboard")

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self._bound_display()}

    def _bound_display(self) -> str:
        """The X display pyautogui talks to (on other platforms: $DISPLAY or "")."""
        connection = getattr(self._gui.platformModule, "_display", None)
        return connection.get_display_name() if connection else os.environ.get("DISPLAY", "")

    def _load(self) -> Any:
        """pyautogui, imported for this executor's display (fail-safe on)."""
        if self._gui is not None:
            return self._gui
        if "pyautogui" not in sys.modules:
            _import_pyautogui(self.display)
        gui = sys.modules["pyautogui"]
        self._gui = gui
        bound = self._bound_display()
        if self.display is not None and bound and not _same_display(bound, self.display):
            self._gui = None
            raise ExecutionError(f"pyautogui is already bound to display {bound} in this process; it cannot "
                                 f"drive {self.display} (run one executor per display, in its own process)")
        gui.FAILSAFE = True
        _map_media_keys(gui)
        self._typeable = _typeable_characters(gui)
        return gui


def _import_pyautogui(display: str | None) -> None:
    """Import pyautogui with DISPLAY set to `display`, leaving the process environment as it was."""
    old = os.environ.get("DISPLAY")
    if display is not None:
        os.environ["DISPLAY"] = display
    try:
        import pyautogui  # noqa: F401  (binds its X connection to $DISPLAY now)
    except Exception as exc:  # KeyError without DISPLAY, Xlib errors, ImportError
        sys.modules.pop("pyautogui", None)
        raise ExecutionError(f"cannot start pyautogui on display {display or old!r}: {exc!r}") from exc
    finally:
        if display is not None:
            if old is None:
                os.environ.pop("DISPLAY", None)
            else:
                os.environ["DISPLAY"] = old


def _map_media_keys(gui: Any) -> None:
    """Give pyautogui's X11 backend keycodes for the media keys where the keymap has them."""
    backend = gui.platformModule
    mapping = getattr(backend, "keyboardMapping", None)
    if mapping is None:
        return
    import Xlib.XK

    Xlib.XK.load_keysym_group("xf86")
    for name, keysym_name in _X11_MEDIA_KEYSYMS.items():
        if not mapping.get(name):
            mapping[name] = backend._display.keysym_to_keycode(Xlib.XK.string_to_keysym(keysym_name)) or None


def _typeable_characters(gui: Any) -> frozenset[str]:
    """ASCII characters pyautogui's keys really produce on this keymap, fixing its guesses on the way.

    pyautogui takes the first keycode of a keysym and adds shift by a US-layout rule, which can type
    the wrong character (Xvfb's '(' is first found on the keypad, so shift+it is not '('); each such
    character gets the keycode that yields it at the shift level pyautogui will use, if there is one.
    """
    backend = gui.platformModule
    mapping = getattr(backend, "keyboardMapping", None)
    if mapping is None:  # Windows/macOS: trust pyautogui for printable ASCII
        return frozenset(chr(c) for c in range(0x20, 0x7F)) | {"\t"}
    display = backend._display
    typeable = {"\t"} if mapping.get("\t") else set()
    for code in range(0x20, 0x7F):  # a Latin-1 keysym equals its code point
        char = chr(code)
        level = 1 if gui.isShiftCharacter(char) else 0
        keycode = mapping.get(char)
        if not keycode or display.keycode_to_keysym(keycode, level) != code:
            keycode = next((k for k, index in display.keysym_to_keycodes(code) if index == level), None)
            if keycode is None:
                continue  # not on this keyboard at that level: pasted instead
            mapping[char] = keycode
        typeable.add(char)
    return frozenset(typeable)


class XClipboard:
    """The X CLIPBOARD selection through xclip (text only)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def read(self) -> bytes | None:
        """The clipboard's text, or None when it holds none."""
        try:
            result = subprocess.run(["xclip", "-selection", "clipboard", "-o"], env=self.env,
                                    capture_output=True, timeout=3)
        except subprocess.TimeoutExpired:
            return None
        return result.stdout if result.returncode == 0 else None

    def write_detached(self, data: bytes) -> None:
        """Put `data` on the clipboard, served by a background xclip that ends when someone else copies."""
        # DEVNULL output: the backgrounded xclip keeps inherited pipes open, which would hang run()
        subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=data, env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)

    def paste(self, data: bytes, press_paste: Callable[[], None], timeout_s: float) -> bool:
        """Hold `data` on the clipboard, call `press_paste`, and once the application fetched it put the
        previous text back (or leave it empty, as it was). False when nothing fetched it within
        `timeout_s`: the text then stays on the clipboard, so a late paste still gets it."""
        previous = self.read()
        # in the foreground (-quiet) xclip reports each request it serves: that is when to restore
        owner = subprocess.Popen(["xclip", "-quiet", "-selection", "clipboard", "-i"], env=self.env,
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        threading.Thread(target=lambda: [lines.put(line) for line in owner.stderr], daemon=True).start()
        handed_over = False
        try:
            owner.stdin.write(data)  # type: ignore[union-attr]
            owner.stdin.close()  # type: ignore[union-attr]
            if not _wait_for_line(lines, b"request number 1", 3.0):  # printed once it owns the clipboard
                raise ExecutionError(f"xclip could not take the clipboard (exit code {owner.poll()})")
            press_paste()
            fetched = _wait_for_line(lines, b"request number 2", timeout_s)  # request 1 was served
            successor = previous if fetched else data
            if successor is not None:
                self.write_detached(successor)
                handed_over = True
            return fetched
        finally:
            if handed_over:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    owner.wait(timeout=1)  # it ends by itself once the successor owns the clipboard
            if owner.poll() is None:
                owner.terminate()
                owner.wait(timeout=5)


def _wait_for_line(lines: queue.SimpleQueue[bytes], needle: bytes, timeout_s: float) -> bool:
    """True once a line containing `needle` arrives, False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            if needle in lines.get(timeout=left):
                return True
        except queue.Empty:
            return False
    return False
