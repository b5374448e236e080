"""Local Qwen-VL decoding: the ONNX backend's key/value cache against a full re-run, and transformers on CPU.

Run from the repository root:

    .venv/bin/python benchmarks/onnx_decode_benchmark.py [--lengths 16,64,256] [--repeats 5] [--threads N] [--no-write]

Builds the tiny random Qwen2.5-VL of the tests (tests/qwen_vl_folders.py: two layers, width 64, in the
publisher's layout) in a temporary folder, exports it in the onnx-community split layout, and measures on
one prompt (a system line, a 320x200 screenshot at a 12544-pixel budget, a sentence):

- ONNX, KV cache: `OnnxModel.greedy_token_ids(..., kv_cache=True)`: the prompt once, then one token per step;
- ONNX, full re-run (the baseline): the same answer with the whole sequence through the decoder at every step;
  for each length in --lengths, the answer forced to that many tokens (eos ignored); tokens/s is new tokens
  over the whole call (prompt included); time to first token is a 1-token call;
- transformers: `TransformersModel.generate` of the same folder (float32 on CPU, image-only processor): time
  to first token (a 1-token answer) and tokens/s of the decode after it (a 64-token answer, eos ignored).

Each figure is the best of --repeats runs, the compared runs taking turns: on a shared 2-core machine the
median moves with whatever else runs, the best much less. `--threads N` gives onnxruntime's sessions and
torch N intra-op threads (a measurement setting; the backends use the runtimes' defaults): on cores other
jobs also use, a thread pool waits for whichever of its threads lost its core, and that noise swamps
what is measured.

The cache and the re-run give the same tokens (checked here too, and in tests/test_models_onnx.py); only
their speed is compared. Prints a table and writes/updates the "Local Qwen-VL decoding" section of
BENCHMARKS.md (other sections are left as they are).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from benchmarks.markdown_sections import write_section  # noqa: E402
from models.base import Message  # noqa: E402
from models.profile import ModelProfile  # noqa: E402

SECTION_TITLE = "## Local Qwen-VL decoding"
BUDGET = 28 * 28 * 16


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def prompt() -> list[Message]:
    screenshot = Image.new("RGB", (320, 200), (200, 30, 30))
    screenshot.paste((255, 255, 255), (20, 20, 120, 60))
    return [Message.of("system", "You operate a computer."), Message.of("user", screenshot, "Click the Save button.")]


def best_seconds(runs: dict[bool, object], repeats: int) -> dict[bool, float]:
    """Best wall time of each run, the runs taking turns so that both see the same load."""
    times: dict[bool, list[float]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            started = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - started)
    return {key: min(values) for key, values in times.items()}


def limit_threads(threads: int) -> None:
    """N intra-op threads for every onnxruntime session and for torch; 0 leaves their defaults."""
    if threads <= 0:
        return
    import onnxruntime
    import torch

    torch.set_num_threads(threads)
    make_session = onnxruntime.InferenceSession

    def session(path: str, sess_options: object = None, providers: object = None, **kwargs: object) -> object:
        options = sess_options or onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        return make_session(path, sess_options=options, providers=providers, **kwargs)

    onnxruntime.InferenceSession = session


def measure_onnx(export: Path, lengths: list[int], repeats: int) -> list[dict]:
    from models.backends.onnx_backend import OnnxModel

    model = OnnxModel(ModelProfile(name="bench", backend="onnx", model=str(export), image_max_pixels=BUDGET))
    messages = prompt()
    model.greedy_token_ids(messages, 4, stop_at_eos=False)  # warm-up: sessions allocate on first run
    labels = {True: "ONNX, KV cache", False: "ONNX, full re-run (baseline)"}
    rows = []
    first = best_seconds({kv: (lambda kv=kv: model.greedy_token_ids(messages, 1, kv_cache=kv)) for kv in labels},
                         repeats)
    rows += [{"label": labels[kv], "tokens": 1, "ttft_ms": first[kv] * 1000} for kv in labels]
    for length in lengths:
        cached = model.greedy_token_ids(messages, length, stop_at_eos=False)
        if cached != model.greedy_token_ids(messages, length, kv_cache=False, stop_at_eos=False):
            raise SystemExit(f"the cached decode and the full re-run disagree at {length} tokens")
        seconds = best_seconds({kv: (lambda kv=kv: model.greedy_token_ids(messages, length, kv_cache=kv,
                                                                           stop_at_eos=False)) for kv in labels},
                               repeats)
        rows += [{"label": labels[kv], "tokens": length, "tokens_per_s": length / seconds[kv]} for kv in labels]
    model.close()
    return rows


def measure_transformers(folder: Path, repeats: int, length: int = 64) -> dict:
    from models.backends.transformers_backend import TransformersModel

    model = TransformersModel(ModelProfile(name="bench", backend="transformers", model=str(folder), device="cpu",
                                           image_max_pixels=BUDGET))
    model.model.generation_config.eos_token_id = None  # answers of exactly the asked length, as for ONNX
    messages = prompt()
    model.generate(messages, max_tokens=4)  # warm-up
    first, full = [], []
    for _ in range(repeats):  # taking turns, as above
        first.append(model.generate(messages, max_tokens=1).latency_s)
        full.append(model.generate(messages, max_tokens=length).latency_s)
    model.close()
    return {"label": "transformers generate (torch CPU, float32)", "tokens": length, "ttft_ms": min(first) * 1000,
            "tokens_per_s": (length - 1) / (min(full) - min(first))}


def table(onnx_rows: list[dict], transformers_row: dict) -> list[str]:
    lines = ["| run | new tokens | time to first token ms | tokens/s | cache / re-run |", "|---|---|---|---|---|"]
    first = {row["label"]: row["ttft_ms"] for row in onnx_rows if "ttft_ms" in row}
    speeds = {(row["label"], row["tokens"]): row["tokens_per_s"] for row in onnx_rows if "tokens_per_s" in row}
    for label, ttft in first.items():
        lines.append(f"| {label} | 1 | {ttft:.1f} | | |")
    for (label, tokens), speed in speeds.items():
        baseline = speeds[("ONNX, full re-run (baseline)", tokens)]
        ratio = f"x{speed / baseline:.2f}" if label == "ONNX, KV cache" else "x1.00"
        lines.append(f"| {label} | {tokens} | | {speed:.1f} | {ratio} |")
    row = transformers_row
    lines.append(f"| {row['label']} | {row['tokens']} | {row['ttft_ms']:.1f} | {row['tokens_per_s']:.1f} | |")
    return lines


def section(lines: list[str], argv: list[str], threads: int, ratios: dict[int, float]) -> str:
    import onnxruntime
    import torch
    import transformers

    command = " ".join(["    .venv/bin/python benchmarks/onnx_decode_benchmark.py", *argv]).rstrip()
    setup = (
        f"{cpu_model()}, {os.cpu_count()} cores, no GPU; Python {platform.python_version()}, onnxruntime "
        f"{onnxruntime.__version__} (CPUExecutionProvider), torch {torch.__version__}, transformers "
        f"{transformers.__version__}; {f'{threads} intra-op thread(s) each' if threads > 0 else 'default threads'}, "
        f"load average {os.getloadavg()[0]:.1f} from other jobs at the end. The tiny random Qwen2.5-VL of the "
        "tests (2 layers, width 64) in the publisher's layout and as an onnx-community split export; one prompt "
        "of ~67 tokens (a 320x200 screenshot at 12544 pixels: 16 image tokens). Answers forced to the length "
        "shown (eos ignored); tokens/s counts the whole call, prompt included; best of the runs, taken in turns. "
        "Baseline: the same answer re-running the whole sequence every step, same run; the two give the same "
        "tokens.")
    growth = ", ".join(f"x{ratio:.2f} at {tokens}" for tokens, ratio in sorted(ratios.items()))
    closing = (f"The cache's lead grows with the answer ({growth} tokens): the re-run pays for the whole, "
               "growing sequence at every step, the cache for one token.")
    return "\n".join([f"{SECTION_TITLE} ({datetime.date.today().isoformat()})", "", command, "",
                      textwrap.fill(setup, 110), "", *lines, "", textwrap.fill(closing, 110), ""])




def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="16,64,256", help="answer lengths in tokens, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0,
                        help="intra-op threads for onnxruntime and torch (0: their defaults)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args(argv)
    lengths = [int(part) for part in args.lengths.split(",") if part.strip()]

    from tests.qwen_vl_folders import build_qwen2_5_vl, export_qwen_vl_onnx, load_eager

    limit_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="pcagent-qwen-bench-") as temporary:
        folder = build_qwen2_5_vl(Path(temporary) / "qwen2_5_vl")
        export = export_qwen_vl_onnx(load_eager(folder), folder, Path(temporary) / "onnx")
        onnx_rows = measure_onnx(export, lengths, args.repeats)
        transformers_row = measure_transformers(folder, args.repeats)
    lines = table(onnx_rows, transformers_row)
    print("\n".join(lines))
    if not args.no_write:
        ratios = {row["tokens"]: row["tokens_per_s"] / next(other["tokens_per_s"] for other in onnx_rows
                                                             if other["label"] != row["label"]
                                                             and other.get("tokens") == row["tokens"]
                                                             and "tokens_per_s" in other)
                  for row in onnx_rows if row["label"] == "ONNX, KV cache" and "tokens_per_s" in row}
        text = section(lines, [a for a in argv if a != "--no-write"], args.threads, ratios)
        write_section(Path(args.out), SECTION_TITLE, text)
        print(f"\nwrote the {SECTION_TITLE[3:]} section of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
