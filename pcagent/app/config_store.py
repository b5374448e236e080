"""The user's settings files, read and edited for the tray app (no Qt): models.toml and settings.toml.

Both files are the ones the command line reads (`models.profiles.default_config_path`,
`tracker.settings.default_settings_path`). `ConfigStore` edits them with tomlkit, so a user's comments, key
order and formatting survive; before a file is replaced (atomically), its new text is read back by the same
readers the CLI uses, so the window can never write a file the CLI rejects, and a file that changed on disk
since it was opened is not overwritten.

settings.toml's [app] table is read here (the other tables by their owners: [privacy] and [screenshots] by the
tracker, [recorder] and [hotkeys] by pcagent.app.controller, [approval] by pcagent.app.approval_rules; a
ConfigStore is given their readers as ``settings_checks``)::

    [app]
    default_mode = "confirm"            # the run dialog's mode: confirm | auto | suggest
    countdown_s = 0                     # confirm mode approves by itself after this many seconds; 0: never

API keys never enter a file: a profile names a keyring entry (``api_key_keyring = "pcagent:<profile>"``,
see `models.profiles.resolve_api_key`) that `store_api_key` fills, or an environment variable
(``api_key_env``) where the OS has no keyring (`keyring_status`).
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from models.errors import ModelConfigError
from models.profile import ModelProfile
from models.profiles import KEYRING_HINT, default_config_path, load_profiles, override
from pcagent.agent.types import MODES
from tracker.format.screenshot_format import load_screenshot_format
from tracker.privacy import load_privacy_settings
from tracker.settings import SettingsError, default_settings_path, read_table

__all__ = [
    "APP_KEYS", "KEYRING_SERVICE", "PROFILE_FIELDS", "AppSettings", "ConfigStore", "ConfigStoreError",
    "KeyringStatus", "KeyringUnavailable", "api_key_stored", "delete_api_key", "keyring_reference",
    "keyring_status", "load_app_settings", "store_api_key",
]

APP_KEYS = ("default_mode", "countdown_s")
KEYRING_SERVICE = "pcagent"
PROFILE_FIELDS = tuple(f.name for f in dataclasses.fields(ModelProfile) if f.name != "name")
SettingsCheck = Callable[[Path], object]  # a table's reader: raises on a file it cannot use


class ConfigStoreError(ValueError):
    """A settings change that cannot be made or saved; the message names the file and the key."""


class KeyringUnavailable(RuntimeError):
    """The OS keyring cannot store or read a key here; the message says why (never the key)."""


# ---------------------------------------------------------------------------------------------------
# [app]


@dataclass(frozen=True)
class AppSettings:
    default_mode: str = "confirm"
    countdown_s: float | None = None  # None: confirm mode waits for the person


def load_app_settings(path: str | Path | None = None) -> AppSettings:
    """settings.toml's [app] table (defaults for what it leaves out); SettingsError names file and key."""
    table, where = read_table("app", path)
    table = table or {}
    unknown = sorted(set(table) - set(APP_KEYS))
    if unknown:
        raise SettingsError(f"{where}: [app] unknown key(s) {', '.join(map(repr, unknown))}; "
                            f"keys are {', '.join(APP_KEYS)}")
    mode = table.get("default_mode", "confirm")
    if mode not in MODES:
        raise SettingsError(f"{where}: [app] default_mode must be one of {', '.join(MODES)}, not {mode!r}")
    countdown = table.get("countdown_s", 0)
    if isinstance(countdown, bool) or not isinstance(countdown, (int, float)) or not 0 <= countdown <= 3600:
        raise SettingsError(f"{where}: [app] countdown_s must be a number of seconds from 0 to 3600, "
                            f"not {countdown!r}")
    return AppSettings(default_mode=mode, countdown_s=float(countdown) or None)


# ---------------------------------------------------------------------------------------------------
# The API key in the OS keyring


@dataclass(frozen=True)
class KeyringStatus:
    available: bool
    backend: str  # the keyring backend's name, e.g. "SecretService Keyring"
    reason: str | None = None  # why it is not available


def keyring_status() -> KeyringStatus:
    """Whether the OS keyring can hold API keys here (the keyring package and a real backend)."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return KeyringStatus(False, "none", f"the keyring package is not installed: {KEYRING_HINT}")
    backend = keyring.get_keyring()
    name = getattr(backend, "name", type(backend).__name__)
    if isinstance(backend, fail.Keyring) or (isinstance(backend, chainer.ChainerBackend) and not backend.backends):
        return KeyringStatus(False, name, "no OS keyring is available (Secret Service, KWallet, macOS Keychain "
                                          "or Windows Credential Locker)")
    return KeyringStatus(True, name)


def keyring_reference(profile_name: str) -> str:
    """The profile's ``api_key_keyring`` value: "pcagent:<profile>" (service "pcagent", user the profile)."""
    return f"{KEYRING_SERVICE}:{profile_name}"


def _keyring_call(what: str, reference: str, call) -> Any:
    status = keyring_status()
    if not status.available:
        raise KeyringUnavailable(f"cannot {what}: {status.reason}")
    import keyring.errors

    service, _, username = reference.partition(":")
    try:
        return call(service, username)
    except keyring.errors.KeyringError as exc:  # the message may quote the backend; the type says enough
        raise KeyringUnavailable(f"cannot {what} in the OS keyring ({status.backend}): {type(exc).__name__}") \
            from None


def store_api_key(profile_name: str, key: str) -> str:
    """Keep ``key`` in the OS keyring for the profile; returns the profile's ``api_key_keyring`` value."""
    import keyring

    if not key or key != key.strip():
        raise ConfigStoreError("an API key may not be empty or start or end with spaces")
    reference = keyring_reference(profile_name)
    _keyring_call("store the API key", reference, lambda service, user: keyring.set_password(service, user, key))
    return reference


def api_key_stored(reference: str) -> bool:
    """Whether the keyring holds a key under ``reference`` ("service" or "service:username")."""
    import keyring

    def lookup(service: str, user: str) -> bool:
        if user:
            return keyring.get_password(service, user) is not None
        return keyring.get_credential(service, None) is not None
    return bool(_keyring_call("read the keyring", reference, lookup))


def delete_api_key(reference: str) -> None:
    """Remove the key stored under "service:username" (nothing when there is none)."""
    import keyring
    import keyring.errors

    def delete(service: str, user: str) -> None:
        try:
            keyring.delete_password(service, user)
        except keyring.errors.PasswordDeleteError:
            pass
    _keyring_call("delete the API key", reference, delete)


# ---------------------------------------------------------------------------------------------------
# Editing the files


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _parse(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigStoreError(f"{path}: cannot read the file: {exc}") from None
    except TOMLKitError as exc:
        raise ConfigStoreError(f"{path}: not valid TOML: {exc}") from None


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


class _TomlFile:
    """One TOML file, parsed with its comments; ``write`` has each of ``checks`` read the new text first."""

    def __init__(self, path: Path, checks: Sequence[SettingsCheck]) -> None:
        self.path = path
        self._checks = checks
        self._doc: tomlkit.TOMLDocument | None = None
        self.changed = False

    @property
    def doc(self) -> tomlkit.TOMLDocument:
        """The parsed file, read when first needed (editing one file never requires the other to parse)."""
        if self._doc is None:
            self._stamp = _stamp(self.path)
            self._doc = _parse(self.path)
        return self._doc

    def table(self, names: tuple[str, ...], create: bool) -> Any:
        """The table at ``names`` (("profiles", "lab") is [profiles.lab]); None when absent and not created."""
        node = self.doc
        for depth, part in enumerate(names):
            if part not in node:
                if not create:
                    return None
                # [profiles] itself is only a header for its [profiles.NAME] tables.
                node[part] = tomlkit.table(is_super_table=names[:depth + 1] == ("profiles",))
                self.changed = True
            node = node[part]
            if not hasattr(node, "items"):
                raise ConfigStoreError(f"{self.path}: {'.'.join(names[:depth + 1])!r} is not a table")
        return node

    def set(self, names: tuple[str, ...], key: str, value: Any) -> None:
        """Set (None: remove) one key; an unchanged value leaves the file's text as it was."""
        table = self.table(names, create=value is not None)
        if table is None:
            return
        if value is None:
            if key in table:
                del table[key]
                self.changed = True
        elif key not in table or _plain(table[key]) != value:
            table[key] = value
            self.changed = True

    def write(self) -> None:
        if not self.changed:
            return
        if _stamp(self.path) != self._stamp:
            raise ConfigStoreError(f"{self.path} changed on disk since it was opened; reopen the settings to "
                                   "edit the new version (nothing was written)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            # 0600 from the start: models.toml may carry a token in extra_headers.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(tomlkit.dumps(self.doc))
                handle.flush()
                os.fsync(handle.fileno())
            if self.path.exists():
                os.chmod(temporary, self.path.stat().st_mode & 0o777)
            for check in self._checks:
                try:
                    check(temporary)
                except Exception as exc:  # noqa: BLE001 - any reader refusing the text stops the write
                    message = str(exc).replace(str(temporary), str(self.path))
                    raise ConfigStoreError(message or type(exc).__name__) from None
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        self._stamp = _stamp(self.path)
        self.changed = False


_OWN_CHECKS: tuple[SettingsCheck, ...] = (load_privacy_settings, load_screenshot_format, load_app_settings)


class ConfigStore:
    """models.toml and settings.toml opened for editing; ``save`` writes what changed."""

    def __init__(self, models_path: str | Path | None = None, settings_path: str | Path | None = None, *,
                 settings_checks: Sequence[SettingsCheck] = ()) -> None:
        """``settings_checks``: the readers of settings.toml's other tables (the app's [recorder], ...), run
        with [privacy], [screenshots] and [app]'s on the new text before it replaces the file."""
        self.models_path = Path(models_path).expanduser() if models_path else default_config_path()
        self.settings_path = Path(settings_path).expanduser() if settings_path else default_settings_path()
        self._models = _TomlFile(self.models_path, (load_profiles,))
        self._settings = _TomlFile(self.settings_path, (*_OWN_CHECKS, *settings_checks))

    @property
    def changed(self) -> bool:
        return self._models.changed or self._settings.changed

    # ---- model profiles -------------------------------------------------------------------------

    def profile_names(self) -> list[str]:
        profiles = self._models.table(("profiles",), create=False)
        return list(profiles) if profiles is not None else []

    def profile(self, name: str) -> dict[str, Any]:
        """The profile's fields as the file has them (without environment overrides)."""
        profiles = self._models.table(("profiles",), create=False)
        if profiles is None or name not in profiles:
            raise ConfigStoreError(f"{self.models_path}: no profile {name!r}")
        return _plain(profiles[name])

    def add_profile(self, name: str) -> None:
        if not name or name != name.strip() or "." in name or ":" in name:
            raise ConfigStoreError(f"a profile name must be non-empty, without spaces at its ends, '.' or ':', "
                                   f"not {name!r}")
        profiles = self._models.table(("profiles",), create=True)
        if name in profiles:
            raise ConfigStoreError(f"{self.models_path}: a profile {name!r} already exists")
        profiles[name] = tomlkit.table()
        self._models.changed = True

    def remove_profile(self, name: str) -> None:
        profiles = self._models.table(("profiles",), create=False)
        if profiles is None or name not in profiles:
            raise ConfigStoreError(f"{self.models_path}: no profile {name!r}")
        del profiles[name]
        self._models.changed = True

    def set_profile_field(self, name: str, field_name: str, value: Any) -> None:
        """One field of a profile; text is converted as for environment variables ("" or None: removed)."""
        if field_name not in PROFILE_FIELDS:
            raise ConfigStoreError(f"unknown profile field {field_name!r}; fields are {', '.join(PROFILE_FIELDS)}")
        self.profile(name)  # exists
        if value is None or (isinstance(value, str) and not value.strip()):
            self._models.set(("profiles", name), field_name, None)
            return
        try:
            typed = getattr(override(ModelProfile(name=name), **{field_name: value}), field_name)
        except ModelConfigError as exc:
            raise ConfigStoreError(f"{self.models_path}: {exc}") from None
        self._models.set(("profiles", name), field_name, list(typed) if isinstance(typed, tuple) else typed)

    # ---- settings.toml --------------------------------------------------------------------------

    def setting(self, table: str, key: str, default: Any = None) -> Any:
        values = self._settings.table((table,), create=False)
        return _plain(values[key]) if values is not None and key in values else default

    def set_setting(self, table: str, key: str, value: Any) -> None:
        """One key of settings.toml (None: removed, so the default applies); checked at ``save``."""
        self._settings.set((table,), key, list(value) if isinstance(value, tuple) else value)

    # ---- writing --------------------------------------------------------------------------------

    def save(self) -> None:
        """Write each changed file atomically, after the CLI's readers accepted its new text."""
        self._settings.write()
        self._models.write()
