"""From a description to standard icon names: by what the icon does, by how it looks, by its name.

Planners describe icon-only buttons by function ("the Save button", "go back") or by look ("the floppy
disk icon", "the magnifying glass", "the trash can"). ``FUNCTION_ICONS`` and ``LOOK_ICONS`` map such
phrases to freedesktop icon names (the Icon Naming Specification's, as Adwaita and hicolor ship them),
most likely first. ``icon_names_for`` reads a parsed description and ranks candidate names: phrases found
in the text (longest first, every match adding evidence), icon names written out ("the edit-find icon"),
and installed names whose words are the description's words ("find and replace" -> edit-find-replace).
"""

from __future__ import annotations

import re
from typing import Iterable

from grounding.description import TargetDescription

__all__ = ["FUNCTION_ICONS", "LOOK_ICONS", "icon_names_for", "describes_an_icon"]

# what it does (the label or tooltip it would have) -> icon names
FUNCTION_ICONS: dict[str, tuple[str, ...]] = {
    "save": ("document-save",), "save as": ("document-save-as",), "save all": ("document-save-all", "document-save"),
    "new": ("document-new",), "new file": ("document-new",), "new document": ("document-new",),
    "create": ("document-new", "list-add"), "new window": ("window-new",), "new tab": ("tab-new",),
    "new folder": ("folder-new",), "open": ("document-open", "folder-open"), "open file": ("document-open",),
    "open folder": ("folder-open", "document-open"), "open recent": ("document-open-recent",),
    "recent": ("document-open-recent",), "close": ("window-close", "document-close"),
    "close tab": ("window-close",), "close window": ("window-close",), "quit": ("application-exit", "window-close"),
    "exit": ("application-exit",), "print": ("document-print",), "print preview": ("document-print-preview",),
    "reload": ("view-refresh",), "refresh": ("view-refresh",), "revert": ("document-revert", "view-refresh"),
    "stop": ("process-stop",), "undo": ("edit-undo",), "redo": ("edit-redo",), "cut": ("edit-cut",),
    "copy": ("edit-copy",), "paste": ("edit-paste",), "delete": ("edit-delete", "user-trash"),
    "remove": ("list-remove", "edit-delete"), "clear": ("edit-clear",), "find": ("edit-find", "system-search"),
    "search": ("edit-find", "system-search"), "find and replace": ("edit-find-replace",),
    "replace": ("edit-find-replace",), "search and replace": ("edit-find-replace",),
    "select all": ("edit-select-all",), "go to": ("go-jump",), "go to line": ("go-jump",), "jump to": ("go-jump",),
    "jump": ("go-jump",), "back": ("go-previous",), "go back": ("go-previous",), "previous": ("go-previous",),
    "forward": ("go-next",), "go forward": ("go-next",), "next": ("go-next",), "up": ("go-up",),
    "parent folder": ("go-up",), "go up": ("go-up",), "down": ("go-down",), "home": ("go-home", "user-home"),
    "home folder": ("user-home", "go-home"), "first": ("go-first",), "last": ("go-last",), "top": ("go-top",),
    "bottom": ("go-bottom",), "fullscreen": ("view-fullscreen",), "full screen": ("view-fullscreen",),
    "leave fullscreen": ("view-restore",), "restore": ("view-restore",), "settings": ("preferences-system",
    "emblem-system"), "preferences": ("preferences-system", "preferences-other"), "options": ("preferences-system",),
    "configure": ("preferences-system",), "help": ("help-browser", "help-contents"), "contents": ("help-contents",),
    "about": ("help-about",), "add": ("list-add",), "zoom in": ("zoom-in",), "zoom out": ("zoom-out",),
    "zoom": ("zoom-in",), "actual size": ("zoom-original",), "original size": ("zoom-original",),
    "best fit": ("zoom-fit-best",), "bold": ("format-text-bold",), "italic": ("format-text-italic",),
    "underline": ("format-text-underline",), "strikethrough": ("format-text-strikethrough",),
    "align left": ("format-justify-left",), "align right": ("format-justify-right",),
    "center": ("format-justify-center",), "justify": ("format-justify-fill",), "indent": ("format-indent-more",),
    "unindent": ("format-indent-less",), "spell check": ("tools-check-spelling",),
    "spelling": ("tools-check-spelling",), "play": ("media-playback-start",), "pause": ("media-playback-pause",),
    "record": ("media-record",), "skip forward": ("media-skip-forward",), "skip back": ("media-skip-backward",),
    "eject": ("media-eject",), "mute": ("audio-volume-muted",), "volume": ("audio-volume-high",),
    "send": ("mail-send",), "email": ("mail-message-new", "mail-unread"), "mail": ("mail-unread",),
    "bookmark": ("bookmark-new",), "favorite": ("starred", "emblem-favorite"), "favourite": ("starred",),
    "properties": ("document-properties",), "information": ("dialog-information",), "info": ("dialog-information",),
    "warning": ("dialog-warning",), "error": ("dialog-error",), "lock": ("changes-prevent", "system-lock-screen"),
    "unlock": ("changes-allow",), "menu": ("open-menu",), "main menu": ("open-menu",), "list view": ("view-list",),
    "grid view": ("view-grid",), "icon view": ("view-grid",), "sort": ("view-sort-ascending",),
    "trash": ("user-trash",), "computer": ("computer",), "network": ("network-workgroup",),
    "terminal": ("utilities-terminal",), "web browser": ("web-browser",), "desktop": ("user-desktop",),
    "documents": ("folder-documents",), "downloads": ("folder-download",), "music": ("folder-music",),
    "pictures": ("folder-pictures",), "videos": ("folder-videos",), "shut down": ("system-shutdown",),
    "log out": ("system-log-out",), "user": ("avatar-default", "system-users"), "account": ("avatar-default",),
    "calendar": ("x-office-calendar",), "notifications": ("preferences-system-notifications",),
    "show more": ("view-more",), "more": ("view-more",), "edit": ("document-edit",),
}

# what it looks like -> icon names
LOOK_ICONS: dict[str, tuple[str, ...]] = {
    "floppy": ("document-save", "document-save-as"), "floppy disk": ("document-save", "document-save-as"),
    "diskette": ("document-save",), "disk": ("document-save", "drive-harddisk"),
    "magnifying glass": ("edit-find", "system-search"), "magnifier": ("edit-find", "system-search"),
    "lens": ("edit-find", "system-search"), "loupe": ("edit-find",),
    "magnifying glass with a pencil": ("edit-find-replace",), "magnifying glass and pencil": ("edit-find-replace",),
    "trash can": ("user-trash", "edit-delete"), "trash": ("user-trash",), "bin": ("user-trash",),
    "wastebasket": ("user-trash",), "waste basket": ("user-trash",), "garbage can": ("user-trash",),
    "recycle bin": ("user-trash",), "scissors": ("edit-cut",), "clipboard": ("edit-paste",),
    "two pages": ("edit-copy",), "two sheets": ("edit-copy",), "stacked pages": ("edit-copy",),
    "two documents": ("edit-copy",), "blank page": ("document-new",), "empty page": ("document-new",),
    "sheet of paper": ("document-new", "text-x-generic"), "page with a plus": ("document-new",),
    "new page": ("document-new",), "page": ("text-x-generic", "document-new"),
    "document": ("text-x-generic", "document-new"), "folder": ("folder", "document-open"),
    "open folder": ("document-open", "folder-open"), "folder with a star": ("tab-new",), "printer": ("document-print",),
    "curved arrow pointing left": ("edit-undo",), "arrow curving left": ("edit-undo",),
    "counterclockwise arrow": ("edit-undo",), "curved arrow pointing right": ("edit-redo",),
    "arrow curving right": ("edit-redo",), "clockwise arrow": ("view-refresh", "edit-redo"),
    "circular arrow": ("view-refresh",), "circular arrows": ("view-refresh",), "round arrow": ("view-refresh",),
    "x": ("window-close", "process-stop"), "cross": ("window-close", "process-stop"),
    "x mark": ("window-close",), "stop sign": ("process-stop",), "red stop sign": ("process-stop",),
    "octagon": ("process-stop",), "house": ("go-home", "user-home"), "left arrow": ("go-previous",),
    "arrow pointing left": ("go-previous",), "back arrow": ("go-previous",), "right arrow": ("go-next",),
    "arrow pointing right": ("go-next", "go-jump"), "forward arrow": ("go-next",), "up arrow": ("go-up",),
    "arrow pointing up": ("go-up",), "down arrow": ("go-down",), "arrow pointing down": ("go-down",),
    "four arrows": ("view-fullscreen",), "arrows pointing outward": ("view-fullscreen",),
    "expanding arrows": ("view-fullscreen",), "gear": ("preferences-system", "emblem-system"),
    "cog": ("preferences-system", "emblem-system"), "cogwheel": ("preferences-system", "emblem-system"),
    "question mark": ("help-browser", "help-contents"), "lifebuoy": ("help-browser",), "life ring": ("help-browser",),
    "plus": ("list-add",), "plus sign": ("list-add",), "minus": ("list-remove",), "minus sign": ("list-remove",),
    "star": ("starred", "bookmark-new", "emblem-favorite"), "envelope": ("mail-unread", "mail-message-new"),
    "bell": ("preferences-system-notifications",), "padlock": ("changes-prevent",), "pencil": ("document-edit",),
    "speaker": ("audio-volume-high",), "triangle": ("media-playback-start",), "play triangle": ("media-playback-start",),
    "two bars": ("media-playback-pause",), "three lines": ("open-menu",), "hamburger": ("open-menu",),
    "three dots": ("view-more",), "warning triangle": ("dialog-warning",), "exclamation mark": ("dialog-warning",),
    "letter i": ("dialog-information",), "dots with an arrow": ("go-jump",), "globe": ("web-browser",),
    "monitor": ("computer",), "screen": ("computer",), "hard drive": ("drive-harddisk",),
}

_PHRASES = sorted({**FUNCTION_ICONS, **LOOK_ICONS}, key=len, reverse=True)
_PHRASE_RE = re.compile(r"(?<![\w-])(" + "|".join(re.escape(p) for p in _PHRASES) + r")(?:e?s)?(?![\w-])", re.I)
_ICON_NAME_RE = re.compile(r"\b([a-z0-9]+(?:-[a-z0-9]+)+)\b")
_FILLER = frozenset({"the", "a", "an", "with", "and", "of", "icon", "button", "to", "in", "on", "that", "image",
                     "symbol", "small", "little", "big", "large", "toolbar", "shaped", "like", "looks", "showing"})
STEP = 0.02  # each further name of a phrase counts a little less
TOKEN_WEIGHT = 0.9  # an installed name made of the description's words, when no phrase says more


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def icon_names_for(parse: TargetDescription, installed: Iterable[str] = ()) -> list[tuple[str, float]]:
    """Candidate icon names for a description, best first, each with a weight in (0, 1].

    ``installed``: the names the themes hold (for "the edit-find icon" and for names made of the
    description's words); names are returned whether installed or not (the caller says "not in theme").
    """
    installed = set(installed)
    texts = [t for t in (parse.text, parse.note, " ".join(parse.role_words) if parse.role == "icon" else "") if t]
    weights: dict[str, float] = {}

    def add(names: Iterable[str], weight: float) -> None:
        for rank, name in enumerate(names):
            weights[name] = max(weights.get(name, 0.0), weight - STEP * rank) + (0.01 if name in weights else 0.0)

    for text in texts:
        for match in _ICON_NAME_RE.finditer(text.casefold()):
            name = match.group(1).removesuffix("-symbolic")
            if name in installed or f"{name}-symbolic" in installed:
                add([name], 1.0)
        for match in _PHRASE_RE.finditer(text):
            phrase = " ".join(match.group(1).casefold().split())
            # a whole-text phrase ("save") is stronger evidence than one word of a longer text
            whole = " ".join(_words(text)) == " ".join(_words(phrase))
            # a look that is only part of the words ("Next Folder") says less than what the button does
            for table, part in ((FUNCTION_ICONS, 0.96), (LOOK_ICONS, 0.9)):
                if phrase in table:
                    add(table[phrase], 1.0 if whole else part)
    content = [w for w in _words(" ".join(texts)) if w not in _FILLER]
    if content and installed and (len(content) > 1 or not weights):
        for name in installed:
            base = name.removesuffix("-symbolic")
            tokens = base.split("-")
            if all(word in tokens for word in content) and len(tokens) <= len(content) + 1:
                add([base], TOKEN_WEIGHT - 0.01 * (len(tokens) - len(content)))
    return sorted(((n, round(min(w, 1.0), 4)) for n, w in weights.items()), key=lambda item: (-item[1], item[0]))


# looks that only a picture has (a lone "page" or "x" may be a label's word)
_PICTURE_WORDS = {"floppy", "diskette", "scissors", "clipboard", "magnifier", "loupe", "gear", "cog", "cogwheel",
                  "house", "printer", "envelope", "bell", "padlock", "pencil", "speaker", "hamburger", "wastebasket",
                  "lifebuoy", "globe"}
_LOOK_RE = re.compile(r"(?<![\w-])(" + "|".join(re.escape(p) for p in sorted(LOOK_ICONS, key=len, reverse=True)
                                                  if " " in p or p in _PICTURE_WORDS) + r")(?:e?s)?(?![\w-])", re.I)


def describes_an_icon(parse: TargetDescription) -> bool:
    """Whether a description names an icon by kind or by look ("the Undo icon", "the trash can"), rather
    than text to read; a quoted label is text."""
    if parse.quoted:
        return False
    return parse.role == "icon" or bool(_LOOK_RE.search(f"{parse.text} {parse.note}".strip()))
