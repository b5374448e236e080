"""`make_dataset`: a ScreenSpot-format grounding set from real screens on a private virtual display.

Two sources, each run under a fresh ``VirtualDisplay`` (Xvfb + AT-SPI), screenshots taken with mss:

1. The bundled sample app (``--menus``) in several variants (layout, light/dark theme, font size,
   QT_SCALE_FACTOR). Targets come from the app's own "ready" rectangles, so boxes are exact: text
   targets (buttons, labels, list items, menu titles; menu items while a menu is open) and icon-only
   targets (the toolbar).
2. Real desktop programs from Debian's packages (``REAL_PROGRAMS``), when installed, in light and dark
   GTK themes, plain, with a menu open and with a dialog. Targets come from the AT-SPI tree, and since
   programs report extents that can be off (REFERENCE.md: LibreOffice, GTK4, GDK_SCALE), every box is
   checked against the pixels: not uniform, and for text its name must be read there by OCR. What fails
   is dropped and counted. These checks use OCR, so a text target OCR cannot read even in a crop never
   enters the set (say so when quoting OCR accuracy on it).

Real programs' targets carry several planner-style phrasings each and a split (``planner_phrasing``):
``extra["phrasing"]`` (bare, role, relational, container, function, look) and ``extra["split"]`` (tune,
held-out). Screens: light and dark, scale 1 and 2 (GTK3 programs), menus open, other views, dialogs.

With ``on_capture`` (live evaluation), each target is first marked ``a11y_exposed`` (``mark_exposed``); the
accessibility engine alone is scored on exposed targets only, and the others are counted in
``MakeReport.not_exposed``.

Output: ``OUT/images/*.png``, ``OUT/dataset.json`` (xyxy boxes), ``OUT/README.txt``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from grounding.benchmark.screenspot import Sample, write_dataset
from pcagent.testbed.real_programs import REAL_PROGRAMS, capture_program
from pcagent.testbed.sampleapp_process import stop_process
from pcagent.testbed.screen_samples import grab_screen, is_uniform, pick
from pcagent.testbed.virtual_display import VirtualDisplay
from pcagent.testbed.xdo import Xdo

APPLICATION = "pcagent-sampleapp"
PLATFORM = "linux"
SCREEN_FOR_SCALE = {1.0: (1280, 800), 1.5: (1600, 1200), 2.0: (2048, 1600)}

# icon-only toolbar targets: ready name -> what it does (the instruction never shows text on screen)
ICON_INSTRUCTIONS = {
    "icon_new": ("create a new document (blank page icon)", "new file button in the toolbar"),
    "icon_open": ("open a file (folder icon)", "the open-folder icon"),
    "icon_save": ("save the document (floppy disk icon)", "the floppy disk save icon"),
    "icon_delete": ("delete (trash can icon)", "the trash can icon"),
    "icon_back": ("go back (left arrow icon)", "the back arrow in the toolbar"),
    "icon_forward": ("go forward (right arrow icon)", "the forward arrow in the toolbar"),
    "icon_refresh": ("reload (circular arrows icon)", "the refresh icon"),
    "icon_stop": ("stop (red stop sign icon)", "the red stop icon"),
    "icon_home": ("go to the home folder (home icon)", "the home icon"),
    "icon_search": ("search (magnifying glass icon)", "the magnifying glass"),
    "icon_help": ("get help (lifebuoy help icon)", "the help icon"),
    "icon_play": ("play (triangle play icon)", "the play button"),
}


@dataclass(frozen=True)
class AppVariant:
    """One look of the sample app, and the menus to open on it (a title, or "context")."""

    layout: str = "default"
    theme: str = "light"
    font_size: float = 9
    scale: float = 1.0
    open_menus: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.layout}-{self.theme}-{self.font_size:g}pt-x{self.scale:g}"


SAMPLE_VARIANTS: tuple[AppVariant, ...] = (
    AppVariant("default", "light", 9, 1.0, ("File", "context")),
    AppVariant("default", "dark", 9, 1.0, ("Edit",)),
    AppVariant("moved", "light", 12, 1.0, ("View",)),
    AppVariant("moved", "dark", 12, 1.5, ("File",)),
    AppVariant("default", "light", 12, 1.5, ("context",)),
    AppVariant("default", "dark", 9, 2.0, ("Help",)),
    AppVariant("moved", "light", 9, 2.0, ("File",)),
    AppVariant("moved", "dark", 9, 1.0, ("context", "Edit")),
)
QUICK_VARIANTS: tuple[AppVariant, ...] = (AppVariant("default", "light", 9, 1.0, ("File",)),)


@dataclass
class MakeReport:
    """What make_dataset wrote and what it left out."""

    samples: list[Sample] = field(default_factory=list)
    per_shot: Counter = field(default_factory=Counter)  # "app/variant" -> records
    dropped: Counter = field(default_factory=Counter)  # "app: reason" -> count
    skipped: list[str] = field(default_factory=list)  # programs not captured, with why
    not_exposed: Counter = field(default_factory=Counter)  # live eval: "app type" -> targets not in the tree
    dataset_file: Path | None = None

    def per_application(self) -> Counter:
        return Counter(s.application for s in self.samples)

    def format(self) -> str:
        lines = [f"{len(self.samples)} records in {self.dataset_file}"]
        for app, n in sorted(self.per_application().items()):
            types = Counter(s.data_type for s in self.samples if s.application == app)
            lines.append(f"  {app}: {n} ({', '.join(f'{k} {v}' for k, v in sorted(types.items()))})")
        lines.append("per screenshot:")
        lines += [f"  {shot}: {n}" for shot, n in sorted(self.per_shot.items())]
        if self.dropped:
            lines.append(f"dropped {sum(self.dropped.values())} records:")
            lines += [f"  {why}: {n}" for why, n in sorted(self.dropped.items())]
        lines += [f"skipped: {why}" for why in self.skipped]
        if self.not_exposed:
            lines.append(f"not exposed in the accessibility tree (left out of live evaluation): "
                         f"{sum(self.not_exposed.values())}")
            lines += [f"  {what}: {n}" for what, n in sorted(self.not_exposed.items())]
        return "\n".join(lines)


# ----- the sample app -----------------------------------------------------------------------------


def _sample_instruction(name: str, text: str, variant: str) -> str:
    if name in ("save", "open", "delete"):
        return pick((f'click the "{text}" button', f"press {text}", f'the "{text}" button'), variant, name)
    if name.startswith("item_"):
        return pick((f'click "{text}" in the list', f"select {text}", f'the list entry "{text}"'), variant, name)
    if name.startswith("menu_"):
        return pick((f"Open the {text} menu", f'click "{text}" in the menu bar', f"the {text} menu"),
                    variant, name)
    if name == "status":
        return f'the status bar saying "{text}"'
    return pick((f'the label "{text}"', f'click the text "{text}"'), variant, name)


def _menu_instruction(menu: str, item: str, variant: str) -> str:
    label = item.rstrip(".")
    if menu == "context":
        return pick((f'click "{label}" in the context menu', f"choose {label} from the pop-up menu"),
                    variant, item)
    return pick((f'click "{label}" in the {menu} menu', f"choose {label} from the {menu} menu",
                 f'the "{label}" menu item'), variant, menu, item)


class _AppRun:
    """One sample-app process on a display, and its event log."""

    def __init__(self, display: VirtualDisplay, variant: AppVariant, scratch: Path) -> None:
        self.env = display.child_env()
        self.env["QT_SCALE_FACTOR"] = f"{variant.scale:g}"
        self.log = scratch / f"{variant.name}.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pcagent.testbed.sampleapp", "--log", str(self.log), "--menus", "--layout",
             variant.layout, "--theme", variant.theme, "--font-size", f"{variant.font_size:g}"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.seen = 0

    def wait_for(self, event: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the sample app exited: {self.proc.stderr.read().decode(errors='replace')[-1500:]}")
            lines = self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []
            for index in range(self.seen, len(lines)):
                try:
                    record = json.loads(lines[index])
                except json.JSONDecodeError:
                    break  # still being written
                self.seen = index + 1
                if record.get("event") == event:
                    return record
            time.sleep(0.03)
        raise RuntimeError(f"the sample app logged no {event!r} within {timeout} s")

    def stop(self) -> None:
        stop_process(self.proc)


def _sample(image: Path, instruction: str, box: list[int], data_type: str, variant: str, target: str,
            **extra: Any) -> Sample:
    return Sample(image, instruction, tuple(box), data_type, PLATFORM, APPLICATION,
                  {"variant": variant, "target": target, **extra}, id=f"{variant}:{target}")


def capture_sample_app(display: VirtualDisplay, variant: AppVariant, images: Path, scratch: Path,
                       report: MakeReport, on_capture: Callable | None = None) -> None:
    """Screenshot one sample-app variant (and its open menus) and add its records to ``report``."""
    run = _AppRun(display, variant, scratch)
    try:
        ready = run.wait_for("ready")
        time.sleep(0.4)  # the backing store reaches the X server just after "ready"
        shot = images / f"sampleapp-{variant.name}.png"
        image = grab_screen(display, shot)
        texts, widgets = ready["texts"], ready["widgets"]
        samples = []
        for name, rect in widgets.items():
            if name.startswith("item_") and int(name[5:]) % 3:
                continue  # every third list item: the list must not outweigh everything else
            if name in texts:
                samples.append(_sample(shot, _sample_instruction(name, texts[name], variant.name), rect,
                                       "text", variant.name, name, text=texts[name]))
            elif name in ICON_INSTRUCTIONS:
                samples.append(_sample(shot, pick(ICON_INSTRUCTIONS[name], variant.name, name), rect, "icon",
                                       variant.name, name))
        _add(report, f"sampleapp/{variant.name}", samples, display, on_capture, image)
        for menu in variant.open_menus:
            _capture_sample_menu(display, run, variant, menu, widgets, images, report, on_capture)
    finally:
        run.stop()


def _capture_sample_menu(display: VirtualDisplay, run: _AppRun, variant: AppVariant, menu: str,
                         widgets: dict, images: Path, report: MakeReport, on_capture: Callable | None) -> None:
    if menu == "context":
        rect, button, event = widgets["item_3"], 3, "context_menu_shown"
    else:
        rect, button, event = widgets[f"menu_{menu.lower()}"], 1, "menu_shown"
    Xdo(run.env).run("mousemove", (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2, "click", button)
    shown = run.wait_for(event)
    time.sleep(0.4)
    tag = f"{variant.name}-{menu.lower()}-menu"
    shot = images / f"sampleapp-{tag}.png"
    image = grab_screen(display, shot)
    samples = [_sample(shot, _menu_instruction(menu, item, tag), box, "text", tag, f"{menu}>{item}",
                       text=item.rstrip("."))
               for item, box in shown["actions"].items()]
    _add(report, f"sampleapp/{tag}", samples, display, on_capture, image)
    Xdo(run.env).run("key", "Escape")
    time.sleep(0.3)


def _add(report: MakeReport, shot: str, samples: list[Sample], display: VirtualDisplay,
         on_capture: Callable | None, image: Image.Image) -> None:
    kept = []
    for sample in samples:
        left, top, right, bottom = sample.box
        if right > image.width or bottom > image.height:
            report.dropped[f"{sample.application}: box outside the screen"] += 1
        elif is_uniform(image, sample.box):
            report.dropped[f"{sample.application}: uniform colour in the box"] += 1
        else:
            kept.append(sample)
    report.samples += kept
    report.per_shot[shot] += len(kept)
    if on_capture is not None and kept:
        mark_exposed(display, kept)
        for sample in kept:
            if sample.extra["a11y_exposed"] is False:
                report.not_exposed[f"{sample.application} {sample.data_type}"] += 1
        on_capture(display, kept)  # e.g. an accessibility engine, while the screen is still live


def mark_exposed(display: VirtualDisplay, samples: list[Sample]) -> list[Sample]:
    """Set ``extra["a11y_exposed"]`` on each sample; return the exposed ones.

    A target is exposed when some showing element the accessibility tree lists (every application,
    boxes corrected per window, not hidden under another window) overlaps its box by at least half of
    the smaller of the two, and its name loosely matches the target's text (similarity >= 0.6, or one
    holds the other's words; for an icon with no known name the overlap alone counts). Qt popup menus
    and GTK2 open menus are not in the tree: their items are not exposed.
    """
    from grounding.accessibility import open_accessibility
    from grounding.accessibility import list_elements

    a11y = open_accessibility(display.child_env(), timeout=3.0)
    try:
        for _ in range(3):  # a busy application may not answer at once
            elements = [e for e in list_elements(a11y, everything=True, node_cap=8000, timeout=8.0).elements
                        if e.rect is not None and not e.covered]
            if elements:
                break
            time.sleep(0.5)
    finally:
        a11y.close()
    if not elements:  # no tree to judge by: every target counts (and the engine is scored on it)
        for sample in samples:
            sample.extra["a11y_exposed"] = None
        return list(samples)
    exposed = []
    for sample in samples:
        want = sample.extra.get("text") or sample.extra.get("name")
        sample.extra["a11y_exposed"] = any(
            _overlap_share(e.rect, sample.box) >= 0.5 and (want is None or _loose_name(e.name or "", want))
            for e in elements)
        if sample.extra["a11y_exposed"]:
            exposed.append(sample)
    return exposed


def _overlap_share(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1)


def _loose_name(name: str, text: str) -> bool:
    from grounding.text_match import normalize_label, similarity

    a, b = normalize_label(name), normalize_label(text)
    if not a or not b:
        return False
    return similarity(a, b) >= 0.6 or f" {a} " in f" {b} " or f" {b} " in f" {a} "


# ----- the whole set ------------------------------------------------------------------------------


def make_dataset(out: str | Path, *, variants: tuple[AppVariant, ...] | None = SAMPLE_VARIANTS,
                 real_programs: list[str] | None = None, themes: tuple[str, ...] = ("light", "dark"),
                 quick: bool = False, on_capture: Callable[[VirtualDisplay, list[Sample]], None] | None = None,
                 log: Callable[[str], None] = print) -> MakeReport:
    """Write a grounding dataset to ``out``; return what was written and dropped.

    ``variants``: sample-app variants (None or () for none); ``real_programs``: names from
    REAL_PROGRAMS (None: every installed one); ``quick``: one light sample-app variant and, per real
    program, one light screen and its menu. ``on_capture(display, samples)`` runs while each screen is
    still showing (live-only engines such as accessibility can be scored there).
    """
    if not shutil.which("Xvfb") or not shutil.which("xdotool"):
        raise RuntimeError("make-dataset needs Xvfb and xdotool: apt-get install xvfb xdotool")
    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    report = MakeReport()
    if quick and variants == SAMPLE_VARIANTS:
        variants = QUICK_VARIANTS
    with tempfile.TemporaryDirectory(prefix="pcagent-dataset-") as scratch_dir:
        scratch = Path(scratch_dir)
        for variant in variants or ():
            width, height = SCREEN_FOR_SCALE.get(variant.scale, (2048, 1600))
            log(f"sample app {variant.name} ...")
            with VirtualDisplay(width, height, accessibility=True) as display:
                capture_sample_app(display, variant, images, scratch, report, on_capture)
        names = list(REAL_PROGRAMS) if real_programs is None else list(real_programs)
        for name in names:
            if name not in REAL_PROGRAMS:
                raise ValueError(f"unknown program {name!r}; known: {', '.join(REAL_PROGRAMS)}")
            program = REAL_PROGRAMS[name]
            missing = program.missing()
            if missing:
                report.skipped.append(f"{name}: {missing}")
                continue
            looks = [(theme, 1) for theme in themes if theme in program.themes][:1 if quick else None]
            looks += [("light", scale) for scale in program.scales if scale != 1 and not quick]
            for theme, scale in looks:
                log(f"{name} ({theme}, scale {scale}) ...")
                for samples, shot, image, display, dropped in capture_program(
                        program, theme, images, scratch, quick=quick, scale=scale):
                    report.dropped.update(dropped)
                    tag = theme if scale == 1 else f"{theme}-x{scale}"
                    _add(report, f"{name}/{tag}/{shot}", samples, display, on_capture, image)
    report.dataset_file = write_dataset(out, report.samples)
    return report
