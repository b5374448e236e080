"""What real models write, read into the canonical grammar or refused (tracker.format: uitars,
qwen_computer_use, opencua; grounding.coordinates.parse_points). Fixtures: tests/model_outputs.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grounding.coordinates import parse_points
from tests import model_outputs as real
from tracker.format import opencua, qwen_computer_use as computer_use
from tracker.format.actions import (FAIL, FINISH, WAIT, ActionError, call_user, click, double_click, drag, hotkey,
                                    middle_click, press_key, right_click, scroll, type_text)
from tracker.format.uitars import parse_uitars, to_action as uitars_action


def same(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def record(points: list):
    def map_point(x: float, y: float) -> tuple[int, int]:
        points.append((x, y))
        return round(x), round(y)
    return map_point


# ---- UI-TARS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, thought, point", [
    (real.UITARS_README, "Click the button", (100, 200)),
    (real.UITARS_COORDINATES, "xxx", (197, 525)),
    (real.UITARS_POINT, "Click the button", (200, 300)),
    (real.UITARS_1_0_BOX, "", (495, 30)),
    (real.UITARS_THINK, "To search for news, first clear", (510, 150)),
    (real.UITARS_BBOX_ZH, "我看到当前屏幕", (637, 964)),
    (real.UITARS_FULLWIDTH_COLON, "", (191, 21)),
    (real.UITARS_O1, "I need to perform this action\nClick and type text", (100, 200)),
    (real.UITARS_TWO_CORNERS, "Click open", (1320, 732.5)),  # the box's centre
    (real.UITARS_BOX_LIST, "I need to click", (638, 349)),
])
def test_uitars_answers_from_the_wild_are_read(answer, thought, point):
    parsed_thought, parsed = parse_uitars(answer.text)
    assert parsed.name == "click" and parsed.start == point, answer.source
    assert parsed_thought.startswith(thought) and "<think>" not in parsed_thought and "Okay, let's" not in parsed_thought
    assert uitars_action(parsed, same) == click(*same(*point))


@pytest.mark.parametrize("answer, problem", [
    (real.UITARS_TYPE_AT_BOX, "does not take"),  # typing aimed at a box is a click and a type: two actions
    (real.UITARS_SEVERAL, "'Action:' lines"),
])
def test_uitars_answers_we_cannot_run_are_refused(answer, problem):
    with pytest.raises(ActionError, match=problem):
        parse_uitars(answer.text)


# ---- Qwen computer_use ------------------------------------------------------------------------------


def test_qwen3_answer_parts_from_the_cookbook():
    answer = computer_use.parse_answer(real.QWEN3_MOBILE.text)
    assert answer.thought.startswith("To search for Musk in X") and "Action" not in answer.thought
    assert answer.description == "I tapped on the search bar to begin searching for Musk."
    assert answer.calls == (("mobile_use", {"action": "click", "coordinate": [447, 81]}),)
    with pytest.raises(ActionError, match="unknown function 'mobile_use'"):  # a phone's tool is not ours
        computer_use.read_call(*answer.calls[0])
    (call,) = computer_use.parse_answer(real.QWEN25_MOBILE.text).calls
    with pytest.raises(ActionError, match="computer_use"):
        computer_use.read_call(*call)


def test_a_computer_use_click_from_documentation():
    (call,) = computer_use.parse_answer(real.GUI_PLUS_CLICK.text).calls
    parsed = computer_use.read_call(*call)
    assert parsed == computer_use.ComputerUseCall("left_click", coordinate=(2530.0, 314.0))
    assert computer_use.to_action(parsed, same) == click(2530, 314)
    assert parsed.coordinate[0] < real.GUI_PLUS_SCREEN[0] and parsed.coordinate[1] < real.GUI_PLUS_SCREEN[1]


@pytest.mark.parametrize("arguments, expected", [
    ({"action": "left_click", "coordinate": [10, 20]}, click(10, 20)),
    ({"action": "right_click", "coordinate": [10, 20]}, right_click(10, 20)),
    ({"action": "middle_click", "coordinate": [10, 20]}, middle_click(10, 20)),
    ({"action": "double_click", "coordinate": [10.4, 19.6]}, double_click(10, 20)),
    ({"action": "left_click_drag", "start_coordinate": [1, 2], "coordinate": [30, 40]}, drag(1, 2, 30, 40)),
    ({"action": "scroll", "pixels": -500}, scroll(0, -5)),  # positive is up; 100 pixels a notch
    ({"action": "scroll", "pixels": 30, "coordinate": [5, 6]}, scroll(0, 1, at=(5, 6))),  # at least a notch
    ({"action": "hscroll", "pixels": 200}, scroll(2, 0)),
    ({"action": "key", "keys": ["ctrl", "s"]}, hotkey("ctrl", "s")),
    ({"action": "key", "keys": ["Return"]}, press_key("enter")),
    ({"action": "key", "keys": "ctrl+shift+t"}, hotkey("ctrl", "shift", "t")),
    ({"action": "type", "text": "report\n"}, type_text("report\n")),
    ({"action": "wait", "time": 2}, WAIT),
    ({"action": "wait"}, WAIT),
    ({"action": "terminate", "status": "success"}, FINISH),
    ({"action": "terminate", "status": "failure"}, FAIL),
    ({"action": "answer", "text": "42"}, FINISH),
])
def test_computer_use_actions(arguments, expected):
    assert computer_use.to_action(computer_use.read_call("computer_use", arguments), same) == expected
    assert computer_use.to_action(computer_use.read_call("computer_use", json.dumps(arguments)), same) == expected


@pytest.mark.parametrize("arguments, problem", [
    ({"action": "teleport", "coordinate": [1, 2]}, "unknown computer_use action 'teleport'"),
    ({}, "unknown computer_use action None"),
    ({"action": "left_click"}, "needs coordinate"),  # never a click at (0, 0) or wherever the pointer is
    ({"action": "left_click", "coordinate": [1, 2], "button": "left"}, "does not take button"),
    ({"action": "left_click", "coordinate": [1]}, r"must be \[x, y\]"),
    ({"action": "left_click", "coordinate": ["a", 2]}, "must be a number"),
    ({"action": "left_click", "coordinate": [True, 2]}, "must be a number"),
    ({"action": "left_click", "coordinate": [float("nan"), 2]}, "must be a number"),
    ({"action": "left_click_drag", "coordinate": [1, 2]}, "needs start_coordinate"),
    ({"action": "mouse_move", "coordinate": [1, 2]}, "moving the pointer alone"),
    ({"action": "triple_click", "coordinate": [1, 2]}, "triple_click is not available"),
    ({"action": "scroll", "pixels": 0}, "does nothing"),
    ({"action": "scroll"}, "needs pixels"),
    ({"action": "key", "keys": []}, "key needs keys"),
    ({"action": "key", "keys": ["ctrl", "hyperdrive"]}, "unknown key name"),
    ({"action": "type", "text": ""}, "non-empty text"),
    ({"action": "terminate", "status": "done"}, "status must be one of"),
    ("{'action': 'wait'}", "not valid JSON"),
    ("[1, 2]", "must be an object"),
])
def test_computer_use_refusals(arguments, problem):
    with pytest.raises(ActionError, match=problem):
        computer_use.read_call("computer_use", arguments)


def test_a_thinking_answer_keeps_its_reasoning_out_of_the_call():
    # Qwen3-VL-Thinking's template opens <think> in the prompt, so the answer starts inside it
    answer = computer_use.parse_answer("The Save button is top left.\n</think>\n\n" + real.QWEN3_COMPUTER.text)
    assert answer.description == "Click the search bar at the top of the page."
    assert answer.thought == "The Save button is top left." and len(answer.calls) == 1


def test_computer_use_answers_without_one_good_call():
    assert computer_use.parse_answer("I am not sure what to do.").calls == ()
    with pytest.raises(ActionError, match="not valid JSON"):
        computer_use.parse_answer('<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_cl')
    with pytest.raises(ActionError, match="must hold"):
        computer_use.parse_answer("<tool_call>[1, 2]</tool_call>")
    two = computer_use.parse_answer(real.GUI_PLUS_CLICK.text * 2)
    assert len(two.calls) == 2  # the planner refuses several calls


def test_mapping_is_the_callers_and_may_refuse():
    points: list = []
    call = computer_use.read_call("computer_use", {"action": "left_click_drag", "start_coordinate": [1, 2],
                                                   "coordinate": [3, 4]})
    computer_use.to_action(call, record(points))
    assert points == [(1.0, 2.0), (3.0, 4.0)]

    def off(x: float, y: float) -> tuple[int, int]:
        raise ValueError("off the image")
    with pytest.raises(ValueError):
        computer_use.to_action(computer_use.read_call("computer_use", {"action": "left_click", "coordinate": [1, 2]}), off)


@pytest.mark.parametrize("action", [
    click(3, 4), right_click(3, 4), middle_click(3, 4), double_click(3, 4), drag(1, 2, 3, 4), scroll(0, -3),
    scroll(0, 2, at=(5, 6)), scroll(4, 0), hotkey("ctrl", "shift", "s"), press_key("page_down"), type_text("a\nb"),
    WAIT, FINISH, FAIL,
])
def test_computer_use_calls_round_trip(action):
    call = computer_use.format_call(action)
    assert computer_use.to_action(computer_use.read_call(call["name"], json.dumps(call["arguments"])), same) == action


def test_computer_use_has_no_words_for_a_question():
    assert computer_use.format_call(call_user("Which file?")) is None


def test_the_schema_lists_exactly_the_actions_read_call_accepts():
    schema = computer_use.function_schema((1000, 1000))["function"]
    assert schema["name"] == "computer_use" and "1000" in schema["description"]
    assert schema["parameters"]["properties"]["action"]["enum"] == list(computer_use.COMPUTER_USE_ACTIONS)
    arguments = {name for required, optional in computer_use.COMPUTER_USE_ACTIONS.values() for name in required | optional}
    assert set(schema["parameters"]["properties"]) == arguments | {"action"}


# ---- OpenCUA ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, expected", [
    (real.OPENCUA_L1_CLICK, click(436, 265)),  # 0..1 mapped by a caller that scales by 1000
    (real.OPENCUA_WRITE, type_text("Manchester, GB")),
    (real.OPENCUA_SCROLL, scroll(0, -5)),
    (real.OPENCUA_TERMINATE, FINISH),
    (real.OPENCUA_L2_SCROLL_AT, scroll(0, -12, at=(894, 351))),
])
def test_opencua_answers_from_its_website(answer, expected):
    parsed = opencua.parse_opencua(answer.text)
    assert opencua.to_action(parsed.calls, lambda x, y: (round(x * 1000), round(y * 1000))) == expected, answer.source
    assert parsed.description and "## " not in parsed.description
    if "## Thought:" in answer.text:
        assert parsed.thought.startswith("After clicking on the \"View PDF\" link") and "```" not in parsed.thought


def test_opencua_grounding_answer_in_pixels():
    parsed = opencua.parse_opencua(real.OPENCUA_GROUNDING.text)
    assert parsed.thought == "" and opencua.to_action(parsed.calls, same) == click(1443, 343)


@pytest.mark.parametrize("answer, expected", [
    (real.AGENTNET_DRAG, drag(328, 470, 502, 604)),
    (real.AGENTNET_HOTKEY, hotkey("ctrl", "c")),
    (real.AGENTNET_WRITE_ENTER, type_text("SPOTIFY\n")),  # typing that ends with Enter
    (real.AGENTNET_RIGHT_CLICK, right_click(615, 534)),
])
def test_agentnet_code_syntax(answer, expected):
    calls = opencua.parse_code(answer.text)
    assert opencua.to_action(calls, lambda x, y: (round(x * 1000), round(y * 1000))) == expected, answer.source


@pytest.mark.parametrize("code, expected", [
    ("pyautogui.click(745, 438)", click(745, 438)),
    ("pyautogui.click(x=10, y=20, button='right')", right_click(10, 20)),
    ("pyautogui.click(x=10, y=20, clicks=2)", double_click(10, 20)),
    ("pyautogui.doubleClick(x=10, y=20)", double_click(10, 20)),
    ("pyautogui.middleClick(x=10, y=20)", middle_click(10, 20)),
    ("pyautogui.scroll(3, x=5, y=6)", scroll(0, 3, at=(5, 6))),
    ("pyautogui.hscroll(-2)", scroll(-2, 0)),
    ("pyautogui.press(keys=['pgdn'])", press_key("page_down")),
    ("pyautogui.press('esc')", press_key("esc")),
    ("pyautogui.hotkey('ctrl', 'shift', 't')", hotkey("ctrl", "shift", "t")),
    ("pyautogui.typewrite(message='it\\'s')", type_text("it's")),
    ("computer.wait()", WAIT),
    ("computer.terminate(status='failure')", FAIL),
])
def test_opencua_calls(code, expected):
    assert opencua.to_action(opencua.parse_code(code), same) == expected


@pytest.mark.parametrize("code, problem", [
    ("os.system('rm -rf ~')", "os.system is not an allowed call"),
    ("import os", "not an allowed call"),
    ("__import__('os').system('ls')", "not an allowed call"),
    ("pyautogui.click(x=__import__('os').getpid(), y=2)", "plain values"),
    ("pyautogui.click(x=1 + 2, y=2)", "plain values"),
    ("pyautogui.click(**{'x': 1, 'y': 2})", "written out"),
    ("pyautogui.click(x=open('/etc/passwd'), y=2)", "plain values"),
    ("getattr(pyautogui, 'click')(1, 2)", "not an allowed call"),
    ("pyautogui.click.__globals__['os'].system('ls')", "not an allowed call"),
    ("x = pyautogui.click(1, 2)", "not an allowed call"),
    ("pyautogui.click()", "needs numbers x and y"),  # never a click where the pointer happens to be
    ("pyautogui.click(x=10)", "needs numbers x and y"),
    ("pyautogui.click(x='10', y=2)", "needs numbers x and y"),
    ("pyautogui.click(x=1, y=2, speed=3)", "does not take 'speed'"),
    ("pyautogui.click(1, 2, x=3)", "twice"),
    ("pyautogui.click(x=1, y=2, clicks=3)", "not available"),
    ("computer.triple_click(x=1, y=2)", "not available"),
    ("pyautogui.tripleClick(1, 2)", "not available"),
    ("pyautogui.dragTo(5, 6)", "not an action by itself"),
    ("pyautogui.moveTo(5, 6)", "not an action by itself"),
    ("pyautogui.click(1, 2)\npyautogui.write(message='x')", "2 calls in one step"),
    ("pyautogui.moveTo(1, 2)\npyautogui.scroll(-3)\ncomputer.wait()", "3 calls"),
    ("pyautogui.write(message='x')\npyautogui.press(keys=['tab'])", "only press"),
    ("pyautogui.press(keys=['a', 'b'])", "press takes one key"),
    ("pyautogui.scroll(0)", "other than 0"),
    ("pyautogui.scroll(-2.5)", "whole number"),
    ("pyautogui.write(message='')", "text to type"),
    ("computer.terminate(status='done')", "success' or 'failure"),
    ("pyautogui.click(1, 2", "not valid Python"),
    ("", "empty"),
    ("pyautogui.write(message='" + "a" * 3000 + "')", "characters long"),
])
def test_opencua_code_outside_the_grammar_is_refused(code, problem):
    with pytest.raises(ActionError, match=problem):
        opencua.to_action(opencua.parse_code(code), same)


def test_opencua_answers_without_code():
    with pytest.raises(ActionError, match="no code"):
        opencua.parse_opencua("## Thought:\nI should click Save.\n\n## Action:\nClick Save.")
    with pytest.raises(ActionError, match="empty answer"):
        opencua.parse_opencua("  ")
    # the last block counts
    two = "```python\ncomputer.wait()\n```\nOn second thought:\n```python\npyautogui.click(x=1, y=2)\n```"
    assert opencua.to_action(opencua.parse_opencua(two).calls, same) == click(1, 2)


@pytest.mark.parametrize("action", [
    click(3, 4), right_click(3, 4), middle_click(3, 4), double_click(3, 4), drag(1, 2, 3, 4), scroll(0, -3),
    scroll(0, 2, at=(5, 6)), scroll(-4, 0), hotkey("ctrl", "c"), press_key("page_down"), type_text("it's\n"),
    WAIT, FINISH, FAIL,
])
def test_opencua_code_round_trips(action):
    assert opencua.to_action(opencua.parse_code(opencua.format_code(action)), same) == action


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
def test_any_typed_text_survives_opencua_code(text):
    code = opencua.format_code(type_text(text))
    assert opencua.to_action(opencua.parse_code(code), same) == type_text(text)


# ---- grounders' point answers -----------------------------------------------------------------------


@pytest.mark.parametrize("answer, convention, points", [
    (real.MOLMO2_POINTS, "norm1000", [(308, 305), (752, 377)]),
    (real.MOLMO2_COUNT, "norm1000", [(73, 160), (173, 600), (258, 725), (323, 735), (353, 160)]),
    (real.MOLMO1_POINT, "molmo_percent", [(35.4, 61.2)]),
    (real.QWEN3_GROUNDING, "norm1000", [(745, 312)]),
    (real.OPENCUA_GROUNDING, "uitars_resized", [(1443, 343)]),
    (real.GUI_PLUS_CLICK, "absolute", [(2530, 314)]),
    (real.UITARS_BBOX_ZH, "norm1000", [(637, 964)]),
    (real.UITARS_FULLWIDTH_COLON, "norm1000", [(191, 21)]),
])
def test_grounder_answers_give_their_points(answer, convention, points):
    assert parse_points(answer.text, convention) == [tuple(map(float, p)) for p in points], answer.source


def test_point_answers_outside_the_range_are_dropped():
    assert parse_points(real.GUI_PLUS_CLICK.text, "norm1000") == []  # 2530 is not in 0..1000
    assert parse_points('<points coords="1 1 308 305 2 1752 377">x</points>', "norm1000") == [(308.0, 305.0)]
    assert parse_points('<points coords="1 1 308 305 2">x</points>') == []  # not triplets: not read shifted
    assert parse_points("pyautogui.click(x=0.5, y=0.25)", "norm1") == [(0.5, 0.25)]
    assert parse_points("pyautogui.click(x=1.5, y=0.25)", "norm1") == []
