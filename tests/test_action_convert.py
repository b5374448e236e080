"""Canonical actions to pyautogui calls and OSWorld computer_13, and back (tracker.format.action_convert)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.format.action_convert import (PYAUTOGUI_FUNCTIONS, from_computer13, from_computer13_sequence,
                                    key_from_pyautogui, pyautogui_key, to_computer13, to_pyautogui)
from tracker.format.actions import (FAIL, FINISH, KEY_NAMES, WAIT, ActionError, call_user, click, click_element,
                             double_click, drag, hotkey, middle_click, press_key, right_click, scroll, type_text)

EXPRESSIBLE = [
    click(10, 20), right_click(10, 20), middle_click(10, 20), double_click(10, 20), drag(1, 2, 300, 400),
    scroll(0, -3), scroll(2, 0), scroll(-1, 4), scroll(0, -2, at=(30, 40)), press_key("enter"), press_key("page_up"), press_key("super"),
    press_key("a"), hotkey("ctrl", "c"), hotkey("ctrl", "shift", "esc"), hotkey("super", "l"),
    type_text("hello\nworld"), WAIT, FINISH, FAIL,
]


@pytest.mark.parametrize("action, calls", [
    (click(10, 20), [("click", (10, 20), {"button": "left"})]),
    (right_click(10, 20), [("click", (10, 20), {"button": "right"})]),
    (middle_click(10, 20), [("click", (10, 20), {"button": "middle"})]),
    (double_click(10, 20), [("doubleClick", (10, 20), {"button": "left"})]),
    (drag(1, 2, 3, 4), [("moveTo", (1, 2), {}), ("dragTo", (3, 4), {"duration": 0.5, "button": "left"})]),
    (scroll(0, -3), [("scroll", (-3,), {})]),
    (scroll(2, 1), [("scroll", (1,), {}), ("hscroll", (2,), {})]),
    (scroll(0, -3, at=(5, 6)), [("moveTo", (5, 6), {}), ("scroll", (-3,), {})]),
    (press_key("page_down"), [("press", ("pagedown",), {})]),
    (press_key("esc"), [("press", ("esc",), {})]),
    (hotkey("super", "e"), [("hotkey", ("win", "e"), {})]),
    (hotkey("ctrl", "alt", "delete"), [("hotkey", ("ctrl", "alt", "delete"), {})]),
    (type_text("it's\n"), [("write", ("it's\n",), {})]),
    (WAIT, [("sleep", (1.0,), {})]),
    (FINISH, []), (FAIL, []), (call_user("which file?"), []),
])
def test_to_pyautogui_gives_calls_as_data(action, calls):
    assert to_pyautogui(action) == calls
    assert all(name in PYAUTOGUI_FUNCTIONS for name, _, _ in calls)


@pytest.mark.parametrize("canonical, pyautogui", [
    ("super", "win"), ("page_up", "pageup"), ("page_down", "pagedown"), ("esc", "esc"), ("enter", "enter"),
    ("caps_lock", "capslock"), ("print_screen", "printscreen"), ("alt_gr", "altright"), ("menu", "apps"),
    ("media_volume_up", "volumeup"), ("f12", "f12"), ("a", "a"),
])
def test_key_names_map_to_pyautogui_and_back(canonical, pyautogui):
    assert pyautogui_key(canonical) == pyautogui
    assert key_from_pyautogui(pyautogui) == canonical


def test_every_canonical_key_round_trips_through_pyautogui_names():
    for key in KEY_NAMES:
        assert key_from_pyautogui(pyautogui_key(key)) == key


@pytest.mark.parametrize("name, canonical", [("winleft", "super"), ("ctrlright", "ctrl"), ("return", "enter"),
                                             ("escape", "esc"), ("pgdn", "page_down"), ("command", "super")])
def test_pyautogui_spellings_are_understood(name, canonical):
    assert key_from_pyautogui(name) == canonical


def test_element_clicks_need_grounding_first():
    with pytest.raises(ActionError, match="ground"):
        to_pyautogui(click_element("the OK button"))
    with pytest.raises(ActionError):
        to_computer13(click_element("the OK button"))


@pytest.mark.parametrize("action, expected", [
    (click(5, 6), [{"action_type": "CLICK", "parameters": {"button": "left", "x": 5, "y": 6, "num_clicks": 1}}]),
    (right_click(5, 6), [{"action_type": "RIGHT_CLICK", "parameters": {"x": 5, "y": 6}}]),
    (double_click(5, 6), [{"action_type": "DOUBLE_CLICK", "parameters": {"x": 5, "y": 6}}]),
    (drag(1, 2, 3, 4), [{"action_type": "MOVE_TO", "parameters": {"x": 1, "y": 2}},
                        {"action_type": "DRAG_TO", "parameters": {"x": 3, "y": 4}}]),
    (scroll(0, -2), [{"action_type": "SCROLL", "parameters": {"dx": 0, "dy": -2}}]),
    (scroll(0, -2, at=(7, 8)), [{"action_type": "MOVE_TO", "parameters": {"x": 7, "y": 8}},
                                {"action_type": "SCROLL", "parameters": {"dx": 0, "dy": -2}}]),
    (type_text("hi"), [{"action_type": "TYPING", "parameters": {"text": "hi"}}]),
    (press_key("page_up"), [{"action_type": "PRESS", "parameters": {"key": "pageup"}}]),
    (hotkey("super", "d"), [{"action_type": "HOTKEY", "parameters": {"keys": ["win", "d"]}}]),
    (WAIT, [{"action_type": "WAIT", "parameters": {}}]),
    (FINISH, [{"action_type": "DONE", "parameters": {}}]),
    (FAIL, [{"action_type": "FAIL", "parameters": {}}]),
])
def test_to_computer13(action, expected):
    assert to_computer13(action) == expected


def test_call_user_has_no_computer13_form():
    with pytest.raises(ActionError):
        to_computer13(call_user("which file?"))


@pytest.mark.parametrize("action", EXPRESSIBLE)
def test_computer13_round_trips(action):
    assert from_computer13_sequence(to_computer13(action)) == [action]
    if len(to_computer13(action)) == 1:  # a drag, or a scroll at a point, is MOVE_TO and another
        assert from_computer13(to_computer13(action)[0]) == action


@pytest.mark.parametrize("entry, action", [
    ({"action_type": "CLICK", "x": 5, "y": 6}, click(5, 6)),  # the flat shape
    ({"action_type": "CLICK", "parameters": {"button": "left", "x": 5, "y": 6, "num_clicks": 2}}, double_click(5, 6)),
    ({"action_type": "CLICK", "button": "right", "x": 5.0, "y": 6}, right_click(5, 6)),
    ({"action_type": "SCROLL", "dy": 3}, scroll(0, 3)),
    ({"action_type": "PRESS", "key": "Return"}, press_key("enter")),
    ({"action_type": "HOTKEY", "keys": ["ctrlleft", "shift", "t"]}, hotkey("ctrl", "shift", "t")),
    ("DONE", FINISH), ("WAIT", WAIT), ("FAIL", FAIL), ({"action_type": "done"}, FINISH),
])
def test_from_computer13_accepts_osworld_shapes(entry, action):
    assert from_computer13(entry) == action


def test_a_press_drag_release_sequence_is_one_drag():
    entries = [{"action_type": "MOVE_TO", "x": 1, "y": 2}, {"action_type": "MOUSE_DOWN", "button": "left"},
               {"action_type": "MOVE_TO", "x": 30, "y": 40}, {"action_type": "MOUSE_UP", "button": "left"},
               {"action_type": "TYPING", "text": "x"}]
    assert from_computer13_sequence(entries) == [drag(1, 2, 30, 40), type_text("x")]


@pytest.mark.parametrize("entry", [
    None, 7, "JUMP", {}, {"action_type": "TELEPORT"}, {"action_type": "CLICK"},  # no coordinates: never guessed
    {"action_type": "CLICK", "x": "5", "y": 6}, {"action_type": "CLICK", "x": 5.5, "y": 6},
    {"action_type": "CLICK", "x": 5, "y": 6, "num_clicks": 3}, {"action_type": "CLICK", "x": 5, "y": 6, "button": "x"},
    {"action_type": "RIGHT_CLICK", "parameters": {}}, {"action_type": "SCROLL"}, {"action_type": "TYPING", "text": ""},
    {"action_type": "PRESS", "key": "hyperdrive"}, {"action_type": "PRESS"}, {"action_type": "HOTKEY", "keys": "ctrl+c"},
    {"action_type": "MOVE_TO", "x": 1, "y": 2}, {"action_type": "DRAG_TO", "x": 1, "y": 2},
    {"action_type": "MOUSE_DOWN"}, {"action_type": "KEY_DOWN", "key": "a"}, {"action_type": "CLICK", "parameters": 3},
])
def test_garbage_is_rejected(entry):
    with pytest.raises(ActionError):
        from_computer13(entry)


def test_a_lone_move_in_a_sequence_is_rejected():
    with pytest.raises(ActionError, match="MOVE_TO"):
        from_computer13_sequence([{"action_type": "MOVE_TO", "x": 1, "y": 2}, {"action_type": "WAIT"}])


@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000))
def test_random_drags_round_trip(x1, y1, x2, y2):
    action = drag(x1, y1, x2, y2)
    assert from_computer13_sequence(to_computer13(action)) == [action]
