"""What a refinement run does: which passes, in which order, with which settings.

    drop-unusable    drop a recording with no task description, no steps, or that ended in `fail`
    own-windows      drop steps that show or act on pcagent's own windows (by window identity)
    merge-drag       a click followed by a drag from the same point becomes one drag; a drag whose ends
                     are within the tolerance becomes a click
    drop-redundant   drop leading waits and stray modifier presses (a lone `press key: ctrl`)
    drop-unchanged   drop a click or wait when the next screenshot has exactly the same pixels
    force-finish     a recording that did not fail ends with `finish`
    vertical-scroll  scrolls rewritten to PC Agent-E's vertical form (off unless asked for)
    normalize        coordinates, rectangles and screenshots scaled to one resolution (off unless given one)
    marks            a marked copy of each screenshot beside it (screenshots/000003.marked.png)

Passes run in this order whatever order they are named in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["DEFAULT_PASSES", "DRAG_TOLERANCE_PX", "FINISH_MODES", "PASS_NAMES", "RESOLUTION_PRESETS", "OptionsError",
           "RefineOptions", "parse_resolution"]

PASS_NAMES = ("drop-unusable", "own-windows", "merge-drag", "drop-redundant", "drop-unchanged", "force-finish",
              "vertical-scroll", "normalize", "marks")
DEFAULT_PASSES = frozenset(PASS_NAMES) - {"vertical-scroll", "normalize"}
# PC Agent normalised to 1920x1080; PC Agent-E's agent expects 1280x720.
RESOLUTION_PRESETS = {"1080p": (1920, 1080), "720p": (1280, 720)}
FINISH_MODES = ("append", "replace")
MAX_RESOLUTION = 16384
DRAG_TOLERANCE_PX = 5  # PC Agent's: press and release within |dx| + |dy| of this many pixels are one click


class OptionsError(ValueError):
    """Options that do not go together, or a value out of range; the message says which."""


def parse_resolution(text: str) -> tuple[int, int]:
    """"1920x1080", "1280x720", "1080p", "720p" or any "WxH" -> (width, height)."""
    cleaned = text.strip().lower()
    if cleaned in RESOLUTION_PRESETS:
        return RESOLUTION_PRESETS[cleaned]
    match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", cleaned)
    if not match:
        raise OptionsError(f"resolution {text!r} is not WxH (e.g. 1920x1080) or one of "
                           f"{', '.join(RESOLUTION_PRESETS)}")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_RESOLUTION and 1 <= height <= MAX_RESOLUTION):
        raise OptionsError(f"resolution {width}x{height} is out of range (1 to {MAX_RESOLUTION} each way)")
    return width, height


@dataclass(frozen=True)
class RefineOptions:
    """``passes``: the names (of PASS_NAMES) to run. ``keep_failed``: drop-unusable keeps recordings that
    ended in `fail`. ``finish_mode``: force-finish appends a `finish` step after a last real action
    ("append", no screenshot: none was taken after it) or turns that action into `finish` (PC Agent's
    "replace"); a trailing `wait` always becomes `finish`. ``drag_tolerance``: pixels (|dx| + |dy|) within
    which two points count as one for merge-drag. ``resolution``: normalize's target (width, height)."""

    passes: frozenset[str] = field(default_factory=lambda: DEFAULT_PASSES)
    keep_failed: bool = False
    finish_mode: str = "append"
    drag_tolerance: int = DRAG_TOLERANCE_PX
    resolution: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "passes", frozenset(self.passes))
        unknown = sorted(self.passes - set(PASS_NAMES))
        if unknown:
            raise OptionsError(f"unknown pass {', '.join(unknown)}; passes are {', '.join(PASS_NAMES)}")
        if self.finish_mode not in FINISH_MODES:
            raise OptionsError(f"finish mode must be one of {', '.join(FINISH_MODES)}, not {self.finish_mode!r}")
        if isinstance(self.drag_tolerance, bool) or not isinstance(self.drag_tolerance, int) \
                or not 0 <= self.drag_tolerance <= 100:
            raise OptionsError(f"drag tolerance must be 0 to 100 pixels, not {self.drag_tolerance!r}")
        if "normalize" in self.passes and self.resolution is None:
            raise OptionsError("the normalize pass needs a target resolution (e.g. --resolution 1920x1080)")

    def runs(self, name: str) -> bool:
        return name in self.passes

    @property
    def ordered(self) -> tuple[str, ...]:
        """The passes to run, in running order."""
        return tuple(name for name in PASS_NAMES if name in self.passes)

    def to_dict(self) -> dict:
        return {"passes": list(self.ordered), "keep_failed": self.keep_failed, "finish_mode": self.finish_mode,
                "drag_tolerance": self.drag_tolerance,
                "resolution": list(self.resolution) if self.resolution else None}
