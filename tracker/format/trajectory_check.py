"""The strict checker for trajectory folders (see :mod:`tracker.format.trajectory` for the format).

:func:`check_trajectory` reports everything wrong with a folder: what the tolerant reader already noticed,
plus format, step and file checks (screenshot paths inside the folder, every image decoded, canonical
actions, index and time order, the element and window fields a replay reads, known element_missing codes,
the shapes of what cognition completion writes, the screens, leftover temporary files). :func:`png_problem` is the PNG integrity check on its own.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from PIL import Image

from models.images import register_image_plugins
from tracker.format.actions import MAX_COORDINATE, Action, ActionError, format_action, parse_action
from tracker.format.screenshot_format import PIL_FORMATS
from tracker.format.trajectory import (
    ACTORS, FORMAT_NAME, FORMAT_VERSION, META_FILE, SCREENSHOT_DIR, STEPS_FILE, Problem, Step, TrajectoryError,
    is_finite_number, is_json_int, is_temporary_file, read_with_line_numbers,
)

__all__ = ["check_trajectory", "png_problem", "REQUIRED_META_KEYS"]

REQUIRED_META_KEYS = ("format", "version", "id", "created", "task", "platform", "screens")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _check_image(root: Path, relative: str) -> str | None:
    """Why the image at ``relative`` is unusable, or None if it looks fine."""
    if Path(relative).is_absolute() or ".." in Path(relative).parts or "\\" in relative:
        return f"screenshot path {relative!r} must be relative and inside the trajectory"
    path = root / relative
    if is_temporary_file(path.name):
        return f"screenshot path {relative!r} names a temporary file"
    if path.is_symlink() and not path.resolve().is_relative_to(root.resolve()):
        return f"screenshot {relative} links outside the trajectory"
    if not path.is_file():
        return f"screenshot {relative} is missing"
    if path.suffix.lower() == ".png" and (problem := png_problem(path)):
        return problem
    register_image_plugins()
    try:
        with Image.open(path) as image:
            image.load()  # every pixel: a PNG whose compressed data is damaged fails only here
            kind = image.format
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return f"{relative} cannot be decoded as an image ({error})"
    if kind not in PIL_FORMATS:
        return f"{relative} is a {kind} image, not one of {', '.join(PIL_FORMATS)}"
    return None


def png_problem(path: Path) -> str | None:
    """Why the file is not a usable PNG (signature, IHDR chunk, closing IEND chunk), or None."""
    with open(path, "rb") as handle:
        head = handle.read(33)
        size = path.stat().st_size
        handle.seek(max(0, size - len(_PNG_IEND)))
        tail = handle.read()
    name = path.name
    if head[:8] != _PNG_SIGNATURE:
        return f"{name} is not a PNG file (bad signature)"
    if len(head) < 33 or head[12:16] != b"IHDR" or int.from_bytes(head[8:12], "big") != 13:
        return f"{name} is a damaged PNG (no IHDR header)"
    if zlib.crc32(head[12:29]) != int.from_bytes(head[29:33], "big"):
        return f"{name} is a damaged PNG (IHDR checksum mismatch)"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if width == 0 or height == 0:
        return f"{name} is a damaged PNG (size {width}x{height})"
    if tail != _PNG_IEND:
        return f"{name} is a truncated PNG (no IEND chunk at the end)"
    return None


def _check_meta(meta: dict) -> list[Problem]:
    problems: list[Problem] = []
    if meta.get("format") != FORMAT_NAME:
        problems.append(Problem("error", META_FILE, f"format is {meta.get('format')!r}, expected {FORMAT_NAME!r}"))
    version = meta.get("version")
    if not is_json_int(version):
        problems.append(Problem("error", META_FILE, f"version must be an integer, not {version!r}"))
    elif version > FORMAT_VERSION:
        problems.append(Problem("error", META_FILE, f"format version {version} is newer than this reader "
                                                    f"understands (version {FORMAT_VERSION}); upgrade pcagent"))
    missing = [key for key in REQUIRED_META_KEYS if key not in meta]
    if missing:
        problems.append(Problem("error", META_FILE, f"missing required keys: {', '.join(missing)}"))
    if "task" in meta and not isinstance(meta["task"], dict):
        problems.append(Problem("error", META_FILE, "task must be an object"))
    if "screens" in meta and not isinstance(meta["screens"], list):
        problems.append(Problem("error", META_FILE, "screens must be a list"))
    for number, screen in enumerate(meta.get("screens") if isinstance(meta.get("screens"), list) else []):
        fields = ("left", "top", "width", "height")
        if not isinstance(screen, dict) or not all(is_json_int(screen.get(key)) for key in fields):
            problems.append(Problem("error", META_FILE, f"screens[{number}] must have integer {', '.join(fields)}, "
                                                        f"not {screen!r}"))
    if meta.get("outcome") is None:
        problems.append(Problem("warning", META_FILE, "recording did not end cleanly (no outcome)"))
    return problems


def _check_step(root: Path, step: Step, where: str) -> list[Problem]:
    problems: list[Problem] = []
    if step.actor not in ACTORS:
        problems.append(Problem("error", where, f"actor must be one of {ACTORS}, not {step.actor!r}"))
    try:
        canonical = format_action(step.parsed_action())
        if canonical != step.action:
            problems.append(Problem("warning", where, f"action {step.action!r} is not canonical ({canonical!r})"))
    except ActionError as error:
        problems.append(Problem("error", where, f"bad action: {error}"))
    if step.screenshot is not None:
        reason = _check_image(root, step.screenshot)
        if reason:
            problems.append(Problem("error", step.screenshot, f"{reason} (step {step.index}, {where})"))
    problems.extend(_check_element_missing(step, where))
    problems.extend(_check_element_and_window(step, where))
    problems.extend(_check_completed_fields(step, where))
    marked = step.extra.get("marked_screenshot")
    if isinstance(marked, str) and marked != step.screenshot:
        reason = _check_image(root, marked)
        if reason:
            problems.append(Problem("error", marked, f"{reason} (marked screenshot of step {step.index})"))
    return problems


def _is_coordinate(value: object) -> bool:
    return is_json_int(value) and abs(value) <= MAX_COORDINATE


def _check_element_and_window(step: Step, where: str) -> list[Problem]:
    """The fields a replay reads: texts are text, a rectangle is four ordered integer coordinates."""
    problems: list[Problem] = []
    if step.pointer is not None and not all(map(_is_coordinate, step.pointer)):
        problems.append(Problem("error", where, f"pointer {list(step.pointer)!r} is out of range"))
    for key, texts in (("element", ("name", "role", "application")), ("window", ("title", "application"))):
        value = getattr(step, key)
        if value is None:
            continue
        for field in texts:
            if value.get(field) is not None and not isinstance(value[field], str):
                problems.append(Problem("error", where, f"{key}.{field} must be text or null, not {value[field]!r}"))
        rect = value.get("rect")
        if rect is not None and not (isinstance(rect, list) and len(rect) == 4 and all(map(_is_coordinate, rect))
                                     and rect[0] <= rect[2] and rect[1] <= rect[3]):
            problems.append(Problem("error", where, f"{key}.rect must be [left, top, right, bottom] integers "
                                                    f"with left <= right and top <= bottom, not {rect!r}"))
    timing = step.extra.get("timing")
    if isinstance(timing, dict):
        bad = [k for k, v in timing.items() if not is_finite_number(v)]
        if bad:
            problems.append(Problem("error", where, f"timing {', '.join(bad)} must be finite numbers"))
    return problems


_COMPLETION_STATUSES = ("done", "failed")
_CHECK_VERDICTS = ("good", "corrected")


def _canonical(text: object) -> Action | None:
    """The action of canonical action text, or None."""
    try:
        action = parse_action(text) if isinstance(text, str) else None
    except ActionError:
        return None
    return action if action is not None and format_action(action) == text else None


def _check_completed_fields(step: Step, where: str) -> list[Problem]:
    """What cognition completion writes (tracker.completion): descriptions, thoughts, reflections, boosts and
    the `completion` provenance records have their documented shapes."""
    extra, found = step.extra, []
    description = extra.get("action_description")
    if description is not None and not isinstance(description, str):
        found.append(f"action_description must be text, not {description!r}")
    records = extra.get("completion")
    if records is not None and not (isinstance(records, dict) and all(
            isinstance(r, dict) and r.get("status") in _COMPLETION_STATUSES
            and (r["status"] == "done" or isinstance(r.get("error"), str)) for r in records.values())):
        found.append("completion must map each pass to {status: done|failed, model, profile, time, error if failed}")
    if isinstance(description, str) and isinstance(records, dict) and "describe" in records:
        described, own = _canonical(description), _canonical(step.action)
        if described is None or not described.is_element_click or (own is not None and own.kind != described.kind):
            found.append(f"completed action_description {description!r} must be an element click of the step's kind")
    checked = extra.get("action_description_checked")
    if isinstance(checked, dict) and (checked.get("verdict") not in _CHECK_VERDICTS or (
            checked["verdict"] == "corrected" and not isinstance(checked.get("original"), str))):
        found.append(f"action_description_checked must be {{verdict: good}} or {{verdict: corrected, original}}, "
                     f"not {checked!r}")
    thought = extra.get("thought")
    if isinstance(thought, dict) and thought.get("source") == "completed" and not (
            isinstance(thought.get("text"), str) and thought["text"].strip()
            and all(isinstance(thought.get(key), str) for key in ("model", "pass"))):
        found.append("a completed thought needs its text, model and pass")
    reflection = extra.get("reflection")
    if reflection is not None and not (
            isinstance(reflection, dict) and all(isinstance(reflection.get(k), bool) for k in ("correct", "redundant"))
            and isinstance(reflection.get("text"), str) and is_json_int(reflection.get("previous_step"))
            and reflection["previous_step"] < step.index):
        found.append("reflection must be {previous_step (an earlier index), correct, redundant (true/false), text}")
    boost = extra.get("boost")
    if boost is not None:
        samples = boost.get("samples") if isinstance(boost, dict) else None
        if not isinstance(samples, list) or not all(
                isinstance(s, dict) and isinstance(s.get("thought"), str)
                and (action := _canonical(s.get("action"))) is not None and not action.is_element_click
                for s in samples):
            found.append("boost must be {samples: [{thought, action}]} with canonical coordinate actions")
    return [Problem("error", where, message) for message in found]


def _check_element_missing(step: Step, where: str) -> list[Problem]:
    """`element_missing` says why `element` is null: one known code, and only on a step without one."""
    if "element_missing" not in step.extra:
        return []
    # The codes are the accessibility layer's; imported here so that importing tracker stays light.
    from grounding.accessibility.protocol import ELEMENT_MISSING_CODES

    code = step.extra["element_missing"]
    if code not in ELEMENT_MISSING_CODES:
        return [Problem("error", where, f"element_missing must be one of {', '.join(ELEMENT_MISSING_CODES)}, "
                                        f"not {code!r}")]
    if step.element is not None:
        return [Problem("error", where, f"element_missing ({code}) on a step that has an element")]
    return []


def check_trajectory(root: Path | str) -> list[Problem]:
    """Everything wrong with a trajectory folder: reader problems plus format, step and file checks."""
    root = Path(root)
    try:
        meta, steps, problems = read_with_line_numbers(root)
    except TrajectoryError as error:
        return [Problem("error", META_FILE, str(error))]
    problems.extend(_check_meta(meta))
    expected_index = 0
    previous_time: float | None = None
    for number, step in steps:
        where = f"{STEPS_FILE}:{number}"
        if step.index != expected_index:
            problems.append(Problem("error", where, f"step index {step.index}, expected {expected_index} "
                                                    "(indices must run 0, 1, 2, ...)"))
        expected_index = step.index + 1
        if previous_time is not None and step.time < previous_time:
            problems.append(Problem("error", where, f"time {step.time} is earlier than the step before "
                                                    f"({previous_time})"))
        previous_time = step.time
        problems.extend(_check_step(root, step, where))
    screenshots = root / SCREENSHOT_DIR
    if screenshots.is_dir():
        for path in sorted(screenshots.iterdir()):
            if is_temporary_file(path.name):
                problems.append(Problem("warning", f"{SCREENSHOT_DIR}/{path.name}",
                                        "leftover temporary file from an interrupted write"))
    for path in sorted(root.glob(f".{META_FILE}.*.tmp")):
        problems.append(Problem("warning", path.name, "leftover temporary file from an interrupted write"))
    return problems
