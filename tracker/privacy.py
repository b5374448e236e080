"""Which typed text is never written: one decision for the recorder and the agent's own typing.

A `type text` action is redacted (its text becomes ``********`` and the step records why) when any
of these rules holds; each rule stands alone, so one failed look-up cannot let a secret through:

1. ``password``: the focused element is a password field (AT-SPI role "password text", or state
   "protected");
2. ``clicked_password_field``: the last click went to a password field and focus has not visibly
   moved since (no click elsewhere, no Tab/Enter/Escape or other focus-moving key, same window);
3. ``auth_window``: the active window looks like an authentication prompt: its title or application,
   or the labels of a prompt-sized window, contain an auth word (password, PIN, sudo, unlock, ...), or
   the title matches a configured pattern. Titles need no accessibility, so this rule still works
   without AT-SPI;
4. ``secret_text``: the text itself looks like a secret (an API key, a card number).

Settings come from the ``[privacy]`` table of settings.toml (`default_settings_path()`:
$PCAGENT_SETTINGS_FILE, else $XDG_CONFIG_HOME/pcagent/settings.toml, else
~/.config/pcagent/settings.toml); every key is optional::

    [privacy]
    auth_words = ["password", "pin"]      # replaces the built-in list (DEFAULT_AUTH_WORDS)
    extra_auth_words = ["kennwort"]       # added to it
    title_patterns = ["^KeePassXC"]       # regular expressions, matched against window titles
    redact_secret_text = true             # rule 4
    window_labels = true                  # rule 3 also reads a small window's labels (AT-SPI)

A bad file raises PrivacySettingsError naming the file and the key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from tracker.format.actions import Action
from tracker.settings import SettingsError, read_table

if TYPE_CHECKING:
    from grounding.accessibility import ElementInfo
    from tracker.recording.context import StepContext

__all__ = ["DEFAULT_AUTH_WORDS", "PASSWORD_ROLES", "REDACTED_TEXT", "REDACTION_REASONS",
           "PrivacySettings", "PrivacySettingsError", "TypingRedactor", "auth_window_match", "hide_text", "is_password_field", "load_privacy_settings", "looks_like_secret",
           "privacy_settings_from_table"]

REDACTED_TEXT = "********"
# The reasons a step's "redacted" can give, in the order the rules are tried.
REDACTION_REASONS = ("password", "clicked_password_field", "auth_window", "secret_text", "check_failed")
PASSWORD_ROLES = frozenset({"password text"})
DEFAULT_AUTH_WORDS = (
    "password", "passphrase", "passcode", "pin", "authentication", "authenticate", "sudo", "polkit",
    "pkexec", "login", "log in", "unlock", "keyring", "credentials", "pinentry", "askpass",
)
_KEYS = ("auth_words", "extra_auth_words", "title_patterns", "redact_secret_text", "window_labels")

# Keys that move keyboard focus away from the field clicked last (rule 2). Any other key keeps the
# field in force: wrongly keeping it only hides text, wrongly dropping it may leak a password.
_FOCUS_KEYS = frozenset({"tab", "enter", "esc", "f6"})
_FOCUS_MODIFIERS = frozenset({"alt", "super"})  # alt+tab, mnemonics, window manager keys
_FOCUS_HOTKEYS = frozenset({frozenset({"ctrl", "l"}), frozenset({"ctrl", "f"}), frozenset({"ctrl", "t"}),
                            frozenset({"ctrl", "n"}), frozenset({"ctrl", "w"}), frozenset({"ctrl", "q"})})
_POINTER_KINDS = frozenset({"click", "double_click", "right_click", "middle_click", "drag"})


class PrivacySettingsError(SettingsError):
    """A [privacy] table that cannot be used; the message names the file and the key."""


# ---------------------------------------------------------------------------------------------------
# Secret-looking text (rule 4; the agent's guards ask the same question)

# Known credential shapes; each is specific enough that a match is worth a question.
_SECRET_PATTERNS = (
    ("an OpenAI-style API key", re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")),
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9\-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[A-Za-z0-9_\-]{30,}")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{16,}")),
    ("a PEM key or certificate", re.compile(r"-----BEGIN [A-Z0-9 ]+-----")),
)
_TOKEN = re.compile(r"[A-Za-z0-9_\-+=]{24,}")  # "/" and "." split tokens: paths and URLs are not keys
_CARD_CANDIDATE = re.compile(r"(?<![\d])\d(?:[ \-]?\d){12,18}(?![\d])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _char_class(char: str) -> int:
    return 0 if char.isdigit() else 1 if char.isupper() else 2 if char.islower() else 3


def _looks_random(token: str) -> bool:
    """Keys and hashes switch between digits, upper and lower case often; names and words do not."""
    digits = sum(c.isdigit() for c in token)
    letters = sum(c.isalpha() for c in token)
    classes = [_char_class(c) for c in token if c.isalnum()]
    switches = sum(a != b for a, b in zip(classes, classes[1:]))
    return digits >= 2 and letters >= 2 and switches >= max(6, len(token) // 6)


def looks_like_secret(text: str) -> str | None:
    """What kind of secret the text seems to hold ("a GitHub token"), or None."""
    for kind, pattern in _SECRET_PATTERNS:
        if pattern.search(text):
            return kind
    for match in _CARD_CANDIDATE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_ok(digits):
            return "a payment card number"
    for match in _TOKEN.finditer(text):
        if _looks_random(match.group()):
            return "a long random-looking token"
    return None


# ---------------------------------------------------------------------------------------------------
# Settings


def _words_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, case-insensitive, plural allowed: "password" matches "Passwords:"."""
    phrases = sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True)
    if not phrases:
        return None
    joined = "|".join(r"\s+".join(re.escape(part) for part in phrase.split()) for phrase in phrases)
    return re.compile(rf"(?<![^\W_])(?:{joined})s?(?![^\W_])", re.IGNORECASE)


@dataclass(frozen=True)
class PrivacySettings:
    """What rule 3 looks for and whether rule 4 applies; rules 1 and 2 cannot be turned off."""

    auth_words: tuple[str, ...] = DEFAULT_AUTH_WORDS
    title_patterns: tuple[str, ...] = ()
    redact_secret_text: bool = True
    window_labels: bool = True
    source: str | None = None  # the settings file they were read from, None for the built-in defaults

    def __post_init__(self) -> None:
        # Compiled once; object.__setattr__ because the dataclass is frozen.
        object.__setattr__(self, "_words", _words_pattern(self.auth_words))
        object.__setattr__(self, "_titles", [re.compile(p, re.IGNORECASE) for p in self.title_patterns])

    def auth_word_in(self, text: str | None) -> bool:
        return bool(text and self._words and self._words.search(text))

    def title_pattern_matches(self, text: str | None) -> bool:
        return bool(text) and any(pattern.search(text) for pattern in self._titles)

    def to_dict(self) -> dict[str, Any]:
        """What meta.json's recorder settings record (words and patterns only: never typed text)."""
        return {"rules": [r for r in REDACTION_REASONS[:4] if r != "secret_text" or self.redact_secret_text],
                "auth_words": list(self.auth_words), "title_patterns": list(self.title_patterns),
                "redact_secret_text": self.redact_secret_text, "window_labels": self.window_labels,
                "settings_file": self.source}


def load_privacy_settings(path: str | Path | None = None) -> PrivacySettings:
    """The [privacy] settings of settings.toml (the defaults when it or the table is absent)."""
    try:
        table, where = read_table("privacy", path)
    except SettingsError as exc:
        raise PrivacySettingsError(str(exc)) from None
    if table is None:
        return PrivacySettings(source=where)
    return privacy_settings_from_table(table, where)


def privacy_settings_from_table(table: Any, where: str) -> PrivacySettings:
    """Settings from a parsed [privacy] table; `where` names the file in errors."""
    if not isinstance(table, dict):
        raise PrivacySettingsError(f"{where}: 'privacy' must be a table ([privacy])")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise PrivacySettingsError(f"{where}: [privacy] unknown key(s) {', '.join(map(repr, unknown))}; "
                                   f"keys are {', '.join(_KEYS)}")

    def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = table.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise PrivacySettingsError(f"{where}: [privacy] key {key!r} must be a list of non-empty strings, "
                                       f"not {value!r}")
        return tuple(v.strip() for v in value)

    def flag(key: str) -> bool:
        value = table.get(key, True)
        if not isinstance(value, bool):
            raise PrivacySettingsError(f"{where}: [privacy] key {key!r} must be true or false, not {value!r}")
        return value

    patterns = strings("title_patterns")
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PrivacySettingsError(f"{where}: [privacy] key 'title_patterns': {pattern!r} is not a valid "
                                       f"regular expression ({exc})") from None
    words = strings("auth_words", DEFAULT_AUTH_WORDS) + strings("extra_auth_words")
    return PrivacySettings(auth_words=tuple(dict.fromkeys(words)), title_patterns=patterns,
                           redact_secret_text=flag("redact_secret_text"), window_labels=flag("window_labels"),
                           source=where)


# ---------------------------------------------------------------------------------------------------
# The rules


def is_password_field(element: ElementInfo | None) -> bool:
    """Rule 1's test, also used for the element a click went to (rule 2)."""
    return bool(element and (element.role in PASSWORD_ROLES or "protected" in element.states))


def auth_window_match(context: StepContext | None, settings: PrivacySettings) -> str | None:
    """Rule 3: where the window shows it is an authentication prompt ("title", "application",
    "label", "title pattern"), or None."""
    window = context.window if context else None
    if window is not None:
        if settings.auth_word_in(window.title):
            return "title"
        if settings.auth_word_in(window.application):
            return "application"
        if settings.title_pattern_matches(window.title):
            return "title pattern"
    labels = getattr(context, "window_labels", None) or ()
    if settings.window_labels and any(settings.auth_word_in(label) for label in labels):
        return "label"
    return None


def _window_id(context: StepContext | None) -> int | None:
    window = context.window if context else None
    return window.window_id if window else None


def _moves_focus(action: Action) -> bool:
    keys = frozenset(action.keys)
    return bool(keys & _FOCUS_KEYS or keys & _FOCUS_MODIFIERS or keys in _FOCUS_HOTKEYS)


def hide_text(text: str, secret: str) -> str:
    """``text`` with every appearance of ``secret`` replaced by REDACTED_TEXT, also as a model writes it
    inside a quoted or JSON string (escaped quotes, backslashes and newlines)."""
    if not text or not secret:
        return text
    forms = {secret, secret.strip(), json.dumps(secret)[1:-1], repr(secret)[1:-1],
             secret.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")}
    for form in sorted((f for f in forms if f), key=len, reverse=True):
        text = text.replace(form, REDACTED_TEXT)
    return text


class TypingRedactor:
    """Shown every action in order (the recorder's human steps, or the agent's own), it says which
    `type text` must be redacted and why. Remembers only whether the last click went to a password
    field, never any text."""

    def __init__(self, settings: PrivacySettings | None = None) -> None:
        self.settings = settings or PrivacySettings()
        # Rule 2's memory: whether the last click went to a password field, and in which window.
        self._clicked_password_field = False
        self._clicked_window: int | None = None

    def observe(self, action: Action, context: StepContext | None) -> str | None:
        """The reason to redact this action (one of REDACTION_REASONS), or None. Only `type text` is
        ever redacted; other actions update what rule 2 knows about focus. Never raises: a rule that
        breaks redacts the text ("check_failed") rather than let it through."""
        try:
            return self._observe(action, context)
        except Exception:  # noqa: BLE001 - whatever broke, the text must not be written
            return "check_failed" if action.kind == "type_text" else None

    def _observe(self, action: Action, context: StepContext | None) -> str | None:
        if action.kind in _POINTER_KINDS:
            self._clicked_password_field = is_password_field(context.element if context else None)
            self._clicked_window = _window_id(context)
        elif action.kind in ("press_key", "hotkey") and _moves_focus(action):
            self._clicked_password_field = False
        elif action.kind == "type_text":
            return self.reason(action.text or "", context)
        return None

    def reason(self, text: str, context: StepContext | None) -> str | None:
        """Why `text`, typed in this context, must be redacted (rule order), or None."""
        if is_password_field(context.element if context else None):
            return "password"
        if self._still_in_clicked_password_field(context):
            return "clicked_password_field"
        if auth_window_match(context, self.settings):
            return "auth_window"
        if self.settings.redact_secret_text and looks_like_secret(text):
            return "secret_text"
        return None

    def _still_in_clicked_password_field(self, context: StepContext | None) -> bool:
        if not self._clicked_password_field:
            return False
        clicked_in, typed_in = self._clicked_window, _window_id(context)
        # An unknown window on either side cannot prove that focus moved: keep redacting.
        return clicked_in is None or typed_in is None or clicked_in == typed_in
