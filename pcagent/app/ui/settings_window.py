"""The settings window: model profiles, the agent's default mode, recording, hotkeys and privacy, written to
the files the command line reads (models.toml, settings.toml) through `ConfigStore`, comments kept.

API keys go to the OS keyring (the profile names the entry, ``api_key_keyring``); where there is no keyring
the window says so and offers an environment variable (``api_key_env``) instead. A typed key lives in memory
until Save hands it to the keyring; it is never shown again, logged or written to a file. Saving (keyring
calls may wait on D-Bus, files are synced) runs on a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from models.profile import BACKENDS
from pcagent.agent.types import MODES
from pcagent.app.config_store import (
    ConfigStore,
    ConfigStoreError,
    KeyringUnavailable,
    delete_api_key,
    keyring_reference,
    keyring_status,
    store_api_key,
)
from tracker.format.actions import ActionError
from tracker.format.screenshot_format import FORMATS
from tracker.recording.merge import parse_hotkey_spec
from tracker.recording.options import default_trajectories_dir
from tracker.recording.recorder import DEFAULT_HOTKEYS

__all__ = ["SettingsWindow"]

_DEFAULT = "default"
_PROFILE_TEXT_FIELDS = ("model", "base_url", "api_key_env")


@dataclass
class _Setting:
    """One settings.toml key shown in a widget: what it showed at opening, to write only what changed."""

    table: str
    key: str
    read: Callable[[], Any]  # the widget's value; None means "the default" (the key is removed)
    shown: Any = None


def _lines(edit: QPlainTextEdit) -> list[str]:
    return [line.strip() for line in edit.toPlainText().splitlines() if line.strip()]


class _Relay(QObject):
    saved = Signal(str)  # "" on success, else the error


class _SaveJob(QRunnable):
    """Keys to the keyring first (so a profile never names an entry that was not stored), then the files."""

    def __init__(self, relay: _Relay, store: ConfigStore, keys: dict[str, str], forget: list[str]) -> None:
        super().__init__()
        self._relay, self._store, self._keys, self._forget = relay, store, keys, forget

    def run(self) -> None:
        try:
            for reference in self._forget:
                delete_api_key(reference)
            for profile, key in self._keys.items():
                self._store.set_profile_field(profile, "api_key_keyring", store_api_key(profile, key))
            self._store.save()
            self._relay.saved.emit("")
        except (ConfigStoreError, KeyringUnavailable) as exc:
            self._relay.saved.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the person; never the key (it is not in messages)
            self._relay.saved.emit(f"{type(exc).__name__}: {exc}")


class SettingsWindow(QDialog):
    """Settings over a ConfigStore (default: the user's own files). Raises ConfigStoreError when a file
    cannot be read at all (not TOML): the window never overwrites what it could not read."""

    saved = Signal()

    def __init__(self, store: ConfigStore | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if store is None:
            from pcagent.app.approval_rules import load_approval_settings
            from pcagent.app.controller import load_recording_options

            store = ConfigStore(settings_checks=(load_recording_options, load_approval_settings))
        self.store = store
        self.keyring = keyring_status()
        self._relay = _Relay()  # no parent: outlives the window while a save finishes
        self._relay.saved.connect(self._save_finished)
        self._pool = QThreadPool(self)
        self._settings: list[_Setting] = []
        self._profile: str | None = None
        self._pending_keys: dict[str, str] = {}  # profile -> key typed in this window, until Save
        self._forget: list[str] = []  # keyring entries to delete at Save
        self._saving = False
        self.setObjectName("settings_window")
        self.setWindowTitle("pcagent settings")
        self.resize(760, 560)
        layout = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._models_tab(), "Models")
        self.tabs.addTab(self._agent_tab(), "Agent")
        self.tabs.addTab(self._recording_tab(), "Recording")
        self.tabs.addTab(self._privacy_tab(), "Privacy")
        layout.addWidget(self.tabs, 1)
        files = QLabel(f"Model profiles: {store.models_path}\nSettings: {store.settings_path}")
        files.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        files.setObjectName("files")
        layout.addWidget(files)
        buttons = QHBoxLayout()
        self.status = QLabel(objectName="status")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        buttons.addWidget(self.status, 1)
        self.save_button = QPushButton("Save", objectName="save")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        close = QPushButton("Close", objectName="close")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.save_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        if self.profiles.count():
            self.profiles.setCurrentRow(0)
        else:
            self._show_profile(None)

    # ---- models ---------------------------------------------------------------------------------

    def _models_tab(self) -> QWidget:
        tab = QWidget()
        row = QHBoxLayout(tab)
        left = QVBoxLayout()
        self.profiles = QListWidget(objectName="profiles")
        self.profiles.addItems(self.store.profile_names())
        self.profiles.currentTextChanged.connect(self._show_profile)
        left.addWidget(self.profiles, 1)
        self.new_profile = QLineEdit(objectName="new_profile")
        self.new_profile.setPlaceholderText("new profile name")
        left.addWidget(self.new_profile)
        add_remove = QHBoxLayout()
        add = QPushButton("Add", objectName="add_profile")
        add.clicked.connect(self.add_profile)
        self.remove_button = QPushButton("Remove", objectName="remove_profile")
        self.remove_button.clicked.connect(self.remove_profile)
        add_remove.addWidget(add)
        add_remove.addWidget(self.remove_button)
        left.addLayout(add_remove)
        row.addLayout(left, 1)

        form = QFormLayout()
        self.backend = QComboBox(objectName="backend")
        self.backend.addItems(BACKENDS)
        self.model_name = QLineEdit(objectName="model")
        self.model_name.setPlaceholderText("the server's model name, or a local path")
        self.base_url = QLineEdit(objectName="base_url")
        self.base_url.setPlaceholderText("http://127.0.0.1:8000/v1")
        self.api_key = QLineEdit(objectName="api_key")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.textEdited.connect(self._key_typed)
        self.forget_key = QPushButton("Remove stored key", objectName="forget_key")
        self.forget_key.clicked.connect(self._forget_key)
        key_row = QHBoxLayout()
        key_row.addWidget(self.api_key, 1)
        key_row.addWidget(self.forget_key)
        self.key_state = QLabel(objectName="key_state")
        self.key_state.setWordWrap(True)
        self.key_state.setTextFormat(Qt.TextFormat.PlainText)
        self.api_key_env = QLineEdit(objectName="api_key_env")
        self.api_key_env.setPlaceholderText("e.g. OPENAI_API_KEY")
        form.addRow("Backend:", self.backend)
        form.addRow("Model:", self.model_name)
        form.addRow("Base URL:", self.base_url)
        form.addRow("API key:", key_row)
        form.addRow("", self.key_state)
        form.addRow("API key variable:", self.api_key_env)
        hint = QLabel("Other fields of a profile (image size, timeouts, ...) stay as models.toml has them.")
        hint.setWordWrap(True)
        form.addRow("", hint)
        self.profile_form = QWidget()
        self.profile_form.setLayout(form)
        row.addWidget(self.profile_form, 2)
        if not self.keyring.available:
            self.api_key.setEnabled(False)
            self.api_key.setPlaceholderText("no OS keyring here")
        return tab

    def _profile_values(self) -> dict[str, str]:
        return {"backend": self.backend.currentText(), "model": self.model_name.text().strip(),
                "base_url": self.base_url.text().strip(), "api_key_env": self.api_key_env.text().strip()}

    def _commit_profile(self) -> None:
        """The shown profile's fields into the store (checked like the CLI checks them)."""
        if self._profile is None:
            return
        values = self._profile_values()
        current = self.store.profile(self._profile)
        for field_name, value in values.items():
            if value != str(current.get(field_name, "openai" if field_name == "backend" else "")):
                self.store.set_profile_field(self._profile, field_name, value or None)

    def _show_profile(self, name: str | None) -> None:
        if self._profile is not None and name != self._profile:
            try:
                self._commit_profile()
            except ConfigStoreError as exc:
                self._say(str(exc))
                self.profiles.blockSignals(True)
                self.profiles.setCurrentRow(self.store.profile_names().index(self._profile))
                self.profiles.blockSignals(False)
                return
        self._profile = name or None
        self.profile_form.setEnabled(self._profile is not None)
        self.remove_button.setEnabled(self._profile is not None)
        values = self.store.profile(self._profile) if self._profile else {}
        self.backend.setCurrentText(str(values.get("backend", "openai")))
        self.model_name.setText(str(values.get("model", "")))
        self.base_url.setText(str(values.get("base_url", "")))
        self.api_key_env.setText(str(values.get("api_key_env", "")))
        self.api_key.clear()
        self._update_key_state()

    def _update_key_state(self) -> None:
        if self._profile is None:
            self.key_state.clear()
            self.forget_key.setEnabled(False)
            return
        entry = self.store.profile(self._profile).get("api_key_keyring")
        pending = self._profile in self._pending_keys
        self.forget_key.setEnabled(bool(entry or pending) and self.keyring.available)
        if not self.keyring.available:
            reason = self.keyring.reason or "no OS keyring is available"
            self.key_state.setText(f"{reason[0].upper()}{reason[1:]}, so a key cannot be kept here. Put it in an "
                                   "environment variable and name that under “API key variable” (api_key_env).")
        elif pending:
            self.key_state.setText(f"The key goes to the OS keyring ({self.keyring.backend}) when you save.")
        elif entry:
            self.key_state.setText(f"A key is kept in the OS keyring as “{entry}”; type a new one to replace it.")
        else:
            self.key_state.setText(f"No key stored. A key typed here is kept in the OS keyring "
                                   f"({self.keyring.backend}), never in a file.")
        self.api_key.setPlaceholderText("••••••••  (stored)" if entry and not pending else "")

    def _key_typed(self, text: str) -> None:
        if self._profile is None:
            return
        if text:
            self._pending_keys[self._profile] = text
        else:
            self._pending_keys.pop(self._profile, None)
        self._update_key_state()

    def _forget_key(self) -> None:
        if self._profile is None:
            return
        self._pending_keys.pop(self._profile, None)
        self.api_key.clear()
        entry = self.store.profile(self._profile).get("api_key_keyring")
        if entry == keyring_reference(self._profile):
            self._forget.append(entry)  # only the entry this window made; another program's stays
        self.store.set_profile_field(self._profile, "api_key_keyring", None)
        self._update_key_state()
        self._say("The key is removed when you save.")

    def add_profile(self) -> None:
        name = self.new_profile.text().strip()
        try:
            self._commit_profile()
            self.store.add_profile(name)
        except ConfigStoreError as exc:
            self._say(str(exc))
            return
        self.new_profile.clear()
        self.profiles.addItem(name)
        self.profiles.setCurrentRow(self.profiles.count() - 1)

    def remove_profile(self) -> None:
        if self._profile is None:
            return
        name, self._profile = self._profile, None
        if self.store.profile(name).get("api_key_keyring") == keyring_reference(name) and self.keyring.available:
            self._forget.append(keyring_reference(name))
        self._pending_keys.pop(name, None)
        self.store.remove_profile(name)
        self.profiles.takeItem(self.profiles.currentRow())

    # ---- settings.toml --------------------------------------------------------------------------

    def _bind(self, table: str, key: str, read: Callable[[], Any]) -> None:
        self._settings.append(_Setting(table, key, read, read()))

    def _agent_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.default_mode = QComboBox(objectName="default_mode")
        self.default_mode.addItems(MODES)
        self.default_mode.setCurrentText(self.store.setting("app", "default_mode", "confirm"))
        self.countdown = QDoubleSpinBox(objectName="countdown")
        self.countdown.setRange(0, 3600)
        self.countdown.setDecimals(1)
        self.countdown.setSpecialValueText("off")
        self.countdown.setSuffix(" s")
        self.countdown.setValue(float(self.store.setting("app", "countdown_s", 0)))
        form.addRow("Default mode:", self.default_mode)
        form.addRow("Approve by itself after:", self.countdown)
        form.addRow("", QLabel("confirm: you approve each step; auto: steps run unless a guard asks;\n"
                               "suggest: the agent proposes, you act. The countdown applies in confirm mode."))
        self._bind("app", "default_mode", self.default_mode.currentText)
        self._bind("app", "countdown_s", self.countdown.value)
        return tab

    def _recording_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.fps = QDoubleSpinBox(objectName="fps")
        self.fps.setRange(0.5, 60)
        self.fps.setDecimals(1)
        self.fps.setValue(float(self.store.setting("recorder", "fps", 10.0)))
        self.image_format = QComboBox(objectName="image_format")
        self.image_format.addItems([_DEFAULT, *FORMATS])
        self.image_format.setCurrentText(self.store.setting("screenshots", "format", _DEFAULT))
        self.image_quality = QSpinBox(objectName="image_quality")
        self.image_quality.setRange(0, 100)
        self.image_quality.setSpecialValueText("lossless")
        self.image_quality.setValue(int(self.store.setting("screenshots", "quality", 0)))
        self.excluded = QPlainTextEdit(objectName="exclude_windows")
        self.excluded.setPlaceholderText("one window title or application per line, e.g. KeePassXC")
        self.excluded.setPlainText("\n".join(self.store.setting("recorder", "exclude_windows", [])))
        self.excluded.setFixedHeight(80)
        self.trajectories_dir = QLineEdit(objectName="trajectories_dir")
        self.trajectories_dir.setPlaceholderText(str(default_trajectories_dir()))
        self.trajectories_dir.setText(self.store.setting("recorder", "trajectories_dir", ""))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.trajectories_dir, 1)
        folder_row.addWidget(browse)
        form.addRow("Frames per second:", self.fps)
        form.addRow("Screenshot format:", self.image_format)
        form.addRow("Quality (lossy):", self.image_quality)
        form.addRow("Never record:", self.excluded)
        form.addRow("Trajectories folder:", folder_row)
        self.hotkeys: dict[str, QLineEdit] = {}
        for command, default in (("thought", None), *DEFAULT_HOTKEYS.items()):
            edit = QLineEdit(objectName=f"hotkey_{command}")
            edit.setPlaceholderText(default or "the app's default")
            edit.setText(self.store.setting("hotkeys", command, ""))
            self.hotkeys[command] = edit
            form.addRow(f"{'Add a thought' if command == 'thought' else command.capitalize()} hotkey:", edit)
            self._bind("hotkeys", command, lambda edit=edit: edit.text().strip() or None)
        self._bind("recorder", "fps", self.fps.value)
        self._bind("screenshots", "format",
                   lambda: None if self.image_format.currentText() == _DEFAULT else self.image_format.currentText())
        self._bind("screenshots", "quality", lambda: self.image_quality.value() or None)
        self._bind("recorder", "exclude_windows", lambda: _lines(self.excluded) or None)
        self._bind("recorder", "trajectories_dir", lambda: self.trajectories_dir.text().strip() or None)
        return tab

    def _privacy_tab(self) -> QWidget:
        tab = QWidget()
        form = QFormLayout(tab)
        self.privacy_words = QPlainTextEdit(objectName="extra_auth_words")
        self.privacy_words.setPlaceholderText("one word per line, e.g. kennwort")
        self.privacy_words.setPlainText("\n".join(self.store.setting("privacy", "extra_auth_words", [])))
        self.title_patterns = QPlainTextEdit(objectName="title_patterns")
        self.title_patterns.setPlaceholderText("one regular expression per line, e.g. ^KeePassXC")
        self.title_patterns.setPlainText("\n".join(self.store.setting("privacy", "title_patterns", [])))
        form.addRow(QLabel("Typing is never recorded in a window whose title or application holds one of the\n"
                           "built-in words (password, PIN, sudo, ...) or these:"))
        form.addRow("Extra words:", self.privacy_words)
        form.addRow("Window titles:", self.title_patterns)
        self._bind("privacy", "extra_auth_words", lambda: _lines(self.privacy_words) or None)
        self._bind("privacy", "title_patterns", lambda: _lines(self.title_patterns) or None)
        return tab

    def _choose_folder(self) -> None:
        start = self.trajectories_dir.text().strip() or str(default_trajectories_dir())
        folder = QFileDialog.getExistingDirectory(self, "Where trajectories go", str(Path(start).expanduser()))
        if folder:
            self.trajectories_dir.setText(folder)

    # ---- saving ---------------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        self.status.setText(message)

    def _check_hotkeys(self) -> None:
        for command, edit in self.hotkeys.items():
            spec = edit.text().strip()
            if spec:
                try:
                    parse_hotkey_spec(spec)
                except (ValueError, ActionError) as exc:
                    raise ConfigStoreError(f"{command} hotkey {spec!r}: {exc}") from None

    def save(self) -> None:
        """Put what changed into the store, then (on a worker) keys into the keyring and the files on disk."""
        if self._saving:
            return
        try:
            self._check_hotkeys()
            self._commit_profile()
            for setting in self._settings:
                value = setting.read()
                if value != setting.shown:
                    self.store.set_setting(setting.table, setting.key, value)
        except ConfigStoreError as exc:
            self._say(str(exc))
            return
        self._saving = True
        self.tabs.setEnabled(False)
        self.save_button.setEnabled(False)
        self._say("Saving…")
        keys, self._pending_keys = self._pending_keys, {}
        forget, self._forget = self._forget, []
        self._pool.start(_SaveJob(self._relay, self.store, keys, forget))

    def _save_finished(self, error: str) -> None:
        self._saving = False
        self.tabs.setEnabled(True)
        self.save_button.setEnabled(True)
        self.api_key.clear()
        if error:
            self._say(f"Not saved: {error}")
            return
        for setting in self._settings:
            setting.shown = setting.read()
        self._update_key_state()
        self._say("Saved.")
        self.saved.emit()

    def is_saving(self) -> bool:
        return self._saving

    def done(self, result: int) -> None:
        if self._saving:
            return  # closing waits for the save to finish
        self._pool.waitForDone(5000)
        super().done(result)
