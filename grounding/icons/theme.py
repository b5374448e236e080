"""The installed freedesktop icon themes, read the way the XDG icon theme specification says.

Themes live in ``$HOME/.icons``, ``$XDG_DATA_DIRS/icons`` (``/usr/local/share:/usr/share`` by default) and
``/usr/share/pixmaps`` (unthemed). Each theme's ``index.theme`` lists its directories with their nominal
``Size``, ``Scale``, ``Type`` (Fixed, Scalable, Threshold) and ``MinSize``/``MaxSize``/``Threshold``, and the
themes it ``Inherits``. ``ThemeIndex`` walks the theme in use (GTK's ``gtk-icon-theme-name`` setting, else
Adwaita), what it inherits, Adwaita and hicolor, and knows for every icon name which files hold it at
which sizes. ``ThemeIndex.pick(name, pixels)`` chooses the file a toolkit would draw at that many pixels:
the directory whose size fits, else the closest larger one (scaled down), as GTK does.

A symbolic icon is one whose name ends in ``-symbolic``; GTK recolours it with the theme's colours.
"""

from __future__ import annotations

import configparser
import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IconFile", "ThemeIndex", "icon_dirs", "theme_in_use", "shared_theme_index"]

_EXTENSIONS = (".png", ".svg", ".xpm")
_SYMBOLIC_PNG = ".symbolic.png"  # Adwaita's pre-rendered symbolic icons: "name-symbolic.symbolic.png"
FALLBACK_THEMES = ("Adwaita", "hicolor")


@dataclass(frozen=True)
class IconFile:
    """One file of one icon: where it is and the sizes its directory is meant for."""

    name: str  # the icon name ("document-save", "edit-find-symbolic")
    path: str
    theme: str
    size: int  # nominal size of its directory (scalable: the directory's Size)
    scale: int = 1
    scalable: bool = False
    min_size: int = 0
    max_size: int = 0
    context: str = ""

    @property
    def symbolic(self) -> bool:
        return self.name.endswith("-symbolic")

    def fits(self, pixels: int) -> bool:
        """Whether the directory is meant for icons drawn at ``pixels`` (its size range times its scale)."""
        return self.min_size * self.scale <= pixels <= self.max_size * self.scale

    def distance(self, pixels: int) -> float:
        """How far it is from ``pixels``: a fitting directory is nearest (its exact size first); a smaller
        file (scaled up, blurred) counts as farther than a larger one."""
        nominal = self.size * self.scale
        if self.fits(pixels):
            return 0.01 * abs(nominal - pixels)
        return (nominal - pixels) if nominal > pixels else 3.0 * (pixels - nominal)


def icon_dirs(env: dict[str, str] | None = None) -> list[Path]:
    """The base directories icon themes are looked up in, in the specification's order."""
    env = os.environ if env is None else env
    home = env.get("HOME") or str(Path.home())
    data_dirs = env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    data_home = env.get("XDG_DATA_HOME") or os.path.join(home, ".local/share")
    dirs = [Path(home) / ".icons", Path(data_home) / "icons"] + [Path(d) / "icons" for d in data_dirs.split(":") if d]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def theme_in_use(env: dict[str, str] | None = None) -> str:
    """GTK's icon theme setting (gtk-3.0/gtk-4.0 settings.ini, ~/.gtkrc-2.0), else Adwaita (GTK's default)."""
    env = os.environ if env is None else env
    home = env.get("HOME") or str(Path.home())
    config = Path(env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"))
    config_dirs = [Path(d) for d in (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":") if d]
    for folder in (config / "gtk-3.0", config / "gtk-4.0", Path("/etc/gtk-3.0"), *[d / "gtk-3.0" for d in config_dirs]):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(folder / "settings.ini", encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        name = parser.get("Settings", "gtk-icon-theme-name", fallback="").strip().strip('"')
        if name:
            return name
    try:
        for line in (Path(home) / ".gtkrc-2.0").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "gtk-icon-theme-name" and value.strip().strip('"'):
                return value.strip().strip('"')
    except OSError:
        pass
    return "Adwaita"


def _read_index(path: Path) -> configparser.ConfigParser | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive ("Size", "MinSize")
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    return parser if parser.has_section("Icon Theme") else None


def _int(section: configparser.SectionProxy, key: str, default: int) -> int:
    try:
        return int(section.get(key, str(default)))
    except ValueError:
        return default


class ThemeIndex:
    """Every icon file of the themes in use, by icon name (built once; cheap: it only lists directories)."""

    def __init__(self, theme: str | None = None, env: dict[str, str] | None = None) -> None:
        self.bases = icon_dirs(env)
        self.themes: list[str] = []
        self.files: dict[str, list[IconFile]] = {}
        self.signature: list[tuple[str, float]] = []  # (directory, mtime): what a disk cache depends on
        for name in self._theme_chain(theme or theme_in_use(env)):
            self._add_theme(name)
        self._add_pixmaps()

    def _theme_dirs(self, name: str) -> list[Path]:
        return [base / name for base in self.bases if (base / name / "index.theme").is_file()]

    def _theme_chain(self, first: str) -> list[str]:
        """The theme, what it inherits (depth first), then Adwaita and hicolor; each once."""
        chain: list[str] = []
        todo = [first, *FALLBACK_THEMES]
        while todo:
            name = todo.pop(0)
            if name in chain or not self._theme_dirs(name):
                continue
            chain.append(name)
            index = _read_index(self._theme_dirs(name)[0] / "index.theme")
            inherits = index.get("Icon Theme", "Inherits", fallback="") if index else ""
            todo[0:0] = [t.strip() for t in inherits.split(",") if t.strip()]
        return chain

    def _add_theme(self, name: str) -> None:
        self.themes.append(name)
        for root in self._theme_dirs(name):
            index = _read_index(root / "index.theme")
            if index is None:
                continue
            head = index["Icon Theme"]
            subdirs = [d.strip() for key in ("Directories", "ScaledDirectories")
                       for d in head.get(key, "").split(",") if d.strip()]
            for subdir in dict.fromkeys(subdirs):
                folder = root / subdir
                if not index.has_section(subdir) or not folder.is_dir():
                    continue
                section = index[subdir]
                size = _int(section, "Size", 0)
                kind = section.get("Type", "Threshold").strip()
                threshold = 0 if kind == "Fixed" else _int(section, "Threshold", 2)
                low = _int(section, "MinSize", size) if kind == "Scalable" else size - threshold
                high = _int(section, "MaxSize", size) if kind == "Scalable" else size + threshold
                template = dict(theme=name, size=size, scale=_int(section, "Scale", 1), scalable=kind == "Scalable",
                                min_size=low, max_size=high, context=section.get("Context", ""))
                self._add_folder(folder, template)
                self.signature.append((str(folder), folder.stat().st_mtime))

    def _add_folder(self, folder: Path, template: dict) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            file = entry.name
            if file.endswith(_SYMBOLIC_PNG):
                name = file[: -len(_SYMBOLIC_PNG)]
            elif file.endswith(_EXTENSIONS):
                name = file.rsplit(".", 1)[0]
            else:
                continue
            self.files.setdefault(name, []).append(IconFile(name=name, path=entry.path, **template))

    def _add_pixmaps(self) -> None:
        """Unthemed icons (/usr/share/pixmaps): one size each, as drawn."""
        for base in self.bases:
            folder = base.parent / "pixmaps"
            if folder.is_dir():
                self._add_folder(folder, dict(theme="pixmaps", size=0, scalable=False))

    def names(self) -> list[str]:
        return sorted(self.files)

    def __contains__(self, name: str) -> bool:
        return name in self.files

    def pick(self, name: str, pixels: int) -> IconFile | None:
        """The file a toolkit would draw for ``name`` at ``pixels`` (the first theme that has the name wins;
        within it the directory that fits, else the nearest larger; SVG over PNG on equal terms)."""
        files = self.files.get(name)
        if not files:
            return None
        theme = files[0].theme
        own = [f for f in files if f.theme == theme]
        return min(own, key=lambda f: (f.distance(pixels), not f.path.endswith(".svg"), f.path))


_shared: dict[str, ThemeIndex] = {}
_shared_lock = threading.Lock()


def shared_theme_index(theme: str | None = None) -> ThemeIndex:
    """One ThemeIndex per theme name in this process."""
    key = theme or theme_in_use()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = ThemeIndex(key)
        return _shared[key]
