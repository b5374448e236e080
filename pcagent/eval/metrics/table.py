"""Tables: OSWorld's ``compare_table`` and ``compare_csv`` on CSV and XLSX files (desktop_env/evaluators/
metrics/table.py).

``compare_table(result, expected=None, rules=[...])`` checks its rules in order and scores 1 only when all
pass (0 at the first that fails, or when the result is missing or unreadable). A rule names sheets by
``sheet_idx`` / ``sheet_idx0`` / ``sheet_idx1``: an int (the result's sheet at that index), "RI<n>" /
"RN<name>" (the result's sheet by index / name) or "EI<n>" / "EN<name>" (the expected workbook's). Rules:

- ``sheet_name``: both workbooks have the same sheet names, in order.
- ``sheet_data`` {precision=4}: the two sheets hold the same values, numbers rounded to ``precision`` digits.
- ``sheet_print`` {ignore_case}: the sheets print the same CSV lines (a CSV book is its own lines; an XLSX
  sheet is read from ``<book stem>-<sheet>.csv`` beside it, as OSWorld's postconfig exports them).
- ``sheet_fuzzy`` {rules: [{range, type: includes|included_by|fuzzy_match|exact_match, threshold=85,
  ignore_case, ignore_chars, trim_leadings, trim_trailings, normalization}]}: cell by cell over ranges.
- ``check_cell`` {sheet_idx, coordinate, props: {"value": {method, ref}}}: one cell's value against a rule.
- ``freeze``: the same frozen panes (XLSX); ``zoom`` {sheet_idx, method, ref}: the zoom level (XLSX, 100
  when unset).

A CSV file is a workbook of one sheet named after the file's stem (as LibreOffice opens it); its cells are
read as numbers where they look like numbers, so a CSV result compares with an XLSX expectation. XLSX
values are the ones last calculated (openpyxl's data_only), as OSWorld reads them through pandas.
Other rule types (charts, styles, pivot tables, filters, ...) make the task unsupported (tasks.py).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from pcagent.eval.metrics.general import match_value_to_rule, text_similarity

__all__ = ["TABLE_RULES", "Workbook", "compare_csv", "compare_table", "load_workbook"]

TABLE_RULES = ("sheet_name", "sheet_data", "sheet_print", "sheet_fuzzy", "check_cell", "freeze", "zoom")


class Workbook:
    """A CSV or XLSX file: sheet names, each sheet's values as rows, and the openpyxl book for XLSX."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.xlsx = None
        if self.path.suffix.lower() == ".csv":
            lines = self.path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
            self.sheet_names = [self.path.stem]
            self._rows = {self.path.stem: [[_csv_value(cell) for cell in row] for row in csv.reader(lines)]}
            self._lines = lines
            return
        try:
            import openpyxl
        except ImportError as exc:  # the `eval` extra
            raise RuntimeError("reading XLSX needs openpyxl: pip install 'pcagent[eval]'") from exc
        self.xlsx = openpyxl.load_workbook(self.path, data_only=True)
        self.sheet_names = list(self.xlsx.sheetnames)
        self._rows = {}

    def rows(self, name: str) -> list[list[Any]] | None:
        """The sheet's values, trailing empty rows and columns cut; None when there is no such sheet."""
        if name not in self.sheet_names:
            return None
        if name not in self._rows:
            self._rows[name] = [list(row) for row in self.xlsx[name].iter_rows(values_only=True)]
        return _trim(self._rows[name])

    def printed(self, name: str) -> list[str] | None:
        """The sheet as CSV lines, trailing blank lines dropped (OSWorld's ``sheet_print`` reading)."""
        if self.xlsx is None:
            lines = self._lines if name in self.sheet_names else None
        else:
            export = self.path.with_name(f"{self.path.stem}-{name}.csv")
            lines = export.read_text(encoding="utf-8", errors="replace").splitlines() if export.exists() else None
        if lines is None:
            return None
        lines = [line.strip() for line in lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def cell(self, name: str, coordinate: str) -> Any:
        from openpyxl.utils.cell import coordinate_to_tuple

        row, column = coordinate_to_tuple(coordinate)
        rows = self.rows(name) or []
        return rows[row - 1][column - 1] if row <= len(rows) and column <= len(rows[row - 1]) else None

    def worksheet(self, name: str) -> Any:
        if self.xlsx is None or name not in self.sheet_names:
            return None
        return self.xlsx[name]


def load_workbook(path: str | Path | None) -> Workbook | None:
    """The workbook, or None when the file is missing or does not read as CSV/XLSX."""
    if path is None or not Path(path).is_file():
        return None
    try:
        return Workbook(path)
    except RuntimeError:
        raise
    except Exception:  # noqa: BLE001 - a corrupt or foreign file is a result that fails
        return None


def _csv_value(text: str) -> Any:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
        return text if math.isnan(number) else number
    except ValueError:
        return text


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    rows = [list(row) for row in rows]
    for row in rows:
        while row and row[-1] in (None, ""):
            row.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _rounded(rows: list[list[Any]], digits: int) -> list[list[Any]]:
    return [[round(v, digits) if isinstance(v, float) else v for v in row] for row in rows]


def _sheet(index: Any, result: Workbook, expected: Workbook | None) -> tuple[Workbook | None, str]:
    """(book, sheet name) for OSWorld's sheet references: 0, "RI0", "RNSheet1", "EI0", "ENSheet1"."""
    if isinstance(index, int):
        return result, result.sheet_names[index] if 0 <= index < len(result.sheet_names) else ""
    text = str(index)
    book = result if text[:1] == "R" else expected if text[:1] == "E" else None
    if book is None or text[1:2] not in ("I", "N"):
        raise ValueError(f"unrecognized sheet index {index!r}")
    if text[1] == "N":
        return book, text[2:]
    try:
        return book, book.sheet_names[int(text[2:])]
    except (ValueError, IndexError):
        return book, ""


def compare_table(result: str | None, expected: str | None = None, **options: Any) -> float:
    book = load_workbook(result)
    if book is None:
        return 0.0
    gold = load_workbook(expected) if expected is not None else None
    if expected is not None and gold is None:
        raise FileNotFoundError(f"the expected table {expected} cannot be read")
    rules = options.get("rules") or [{"type": "sheet_name"}, *({"type": "sheet_data", "sheet_idx0": f"RI{i}",
                                                                 "sheet_idx1": f"EI{i}"}
                                                                for i in range(len(book.sheet_names)))]
    for rule in rules:
        if not _passes(rule, book, gold):
            return 0.0
    return 1.0


def _passes(rule: dict, book: Workbook, gold: Workbook | None) -> bool:
    kind = rule["type"]
    if kind == "sheet_name":
        return gold is not None and book.sheet_names == gold.sheet_names
    if kind in ("sheet_data", "sheet_print", "sheet_fuzzy", "freeze"):
        (book0, name0), (book1, name1) = _sheet(rule["sheet_idx0"], book, gold), _sheet(rule["sheet_idx1"], book, gold)
        if book0 is None or book1 is None:
            return False
        if kind == "sheet_data":
            rows0, rows1 = book0.rows(name0), book1.rows(name1)
            digits = rule.get("precision", 4)
            return rows0 is not None and rows1 is not None and _rounded(rows0, digits) == _rounded(rows1, digits)
        if kind == "sheet_print":
            lines0, lines1 = book0.printed(name0), book1.printed(name1)
            if lines0 is None or lines1 is None:
                return False
            if rule.get("ignore_case", False):
                lines0, lines1 = [s.lower() for s in lines0], [s.lower() for s in lines1]
            return lines0 == lines1
        if kind == "freeze":
            sheet0, sheet1 = book0.worksheet(name0), book1.worksheet(name1)
            return sheet0 is not None and sheet1 is not None and sheet0.freeze_panes == sheet1.freeze_panes
        return all(_fuzzy_range(sub, book0, name0, book1, name1) for sub in rule["rules"])
    sheet_book, name = _sheet(rule["sheet_idx"], book, gold)
    if sheet_book is None or name not in sheet_book.sheet_names:
        return False
    if kind == "zoom":
        sheet = sheet_book.worksheet(name)
        zoom = (sheet.sheet_view.zoomScale if sheet is not None else None) or 100.0
        return match_value_to_rule(zoom, rule)
    value = sheet_book.cell(name, rule["coordinate"])  # check_cell: only "value" passes the support check
    return all(match_value_to_rule(value, test) for prop, test in rule["props"].items() if prop == "value")


def _cells(ranges: str | list[str]) -> list[str]:
    from openpyxl.utils.cell import get_column_letter, range_boundaries

    cells = []
    for text in [ranges] if isinstance(ranges, str) else ranges:
        for part in text.split():
            min_col, min_row, max_col, max_row = range_boundaries(part)
            cells += [f"{get_column_letter(c)}{r}" for r in range(min_row, max_row + 1)
                      for c in range(min_col, max_col + 1)]
    return cells


def _fuzzy_range(rule: dict, book0: Workbook, name0: str, book1: Workbook, name1: str) -> bool:
    for coordinate in _cells(rule["range"]):
        values = []
        for book, name in ((book0, name0), (book1, name1)):
            value = str(book.cell(name, coordinate))
            for old, new in rule.get("normalization", []):
                value = value.replace(old, new)
            if "trim_leadings" in rule:
                value = value.lstrip(rule["trim_leadings"])
            if "trim_trailings" in rule:
                value = value.rstrip(rule["trim_trailings"])
            if "ignore_chars" in rule:
                value = "".join(ch for ch in value if ch not in set(rule["ignore_chars"]))
            values.append(value.lower() if rule.get("ignore_case", False) else value)
        first, second = values
        kind = rule["type"]
        if kind == "includes":
            ok = second in first
        elif kind == "included_by":
            ok = first in second
        elif kind == "fuzzy_match":
            ok = text_similarity(first, second) * 100 >= rule.get("threshold", 85.0)
        elif kind == "exact_match":
            ok = first == second
        else:
            raise ValueError(f"sheet_fuzzy: unknown type {kind!r}")
        if not ok:
            return False
    return True


def compare_csv(result: str | None, expected: str | list[str] | None, **options: Any) -> float:
    """1 when the result's lines equal those of the expected file (or of any of several); ``strict=False``
    strips each line, ``ignore_case`` folds case."""
    if result is None or not Path(result).is_file() or expected is None:
        return 0.0

    def lines(path: str) -> list[str]:
        read = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        if not options.get("strict", True):
            read = [line.strip() for line in read]
        return [line.lower() for line in read] if options.get("ignore_case", False) else read

    ours = lines(result)
    for path in [expected] if isinstance(expected, str) else expected:
        if Path(path).is_file() and lines(path) == ours:
            return 1.0
    return 0.0
