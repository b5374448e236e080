"""Metrics on text, lists and JSON, with OSWorld's semantics (desktop_env/evaluators/metrics/general.py):

- ``exact_match(result, rules)``: 1 when result == rules["expected"].
- ``match_in_list(result, rules)``: 1 when result is one of rules["expected"].
- ``literal_match(result, expected, type="str"|"list", ignore_case=False)``: compares as text, or as lists
  of text item by item.
- ``check_include_exclude(result, rules)``: every rules["include"] string is in result, no rules["exclude"]
  string is; a missing result scores 0.
- ``check_direct_json_object(result, rules)``: result (an object, or its JSON text where single quotes
  stand for double ones) holds every key of rules["expected"] with the same value; with
  ``expect_in_result`` an expected string need only be inside the result's and an expected list names the
  accepted values; with ``ignore_list_order`` lists compare as sorted.
- ``check_list(result, rules)``: in the file at result, every rules["expect"] regex matches some line and no
  rules["unexpect"] regex matches any line.
- ``diff_text_file(result, expected)``: how alike two text files are, line by line (difflib's ratio).

A missing result (None: the file was not there) scores 0 everywhere.
"""

from __future__ import annotations

import difflib
import functools
import json
import operator
import re
from pathlib import Path
from typing import Any

__all__ = ["check_direct_json_object", "check_include_exclude", "check_list", "diff_text_file", "exact_match",
           "literal_match", "match_in_list", "match_value_to_rule", "text_similarity"]


def exact_match(result: Any, rules: dict) -> float:
    return float(result == rules["expected"])


def match_in_list(result: Any, rules: dict) -> float:
    return float(result in rules["expected"])


def literal_match(result: Any, expected: Any, **options: Any) -> float:
    ignore_case = options.get("ignore_case", False)
    fold = (lambda s: str(s).lower()) if ignore_case else str
    kind = options.get("type", "str")
    if kind == "str":
        return float(fold(result) == fold(expected))
    if kind == "list":
        if not isinstance(result, (list, tuple)) or not isinstance(expected, (list, tuple)):
            return 0.0
        return float(len(result) == len(expected) and [fold(s) for s in result] == [fold(s) for s in expected])
    raise ValueError(f"literal_match: unknown type {kind!r} (str or list)")


def check_include_exclude(result: Any, rules: dict) -> float:
    if result is None:
        return 0.0
    include, exclude = rules.get("include", []), rules.get("exclude", [])
    return float(all(s in result for s in include) and all(s not in result for s in exclude))


def check_direct_json_object(result: Any, rules: dict) -> float:
    if isinstance(result, str):
        try:  # OSWorld reads single-quoted output as JSON too
            result = json.loads(result.strip().replace("'", '"'))
        except json.JSONDecodeError:
            return 0.0
    if not isinstance(result, dict):
        return 0.0
    expected = rules["expected"]
    ignore_order = rules.get("ignore_list_order") or expected.get("ignore_list_order", False)
    if not rules.get("expect_in_result", False):
        for key, want in expected.items():
            if key == "ignore_list_order":  # OSWorld keeps this flag among the expected keys
                continue
            got = result.get(key)
            if ignore_order and isinstance(want, list) and isinstance(got, list):
                try:
                    want, got = sorted(want), sorted(got)
                except TypeError:
                    return 0.0
            if want != got:
                return 0.0
        return 1.0
    for key, want in expected.items():
        got = result.get(key)
        if isinstance(want, list):  # the accepted values: one must be in (or equal) the result's
            if not any((isinstance(got, list) and w in got) or (isinstance(got, str) and w == got) for w in want):
                return 0.0
        elif isinstance(want, str):
            if not isinstance(got, str) or want not in got:
                return 0.0
        else:
            return 0.0
    return 1.0


def check_list(result: str | None, rules: dict) -> float:
    if result is None:
        return 0.0
    expect = [re.compile(p) for p in rules.get("expect", [])]
    unexpect = [re.compile(p) for p in rules.get("unexpect", [])]
    found = [False] * len(expect)
    with open(result, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            found = [hit or pattern.search(line) is not None for hit, pattern in zip(found, expect)]
            if any(pattern.search(line) for pattern in unexpect):
                return 0.0
    return float(all(found))


def diff_text_file(result: str | None, expected: str | None) -> float:
    if result is None or expected is None:
        return 0.0
    ours = Path(result).read_text(encoding="utf-8", errors="replace").splitlines()
    theirs = Path(expected).read_text(encoding="utf-8", errors="replace").splitlines()
    return difflib.SequenceMatcher(a=ours, b=theirs).ratio()


def text_similarity(a: str, b: str) -> float:
    """rapidfuzz's fuzz.ratio / 100 (normalized InDel similarity), as OSWorld's fuzzy options use it."""
    try:
        from rapidfuzz import fuzz
    except ImportError as exc:  # the `eval` extra
        raise RuntimeError("fuzzy matching needs rapidfuzz: pip install 'pcagent[eval]'") from exc
    return fuzz.ratio(a, b) / 100.0


def match_value_to_rule(value: Any, rule: dict) -> bool:
    """OSWorld's {"method", "ref"} rule: eq/ne/lt/le/gt/ge, re[.FLAG...] (a regex search), approx:T
    (within T of ref), str_list_eq / str_set_eq (a comma-separated string as a list or set)."""
    method, ref = rule["method"], rule.get("ref")
    if method.startswith("re"):
        flags = functools.reduce(operator.or_, (getattr(re, f) for f in method.split(".")[1:]), re.RegexFlag(0))
        return re.search(ref, "" if value is None else str(value), flags) is not None
    if method in ("eq", "ne", "lt", "le", "gt", "ge"):
        try:
            return bool(getattr(operator, method)(value, ref))
        except TypeError:
            return False
    if method.startswith("approx:"):
        try:
            return abs(float(value) - float(ref)) <= float(method.split(":", 1)[1])
        except (TypeError, ValueError):
            return False
    if method in ("str_list_eq", "str_set_eq"):
        items = [] if value is None else str(value).strip("\"'").split(",")
        return (items == list(ref)) if method == "str_list_eq" else (set(items) == set(ref))
    raise ValueError(f"unknown rule method {method!r}")
