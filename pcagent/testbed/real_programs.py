"""Grounding targets from real desktop programs, taken from the AT-SPI tree and checked against pixels.

Each program runs on its own fresh virtual display with accessibility on, in a light or dark GTK
theme, at scale 1 and (GTK3 programs) 2 (``GDK_SCALE``, on a 2560x1600 screen), and is captured plain, with
its first menus open from the menu bar, in other views, and with its dialogs (opened by a key or through
a menu). Settings a program keeps in GSettings (mousepad's toolbar is hidden by default) are written to
GLib's keyfile backend (``GSETTINGS_BACKEND=keyfile``, ``$XDG_CONFIG_HOME/glib-2.0/settings/keyfile``), which
every process of the program reads; the memory backend would not outlive one process.
Elements come from ``grounding.accessibility.tree.list_elements``. Programs report extents that can
be off (REFERENCE.md: LibreOffice 25 px high, GTK4 window-relative, GDK_SCALE=2 logical), so a box is
kept only when the pixels agree: it lies on the screen, is of a plausible size, is not one flat
colour, and (for text) OCR reads the element's name inside it. A clickable element whose crop holds no
text at all becomes an icon target; one whose crop holds other text is dropped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from PIL import Image

from grounding.benchmark.screenspot import Sample
from pcagent.testbed.planner_phrasing import SYMBOL_FUNCTIONS, Target, phrasings, split_of
from pcagent.testbed.screen_samples import grab_screen, is_uniform
from pcagent.testbed.virtual_display import VirtualDisplay
from pcagent.testbed.xdo import Xdo

CLICKABLE_ROLES = frozenset({
    "push button", "menu", "menu item", "check menu item", "radio menu item", "toggle button", "check box",
    "radio button", "page tab", "list item", "table cell", "combo box", "text", "entry", "icon", "label",
    "push button menu", "tree item", "link",
})
ICON_ROLES = frozenset({"push button", "toggle button", "icon", "push button menu", "page tab"})
_SCREEN = (1280, 800)


@dataclass(frozen=True)
class RealProgram:
    """How to start one program and what to press for a dialog."""

    name: str  # the application name records carry
    command: tuple[str, ...]  # "{dir}" becomes a scratch folder with a few files
    package: str
    dialog_keys: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""
    themes: tuple[str, ...] = ("light", "dark")  # GTK2 programs ignore GTK_THEME: light only
    scales: tuple[int, ...] = (1,)  # GDK_SCALE values (GTK3 only)
    gsettings: tuple[tuple[str, str, str], ...] = ()  # (schema path, key, value) for the keyfile backend
    menu_dialogs: tuple[tuple[str, str], ...] = ()  # (menu, item) that opens a dialog
    views: tuple[tuple[str, str], ...] = ()  # (name, keys) that switch to another view of the main window

    def missing(self) -> str | None:
        """Why it cannot run here, or None."""
        if shutil.which(self.command[0]) is None:
            return f"not installed (apt-get install {self.package})"
        return None


REAL_PROGRAMS: dict[str, RealProgram] = {p.name: p for p in (
    RealProgram("mousepad", ("mousepad", "{dir}/notes.txt"), "mousepad", "ctrl+r", scales=(1, 2),
                gsettings=(("org/xfce/mousepad/preferences/window", "toolbar-visible", "true"),
                           ("org/xfce/mousepad/preferences/window", "statusbar-visible", "true")),
                menu_dialogs=(("Edit", "Preferences..."),)),
    RealProgram("galculator", ("galculator",), "galculator", None, scales=(1, 2)),
    RealProgram("pcmanfm", ("pcmanfm", "{dir}"), "pcmanfm", "ctrl+shift+n", themes=("light",),
                menu_dialogs=(("Edit", "Preferences"),), views=(("detailed", "ctrl+4"),),
                note="GTK2: needs libatk-adaptor for AT-SPI; GTK_THEME and GDK_SCALE do not apply"),
    RealProgram("gnome-calculator", ("gnome-calculator",), "gnome-calculator", None,
                note="GTK4 reports window-relative extents; right only while its window sits at (0, 0)"),
    RealProgram("libreoffice-calc", ("localc", "--norestore", "--nologo"), "libreoffice-calc", "ctrl+1",
                env={"SAL_USE_VCLPLUGIN": "gtk3"}, note="LibreOffice 7.4 reports some extents 25 px high"),
)}


def _scratch_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("Shopping list\nmilk\nbread\n\nCall the plumber on Monday.\n")
    (folder / "report.csv").write_text("month,total\nJanuary,120\nFebruary,98\n")
    (folder / "Photos").mkdir(exist_ok=True)
    (folder / "Projects").mkdir(exist_ok=True)


def _program_env(display: VirtualDisplay, program: RealProgram, theme: str, home: Path,
                 scale: int = 1) -> dict[str, str]:
    env = display.child_env()
    runtime = home / "runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update({
        "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local/share"), "XDG_RUNTIME_DIR": str(runtime), "GDK_BACKEND": "x11",
        "GTK_THEME": "Adwaita:dark" if theme == "dark" else "Adwaita", "NO_AT_BRIDGE": "0",
        "GTK_MODULES": "gail:atk-bridge", "LANG": "C.UTF-8", "GDK_SCALE": str(scale),
    })
    if program.gsettings:
        write_gsettings_keyfile(home / ".config", program.gsettings)
        env["GSETTINGS_BACKEND"] = "keyfile"
    env.update(program.env)
    return env


def write_gsettings_keyfile(config_home: Path, settings: tuple[tuple[str, str, str], ...]) -> Path:
    """GLib's keyfile backend file: one [schema/path] group per schema, ``key=value`` (GVariant text)."""
    groups: dict[str, list[str]] = {}
    for path, key, value in settings:
        groups.setdefault(path.strip("/"), []).append(f"{key}={value}")
    file = config_home / "glib-2.0" / "settings" / "keyfile"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(f"[{group}]\n" + "\n".join(lines) + "\n\n" for group, lines in groups.items()))
    return file


# ----- verification -------------------------------------------------------------------------------

_rec_only: Any = None


def read_text(image: Image.Image) -> str:
    """The text OCR reads in a crop: detection + recognition, else recognition alone (one short line)."""
    global _rec_only
    from grounding.ocr.engine import shared_engine

    if image.height < 48:  # small UI text reads better a little larger
        factor = 48 / image.height
        image = image.resize((max(1, round(image.width * factor)), 48), Image.Resampling.LANCZOS)
    boxes = shared_engine().read(image)
    if boxes:
        return " ".join(b.text for b in boxes if b.level == "line") or " ".join(b.text for b in boxes)
    import numpy as np
    from rapidocr import RapidOCR

    _rec_only = _rec_only or RapidOCR()
    result = _rec_only(np.asarray(image.convert("RGB")), use_det=False, use_cls=False, use_rec=True)
    texts, scores = result.txts or (), result.scores or ()
    return " ".join(t for t, s in zip(texts, scores) if s >= 0.85 and t.strip())


def name_is_shown(name: str, text: str) -> bool:
    """Whether OCR's text shows the accessible name (whole, or as one of its words/lines)."""
    from grounding.text_match import normalize_label, similarity

    want, got = normalize_label(name), normalize_label(text)
    if not want or not got:
        return False
    if want in got or similarity(want, got) >= 0.8:
        return True
    words = got.split()
    size = len(want.split())
    return any(similarity(want, " ".join(words[i:i + size])) >= 0.85 for i in range(len(words)))


def verify(info: Any, image: Image.Image) -> tuple[str | None, str]:
    """("text" | "icon", "") for a usable element, or (None, why it was dropped)."""
    left, top, right, bottom = info.rect
    if left < 0 or top < 0 or right > image.width or bottom > image.height:
        return None, "box outside the screen"
    if right - left < 6 or bottom - top < 6:
        return None, "box too small"
    if bottom - top > 120 or right - left > image.width * 0.8:
        return None, "box too large for one target"
    if is_uniform(image, info.rect):
        return None, "uniform colour in the box"
    if info.name.strip() in SYMBOL_FUNCTIONS:  # a calculator key shows only its symbol: an icon to OCR
        return "icon", ""
    crop = image.crop((max(0, left - 2), max(0, top - 2), min(image.width, right + 2), min(image.height, bottom + 2)))
    text = read_text(crop)
    if name_is_shown(info.name, text):
        return "text", ""
    if info.role in ICON_ROLES and len("".join(text.split())) <= 2:
        return "icon", ""  # OCR reads a glyph or two into a picture ("+", "Q"): that is no text
    if text.strip():
        return None, "the box shows other text than the name"
    return None, "the name is not readable in the box"


# ----- capture ------------------------------------------------------------------------------------


def _process_tree(pid: int) -> set[int]:
    """`pid` and all its descendants: launchers such as localc start the program that owns the window."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in tree:
            tree.add(current)
            todo += children.get(current, [])
    return tree


def _top_windows(display: str, pid: int) -> list[tuple[int, int, int, int]]:
    """Mapped top-level windows of a process (or its children), bottom to top (X stacking order)."""
    from Xlib import X
    from Xlib import display as xdisplay

    pids = _process_tree(pid)
    conn = xdisplay.Display(display)
    try:
        root = conn.screen().root
        pid_atom = conn.intern_atom("_NET_WM_PID")
        rects = []
        for window in root.query_tree().children:
            try:
                attrs = window.get_attributes()
                if attrs.map_state != X.IsViewable:
                    continue
                prop = window.get_full_property(pid_atom, X.AnyPropertyType)
                if prop is None or not prop.value or int(prop.value[0]) not in pids:
                    continue
                geo = window.get_geometry()
                rects.append((geo.x, geo.y, geo.x + geo.width, geo.y + geo.height))
            except Exception:  # a window that vanished meanwhile
                continue
        return rects
    finally:
        conn.close()


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


class RunningProgram:
    """One program on one display, with its accessibility connection."""

    def __init__(self, display: VirtualDisplay, program: RealProgram, theme: str, scratch: Path,
                 scale: int = 1) -> None:
        from grounding.accessibility import open_accessibility

        home = scratch / f"home-{program.name}-{theme}-x{scale}"
        _scratch_files(home / "files")
        self.display = display
        self.env = _program_env(display, program, theme, home, scale)
        command = [part.replace("{dir}", str(home / "files")) for part in program.command]
        self.proc = subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True, cwd=home)
        self.a11y = open_accessibility(self.env, timeout=3.0, query_timeout=3.0)

    def elements(self, near: tuple[int, int]) -> list[Any]:
        from grounding.accessibility import list_elements

        return list_elements(self.a11y, near, node_cap=6000, timeout=8.0).elements

    def wait_ready(self, timeout: float = 25.0) -> tuple[int, int, int, int] | None:
        """The main window's rect once its accessible tree has settled, or None."""
        deadline, last = time.monotonic() + timeout, -1
        while time.monotonic() < deadline and self.proc.poll() is None:
            windows = _top_windows(self.display.display, self.proc.pid)
            if windows and self.a11y.available:
                main = max(windows, key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))
                count = len(self.elements(((main[0] + main[2]) // 2, (main[1] + main[3]) // 2)))
                if count and count == last:
                    return main
                last = count
            time.sleep(0.7)
        return None

    def stop(self) -> None:
        self.a11y.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)  # its own session: it and its helpers
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.proc.kill()


def _targets(infos: list[Any], image: Image.Image, shot: str, program: RealProgram, image_path: Path,
             dropped: Counter, variant: str, keep: Any = None) -> list[Sample]:
    """Verified samples from listed elements, several planner-style phrasings each (planner_phrasing);
    ``keep(info)`` narrows which elements count at all."""
    candidates = [i for i in infos if i.role in CLICKABLE_ROLES and i.rect and (i.name or "").strip()
                  and "visible" in i.states and not i.covered and (keep is None or keep(i))]
    names = Counter((i.name or "").strip().lower() for i in candidates)
    samples, seen_boxes = [], set()
    for info in candidates:
        name = info.name.strip()
        if info.rect in seen_boxes:
            continue  # the same box twice (a cell and its text): one target
        seen_boxes.add(info.rect)
        if names[name.lower()] > 1:
            dropped[f"{program.name}: the same name twice on the screen (ambiguous)"] += 1
            continue
        if len(name) > 60:
            dropped[f"{program.name}: name longer than 60 characters"] += 1
            continue
        if len(name) <= 2 and not any(c.isalnum() for c in name) and name not in SYMBOL_FUNCTIONS:
            dropped[f"{program.name}: punctuation-only name (\"{name}\")"] += 1
            continue
        data_type, why = verify(info, image)
        if data_type is None:
            dropped[f"{program.name}: {why}"] += 1
            continue
        key = f"{program.name}-{variant}-{shot}:{info.role}:{name}"
        target = Target(key, name, info.role, data_type, tuple(getattr(info, "ancestors", ())))
        for kind, instruction in phrasings(target):
            samples.append(Sample(image_path, instruction, tuple(info.rect), data_type, "linux", program.name,
                                  {"variant": f"{variant}-{shot}", "role": info.role, "name": name,
                                   "target": key, "phrasing": kind, "split": split_of(key),
                                   "reported_application": info.application}, id=f"{key}#{kind}"))
    return samples


def screen_for(scale: int) -> tuple[int, int]:
    """The virtual screen for a scale: 1280x800, or twice that for HiDPI."""
    return (_SCREEN[0] * scale, _SCREEN[1] * scale)


def capture_program(program: RealProgram, theme: str, images: Path, scratch: Path, *, quick: bool = False,
                    scale: int = 1) -> Iterator[tuple[list[Sample], str, Image.Image, VirtualDisplay, Counter]]:
    """Yield (samples, shot name, screenshot, display, dropped counts) per screen, the program still showing:
    plain, its first menus open, its other views, its dialogs (``quick``: plain and the first menu)."""
    variant = theme if scale == 1 else f"{theme}-x{scale}"
    with VirtualDisplay(*screen_for(scale), accessibility=True) as display:
        run = RunningProgram(display, program, theme, scratch, scale)
        xdo = Xdo(run.env)
        try:
            main = run.wait_ready()
            if main is None:
                yield [], "plain", Image.new("RGB", screen_for(scale)), display, Counter(
                    {f"{program.name}: no window with an accessible tree appeared": 1})
                return
            center = ((main[0] + main[2]) // 2, (main[1] + main[3]) // 2)
            corner = (main[0] + 5, main[3] - 5)
            xdo.run("mousemove", *corner)  # keys go to the window under the pointer
            time.sleep(0.8)

            def shot(tag: str, near: tuple[int, int], keep: Any = None):
                infos = run.elements(near)
                path = images / f"{program.name}-{variant}-{tag}.png"
                image = grab_screen(display, path)
                dropped: Counter = Counter()
                return (_targets(infos, image, tag, program, path, dropped, variant, keep), tag, image, display,
                        dropped)

            def menu_titles() -> list[Any]:
                return sorted((i for i in run.elements(center) if i.role == "menu" and i.rect and i.name
                               and any(role == "menu bar" for role, _ in i.ancestors)),
                              key=lambda i: (i.rect[1], i.rect[0]))

            def click(rect: tuple[int, int, int, int]) -> None:
                xdo.run("mousemove", (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2, "click", 1)

            def dialog_shot(tag: str, before: set) -> Iterator:
                time.sleep(2.0)
                new = [w for w in _top_windows(display.display, run.proc.pid) if w not in before]
                if new:
                    dialog = new[-1]
                    middle = ((dialog[0] + dialog[2]) // 2, (dialog[1] + dialog[3]) // 2)
                    yield shot(tag, middle, keep=lambda i: not _overlaps(i.rect, dialog) or _inside(i.rect, dialog))
                    xdo.run("mousemove", *middle, "key", "Escape")  # keys go to the window under the pointer
                    time.sleep(1.0)

            yield shot("plain", center)
            for menu in menu_titles()[:1 if quick else 3]:
                click(menu.rect)
                time.sleep(1.0)
                yield shot(f"menu-{menu.name.lower()}", center, keep=lambda i: i.role.endswith("menu item"))
                xdo.run("key", "Escape")
                time.sleep(0.5)
            if quick:
                return
            for name, keys in program.views:
                xdo.run("mousemove", *corner, "key", keys)
                time.sleep(1.5)
                yield shot(name, center)
            if program.dialog_keys:
                before = set(_top_windows(display.display, run.proc.pid))
                xdo.run("mousemove", *corner, "key", program.dialog_keys)
                yield from dialog_shot("dialog", before)
            for menu_name, item_name in program.menu_dialogs:
                menu = next((m for m in menu_titles() if m.name.strip() == menu_name), None)
                if menu is None:
                    continue
                click(menu.rect)
                time.sleep(1.0)
                item = next((i for i in run.elements(center) if i.role.endswith("menu item") and i.rect
                             and (i.name or "").strip() == item_name), None)
                if item is None:
                    xdo.run("key", "Escape")
                    continue
                before = set(_top_windows(display.display, run.proc.pid))
                click(item.rect)
                yield from dialog_shot(f"dialog-{item_name.rstrip('.').lower().replace(' ', '-')}", before)
        finally:
            run.stop()


def _inside(rect: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= rect[0] and outer[1] <= rect[1] and rect[2] <= outer[2] and rect[3] <= outer[3]
