"""Evaluation benchmark: wall time of the bundled `pcagent eval` suite replayed from its recorded solutions,
with 1, 2 and 4 workers and on a local Ray instance.

Run from the repository root:

    .venv/bin/python benchmarks/eval_benchmark.py [--workers 1,2,4] [--ray-workers 2] [--out results.md]

Each configuration is one `pcagent eval pcagent/eval/tasks --replay pcagent/eval/solutions` into a fresh
results folder (so nothing is resumed): every task on its own Xvfb display with openbox, its setup, the
replay (re-grounding each click), the evaluator. The baseline is 1 worker, measured in the same run; the
table gives each configuration's wall time, its ratio to the baseline, tasks solved, and the mean time
of one task as the summary reports it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.proc_stats import machine_info  # noqa: E402

TASKS = ROOT / "pcagent" / "eval" / "tasks"
SOLUTIONS = ROOT / "pcagent" / "eval" / "solutions"


def run_suite(label: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="pcagent-eval-bench-") as out:
        command = [sys.executable, "-m", "pcagent", "eval", str(TASKS), "--replay", str(SOLUTIONS), "--out", out,
                   *extra]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.monotonic() - started
        summary_file = Path(out) / "pyautogui" / "screenshot" / "replay" / "summary.json"
        if done.returncode != 0 or not summary_file.exists():
            raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        overall = json.loads(summary_file.read_text())["overall"]
    print(f"{label}: {wall:.1f} s, solved {overall['solved']}/{overall['tasks']}", flush=True)
    return {"label": label, "wall_s": wall, **overall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts to time (the first is the baseline)")
    parser.add_argument("--ray-workers", type=int, default=2, help="CPUs of the local Ray instance (0: skip Ray)")
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    rows = [run_suite(f"{n} worker{'s' if n > 1 else ''}", ["--workers", str(n)])
            for n in map(int, args.workers.split(","))]
    if args.ray_workers:
        rows.append(run_suite(f"Ray local, {args.ray_workers} CPUs",
                              ["--ray", "local", "--workers", str(args.ray_workers)]))
    base = rows[0]["wall_s"]
    lines = ["| configuration | wall s | ratio to " + rows[0]["label"] + " | solved | mean s per task |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['label']} | {r['wall_s']:.1f} | {r['wall_s'] / base:.2f} | {r['solved']}/{r['tasks']} | "
              f"{r['mean_time_s']:.1f} |" for r in rows]
    info = machine_info()
    text = "\n".join(lines) + f"\n\nMachine: {info['cpu']}, {info['cores']} cores, {info['memory']}, " \
                              f"Python {info['python']}, {info['xvfb']}\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
