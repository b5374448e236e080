"""The "Run a task…" dialog: what the agent should do, which planner (a profile of models.toml), and how
the person stays in control (the mode, and in confirm mode an optional countdown).

The defaults come from settings.toml's [app] (default_mode, countdown_s: pcagent.app.config_store) and
[recorder] (trajectories_dir: pcagent.app.controller); the profiles from models.toml as `pcagent run --planner` reads them. A file that
cannot be read is shown in the dialog, never raised.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from pcagent.agent.types import MODES
from pcagent.app.agent_supervisor import AgentTask

__all__ = ["MODE_LABELS", "RunDialog"]

MODE_LABELS = {"confirm": "confirm: approve each step", "auto": "auto: steps run unless a guard asks",
               "suggest": "suggest: the agent proposes, you act"}


class RunDialog(QDialog):
    """``task()`` is the AgentTask once accepted (None when the input cannot make one)."""

    def __init__(self, parent: QWidget | None = None, *, models_file: str | None = None,
                 settings_path: str | Path | None = None, trajectories_dir: Path | None = None) -> None:
        """`trajectories_dir`: where the run goes (the app's folder); default: settings.toml's."""
        super().__init__(parent)
        self.setWindowTitle("pcagent: run a task")
        self.models_file = models_file
        self.problems: list[str] = []
        mode, countdown, self.trajectories = self._defaults(settings_path)
        self.trajectories = trajectories_dir or self.trajectories

        self.text = QPlainTextEdit()
        self.text.setPlaceholderText("What should the agent do? e.g. Rename report.txt to final.txt")
        self.text.setTabChangesFocus(True)
        self.text.setFixedHeight(80)
        self.planner = QComboBox()
        for name in self._profiles():
            self.planner.addItem(name)
        self.mode = QComboBox()
        for value in MODES:
            self.mode.addItem(MODE_LABELS[value], value)
        self.mode.setCurrentIndex(MODES.index(mode))
        self.countdown = QDoubleSpinBox()
        self.countdown.setRange(0, 3600)
        self.countdown.setDecimals(1)
        self.countdown.setSuffix(" s")
        self.countdown.setSpecialValueText("off: wait for me")
        self.countdown.setValue(countdown or 0)
        self.message = QLabel()
        self.message.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Task", self.text)
        form.addRow("Planner profile", self.planner)
        form.addRow("Mode", self.mode)
        form.addRow("Approve by itself after", self.countdown)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.mode.currentIndexChanged.connect(self._update)
        self.text.textChanged.connect(self._update)
        self._update()

    def _defaults(self, settings_path: str | Path | None) -> tuple[str, float | None, Path | None]:
        """[app]'s mode and countdown, and the folder trajectories go to ([recorder] trajectories_dir)."""
        from pcagent.app.config_store import load_app_settings
        from pcagent.app.controller import ControllerError, load_recording_options
        from tracker.settings import SettingsError

        try:
            settings = load_app_settings(settings_path)
            folder = load_recording_options(settings_path).folder()
        except (SettingsError, ControllerError) as exc:
            self.problems.append(str(exc))
            return "confirm", None, None
        return settings.default_mode, settings.countdown_s, folder

    def _profiles(self) -> list[str]:
        from models.errors import ModelError
        from models.profiles import default_config_path, load_profiles

        try:
            names = sorted(load_profiles(self.models_file))
        except ModelError as exc:
            self.problems.append(str(exc))
            return []
        if not names:
            where = self.models_file or default_config_path()
            self.problems.append(f"No planner profile yet: add one in Settings (it goes to {where}).")
        return names

    def _update(self) -> None:
        self.countdown.setEnabled(self.mode.currentData() == "confirm")
        ready = bool(self.text.toPlainText().strip()) and self.planner.count() > 0
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready)
        self.message.setText("\n".join(self.problems))

    def task(self) -> AgentTask | None:
        text = self.text.toPlainText().strip()
        if not text or self.planner.count() == 0:
            return None
        mode = self.mode.currentData()
        countdown = self.countdown.value() if mode == "confirm" and self.countdown.value() > 0 else None
        out = self.trajectories / f"run-{time.strftime('%Y%m%d-%H%M%S')}" if self.trajectories else None
        return AgentTask(text=text, planner=self.planner.currentText(), mode=mode, countdown_s=countdown,
                         models_file=self.models_file, out=out)

    def _accept(self) -> None:
        if self.task() is not None:
            self.accept()
