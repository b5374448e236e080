"""UI-TARS answers to canonical actions (tracker.format.uitars): formats, escapes, round trips, rejection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.text_excerpt import has_unsafe_controls
from tracker.format.actions import (FINISH, WAIT, Action, ActionError, call_user, click, double_click, drag, hotkey,
                             middle_click, parse_action, press_key, right_click, scroll, type_text)
from tracker.format.uitars import UITarsAction, format_uitars, parse_uitars, to_action


def identity(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def converted(text: str) -> Action:
    thought, action = parse_uitars(text)
    return to_action(action, identity, question=thought)


@pytest.mark.parametrize("text, expected", [
    ("Thought: the Save button.\nAction: click(start_box='(235,512)')", click(235, 512)),
    ("Action: click(start_box='<|box_start|>(235,512)<|box_end|>')", click(235, 512)),
    ("Action: click(point='<point>235 512</point>')", click(235, 512)),
    ("Action: click(start_box='(200,500,270,524)')", click(235, 512)),  # a box: its centre
    ("Action: left_single(start_box='(1,2)')", click(1, 2)),
    ("Action: left_double(start_box='(10,20)')", double_click(10, 20)),
    ("Action: right_single(start_box='(10,20)')", right_click(10, 20)),
    ("Action: drag(start_box='(1,2)', end_box='(30,40)')", drag(1, 2, 30, 40)),
    ("Action: drag(start_point='<point>1 2</point>', end_point='<point>30 40</point>')", drag(1, 2, 30, 40)),
    ("Action: hotkey(key='ctrl c')", hotkey("ctrl", "c")),
    ("Action: hotkey(key='Ctrl+Shift+T')", hotkey("ctrl", "shift", "t")),
    ("Action: hotkey(key='enter')", press_key("enter")),
    ("Action: hotkey(key='pagedown')", press_key("page_down")),
    ("Action: press(key='arrowdown')", press_key("down")),
    ("Action: type(content='hello\\nworld\\n')", type_text("hello\nworld\n")),
    ("Action: type(content='it\\'s')", type_text("it's")),
    ("Action: type(content='it's fine')", type_text("it's fine")),  # an unescaped apostrophe
    ('Action: type(content="say \\"hi\\"")', type_text('say "hi"')),
    ("Action: type(content='C:\\\\temp')", type_text("C:\\temp")),
    ("Action: scroll(start_box='(5,6)', direction='down')", scroll(0, -5, at=(5, 6))),
    ("Action: scroll(start_box='(5,6)', direction='up')", scroll(0, 5, at=(5, 6))),
    ("Action: scroll(direction='left')", scroll(-5, 0)),
    ("Action: scroll(start_box='(5,6)', direction=right)", scroll(5, 0, at=(5, 6))),
    ("Action: wait()", WAIT),
    ("Thought: all done.\nAction: finished(content='The file is saved.')", FINISH),
    ("Thought: Which account should I use?\nAction: call_user()", call_user("Which account should I use?")),
])
def test_formats_convert_to_canonical_actions(text, expected):
    assert converted(text) == expected


def test_thought_and_model_space_floats_are_kept():
    thought, action = parse_uitars("Thought: The menu is open;\nI pick Save.\nAction: click(start_box='(12.5,40.25)')")
    assert thought == "The menu is open;\nI pick Save."
    assert action == UITarsAction("click", start=(12.5, 40.25))


def test_the_caller_maps_coordinates():
    _, action = parse_uitars("Action: drag(start_box='(10,20)', end_box='(30,40)')")
    assert to_action(action, lambda x, y: (int(x * 2 + 100), int(y * 2))) == drag(120, 40, 160, 80)


def test_finished_content_and_scroll_position_are_parsed():
    assert parse_uitars("Action: finished(content='done')")[1].content == "done"
    assert parse_uitars("Action: scroll(point='<point>7 8</point>', direction='down')")[1].start == (7.0, 8.0)


def test_scroll_notches_are_configurable():
    _, action = parse_uitars("Action: scroll(direction='up')")
    assert to_action(action, identity, scroll_notches=3) == scroll(0, 3)


@pytest.mark.parametrize("text", [
    "", "   ", "garbage", "Thought: nothing to do",
    "Action: click(start_box='(12,", "Action: click(start_box='(12,40)'",
    "Action: click()", "Action: click(start_box='nowhere')", "Action: click(start_box='(-5,10)')",
    "Action: click(start_box='(1,2)', end_box='(3,4)')",
    "Action: click(start_box='(1,2)', point='<point>1 2</point>')",
    "Action: fly(start_box='(1,2)')", "Action: pyautogui.click(1, 2)", "Action: click(start_box='(1,2)') now",
    "Action: click(start_box='(1,2)')\n\nclick(start_box='(3,4)')",
    "Action: click(start_box='(1,2)')\nAction: wait()",
    "Action: drag(start_box='(1,2)')", "Action: hotkey(key='')", "Action: hotkey(key='ctrl hyperdrive')",
    "Action: type(content='')", "Action: scroll(start_box='(1,2)', direction='sideways')",
    "Action: click('(1,2)')", "Action: click(start_box='(1,2)', start_box='(3,4)')",
    "Action: __import__('os').system('ls')",
])
def test_garbage_is_rejected(text):
    with pytest.raises(ActionError):
        parse_uitars(text)


@pytest.mark.parametrize("action", [
    click(3, 4), double_click(3, 4), right_click(3, 4), drag(1, 2, 3, 4), hotkey("ctrl", "shift", "s"),
    press_key("page_down"), type_text("a 'quoted'\nline\\"), scroll(0, -5), scroll(5, 0), scroll(0, 5, at=(7, 9)),
    WAIT, FINISH,
    call_user("Which file?"),
])
def test_format_uitars_round_trips(action):
    assert converted("Thought: t\nAction: " + format_uitars(action)) == action


def test_format_uitars_maps_into_model_space_and_falls_back_to_canonical_text():
    assert format_uitars(click(100, 50), lambda x, y: (x / 2, y / 2)) == "click(start_box='(50,25)')"
    assert format_uitars(middle_click(1, 2)) == "middle click (1, 2)"
    assert parse_action(format_uitars(parse_action("fail"))).kind == "fail"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)).filter(lambda c: not has_unsafe_controls(c)),
               min_size=1, max_size=40))
def test_any_typed_text_survives_the_round_trip(text):
    """Any text the grammar allows (no control characters but tab and newline)."""
    assert converted("Action: " + format_uitars(type_text(text))) == type_text(text)
