"""Icons grounder: what the theme index and the template cache cost, cold and warm, and a query's time.

Run from the repository root:

    .venv/bin/python benchmarks/icons_benchmark.py SCREENSHOT [SCREENSHOT ...]

Every step is timed in this run on this machine, each in a fresh process where a fresh process is what
a user gets:

- index: listing the installed icon themes (``ThemeIndex``);
- cold: the descriptions' first queries in a process whose disk cache is empty (renders, writes the cache);
- disk: the same queries in a new process over the filled disk cache (loads, renders nothing);
- memory: the same queries again in that process (templates and the prepared screenshot in memory);
- per query: the median over a set of function and look descriptions on each screenshot, warm.

Prints a table; it writes nothing else (the numbers go to BENCHMARKS.md by hand, with the machine).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTIONS = ("the Save button", "the magnifying glass icon", "the scissors", "the clipboard icon", "click Undo",
                "the Find and Replace button", "the trash can", "the gear icon", "the Reload button", "go back")

_CHILD = r"""
import json, sys, time
from grounding.icons import IconGrounder, IconTemplates, ThemeIndex
from grounding.base import load_screenshot
started = time.perf_counter()
index = ThemeIndex()
index_s = time.perf_counter() - started
grounder = IconGrounder(IconTemplates(index, cache=__import__("pathlib").Path(sys.argv[1])))
screen = load_screenshot(sys.argv[2])
descriptions = json.loads(sys.argv[3])
first = time.perf_counter()
for description in descriptions:
    grounder.ground(screen, description)
first_s = time.perf_counter() - first
again = time.perf_counter()
for description in descriptions:
    grounder.ground(screen, description)
print(json.dumps({"index_s": index_s, "first_s": first_s, "again_s": time.perf_counter() - again,
                  "rendered": grounder.templates.rendered, "loaded": grounder.templates.loaded}))
"""


def _child(cache: Path, screenshot: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(cache), screenshot, json.dumps(DESCRIPTIONS)], cwd=ROOT,
                         capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    sys.path.insert(0, str(ROOT))
    from grounding.base import load_screenshot
    from grounding.icons import IconGrounder, IconTemplates, ThemeIndex

    with tempfile.TemporaryDirectory(prefix="pcagent-icons-") as cache_dir:
        cache = Path(cache_dir)
        cold = _child(cache, argv[0])
        disk = _child(cache, argv[0])
        grounder = IconGrounder(IconTemplates(ThemeIndex(), cache=cache))
        per_query = []
        for path in argv:
            screen = load_screenshot(path)
            for description in DESCRIPTIONS:
                grounder.ground(screen, description)  # warm: rendered and matched once
            for description in DESCRIPTIONS:
                started = time.perf_counter()
                grounder.ground(screen, description)
                per_query.append(time.perf_counter() - started)
        fresh = IconGrounder(IconTemplates(ThemeIndex(), cache=cache))
        cold_queries = []
        for path in argv:
            screen = load_screenshot(path)
            for description in DESCRIPTIONS:
                started = time.perf_counter()
                fresh.ground(screen, description)
                cold_queries.append(time.perf_counter() - started)
    count = len(DESCRIPTIONS)
    rows = [("theme index (list the themes)", cold["index_s"]),
            ("a query, new process, empty disk cache (renders; mean)", cold["first_s"] / count),
            ("a query, new process, filled disk cache (mean)", disk["first_s"] / count),
            ("the same queries again in that process (mean)", disk["again_s"] / count),
            ("query on a new screenshot, templates on disk (median)", statistics.median(cold_queries)),
            ("query, screenshot and templates in memory (median)", statistics.median(per_query))]
    print(f"{'step':<58} {'ms':>9}")
    for label, seconds in rows:
        print(f"{label:<58} {seconds * 1000:>9.1f}")
    print(f"renders cold: {cold['rendered']}, loaded from disk in the new process: {disk['loaded']} "
          f"(rendered there: {disk['rendered']}); {len(argv)} screenshot(s), {len(DESCRIPTIONS)} descriptions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
