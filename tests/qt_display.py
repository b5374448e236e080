"""pytest-qt's QApplication on the test bed's X display with a window manager (fixture ``wm_display``).

A test module that shows windows imports the fixture: ``from tests.qt_display import qapp_args  # noqa: F401``.
One QApplication serves the whole session, so the first module to create it picks the display; any X display
of the test bed shows and grabs windows the same way.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qapp_args(wm_display) -> list[str]:
    return ["pcagent-tests", "-platform", "xcb", "-display", wm_display.display]
