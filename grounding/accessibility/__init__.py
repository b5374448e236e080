"""Accessibility: the element under a point, the focused element (or why there is none) and every listed
element of a window, from AT-SPI over D-Bus, with X window geometry to check reported boxes; and the
grounder built on them."""

from grounding.accessibility.atspi import AtSpiAccessibility, find_atspi_bus_address, open_accessibility
from grounding.accessibility.engine import AccessibilityGrounder
from grounding.accessibility.protocol import (
    ELEMENT_MISSING_CODES, Accessibility, AccessibilityUnavailable, ElementInfo, ElementLookup, NullAccessibility,
)
from grounding.accessibility.tree import ElementListing, list_elements
from grounding.accessibility.windows import NullWindows, WindowInfo, open_windows

__all__ = [
    "Accessibility",
    "AccessibilityGrounder",
    "AccessibilityUnavailable",
    "AtSpiAccessibility",
    "ELEMENT_MISSING_CODES",
    "ElementInfo",
    "ElementListing",
    "ElementLookup",
    "find_atspi_bus_address",
    "list_elements",
    "NullAccessibility",
    "NullWindows",
    "open_accessibility",
    "open_windows",
    "WindowInfo",
]
