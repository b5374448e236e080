"""A picture of each of the tray app's main windows, taken on the test bed's X display with a window manager:
the tray menu, the approval panel, the review window, the settings window and the thought box.

Each is grabbed as a PNG, checked to be of the expected size and to show something (not one flat colour),
and written to $PCAGENT_SCREENS_DIR when set (docs/make_readme_screens.py sets it and copies the pictures
into docs/), else to the test's temporary folder. The review window and the approval panel show a real
session: the sample app operated with xdotool, its screens written as a trajectory.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from grounding.marks import mark_point
from pcagent.app.config_store import ConfigStore
from pcagent.app.controller import AppController
from pcagent.app.ui.application import Application
from pcagent.app.ui.approval_panel import PANEL_WIDTH, ApprovalPanel, PanelContent
from pcagent.app.ui.marker import MARKER_COLOR
from pcagent.app.ui.review_window import ReviewWindow
from pcagent.app.ui.settings_window import SettingsWindow
from pcagent.app.ui.thought_box import ThoughtBox
from pcagent.testbed.xdo import Xdo, grab
from tests.keyring_session import real_keyring, restore_keyring  # noqa: F401 (fixtures)
from tracker.format.screenshot_format import ScreenshotFormat
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta
from tracker.format.trajectory_check import check_trajectory

pytestmark = pytest.mark.display

SCREENS_ENV = "PCAGENT_SCREENS_DIR"
MODELS = """\
[profiles.planner]  # UI-TARS on the lab's vLLM
model = "ui-tars-1.5-7b"
base_url = "http://127.0.0.1:8000/v1"
action_format = "uitars"

[profiles.hosted]
model = "gpt-4o"
base_url = "https://api.openai.com/v1"
api_key_keyring = "pcagent:hosted"
"""
SETTINGS = """\
[app]
default_mode = "confirm"
countdown_s = 8

[privacy]
extra_auth_words = ["kennwort"]
"""


@pytest.fixture(scope="module")
def screens_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ[SCREENS_ENV]) if os.environ.get(SCREENS_ENV) else tmp_path_factory.mktemp("screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def settle(qtbot, widget: QWidget) -> None:
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.wait(150)  # the window manager's placement and the first full paint


def save_grab(widget: QWidget, name: str, folder: Path, expected: tuple[int, int] | None = None) -> Path:
    """Grab the widget, check the picture and write it as ``folder/name.png``."""
    QApplication.processEvents()
    pixmap = widget.grab()
    size = (pixmap.width(), pixmap.height())
    assert size == (widget.width(), widget.height()), f"{name}: grabbed {size}, widget {widget.size()}"
    if expected is not None:
        assert size == expected, f"{name}: {size}, expected {expected}"
    path = folder / f"{name}.png"
    assert pixmap.save(str(path), "PNG"), path
    with Image.open(path) as image:
        assert image.size == size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 24, f"{name}: only {len(colours)} colours, nothing drawn?"
    return path


def record_sample_session(app, xdo: Xdo, display, root: Path) -> Path:
    """The sample app operated with xdotool; each step's screenshot is the screen just before it."""
    name, save, item = app.center("name"), app.center("save"), app.center("item_2")
    screens = [{"index": 0, "left": 0, "top": 0, "width": display.width, "height": display.height,
                "scale": 1.0, "primary": True}]
    meta = new_meta(task={"mode": "given", "description": "Name the report \"Quarterly\" and save it",
                          "difficulty": "easy"}, screens=screens, recorder={"name": "screens-test"})
    steps = [  # actor, action, what the step records, how xdotool does it, the widget acted on, its role
        ("human", f"click ({name[0]}, {name[1]})",
         {"thought": {"text": "The name field first", "source": "human", "time": time.time()}},
         lambda: xdo.click(*name), "name", "text"),
        ("human", "type text: Quarterly", {"action_description": "Type the report's name"},
         lambda: xdo.type("Quarterly"), "name", "text"),
        ("agent", f"click ({item[0]}, {item[1]})",
         {"thought": {"text": "Pick the second item before saving.", "source": "agent"},
          "decision": {"verdict": "approve", "by": "user"}},
         lambda: xdo.click(*item), "item_2", "list item"),
        ("agent", f"click ({save[0]}, {save[1]})",
         {"thought": {"text": "Now save the report with the Save button.", "source": "agent"},
          "decision": {"verdict": "approve", "by": "timeout", "note": "auto-continued after 8 s"}},
         lambda: xdo.click(*save), "save", "push button"),
    ]
    png = ScreenshotFormat("png")
    with TrajectoryWriter(root, meta) as writer:
        for index, (actor, action, extra, act, widget, role) in enumerate(steps):
            shot = writer.save_screenshot(index, png.encode(grab(display)), png.extension)
            element = {"name": widget, "role": role, "application": "sampleapp", "rect": list(app.widgets[widget])}
            writer.append_step(Step(index=index, time=time.time(), actor=actor, action=action, screenshot=shot,
                                    element=element, extra=extra))
            act()
            time.sleep(0.25)
        writer.close("finish")
    return root


def qimage(image: Image.Image) -> QImage:
    rgb = image.convert("RGB")
    return QImage(rgb.tobytes(), rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


def test_the_review_window_and_the_approval_panel(qtbot, launch_sample_app, wm_display, screens_dir,
                                                  tmp_path) -> None:
    app = launch_sample_app(display=wm_display)
    root = record_sample_session(app, Xdo(wm_display.child_env()), wm_display, tmp_path / "rec-screens")
    assert [p for p in check_trajectory(root) if p.severity == "error"] == []
    save_x, save_y = app.center("save")
    left = min(max(0, save_x - 180), wm_display.width - 360)
    top = min(max(0, save_y - 70), wm_display.height - 140)
    with Image.open(root / "screenshots" / "000003.png") as shot:  # the screen as the agent saw it
        crop = mark_point(shot.crop((left, top, left + 360, top + 140)), (save_x - left, save_y - top),
                          color=MARKER_COLOR)

    review = ReviewWindow(root)
    qtbot.addWidget(review)
    settle(qtbot, review)
    review.step_list.setCurrentRow(3)
    qtbot.waitUntil(lambda: not review.screenshot.image.isNull(), timeout=10000)
    save_grab(review, "review_window", screens_dir, expected=(1180, 760))

    panel = ApprovalPanel()
    qtbot.addWidget(panel)
    panel.present(PanelContent(
        title="Step 3", lines=["Thought: Now save the report with the Save button.",
                               f"Action:  click ({save_x}, {save_y})",
                               f"Target:  ({save_x}, {save_y}) \"Save\" - accessibility, push button"],
        action_text=f"click ({save_x}, {save_y})", image=qimage(crop), target=(save_x, save_y),
        deadline=time.monotonic() + 8, always_ask_label="click in sampleapp"))
    settle(qtbot, panel)
    assert panel.width() == PANEL_WIDTH
    save_grab(panel, "approval_panel", screens_dir)
    panel.withdraw()


@pytest.mark.usefixtures("real_keyring")
def test_the_settings_window(qtbot, screens_dir, tmp_path) -> None:
    models, settings = tmp_path / "models.toml", tmp_path / "settings.toml"
    models.write_text(MODELS)
    settings.write_text(SETTINGS)
    window = SettingsWindow(ConfigStore(models, settings))
    qtbot.addWidget(window)
    settle(qtbot, window)
    assert window.profiles.count() == 2
    save_grab(window, "settings_window", screens_dir, expected=(760, 560))
    window.tabs.setCurrentIndex(2)
    save_grab(window, "settings_recording", screens_dir, expected=(760, 560))


def test_the_tray_menu_and_the_thought_box(qtbot, screens_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "models.toml"))
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(tmp_path / "settings.toml"))
    application = Application(AppController(), tray=True, probe=False)
    menu = application.tray.menu
    menu.popup(QPoint(900, 40))
    qtbot.waitExposed(menu)
    qtbot.wait(150)
    save_grab(menu, "tray_menu", screens_dir, expected=(menu.sizeHint().width(), menu.sizeHint().height()))
    menu.hide()

    box = ThoughtBox()
    qtbot.addWidget(box)
    box.open_at(QPoint(300, 300))
    qtbot.waitExposed(box)
    qtbot.keyClicks(box.entry, "I open the Save dialog to keep the draft")
    qtbot.wait(150)
    save_grab(box, "thought_box", screens_dir, expected=(box.sizeHint().width(), box.sizeHint().height()))
    box.hide()


def test_the_tray_menu_opens_the_review_and_settings_windows(qtbot, tmp_path, monkeypatch) -> None:
    from tests.review_samples import write_review_sample

    monkeypatch.setenv("PCAGENT_MODELS_FILE", str(tmp_path / "models.toml"))
    monkeypatch.setenv("PCAGENT_SETTINGS_FILE", str(tmp_path / "settings.toml"))
    application = Application(AppController(), tray=False, probe=False)
    root = write_review_sample(tmp_path / "rec-menu")
    application.review_trajectory(root)
    (review,) = application.review_windows
    qtbot.waitExposed(review)
    assert review.edit.root == root.resolve()
    application.actions.settings.trigger()
    application.actions.settings.trigger()  # a second time brings the same window forward
    (settings,) = application.settings_windows
    qtbot.waitExposed(settings)
    assert settings.store.settings_path == tmp_path / "settings.toml"
    application.review_trajectory(tmp_path / "not-a-trajectory")  # a clear message, no window
    assert len(application.review_windows) == 1
    assert "not a trajectory folder" in application.control_window.message.text()
    for window in (review, settings):
        window.close()
    qtbot.waitUntil(lambda: not application.review_windows and not application.settings_windows)
