"""Word documents: OSWorld's ``compare_docx_files`` (desktop_env/evaluators/metrics/docs.py) on .docx files.

Options (OSWorld's defaults): ``ignore_blanks`` (True: the whole text with every run of whitespace made one
space), ``ignore_case``, ``ignore_order`` (paragraphs sorted first), ``content_only`` (score the text's
similarity, 0..1), ``fuzzy_match`` (similarity instead of equality), ``delete_empty_lines``. Without
``ignore_blanks`` the paragraphs compare one by one and their counts must agree. A missing or unreadable
file, or anything but two .docx files, scores 0.
"""

from __future__ import annotations

import re
from typing import Any

from pcagent.eval.metrics.general import text_similarity

__all__ = ["compare_docx_files", "docx_paragraphs"]


def docx_paragraphs(path: str) -> list[str] | None:
    """The text of each paragraph, or None when the file does not open as a Word document."""
    try:
        from docx import Document
    except ImportError as exc:  # the `eval` extra
        raise RuntimeError("reading .docx needs python-docx: pip install 'pcagent[eval]'") from exc
    try:
        return [p.text for p in Document(path).paragraphs]
    except Exception:  # noqa: BLE001 - missing, corrupt or not a Word file: the result fails
        return None


def compare_docx_files(result: str | None, expected: str | None, **options: Any) -> float:
    if not result or not expected or not (str(result).endswith(".docx") and str(expected).endswith(".docx")):
        return 0.0
    ours, theirs = docx_paragraphs(result), docx_paragraphs(expected)
    if ours is None or theirs is None:
        return 0.0
    if options.get("ignore_order", False):
        ours, theirs = sorted(ours), sorted(theirs)
    if options.get("delete_empty_lines", False):
        ours, theirs = [p for p in ours if p.strip()], [p for p in theirs if p.strip()]
    fold = (lambda s: s.lower()) if options.get("ignore_case", False) else (lambda s: s)
    whole = [fold(re.sub(r"\s+", " ", "\n".join(paragraphs)).strip()) for paragraphs in (ours, theirs)]
    if options.get("content_only", False):
        return text_similarity(*whole)
    if options.get("ignore_blanks", True):
        return text_similarity(*whole) if options.get("fuzzy_match", False) else float(whole[0] == whole[1])
    if len(ours) != len(theirs):
        return 0.0
    if options.get("fuzzy_match", False):
        return sum(text_similarity(fold(a), fold(b)) for a, b in zip(ours, theirs)) / len(ours) if ours else 1.0
    return float(all(fold(a) == fold(b) for a, b in zip(ours, theirs)))
