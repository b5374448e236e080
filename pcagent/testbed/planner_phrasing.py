"""Instructions for grounding targets, phrased the way planners write them, several per target.

A planner rarely writes the bare label. It names the kind of element ("the Match case check box"), frames
the text ("the cell containing 2200", "the tab labelled Display"), says where ("the Save item in the File
menu", "the Wrap around check box in the Find and Replace dialog"), and for an icon-only button it says
what it does ("the Save button") or what it looks like ("the floppy disk icon"). ``phrasings(target)``
writes each kind that applies to a target:

    bare        the label alone, or "click <label>"
    role        the label with the kind of element
    relational  the kind of element, then "labelled / that reads / named / containing" the label
    container   the label and kind, in its menu, dialog, tab, toolbar or menu bar
    function    an icon by what it does
    look        an icon by how it looks

``split_of(key)`` puts about 30 % of targets in a held-out split. Held-out targets are phrased with a second
set of wordings (``HELD_OUT``) that the matching code was not tuned on, so the held-out score says how the
grounders do on phrasings nobody looked at while writing them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["IconLook", "PHRASING_KINDS", "SPLITS", "Target", "phrasings", "split_of", "ICON_LOOKS",
           "SYMBOL_FUNCTIONS"]

PHRASING_KINDS = ("bare", "role", "relational", "container", "function", "look")
SPLITS = ("tune", "held-out")
HELD_OUT_SHARE = 30  # percent

# AT-SPI role -> (what a planner calls it, another word it uses)
ROLE_NOUNS: dict[str, tuple[str, str]] = {
    "push button": ("button", "button"), "toggle button": ("button", "toggle button"),
    "menu": ("menu", "menu"), "menu item": ("menu item", "menu entry"),
    "check menu item": ("checkable menu item", "menu item"), "radio menu item": ("menu item", "radio menu item"),
    "check box": ("check box", "checkbox"), "radio button": ("radio button", "option"), "page tab": ("tab", "tab"),
    "combo box": ("drop-down list", "combo box"), "list item": ("list item", "entry"), "table cell": ("cell", "cell"),
    "label": ("label", "text"), "icon": ("icon", "item"), "tree item": ("item", "tree item"), "link": ("link", "link"),
    "table column header": ("column header", "column heading"), "column header": ("column header", "column"),
    "push button menu": ("button", "drop-down button"), "spin button": ("spin button", "field"),
    "text": ("text", "line"), "entry": ("field", "text field"),
}
# the wordings: {label} the label, {role} the role noun, {where} the container phrase ("the File menu")
TUNE = {
    "bare": ("{label}", "click {label}"),
    "role": ("the {label} {role}", "click the {label} {role}"),
    "relational": ("the {role} labelled {label}", "the {role} that reads {label}"),
    "container": ("the {label} {role} in {where}", "click {label} in {where}"),
    "function": ("the {label} button", "click the {label} toolbar button"),
    "look": ("the {look} icon", "click the {look}"),
}
HELD_OUT = {
    "bare": ("{label}", "click on {label}"),
    "role": ('the "{label}" {role}', "select the {label} {role}"),
    "relational": ("the {role} named {label}", "the {role} with the text {label}"),
    "container": ("{label} in {where}", "the {label} {role} on {where}"),
    "function": ("the {label} icon in the toolbar", "the {label} toolbar button"),
    "look": ("the {look}", "the button showing a {look}"),
}
RELATION_CONTAINS = {"table cell", "list item", "tree item", "label", "text"}  # "the cell containing X"


@dataclass(frozen=True)
class IconLook:
    """How an icon-only button looks, in two wordings (tune, held-out)."""

    tune: str
    held_out: str


# What the icon-only buttons of the test bed's programs show, by their accessible name (written by
# looking at the screens, not from the icon grounder's table)
ICON_LOOKS: dict[str, IconLook] = {
    "new": IconLook("blank page", "empty sheet of paper"), "open": IconLook("folder", "open folder"),
    "save": IconLook("floppy disk", "diskette"), "reload": IconLook("circular arrow", "round arrow"),
    "close": IconLook("X", "cross"), "undo": IconLook("curved arrow pointing left", "arrow curving left"),
    "redo": IconLook("curved arrow pointing right", "arrow curving right"), "cut": IconLook("scissors", "pair of scissors"),
    "copy": IconLook("two pages", "two sheets of paper"), "paste": IconLook("clipboard", "clipboard with a page"),
    "find": IconLook("magnifying glass", "magnifier"),
    "find and replace": IconLook("magnifying glass with a pencil", "magnifier and pencil"),
    "fullscreen": IconLook("four arrows", "arrows pointing outward"),
    "previous folder": IconLook("left arrow", "arrow pointing left"),
    "next folder": IconLook("right arrow", "arrow pointing right"),
    "parent folder": IconLook("up arrow", "arrow pointing up"), "home folder": IconLook("house", "little house"),
    "new tab": IconLook("star", "folder with a star"),
    "/": IconLook("slash", "forward slash"), "*": IconLook("asterisk", "star"), "-": IconLook("dash", "hyphen"),
    "+": IconLook("plus sign", "cross"), "=": IconLook("equals sign", "two lines"),
    "<-": IconLook("left arrow", "arrow pointing left"), "%": IconLook("percent sign", "percent symbol"),
}
# what a calculator's symbol keys do (the key's only "text" is the symbol)
SYMBOL_FUNCTIONS = {"/": "divide", "*": "multiply", "-": "minus", "+": "plus", "=": "equals", ".": "decimal point",
                    "%": "percent", "(": "open parenthesis", ")": "close parenthesis", "<-": "backspace",
                    "+/-": "change sign"}


@dataclass(frozen=True)
class Target:
    """What phrasings need to know about a target."""

    key: str  # stable: application, screen and element
    label: str  # its name as shown ("Save As...", "Match case", "/")
    role: str  # AT-SPI role
    data_type: str  # "text" | "icon"
    containers: tuple[tuple[str, str], ...] = ()  # (AT-SPI role, name) of what it sits in, outermost first


def split_of(key: str) -> str:
    """"held-out" for about HELD_OUT_SHARE percent of keys, else "tune" (stable across runs)."""
    digest = int(hashlib.blake2b(key.encode(), digest_size=4).hexdigest(), 16)
    return "held-out" if digest % 100 < HELD_OUT_SHARE else "tune"


def _pick(options: tuple[str, ...], key: str, kind: str) -> str:
    digest = int(hashlib.blake2b(f"{key}/{kind}".encode(), digest_size=4).hexdigest(), 16)
    return options[digest % len(options)]


def _where(target: Target) -> str | None:
    """The container phrase: "the File menu", "the Find and Replace dialog", "the Display tab", ..."""
    for role, name in reversed(target.containers):
        name = name.strip().rstrip(".").rstrip("\u2026")
        if role == "page tab" and name:
            return f"the {name} tab"
        if role == "menu" and name and target.role.endswith("menu item"):
            return f"the {name} menu"
        if role == "dialog" and name:
            return f"the {name} dialog"
        if role == "tool bar":
            return "the toolbar"
        if role == "menu bar" and target.role == "menu":
            return "the menu bar"
        if role == "status bar":
            return "the status bar"
    return None


def phrasings(target: Target) -> list[tuple[str, str]]:
    """(kind, instruction) for every kind of phrasing that fits the target, in the target's split's wording."""
    held_out = split_of(target.key) == "held-out"
    wordings = HELD_OUT if held_out else TUNE
    label = target.label.rstrip(".").rstrip("\u2026").strip() if len(target.label) > 1 else target.label
    nouns = ROLE_NOUNS.get(target.role, (target.role, target.role))
    role = nouns[1] if held_out else nouns[0]
    out: list[tuple[str, str]] = []

    def add(kind: str, **values: str) -> None:
        out.append((kind, _pick(wordings[kind], target.key, kind).format(**values)))

    if target.data_type == "icon":
        function = SYMBOL_FUNCTIONS.get(label, label)
        add("function", label=function)
        look = ICON_LOOKS.get(label.casefold())
        if look is not None:
            add("look", look=look.held_out if held_out else look.tune)
        return out
    add("bare", label=label)
    add("role", label=label, role=role)
    relational = wordings["relational"]
    if target.role in RELATION_CONTAINS:
        relational = ("the {role} containing {label}",) + relational
    out.append(("relational", _pick(relational, target.key, "relational").format(label=label, role=role)))
    where = _where(target)
    if where:
        add("container", label=label, role=role, where=where)
    return out
