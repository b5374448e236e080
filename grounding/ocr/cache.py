"""OCR results reused across screenshots: exact repeats cost nothing, small changes cost a small OCR.

An agent step usually changes a small part of the screen (a status line, a field being typed in).
``OcrCache.read`` therefore:

1. returns the stored boxes when the very same pixels were read before (hash of the pixels);
2. otherwise diffs the screenshot against the previous one on a grid of tiles. A previous line (with
   its words) that touches a changed tile is stale. The changed tiles and the stale lines, padded by a
   margin, aligned to the detector's 32-px stride and merged when close, are the crops that get OCR'd;
   their boxes are shifted back, and of them only the text touching a changed tile or a stale line is
   taken (a crop's edge also cuts through unchanged text, which is already known). Every other previous
   line is kept;
3. reads the whole screen when there is no comparable previous screenshot or more than
   ``full_fraction`` of it changed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from grounding.base import Box, box_center, box_contains
from grounding.ocr.engine import OcrBox, OcrEngine, group_words_by_line, shared_engine, to_rgb_array

DETECTOR_STRIDE = 32  # the text detector works on multiples of 32 px; crops of that size are not rescaled


@dataclass
class OcrCacheStats:
    """Counters for the benchmark and for trajectories."""

    full_runs: int = 0
    partial_runs: int = 0
    cache_hits: int = 0
    engine_calls: int = 0
    pixels_ocr: int = 0  # pixels passed to the engine, all runs together
    last_mode: str = ""  # "hit" | "partial" | "full"
    last_changed_fraction: float = 0.0  # share of the screen's tiles that changed, last partial/full read
    last_regions: list[Box] = field(default_factory=list)


def pixel_key(rgb: np.ndarray) -> str:
    """A fast fingerprint of the pixels (blake2b of the raw bytes and the shape)."""
    digest = hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16)
    digest.update(str(rgb.shape).encode())
    return digest.hexdigest()


def changed_tiles(old: np.ndarray, new: np.ndarray, tile: int) -> np.ndarray:
    """Boolean grid (rows, cols): True where any pixel of that tile differs."""
    height, width = new.shape[:2]
    diff = np.any(old != new, axis=2)
    rows, cols = -(-height // tile), -(-width // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=bool)
    padded[:height, :width] = diff
    return padded.reshape(rows, tile, cols, tile).any(axis=(1, 3))


def _intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _gap(a: Box, b: Box) -> int:
    """Chebyshev distance between two boxes (0 when they touch or overlap)."""
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    return max(dx, dy)


def _pad(box: Box, margin: int, width: int, height: int) -> Box:
    return max(0, box[0] - margin), max(0, box[1] - margin), min(width, box[2] + margin), min(height, box[3] + margin)


def _align(box: Box, width: int, height: int) -> Box:
    """Grow a box to multiples of the detector stride where the screen allows (no rescaling inside)."""
    left, top, right, bottom = box
    for lo, hi, limit, axis in ((left, right, width, 0), (top, bottom, height, 1)):
        size = hi - lo
        want = -(-size // DETECTOR_STRIDE) * DETECTOR_STRIDE
        extra = want - size
        lo = max(0, lo - extra // 2)
        hi = min(limit, lo + want)
        lo = max(0, hi - want)
        if axis == 0:
            left, right = lo, hi
        else:
            top, bottom = lo, hi
    return left, top, right, bottom


def tile_regions(grid: np.ndarray, tile: int) -> list[Box]:
    """Pixel boxes of the connected groups of changed tiles (8-connectivity)."""
    import cv2  # opencv-python-headless: a dependency of rapidocr as well

    count, _labels, stats, _centroids = cv2.connectedComponentsWithStats(grid.astype(np.uint8), connectivity=8)
    boxes = []
    for index in range(1, count):
        x, y, w, h = (int(v) for v in stats[index, :4])
        boxes.append((x * tile, y * tile, (x + w) * tile, (y + h) * tile))
    return boxes


def text_groups(boxes: list[OcrBox]) -> list[list[OcrBox]]:
    """Each line with its words: they are kept or re-read together."""
    return [([line] if line is not None else []) + words for line, words in group_words_by_line(boxes)]


def _touches(group: list[OcrBox], areas: list[Box]) -> bool:
    return any(_intersects(b.box, area) for b in group for area in areas)


def plan_regions(changed: list[Box], stale: list[Box], width: int, height: int,
                 margin: int, merge_gap: int) -> list[Box]:
    """Crops to re-read: every changed area and every stale text box (a previous line whose pixels
    changed, read again whole), padded, aligned to the detector's stride and merged when close.
    Regions only grow and only merge, so this ends."""
    regions = sorted(_align(_pad(box, margin, width, height), width, height) for box in [*changed, *stale])
    while True:
        merged: list[Box] = []
        for region in regions:
            for index, other in enumerate(merged):
                if _gap(region, other) <= merge_gap:
                    merged[index] = _align(_union(region, other), width, height)
                    break
            else:
                merged.append(region)
        if sorted(merged) == regions:
            return regions
        regions = sorted(merged)


def _covered(box: Box, by: Box, share: float = 0.5) -> bool:
    overlap = (max(0, min(box[2], by[2]) - max(box[0], by[0])) * max(0, min(box[3], by[3]) - max(box[1], by[1])))
    return overlap > share * max(1, (box[2] - box[0]) * (box[3] - box[1]))


class OcrCache:
    """Per-screenshot OCR results with region reuse from the previous screenshot. Thread-safe.

    ``tile``: diff grid cell in pixels; ``margin``: context kept around changed pixels so the detector
    sees whole glyphs and some background; ``merge_gap``: regions closer than this are read as one;
    ``full_fraction``: above this share of changed tiles the whole screen is read.
    """

    def __init__(self, engine: OcrEngine | None = None, *, tile: int = 16, margin: int = 16,
                 merge_gap: int = 48, full_fraction: float = 0.5, max_entries: int = 8) -> None:
        self.engine = engine or shared_engine()
        self.tile = tile
        self.margin = margin
        self.merge_gap = merge_gap
        self.full_fraction = full_fraction
        self.max_entries = max_entries
        self.stats = OcrCacheStats()
        self._entries: OrderedDict[str, list[OcrBox]] = OrderedDict()
        self._previous: tuple[np.ndarray, list[OcrBox]] | None = None
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._previous = None

    def read(self, image: Image.Image | np.ndarray) -> list[OcrBox]:
        """The image's line and word boxes, read as little as possible."""
        rgb = to_rgb_array(image)
        key = pixel_key(rgb)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.stats.cache_hits += 1
                self.stats.last_mode = "hit"
                boxes = self._entries[key]
                self._previous = (rgb, boxes)
                return list(boxes)
            boxes = self._read_changed(rgb)
            self._entries[key] = boxes
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            self._previous = (rgb, boxes)
            return list(boxes)

    def _read_changed(self, rgb: np.ndarray) -> list[OcrBox]:
        height, width = rgb.shape[:2]
        if self._previous is None or self._previous[0].shape != rgb.shape:
            return self._read_full(rgb, 1.0)
        old_rgb, old_boxes = self._previous
        grid = changed_tiles(old_rgb, rgb, self.tile)
        fraction = float(grid.mean())
        if fraction > self.full_fraction:
            return self._read_full(rgb, fraction)
        changed = tile_regions(grid, self.tile)
        groups = text_groups(old_boxes)
        stale = [group for group in groups if _touches(group, changed)]
        kept = [group for group in groups if not _touches(group, changed)]
        stale_boxes = [b.box for group in stale for b in group]
        regions = plan_regions(changed, stale_boxes, width, height, self.margin, self.merge_gap)
        if sum((r[2] - r[0]) * (r[3] - r[1]) for r in regions) > self.full_fraction * width * height:
            return self._read_full(rgb, fraction)
        fresh: list[OcrBox] = []
        for left, top, right, bottom in regions:
            crop = rgb[top:bottom, left:right]
            fresh += [b.shifted(left, top) for b in self.engine.read(crop)]
            self.stats.engine_calls += 1
            self.stats.pixels_ocr += crop.shape[0] * crop.shape[1]
        # a crop also sees unchanged text at its edges (often cut): take only text on changed tiles or
        # centred in a stale line (padded line boxes overlap their neighbours, so touching is not enough)
        stale_lines = [group[0].box for group in stale]
        fresh_groups = [group for group in text_groups(fresh)
                        if _touches(group, changed) or any(box_contains(line, box_center(group[0].box)) for line in stale_lines)]
        fresh_lines = [b.box for group in fresh_groups for b in group if b.level == "line"]
        kept = [group for group in kept if not any(_covered(group[0].box, line) for line in fresh_lines)]
        self.stats.partial_runs += 1
        self.stats.last_mode = "partial"
        self.stats.last_changed_fraction = fraction
        self.stats.last_regions = regions
        return [b for group in kept for b in group] + [b for group in fresh_groups for b in group]

    def _read_full(self, rgb: np.ndarray, fraction: float) -> list[OcrBox]:
        boxes = self.engine.read(rgb)
        self.stats.full_runs += 1
        self.stats.engine_calls += 1
        self.stats.pixels_ocr += rgb.shape[0] * rgb.shape[1]
        self.stats.last_mode = "full"
        self.stats.last_changed_fraction = fraction
        self.stats.last_regions = [(0, 0, rgb.shape[1], rgb.shape[0])]
        return boxes
