"""Grounding (OCR) benchmark: full-screen OCR grounding at 1920x1080, and what OcrCache saves on a step.

Run from the repository root:

    .venv/bin/python benchmarks/grounding_benchmark.py [--repeats 5] [--no-write]

On a private 1920x1080 virtual display (the user's desktop is never touched) the sample app runs full
screen. It measures, in one run on one machine:

- full: ``OcrGrounder`` without a cache grounding "click the Save button" on the whole screen
  (every call OCRs all 1920x1080 pixels); the median of ``--repeats`` calls after one warm-up;
- typing step: type one character into the Name field (the field and the status label change), then
  ground the new status text through ``OcrCache`` that holds the previous screenshot: only the changed
  region is OCR'd. Reported with the changed share of the screen (pixels that differ, and the pixels
  actually OCR'd);
- click step: click a list item (its row is highlighted, the status label changes), same measure;
- repeat: the same screenshot again (a cache hit, no OCR).

Ratios are against the full-screen median measured in the same run (goal for a small step: <= 0.25).
Prints a table and writes/updates the "OCR grounding speed" section of BENCHMARKS.md (other sections are
left as they are).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.markdown_sections import write_section  # noqa: E402
from grounding.base import box_center  # noqa: E402
from grounding.ocr.engine import OcrGrounder, RapidOcrEngine  # noqa: E402
from grounding.ocr.cache import OcrCache  # noqa: E402
from pcagent.testbed.sampleapp_process import start_sample_app  # noqa: E402
from pcagent.testbed.virtual_display import VirtualDisplay  # noqa: E402
from pcagent.testbed.xdo import Xdo, grab  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
SECTION_TITLE = "## OCR grounding speed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def launch_app(env: dict, log: Path) -> tuple[subprocess.Popen, dict]:
    """The sample app, full screen; returns once it logged "ready"."""
    return start_sample_app(env, log, "--width", WIDTH, "--height", HEIGHT)


def wait_for_change(display: str, before, region: list[int] | None = None, timeout: float = 3.0):
    """The next screenshot whose ``region`` (default: all) differs from ``before`` (the app repaints
    asynchronously; a blinking caret alone does not count when a region is given)."""
    box = tuple(region) if region else (0, 0, before.width, before.height)
    old = np.asarray(before.crop(box))
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(0.08)  # let a repaint finish rather than catch it half-way
        shot = grab(display)
        if not np.array_equal(np.asarray(shot.crop(box)), old) or time.monotonic() > deadline:
            return shot


def measure(repeats: int, verbose: bool = False) -> dict:
    results: dict = {"repeats": repeats}
    engine = RapidOcrEngine()
    with VirtualDisplay(WIDTH, HEIGHT, accessibility=False) as display, \
            tempfile.TemporaryDirectory(prefix="grounding-bench-") as scratch:
        env = display.child_env()
        xdo = Xdo(env)
        app, ready = launch_app(env, Path(scratch) / "app.jsonl")
        widgets = ready["widgets"]
        try:
            time.sleep(0.5)
            screen = grab(display.display)
            plain = OcrGrounder(engine)
            plain.ground(screen, "click the Save button")  # warm-up: loads the models
            full_times, ok = [], True
            for _ in range(repeats):
                result = plain.ground(screen, "click the Save button")
                full_times.append(result.latency_s)
                ok &= result.found
            results["full"] = {"median_s": statistics.median(full_times), "min_s": min(full_times),
                               "found": ok, "boxes": result.details["ocr_boxes"]}

            cache = OcrCache(engine)
            grounder = OcrGrounder(cache=cache)
            grounder.ground(screen, "Save")  # the cache now holds this screen (a full read)
            hit_times = [grounder.ground(screen, "Open").latency_s for _ in range(repeats)]
            results["hit"] = {"median_s": statistics.median(hit_times)}

            xdo.run("mousemove", *box_center(widgets["name"]), "click", 1)
            screen = wait_for_change(display.display, screen)
            grounder.ground(screen, "Save")  # caret and focus frame: not part of the measured steps
            typed = ""
            for name, step in (("typing", lambda i: "Ada Lovelace"[i % 12]), ("click", lambda i: f"item_{i + 1}")):
                times, fractions, ocr_fractions, found = [], [], [], True
                for i in range(repeats):
                    if name == "typing":
                        typed += step(i)
                        xdo.run("type", "--delay", 0, step(i))
                        target = f'the status "Name: {typed}"'
                    else:
                        xdo.run("mousemove", *box_center(widgets[step(i)]), "click", 1)
                        target = f'the status "Clicked Item {i + 1}"'
                    new = wait_for_change(display.display, screen, widgets["status"])
                    changed = float(np.any(np.asarray(new) != np.asarray(screen), axis=2).mean())
                    pixels_before = cache.stats.pixels_ocr
                    result = grounder.ground(new, target)
                    times.append(result.latency_s)
                    fractions.append(changed)
                    ocr_fractions.append((cache.stats.pixels_ocr - pixels_before) / (WIDTH * HEIGHT))
                    found &= result.found and result.details.get("ocr_mode") == "partial"
                    if verbose:
                        print(f"{name}: {target} found={result.found} {result.latency_s:.3f} s "
                              f"regions={cache.stats.last_regions} changed={changed:.4%}", flush=True)
                    screen = new
                results[name] = {"median_s": statistics.median(times), "changed": statistics.median(fractions),
                                 "ocr_share": statistics.median(ocr_fractions), "found": found,
                                 "regions": cache.stats.last_regions}
        finally:
            app.terminate()
            app.wait(10)
    results["stats"] = vars(cache.stats).copy()
    return results


def render(results: dict) -> tuple[str, str]:
    """(terminal table, markdown section)."""
    full = results["full"]["median_s"]
    machine = f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    rows = [("full-screen OCR grounding (no cache)", results["full"]["median_s"], 1.0, 1.0, 1.0,
             results["full"]["found"])]
    for key, label in (("typing", "step: type a character in Name (cache)"),
                       ("click", "step: click a list item (cache)")):
        r = results[key]
        rows.append((label, r["median_s"], r["changed"], r["ocr_share"], r["median_s"] / full, r["found"]))
    rows.append(("same screenshot again (cache hit)", results["hit"]["median_s"], 0.0, 0.0,
                 results["hit"]["median_s"] / full, True))
    header = ("case", "median s", "pixels changed", "pixels OCR'd", "ratio to full", "found")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, seconds, changed, share, ratio, found in rows:
        lines.append(f"| {label} | {seconds:.3f} | {changed:.3%} | {share:.2%} | {ratio:.3f} | {found} |")
    table = "\n".join(lines)
    goal = max(results["typing"]["median_s"], results["click"]["median_s"]) / full
    verdict = f"small-step ratio {goal:.3f} (goal <= 0.25): {'met' if goal <= 0.25 else 'NOT met'}"
    section = "\n".join([
        SECTION_TITLE, "",
        f"Measured {time.strftime('%Y-%m-%d')} with `benchmarks/grounding_benchmark.py` on {machine}; "
        f"1920x1080 Xvfb display, the sample app full screen; rapidocr PP-OCRv6 small on ONNX Runtime "
        f"(CPU, angle classifier off); median of {results['repeats']} calls each.",
        "", table, "",
        f"- {verdict}. The full read found {results['full']['boxes']} line and word boxes.",
        "- A step re-reads only the padded, 32-px-aligned regions around the changed pixels (grown to "
        "whole text lines); boxes outside them are kept from the previous screenshot.",
        "- Timings are wall-clock on a shared machine; compare ratios, which come from the same run.", ""])
    return f"Machine: {machine}\n\n{table}\n\n{verdict}", section




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--verbose", action="store_true", help="print every step")
    args = parser.parse_args(argv)
    results = measure(max(1, args.repeats), args.verbose)
    table, section = render(results)
    print(table)
    if not args.no_write:
        write_section(Path(args.out), SECTION_TITLE, section)
        print(f"\nwrote the {SECTION_TITLE[3:]} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
