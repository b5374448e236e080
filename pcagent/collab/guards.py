"""Action guards: which proposed steps a human must approve, whatever the mode.

In Magentic-UI's spirit, every action gets a risk: "never" (go ahead), "maybe" (possibly irreversible)
or "always" (approval required). `GuardRules` decides from the action alone plus what is known of its
target (the planner's element description, the grounded label, the accessible name, the focused role);
a `GuardModel` may clear "maybe" cases by asking a small model. Anything unclear needs approval:
false positives are preferred to an unwanted purchase.

    guard = ActionGuard(GuardRules.from_toml("guards.toml"), GuardModel(model))
    proposal.guard_reasons = guard.check(proposal, element_text=name, focused_role=role)

Reasons never quote typed text: they end up in the trajectory, and the text may be a secret.
The TOML file holds one table (every key optional)::

    [guards]
    extra_words = ["archive"]          # clicks on these need approval
    maybe_words = ["next"]             # clicks on these are "maybe" (the guard model decides)
    allow_words = ["remove filter"]    # never guarded: blanked out of element text before matching
    hotkeys = ["ctrl+shift+k"]         # extra key combinations (or single keys) that need approval
    allow_hotkeys = ["ctrl+w"]         # default combinations to stop guarding
    disable = ["delete_key"]           # rules to switch off (RULES)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Protocol

from models.base import Message, VisionLanguageModel
from models.errors import ModelError
from pcagent.agent.types import Proposal
from tracker.format.actions import ActionError, normalize_key
from tracker.privacy import looks_like_secret  # one detector for the guards and the recorder's redaction

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["RISKS", "RULES", "Guard", "GuardConfigError", "GuardAssessment", "GuardRules", "GuardModel",
           "ModelVerdict", "ActionGuard", "looks_like_secret", "parse_hotkey"]

RISKS = ("never", "maybe", "always")
RULES = ("password_field", "secret_text", "hotkeys", "click_words", "delete_key", "typed_newline")

DEFAULT_CLICK_WORDS = (
    "delete", "remove", "send", "submit", "pay", "buy", "purchase", "confirm", "empty trash",
    "empty recycle bin", "format", "uninstall", "erase", "discard", "overwrite", "wipe", "place order",
    "checkout", "permanently",
)
# Dialog answers that may confirm something destructive asked just before ("Delete 3 files?" -> OK).
# Kept short on purpose: without a guard model "maybe" means asking, and a guard that asks
# before every OK or Save makes auto mode useless. Add more in [guards] maybe_words.
DEFAULT_MAYBE_WORDS = ("replace",)
DEFAULT_HOTKEYS: dict[frozenset[str], str] = {
    frozenset({"alt", "f4"}): "closes the window",
    frozenset({"ctrl", "w"}): "closes the tab or window",
    frozenset({"ctrl", "shift", "w"}): "closes the window",
    frozenset({"ctrl", "q"}): "quits the application",
    frozenset({"ctrl", "shift", "q"}): "quits the application or logs out",
    frozenset({"shift", "delete"}): "deletes permanently",
    frozenset({"ctrl", "shift", "delete"}): "clears browsing data",
    frozenset({"super", "l"}): "locks the screen (the agent cannot unlock it)",
    frozenset({"ctrl", "alt", "delete"}): "opens the log-out / shutdown dialog",
    frozenset({"ctrl", "alt", "backspace"}): "may kill the X server and every application",
}
# Combinations that often, not always, send something: the guard model decides.
DEFAULT_MAYBE_HOTKEYS: dict[frozenset[str], str] = {
    frozenset({"ctrl", "enter"}): "sends the message in many mail and chat clients",
}

_PASSWORD_ROLES = ("password",)  # AT-SPI "password text", UIA "Edit" with IsPassword -> "password"


class GuardConfigError(ValueError):
    """A guard configuration that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class GuardAssessment:
    """How risky one action is, and why (reasons never quote typed text)."""

    risk: str  # one of RISKS
    reasons: tuple[str, ...] = ()
    model_answer: str | None = None  # the guard model's text, when it was asked

    @property
    def needs_approval(self) -> bool:
        return self.risk != "never"


class Guard(Protocol):
    def check(self, proposal: Proposal, element_text: str | None = None,
              focused_role: str | None = None) -> list[str]: ...


# ---------------------------------------------------------------------------------------------------
# Detectors


def parse_hotkey(spec: str) -> frozenset[str]:
    """"ctrl+shift+w" -> frozenset of canonical key names; raises ActionError on unknown keys."""
    if not isinstance(spec, str) or not spec.strip():
        raise ActionError(f"expected a key combination like 'ctrl+w', not {spec!r}")
    parts = spec.split("+")
    if spec.endswith("++"):  # "ctrl++": the plus key itself
        parts = parts[:-2] + ["+"]
    if any(not part.strip() for part in parts):
        raise ActionError(f"empty key name in {spec!r} (write keys joined by '+', like 'ctrl+w')")
    return frozenset(normalize_key(part) for part in parts)


def _word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, with common inflections: delete -> deletes, deleted, deleting."""
    alternatives = []
    for word in sorted({w.strip().lower() for w in words if w.strip()}, key=len, reverse=True):
        escaped = r"\s+".join(re.escape(part) for part in word.split())
        if word.endswith("e") and " " not in word:
            alternatives.append(rf"{escaped[:-1]}(?:e|es|ed|ing)")
        else:
            alternatives.append(rf"{escaped}(?:s|es|ed|ing)?")
    if not alternatives:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)", re.IGNORECASE)


def _phrase_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    phrases = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    if not phrases:
        return None
    joined = "|".join(r"\s+".join(re.escape(p) for p in phrase.split()) for phrase in phrases)
    return re.compile(rf"(?<!\w)(?:{joined})(?!\w)", re.IGNORECASE)


def _hotkey_name(keys: Iterable[str]) -> str:
    order = {"ctrl": 0, "alt": 1, "shift": 2, "super": 3}
    return "+".join(sorted(keys, key=lambda k: (order.get(k, 9), k)))


def _target_texts(proposal: Proposal, element_text: str | None) -> list[tuple[str, str]]:
    """(source, text) pairs that describe what a click hits."""
    texts: list[tuple[str, str]] = []
    if proposal.planned.element:
        texts.append(("the planner's description", proposal.planned.element))
    grounding = proposal.grounding
    if grounding is not None and grounding.candidates:
        best = next((c for c in grounding.candidates if c.point == grounding.point), grounding.candidates[0])
        if best.label:
            texts.append((f"the {best.engine or 'grounded'} label", best.label))
    if element_text:
        texts.append(("the element's name", element_text))
    return texts


# ---------------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class GuardRules:
    """The rule set; every field has a default, `from_toml` extends it."""

    click_words: tuple[str, ...] = DEFAULT_CLICK_WORDS
    maybe_words: tuple[str, ...] = DEFAULT_MAYBE_WORDS
    allow_words: tuple[str, ...] = ()
    hotkeys: dict[frozenset[str], str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))
    maybe_hotkeys: dict[frozenset[str], str] = field(default_factory=lambda: dict(DEFAULT_MAYBE_HOTKEYS))
    disabled: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.disabled) - set(RULES))
        if unknown:
            raise GuardConfigError(f"unknown guard rule(s) {', '.join(unknown)}; rules are {', '.join(RULES)}")
        # Compiled once; object.__setattr__ because the dataclass is frozen.
        object.__setattr__(self, "_click", _word_pattern(self.click_words))
        object.__setattr__(self, "_maybe", _word_pattern(self.maybe_words))
        object.__setattr__(self, "_allow", _phrase_pattern(self.allow_words))

    # --- configuration ---

    @classmethod
    def from_toml(cls, path: str | Path) -> GuardRules:
        """The defaults extended by the file's [guards] table; GuardConfigError names what is wrong."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise GuardConfigError(f"{path}: no such guard configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise GuardConfigError(f"{path}: not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise GuardConfigError(f"{path}: cannot read the file: {exc}") from exc
        if "guards" not in data:
            raise GuardConfigError(f"{path}: no [guards] table")
        return cls.from_mapping(data["guards"], where=str(path))

    @classmethod
    def from_mapping(cls, table: Any, where: str = "guards") -> GuardRules:
        """The defaults extended by a parsed [guards] table."""
        keys = ("extra_words", "maybe_words", "allow_words", "hotkeys", "allow_hotkeys", "disable")
        if not isinstance(table, dict):
            raise GuardConfigError(f"{where}: [guards] must be a table")
        unknown = sorted(set(table) - set(keys))
        if unknown:
            raise GuardConfigError(f"{where}: unknown key(s) {', '.join(unknown)} in [guards]; "
                                   f"keys are {', '.join(keys)}")

        def strings(key: str) -> list[str]:
            value = table.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise GuardConfigError(f"{where}: [guards] {key} must be a list of non-empty strings, "
                                       f"not {value!r}")
            return [v.strip() for v in value]

        def combos(key: str) -> list[frozenset[str]]:
            try:
                return [parse_hotkey(spec) for spec in strings(key)]
            except ActionError as exc:
                raise GuardConfigError(f"{where}: [guards] {key}: {exc}") from None

        defaults = cls()
        hotkeys = dict(defaults.hotkeys)
        maybe_hotkeys = dict(defaults.maybe_hotkeys)
        for combo in combos("allow_hotkeys"):
            if combo not in hotkeys and combo not in maybe_hotkeys:
                raise GuardConfigError(f"{where}: [guards] allow_hotkeys: {_hotkey_name(combo)} is not guarded "
                                       f"by default")
            hotkeys.pop(combo, None)
            maybe_hotkeys.pop(combo, None)
        for combo in combos("hotkeys"):
            hotkeys[combo] = "listed in the guard configuration"
        disable = strings("disable")
        unknown_rules = sorted(set(disable) - set(RULES))
        if unknown_rules:
            raise GuardConfigError(f"{where}: [guards] disable: unknown rule(s) {', '.join(unknown_rules)}; "
                                   f"rules are {', '.join(RULES)}")
        return replace(defaults, click_words=defaults.click_words + tuple(strings("extra_words")),
                       maybe_words=defaults.maybe_words + tuple(strings("maybe_words")),
                       allow_words=tuple(strings("allow_words")), hotkeys=hotkeys, maybe_hotkeys=maybe_hotkeys,
                       disabled=frozenset(disable))

    # --- checking ---

    def check(self, proposal: Proposal, element_text: str | None = None,
              focused_role: str | None = None) -> list[str]:
        """Why this proposal needs approval; empty when it does not. "maybe" counts as yes."""
        return list(self.assess(proposal, element_text, focused_role).reasons)

    def assess(self, proposal: Proposal, element_text: str | None = None,
               focused_role: str | None = None) -> GuardAssessment:
        always: list[str] = []
        maybe: list[str] = []
        action = proposal.action
        on = self._enabled
        if action.kind == "type_text" and action.text:
            if on("password_field") and focused_role and any(r in focused_role.lower() for r in _PASSWORD_ROLES):
                always.append(f"types into a password field ({focused_role})")
            secret = looks_like_secret(action.text) if on("secret_text") else None
            if secret:
                always.append(f"the typed text looks like {secret}")
            if on("typed_newline") and "\n" in action.text and not always:
                maybe.append("the typed text contains a line break (Enter), which may send or submit it")
        elif action.kind in ("hotkey", "press_key") and on("hotkeys"):
            combo = frozenset(action.keys)
            if combo in self.hotkeys:
                always.append(f"{_hotkey_name(combo)} {self.hotkeys[combo]}")
            elif combo in self.maybe_hotkeys:
                maybe.append(f"{_hotkey_name(combo)} {self.maybe_hotkeys[combo]}")
        if action.kind == "press_key" and action.keys == ("delete",) and on("delete_key") and not always:
            maybe.append("the delete key deletes whatever is selected, and the selection is unknown")
        if action.kind in ("click", "double_click") and on("click_words"):
            for source, text in _target_texts(proposal, element_text):
                masked = self._allow.sub(" ", text) if self._allow else text
                if self._click and (hit := self._click.search(masked)):
                    always.append(f"clicks on {text!r} ({source} says {hit.group().lower()!r})")
                elif self._maybe and (hit := self._maybe.search(masked)):
                    maybe.append(f"clicks on {text!r} ({source} says {hit.group().lower()!r}), which may "
                                 f"confirm something irreversible")
        if always:
            return GuardAssessment("always", tuple(always + maybe))
        return GuardAssessment("maybe", tuple(maybe)) if maybe else GuardAssessment("never")

    def _enabled(self, rule: str) -> bool:
        return rule not in self.disabled


# ---------------------------------------------------------------------------------------------------
# The guard model

GUARD_SYSTEM_PROMPT = (
    "You check one step of a desktop automation agent before it runs. An action is irreversible when it "
    "submits a form, sends a message or email, makes a purchase or payment, types sensitive data (passwords, "
    "keys, card numbers), deletes files or data, uninstalls software, or closes something with unsaved work. "
    "Answer with exactly one word: SAFE if the step is reversible and harmless, NEEDS_APPROVAL otherwise. "
    "If you are unsure, answer NEEDS_APPROVAL."
)
_NEEDS = re.compile(r"\bNEEDS[_\s-]?APPROVAL\b|\bUNSAFE\b|\bNOT\s+SAFE\b")
_SAFE = re.compile(r"\bSAFE\b")


@dataclass(frozen=True)
class ModelVerdict:
    """The guard model's view of one step."""

    needs_approval: bool
    reason: str  # for the proposal's guard reasons
    answer: str  # the model's text, or the error


class GuardModel:
    """Asks a small model about "maybe" steps; an error or an unclear answer means approval."""

    def __init__(self, model: VisionLanguageModel, *, include_screenshot: bool = True,
                 max_tokens: int = 8) -> None:
        self.model = model
        self.include_screenshot = include_screenshot  # False for text-only models
        self.max_tokens = max_tokens

    def review(self, proposal: Proposal, rule_reasons: Iterable[str] = (),
               element_text: str | None = None) -> ModelVerdict:
        lines = [f"Proposed action: {proposal.action}"]
        if proposal.planned != proposal.action:
            lines.append(f"As planned: {proposal.planned}")
        if proposal.thought:
            lines.append(f"The agent's reasoning: {proposal.thought}")
        if element_text:
            lines.append(f"Target element: {element_text}")
        lines += [f"Concern: {reason}" for reason in rule_reasons]
        lines.append("Is this action irreversible? Answer SAFE or NEEDS_APPROVAL.")
        content: list[Any] = [proposal.screenshot] if self.include_screenshot else []
        content.append("\n".join(lines))
        try:
            answer = self.model.generate([Message.of("system", GUARD_SYSTEM_PROMPT), Message.of("user", *content)],
                                         max_tokens=self.max_tokens, temperature=0.0).text.strip()
        except ModelError as exc:
            return ModelVerdict(True, f"the guard model {self.model.name!r} failed ({type(exc).__name__})", str(exc))
        upper = answer.upper()
        if _NEEDS.search(upper):
            return ModelVerdict(True, "the guard model says it needs approval", answer)
        if _SAFE.search(upper):
            return ModelVerdict(False, "the guard model says it is safe", answer)
        shown = answer if len(answer) <= 60 else answer[:57] + "..."
        return ModelVerdict(True, f"the guard model gave no clear answer ({shown!r})", answer)


class ActionGuard:
    """Rules first; a guard model, when given, decides the "maybe" cases."""

    def __init__(self, rules: GuardRules | None = None, model: GuardModel | None = None) -> None:
        self.rules = rules or GuardRules()
        self.model = model

    def check(self, proposal: Proposal, element_text: str | None = None,
              focused_role: str | None = None) -> list[str]:
        """Why this proposal needs approval; empty when it does not."""
        return list(self.assess(proposal, element_text, focused_role).reasons)

    def assess(self, proposal: Proposal, element_text: str | None = None,
               focused_role: str | None = None) -> GuardAssessment:
        found = self.rules.assess(proposal, element_text, focused_role)
        if found.risk != "maybe" or self.model is None:
            return found
        verdict = self.model.review(proposal, found.reasons, element_text)
        if not verdict.needs_approval:
            return GuardAssessment("never", (), model_answer=verdict.answer)
        return GuardAssessment("maybe", found.reasons + (verdict.reason,), model_answer=verdict.answer)
