"""The exit codes every `pcagent` command shares (documented in the README), and the one place that maps
an error to its code.

    0    ok
    1    failed: the job could not be done, or what was checked is invalid (`trace check`)
    2    usage: bad arguments, a bad settings or profiles file
    3    model unavailable: the model server cannot be reached, times out, refuses or answers garbage
    4    no display: no X display to record, act on or capture
    130  interrupted (Ctrl+C)
"""

from __future__ import annotations

from models.errors import ModelConfigError, ModelError
from pcagent.testbed.virtual_display import DisplayError
from tracker.recording.capture import NoDisplay
from tracker.settings import SettingsError

OK, FAILED, USAGE, MODEL_UNAVAILABLE, NO_DISPLAY, INTERRUPTED = 0, 1, 2, 3, 4, 130

__all__ = ["FAILED", "INTERRUPTED", "MODEL_UNAVAILABLE", "NO_DISPLAY", "OK", "USAGE", "exit_code_for"]


def exit_code_for(error: BaseException) -> int:
    """The code for an error, looking through the errors it was raised from (a session error caused by a
    missing display is a missing display)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return INTERRUPTED
        if isinstance(seen, (ModelConfigError, SettingsError)):
            return USAGE
        if isinstance(seen, ModelError):
            return MODEL_UNAVAILABLE
        if isinstance(seen, (NoDisplay, DisplayError)):
            return NO_DISPLAY
        seen = seen.__cause__
    return FAILED
