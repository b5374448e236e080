"""Untrusted text (model answers, server bodies, action sources) made safe to show: control characters and
bidirectional overrides escaped so that a terminal shows what is really there, and excerpts on one line,
cut at a limit with an ellipsis."""

from __future__ import annotations

import unicodedata

__all__ = ["escape_controls", "has_unsafe_controls", "quoted", "shorten"]

# Bidirectional embeddings, overrides and isolates: they reorder what a terminal shows (U+202E "RLO").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _unsafe(char: str) -> bool:
    return char in BIDI_CONTROLS or unicodedata.category(char) == "Cc"


def escape_controls(text: str, *, keep: str = "") -> str:
    """``text`` with every control character (ANSI escapes, carriage returns, ...) and bidirectional
    override written as a visible escape (``\\x1b``, ``\\r``, ``\\u202e``); characters in ``keep``
    (e.g. "\\n" for a multi-line thought) stay as they are."""
    if not any(_unsafe(c) and c not in keep for c in text):
        return text
    out = []
    for char in text:
        if char in keep or not _unsafe(char):
            out.append(char)
        elif char in _NAMED:
            out.append(_NAMED[char])
        else:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def has_unsafe_controls(text: str, allowed: str = "\t\n") -> bool:
    """Whether ``text`` holds a control character or bidirectional override outside ``allowed``."""
    return any(_unsafe(c) and c not in allowed for c in text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shorten(text: str | None, limit: int = 200) -> str:
    """``text`` on one line with controls escaped, at most ``limit`` characters (the last one "…" when cut)."""
    return _cut(escape_controls(" ".join((text or "").split())), limit)


def quoted(text: str | None, limit: int = 200) -> str:
    """``text`` on one line, cut at ``limit``, as a Python string literal (repr escapes what cannot be shown)."""
    return repr(_cut(" ".join((text or "").split()), limit))
