"""Driving the recorder benchmark's scripted session: xdotool, the sample app, latency probes,
and reading back what the recorder wrote."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from grounding.base import box_center
from pcagent.testbed.sampleapp_process import start_sample_app
from pcagent.testbed.xdo import Xdo

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["hello", "report", "Ada", "draft", "invoice", "lunch", "meeting", "notes"]


class Driver(Xdo):
    """Xdo with the pointer position tracked here rather than asked of X before every move: one
    xdotool process per action keeps the measured latency the recorder's."""

    def __init__(self, env: dict) -> None:
        super().__init__(env)
        self.pos = self.position()

    def _move_args(self, x: int, y: int) -> list[str | int]:
        if (x, y) == self.pos:
            return []
        self.pos = (x, y)
        return ["mousemove", "--sync", x, y]

    def type(self, text: str, delay_ms: int = 60) -> None:  # ~ a fast typist
        super().type(text, delay_ms)

    def drag(self, x1: int, y1: int, x2: int, y2: int, steps: int = 12, button: int = 1,
             step_delay_s: float = 0.025) -> None:
        super().drag(x1, y1, x2, y2, steps, button, step_delay_s)
        self.pos = (x2, y2)


def session_actions(drv: Driver, widgets: dict) -> list:
    """One cycle of ~1-second actions: clicks, typing, keys, scrolls, a drag, a context menu."""
    items = sorted((k for k in widgets if k.startswith("item_")), key=lambda k: int(k.split("_")[1]))
    items = items[2:14] or items
    state = {"item": 0, "word": 0, "square": box_center(widgets["drag"])}
    canvas = widgets["canvas"]
    home = state["square"]
    away = (canvas[0] + 200, canvas[1] + 320)

    def click(name: str, button: int = 1):
        return lambda: drv.click(*box_center(widgets[name]), button)

    def click_item(button: int = 1):
        def act():
            name = items[state["item"] % len(items)]
            state["item"] += 3
            drv.click(*box_center(widgets[name]), button)
        return act

    def type_word():
        drv.type(WORDS[state["word"] % len(WORDS)] + " ")
        state["word"] += 1

    def drag():
        start = state["square"]
        target = away if start == home else home
        drv.drag(*start, *target)
        state["square"] = target

    items_center = box_center(widgets["items"])
    return [
        click("save"), click_item(), click("name"), type_word, lambda: drv.key("Return"),
        lambda: drv.scroll(*items_center, -3), drag, click("open"), click("pad"),
        lambda: drv.key("ctrl+shift+t"), click_item(3), lambda: drv.key("Escape"),
        lambda: drv.scroll(*items_center, 3), click("name"), type_word, click_item(),
    ]



def launch_app(env: dict, log: Path, geometry: tuple[int, int, int, int]) -> tuple[subprocess.Popen, dict]:
    x, y, w, h = geometry
    return start_sample_app(env, log, "--x", x, "--y", y, "--width", w, "--height", h)


def start_background(env: dict, image: Path) -> subprocess.Popen:
    script = Path(__file__).resolve().parent / "desktop_background.py"
    proc = subprocess.Popen([sys.executable, str(script), str(image)],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise RuntimeError("the background window did not start")
    return proc



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


def measure_latency(run, drv: Driver, widgets: dict, steps: Path, keys: int, clicks: int) -> None:
    rng = random.Random(3)
    drv.click(*box_center(widgets["canvas"]))  # pointer (and so keyboard focus) over the app
    time.sleep(1.0)
    for i in range(keys + clicks):
        is_key = i < keys
        size0 = os.stat(steps).st_size
        if is_key:
            args = ["key", "--", "Escape" if i % 2 == 0 else "ctrl+shift+t"]
        else:
            if i == keys:
                drv.click(*box_center(widgets["pad"]))  # move there first (this click is not measured)
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


# Every stored-screenshot choice the encode table shows: lossless first, then lossy at quality 85.
ENCODINGS = {"png": ("png", None), "jxl": ("jxl", None), "webp": ("webp", None), "smallest": ("smallest", None),
             "jxl q85": ("jxl", 85),
             "webp q85": ("webp", 85), "avif q85": ("avif", 85), "jpeg q85": ("jpeg", 85)}


def encode_benchmark(display_name: str) -> dict:
    """Grab the current screen as the recorder does and encode it in every format, as it does."""
    import mss

    from tracker.recording.capture import grab_frame

    with mss.MSS(display=display_name) as sct:
        grab_frame(sct)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            frame = grab_frame(sct)
            times.append(time.perf_counter() - t)
    from tracker.format.screenshot_format import ScreenshotFormat

    result = {"grab_ms": statistics.median(times) * 1000, "formats": {}}
    for name, (image_format, quality) in ENCODINGS.items():
        encoding = ScreenshotFormat(image_format, quality)
        times = []
        for _ in range(3):
            c0, t = time.process_time(), time.perf_counter()
            data = frame.encode(encoding)
            times.append((time.perf_counter() - t, time.process_time() - c0))
        result["formats"][name] = {"ms": statistics.median(x[0] for x in times) * 1000,
                                   "cpu_ms": statistics.median(x[1] for x in times) * 1000,
                                   "kb": len(data) / 1000}
    return result
