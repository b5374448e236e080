"""Reading a planner's description of a target: the text to look for, the kind of element, and where.

Planners describe targets the way people do: 'the Name column header', 'click the Unlimited drop-down
list', 'the Side Pane tab in the File Manager Preferences dialog', 'the cell containing 2200', 'the
line that reads Design mock-ups approved', 'open "Sheet"', 'the magnifying glass icon'. Role words
("column header", "drop-down list", "tab") say what kind of element it is and are not text to match;
a relation ("containing", "that reads", "labelled") puts the text after it; a container ("in the
Preferences dialog", "on the Display tab", "in the toolbar") says where to look. ``parse_description``
takes a description apart once, and every grounder reads the same parse.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from grounding.text_match import PositionHint, normalize_label, parse_position_hint, place_phrases

__all__ = ["Container", "TargetDescription", "ROLE_PHRASES", "SYMBOL_NAMES", "parse_description", "strip_role",
           "target_text"]

# Phrases for a kind of element -> its canonical role. Matched longest first, case-insensitively, with an
# optional plural. "toolbar button" is a button; the toolbar is kept as the region.
ROLE_PHRASES: dict[str, str] = {
    "checkable menu item": "check menu item", "check menu item": "check menu item",
    "radio menu item": "radio menu item", "menu item": "menu item", "menu entry": "menu item",
    "menu option": "menu item", "menu command": "menu item", "context menu item": "menu item",
    "menu title": "menu", "menu": "menu", "submenu": "menu",
    "check box": "check box", "checkbox": "check box", "check-box": "check box", "tick box": "check box",
    "tickbox": "check box", "radio button": "radio button", "radio": "radio button",
    "option button": "radio button", "toggle button": "toggle button", "toggle": "toggle button",
    "switch": "toggle button", "toolbar button": "button", "tool button": "button", "push button": "button",
    "button": "button", "key": "button", "page tab": "tab", "notebook tab": "tab", "tab": "tab",
    "column header": "column header", "column heading": "column header", "column title": "column header",
    "header": "column header", "column": "column header", "row header": "row header",
    "table cell": "cell", "cell": "cell", "table row": "row", "row": "row", "line": "line",
    "text field": "entry", "text box": "entry", "textbox": "entry", "text entry": "entry",
    "input field": "entry", "input box": "entry", "search box": "entry", "search field": "entry",
    "entry field": "entry", "entry": "entry", "field": "entry", "input": "entry",
    "spin button": "spin button", "spin box": "spin button", "spinbox": "spin button", "spinner": "spin button",
    "drop-down list": "combo box", "drop down list": "combo box", "dropdown list": "combo box",
    "drop-down menu": "combo box", "drop down menu": "combo box", "dropdown menu": "combo box",
    "drop-down box": "combo box", "drop-down": "combo box", "drop down": "combo box", "dropdown": "combo box",
    "combo box": "combo box", "combobox": "combo box", "list item": "list item", "list entry": "list item",
    "tree item": "tree item", "item": "item", "option": "item", "label": "label", "text label": "label",
    "caption": "label", "text": "label", "heading": "label", "link": "link", "hyperlink": "link",
    "icon button": "icon", "icon": "icon", "image": "icon", "symbol": "icon", "glyph": "icon",
    "pictogram": "icon", "slider": "slider", "scroll bar": "scroll bar", "scrollbar": "scroll bar",
    "file": "item", "folder": "item",
}
_ROLE_ALTERNATION = "|".join(re.escape(p) for p in sorted(ROLE_PHRASES, key=len, reverse=True))
_TAIL_ROLE_RE = re.compile(r"(?<![\w-])(" + _ROLE_ALTERNATION + r")(?:e?s)?$", re.I)
# Role words that may also lead a label ("Line Numbers", "Tab Size", "Text Editor") are only read as a
# role at the end; these few are safe at the start too ("the button Save", "the menu item Rename").
_HEAD_ROLES = ("menu item", "menu entry", "check box", "checkbox", "check-box", "radio button", "button",
               "toggle button", "link", "icon", "text field", "list item", "combo box", "drop-down list",
               "dropdown", "label", "page tab", "tab", "cell", "row", "option", "field")
_HEAD_ROLE_RE = re.compile(r"^(" + "|".join(re.escape(p) for p in sorted(_HEAD_ROLES, key=len, reverse=True))
                           + r")\s+(?!\d)", re.I)

# Words for symbols that are a button's only "text" (a calculator's keys) -> the glyphs shown
SYMBOL_NAMES: dict[str, tuple[str, ...]] = {
    "plus": ("+",), "addition": ("+",), "minus": ("-", "\u2212"), "subtract": ("-", "\u2212"),
    "subtraction": ("-", "\u2212"), "times": ("*", "\u00d7"), "multiply": ("*", "\u00d7"),
    "multiplication": ("*", "\u00d7"), "divide": ("/", "\u00f7"), "division": ("/", "\u00f7"),
    "divided by": ("/", "\u00f7"), "equals": ("=",), "equal": ("=",), "equal sign": ("=",), "equals sign": ("=",),
    "percent": ("%",), "percentage": ("%",), "decimal point": (".", ","), "decimal": (".", ","),
    "open parenthesis": ("(",), "left parenthesis": ("(",),
    "opening parenthesis": ("(",), "open bracket": ("(",), "close parenthesis": (")",),
    "right parenthesis": (")",), "closing parenthesis": (")",), "close bracket": (")",),
    "backspace": ("<-", "\u2190", "\u232b"), "square root": ("sqrt", "\u221a"), "plus/minus": ("+/-", "\u00b1"),
    "plus minus": ("+/-", "\u00b1"), "change sign": ("+/-", "\u00b1"), "sign change": ("+/-", "\u00b1"),
    "negate": ("+/-", "\u00b1"),
}
_SYMBOL_RE = re.compile(r"^(" + "|".join(re.escape(p) for p in sorted(SYMBOL_NAMES, key=len, reverse=True))
                        + r")(?:\s+(?:sign|symbol|operator|key))?$", re.I)

_QUOTED_RE = re.compile(
    r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d|\u2018([^\u2019]+)\u2019|\u00ab([^\u00bb]+)\u00bb"
    r"|(?:^|(?<=[\s(:]))'([^']+)'(?=$|[\s,.;:!?)])|`([^`]+)`")
_VERBS = ("click", "tap", "press", "select", "choose", "hit", "push", "activate", "find", "locate", "point to",
          "go to", "move to", "open", "tick", "untick", "check", "uncheck", "toggle", "enable", "disable",
          "switch to", "expand", "collapse", "focus", "pick", "type into", "type in", "drag")
_ACTION_RE = re.compile(
    r"^(?:please\s+)?(?:(?:left|right|middle|double|triple)[\s-]*)?(" + "|".join(_VERBS).replace(" ", r"\s+")
    + r")(?:[\s-]+(?:on|at|in))?\b[\s:]*", re.I)
_CLICK_ONLY_RE = re.compile(r"^(?:(?:left|right|middle|double|triple)[\s-]*)?click(?:[\s-]+(?:on|at))?\s+", re.I)
_PURPOSE_RE = re.compile(r"\s+to\s+(?:open|close|expand|see|show|start|begin)\b.*$", re.I)
# verbs that also begin common labels ("Select All", "Find Next", "Open Recent")
_LABEL_VERBS = {"select", "find", "open", "check", "toggle", "expand", "collapse", "pick", "choose"}

_RELATION_RE = re.compile(
    r"\b(?:(?:that|which)\s+(?P<reads1>reads|says|shows|displays)|(?:that|which)\s+(?P<contains1>contains|holds)"
    r"|(?P<contains2>containing|holding)|(?P<reads2>reading|saying|showing|displaying)"
    r"|(?P<labelled>labell?ed|named|called|titled|entitled|marked|captioned)"
    r"|with\s+(?:the\s+)?(?P<reads3>text|label|name|caption|title|value|words?)"
    r"|whose\s+(?P<reads4>text|label|name|caption|title|value)\s+is)\b\s*[:,]?\s*", re.I)

_REGIONS = {"menu bar": "menu bar", "menubar": "menu bar", "toolbar": "toolbar", "tool bar": "toolbar",
            "status bar": "status bar", "statusbar": "status bar", "title bar": "title bar",
            "taskbar": "taskbar", "task bar": "taskbar", "header bar": "title bar"}
_REGION_ALTERNATION = "|".join(re.escape(k) for k in sorted(_REGIONS, key=len, reverse=True))
# a region after a preposition ("in the toolbar"), or before the kind of thing in it ("toolbar button");
# a bare "Toolbar" is a label (View > Toolbar)
_REGION_RE = re.compile(r"\b(?:in|on|at|from|of|inside|within)\s+(?:the\s+)?(" + _REGION_ALTERNATION + r")\b"
                        r"|\b(" + _REGION_ALTERNATION + r")(?=\s+(?:button|icon|item)s?\b)", re.I)
# "in the Preferences dialog", "on the Display tab", "of the File menu"
_CONTAINER_NOUNS = {
    "dialog box": "dialog", "dialog": "dialog", "window": "window", "tab": "tab", "page": "tab",
    "context menu": "menu", "pop-up menu": "menu", "popup menu": "menu", "submenu": "menu", "menu": "menu",
    "side pane": "pane", "sidebar": "pane", "side bar": "pane", "pane": "pane", "panel": "pane",
    "section": "group", "group": "group", "frame": "group", "list": "list", "table": "table",
    "tree": "list", "form": "dialog", "popup": "menu", "pop-up": "menu", "box": "group", "area": "group",
}
_CONTAINER_RE = re.compile(
    r"\b(?:in|on|inside|within|from|of|under)\s+(?:the|this|that|a|an)\s+"
    r"(?P<name>(?:[\w'&.+:-]+\s+){0,5}?)(?P<noun>" + "|".join(
        re.escape(n) for n in sorted(_CONTAINER_NOUNS, key=len, reverse=True)) + r")(?![\w-])", re.I)
_RELATIVE_RE = re.compile(
    r"\s(?P<rel>below|beneath|underneath|above|to\s+the\s+left\s+of|left\s+of|to\s+the\s+right\s+of"
    r"|right\s+of|next\s+to|beside)\s+(?:the\s+)?(?P<anchor>\S.*)$", re.I)
_RELATIVE_NAMES = {"below": "below", "beneath": "below", "underneath": "below", "above": "above",
                   "to the left of": "left of", "left of": "left of", "to the right of": "right of",
                   "right of": "right of", "next to": "next to", "beside": "next to"}
_GENERIC_PLACE_RE = re.compile(r"\b(?:in|on|of|at)\s+(?:the\s+)?(?:screen|display|desktop)\b", re.I)
_ORDINAL_RE = re.compile(r"\b(?:the\s+)?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
                         r"1st|2nd|3rd|4th|5th|last)\b(?:\s+one\b)?", re.I)
_PARENS_RE = re.compile(r"\(([^()]*)\)")
_LEADING_WORDS = {"the", "a", "an", "this", "that", "on", "at", "its", "currently", "selected"}
_TRAILING_WORDS = {"the", "a", "an", "one"}
_EDGE_JUNK_RE = re.compile(r"^[\s,.;:!?]+|[\s,.;:!?]+$")
ALTERNATIVE_WEIGHT = 0.97  # another reading of the words counts a little less than the first


@dataclass(frozen=True)
class Container:
    """Where a target sits: a kind of element ("dialog", "tab", "menu", "pane", ...) and its name."""

    role: str
    name: str = ""  # normalised; "" for "in the dialog"


@dataclass(frozen=True)
class TargetDescription:
    """A description taken apart. ``text`` is normalised (normalize_label); "" when only a look is given."""

    source: str
    text: str
    alternatives: tuple[tuple[str, float], ...] = ()  # (another text, weight): a symbol's glyphs, a verb kept
    quoted: bool = False
    role: str | None = None  # a canonical role from ROLE_PHRASES ("button", "menu", "check box", ...)
    relation: str | None = None  # "contains" | "reads" | "labelled" (how the text relates to the element)
    containers: tuple[Container, ...] = ()
    position: PositionHint = field(default_factory=PositionHint)  # places, ordinal, region
    relative: tuple[str, str] | None = None  # ("below" | "above" | "left of" | "right of" | "next to", anchor)
    verb: str | None = None  # the action verb it began with ("open", "tick", ...)
    note: str = ""  # a remark in parentheses: "floppy disk icon"
    role_words: tuple[str, ...] = ()  # the role phrases as written ("drop-down list"), case-folded

    @property
    def targets(self) -> tuple[tuple[str, float], ...]:
        """(text, weight) to look for, the first reading first."""
        return tuple(t for t in ((self.text, 1.0), *self.alternatives) if t[0])

    @property
    def region(self) -> str | None:
        return self.position.region

    def container(self, role: str) -> Container | None:
        """The first container of that kind ("dialog", "tab", "menu", ...), or None."""
        return next((c for c in self.containers if c.role == role), None)


def _clean(text: str) -> str:
    return " ".join(_EDGE_JUNK_RE.sub("", text).split())


def _trim(words: list[str]) -> list[str]:
    while words and words[0].casefold() in _LEADING_WORDS:
        words = words[1:]
    while words and words[-1].casefold() in _TRAILING_WORDS:
        words = words[:-1]
    return words


def strip_role(text: str) -> tuple[str, str | None, tuple[str, ...]]:
    """One role phrase taken off the end (else a safe one off the start), with articles:
    (the rest, its canonical role, the phrase as written).

    "the Read-Only checkable menu item" -> ("Read-Only", "check menu item"); "the button Save" ->
    ("Save", "button"); "the Delete Line menu item" -> ("Delete Line", "menu item"); "Item 4", "Delete
    Line" and "Close Tab" stay whole.
    """
    joined = " ".join(_trim(text.split()))
    # a capitalised role word among capitalised words is the label's ("Delete Line", "Close Tab"); planners
    # write the kind of element in lower case ("the Delete Line menu item")
    titled = joined != joined.lower()
    tail = _TAIL_ROLE_RE.search(joined)
    if tail is not None and (tail.start() == 0 or tail.group(1)[:1].islower() or not titled):
        phrase = tail.group(1)
        return " ".join(_trim(joined[:tail.start()].split())), ROLE_PHRASES[phrase.casefold()], (tail.group(0),)
    if (head := _HEAD_ROLE_RE.match(joined)) is not None and (head.group(1)[:1].islower() or not titled):
        phrase = " ".join(head.group(1).split())
        return " ".join(_trim(joined[head.end():].split())), ROLE_PHRASES[phrase.casefold()], (phrase,)
    return joined, None, ()


def _pull_containers(text: str) -> tuple[str, list[Container], str | None]:
    """Container phrases taken out of ``text``: (the rest, containers, a region such as "toolbar")."""
    region = None
    if match := _REGION_RE.search(text):
        region = _REGIONS[" ".join((match.group(1) or match.group(2)).casefold().split())]
        text = text[:match.start()] + " " + text[match.end():]  # "toolbar button" keeps its "button"
    containers: list[Container] = []
    while match := _CONTAINER_RE.search(text):
        noun = _CONTAINER_NOUNS[" ".join(match.group("noun").casefold().split())]
        containers.append(Container(noun, normalize_label(" ".join(_trim(match.group("name").split())))))
        text = text[:match.start()] + " " + text[match.end():]
    return text, containers, region


def _take_verb(text: str) -> tuple[str, str | None, bool]:
    """The leading action verb removed: (the rest, the verb, whether the verb may begin the label)."""
    match = _ACTION_RE.match(text)
    if not match:
        return text, None, False
    rest = text[match.end():]
    if not normalize_label(rest.replace("\x00", "x")):  # "Open", "Find...": the verb is the label
        return text, None, False
    if re.match(r"(?:a|an|some)\s", rest, re.I):  # "open a file", "select an item": what it does, whole
        return text, None, False
    verb = " ".join(match.group(1).casefold().split())
    words = rest.split()
    first = words[0] if words else ""
    # "Select All", "Find Next": a capitalised verb right before a capitalised word may be the label
    label_verb = (verb in _LABEL_VERBS and match.group(1)[:1].isupper() and first[:1].isupper()
                  and first.casefold() not in _LEADING_WORDS and not _CLICK_ONLY_RE.match(text))
    return rest, verb, label_verb


def _ordinal(text: str) -> tuple[str, int | None]:
    """A lower-case ordinal ("the second OK button") taken out; a capitalised one before a capitalised
    word is part of a label ("the First Name field")."""
    for match in _ORDINAL_RE.finditer(text):
        word, after = match.group(1), text[match.end():].split()
        if word[:1].isupper() and after and after[0][:1].isupper():
            continue
        number = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
                  "eighth": 8, "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5,
                  "last": -1}[word.casefold()]
        return text[:match.start()] + " " + text[match.end():], number
    return text, None


def _without_places(text: str) -> str:
    text = _GENERIC_PLACE_RE.sub(" ", text)
    for place in reversed(place_phrases(text.lower())):
        text = text[:place.start()] + " " + text[place.end():]
    return text


def _symbols(text: str) -> tuple[str, ...]:
    match = _SYMBOL_RE.match(" ".join(text.split()))
    return SYMBOL_NAMES[" ".join(match.group(1).casefold().split())] if match else ()


def parse_description(description: str) -> TargetDescription:
    """Take a planner's description apart (see the module docstring). Never raises."""
    source = unicodedata.normalize("NFKC", description or "").strip()
    text = " ".join(source.split())
    quoted = None
    for match in _QUOTED_RE.finditer(text):
        inside = next(g for g in match.groups() if g is not None)
        if normalize_label(inside):
            quoted = inside
            text = f"{text[:match.start()]} \x00 {text[match.end():]}"  # keep its place among the role words
            break
    text = _PURPOSE_RE.sub("", text)
    text, verb, label_verb = _take_verb(text)
    notes = [m.group(1).strip() for m in _PARENS_RE.finditer(text)]
    text = _PARENS_RE.sub(" ", text)
    hint = parse_position_hint(text.replace("\x00", " "))
    text, ordinal = _ordinal(text)

    relation, related = None, None
    if match := _RELATION_RE.search(text):
        groups = {k for k, v in match.groupdict().items() if v}
        relation = ("contains" if any(k.startswith("contains") for k in groups)
                    else "labelled" if "labelled" in groups else "reads")
        text, related = text[:match.start()], text[match.end():]
    # containers sit on either side of a relation ("the label that reads X on the Display tab")
    text, containers, region = _pull_containers(text)
    relative = None
    if related is not None:
        related, more, other_region = _pull_containers(related)
        containers, region = containers + more, region or other_region
    elif (match := _RELATIVE_RE.search(text)) is not None:
        anchor = normalize_label(strip_role(_clean(match.group("anchor")).replace("\x00", quoted or ""))[0])
        if anchor:
            relative = (_RELATIVE_NAMES[" ".join(match.group("rel").casefold().split())], anchor)
            text = text[:match.start()]
    position = PositionHint(hint.vertical, hint.horizontal, region, ordinal)

    rest, role, role_words = strip_role(_clean(_without_places(text)))
    if related is not None:
        label = _clean(_without_places(related)).replace("\x00", quoted or "")
    elif quoted is not None:
        label = quoted
    else:
        label = rest
    label = label.replace("\x00", "").strip()
    alternatives: list[tuple[str, float]] = []
    if not normalize_label(label) and verb and verb in _LABEL_VERBS and related is None and relative is None:
        label, verb = verb, None  # "Open button": nothing left but the role, so the verb is the label
    if not normalize_label(label) and role_words and related is None and relative is None:
        label, role = " ".join(role_words), None  # only role words ("the Menu button"): they are the label
    text_out = normalize_label(label)
    if not text_out and containers and containers[0].name and relative is None:
        # "the entry in the File menu" with nothing else: the container is what is meant
        text_out, role, containers = containers[0].name, role or containers[0].role, containers[1:]
    if label_verb and quoted is None and related is None and verb:
        with_verb = normalize_label(f"{verb} {label}")
        if with_verb != text_out:
            alternatives.append((text_out, ALTERNATIVE_WEIGHT))
            text_out = with_verb
    alternatives += [(glyph, 1.0) for glyph in _symbols(label) if glyph != text_out]
    if verb in ("tick", "untick") or (verb in ("check", "uncheck") and role is None and not label_verb):
        role = role or "check box"
    return TargetDescription(
        source=source, text=text_out, alternatives=tuple(dict.fromkeys(alternatives)), quoted=quoted is not None,
        role=role, relation=relation, containers=tuple(containers), position=position, relative=relative,
        verb=verb, note="; ".join(n for n in notes if n), role_words=tuple(w.casefold() for w in role_words))


def target_text(description: str) -> str:
    """The label a description asks for, normalised ('click the "Save As…" button' -> "save as")."""
    return parse_description(description).text
