"""BENCHMARKS.md sections that benchmark scripts write: one section per benchmark, replaced in place."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the section whose heading starts with ``title`` in the file at ``path``, or append it; other
    sections are kept."""
    document = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = document.find(title)
    if start < 0:
        document = document.rstrip("\n") + "\n\n" + text
    else:
        end = document.find("\n## ", start + len(title))
        document = document[:start] + text + (document[end + 1:] if end >= 0 else "")
    path.write_text(document, encoding="utf-8")
