"""The action grammar: exact round trips, lenient spellings, and clear rejections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.text_excerpt import has_unsafe_controls
from tracker.format import actions
from tracker.format.actions import (
    ACTION_KINDS, FAIL, FINISH, KEY_NAMES, MAX_COORDINATE, WAIT, Action, ActionError, call_user, click,
    click_element, double_click, drag, format_action, format_action_in_model_space, hotkey, middle_click,
    normalize_key, parse_action, press_key, right_click, scroll, type_text,
)

CANONICAL = [
    "click (10, 20)", "right click (0, 0)", "middle click (5, -7)", "double click (-1920, 1079)",
    "drag from (1, 2) to (300, 400)", "scroll (0, -3)", "scroll (2, 5)", "scroll (0, -3) at (40, 50)", "press key: enter",
    "press key: a", "press key: ,", "press key: f12", "hotkey (ctrl, c)", "hotkey (ctrl, shift, esc)",
    "hotkey (ctrl, ,)", "hotkey (ctrl, ))", "hotkey ((, ctrl)", "hotkey (super, page_up)",
    "type text: Hello, world", "type text:  leading and trailing  ", "type text: two\nlines\n",
    "type text: (1, 2)", "wait", "finish", "fail", "click element: the Save button",
    "right click element: file 'a, b.txt'", "double click element: Recycle Bin",
    "middle click element: tab (2)", "call user: Which account should I use?",
]


@pytest.mark.parametrize("text", CANONICAL)
def test_canonical_text_round_trips_exactly(text: str) -> None:
    assert format_action(parse_action(text)) == text
    assert str(parse_action(text)) == text


def test_constructors_build_the_expected_actions() -> None:
    assert click(1, 2) == Action("click", point=(1, 2))
    assert right_click(1, 2).kind == "right_click"
    assert middle_click(1, 2).kind == "middle_click"
    assert double_click(1, 2).kind == "double_click"
    assert click_element("OK", "double_click") == Action("double_click", element="OK")
    assert drag(1, 2, 3, 4) == Action("drag", point=(1, 2), end=(3, 4))
    assert scroll(0, -5).delta == (0, -5)
    assert press_key("Return").keys == ("enter",)
    assert hotkey("Control", "Shift", "T").keys == ("ctrl", "shift", "t")
    assert hotkey("F5") == press_key("f5")
    assert type_text(" x ").text == " x "
    assert call_user("Which file?").text == "Which file?"
    assert (WAIT.kind, FINISH.kind, FAIL.kind) == ("wait", "finish", "fail")


@pytest.mark.parametrize("text, canonical", [
    ("Click (1, 2)", "click (1, 2)"),
    ("CLICK (1,2)", "click (1, 2)"),
    ("  click( 1 ,2 )  ", "click (1, 2)"),
    ("\tdouble click (3,4)\n", "double click (3, 4)"),
    ("Right  Click (5, 6)", "right click (5, 6)"),
    ("Drag from (1,2) to (3,4)", "drag from (1, 2) to (3, 4)"),
    ("scroll (-3)", "scroll (0, -3)"),
    ("Scroll (-3)  AT ( 4,5 )", "scroll (0, -3) at (4, 5)"),
    ("scroll (  4 )", "scroll (0, 4)"),
    ("scroll (1,-2)", "scroll (1, -2)"),
    ("press key enter", "press key: enter"),
    ("press key: Key.enter", "press key: enter"),
    ("Press Key: Escape", "press key: esc"),
    ("press key:Page Down", "press key: page_down"),
    ("press key: A", "press key: a"),
    ("hotkey (Ctrl, C)", "hotkey (ctrl, c)"),
    ("hotkey (Key.ctrl_l,Key.shift, t)", "hotkey (ctrl, shift, t)"),
    ("hotkey (cmd, Page Up)", "hotkey (super, page_up)"),
    ("hotkey (f5)", "press key: f5"),
    ("Type Text: Hi", "type text: Hi"),
    ("  type text:x ", "type text: x "),
    ("click element:   Save  ", "click element: Save"),
    ("Double Click Element: Recycle Bin", "double click element: Recycle Bin"),
    ("WAIT", "wait"),
    (" finish ", "finish"),
    ("Call User: really?", "call user: really?"),
    ("click (+5, 007)", "click (5, 7)"),
])
def test_lenient_spellings_are_normalised(text: str, canonical: str) -> None:
    assert format_action(parse_action(text)) == canonical


def test_type_text_keeps_the_text_exactly() -> None:
    assert parse_action("type text: a, b (c)\n").text == "a, b (c)\n"
    assert parse_action("type text:   spaced   ").text == "  spaced   "
    assert parse_action("type text: type text: x").text == "type text: x"


@pytest.mark.parametrize("alias, canonical", [
    ("control", "ctrl"), ("ctl", "ctrl"), ("ctrl_l", "ctrl"), ("CTRL_R", "ctrl"),
    ("cmd", "super"), ("command", "super"), ("win", "super"), ("Windows", "super"), ("meta", "super"),
    ("super_l", "super"), ("super_r", "super"), ("cmd_l", "super"), ("cmd_r", "super"),
    ("option", "alt"), ("alt_l", "alt"), ("alt_r", "alt"), ("AltGr", "alt_gr"),
    ("shift_l", "shift"), ("shift_r", "shift"), ("return", "enter"), ("Enter", "enter"),
    ("escape", "esc"), ("esc", "esc"), ("del", "delete"), ("bksp", "backspace"), ("back_space", "backspace"),
    ("pgup", "page_up"), ("PageUp", "page_up"), ("prior", "page_up"), ("pgdn", "page_down"),
    ("pagedown", "page_down"), ("next", "page_down"), ("ins", "insert"), ("prtsc", "print_screen"),
    ("printscreen", "print_screen"), ("print", "print_screen"), ("ArrowUp", "up"), ("up_arrow", "up"),
    ("arrowdown", "down"), ("left_arrow", "left"), ("ArrowRight", "right"), ("Key.enter", "enter"),
    ("Key.f24", "f24"), ("F1", "f1"), ("A", "a"), ("7", "7"), ("/", "/"), (",", ","), (" ", "space"),
    ("Key.media_volume_up", "media_volume_up"), ("caps lock", "caps_lock"),
])
def test_key_aliases(alias: str, canonical: str) -> None:
    assert normalize_key(alias) == canonical


@pytest.mark.parametrize("name", ["xyz", "ctrl+c", "", "f25", "Key.nothing", "\t", "\x00", "ab"])
def test_unknown_key_names_are_rejected_by_name(name: str) -> None:
    with pytest.raises(ActionError, match="unknown key name"):
        normalize_key(name)


@pytest.mark.parametrize("text, fragment", [
    ("click (a, b)", "click (a, b)"),
    ("click ()", "click ()"),
    ("click (1)", "click (1)"),
    ("click (1.5, 2)", "click (1.5, 2)"),
    ("click", "click"),
    ("click element:", "click element:"),
    ("right click (1, 2, 3)", "right click"),
    ("drag from (1, 2)", "drag from (1, 2)"),
    ("drag (1, 2) to (3, 4)", "drag"),
    ("scroll ()", "scroll"),
    ("scroll (up)", "scroll (up)"),
    ("press key:", "press key"),
    ("press key: xyz", "xyz"),
    ("press key: ctrl+c", "ctrl+c"),
    ("hotkey ()", "hotkey ()"),
    ("hotkey (ctrl+c)", "hotkey (ctrl+c)"),
    ("hotkey (ctrl, bogus)", "bogus"),
    ("hotkey (ctrl, ctrl_l)", "repeats"),
    ("hotkey (ctrl,)", "hotkey (ctrl,)"),
    ("type text:", "type text"),
    ("call user:", "call user"),
    ("wait 5", "wait 5"),
    ("finish now", "finish now"),
    ("", "empty"),
    ("   ", "empty"),
    ("rm -rf /", "rm -rf /"),
    ("__import__('os')", "__import__"),
    ("pyautogui.click(1, 2)", "pyautogui"),
    ("Action: click (1, 2)", "Action"),
    ("click (1, 2) and then finish", "click (1, 2) and then finish"),
    (f"click ({MAX_COORDINATE + 1}, 0)", "out of range"),
])
def test_garbage_is_rejected_with_a_useful_message(text: str, fragment: str) -> None:
    with pytest.raises(ActionError) as caught:
        parse_action(text)
    assert fragment in str(caught.value)


def test_non_text_is_rejected() -> None:
    with pytest.raises(ActionError):
        parse_action(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [
    lambda: Action("jump"),
    lambda: Action("click"),
    lambda: Action("click", point=(1, 2), element="both"),
    lambda: Action("click", point=(1.0, 2)),
    lambda: Action("click", point=(True, 2)),
    lambda: Action("click", point=(1, 2, 3)),
    lambda: Action("click", element=" padded "),
    lambda: Action("drag", point=(1, 2)),
    lambda: Action("scroll"),
    lambda: Action("press_key", keys=("ctrl", "c")),
    lambda: Action("press_key", keys=("Enter",)),
    lambda: Action("hotkey", keys=("ctrl",)),
    lambda: Action("type_text", text=""),
    lambda: Action("type_text"),
    lambda: Action("call_user", text=""),
    lambda: Action("wait", text="extra"),
    lambda: Action("finish", point=(1, 2)),
    lambda: click_element("Save", "drag"),
    lambda: hotkey(),
])
def test_invalid_actions_cannot_be_built(make) -> None:
    with pytest.raises(ActionError):
        make()


def test_with_point_turns_an_element_click_into_a_coordinate_click() -> None:
    assert click_element("Save", "right_click").with_point(3, 4) == right_click(3, 4)
    with pytest.raises(ActionError):
        click(1, 2).with_point(3, 4)


def test_every_kind_is_covered() -> None:
    kinds = {parse_action(text).kind for text in CANONICAL}
    assert kinds == set(ACTION_KINDS)


# --- property-based round trips ------------------------------------------------------------------

coordinate = st.integers(min_value=-MAX_COORDINATE, max_value=MAX_COORDINATE)
point = st.tuples(coordinate, coordinate)
# Single characters that are valid keys, plus the ones that stress the hotkey syntax.
single_char_key = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")).map(
    normalize_key)
key = st.one_of(st.sampled_from(sorted(KEY_NAMES)), st.sampled_from([",", ")", "(", ":", ".", " "]).map(
    normalize_key), single_char_key)
# Any text the grammar allows: control characters other than tab and newline, and bidirectional
# overrides, are rejected (test_control_characters_are_rejected).
allowed_char = st.characters(blacklist_categories=("Cs",)).filter(
    lambda c: not has_unsafe_controls(c))
phrase = st.text(alphabet=allowed_char, min_size=1).map(str.strip).filter(bool)  # descriptions and questions
any_text = st.text(alphabet=allowed_char, min_size=1) | st.text(alphabet=" ,()\n\t:abc", min_size=1)

action_strategy = st.one_of(
    st.builds(Action, st.sampled_from(actions.CLICK_KINDS), point=point),
    st.builds(click_element, phrase, st.sampled_from(actions.CLICK_KINDS)),
    st.builds(lambda a, b: Action("drag", point=a, end=b), point, point),
    st.builds(lambda d: Action("scroll", delta=d), point),
    st.builds(lambda d, at: Action("scroll", delta=d, point=at), point, point),
    st.builds(press_key, key),
    st.lists(key, min_size=2, max_size=5, unique=True).map(lambda keys: Action("hotkey", keys=tuple(keys))),
    st.builds(type_text, any_text),
    st.builds(call_user, phrase),
    st.sampled_from([WAIT, FINISH, FAIL]),
)


@settings(max_examples=600)
@given(action_strategy)
def test_parse_of_format_is_identity(action: Action) -> None:
    text = format_action(action)
    assert parse_action(text) == action
    assert format_action(parse_action(text)) == text


@settings(max_examples=300)
@given(any_text)
def test_type_text_survives_any_text(text: str) -> None:
    assert parse_action(f"type text: {text}").text == text
    assert parse_action(format_action(type_text(text))).text == text


@settings(max_examples=300)
@given(key)
def test_normalize_key_is_idempotent(name: str) -> None:
    assert normalize_key(name) == name
    if len(name) > 1:  # named keys in any case; single characters may not survive upper() ("ß" -> "SS")
        assert normalize_key(name.upper()) == name


@settings(max_examples=500)
@given(st.text())
def test_parser_only_ever_raises_action_error(text: str) -> None:
    try:
        action = parse_action(text)
    except ActionError:
        return
    # Whatever it accepts must itself print as canonical text that parses back to the same action.
    assert parse_action(format_action(action)) == action


@pytest.mark.parametrize("text", ["type text: rm -rf ~\x1b[2K\rtype text: hello", "type text: a\x07",
                                  "click element: the \u202eSave button", "call user: ok?\x1b[0m",
                                  "double click element: \x1b]0;title\x07Save"])
def test_control_characters_are_rejected(text):
    with pytest.raises(actions.ActionError, match="control characters"):
        actions.parse_action(text)


def test_tab_and_newline_may_be_typed():
    assert actions.parse_action("type text: a\tb\nc").text == "a\tb\nc"


def test_format_action_in_model_space_moves_points_and_nothing_else():
    def halved(x: int, y: int) -> tuple[float, float]:
        return x / 2, y / 2

    assert format_action_in_model_space(click(10, 21), halved) == "click (5, 10)"  # whole numbers: rounded
    assert format_action_in_model_space(right_click(10, 21), halved, 1) == "right click (5.0, 10.5)"
    assert format_action_in_model_space(double_click(3, 4), halved, 3) == "double click (1.500, 2.000)"
    assert format_action_in_model_space(drag(2, 4, 6, 8), halved) == "drag from (1, 2) to (3, 4)"
    assert format_action_in_model_space(scroll(0, -3, at=(40, 50)), halved) == "scroll (0, -3) at (20, 25)"
    for unmoved in (scroll(2, 5), click_element("the Save button"), type_text("a (1, 2)"), hotkey("ctrl", "s"),
                    WAIT, FINISH):
        assert format_action_in_model_space(unmoved, halved) == format_action(unmoved)
