"""Agent step overhead: what one agent step costs besides the model and the grounding OCR.

Run from the repository root:

    .venv/bin/python benchmarks/agent_benchmark.py [--steps 20] [--image-max-pixels 1003520]

On a private 1920x1080 virtual display (the user's desktop is never touched) the sample app runs full
screen, and the real ``AgentLoop`` runs in this process (DISPLAY is set to the virtual display before
pyautogui or pynput is imported): a ``PromptPlanner`` over a ``ScriptedServer`` on loopback that answers
at once with element clicks alternating between buttons and list items, then ``finish``;
``OcrGrounder(cache=OcrCache())``; a gate that approves at once; the rule guards; ``PyAutoGuiExecutor``
with an ``InjectionLedger``; a ``TrajectoryWriter`` in a temporary folder. ``AgentConfig.settle_s`` is 0:
the settle time is a deliberate wait, not overhead. pyautogui's own sleeps (PAUSE 0.05 s after a call,
the 0.02 s click interval) are deliberate too and are metered separately.

Per step, by wrapping (nothing in pcagent/ is changed): capture (mss grab + PIL conversion), encode
(planner time minus model latency minus parsing: the planner's resize and the data-URL encoding),
model (the scripted server's loopback round trip, as ``PlannerOutput.model_latency_s``), parse,
grounding (OCR through the cache), execute (input injection; deliberate sleeps apart), record (PNG +
screenshot file + steps.jsonl line), other (the rest of the loop: screen hash, guards, gate, history).
The first step (cold cache: a full read) is reported apart. The baseline, one full-screen OCR without a
cache, is measured in the same run. Prints a table (and, with --markdown, a section for BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from grounding_benchmark import HEIGHT, WIDTH, cpu_model, launch_app  # noqa: E402
from pcagent.testbed.virtual_display import VirtualDisplay  # noqa: E402

TARGETS = ('the "Open" button', "Item 2", 'the "Save" button', "Item 5", 'the "Delete" button', "Item 8",
           'the "Open" button', "Item 11", 'the "Save" button', "Item 14")
PARTS = ("capture", "encode", "parse", "grounding", "execute", "record", "other")
NON_GROUNDING = ("capture", "encode", "parse", "execute", "record", "other")


def script_for(steps: int) -> list[dict]:
    entries = [{"response": f"I will click {TARGETS[i % len(TARGETS)]} next.\n"
                            f"Action: click element: {TARGETS[i % len(TARGETS)]}"} for i in range(steps)]
    return entries + [{"response": "All clicks are done.\nAction: finish"}]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(steps: int, image_max_pixels: int, ocr_repeats: int) -> dict:
    with VirtualDisplay(WIDTH, HEIGHT, accessibility=False) as display, \
            tempfile.TemporaryDirectory(prefix="agent-bench-") as scratch:
        env = display.child_env()
        os.environ.update(env)  # before anything imports pyautogui / pynput / mss
        app, _ready = launch_app(env, Path(scratch) / "app.jsonl")
        try:
            time.sleep(0.5)
            return _run(steps, image_max_pixels, ocr_repeats, Path(scratch))
        finally:
            app.terminate()
            app.wait(10)


def _run(steps: int, image_max_pixels: int, ocr_repeats: int, scratch: Path) -> dict:
    import models.backends.openai_compat as openai_compat
    import pcagent.agent.loop as agent_loop
    import pcagent.agent.session as agent_session
    import pcagent.agent.planners.model_io as model_io
    from pcagent.agent.planners import PromptPlanner
    from grounding.ocr.engine import OcrGrounder, shared_engine
    from grounding.ocr.cache import OcrCache
    from models.backends.openai_compat import OpenAICompatibleModel
    from models.profile import ModelProfile
    from models.scripted_server import ScriptedServer
    from pcagent.agent.loop import AgentConfig, AgentLoop
    from pcagent.agent.session import _ScreenCapture
    from pcagent.agent.types import Decision
    from pcagent.agent.executor import PyAutoGuiExecutor
    from pcagent.collab.guards import ActionGuard
    from tracker.recording.capture import describe_screens
    from tracker.recording.injection import InjectionLedger
    from tracker.format.trajectory import TrajectoryWriter, new_meta

    cur: dict[str, float] = {}
    records: list[dict] = []

    def add(key: str, seconds: float) -> None:
        cur[key] = cur.get(key, 0.0) + seconds

    def timed(key: str, func):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                add(key, time.perf_counter() - started)
        return wrapper

    # module-level helpers the loop, the planner and the model client call: wrapped in place
    agent_session.grab_frame = timed("grab", agent_session.grab_frame)
    agent_loop._screen_hash = timed("hash", agent_loop._screen_hash)
    model_io.fit_to_pixels = timed("resize", model_io.fit_to_pixels)
    openai_compat.fit_to_pixels = timed("resize", openai_compat.fit_to_pixels)
    openai_compat.to_data_url = timed("data_url", openai_compat.to_data_url)

    class Planner(PromptPlanner):
        def plan(self, context):
            started = time.perf_counter()
            output = super().plan(context)
            add("plan", time.perf_counter() - started)
            add("model", output.model_latency_s)
            return output

        def _parse(self, text, frame, details):
            started = time.perf_counter()
            try:
                return super()._parse(text, frame, details)
            finally:
                add("parse", time.perf_counter() - started)

    class Grounder(OcrGrounder):
        def ground(self, screenshot, description, hints=None):
            started = time.perf_counter()
            result = super().ground(screenshot, description, hints)
            add("grounding", time.perf_counter() - started)
            cur["found"], cur["ocr_mode"] = result.found, self.cache.stats.last_mode
            return result

    class Executor(PyAutoGuiExecutor):
        def execute(self, action):
            started = time.perf_counter()
            try:
                super().execute(action)
            finally:
                add("execute", time.perf_counter() - started)

    class Writer(TrajectoryWriter):
        save_screenshot = timed("write_png", TrajectoryWriter.save_screenshot)
        append_step = timed("append", TrajectoryWriter.append_step)

    class Loop(AgentLoop):
        def _step(self):
            cur.clear()
            started = time.perf_counter()
            used = super()._step()
            cur["step"] = time.perf_counter() - started
            records.append(dict(cur))
            return used

        def _record(self, *args, **kwargs):
            started = time.perf_counter()
            super()._record(*args, **kwargs)
            add("record", time.perf_counter() - started)

    class InstantGate:
        def decide(self, proposal):
            return Decision("approve", by="policy")

        def wait_for_user(self, message, resume=None):
            print(f"the loop asked for the user: {message}", file=sys.stderr)
            return None  # stop

    class SleepMeter:  # pyautogui's `time`: its sleeps are deliberate waits, metered as "pause"
        def __getattr__(self, name):
            return getattr(time, name)

        @staticmethod
        def sleep(seconds):
            started = time.perf_counter()
            time.sleep(seconds)
            add("pause", time.perf_counter() - started)

    class Engine:  # the cache's OCR engine: the OCR proper inside grounding
        def __init__(self, engine):
            self.read = timed("ocr_engine", engine.read)

    screen_capture = _ScreenCapture()

    def capture():
        started = time.perf_counter()
        result = screen_capture()
        add("capture", time.perf_counter() - started)
        return result

    # baseline: full-screen OCR without a cache, same engine (the first call loads the models)
    shot, _origin = screen_capture()
    plain = OcrGrounder()
    plain.ground(shot, 'the "Save" button')
    full = [plain.ground(shot, 'the "Save" button').latency_s for _ in range(ocr_repeats)]

    executor = Executor(InjectionLedger())
    executor.connect()
    sys.modules["pyautogui"].time = SleepMeter()
    guard = ActionGuard()
    with ScriptedServer(script_for(steps)) as server:
        profile = ModelProfile(name="scripted", base_url=server.base_url, model="scripted",
                               image_max_pixels=image_max_pixels, max_retries=0)
        with OpenAICompatibleModel(profile) as model:
            writer = Writer(scratch / "trajectory", new_meta(task={"mode": "given", "description": "bench"},
                                                             screens=describe_screens()))
            loop = Loop("Click the buttons and list items named in the script, then finish.",
                        planner=Planner(model, kind="planner+grounder"),
                        grounder=Grounder(cache=OcrCache(Engine(shared_engine()))), executor=executor,
                        user=InstantGate(),
                        writer=writer, capture=capture, guards=lambda proposal: guard.check(proposal),
                        config=AgentConfig(mode="auto", max_steps=steps + 1, settle_s=0.0))
            outcome = loop.run()
            writer.close(outcome=outcome)
    screen_capture.close()

    clicks = [r for r in records if "execute" in r]
    for r in clicks:
        r["encode"] = r["plan"] - r["model"] - r.get("parse", 0.0)
        r["execute"] -= r.get("pause", 0.0)
        r["record_files"] = r.get("write_png", 0.0) + r.get("append", 0.0)
        r["other"] = r["step"] - sum(r.get(k, 0.0) for k in ("capture", "plan", "grounding", "execute",
                                                              "pause", "record"))
        r["non_grounding"] = sum(r[k] for k in NON_GROUNDING)
        r["overhead"] = r["non_grounding"] + r["grounding"]
    return {"steps": steps, "image_max_pixels": image_max_pixels, "outcome": outcome, "full": full,
            "clicks": clicks, "rounds": len(records), "first": clicks[0] if clicks else None,
            "warm": clicks[1:], "sent_size": _sent_size(image_max_pixels)}


def _sent_size(budget: int) -> tuple[int, int]:
    from PIL import Image

    from models.images import fit_to_pixels
    return fit_to_pixels(Image.new("RGB", (WIDTH, HEIGHT)), budget)[0].size


ROWS = (("capture", "capture: mss grab + PIL conversion"), ("grab", "  of which mss grab"),
        ("encode", "encode: planner resize + PNG data URL + request body"),
        ("resize", "  of which resize (BOX)"), ("data_url", "  of which PNG + base64"),
        ("parse", "parse (reply -> Action)"), ("grounding", "grounding: OCR through OcrCache"),
        ("ocr_engine", "  of which rapidocr on the changed crops"),
        ("execute", "execute: pyautogui click, deliberate sleeps apart"),
        ("record", "record: PNG level 3 + files"), ("record_files", "  of which screenshot file + steps.jsonl"),
        ("other", "other: screen hash, guards, gate, history"), ("hash", "  of which screen hash"),
        ("non_grounding", "**non-grounding total (goal < 50 ms)**"),
        ("overhead", "**per-step overhead (all above)**"),
        ("model", "not overhead: scripted model, loopback HTTP"), ("pause", "not overhead: pyautogui sleeps"))


def render(results: dict) -> tuple[str, str]:
    full = statistics.median(results["full"])
    warm = results["warm"]
    machine = f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    header = ("part", "median ms", "p95 ms", "median / full OCR")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label in ROWS:
        values = [r.get(key, 0.0) for r in warm]
        med = statistics.median(values)
        lines.append(f"| {label} | {med * 1000:.1f} | {pct(values, 0.95) * 1000:.1f} | {med / full:.4f} |")
    lines.append(f"| baseline: full-screen OCR at {WIDTH}x{HEIGHT}, no cache (median of {len(results['full'])}) "
                 f"| {full * 1000:.0f} | {max(results['full']) * 1000:.0f} | 1 |")
    table = "\n".join(lines)
    found = sum(bool(r.get("found")) for r in results["clicks"])
    modes = [r.get("ocr_mode", "?") for r in warm]
    first = results["first"]
    ng = statistics.median(r["non_grounding"] for r in warm)
    facts = (f"{len(results['clicks'])} element clicks executed ({found} grounded) in {results['rounds']} "
             f"planning rounds, outcome {results['outcome']}; medians over clicks 2-{len(results['clicks'])} "
             f"(OCR cache modes: {', '.join(f'{m} {modes.count(m)}' for m in sorted(set(modes)))}). "
             f"Click 1 (cold cache, full read): grounding {first['grounding'] * 1000:.0f} ms. "
             f"Image sent to the model: {results['sent_size'][0]}x{results['sent_size'][1]} "
             f"(image_max_pixels {results['image_max_pixels']}). Non-grounding total {ng * 1000:.1f} ms: "
             f"goal < 50 ms {'met' if ng < 0.05 else 'NOT met'}.")
    section = "\n".join([
        "## Agent step overhead", "",
        f"Measured {time.strftime('%Y-%m-%d')} with `.venv/bin/python benchmarks/agent_benchmark.py "
        f"--steps {results['steps']} --image-max-pixels {results['image_max_pixels']}` on {machine}; private "
        f"{WIDTH}x{HEIGHT} Xvfb, the sample app full screen, the real `AgentLoop` in-process (PromptPlanner over "
        "a ScriptedServer answering at once, OcrGrounder with OcrCache, an instant approve gate, the rule "
        "guards, PyAutoGuiExecutor with an InjectionLedger, TrajectoryWriter). `settle_s` = 0 (a deliberate "
        "wait, not overhead); pyautogui's PAUSE/click-interval sleeps are shown apart.", "",
        table, "", f"- {facts}", ""])
    return f"Machine: {machine}\n\n{table}\n\n{facts}", section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="element clicks before the final finish")
    parser.add_argument("--image-max-pixels", type=int, default=1003520,
                        help="the model profile's image budget (default: the local Qwen2.5-VL example "
                             "in models/profiles.py; 2073600 sends 1920x1080 unchanged)")
    parser.add_argument("--ocr-repeats", type=int, default=3, help="full-screen OCR calls for the baseline")
    parser.add_argument("--markdown", action="store_true", help="also print the BENCHMARKS.md section")
    args = parser.parse_args(argv)
    results = measure(max(2, args.steps), args.image_max_pixels, max(1, args.ocr_repeats))
    table, section = render(results)
    print(table)
    if args.markdown:
        print("\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
