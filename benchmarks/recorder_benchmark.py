"""Recorder benchmark: CPU cost, bytes per step and input-to-disk latency at 1920x1080.

Run from the repository root:

    .venv/bin/python benchmarks/recorder_benchmark.py [--seconds 60] [--fps 10] [--out results.md]
        [--capture periodic,damage] [--scenarios flat,busy,idle] [--size 1920x1080]

Everything happens on private virtual displays (Xvfb 1920x1080 with an AT-SPI bus); the
user's desktop is never touched. For each scenario, runs play the same scripted session
(the sample app driven by xdotool at about one action per second):

- baseline: the session alone; CPU seconds of Xvfb, the app, the accessibility buses, the
  background window (busy scenario) and xdotool, from /proc/<pid>/stat (utime + stime) and
  getrusage(RUSAGE_CHILDREN) for the short-lived xdotool processes;
- recorder: the same session while `pcagent record` runs as a child process (its CPU read
  from /proc/<pid>/stat over exactly the same window), then a latency phase (keys and
  clicks sent by xdotool while steps.jsonl is polled every ~1 ms), then the trajectory's
  bytes on disk per step of the session. One recorder run per `--capture` variant: a capture mode
  (set through PCAGENT_CAPTURE: "periodic" grabs fps times a second, "damage" only after X DAMAGE
  reports a change, tracker/recording/capture.py), optionally with a screenshot format, e.g.
  `--capture damage/png,damage/jxl,damage/webp:85` (format:quality for a lossy one); the table gives each
  later variant as a multiple of the first.

Scenarios: "flat" (the sample app full screen: flat Qt widgets, compresses very well) and
"busy" (the app at 1000x700 in front of a full-screen, desktop-like image: text in several
fonts, panels, photo-like regions; `--background PATH` uses your own image instead), and,
on request, "idle" (the flat app with no input at all: the capture's constant cost).
`--size 1280x800` runs on a smaller screen (the busy desktop is then the top-left part of the same image).
Helpers: benchmarks/recorder_session.py (xdotool session, latency, trajectory bytes),
benchmarks/proc_stats.py (/proc CPU accounting), benchmarks/desktop_background.py (the image).
At the end it times grabbing one frame of each screen and encoding it in every screenshot format
(ScreenshotFormat.encode, as the recorder does), which explains where the recorder's CPU goes.

While a run measures, the whole machine's busy time is read from /proc/stat; the part not
used by the measured processes is reported as "other load" and a run with more than
--max-other-load cores of it is repeated (up to --retries times, the quietest run is kept).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.desktop_background import HEIGHT, WIDTH, make_busy_desktop  # noqa: E402
from tracker.format.screenshot_format import FORMATS  # noqa: E402
from benchmarks.proc_stats import (children_cpu, cpu_delta, cpu_snapshot, loadavg,  # noqa: E402
                                   machine_busy_s, machine_info, self_cpu)
from benchmarks.recorder_session import (ENCODINGS, Driver, describe_accessibility,  # noqa: E402
                                         encode_benchmark, launch_app, measure_latency, session_actions, start_background,
                                         trajectory_bytes)

BUSY_APP_GEOMETRY = (300, 120, 1000, 700)  # x, y, w, h of the sample app in front of the busy image


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


# ----- one run -------------------------------------------------------------------------------------

@dataclass
class Run:
    scenario: str
    capture: str | None  # the recorder's --capture mode ("periodic", "damage"); None: baseline, no recorder
    wall_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    other_load: float = 0.0  # cores used by processes outside the benchmark while measuring
    load_before: str = ""
    actions: int = 0
    recorder_startup_cpu_s: float = 0.0
    steps: int = 0
    bytes: dict[str, int] = field(default_factory=dict)
    key_send_ms: list[float] = field(default_factory=list)
    key_event_ms: list[float] = field(default_factory=list)
    click_send_ms: list[float] = field(default_factory=list)
    click_event_ms: list[float] = field(default_factory=list)
    latency_actions: set[str] = field(default_factory=set)
    encode: dict = field(default_factory=dict)
    recorder_errors: str = ""
    accessibility: str = ""
    meta: dict = field(default_factory=dict)  # meta.json's "recorder" (capture mode that ran, frames grabbed)

    @property
    def total_cpu(self) -> float:
        return sum(self.cpu.values())



def one_run(scenario: str, capture: str | None, args, background: Path | None) -> Run:
    from pcagent.testbed.recorder_process import RecorderProcess
    from pcagent.testbed.virtual_display import VirtualDisplay

    run = Run(scenario, capture, load_before=loadavg())
    width, height = args.size
    x, y, w, h = BUSY_APP_GEOMETRY  # moved left and up to stay on a smaller screen
    busy = (min(x, width - w - 20), min(y, height - h - 20), w, h)
    geometry = busy if scenario == "busy" else (0, 0, width, height)
    scripted = scenario != "idle"
    procs: list[subprocess.Popen] = []
    recorder = None
    with VirtualDisplay(width, height, accessibility=True) as display, \
            tempfile.TemporaryDirectory(prefix="pcagent-bench-") as scratch:
        env = display.child_env()
        try:
            pids: dict[str, int] = {}
            if scenario == "busy":
                bg = start_background(env, background)
                procs.append(bg)
                pids["background"] = bg.pid
            app, ready = launch_app(env, Path(scratch) / "app.jsonl", geometry)
            procs.append(app)
            pids["app"] = app.pid
            widgets = ready["widgets"]
            drv = Driver(env)
            out = Path(scratch) / "trajectory"
            if capture:
                mode, _, encoding = capture.partition("/")  # "damage", "damage/jxl" or "damage/webp:85"
                image_format, _, quality = encoding.partition(":")
                extra = (["--image-format", image_format] if image_format else []) + \
                    (["--image-quality", quality] if quality else [])
                recorder = RecorderProcess(out, "--fps", str(args.fps), *extra,
                                           env={**env, "PCAGENT_CAPTURE": mode}).start()
                pids["recorder"] = recorder.proc.pid
            actions = session_actions(drv, widgets)
            time.sleep(2.0)  # settle: startup work is not part of the session

            before, xdo0, me0, busy0 = cpu_snapshot(display, pids), children_cpu(), self_cpu(), machine_busy_s()
            if capture:
                run.recorder_startup_cpu_s = before[recorder.proc.pid][1]
            t0 = time.monotonic()
            i = 0
            while scripted and i * args.period < args.seconds - 1.0:
                delay = t0 + i * args.period - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                actions[i % len(actions)]()
                i += 1
            time.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
            after, xdo1, me1, busy1 = cpu_snapshot(display, pids), children_cpu(), self_cpu(), machine_busy_s()
            run.wall_s = time.monotonic() - t0
            session_end_wall = time.time()
            run.actions = i
            run.cpu = cpu_delta(before, after)
            run.cpu["xdotool"] = xdo1 - xdo0
            ours = run.total_cpu + (me1 - me0)
            run.other_load = max(0.0, (busy1 - busy0) - ours) / run.wall_s

            if capture:
                if scripted:
                    measure_latency(run, drv, widgets, out / "steps.jsonl", args.latency_keys,
                                    args.latency_clicks)
                code = recorder.stop(60)
                if code != 0:
                    run.recorder_errors = recorder.output[-2000:]
                warnings = [line for line in recorder.lines if line.startswith("warning")]
                if warnings:
                    run.recorder_errors += "\n".join(warnings)
                run.steps, run.bytes = trajectory_bytes(out, session_end_wall)
                run.accessibility = describe_accessibility(out)
                run.meta = json.loads((out / "meta.json").read_text(encoding="utf-8")).get("recorder", {})
                if args.keep_trajectories:
                    import shutil

                    shutil.copytree(out, Path(args.keep_trajectories) /
                                    f"{scenario}-{capture}-{time.strftime('%H%M%S')}")
                if scripted:
                    run.encode = encode_benchmark(display.display)
        finally:
            if recorder is not None:
                recorder.kill()
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    return run


def quiet_run(scenario: str, capture: str | None, args, background: Path | None) -> Run:
    """A run; repeated (up to --retries times) when other processes loaded the machine meanwhile."""
    best: Run | None = None
    for attempt in range(args.retries + 1):
        label = f"{scenario} / {'recorder, ' + capture + ' capture' if capture else 'baseline'}"
        print(f"[{time.strftime('%H:%M:%S')}] run {label} (attempt {attempt + 1}, load {loadavg()}) ...",
              flush=True)
        run = one_run(scenario, capture, args, background)
        print(f"    total CPU {run.total_cpu:.2f} s over {run.wall_s:.1f} s, "
              f"recorder {run.cpu.get('recorder', 0):.2f} s, Xvfb {run.cpu.get('xvfb', 0):.2f} s, "
              f"other load {run.other_load:.2f} cores", flush=True)
        if best is None or run.other_load < best.other_load:
            best = run
        if run.other_load <= args.max_other_load:
            break
        time.sleep(5)
    return best


# ----- report --------------------------------------------------------------------------------------

def fmt_ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{percentile(values, 50):.0f} / {percentile(values, 99):.0f} ms (n={len(values)}, max {max(values):.0f})"


def pct(run: Run, key: str) -> float:
    return 100 * run.cpu.get(key, 0.0) / run.wall_s


def report(runs: dict, captures: list[str], args, info: dict, background_note: str) -> str:
    """runs: {scenario: [baseline, recorder run per capture mode]}. Each later variant also gets a column
    with its value as a multiple of the first's (e.g. damage / periodic)."""
    columns = ["baseline", *(f"recorder, {c}" for c in captures)] + [f"{c} / {captures[0]}" for c in captures[1:]]
    rows = ["| | " + " | ".join(f"{s}: {c}" for s in runs for c in columns) + " |",
            "|---" * (1 + len(columns) * len(runs)) + "|"]

    def add(label, fn_base, fn_rec, fn_ratio=None):
        cells = []
        for base, *recs in runs.values():
            cells.append(fn_base(base) if fn_base else "")
            cells += [fn_rec(rec) if fn_rec else "" for rec in recs]
            cells += [fn_ratio(recs[0], rec) if fn_ratio else "" for rec in recs[1:]]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    def ratio(value):
        def f(a, b):
            va, vb = value(a), value(b)
            return f"x{vb / va:.2f}" if va > 0.005 else ""
        return f

    def cpu(key):
        return lambda r: r.cpu.get(key, 0.0)

    add("wall time measured (s)", lambda b: f"{b.wall_s:.1f}", lambda r: f"{r.wall_s:.1f}")
    add("scripted actions", lambda b: str(b.actions), lambda r: str(r.actions))
    add("capture mode that ran (meta.json)", lambda b: "-",
        lambda r: f"{r.meta.get('capture', '?')}, {r.meta.get('frames_grabbed', '?')} frames grabbed")
    add("screenshot format (meta.json)", lambda b: "-",
        lambda r: "{format}{q}".format(**(r.meta.get("screenshot_format") or {"format": "png"}),
                                       q="" if not (r.meta.get("screenshot_format") or {}).get("quality")
                                       else f" q{r.meta['screenshot_format']['quality']}"))
    for key, label in (("xvfb", "Xvfb CPU (s)"), ("app", "sample app CPU (s)"),
                       ("a11y", "D-Bus + AT-SPI CPU (s)"), ("background", "background window CPU (s)"),
                       ("xdotool", "xdotool CPU (s)")):
        if any(key in r.cpu for rs in runs.values() for r in rs):
            add(label, lambda b, k=key: f"{b.cpu.get(k, 0):.2f}", lambda r, k=key: f"{r.cpu.get(k, 0):.2f}",
                ratio(cpu(key)))
    add("Xvfb, % of one core", lambda b: f"{pct(b, 'xvfb'):.1f} %", lambda r: f"{pct(r, 'xvfb'):.1f} %")
    add("**recorder CPU (s)**", lambda b: "-", lambda r: f"**{r.cpu.get('recorder', 0):.2f}**",
        ratio(cpu("recorder")))
    add("**recorder, % of one core**", lambda b: "-", lambda r: f"**{pct(r, 'recorder'):.1f} %**",
        lambda a, b: f"**{pct(b, 'recorder') - pct(a, 'recorder'):+.1f} pts**")
    add("recorder start-up CPU, not in the above (s)", lambda b: "-", lambda r: f"{r.recorder_startup_cpu_s:.2f}")
    add("**total CPU (s)** (x baseline)", lambda b: f"{b.total_cpu:.2f}",
        lambda r: f"**{r.total_cpu:.2f}**" + next((f" (x{r.total_cpu / b.total_cpu:.2f})"
                                                   for b, *rs in runs.values() if r in rs and b.total_cpu), ""),
        ratio(lambda r: r.total_cpu))
    add("total CPU, % of one core", lambda b: f"{100 * b.total_cpu / b.wall_s:.1f} %",
        lambda r: f"{100 * r.total_cpu / r.wall_s:.1f} %")
    add("other load on the machine (cores)", lambda b: f"{b.other_load:.2f}", lambda r: f"{r.other_load:.2f}")
    add("steps recorded in the session", None, lambda r: str(r.steps))
    add("accessibility (AT-SPI) in the recorder", None, lambda r: r.accessibility)
    add("actions seen in the latency phase", None, lambda r: ", ".join(sorted(r.latency_actions)))
    add("screenshot files (unique)", None, lambda r: str(r.bytes.get("pngs", 0)))
    add("**bytes on disk per step**", None,
        lambda r: f"**{sum(v for k, v in r.bytes.items() if k != 'pngs') / max(1, r.steps) / 1000:.1f} KB**")
    add("  of which screenshot (KB/step)", None, lambda r: f"{r.bytes.get('screenshots', 0) / max(1, r.steps) / 1000:.1f}")
    add("  of which steps.jsonl (KB/step)", None, lambda r: f"{r.bytes.get('jsonl', 0) / max(1, r.steps) / 1000:.2f}")
    add("  meta.json (KB, once)", None, lambda r: f"{r.bytes.get('meta', 0) / 1000:.1f}")
    add("**key/hotkey: xdotool start -> on disk, p50 / p99**", None, lambda r: fmt_ms(r.key_send_ms))
    add("key/hotkey: event time -> on disk, p50 / p99", None, lambda r: fmt_ms(r.key_event_ms))
    add("click: xdotool start -> on disk, p50 / p99 (incl. 0.5 s double-click wait)", None,
        lambda r: fmt_ms(r.click_send_ms))
    add("click: press event -> on disk, p50 / p99 (incl. 0.5 s double-click wait)", None,
        lambda r: fmt_ms(r.click_event_ms))
    add(f"grab one {args.size[0]}x{args.size[1]} frame (mss, ms)", None,
        lambda r: f"{r.encode['grab_ms']:.1f}" if r.encode else "n/a")
    for name in ENCODINGS:
        add(f"encode one frame as {name}: ms / KB", None,
            lambda r, n=name: (f"{r.encode['formats'][n]['ms']:.0f} ms / {r.encode['formats'][n]['kb']:.0f} KB"
                               if r.encode else "n/a"))

    lines = [
        f"Recorder benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"Command: `.venv/bin/python benchmarks/recorder_benchmark.py {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}; "
        f"{info['xvfb']}; {info['os']}; {info['libraries']}",
        "",
        f"Session: {args.seconds:.0f} s on a private {args.size[0]}x{args.size[1]} Xvfb, one scripted action every "
        f"{args.period:g} s (none in the idle scenario); recorder at {args.fps:g} fps (accessibility on), "
        f"variants (capture/screenshot format) {', '.join(captures)}. "
        f"Latency: {args.latency_keys} keys/hotkeys and {args.latency_clicks} clicks after the session. "
        f"Busy scenario: {background_note}.",
        "",
        *rows,
    ]
    errors = [f"{s}/{r.capture}: {r.recorder_errors}" for s, (b, *rs) in runs.items() for r in rs
              if r.recorder_errors]
    if errors:
        lines += ["", "Recorder warnings/errors:", *errors]
    return "\n".join(lines) + "\n"


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH, e.g. 1280x800, not {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the scripted session (default 60)")
    parser.add_argument("--fps", type=float, default=10.0, help="recorder frames per second (default 10)")
    parser.add_argument("--capture", default="periodic,damage",
                        help="recorder capture modes to measure, comma-separated: periodic, damage "
                             "(default both, in the same run, with their ratio)")
    parser.add_argument("--out", help="also write the results (markdown) to this file")
    parser.add_argument("--background", help="image for the busy scenario (default: a generated desktop)")
    parser.add_argument("--scenarios", default="flat,busy",
                        help="comma-separated: flat, busy, idle (the flat app with no input) (default flat,busy)")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between scripted actions (default 1)")
    parser.add_argument("--latency-keys", type=int, default=60, help="key/hotkey latency samples (default 60)")
    parser.add_argument("--latency-clicks", type=int, default=30, help="click latency samples (default 30)")
    parser.add_argument("--retries", type=int, default=2, help="repeat a run this often when the machine was busy")
    parser.add_argument("--max-other-load", type=float, default=0.2,
                        help="cores of outside load above which a run is repeated (default 0.2)")
    parser.add_argument("--keep-background", help="save the generated busy image here")
    parser.add_argument("--keep-trajectories", help="copy the recorded trajectories into this folder")
    parser.add_argument("--size", type=_size, default=(WIDTH, HEIGHT),
                        help=f"screen size WxH (default {WIDTH}x{HEIGHT})")
    args = parser.parse_args(argv)

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    captures = [c.strip() for c in args.capture.split(",") if c.strip()]
    bad = [c for c in captures if c.partition("/")[0] not in ("periodic", "damage")
           or (c.partition("/")[2] and c.partition("/")[2].partition(":")[0] not in FORMATS)] + \
          [s for s in scenarios if s not in ("flat", "busy", "idle")]
    if bad or not captures:
        parser.error(f"bad --capture / --scenarios: {', '.join(bad) or args.capture}")
    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="pcagent-bench-bg-") as scratch:
        background = None
        note = "not run"
        if "busy" in scenarios:
            if args.background:
                from PIL import Image

                background = Path(scratch) / "background.png"
                Image.open(args.background).convert("RGB").resize(args.size).save(background)
                note = f"the sample app (1000x700) in front of {args.background}"
            else:
                background = Path(args.keep_background or Path(scratch) / "background.png")
                make_busy_desktop(background)
                if args.size != (WIDTH, HEIGHT):
                    from PIL import Image

                    Image.open(background).crop((0, 0, *args.size)).save(background)
                note = ("the sample app (1000x700) in front of a generated desktop image (code editor, web page "
                        "with a photo, spreadsheet, terminal, taskbar over a photo-like wallpaper)")
        runs = {}
        for scenario in scenarios:
            runs[scenario] = [quiet_run(scenario, None, args, background),
                              *(quiet_run(scenario, capture, args, background) for capture in captures)]
    text = report(runs, captures, args, info, note)
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
