"""grounding.icons without a display: the XDG theme lookup, the synonym table, rendered templates and
their disk cache, and the grounder on a screen composed of installed icons (light and dark)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from grounding.description import parse_description
from grounding.icons import IconGrounder, IconTemplates, ThemeIndex, icon_names_for, theme_in_use
from grounding.icons.templates import THEME_COLOURS, render_icon

pytest.importorskip("cairosvg")
pytest.importorskip("cv2")
if not Path("/usr/share/icons/Adwaita/index.theme").is_file():
    pytest.skip("the Adwaita icon theme is not installed (apt-get install adwaita-icon-theme)", allow_module_level=True)


@pytest.fixture(scope="module")
def index() -> ThemeIndex:
    return ThemeIndex("Adwaita")


def test_the_index_follows_the_xdg_lookup(tmp_path, index):
    assert index.themes[:2] == ["Adwaita", "hicolor"]
    assert index.pick("document-save", 24).path.endswith("24x24/legacy/document-save.png")
    assert index.pick("document-save", 16).size == 24  # no 16 px file: the next larger one, scaled down
    assert index.pick("edit-find-symbolic", 16).path.endswith(".svg")
    assert index.pick("no-such-icon", 24) is None
    # a theme of one's own, inheriting Adwaita, found under $XDG_DATA_DIRS and named in GTK's settings
    theme = tmp_path / "share" / "icons" / "Mine"
    (theme / "16x16" / "actions").mkdir(parents=True)
    (theme / "index.theme").write_text("[Icon Theme]\nName=Mine\nInherits=Adwaita\nDirectories=16x16/actions\n\n"
                                       "[16x16/actions]\nSize=16\nType=Fixed\n")
    Image.new("RGBA", (16, 16), (200, 0, 0, 255)).save(theme / "16x16" / "actions" / "document-save.png")
    (tmp_path / "config" / "gtk-3.0").mkdir(parents=True)
    (tmp_path / "config" / "gtk-3.0" / "settings.ini").write_text("[Settings]\ngtk-icon-theme-name=Mine\n")
    env = {"HOME": str(tmp_path), "XDG_DATA_DIRS": f"{tmp_path / 'share'}:/usr/share",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert theme_in_use(env) == "Mine"
    mine = ThemeIndex(theme_in_use(env), env)
    assert mine.themes[:3] == ["Mine", "Adwaita", "hicolor"]
    assert mine.pick("document-save", 16).theme == "Mine"
    assert mine.pick("edit-find", 24).theme == "Adwaita"


@pytest.mark.parametrize("description, first", [
    ("the Save button", "document-save"),
    ("the floppy disk icon", "document-save"),
    ("the magnifying glass icon", "edit-find"),
    ("the Search button", "edit-find"),
    ("the trash can", "user-trash"),
    ("click the bin", "user-trash"),
    ("the Find and Replace button", "edit-find-replace"),
    ("the scissors", "edit-cut"),
    ("go back", "go-previous"),
    ("the gear icon", "preferences-system"),
    ("the Reload toolbar button", "view-refresh"),
    ("the edit-select-all icon", "edit-select-all"),  # an icon name written out
    ("the Go to button", "go-jump"),
])
def test_descriptions_map_to_standard_icon_names(index, description, first):
    names = icon_names_for(parse_description(description), index.files)
    assert names and names[0][0] == first, names[:4]


def test_templates_are_recoloured_and_cached_on_disk(tmp_path, index):
    started = time.perf_counter()
    cold = IconTemplates(index, cache=tmp_path)
    rendered = cold.get("edit-find", 16)
    cold_s = time.perf_counter() - started
    assert cold.rendered == 2 and {(t.symbolic, t.variant) for t in rendered} == {
        (False, "light"), (False, "dark"), (True, "light"), (True, "dark")}
    symbolic = {t.variant: t for t in rendered if t.symbolic}
    # GTK draws a symbolic icon in the theme's foreground: dark on light, light on dark
    assert symbolic["light"].grey.min() < 80 and symbolic["dark"].grey.max() > 200
    started = time.perf_counter()
    warm = IconTemplates(index, cache=tmp_path)
    again = warm.get("edit-find", 16)
    warm_s = time.perf_counter() - started
    assert warm.rendered == 0 and warm.loaded == 1
    assert all((a.grey == b.grey).all() for a, b in zip(rendered, again))
    assert warm_s < cold_s


def _toolbar(index: ThemeIndex, theme: str) -> tuple[Image.Image, dict[str, tuple[int, int, int, int]]]:
    """A toolbar drawn the way GTK draws one: colour icons as they are, symbolic ones in the foreground."""
    background, foreground = THEME_COLOURS[theme]
    screen = Image.new("RGB", (900, 300), background)
    places = {}
    for x, name in zip(range(40, 900, 70), ("document-save", "edit-cut", "edit-find-symbolic", "go-home-symbolic",
                                           "edit-undo", "list-add-symbolic")):
        icon = render_icon(index.pick(name, 24), 24)
        if name.endswith("-symbolic"):
            icon = Image.merge("RGBA", (*Image.new("RGB", icon.size, foreground).split(), icon.getchannel("A")))
        screen.paste(icon, (x, 40), icon)
        places[name.removesuffix("-symbolic")] = (x, 40, x + 24, 64)
    return screen, places


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_grounder_finds_icons_by_function_and_by_look(tmp_path, index, theme):
    screen, places = _toolbar(index, theme)
    grounder = IconGrounder(IconTemplates(index, cache=tmp_path))
    for description, name in [("the Save button", "document-save"), ("the floppy disk icon", "document-save"),
                              ("the scissors", "edit-cut"), ("the magnifying glass", "edit-find"),
                              ("the Home button", "go-home"), ("click Undo", "edit-undo"), ("the plus icon", "list-add")]:
        result = grounder.ground(screen, description)
        left, top, right, bottom = places[name]
        assert result.found and left <= result.point[0] < right and top <= result.point[1] < bottom, (description, result)
        assert result.details["icon"] == name
    trash = grounder.ground(screen, "the trash can")
    assert not trash.found and trash.reason.startswith("no icon match")
    unknown = grounder.ground(screen, "the frobnicator icon")
    assert not unknown.found and unknown.reason.startswith("icon not in theme")
    blank = grounder.ground(Image.new("RGB", (400, 300), THEME_COLOURS[theme][0]), "the Save button")
    assert not blank.found  # a flat screen matches nothing
