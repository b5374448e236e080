"""Icons offline: the installed freedesktop icon themes, a table from descriptions to icon names, and a
grounder that finds those icons in a screenshot by template matching (cv2 and cairosvg load on first use)."""

from grounding.icons.engine import DEFAULT_SIZES, IconGrounder, shared_templates
from grounding.icons.matcher import IconMatch
from grounding.icons.synonyms import FUNCTION_ICONS, LOOK_ICONS, icon_names_for
from grounding.icons.templates import IconTemplate, IconTemplates, cache_dir
from grounding.icons.theme import IconFile, ThemeIndex, shared_theme_index, theme_in_use

__all__ = [
    "cache_dir",
    "DEFAULT_SIZES",
    "FUNCTION_ICONS",
    "icon_names_for",
    "IconFile",
    "IconGrounder",
    "IconMatch",
    "IconTemplate",
    "IconTemplates",
    "LOOK_ICONS",
    "shared_templates",
    "shared_theme_index",
    "theme_in_use",
    "ThemeIndex",
]
