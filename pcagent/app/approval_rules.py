"""settings.toml's [approval] table: the steps that always wait for a person (CowPilot's "critical step"),
remembered per application and action kind.

    [[approval.always_ask]]       # no countdown for these, and they are asked even in auto mode
    application = "Mousepad"      # a window's WM_CLASS class (the trajectory's window.application), "*": any
    action = "type_text"          # one of tracker.format.actions.ACTION_KINDS

The approval panel's "always ask for steps like this" box adds and removes entries through
pcagent.app.config_store (tomlkit: a user's comments and order survive; written atomically). The run
dialog's default mode and countdown are [app]'s (config_store.load_app_settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.format.actions import ACTION_KINDS
from tracker.settings import SettingsError, read_table

__all__ = ["ANY_APPLICATION", "AlwaysAsk", "ApprovalSettings", "load_approval_settings", "remember_always_ask"]

ANY_APPLICATION = "*"
_KEYS = ("always_ask",)


@dataclass(frozen=True)
class AlwaysAsk:
    """One kind of step that always waits for a person."""

    application: str  # WM_CLASS class, or "*"
    action: str  # one of ACTION_KINDS

    def matches(self, application: str | None, action: str) -> bool:
        if action != self.action:
            return False
        return self.application == ANY_APPLICATION or (application or "").lower() == self.application.lower()

    def reason(self) -> str:
        where = "any application" if self.application == ANY_APPLICATION else self.application
        return f"you asked to approve every {self.action.replace('_', ' ')} step in {where}"

    def to_dict(self) -> dict[str, str]:
        return {"application": self.application, "action": self.action}


@dataclass(frozen=True)
class ApprovalSettings:
    always_ask: tuple[AlwaysAsk, ...] = ()

    def always_ask_for(self, application: str | None, action: str) -> AlwaysAsk | None:
        """The entry that makes this step wait for a person, or None."""
        return next((rule for rule in self.always_ask if rule.matches(application, action)), None)


def load_approval_settings(path: str | Path | None = None) -> ApprovalSettings:
    """The [approval] table (no entries without one); SettingsError names the file and the bad key."""
    table, source = read_table("approval", path)
    if not table:
        return ApprovalSettings()
    where = f"{source}: [approval]"
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise SettingsError(f"{where} unknown key(s) {', '.join(map(repr, unknown))}; keys are {', '.join(_KEYS)}")
    entries = table.get("always_ask", [])
    if not isinstance(entries, list):
        raise SettingsError(f"{where} always_ask must be a list of {{ application, action }} tables, "
                            f"not {entries!r}")
    return ApprovalSettings(tuple(_rule(entry, f"{where} always_ask entry {number}")
                                  for number, entry in enumerate(entries, 1)))


def _rule(entry: Any, where: str) -> AlwaysAsk:
    if not isinstance(entry, dict) or set(entry) != {"application", "action"}:
        raise SettingsError(f"{where} must be a table with exactly the keys application and action, not {entry!r}")
    application, action = entry["application"], entry["action"]
    if not isinstance(application, str) or not application.strip():
        raise SettingsError(f"{where}: application must be a WM_CLASS name or \"*\", not {application!r}")
    if action not in ACTION_KINDS:
        raise SettingsError(f"{where}: action must be one of {', '.join(ACTION_KINDS)}, not {action!r}")
    return AlwaysAsk(application.strip(), action)


def remember_always_ask(application: str | None, action: str, ask: bool,
                        path: str | Path | None = None) -> ApprovalSettings:
    """Add (ask=True) or remove the entry for `application` ("*" when unknown) and `action`; return the
    settings as now written. A malformed [approval] table is reported (SettingsError), never overwritten."""
    from pcagent.app.config_store import ConfigStore

    if action not in ACTION_KINDS:
        raise ValueError(f"unknown action kind {action!r}; one of {', '.join(ACTION_KINDS)}")
    current = load_approval_settings(path)
    rule = AlwaysAsk((application or "").strip() or ANY_APPLICATION, action)
    kept = [entry for entry in current.always_ask
            if not (entry.action == action and entry.application.lower() == rule.application.lower())]
    if ask == (len(kept) < len(current.always_ask)):
        return current  # already as asked
    wanted = kept + [rule] if ask else kept
    store = ConfigStore(settings_path=path, settings_checks=(load_approval_settings,))
    store.set_setting("approval", "always_ask", [entry.to_dict() for entry in wanted] or None)
    store.save()
    return load_approval_settings(path)
