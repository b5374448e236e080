"""Excerpts of untrusted text (model answers, server bodies, action sources) for messages and one-line
displays: whitespace collapsed to single spaces, cut at a limit with an ellipsis."""

from __future__ import annotations

__all__ = ["shorten", "quoted"]


def shorten(text: str | None, limit: int = 200) -> str:
    """``text`` on one line, at most ``limit`` characters (the last one "…" when cut)."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(text: str | None, limit: int = 200) -> str:
    """`shorten`, as a Python string literal (quotes and escapes show exactly what was there)."""
    return repr(shorten(text, limit))
