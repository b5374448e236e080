"""Model profiles from a TOML file, overridden by environment variables and command-line flags.

The file (`default_config_path()`: $PCAGENT_MODELS_FILE, else $XDG_CONFIG_HOME/pcagent/models.toml,
else ~/.config/pcagent/models.toml) holds one table per profile, with `ModelProfile` fields:

    [profiles.local-qwen]
    model = "Qwen/Qwen2.5-VL-7B-Instruct"
    base_url = "http://127.0.0.1:8000/v1"
    image_max_pixels = 1003520

    [profiles.hosted]
    model = "gpt-4o"
    base_url = "https://api.openai.com/v1"
    api_key_env = "OPENAI_API_KEY"

`PCAGENT_PROFILE_<NAME>_<FIELD>=value` (NAME upper-cased, '-' and other punctuation -> '_') overrides
one field, converted to the field's type (numbers; "none" or "" for an optional field; providers as
"a,b" or a JSON list; dicts as JSON). A variable that names no profile in the file creates one, named
in lower case, so a profile can live in the environment alone.

Every mistake is a ModelConfigError naming the file (or variable), the profile and the field. API keys
are never read into a profile: `resolve_api_key` fetches one when a backend needs it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from models.errors import ModelConfigError, ModelUnavailable
from models.images import IMAGE_FORMATS
from models.profile import ACTION_FORMATS, BACKENDS, OUTPUT_CONVENTIONS, ModelProfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

ENV_PREFIX = "PCAGENT_PROFILE_"
KEYRING_HINT = "pip install 'pcagent[keyring]'"

_FIELD_TYPES: dict[str, Any] = get_type_hints(ModelProfile)
_SETTABLE = tuple(f.name for f in dataclasses.fields(ModelProfile) if f.name != "name")
_SECRET_FIELDS = ("extra_headers",)  # may hold an Authorization header: never echo their values


def default_config_path() -> Path:
    """Where profiles are read from when no path is given."""
    explicit = os.environ.get("PCAGENT_MODELS_FILE")
    if explicit:
        return Path(explicit).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "pcagent" / "models.toml"


class _BadValue(Exception):
    """A value that does not fit its field; the caller adds where it came from."""


def _split_optional(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(get_args(hint))
    return hint, False


def _check_value(field: str, value: Any) -> Any:
    """Check a typed value (from TOML or Python) against the field's type; return it normalised."""
    base, optional = _split_optional(_FIELD_TYPES[field])
    if value is None:
        if optional:
            return None
        raise _BadValue("may not be empty")
    kind = get_origin(base) or base
    if kind is str and isinstance(value, str):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is tuple and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if kind is dict and isinstance(value, dict):
        if get_args(base) == (str, str) and not all(isinstance(v, str) for v in value.values()):
            raise _BadValue("expected a table of strings")
        return dict(value)
    expected = {str: "a string", int: "an integer", float: "a number",
                tuple: "a list of strings", dict: "a table"}.get(kind, str(base))
    shown = "a value" if field in _SECRET_FIELDS else repr(value)
    raise _BadValue(f"expected {expected}, got {shown}")


def _parse_text(field: str, text: str) -> Any:
    """Convert a string (environment variable, CLI flag) to the field's type."""
    base, optional = _split_optional(_FIELD_TYPES[field])
    kind = get_origin(base) or base
    if optional and text.strip().lower() in ("", "none", "null"):
        return None
    try:
        if kind is int:
            value: Any = int(text)
        elif kind is float:
            value = float(text)
        elif kind is tuple:
            stripped = text.strip()
            value = json.loads(stripped) if stripped.startswith("[") else \
                [part.strip() for part in stripped.split(",") if part.strip()]
        elif kind is dict:
            value = json.loads(text)
        else:
            value = text
    except (ValueError, json.JSONDecodeError) as exc:
        shown = "the value" if field in _SECRET_FIELDS else repr(text)
        what = "JSON" if kind in (dict, tuple) else kind.__name__
        raise _BadValue(f"cannot read {shown} as {what}: {exc}") from None
    return _check_value(field, value)


def _problems(profile: ModelProfile) -> list[tuple[str, str]]:
    """(field, what is wrong) for values of the right type that still cannot work."""
    problems = []
    if profile.backend not in BACKENDS:
        problems.append(("backend", f"unknown backend {profile.backend!r}; one of {', '.join(BACKENDS)}"))
    if profile.image_format not in IMAGE_FORMATS:
        problems.append(("image_format", f"{profile.image_format!r} is not one of {', '.join(IMAGE_FORMATS)}"))
    if profile.output_convention is not None and profile.output_convention not in OUTPUT_CONVENTIONS:
        problems.append(("output_convention", f"{profile.output_convention!r} is not one of "
                                              f"{', '.join(OUTPUT_CONVENTIONS)}"))
    if profile.action_format not in ACTION_FORMATS:
        problems.append(("action_format", f"{profile.action_format!r} is not one of {', '.join(ACTION_FORMATS)}"))
    if profile.base_url is not None and not profile.base_url.startswith(("http://", "https://")):
        problems.append(("base_url", f"{profile.base_url!r} must start with http:// or https://"))
    for field in ("image_max_pixels", "max_tokens", "timeout_s"):
        if getattr(profile, field) <= 0:
            problems.append((field, f"must be positive, got {getattr(profile, field)}"))
    if profile.max_retries < 0:
        problems.append(("max_retries", f"must be 0 or more, got {profile.max_retries}"))
    if profile.temperature is not None and profile.temperature < 0:
        problems.append(("temperature", f"must be 0 or more, got {profile.temperature}"))
    if profile.top_p is not None and not 0 < profile.top_p <= 1:
        problems.append(("top_p", f"must be in (0, 1], got {profile.top_p}"))
    for key in ("messages", "stream"):
        if key in profile.extra_body:
            problems.append(("extra_body", f"may not set {key!r}: the backend owns it"))
    return problems


def _validate(profile: ModelProfile, where: str) -> ModelProfile:
    for field, problem in _problems(profile):
        raise ModelConfigError(f"{where}: profile {profile.name!r}, field {field!r}: {problem}")
    return profile


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    """The file's [profiles.*] tables, structure checked; {} when there is no file."""
    if not path.exists():
        return {}
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ModelUnavailable(f"reading {path} on Python 3.10 needs tomli: pip install tomli")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ModelConfigError(f"{path}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelConfigError(f"{path}: cannot read the file: {exc}") from exc
    for key in data:
        if key != "profiles":
            raise ModelConfigError(f"{path}: unknown top-level key {key!r}; the file holds only "
                                   f"[profiles.NAME] tables")
    tables = data.get("profiles", {})
    if not isinstance(tables, dict):
        raise ModelConfigError(f"{path}: 'profiles' must be a table of [profiles.NAME] tables")
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ModelConfigError(f"{path}: profile {name!r} must be a table ([profiles.{name}])")
    return tables


def _profile_from_table(name: str, table: dict[str, Any], where: str) -> ModelProfile:
    values = {}
    for field, value in table.items():
        if field not in _SETTABLE:
            hint = " (the name is the table's name)" if field == "name" else ""
            raise ModelConfigError(f"{where}: profile {name!r}: unknown field {field!r}{hint}; "
                                   f"fields are {', '.join(_SETTABLE)}")
        try:
            values[field] = _check_value(field, value)
        except _BadValue as exc:
            raise ModelConfigError(f"{where}: profile {name!r}, field {field!r}: {exc}") from None
    return ModelProfile(name=name, **values)


def env_key(name: str) -> str:
    """The NAME part of PCAGENT_PROFILE_<NAME>_<FIELD> for a profile name."""
    return "".join(c if c.isalnum() else "_" for c in name.upper())


def _env_overrides(names: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """{profile name: {field: (variable, text)}} from PCAGENT_PROFILE_* variables.

    A variable is matched to a known profile by its NAME part (the longest name that fits, so
    "a" and "a-b" can coexist); otherwise to a new lower-case profile by the longest field suffix.
    """
    by_key = sorted(((env_key(n), n) for n in names), key=lambda kn: -len(kn[0]))
    fields_longest_first = sorted(_SETTABLE, key=len, reverse=True)
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for variable in sorted(os.environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        rest = variable[len(ENV_PREFIX):]
        match = next(((name, rest[len(key) + 1:].lower()) for key, name in by_key
                      if rest.startswith(key + "_") and rest[len(key) + 1:].lower() in _SETTABLE), None)
        if match is None:
            field = next((f for f in fields_longest_first
                          if rest.lower().endswith("_" + f) and len(rest) > len(f) + 1), None)
            if field is None:
                raise ModelConfigError(f"environment variable {variable}: no field of a profile matches; "
                                       f"use {ENV_PREFIX}<NAME>_<FIELD> with FIELD one of "
                                       f"{', '.join(f.upper() for f in _SETTABLE)}")
            match = (rest[:-len(field) - 1].lower(), field)
        name, field = match
        found.setdefault(name, {})[field] = (variable, os.environ[variable])
    return found


def load_profiles(path: str | Path | None = None) -> dict[str, ModelProfile]:
    """Every profile in the file (none if it does not exist) with environment overrides applied."""
    path = Path(path).expanduser() if path is not None else default_config_path()
    tables = _read_file(path)
    profiles = {name: _profile_from_table(name, table, str(path)) for name, table in tables.items()}
    for name, fields in _env_overrides(list(profiles)).items():
        profile = profiles.get(name) or ModelProfile(name=name)
        changes = {}
        for field, (variable, text) in fields.items():
            try:
                changes[field] = _parse_text(field, text)
            except _BadValue as exc:
                raise ModelConfigError(f"environment variable {variable}: profile {name!r}, "
                                       f"field {field!r}: {exc}") from None
        variables = ", ".join(variable for variable, _ in fields.values())
        profiles[name] = _validate(dataclasses.replace(profile, **changes), f"environment ({variables})")
    for profile in profiles.values():
        _validate(profile, str(path))
    return profiles


def override(profile: ModelProfile, **fields: Any) -> ModelProfile:
    """A copy of `profile` with fields replaced (for CLI flags). None values are skipped (an unset
    flag); strings are converted to the field's type like environment variables."""
    changes = {}
    for field, value in fields.items():
        if value is None:
            continue
        if field not in _SETTABLE:
            raise ModelConfigError(f"profile {profile.name!r}: cannot override unknown field {field!r}; "
                                   f"fields are {', '.join(_SETTABLE)}")
        try:
            changes[field] = _parse_text(field, value) if isinstance(value, str) else _check_value(field, value)
        except _BadValue as exc:
            raise ModelConfigError(f"override: profile {profile.name!r}, field {field!r}: {exc}") from None
    return _validate(dataclasses.replace(profile, **changes), "override")


def get_profile(name: str, path: str | Path | None = None, **overrides: Any) -> ModelProfile:
    """The named profile from `load_profiles(path)`, with `overrides` applied."""
    profiles = load_profiles(path)
    if name not in profiles:
        where = Path(path).expanduser() if path is not None else default_config_path()
        known = f"known: {', '.join(sorted(profiles))}" if profiles else \
            ("the file has no profiles" if where.exists() else "the file does not exist")
        raise ModelConfigError(f"no model profile {name!r} in {where} ({known}); add a "
                               f"[profiles.{name}] table or set {ENV_PREFIX}{env_key(name)}_BASE_URL")
    return override(profiles[name], **overrides)


def resolve_api_key(profile: ModelProfile) -> str | None:
    """The profile's API key: its environment variable if set, else the OS keyring, else None."""
    if profile.api_key_env:
        key = os.environ.get(profile.api_key_env)
        if key:
            return key
    if not profile.api_key_keyring:
        return None
    try:
        import keyring
        import keyring.errors
    except ImportError as exc:
        raise ModelUnavailable(f"profile {profile.name!r} reads its API key from the OS keyring, but the "
                               f"keyring package is not installed: {KEYRING_HINT}") from exc
    service, _, username = profile.api_key_keyring.partition(":")
    try:
        if username:
            return keyring.get_password(service, username)
        credential = keyring.get_credential(service, None)
        return credential.password if credential else None
    except keyring.errors.KeyringError as exc:
        raise ModelUnavailable(f"profile {profile.name!r}: the OS keyring could not be read for service "
                               f"{service!r}: {type(exc).__name__}") from exc
