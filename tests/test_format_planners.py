"""The planner a profile asks for (action_format, output_convention), end to end against a real loopback
OpenAI server: what each format's request carries, and the canonical action in screen pixels that comes back
for each coordinate convention. Answers are the real ones in tests/model_outputs.py where they exist."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from grounding.coordinates import from_screen, to_screen
from models.errors import ModelConfigError
from models.profiles import load_profiles
from pcagent.agent.planners import (OpenCUAPlanner, PromptPlanner, QwenPlanner, UITarsPlanner, make_planner,
                                    planner_kind)
from pcagent.agent.types import HistoryItem, PlanContext, PlanningError
from tests import model_outputs as real
from tests.test_planners import all_text, context, scripted, sent_images
from tracker.format.actions import FINISH, click, drag, hotkey, scroll, type_text


def plan(answers, *, screen=(1280, 800), history=(), **profile):
    """Plan one step with the planner the profile asks for; (output, request body, planner)."""
    shot = PlanContext("Open the browser", Image.new("RGB", screen, (200, 210, 220)), history=list(history))
    with scripted(*answers, **profile) as (server, model):
        planner = make_planner(None, model)
        output = planner.plan(shot)
        return output, server.requests[0], planner


def near(point, expected, slack=2):
    return abs(point[0] - expected[0]) <= slack and abs(point[1] - expected[1]) <= slack


# ---- which planner, which convention ---------------------------------------------------------------


@pytest.mark.parametrize("profile, planner_type, kind, convention", [
    ({}, PromptPlanner, "planner+grounder", "absolute"),
    ({"output_convention": "absolute"}, PromptPlanner, "end-to-end", "absolute"),  # PC Agent-E: our grammar, points
    ({"output_convention": "norm1000"}, PromptPlanner, "end-to-end", "norm1000"),
    ({"action_format": "uitars"}, UITarsPlanner, "end-to-end", "uitars_resized"),
    ({"action_format": "uitars", "output_convention": "norm1000"}, UITarsPlanner, "end-to-end", "norm1000"),
    ({"action_format": "qwen_computer_use", "output_convention": "norm1000"}, QwenPlanner, "end-to-end", "norm1000"),
    ({"action_format": "opencua"}, OpenCUAPlanner, "end-to-end", "uitars_resized"),
    ({"action_format": "opencua", "output_convention": "norm1"}, OpenCUAPlanner, "end-to-end", "norm1"),
    ({"action_format": "tool_calls"}, QwenPlanner, "end-to-end", "absolute"),
])
def test_the_profile_picks_the_planner_and_its_coordinates(profile, planner_type, kind, convention):
    with scripted(**profile) as (_, model):
        planner = make_planner(None, model)
    assert type(planner) is planner_type and planner.kind == kind and planner.convention == convention


def test_planner_kind_overrides_the_format_but_keeps_the_profiles_convention():
    with scripted(action_format="uitars", output_convention="norm1000") as (_, model):
        assert isinstance(make_planner("end-to-end", model), PromptPlanner)
        assert make_planner("end-to-end", model).convention == "norm1000"
        assert make_planner("planner+grounder", model).kind == "planner+grounder"
        assert make_planner("qwen_computer_use", model).transport == "text"
        assert make_planner("opencua", model, convention="absolute").convention == "absolute"
        assert make_planner("ui-tars", model).convention == "norm1000"
    assert planner_kind(None) == "planner+grounder"


def test_formats_that_cannot_work_are_refused_before_the_run():
    with scripted(action_format="qwen_computer_use") as (_, model):
        with pytest.raises(ValueError, match="needs output_convention.*Qwen2.5-VL.*Qwen3-VL"):
            make_planner(None, model)
        with pytest.raises(ValueError, match="unknown planner kind"):
            make_planner("telepathy", model)

    class TextOnlyModel:  # a backend whose generate takes no tools (transformers, onnx)
        name, profile = "local", None

        def generate(self, messages, *, max_tokens=None, temperature=None, stop=None): ...

    with pytest.raises(ValueError, match="tool_calls format needs a backend"):
        make_planner("tool_calls", TextOnlyModel())


def test_profiles_file_takes_action_format_and_checks_it(tmp_path, monkeypatch):
    path = tmp_path / "models.toml"
    path.write_text('[profiles.q]\naction_format = "qwen_computer_use"\noutput_convention = "norm1000"\n')
    assert load_profiles(path)["q"].action_format == "qwen_computer_use"
    monkeypatch.setenv("PCAGENT_PROFILE_Q_ACTION_FORMAT", "opencua")
    assert load_profiles(path)["q"].action_format == "opencua"
    path.write_text('[profiles.q]\naction_format = "claude"\n')
    monkeypatch.delenv("PCAGENT_PROFILE_Q_ACTION_FORMAT")
    with pytest.raises(ModelConfigError, match="field 'action_format': 'claude' is not one of pcagent, uitars"):
        load_profiles(path)


# ---- Qwen computer_use in the text ------------------------------------------------------------------


def test_qwen3_norm1000_request_and_action():
    history = [HistoryItem("agent", "scroll (0, -3) at (640, 400)", "I scroll the list.")]
    out, body, _ = plan([real.QWEN3_COMPUTER.text], history=history, action_format="qwen_computer_use",
                        output_convention="norm1000")
    assert out.action == click(572, 65)  # 447/1000 of 1280, 81/1000 of 800
    assert out.details["model_point"] == [447.0, 81.0] and out.details["convention"] == "norm1000"
    assert out.thought == "Click the search bar at the top of the page."
    system = body["messages"][0]["content"]
    assert "<tools>" in system and "<tool_call>" in system and "tools" not in body
    schema = json.loads(system.split("<tools>\n")[1].split("\n</tools>")[0])
    assert schema["function"]["name"] == "computer_use" and "to 1000 (right edge)" in schema["function"]["description"]
    # history in the model's own calls and coordinates
    assert ('{"name": "computer_use", "arguments": {"action": "scroll", "pixels": -300, "coordinate": [500, 500]}}'
            in all_text(body))


def test_qwen25_smart_resized_pixels():
    mx, my = from_screen(900, 500, "uitars_resized", (1280, 800), (640, 400))  # 640x400 becomes 644x392
    answer = ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "double_click", "coordinate": '
              f'[{round(mx)}, {round(my)}]}}}}\n</tool_call>')
    out, body, _ = plan([answer], action_format="qwen_computer_use", output_convention="uitars_resized",
                        image_max_pixels=640 * 400)
    assert out.action.kind == "double_click" and near(out.action.point, (900, 500))
    assert sent_images(body)[0].size == (640, 400) and "to 644 (right edge)" in body["messages"][0]["content"]


def test_a_documented_absolute_answer_on_its_own_screen_size_and_off_a_norm1000_frame():
    out, _, _ = plan([real.GUI_PLUS_CLICK.text], screen=real.GUI_PLUS_SCREEN, action_format="qwen_computer_use",
                     output_convention="absolute", image_max_pixels=3008 * 1758)
    assert out.action == click(2530, 314)
    with pytest.raises(PlanningError) as caught:
        plan([real.GUI_PLUS_CLICK.text], action_format="qwen_computer_use", output_convention="norm1000")
    assert "off the screenshot" in caught.value.feedback and "0..1000" in caught.value.feedback


@pytest.mark.parametrize("answer, feedback", [
    (real.QWEN3_MOBILE.text, "unknown function 'mobile_use'"),
    ("I will click the button.", "no computer_use call"),
    (real.GUI_PLUS_CLICK.text * 2, "2 calls"),
    ('<tool_call>{"name": "computer_use", "arguments": {"action": "left_click"}}</tool_call>', "needs coordinate"),
    ('<tool_call>{"name": "computer_use", "arguments": {"action": "mouse_move", "coordinate": [1, 2]}}</tool_call>',
     "moving the pointer alone"),
])
def test_qwen_answers_that_do_not_parse_get_feedback(answer, feedback):
    with pytest.raises(PlanningError) as caught:
        plan([answer], action_format="qwen_computer_use", output_convention="norm1000")
    assert feedback in caught.value.feedback and "<tool_call>" in caught.value.feedback


def test_qwen_answer_action_finishes_and_keeps_the_answer():
    answer = ('Action: Report the total.\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "answer", '
              '"text": "The total is 42."}}\n</tool_call>')
    out, _, _ = plan([answer], action_format="qwen_computer_use", output_convention="norm1000")
    assert out.action == FINISH and out.details["answer"] == "The total is 42." and "42" in out.thought


# ---- OpenAI-style tool_calls ------------------------------------------------------------------------


def test_tool_calls_send_the_schema_and_read_the_call():
    entry = {"response": "Action: Save the file.", "tool_calls": [
        {"name": "computer_use", "arguments": {"action": "left_click_drag", "start_coordinate": [10, 20],
                                               "coordinate": [300, 300]}}]}
    out, body, planner = plan([entry], action_format="tool_calls", image_max_pixels=640 * 400)
    assert planner.transport == "tool_calls"
    assert out.action == drag(20, 40, 600, 600)  # absolute pixels of the 640x400 copy
    (tool,) = body["tools"]
    assert tool["type"] == "function" and tool["function"]["name"] == "computer_use"
    assert "left_click_drag" in tool["function"]["parameters"]["properties"]["action"]["enum"]
    assert "to 640 (right edge)" in tool["function"]["description"]
    assert "<tools>" not in body["messages"][0]["content"]
    assert out.thought == "Save the file." and "<tool_call>" in out.raw and '"start_coordinate": [10, 20]' in out.raw


def test_tool_calls_from_a_server_without_a_tool_parser_come_in_the_text():
    answer = ('<tool_call>\n{"name": "computer_use", "arguments": {"action": "key", "keys": ["ctrl", "s"]}}\n'
              '</tool_call>')
    out, _, _ = plan([answer], action_format="tool_calls")
    assert out.action == hotkey("ctrl", "s")


def test_malformed_tool_call_arguments_are_fed_back():
    entry = {"tool_calls": [{"name": "computer_use", "arguments": '{"action": "type", "text": "hi'}]}
    with pytest.raises(PlanningError) as caught:
        plan([entry], action_format="tool_calls")
    assert "not valid JSON" in caught.value.feedback and '"text": "hi' in caught.value.raw


# ---- OpenCUA ----------------------------------------------------------------------------------------


def test_opencua_pixels_of_the_smart_resized_image():
    history = [HistoryItem("agent", "click (960, 540)", "I focus the window.")]
    out, body, _ = plan([real.OPENCUA_GROUNDING.text], screen=(1920, 1080), history=history,
                        action_format="opencua", image_max_pixels=1920 * 1080)
    assert out.action == click(*to_screen(1443, 343, "uitars_resized", (1920, 1080)))
    system = body["messages"][0]["content"]
    assert "## Code:" in system and "pyautogui.click(x=..., y=...)" in system and "1932 x 1092" in system
    assert "pyautogui.click(x=966, y=546)" in all_text(body)  # history as code, in the model's pixels


def test_opencua_fractions_with_a_norm1_profile():
    out, body, _ = plan([real.OPENCUA_L2_SCROLL_AT.text], action_format="opencua", output_convention="norm1")
    assert out.action == scroll(0, -12, at=(1145, 280))  # 0.894491 x 1280, 0.350554 x 800
    assert out.thought.startswith("After clicking on the \"View PDF\" link")
    assert out.details["action_description"].startswith("Scroll down") and out.details["convention"] == "norm1"
    assert "fractions from 0 to 1" in body["messages"][0]["content"]


def test_opencua_fractions_from_a_model_set_to_pixels_are_refused():
    with pytest.raises(PlanningError) as caught:  # they would all land in the top-left corner
        plan([real.OPENCUA_L1_CLICK.text], action_format="opencua")
    assert "fractions" in caught.value.feedback and 'output_convention = "norm1"' in caught.value.feedback


@pytest.mark.parametrize("code, feedback", [
    ("import os\nos.system('xdg-open https://example.com')", "not an allowed call"),
    ("pyautogui.click(x=5000, y=20)", "off the screenshot"),
    ("pyautogui.click()", "needs numbers x and y"),
])
def test_opencua_code_that_is_not_one_action_is_refused(code, feedback):
    with pytest.raises(PlanningError) as caught:
        plan([f"## Thought:\nGo.\n\n## Action:\nDo it.\n\n## Code:\n```python\n{code}\n```"], action_format="opencua")
    assert feedback in caught.value.feedback


def test_opencua_typing_then_enter_is_one_step():
    out, _, _ = plan(["## Action:\nSearch.\n\n## Code:\n```python\n" + real.AGENTNET_WRITE_ENTER.text + "\n```"],
                     action_format="opencua")
    assert out.action == type_text("SPOTIFY\n") and out.thought == "Search."


# ---- UI-TARS and our grammar, from the profile ------------------------------------------------------


def test_uitars_1_0_from_a_norm1000_profile():
    out, body, _ = plan([real.UITARS_1_0_BOX.text], action_format="uitars", output_convention="norm1000")
    assert out.action == click(634, 24) and out.details["convention"] == "norm1000"
    assert "click(start_box=" in all_text(body)


def test_pc_agent_e_answers_in_our_grammar():
    out, body, _ = plan([real.PC_AGENT_E_BRACES.text, real.PC_AGENT_E_SCROLL.text], output_convention="absolute")
    assert out.action == type_text("final.txt") and out.thought.startswith("The Save As dialog")
    assert "click (x, y)" in body["messages"][0]["content"]
    with scripted(real.PC_AGENT_E_SCROLL.text, output_convention="absolute") as (_, model):
        assert make_planner(None, model).plan(context()).action == scroll(0, -5)
