"""UI-TARS output, converted to and from the canonical action grammar (tracker.format.actions).

UI-TARS answers ``Thought: ...`` then ``Action: <call>`` where the call is one of::

    click(start_box='(x,y)')            left_double(start_box=...)      right_single(start_box=...)
    drag(start_box='(x1,y1)', end_box='(x2,y2)')                        hotkey(key='ctrl c')
    type(content='text\\n')             scroll(start_box='(x,y)', direction='down')
    wait()                              finished(content='...')         call_user()

A point may also be written ``'<|box_start|>(x,y)<|box_end|>'``, ``point='<point>x y</point>'``,
``'<bbox>x y</bbox>'``, or as a box ``'(x1,y1,x2,y2)'``, ``'<bbox>x1 y1 x2 y2</bbox>'`` or two corners
``'(x1,y1),(x2,y2)'`` (its centre). The thought is the ``Thought:`` (after any ``<think>`` block), or what
UI-TARS' other templates write instead: ``<Thought>...</Thought>`` and ``Action_Summary:``.
`parse_uitars` reads the call with a small scanner — nothing is evaluated — and keeps coordinates in
the model's own space (floats): the caller maps them to the screen (grounding.coordinates, convention
``uitars_resized`` or ``norm1000``) and hands a mapping function to `to_action`. Anything else raises ActionError with a message fit to show the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from grounding.coordinates import parse_points
from models.text_excerpt import shorten
from tracker.format.actions import (CLICK_KINDS, FINISH, WAIT, Action, ActionError, call_user, double_click,
                             drag, format_action, hotkey, normalize_key, right_click, scroll, type_text)
from tracker.format.actions import click as click_at

__all__ = ["UITARS_ACTIONS", "UITarsAction", "parse_uitars", "to_action", "format_uitars"]

UITARS_ACTIONS = ("click", "left_double", "right_single", "drag", "hotkey", "type", "scroll", "wait",
                  "finished", "call_user")
_ALIASES = {"left_single": "click", "press": "hotkey"}  # spellings some UI-TARS versions use
_ARGUMENTS = {  # the keyword arguments each action takes (aliases of one another are grouped)
    "click": {"start_box", "point"}, "left_double": {"start_box", "point"}, "right_single": {"start_box", "point"},
    "drag": {"start_box", "end_box", "start_point", "end_point"}, "hotkey": {"key"}, "type": {"content"},
    "scroll": {"start_box", "point", "direction"}, "wait": set(), "finished": {"content"},
    "call_user": {"content"},
}
DIRECTIONS = ("up", "down", "left", "right")

Point = tuple[float, float]


@dataclass(frozen=True)
class UITarsAction:
    """One parsed UI-TARS call; points are in the model's coordinate space."""

    name: str  # one of UITARS_ACTIONS
    start: Point | None = None  # click point, drag start, scroll position
    end: Point | None = None  # drag end
    keys: tuple[str, ...] = ()  # hotkey, canonical key names
    content: str | None = None  # type's text, finished's message, call_user's question
    direction: str | None = None  # scroll


# ---- reading the answer ---------------------------------------------------------------------------

# "：" is the full-width colon that answers in Chinese use
_ACTION_LINE = re.compile(r"^[ \t]*Action[ \t]*[:：]", re.MULTILINE)
_THOUGHT = re.compile(r"^[ \t]*(?:Thought|Action_Summary)[ \t]*[:：][ \t]*", re.MULTILINE)
_THOUGHT_TAG = re.compile(r"<Thought>(.*?)</Thought>", re.IGNORECASE | re.DOTALL)
_OUTPUT_END = re.compile(r"\s*</Output>\s*$", re.IGNORECASE)  # closes the o1-style template's answer
_NAME = re.compile(r"\s*([A-Za-z_]\w*)\s*\(")
_KEYWORD = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*")
# after a closing quote: the call ends (and maybe another call follows on a new line) or a keyword follows
_CLOSES_VALUE = re.compile(r"\s*(?:\)\s*(?:$|\n\s*[A-Za-z_]\w*\s*\()|,\s*[A-Za-z_]\w*\s*=)")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def parse_uitars(text: str) -> tuple[str, UITarsAction]:
    """Split a UI-TARS answer into (thought, action); raise ActionError for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise ActionError("empty UI-TARS answer: expected 'Thought: ...' and 'Action: <call>'")
    found = list(_ACTION_LINE.finditer(text))
    if not found:
        raise ActionError("no 'Action:' line in the answer: end it with 'Action: <call>', e.g. "
                          "Action: click(start_box='(100,200)')")
    if len(found) > 1:
        raise ActionError(f"{len(found)} 'Action:' lines in the answer: give exactly one action")
    call = _OUTPUT_END.sub("", text[found[0].end():])
    return _thought(text[:found[0].start()]), _parse_call(call.strip())


def _thought(before: str) -> str:
    """The <Thought> tag's text, then what follows the first Thought: or Action_Summary: line."""
    parts = [tag.group(1) for tag in _THOUGHT_TAG.finditer(before)]
    rest = _THOUGHT_TAG.sub("", before)
    mark = _THOUGHT.search(rest)
    if mark:
        parts.append(rest[mark.end():])
    return "\n".join(part.strip() for part in parts if part.strip())


def _parse_call(source: str) -> UITarsAction:
    shown = shorten(source, 120)
    head = _NAME.match(source)
    if head is None:
        raise ActionError(f"not a UI-TARS action call: {shown!r}")
    name = _ALIASES.get(head.group(1), head.group(1))
    if name not in UITARS_ACTIONS:
        raise ActionError(f"unknown UI-TARS action {head.group(1)!r} in {shown!r}; "
                          f"known: {', '.join(UITARS_ACTIONS)}")
    args, pos = _read_arguments(source, head.end(), shown)
    rest = source[pos:].strip()
    if rest:
        if _NAME.match(rest):
            raise ActionError(f"several actions in {shown!r}: give exactly one")
        raise ActionError(f"unexpected text after the action call in {shown!r}")
    unknown = sorted(set(args) - _ARGUMENTS[name])
    if unknown:
        raise ActionError(f"{name} does not take {', '.join(unknown)} (in {shown!r})")
    return _build(name, args, shown)


def _read_arguments(source: str, pos: int, shown: str) -> tuple[dict[str, str], int]:
    """Keyword arguments up to the closing parenthesis; returns them and the position after it."""
    args: dict[str, str] = {}
    while True:
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos >= len(source):
            raise ActionError(f"unterminated action call {shown!r}: missing ')'")
        if source[pos] == ")":
            return args, pos + 1
        keyword = _KEYWORD.match(source, pos)
        if keyword is None:
            raise ActionError(f"expected name='value' arguments in {shown!r}")
        key = keyword.group(1)
        if key in args:
            raise ActionError(f"argument {key!r} given twice in {shown!r}")
        args[key], pos = _read_value(source, keyword.end(), shown)
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos < len(source) and source[pos] == ",":
            pos += 1
        elif pos >= len(source) or source[pos] != ")":
            raise ActionError(f"expected ',' or ')' after argument {key!r} in {shown!r}")


def _read_value(source: str, pos: int, shown: str) -> tuple[str, int]:
    if pos >= len(source):
        raise ActionError(f"missing value in {shown!r}")
    quote = source[pos]
    if quote not in "'\"":  # a bare value: direction=down, start_box=(1,2)
        bare = re.match(r"\([^)]*\)|\[[^\]]*\]|[^,)]+", source[pos:])
        return (bare.group().strip(), pos + bare.end()) if bare else ("", pos)
    out: list[str] = []
    pos += 1
    while pos < len(source):
        char = source[pos]
        if char == "\\" and pos + 1 < len(source):
            nxt = source[pos + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            pos += 2
            continue
        # a quote of the same kind ends the value only where the call can go on from there;
        # models often leave an apostrophe unescaped: type(content='it's done')
        if char == quote and _CLOSES_VALUE.match(source, pos + 1):
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    raise ActionError(f"unterminated quoted value in {shown!r}")


def _point(args: dict[str, str], names: tuple[str, ...], action: str, shown: str, *, required: bool = True) -> Point | None:
    given = [n for n in names if n in args]
    if len(given) > 1:
        raise ActionError(f"{action} got both {' and '.join(given)} in {shown!r}")
    if not given:
        if required:
            raise ActionError(f"{action} needs {names[0]}='(x,y)' in {shown!r}")
        return None
    points = parse_points(args[given[0]])
    if len(points) == 2:  # a box as two corners, '<|box_start|>(x1,y1)<|box_end|>(x2,y2)': its centre
        (x1, y1), (x2, y2) = points
        points = [((x1 + x2) / 2, (y1 + y2) / 2)]
    if len(points) != 1:
        what = "no point" if not points else f"{len(points)} points"
        raise ActionError(f"{given[0]}={args[given[0]]!r} holds {what}; expected one '(x,y)' (in {shown!r})")
    return points[0]


def _keys(value: str, shown: str) -> tuple[str, ...]:
    words = value.split()
    if len(words) == 1 and "+" in words[0] and len(words[0]) > 1:
        words = [w for w in words[0].split("+") if w]  # 'ctrl+c'
    if not words:
        raise ActionError(f"hotkey needs key='...' with one or more keys (in {shown!r})")
    try:
        return tuple(normalize_key(w) for w in words)
    except ActionError as error:
        raise ActionError(f"{error} in {shown!r}") from None


def _build(name: str, args: dict[str, str], shown: str) -> UITarsAction:
    if name in ("click", "left_double", "right_single"):
        return UITarsAction(name, start=_point(args, ("start_box", "point"), name, shown))
    if name == "drag":
        return UITarsAction(name, start=_point(args, ("start_box", "start_point"), name, shown),
                            end=_point(args, ("end_box", "end_point"), name, shown))
    if name == "hotkey":
        return UITarsAction(name, keys=_keys(args.get("key", ""), shown))
    if name == "type":
        if not args.get("content"):
            raise ActionError(f"type needs non-empty content='...' (in {shown!r})")
        return UITarsAction(name, content=args["content"])
    if name == "scroll":
        direction = args.get("direction", "").strip().strip("'\"").lower()
        if direction not in DIRECTIONS:
            raise ActionError(f"scroll needs direction= one of {', '.join(DIRECTIONS)} (in {shown!r})")
        start = _point(args, ("start_box", "point"), name, shown, required=False)
        return UITarsAction(name, start=start, direction=direction)
    content = args.get("content", "").strip() or None
    return UITarsAction(name, content=content)  # wait, finished, call_user


# ---- to and from canonical actions ----------------------------------------------------------------

MapPoint = Callable[[float, float], tuple[int, int]]


def to_action(action: UITarsAction, map_point: MapPoint, *, scroll_notches: int = 5,
              question: str | None = None) -> Action:
    """The canonical action; `map_point` turns a model-space point into screen pixels (it may raise
    grounding.coordinates.CoordinateError for a point off the image). `question` is asked for a
    call_user() that gives none."""
    name = action.name
    if name in ("click", "left_double", "right_single"):
        make = {"click": click_at, "left_double": double_click, "right_single": right_click}[name]
        return make(*map_point(*action.start))  # type: ignore[misc]
    if name == "drag":
        return drag(*map_point(*action.start), *map_point(*action.end))  # type: ignore[misc]
    if name == "hotkey":
        return hotkey(*action.keys)
    if name == "type":
        return type_text(action.content or "")
    if name == "scroll":
        step = {"up": (0, scroll_notches), "down": (0, -scroll_notches),
                "left": (-scroll_notches, 0), "right": (scroll_notches, 0)}[action.direction or ""]
        return scroll(*step, at=map_point(*action.start) if action.start is not None else None)
    if name == "wait":
        return WAIT
    if name == "finished":
        return FINISH
    if name == "call_user":
        asked = " ".join((action.content or question or "").split())
        return call_user(asked or "I need your help to continue this task.")
    raise ActionError(f"unknown UI-TARS action {name!r}")


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def format_uitars(action: Action, to_model: Callable[[int, int], Point] | None = None) -> str:
    """An action in UI-TARS syntax (for history shown to the model); `to_model` maps screen pixels into
    the model's space. Actions UI-TARS has no call for (fail, middle clicks, element clicks) come back
    as canonical text."""
    def box(point: tuple[int, int]) -> str:
        x, y = to_model(*point) if to_model else point
        return f"'({round(x)},{round(y)})'"

    kind = action.kind
    if kind in CLICK_KINDS and action.point is not None and kind != "middle_click":
        name = {"click": "click", "double_click": "left_double", "right_click": "right_single"}[kind]
        return f"{name}(start_box={box(action.point)})"
    if kind == "drag":
        return f"drag(start_box={box(action.point)}, end_box={box(action.end)})"  # type: ignore[arg-type]
    if kind in ("press_key", "hotkey"):
        return f"hotkey(key={_quoted(' '.join(action.keys))})"
    if kind == "type_text":
        return f"type(content={_quoted(action.text or '')})"
    if kind == "scroll":
        dx, dy = action.delta  # type: ignore[misc]
        direction = ("up" if dy > 0 else "down") if abs(dy) >= abs(dx) else ("right" if dx > 0 else "left")
        where = f"start_box={box(action.point)}, " if action.point is not None else ""
        return f"scroll({where}direction='{direction}')"
    if kind == "wait":
        return "wait()"
    if kind == "finish":
        return "finished()"
    if kind == "call_user":
        return f"call_user(content={_quoted(action.text or '')})"
    return format_action(action)
