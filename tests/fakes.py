"""Stand-ins for seams, shared by tests that check logic without a display."""

from __future__ import annotations


class ListedAccessibility:
    """An accessibility backend whose listing is a fixed list of ElementInfo (matching logic only)."""

    available, reason = True, None

    def __init__(self, elements):
        self._elements = elements

    def elements(self, near=None, *, node_cap=5000, timeout=2.0):
        return self._elements

    def close(self):
        pass
