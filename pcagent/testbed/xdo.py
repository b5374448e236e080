"""Real input and screenshots on a virtual X display: xdotool and mss, for the demo, the dataset makers,
the benchmarks and the tests.

Every call runs ``xdotool`` with the display's environment and waits for it to finish (check=True),
so when a method returns the X server has received the input; the application may still be
processing it (wait on its log for that).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Mapping

from PIL import Image

BUTTON_LEFT, BUTTON_MIDDLE, BUTTON_RIGHT = 1, 2, 3
WHEEL_UP, WHEEL_DOWN, WHEEL_LEFT, WHEEL_RIGHT = 4, 5, 6, 7


class Xdo:
    """Real X input through XTEST, bound to one display."""

    def __init__(self, env: Mapping[str, str]) -> None:
        """``env`` must hold DISPLAY (e.g. ``VirtualDisplay.child_env()``)."""
        if not shutil.which("xdotool"):
            raise RuntimeError("xdotool is not installed: apt-get install xdotool")
        self.env = dict(env)

    def run(self, *args: str | int) -> str:
        """Run one xdotool command line (commands may be chained) and return its stdout."""
        result = subprocess.run(
            ["xdotool", *map(str, args)], env=self.env, check=True, timeout=30,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        return result.stdout

    # ----- pointer -------------------------------------------------------------------------------

    def move(self, x: int, y: int) -> None:
        """Move the pointer to (x, y) and wait until it is there."""
        if args := self._move_args(x, y):
            self.run(*args)

    def _move_args(self, x: int, y: int) -> list[str | int]:
        """xdotool arguments that move the pointer to (x, y) and wait for it, or [] if it is there.

        ``mousemove --sync`` to where the pointer already is waits about 15 s (xdotool 3.2021).
        """
        return [] if self.position() == (x, y) else ["mousemove", "--sync", x, y]

    def position(self) -> tuple[int, int]:
        """Where the pointer is now."""
        fields = dict(part.split(":", 1) for part in self.run("getmouselocation").split())
        return int(fields["x"]), int(fields["y"])

    def click(self, x: int, y: int, button: int = BUTTON_LEFT, repeat: int = 1, delay_ms: int = 80) -> None:
        """Move to (x, y) and click ``repeat`` times (2 = a double click: 80 ms apart by default)."""
        self.run(*self._move_args(x, y), "click", "--repeat", repeat, "--delay", delay_ms, button)

    def double_click(self, x: int, y: int, button: int = BUTTON_LEFT) -> None:
        self.click(x, y, button=button, repeat=2)

    def mouse_down(self, button: int = BUTTON_LEFT, x: int | None = None, y: int | None = None) -> None:
        """Press a button (after moving to (x, y) when given)."""
        self._pointer_action("mousedown", button, x, y)

    def mouse_up(self, button: int = BUTTON_LEFT, x: int | None = None, y: int | None = None) -> None:
        """Release a button (after moving to (x, y) when given)."""
        self._pointer_action("mouseup", button, x, y)

    def drag(self, x1: int, y1: int, x2: int, y2: int, steps: int = 10, button: int = BUTTON_LEFT,
             step_delay_s: float = 0.02) -> None:
        """Press at (x1, y1), move to (x2, y2) in ``steps`` motions, release there."""
        args: list[str | int | float] = [*self._move_args(x1, y1), "mousedown", button, "sleep", 0.05]
        for i in range(1, steps + 1):
            x = round(x1 + (x2 - x1) * i / steps)
            y = round(y1 + (y2 - y1) * i / steps)
            args += ["mousemove", x, y, "sleep", step_delay_s]
        args += ["sleep", 0.05, "mouseup", button]
        self.run(*args)

    def scroll(self, x: int, y: int, notches: int, *, horizontal: bool = False) -> None:
        """Turn the wheel over (x, y): vertical positive = up (button 4), negative = down (5);
        horizontal positive = right (7), negative = left (6)."""
        if notches == 0:
            return self.move(x, y)
        if horizontal:
            button = WHEEL_RIGHT if notches > 0 else WHEEL_LEFT
        else:
            button = WHEEL_UP if notches > 0 else WHEEL_DOWN
        self.run(*self._move_args(x, y), "click", "--repeat", abs(notches), "--delay", 30, button)

    def _pointer_action(self, action: str, button: int, x: int | None, y: int | None) -> None:
        args = self._move_args(x, y) if x is not None and y is not None else []
        self.run(*args, action, button)

    # ----- keyboard ------------------------------------------------------------------------------

    def type(self, text: str, delay_ms: int = 12) -> None:
        """Type text as key presses (whatever window has the keyboard focus gets them)."""
        self.run("type", "--delay", delay_ms, "--", text)

    def key(self, *combos: str, delay_ms: int = 12) -> None:
        """Press and release key combinations in turn, e.g. ``key("ctrl+a", "Return")``."""
        self.run("key", "--delay", delay_ms, "--", *combos)

    def key_down(self, combo: str) -> None:
        self.run("keydown", "--", combo)

    def key_up(self, combo: str) -> None:
        self.run("keyup", "--", combo)


def grab(display: object, region: tuple[int, int, int, int] | None = None) -> Image.Image:
    """Screenshot (RGB) of the whole virtual desktop or of ``region`` = (left, top, right, bottom).

    ``display`` is a ``VirtualDisplay`` or a display string such as ":5".
    """
    import mss

    name = display if isinstance(display, str) else getattr(display, "display")
    with mss.MSS(display=name) as screen:
        if region is None:
            box = screen.monitors[0]
        else:
            left, top, right, bottom = region
            box = {"left": left, "top": top, "width": right - left, "height": bottom - top}
        shot = screen.grab(box)
    return Image.frombytes("RGB", shot.size, shot.rgb)
