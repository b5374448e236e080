"""pcagent's own windows on the screen — the tray app's thought box, approval panel, marker and control
window — found by window identity (their WM_CLASS), never by pixel colour.

A step whose screenshot was taken while one of them was mapped carries them under the step key
`pcagent_windows` (a list of `WindowInfo.to_dict()`); refinement drops such steps, and the tray app's tests
check that none is ever written.
"""

from __future__ import annotations

from typing import Any

from grounding.accessibility.windows import WindowInfo, Windows

__all__ = ["OWN_APPLICATION", "OWN_WINDOWS_KEY", "own_windows", "is_own_window", "step_shows_own_windows"]

OWN_APPLICATION = "pcagent"  # the WM_CLASS class (and instance) every window of the tray app carries
OWN_WINDOWS_KEY = "pcagent_windows"


def is_own_window(window: WindowInfo | dict[str, Any] | None) -> bool:
    """True for a window of pcagent's own app (a WindowInfo or a step's `window` dict)."""
    if window is None:
        return False
    application = window.get("application") if isinstance(window, dict) else window.application
    return isinstance(application, str) and application.lower() == OWN_APPLICATION


def own_windows(windows: Windows) -> list[dict[str, Any]]:
    """pcagent's own viewable top-level windows, ready for a step's `pcagent_windows`."""
    top_levels = getattr(windows, "top_levels", None)
    if top_levels is None:
        return []
    return [window.to_dict() for window in top_levels() if is_own_window(window)]


def step_shows_own_windows(step_extra: dict[str, Any], window: dict[str, Any] | None = None) -> bool:
    """Whether a recorded step's screenshot shows one of pcagent's windows, or the step acted on one."""
    return bool(step_extra.get(OWN_WINDOWS_KEY)) or is_own_window(window)
