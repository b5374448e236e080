"""Recorder benchmark: CPU cost, bytes per step and input-to-disk latency at 1920x1080.

Run from the repository root:

    .venv/bin/python benchmarks/recorder_benchmark.py [--seconds 60] [--fps 10] [--out results.md]

Everything happens on private virtual displays (Xvfb 1920x1080 with an AT-SPI bus); the
user's desktop is never touched. For each scenario two runs play the same scripted session
(the sample app driven by xdotool at about one action per second):

- baseline: the session alone; CPU seconds of Xvfb, the app, the accessibility buses, the
  background window (busy scenario) and xdotool, from /proc/<pid>/stat (utime + stime) and
  getrusage(RUSAGE_CHILDREN) for the short-lived xdotool processes;
- recorder: the same session while `pcagent record` runs as a child process (its CPU read
  from /proc/<pid>/stat over exactly the same window), then a latency phase (keys and
  clicks sent by xdotool while steps.jsonl is polled every ~1 ms), then the trajectory's
  bytes on disk per step of the session.

Scenarios: "flat" (the sample app full screen: flat Qt widgets, compresses very well) and
"busy" (the app at 1000x700 in front of a full-screen, desktop-like image: text in several
fonts, panels, photo-like regions; `--background PATH` uses your own image instead).
At the end it times grabbing and PNG-encoding one 1080p frame of each screen
(Frame.to_png at compress levels 1/3/6), which explains where the recorder's CPU goes.

While a run measures, the whole machine's busy time is read from /proc/stat; the part not
used by the measured processes is reported as "other load" and a run with more than
--max-other-load cores of it is repeated (up to --retries times, the quietest run is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 1920, 1080
BUSY_APP_GEOMETRY = (300, 120, 1000, 700)  # x, y, w, h of the sample app in front of the busy image
TICK = os.sysconf("SC_CLK_TCK")
WORDS = ["hello", "report", "Ada", "draft", "invoice", "lunch", "meeting", "notes"]


# ----- small helpers -------------------------------------------------------------------------------

def center(rect: list[int]) -> tuple[int, int]:
    return (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    if not values:
        return float("nan")
    data = sorted(values)
    k = (len(data) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def proc_stat(pid: int) -> tuple[float, int] | None:
    """(utime + stime in seconds, session id) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): session is field 6, utime 14, stime 15
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[3])


def machine_busy_s() -> float:
    """Seconds of CPU time the whole machine has spent busy (all cores), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def loadavg() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        xvfb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "xvfb"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        xvfb = "unknown"
    versions = []
    for module in ("PIL", "mss", "pynput", "PySide6"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception:  # noqa: BLE001 - informational only
            pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model, "cores": str(os.cpu_count()), "memory": mem,
        "python": platform.python_version(), "xvfb": f"Xvfb (Debian xvfb {xvfb})",
        "os": platform.platform(), "libraries": ", ".join(versions),
    }


# ----- the busy desktop image ----------------------------------------------------------------------

def _font(name: str, size: int):
    from PIL import ImageFont

    for folder in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu"):
        path = Path(folder) / name
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _photo(rng: random.Random, size: tuple[int, int], grain: int, detail: int = 40):
    """A photo-like region: smooth colour fields, mid-scale texture and per-pixel grain."""
    from PIL import Image, ImageChops

    w, h = size
    coarse = Image.new("RGB", (8, 5))
    coarse.putdata([tuple(rng.randrange(30, 230) for _ in range(3)) for _ in range(8 * 5)])
    image = coarse.resize(size, Image.Resampling.BICUBIC)
    mid = Image.new("RGB", (max(2, w // detail), max(2, h // detail)))
    mid.putdata([tuple(rng.randrange(0, 256) for _ in range(3)) for _ in range(mid.width * mid.height)])
    image = Image.blend(image, mid.resize(size, Image.Resampling.BICUBIC), 0.2)
    if grain:
        noise = Image.frombytes("L", size, rng.randbytes(w * h))
        noise = noise.point(lambda v: 128 + (v - 128) * grain // 128)
        image = ImageChops.add(image, Image.merge("RGB", (noise, noise, noise)), 1.0, -128)
    return image


def _lorem(rng: random.Random, words: int) -> str:
    vocab = ("the recorder screen frame step action window text quarterly revenue grew percent "
             "customer support ticket invoice meeting agenda schedule project budget update "
             "deploy server request response latency design review notes draft final version "
             "table chart figure summary results method data analysis user interface").split()
    return " ".join(rng.choice(vocab) for _ in range(words))


def make_busy_desktop(path: Path, seed: int = 7) -> None:
    """A desktop-like 1920x1080 image: wallpaper, a code editor, a web page with a photo,
    a terminal, a spreadsheet and a taskbar."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = _photo(rng, (WIDTH, HEIGHT), grain=8)  # photo wallpaper, visible between the windows
    draw = ImageDraw.Draw(img)
    mono, sans, sans_b, serif, serif_b = (_font("DejaVuSansMono.ttf", 14), _font("DejaVuSans.ttf", 15),
                                          _font("DejaVuSans-Bold.ttf", 13), _font("DejaVuSerif.ttf", 16),
                                          _font("DejaVuSerif-Bold.ttf", 28))
    small = _font("DejaVuSansCondensed.ttf", 12)

    def window(box, title, body="#ffffff", bar="#dfe3e8"):
        l, t, r, b = box
        draw.rectangle((l + 4, t + 4, r + 4, b + 4), fill="#20202080")
        draw.rectangle(box, fill=body, outline="#7a7a7a")
        draw.rectangle((l, t, r, t + 30), fill=bar)
        draw.text((l + 12, t + 7), title, font=sans_b, fill="#202020")
        for i, colour in enumerate(("#ff5f57", "#febc2e", "#28c840")):
            draw.ellipse((r - 80 + i * 24, t + 8, r - 66 + i * 24, t + 22), fill=colour)
        return l, t + 31, r, b

    # code editor (dark), left
    l, t, r, b = window((20, 50, 930, 1010), "recorder.py - Code Editor", body="#1e1e1e", bar="#3c3c3c")
    draw.rectangle((l, t, l + 46, b), fill="#252526")
    colours = ["#569cd6", "#ce9178", "#9cdcfe", "#dcdcaa", "#6a9955", "#c586c0", "#d4d4d4"]
    for n, y in enumerate(range(t + 6, b - 18, 19)):
        draw.text((l + 6, y), f"{n + 1:4d}", font=mono, fill="#858585")
        x = l + 56 + 28 * rng.randrange(0, 4)
        for _ in range(rng.randrange(2, 9)):
            word = rng.choice(["def", "self", "return", "frame", "queue.get()", "if", "None", "for",
                               "time.monotonic()", "# comment", "'step'", "x", "=", "(", ")", "await"])
            draw.text((x, y), word, font=mono, fill=rng.choice(colours))
            x += int(draw.textlength(word + " ", font=mono))
            if x > r - 60:
                break
    # web page with a photo, right
    l, t, r, b = window((900, 30, 1900, 700), "Quarterly report - Web Browser")
    draw.rectangle((l, t, r, t + 40), fill="#f1f3f4")
    draw.rounded_rectangle((l + 90, t + 7, r - 90, t + 33), 12, fill="#ffffff", outline="#c0c0c0")
    draw.text((l + 110, t + 12), "https://example.org/reports/2024/q3/summary.html", font=sans, fill="#333")
    draw.text((l + 30, t + 60), "Quarterly results and outlook", font=serif_b, fill="#111")
    img.paste(_photo(rng, (440, 300), grain=12, detail=15), (l + 30, t + 110))
    y = t + 110
    for _ in range(15):
        draw.text((l + 490, y), _lorem(rng, 4), font=serif, fill="#222")
        y += 21
    y = t + 430
    while y < b - 20:
        draw.text((l + 30, y), _lorem(rng, 13), font=sans, fill="#333")
        y += 20
    for i in range(12):
        draw.text((r - 170, t + 60 + i * 22), _lorem(rng, 2).title(), font=small, fill="#1a0dab")
    # spreadsheet, bottom right
    l, t, r, b = window((960, 640, 1700, 1030), "budget.ods - Spreadsheet")
    for row in range(16):
        for col in range(8):
            x0, y0 = l + col * 92, t + row * 22
            fill = "#e8eef7" if row == 0 else ("#ffffff" if row % 2 else "#f7f7f7")
            draw.rectangle((x0, y0, x0 + 92, y0 + 22), fill=fill, outline="#d0d0d0")
            text = chr(65 + col) if row == 0 else f"{rng.uniform(-999, 9999):,.2f}"
            draw.text((x0 + 6, y0 + 4), text, font=small, fill="#000" if row else "#335")
    # bar chart panel in the spreadsheet's corner
    for i in range(10):
        height = rng.randrange(20, 120)
        draw.rectangle((l + 420 + i * 28, b - 10 - height, l + 440 + i * 28, b - 10),
                       fill=rng.choice(["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f"]))
    # terminal, overlapping
    l, t, r, b = window((120, 700, 820, 1000), "Terminal", body="#0c0c0c", bar="#2d2d2d")
    y = t + 6
    while y < b - 16:
        draw.text((l + 8, y), "$ " + _lorem(rng, 7) if rng.random() < 0.3 else _lorem(rng, 9),
                  font=mono, fill=rng.choice(["#cccccc", "#16c60c", "#f9f1a5", "#3b78ff"]))
        y += 18
    # top panel and taskbar
    draw.rectangle((0, 0, WIDTH, 24), fill="#2b2b2b")
    draw.text((10, 4), "Activities    Files    Edit    View    Help", font=small, fill="#eeeeee")
    draw.text((WIDTH - 150, 4), "Tue 14:32   92%", font=small, fill="#eeeeee")
    draw.rectangle((0, HEIGHT - 44, WIDTH, HEIGHT), fill="#1f2430")
    for i in range(14):
        x = 16 + i * 56
        draw.rounded_rectangle((x, HEIGHT - 38, x + 40, HEIGHT - 6), 8,
                               fill=rng.choice(["#e94560", "#0f3460", "#16c79a", "#f5a623", "#8e44ad",
                                                "#2980b9", "#c0392b"]))
        draw.text((x + 12, HEIGHT - 30), rng.choice("ABCDEFGHJKLMNP"), font=sans_b, fill="white")
    img.save(path)


def show_background(path: str) -> int:
    """Helper mode: a full-screen window showing the image (no window manager: it stays below)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication([sys.argv[0]])
    app.setApplicationName("benchmark-background")
    label = QLabel()
    label.setPixmap(QPixmap(path))
    label.setGeometry(0, 0, WIDTH, HEIGHT)
    label.show()
    QTimer.singleShot(800, lambda: print("ready", flush=True))
    return app.exec()


# ----- driving the session -------------------------------------------------------------------------

class Driver:
    """xdotool with the pointer position tracked (``mousemove --sync`` to where the pointer already
    is hangs for ~15 s in xdotool 3.2021)."""

    def __init__(self, env: dict) -> None:
        self.env = env
        out = self.run("getmouselocation")
        fields = dict(part.split(":", 1) for part in out.split())
        self.pos = (int(fields["x"]), int(fields["y"]))

    def run(self, *args: object) -> str:
        return subprocess.run(["xdotool", *map(str, args)], env=self.env, check=True, timeout=30,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout

    def _move(self, x: int, y: int) -> list:
        if (x, y) == self.pos:
            return []
        self.pos = (x, y)
        return ["mousemove", "--sync", x, y]

    def click(self, x: int, y: int, button: int = 1) -> None:
        self.run(*self._move(x, y), "click", button)

    def type(self, text: str) -> None:
        self.run("type", "--delay", 60, "--", text)  # ~ a fast typist

    def key(self, combo: str) -> None:
        self.run("key", "--", combo)

    def scroll(self, x: int, y: int, notches: int) -> None:
        self.run(*self._move(x, y), "click", "--repeat", abs(notches), "--delay", 40, 4 if notches > 0 else 5)

    def drag(self, x1: int, y1: int, x2: int, y2: int, steps: int = 12) -> None:
        args: list = [*self._move(x1, y1), "mousedown", 1, "sleep", 0.05]
        for i in range(1, steps + 1):
            args += ["mousemove", round(x1 + (x2 - x1) * i / steps), round(y1 + (y2 - y1) * i / steps),
                     "sleep", 0.025]
        args += ["sleep", 0.05, "mouseup", 1]
        self.run(*args)
        self.pos = (x2, y2)


def session_actions(drv: Driver, widgets: dict) -> list:
    """One cycle of ~1-second actions: clicks, typing, keys, scrolls, a drag, a context menu."""
    items = sorted((k for k in widgets if k.startswith("item_")), key=lambda k: int(k.split("_")[1]))
    items = items[2:14] or items
    state = {"item": 0, "word": 0, "square": center(widgets["drag"])}
    canvas = widgets["canvas"]
    home = state["square"]
    away = (canvas[0] + 200, canvas[1] + 320)

    def click(name: str, button: int = 1):
        return lambda: drv.click(*center(widgets[name]), button)

    def click_item(button: int = 1):
        def act():
            name = items[state["item"] % len(items)]
            state["item"] += 3
            drv.click(*center(widgets[name]), button)
        return act

    def type_word():
        drv.type(WORDS[state["word"] % len(WORDS)] + " ")
        state["word"] += 1

    def drag():
        start = state["square"]
        target = away if start == home else home
        drv.drag(*start, *target)
        state["square"] = target

    items_center = center(widgets["items"])
    return [
        click("save"), click_item(), click("name"), type_word, lambda: drv.key("Return"),
        lambda: drv.scroll(*items_center, -3), drag, click("open"), click("pad"),
        lambda: drv.key("ctrl+shift+t"), click_item(3), lambda: drv.key("Escape"),
        lambda: drv.scroll(*items_center, 3), click("name"), type_word, click_item(),
    ]


# ----- one run -------------------------------------------------------------------------------------

@dataclass
class Run:
    scenario: str
    recorder: bool
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

    @property
    def total_cpu(self) -> float:
        return sum(self.cpu.values())


def launch_app(env: dict, log: Path, geometry: tuple[int, int, int, int]) -> tuple[subprocess.Popen, dict]:
    x, y, w, h = geometry
    proc = subprocess.Popen(
        [sys.executable, "-m", "pcagent.sampleapp", "--log", str(log), "--x", str(x), "--y", str(y),
         "--width", str(w), "--height", str(h)],
        env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the sample app exited: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        if log.exists():
            for line in log.read_text(encoding="utf-8").splitlines():
                event = json.loads(line)
                if event.get("event") == "ready":
                    return proc, event
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the sample app did not start within 30 s")


def start_background(env: dict, image: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--show-background", str(image)],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError("the background window did not start")
    return proc


def cpu_snapshot(display, pids: dict[str, int]) -> dict[int, tuple[str, float]]:
    """CPU seconds of every process to measure: the named pids and everything in the sessions
    of the display's own processes (Xvfb; dbus-daemon, at-spi-bus-launcher and what they start)."""
    sessions = {proc.pid: ("xvfb" if i == 0 else "a11y") for i, proc in enumerate(display._procs)}
    xvfb_pid = display._procs[0].pid
    snap: dict[int, tuple[str, float]] = {}
    for label, pid in pids.items():
        stat = proc_stat(pid)
        if stat:
            snap[pid] = (label, stat[0])
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in snap:
            continue
        stat = proc_stat(int(entry))
        if stat and stat[1] in sessions:
            snap[int(entry)] = ("xvfb" if int(entry) == xvfb_pid else "a11y", stat[0])
    return snap


def cpu_delta(before: dict, after: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid, (label, cpu) in after.items():
        start = before.get(pid, (label, 0.0))[1]
        out[label] = out.get(label, 0.0) + cpu - start
    return out


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def wait_for_new_step(steps: Path, size0: int, timeout: float = 5.0) -> tuple[float, dict] | None:
    """Poll steps.jsonl every ~1 ms until a whole new line is there: (perf_counter, step)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            size = os.stat(steps).st_size
        except FileNotFoundError:
            size = 0
        if size > size0:
            with open(steps, "rb") as handle:
                handle.seek(size0)
                data = handle.read()
            if data.endswith(b"\n"):
                t = time.perf_counter()
                return t, json.loads(data.split(b"\n", 1)[0])
        time.sleep(0.001)
    return None


def measure_latency(run: Run, drv: Driver, widgets: dict, steps: Path, keys: int, clicks: int) -> None:
    rng = random.Random(3)
    drv.click(*center(widgets["canvas"]))  # pointer (and so keyboard focus) over the app
    time.sleep(1.0)
    for i in range(keys + clicks):
        is_key = i < keys
        size0 = os.stat(steps).st_size
        if is_key:
            args = ["key", "--", "Escape" if i % 2 == 0 else "ctrl+shift+t"]
        else:
            if i == keys:
                drv.click(*center(widgets["pad"]))  # move there first (this click is not measured)
                time.sleep(1.2)
                size0 = os.stat(steps).st_size
            args = ["click", "1"]
        wall0, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(["xdotool", *args], env=drv.env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        found = wait_for_new_step(steps, size0)
        proc.wait(30)
        if found is None:
            print(f"  warning: no step for xdotool {' '.join(args)}", file=sys.stderr)
            continue
        t1, step = found
        wall1 = wall0 + (t1 - t0)
        run.latency_actions.add(step["action"].split(" ")[0].split("(")[0])
        (run.key_send_ms if is_key else run.click_send_ms).append((t1 - t0) * 1000)
        (run.key_event_ms if is_key else run.click_event_ms).append((wall1 - step["time"]) * 1000)
        time.sleep((0.45 if is_key else 0.9) + rng.random() * 0.2)


def trajectory_bytes(out: Path, last_time: float) -> tuple[int, dict[str, int]]:
    """Steps up to `last_time` (the session) and their bytes on disk: screenshots (unique files;
    repeated frames are hard links), their steps.jsonl lines and meta.json."""
    lines = (out / "steps.jsonl").read_bytes().splitlines(keepends=True)
    inodes: set[int] = set()
    screenshots = jsonl = count = 0
    for raw in lines:
        step = json.loads(raw)
        if step["time"] > last_time:
            continue
        count += 1
        jsonl += len(raw)
        if step.get("screenshot"):
            st = os.stat(out / step["screenshot"])
            if st.st_ino not in inodes:
                inodes.add(st.st_ino)
                screenshots += st.st_size
    meta = os.stat(out / "meta.json").st_size
    return count, {"screenshots": screenshots, "pngs": len(inodes), "jsonl": jsonl, "meta": meta}


def describe_accessibility(out: Path) -> str:
    """Whether the recorder could use AT-SPI, and how many steps got an element."""
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8")).get("recorder", {})
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    with_element = sum(1 for step in steps if step.get("element"))
    available = meta.get("accessibility_available")
    return f"{'on' if available else 'off (' + str(meta.get('accessibility_reason')) + ')'}, " \
           f"{with_element}/{len(steps)} steps with an element"


def encode_benchmark(display_name: str) -> dict:
    """Grab the current 1080p screen as the recorder does and PNG-encode it at several levels."""
    import mss

    from tracker.capture import grab_frame

    with mss.MSS(display=display_name) as sct:
        grab_frame(sct)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            frame = grab_frame(sct)
            times.append(time.perf_counter() - t)
    result = {"grab_ms": statistics.median(times) * 1000, "levels": {}}
    for level in (1, 3, 6):
        times = []
        for _ in range(3):
            c0, t = time.process_time(), time.perf_counter()
            data = frame.to_png(level)
            times.append((time.perf_counter() - t, time.process_time() - c0))
        result["levels"][level] = {"ms": statistics.median(x[0] for x in times) * 1000,
                                   "cpu_ms": statistics.median(x[1] for x in times) * 1000,
                                   "kb": len(data) / 1000}
    return result


def one_run(scenario: str, with_recorder: bool, args, background: Path | None) -> Run:
    from pcagent.recorder_process import RecorderProcess
    from pcagent.virtual_display import VirtualDisplay

    run = Run(scenario, with_recorder, load_before=loadavg())
    geometry = (0, 0, WIDTH, HEIGHT) if scenario == "flat" else BUSY_APP_GEOMETRY
    procs: list[subprocess.Popen] = []
    recorder = None
    with VirtualDisplay(WIDTH, HEIGHT, accessibility=True) as display, \
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
            if with_recorder:
                recorder = RecorderProcess(out, "--fps", str(args.fps), env=env).start()
                pids["recorder"] = recorder.proc.pid
            actions = session_actions(drv, widgets)
            time.sleep(2.0)  # settle: startup work is not part of the session

            before, xdo0, me0, busy0 = cpu_snapshot(display, pids), children_cpu(), self_cpu(), machine_busy_s()
            if with_recorder:
                run.recorder_startup_cpu_s = before[recorder.proc.pid][1]
            t0 = time.monotonic()
            i = 0
            while i * args.period < args.seconds - 1.0:
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

            if with_recorder:
                measure_latency(run, drv, widgets, out / "steps.jsonl", args.latency_keys, args.latency_clicks)
                code = recorder.stop(60)
                if code != 0:
                    run.recorder_errors = recorder.output[-2000:]
                warnings = [line for line in recorder.lines if line.startswith("warning")]
                if warnings:
                    run.recorder_errors += "\n".join(warnings)
                run.steps, run.bytes = trajectory_bytes(out, session_end_wall)
                run.accessibility = describe_accessibility(out)
                if args.keep_trajectories:
                    import shutil

                    shutil.copytree(out, Path(args.keep_trajectories) / f"{scenario}-{time.strftime('%H%M%S')}")
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


def quiet_run(scenario: str, with_recorder: bool, args, background: Path | None) -> Run:
    """A run; repeated (up to --retries times) when other processes loaded the machine meanwhile."""
    best: Run | None = None
    for attempt in range(args.retries + 1):
        label = f"{scenario} / {'recorder' if with_recorder else 'baseline'}"
        print(f"[{time.strftime('%H:%M:%S')}] run {label} (attempt {attempt + 1}, load {loadavg()}) ...",
              flush=True)
        run = one_run(scenario, with_recorder, args, background)
        print(f"    total CPU {run.total_cpu:.2f} s over {run.wall_s:.1f} s, "
              f"recorder {run.cpu.get('recorder', 0):.2f} s, other load {run.other_load:.2f} cores", flush=True)
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


def report(runs: dict, args, info: dict, background_note: str) -> str:
    rows = []
    head = "| | " + " | ".join(f"{s}: baseline | {s}: recorder | {s}: ratio" for s in runs) + " |"
    rows.append(head)
    rows.append("|---" * (1 + 3 * len(runs)) + "|")

    def add(label, fn_base, fn_rec, fn_ratio=None):
        cells = []
        for base, rec in runs.values():
            cells += [fn_base(base) if fn_base else "", fn_rec(rec) if fn_rec else "",
                      fn_ratio(base, rec) if fn_ratio else ""]
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    def ratio(key):
        def f(b, r):
            bv, rv = b.cpu.get(key, 0.0), r.cpu.get(key, 0.0)
            return f"x{rv / bv:.2f}" if bv > 0.005 else (f"+{rv - bv:.2f} s" if rv or bv else "")
        return f

    add("wall time measured (s)", lambda b: f"{b.wall_s:.1f}", lambda r: f"{r.wall_s:.1f}")
    add("scripted actions", lambda b: str(b.actions), lambda r: str(r.actions))
    for key, label in (("xvfb", "Xvfb CPU (s)"), ("app", "sample app CPU (s)"),
                       ("a11y", "D-Bus + AT-SPI CPU (s)"), ("background", "background window CPU (s)"),
                       ("xdotool", "xdotool CPU (s)")):
        if any(key in b.cpu or key in r.cpu for b, r in runs.values()):
            add(label, lambda b, k=key: f"{b.cpu.get(k, 0):.2f}", lambda r, k=key: f"{r.cpu.get(k, 0):.2f}",
                ratio(key))
    add("**recorder CPU (s)**", lambda b: "-", lambda r: f"**{r.cpu.get('recorder', 0):.2f}**")
    add("**recorder, % of one core**", lambda b: "-",
        lambda r: f"**{100 * r.cpu.get('recorder', 0) / r.wall_s:.1f} %**")
    add("recorder start-up CPU, not in the above (s)", lambda b: "-", lambda r: f"{r.recorder_startup_cpu_s:.2f}")
    add("**total CPU (s)**", lambda b: f"{b.total_cpu:.2f}", lambda r: f"{r.total_cpu:.2f}",
        lambda b, r: f"**x{r.total_cpu / b.total_cpu:.2f}**")
    add("total CPU, % of one core", lambda b: f"{100 * b.total_cpu / b.wall_s:.1f} %",
        lambda r: f"{100 * r.total_cpu / r.wall_s:.1f} %",
        lambda b, r: f"+{100 * (r.total_cpu / r.wall_s - b.total_cpu / b.wall_s):.1f} pts")
    add("other load on the machine (cores)", lambda b: f"{b.other_load:.2f}", lambda r: f"{r.other_load:.2f}")
    add("steps recorded in the session", None, lambda r: str(r.steps))
    add("accessibility (AT-SPI) in the recorder", None, lambda r: r.accessibility)
    add("actions seen in the latency phase", None, lambda r: ", ".join(sorted(r.latency_actions)))
    add("PNG files (unique)", None, lambda r: str(r.bytes.get("pngs", 0)))
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
    add("grab one 1080p frame (mss, ms)", None, lambda r: f"{r.encode.get('grab_ms', 0):.1f}")
    for level in (1, 3, 6):
        add(f"Frame.to_png level {level}: ms / KB" + (" (recorder default)" if level == 3 else ""), None,
            lambda r, lv=level: (f"{r.encode['levels'][lv]['ms']:.0f} ms / {r.encode['levels'][lv]['kb']:.0f} KB"
                                 if r.encode else "n/a"))

    lines = [
        f"Recorder benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}",
        "",
        f"Command: `.venv/bin/python benchmarks/recorder_benchmark.py {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; Python {info['python']}; "
        f"{info['xvfb']}; {info['os']}; {info['libraries']}",
        "",
        f"Session: {args.seconds:.0f} s on a private {WIDTH}x{HEIGHT} Xvfb, one scripted action every "
        f"{args.period:g} s; recorder at {args.fps:g} fps (PNG level 3, accessibility on). "
        f"Latency: {args.latency_keys} keys/hotkeys and {args.latency_clicks} clicks after the session. "
        f"Busy scenario: {background_note}.",
        "",
        *rows,
    ]
    errors = [f"{s}: {r.recorder_errors}" for s, (b, r) in runs.items() if r.recorder_errors]
    if errors:
        lines += ["", "Recorder warnings/errors:", *errors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the scripted session (default 60)")
    parser.add_argument("--fps", type=float, default=10.0, help="recorder frames per second (default 10)")
    parser.add_argument("--out", help="also write the results (markdown) to this file")
    parser.add_argument("--background", help="image for the busy scenario (default: a generated desktop)")
    parser.add_argument("--scenarios", default="flat,busy", help="comma-separated: flat, busy (default both)")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between scripted actions (default 1)")
    parser.add_argument("--latency-keys", type=int, default=60, help="key/hotkey latency samples (default 60)")
    parser.add_argument("--latency-clicks", type=int, default=30, help="click latency samples (default 30)")
    parser.add_argument("--retries", type=int, default=2, help="repeat a run this often when the machine was busy")
    parser.add_argument("--max-other-load", type=float, default=0.2,
                        help="cores of outside load above which a run is repeated (default 0.2)")
    parser.add_argument("--keep-background", help="save the generated busy image here")
    parser.add_argument("--keep-trajectories", help="copy the recorded trajectories into this folder")
    parser.add_argument("--show-background", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.show_background:
        return show_background(args.show_background)

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="pcagent-bench-bg-") as scratch:
        background = None
        note = "not run"
        if "busy" in scenarios:
            if args.background:
                from PIL import Image

                background = Path(scratch) / "background.png"
                Image.open(args.background).convert("RGB").resize((WIDTH, HEIGHT)).save(background)
                note = f"the sample app (1000x700) in front of {args.background}"
            else:
                background = Path(args.keep_background or Path(scratch) / "background.png")
                make_busy_desktop(background)
                note = ("the sample app (1000x700) in front of a generated desktop image (code editor, web page "
                        "with a photo, spreadsheet, terminal, taskbar over a photo-like wallpaper)")
        runs = {}
        for scenario in scenarios:
            base = quiet_run(scenario, False, args, background)
            rec = quiet_run(scenario, True, args, background)
            runs[scenario] = (base, rec)
    text = report(runs, args, info, note)
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
