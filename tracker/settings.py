"""settings.toml: the user's pcagent settings, one file with a table per concern, read by the module that
owns each table: [privacy] (tracker.privacy), [screenshots] (tracker.format.screenshot_format), [recorder]
and [hotkeys] (tracker.recording.options, for `pcagent record` and the tray app), and the tray app's
[approval] (pcagent.app.approval_rules) and [app] (pcagent.app.config_store, which also writes the file for
the settings window).

The file is $PCAGENT_SETTINGS_FILE, else $XDG_CONFIG_HOME/pcagent/settings.toml, else
~/.config/pcagent/settings.toml (the tray app's settings will write it; model profiles stay in models.toml).
A missing file means the defaults; a malformed one is a SettingsError naming the file and the key.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["SETTINGS_FILE_ENV", "TABLES", "SettingsError", "default_settings_path", "read_table"]

SETTINGS_FILE_ENV = "PCAGENT_SETTINGS_FILE"
TABLES = ("privacy", "screenshots", "approval", "app", "recorder", "hotkeys")


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""


def default_settings_path() -> Path:
    """Where settings are read from when no path is given."""
    explicit = os.environ.get(SETTINGS_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "pcagent" / "settings.toml"


def read_table(name: str, path: str | Path | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """(the [name] table or None, the file it was read from or None when there is no file)."""
    path = Path(path).expanduser() if path is not None else default_settings_path()
    if not path.exists():
        return None, None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read the file: {exc}") from None
    for key in data:
        if key not in TABLES:
            raise SettingsError(f"{path}: unknown top-level key {key!r}; the file holds the tables "
                                f"{', '.join(f'[{t}]' for t in TABLES)}")
    table = data.get(name)
    if table is not None and not isinstance(table, dict):
        raise SettingsError(f"{path}: {name!r} must be a table ([{name}])")
    return table, str(path)
