"""How recordings are made, from settings.toml's [recorder] and [hotkeys] tables: the one reader for
`pcagent record` and the tray app, each putting its command line's options over the file::

    [recorder]
    fps = 10                          # screen frames per second kept (more than 0, at most 60)
    idle_wait_s = 6                   # seconds without input that make a `wait` step; 0: none
    accessibility = true              # ask AT-SPI for the element under the pointer
    exclude_windows = ["KeePassXC"]   # never record steps in windows whose title or application contains one
    trajectories_dir = "~/demos"      # where new trajectories go (default ~/.local/share/pcagent/trajectories)

    [hotkeys]
    thought = "ctrl+alt+t"            # the tray app's "add a thought"
    pause = "ctrl+shift+f9"
    finish = "ctrl+shift+f10"
    fail = "ctrl+shift+f11"
    stop = "ctrl+shift+f12"

A bad value is a SettingsError naming the file and the key (or, for an option given over the file, the
option). [privacy] and [screenshots] have readers of their own; `RecordingOptions.recorder_config` reads them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tracker.format.actions import ActionError
from tracker.format.screenshot_format import load_screenshot_format
from tracker.privacy import load_privacy_settings
from tracker.recording.merge import MergeConfig, parse_hotkey_spec
from tracker.recording.recorder import DEFAULT_HOTKEYS, RecorderConfig
from tracker.settings import SettingsError, read_table

__all__ = ["DEFAULT_THOUGHT_HOTKEY", "HOTKEY_COMMANDS", "RecordingOptions", "check_hotkey_spec",
           "default_trajectories_dir", "load_recording_options", "new_trajectory_folder"]

DEFAULT_THOUGHT_HOTKEY = "ctrl+alt+t"
HOTKEY_COMMANDS = ("thought", *DEFAULT_HOTKEYS)  # the keys of [hotkeys]
MAX_FPS = 60
_HOTKEY_MODIFIERS = frozenset({"ctrl", "alt", "shift", "super"})
_RECORDER_KEYS = {"fps": (int, float), "idle_wait_s": (int, float), "accessibility": bool,
                  "exclude_windows": list, "trajectories_dir": str}


def default_trajectories_dir() -> Path:
    """Where trajectories go when settings.toml names no folder: $XDG_DATA_HOME/pcagent/trajectories."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "pcagent" / "trajectories"


def new_trajectory_folder(prefix: str = "rec", folder: Path | None = None,
                          settings_path: str | Path | None = None) -> Path:
    """A new trajectory folder's path, <prefix>-<date>-<time>, in `folder`, else in settings.toml's [recorder]
    trajectories_dir, else in default_trajectories_dir(): where recordings and agent runs go when not told.
    Raises SettingsError for a bad settings.toml."""
    if folder is None:
        folder = load_recording_options(settings_path).folder()
    return Path(folder) / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_hotkey_spec(spec: str) -> tuple[frozenset[str], str]:
    """(modifiers, key) of a hotkey such as "ctrl+alt+t"; raises ValueError saying what is wrong: a key
    besides the modifiers is needed, and only ctrl, alt, shift and super can hold one."""
    try:
        modifiers, key = parse_hotkey_spec(spec)
    except (ValueError, ActionError) as exc:
        raise ValueError(f"bad hotkey {spec!r}: {exc}") from exc
    if key in (*_HOTKEY_MODIFIERS, "alt_gr"):
        raise ValueError(f"bad hotkey {spec!r}: it needs a key besides the modifiers, e.g. ctrl+alt+t")
    unknown = modifiers - _HOTKEY_MODIFIERS
    if unknown:
        raise ValueError(f"bad hotkey {spec!r}: {', '.join(sorted(unknown))} cannot hold a hotkey")
    return modifiers, key


@dataclass
class RecordingOptions:
    """How to record: the command line's options over settings.toml's [recorder] and [hotkeys] tables."""

    fps: float = 10.0
    idle_wait_s: float | None = 6.0  # None: no `wait` steps
    accessibility: bool = True
    exclude_windows: list[str] = field(default_factory=list)
    hotkeys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))  # the recorder's controls
    thought_hotkey: str = DEFAULT_THOUGHT_HOTKEY
    trajectories_dir: Path | None = None  # None: default_trajectories_dir()
    settings_path: Path | None = None  # None: the default settings.toml

    def folder(self) -> Path:
        """The folder new trajectories go to."""
        return Path(self.trajectories_dir).expanduser() if self.trajectories_dir else default_trajectories_dir()

    def recorder_config(self, *, thought_hotkey: bool = True) -> RecorderConfig:
        """The recorder's configuration, with [privacy] and [screenshots] from the same settings.toml (a bad
        table is a SettingsError). ``thought_hotkey``: the caller takes the thought hotkey (the tray app grabs
        it), so it is never recorded; without it (`pcagent record`) that key is recorded like any other."""
        privacy = load_privacy_settings(self.settings_path)
        screenshots = load_screenshot_format(self.settings_path)
        hotkeys = {**self.hotkeys, "thought": self.thought_hotkey} if thought_hotkey else dict(self.hotkeys)
        return RecorderConfig(fps=self.fps, hotkeys=hotkeys, exclude_windows=list(self.exclude_windows),
                              accessibility=self.accessibility, merge=MergeConfig(idle_wait_s=self.idle_wait_s),
                              privacy=privacy, screenshot_format=screenshots)


def _recorder_value(key: str, value: Any, where: str) -> Any:
    """A [recorder] value checked and in the form RecordingOptions holds it; `where` begins the error."""
    kinds = _RECORDER_KEYS.get(key)
    if kinds is None:
        raise SettingsError(f"{where} unknown key {key!r}; keys are {', '.join(_RECORDER_KEYS)}")
    if key == "trajectories_dir" and isinstance(value, Path):
        value = str(value)
    if not isinstance(value, kinds) or (key != "accessibility" and isinstance(value, bool)):
        raise SettingsError(f"{where} {key} has the wrong type ({value!r})")
    if key == "fps" and not 0 < value <= MAX_FPS:
        raise SettingsError(f"{where} fps must be between 0 and {MAX_FPS}, not {value}")
    if key == "idle_wait_s":
        return value if value > 0 else None
    if key == "exclude_windows":
        if not all(isinstance(item, str) and item.strip() for item in value):
            raise SettingsError(f"{where} exclude_windows must be a list of non-empty texts")
        return list(value)
    if key == "trajectories_dir":
        if not value.strip():
            raise SettingsError(f"{where} trajectories_dir is empty; leave it out for the default folder")
        return Path(value).expanduser()
    return value


def _hotkey_value(key: str, value: Any, where: str) -> str:
    """A [hotkeys] value checked; `where` begins the error."""
    if key not in HOTKEY_COMMANDS or not isinstance(value, str) or not value.strip():
        raise SettingsError(f"{where} {key} = {value!r}: the commands are {', '.join(HOTKEY_COMMANDS)}, "
                            f"each with a text like \"ctrl+alt+t\"")
    try:
        check_hotkey_spec(value)
    except ValueError as exc:
        raise SettingsError(f"{where} {key}: {exc}") from None
    return value


_GIVEN = "the options given"  # how an error names an override


def load_recording_options(path: str | Path | None = None, **overrides: Any) -> RecordingOptions:
    """settings.toml's [recorder] and [hotkeys] (see the module docstring), then the `overrides` that are not
    None: RecordingOptions fields, checked as the file's values are (`hotkeys` may name only some commands).
    Raises SettingsError naming the file and key, or the option."""
    settings_path = Path(path).expanduser() if path is not None else None
    options = RecordingOptions(settings_path=settings_path)
    recorder, where = read_table("recorder", settings_path)
    hotkeys, hotkeys_where = read_table("hotkeys", settings_path)
    origin = {}  # command -> where its hotkey was set, for the error when two share one
    for key, value in (recorder or {}).items():
        setattr(options, key, _recorder_value(key, value, f"{where}: [recorder]"))
    for key, value in (hotkeys or {}).items():
        origin[key] = f"{hotkeys_where} [hotkeys]"
        value = _hotkey_value(key, value, f"{hotkeys_where}: [hotkeys]")
        if key == "thought":
            options.thought_hotkey = value
        else:
            options.hotkeys[key] = value
    given = {key: value for key, value in overrides.items() if value is not None}
    for key, value in given.pop("hotkeys", {}).items():
        options.hotkeys[key], origin[key] = _hotkey_value(key, value, f"{_GIVEN}: hotkey"), _GIVEN
    if "thought_hotkey" in given:
        given["thought_hotkey"], origin["thought"] = _hotkey_value("thought", given["thought_hotkey"],
                                                                   f"{_GIVEN}: hotkey"), _GIVEN
    for key in given.keys() & _RECORDER_KEYS.keys():
        given[key] = _recorder_value(key, given[key], f"{_GIVEN}:")
    options = replace(options, **given)
    seen: dict[tuple[frozenset[str], str], str] = {}
    for command, spec in (("thought", options.thought_hotkey), *options.hotkeys.items()):
        other = seen.setdefault(check_hotkey_spec(spec), command)
        if other != command:
            places = sorted({origin.get(other, "the defaults"), origin.get(command, "the defaults")})
            raise SettingsError(f"{' and '.join(places)}: two commands share one hotkey: {other} and {command} "
                                f"are both {spec!r}")
    return options
