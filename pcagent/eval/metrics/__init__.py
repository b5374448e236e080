"""OSWorld's metrics, written afresh with the same semantics and options: text, lists and JSON (general.py),
tables from CSV and XLSX (table.py), Word documents (documents.py) and images (images.py). Each metric takes
the result state (and the expected state when the task has one) and its options, and returns a score in
[0, 1]. The heavy readers (openpyxl, python-docx, rapidfuzz: the `eval` extra) load on first use."""

from __future__ import annotations

from typing import Any, Callable

from pcagent.eval.metrics.documents import compare_docx_files
from pcagent.eval.metrics.general import (check_direct_json_object, check_include_exclude, check_list,
                                          diff_text_file, exact_match, literal_match, match_in_list)
from pcagent.eval.metrics.images import compare_images
from pcagent.eval.metrics.table import TABLE_RULES, compare_csv, compare_table

__all__ = ["METRICS", "unsupported_metric_options"]

METRICS: dict[str, Callable[..., float]] = {
    "check_direct_json_object": check_direct_json_object,
    "check_include_exclude": check_include_exclude,
    "check_list": check_list,
    "compare_csv": compare_csv,
    "compare_docx_files": compare_docx_files,
    "compare_images": compare_images,
    "compare_table": compare_table,
    "diff_text_file": diff_text_file,
    "exact_match": exact_match,
    "literal_match": literal_match,
    "match_in_list": match_in_list,
}


def unsupported_metric_options(func: str, options: dict[str, Any]) -> str | None:
    """Why a metric cannot score with these options here (a table rule we do not implement), or None."""
    if func == "compare_table":
        for rule in options.get("rules") or []:
            kind = rule.get("type") if isinstance(rule, dict) else None
            if kind not in TABLE_RULES:
                return (f"compare_table rule {kind!r} is not supported here "
                        f"(supported: {', '.join(TABLE_RULES)})")
            if kind == "check_cell" and set(rule.get("props") or {}) - {"value"}:
                return "compare_table check_cell reads only the cell value here, not its style"
    return None
