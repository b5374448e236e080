"""What exports read: trajectory folders (found under the folders a user names) and their screenshots.

A folder named on the command line is a trajectory (it holds meta.json) or a folder of them, searched
below for every folder that holds a meta.json (a trajectory's own subfolders are not searched).

A trajectory is exported only when it reads cleanly: meta.json is a JSON object and every line of
steps.jsonl is a valid step (a torn last line, what a killed recorder leaves, is only a warning). Anything
else raises :class:`DatasetError` naming the folder and the line, and the export goes on with the others.

Screenshots may be PNG, JPEG XL, WebP, AVIF or JPEG (tracker.format.screenshot_format). Consumers of an
export (LLaMA-Factory, Hugging Face datasets, OpenAI's image inputs, OSWorld viewers) read PNG, JPEG and
WebP everywhere, JPEG XL and AVIF not: :func:`portable_image` passes the first three through unchanged
and converts the others to PNG.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from PIL import Image

from grounding.base import InvalidScreenshot, load_screenshot
from models.images import register_image_plugins
from tracker.format.trajectory import META_FILE, Step, Trajectory, TrajectoryError, read_trajectory

__all__ = ["DatasetError", "ImageFile", "PORTABLE_FORMATS", "PortableImage", "find_trajectories", "in_parallel",
           "load_trajectory", "portable_image", "portable_images", "read_image_file",
           "png_bytes", "step_image", "task_text", "trajectory_file", "unique_folder_name"]

T = TypeVar("T")
R = TypeVar("R")
# Pillow format name -> file extension, for the formats every consumer reads
PORTABLE_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


class DatasetError(Exception):
    """A trajectory, file or folder that cannot be exported or imported; the message names it."""


def find_trajectories(folders: list[Path | str]) -> list[Path]:
    """The trajectory folders named by ``folders``: each one itself, or the trajectories found below it.

    Raises DatasetError for a folder that does not exist or holds no trajectory; a trajectory named
    twice is listed once."""
    found: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise DatasetError(f"{folder}: no such folder")
        below = [folder] if (folder / META_FILE).is_file() else _trajectories_below(folder)
        if not below:
            raise DatasetError(f"{folder}: not a trajectory folder (no {META_FILE}) and holds none")
        found += [path for path in below if path.resolve() not in {p.resolve() for p in found}]
    return found


def _trajectories_below(folder: Path) -> list[Path]:
    found = []
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (child / META_FILE).is_file():
            found.append(child)
        else:
            found += _trajectories_below(child)
    return found


def load_trajectory(folder: Path | str) -> Trajectory:
    """A trajectory that reads cleanly, or DatasetError saying what is wrong with it."""
    try:
        trajectory = read_trajectory(folder)
    except TrajectoryError as error:
        raise DatasetError(str(error)) from None
    errors = [problem for problem in trajectory.problems if problem.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = errors[0].message.removesuffix("; line skipped")  # the reader's words; here nothing is skipped
        raise DatasetError(f"{folder}: {errors[0].where}: {message}{more}; `pcagent trace check` lists every problem")
    return trajectory


def task_text(meta: dict) -> str:
    """The task's description, or "" when the trajectory has none."""
    task = meta.get("task")
    description = task.get("description") if isinstance(task, dict) else None
    return description.strip() if isinstance(description, str) else ""


def unique_folder_name(trajectory: Trajectory, taken: set[str]) -> str:
    """A folder name for one trajectory's files in an export: its own folder's name in safe characters,
    made unique among ``taken`` with -2, -3, ... (two sources may hold folders of the same name); the
    name is added to ``taken``."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", trajectory.root.resolve().name) or "trajectory"
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    taken.add(name)
    return name


def trajectory_file(trajectory: Trajectory, relative: str) -> Path:
    """The file a trajectory-relative path names; DatasetError for a path that leaves the folder."""
    root = trajectory.root
    path = root / relative
    if Path(relative).is_absolute() or not path.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"{root}: screenshot path {relative!r} leads outside the trajectory")
    return path


@dataclass(frozen=True)
class PortableImage:
    """An image's encoded bytes, their file extension and the image's size."""

    data: bytes
    extension: str  # "png", "jpg", "webp"
    size: tuple[int, int]


@dataclass(frozen=True)
class ImageFile:
    """An image file's bytes, checked to decode, with Pillow's name for its format and its size."""

    data: bytes
    kind: str  # "PNG", "JXL", "WEBP", "AVIF", "JPEG", ...
    size: tuple[int, int]


def _open_checked(path: Path) -> tuple[bytes, Image.Image]:
    """The file's bytes and its image, decoded in full (a damaged body fails here)."""
    register_image_plugins()
    try:
        data = path.read_bytes()
        image = Image.open(io.BytesIO(data))
        image.load()
        return data, image
    except FileNotFoundError:
        raise DatasetError(f"{path}: screenshot is missing") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DatasetError(f"{path}: screenshot cannot be decoded ({error})") from None


def read_image_file(path: Path) -> ImageFile:
    """The file's bytes, checked to decode fully as an image; DatasetError naming the file otherwise."""
    data, image = _open_checked(path)
    return ImageFile(data, image.format or "", image.size)


def step_image(trajectory: Trajectory, relative: str | None) -> Image.Image | None:
    """A step's screenshot (or any trajectory-relative image) as RGB, None when the step has none."""
    if not relative:
        return None
    path = trajectory_file(trajectory, relative)
    try:
        return load_screenshot(path)
    except InvalidScreenshot as error:
        reason = "is missing" if not path.exists() else f"cannot be decoded ({error.__cause__ or error})"
        raise DatasetError(f"{path}: screenshot {reason}") from None


def portable_image(trajectory: Trajectory, step: Step) -> PortableImage | None:
    """The step's screenshot in a format every consumer reads: PNG, JPEG and WebP as stored, anything else
    converted to PNG; None when the step has no screenshot."""
    if not step.screenshot:
        return None
    data, image = _open_checked(trajectory_file(trajectory, step.screenshot))
    if image.format in PORTABLE_FORMATS:
        return PortableImage(data, PORTABLE_FORMATS[image.format], image.size)
    return PortableImage(_as_png(image), "png", image.size)


def in_parallel(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``function`` over ``items`` on a few threads, results in order (Pillow's codecs release the GIL, so
    decoding and converting screenshots scales with the cores); the first error is raised."""
    items = list(items)
    if len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1, len(items))) as pool:
        return list(pool.map(function, items))


def portable_images(trajectory: Trajectory, steps: Iterable[Step]) -> dict[int, PortableImage | None]:
    """:func:`portable_image` of each step, by step index, prepared in parallel."""
    steps = list(steps)
    return dict(zip([step.index for step in steps], in_parallel(lambda step: portable_image(trajectory, step), steps),
                    strict=True))


def png_bytes(path: Path) -> bytes:
    """The image file as PNG bytes (a PNG file's own bytes, anything else converted)."""
    data, image = _open_checked(path)
    return data if image.format == "PNG" else _as_png(image)


def _as_png(image: Image.Image) -> bytes:
    converted = image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "1") else image.convert("RGB")
    buffer = io.BytesIO()
    # level 1: on screenshots about 1 % larger than level 3 (the recorder's) and twice as fast to write
    converted.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
