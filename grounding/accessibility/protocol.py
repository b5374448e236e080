"""The accessibility seam: the `Accessibility` protocol, its null stand-in, the element record, a lookup's
answer (the element, or why there is none), and the AT-SPI D-Bus vocabulary (roles, states, object paths,
method calls) that the backend and the tree share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from jeepney import DBusAddress, Message, new_method_call

__all__ = ["ElementInfo", "ElementLookup", "ELEMENT_MISSING_CODES", "AccessibilityUnavailable", "Accessibility",
           "NullAccessibility", "Ref", "ROLE_NAMES", "STATE_NAMES"]

# AtspiRole values, in order (libatspi's atspi_role_get_name). Qt answers GetRoleName with "text" for a
# password field while GetRole says PASSWORD_TEXT, so names come from the number, as libatspi does.
ROLE_NAMES: tuple[str, ...] = tuple(
    "invalid|accelerator label|alert|animation|arrow|calendar|canvas|check box|check menu item|"
    "color chooser|column header|combo box|date editor|desktop icon|desktop frame|dial|dialog|"
    "directory pane|drawing area|file chooser|filler|focus traversable|font chooser|frame|glass pane|"
    "html container|icon|image|internal frame|label|layered pane|list|list item|menu|menu bar|"
    "menu item|option pane|page tab|page tab list|panel|password text|popup menu|progress bar|"
    "push button|radio button|radio menu item|root pane|row header|scroll bar|scroll pane|separator|"
    "slider|spin button|split pane|status bar|table|table cell|table column header|table row header|"
    "tearoff menu item|terminal|text|toggle button|tool bar|tool tip|tree|tree table|unknown|viewport|"
    "window|extended|header|footer|paragraph|ruler|application|autocomplete|editbar|embedded|entry|"
    "chart|caption|document frame|heading|page|section|redundant object|form|link|"
    "input method window|table row|tree item|document spreadsheet|document presentation|"
    "document text|document web|document email|comment|list box|grouping|image map|notification|"
    "info bar|level bar|title bar|block quote|audio|video|definition|article|landmark|log|marquee|"
    "math|rating|timer|static|math fraction|math root|subscript|superscript|description list|"
    "description term|description value|footnote|content deletion|content insertion|mark|"
    "suggestion|push button menu".split("|")
)
ROLE_EXTENDED = 70  # "extended": the real name is only in GetRoleName

# AtspiStateType bit numbers, in order (the GEnum nicks libatspi uses).
STATE_NAMES: tuple[str, ...] = tuple(
    "invalid|active|armed|busy|checked|collapsed|defunct|editable|enabled|expandable|expanded|"
    "focusable|focused|has-tooltip|horizontal|iconified|modal|multi-line|multiselectable|opaque|"
    "pressed|resizable|selectable|selected|sensitive|showing|single-line|stale|transient|vertical|"
    "visible|manages-descendants|indeterminate|required|truncated|animated|invalid-entry|"
    "supports-autocompletion|selectable-text|is-default|visited|checkable|has-popup|read-only".split("|")
)

REGISTRY = "org.a11y.atspi.Registry"
ROOT_PATH = "/org/a11y/atspi/accessible/root"
NULL_PATH = "/org/a11y/atspi/null"
ACCESSIBLE = "org.a11y.atspi.Accessible"
COMPONENT = "org.a11y.atspi.Component"
PROPERTIES = "org.freedesktop.DBus.Properties"
COORD_SCREEN = 0  # ATSPI_COORD_TYPE_SCREEN

MANAGED_CHILD_CAP = 500  # a container that manages descendants (big list/table) is opened up to this

Ref = tuple[str, str]  # (bus name, object path): an AT-SPI object reference


@dataclass(frozen=True)
class ElementInfo:
    """One accessible element: what it is called, what it is, where it is, whose it is."""

    name: str | None
    role: str | None  # AT-SPI role name, e.g. "push button", "password text", "text", "list item"
    rect: tuple[int, int, int, int] | None  # left, top, right, bottom in screen pixels, as reported
    application: str | None  # the AT-SPI application's name
    states: frozenset[str] = frozenset()  # e.g. {"focused", "editable"}
    description: str | None = None  # the accessible description (a tooltip-like text), when listed
    covered: bool = False  # listing only: its centre lies under another window stacked above its own
    # listing only: the (role, name) of the containers it sits in, outermost first (its window, a page
    # tab, a menu, a tool bar ...), for "the Side Pane tab in the Preferences dialog"
    ancestors: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for a trajectory step."""
        return {
            "name": self.name,
            "role": self.role,
            "rect": list(self.rect) if self.rect is not None else None,
            "application": self.application,
        }


# Why a lookup found no element; trajectories carry the code as a step's "element_missing".
ELEMENT_MISSING_CODES: tuple[str, ...] = (
    "no_accessibility",  # accessibility is off or unreachable, or the program there exposes none
    "bus_error",  # the AT-SPI bus broke, or an application answered with an error or nonsense
    "timeout",  # the application (or the bus) did not answer within the query's deadline
    "popup_not_exposed",  # a popup window (menu, list) that its toolkit leaves out of the tree (Qt)
    "not_found",  # asked and answered: no element there, or nothing has keyboard focus
)


@dataclass(frozen=True)
class ElementLookup:
    """One lookup's answer: the element, or (exactly when there is none) the ELEMENT_MISSING_CODES code why."""

    element: ElementInfo | None = None
    missing: str | None = None

    def __post_init__(self) -> None:
        if (self.element is None) == (self.missing is None):
            raise ValueError("an ElementLookup holds either an element or the reason it is missing")
        if self.missing is not None and self.missing not in ELEMENT_MISSING_CODES:
            raise ValueError(f"unknown missing-element code {self.missing!r}")


class AccessibilityUnavailable(Exception):
    """No accessibility tree can be reached here; the message says why."""


class Accessibility(Protocol):
    """The element under a point and the focused element: as a lookup that says why when there is none,
    or as the element alone (None when unknown)."""

    available: bool
    reason: str | None

    def lookup_element_at(self, x: int, y: int) -> ElementLookup: ...

    def lookup_focused_element(self) -> ElementLookup: ...

    def element_at(self, x: int, y: int) -> ElementInfo | None: ...

    def focused_element(self) -> ElementInfo | None: ...

    def elements(self, near: tuple[int, int] | None = None, *, node_cap: int = 5000,
                 timeout: float = 2.0) -> list[ElementInfo]: ...

    def close(self) -> None: ...


class NullAccessibility:
    """Stands in where no accessibility tree is reachable; every query answers None, and every lookup
    the `missing` code (no_accessibility, or bus_error where a bus was found but is broken)."""

    available = False

    def __init__(self, reason: str, missing: str = "no_accessibility") -> None:
        self.reason: str | None = reason
        self._miss = ElementLookup(missing=missing)

    def lookup_element_at(self, x: int, y: int) -> ElementLookup:
        return self._miss

    def lookup_focused_element(self) -> ElementLookup:
        return self._miss

    def element_at(self, x: int, y: int) -> ElementInfo | None:
        return None

    def focused_element(self) -> ElementInfo | None:
        return None

    def elements(self, near: tuple[int, int] | None = None, *, node_cap: int = 5000,
                 timeout: float = 2.0) -> list[ElementInfo]:
        return []

    def close(self) -> None:
        pass


def method_call(ref: Ref, interface: str, name: str, signature: str | None = None, body: tuple = ()) -> Message:
    bus, path = ref
    return new_method_call(DBusAddress(path, bus, interface), name, signature, body)


def get_name(ref: Ref) -> Message:
    return method_call(ref, PROPERTIES, "Get", "ss", (ACCESSIBLE, "Name"))


def state_names(words: list[int] | tuple[int, ...]) -> frozenset[str]:
    names = set()
    for word_index, word in enumerate(words):
        for bit in range(32):
            if word & (1 << bit):
                number = word_index * 32 + bit
                names.add(STATE_NAMES[number] if number < len(STATE_NAMES) else f"state-{number}")
    return frozenset(names)


def rect_contains(rect: tuple[int, int, int, int] | None, x: int, y: int) -> bool:
    return rect is not None and rect[0] <= x < rect[2] and rect[1] <= y < rect[3]


def rect_from_extents(extents: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    x, y, width, height = extents
    if width < 0 or height < 0:
        return None  # "no extents" (Qt answers -1s for objects it cannot place)
    return (x, y, x + width, y + height)
