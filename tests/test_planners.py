"""Planners against a real loopback OpenAI server (ScriptedServer) and OpenAICompatibleModel."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from grounding.coordinates import from_screen, smart_resize
from models.images import fit_to_pixels, image_from_data_url
from models.backends.openai_compat import OpenAICompatibleModel
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer
from pcagent.agent.types import HistoryItem, PlanContext, PlanningError
from pcagent.agent.planners import PromptPlanner, UITarsPlanner, make_planner
from tracker.format.actions import (FINISH, WAIT, call_user, click, click_element, double_click, drag, hotkey,
                             press_key, right_click, scroll, type_text)

SCREEN = (1280, 800)


@contextmanager
def scripted(*responses: str | dict, **profile_options) -> Iterator[tuple[ScriptedServer, OpenAICompatibleModel]]:
    """A scripted server answering `responses` (text, or whole script entries) and a model talking to it."""
    with ScriptedServer([r if isinstance(r, dict) else {"response": r} for r in responses]) as server:
        profile = ModelProfile(name="t", backend="openai", base_url=server.base_url, model="scripted",
                               max_retries=0, **profile_options)
        with OpenAICompatibleModel(profile) as model:
            yield server, model


def context(task: str = "Save the report", **fields) -> PlanContext:
    return PlanContext(task=task, screenshot=Image.new("RGB", SCREEN, (200, 210, 220)), **fields)


def sent_images(body: dict) -> list[Image.Image]:
    return [image_from_data_url(part["image_url"]["url"]) for message in body["messages"]
            if isinstance(message["content"], list) for part in message["content"] if part["type"] == "image_url"]


def all_text(body: dict) -> str:
    texts = []
    for message in body["messages"]:
        content = message["content"]
        texts += [content] if isinstance(content, str) else [p["text"] for p in content if p["type"] == "text"]
    return "\n".join(texts)


# ---- planner + grounder ---------------------------------------------------------------------------


def test_planner_grounder_request_holds_task_history_feedback_and_a_fitted_screenshot():
    history = [HistoryItem("agent", "click element: the File menu", "I open the File menu."),
               HistoryItem("human", "press key: esc", note="the user closed the menu"),
               HistoryItem("agent", "click element: the Delete button", "I delete it.", note="rejected by the user")]
    ctx = context(history=history, feedback=["the element 'Save as' was not found",
                                             "the user did: press key: esc",
                                             "do not repeat the rejected action click element: the Delete button"])
    answer = "<thought>The File menu is closed; I open it again to reach Save.</thought>\n\nAction: click element: the File menu in the menu bar"
    with scripted({"response": answer, "usage": {"prompt_tokens": 900, "completion_tokens": 30}}) as (server, model):
        out = PromptPlanner(model, image_max_pixels=640 * 400).plan(ctx)
        body = server.requests[0]
    assert out.action == click_element("the File menu in the menu bar")
    assert out.thought == "The File menu is closed; I open it again to reach Save."
    assert out.raw == answer and out.usage == {"prompt_tokens": 900, "completion_tokens": 30}
    assert out.model_latency_s > 0 and out.details["sent_size"] == [640, 400]
    system, user = body["messages"]
    assert system["role"] == "system" and "click element: <description>" in system["content"]
    assert "click (x, y)" not in system["content"]
    text = all_text(body)
    assert "Task: Save the report" in text
    assert "Step 1 (yours):\nI open the File menu.\nAction: click element: the File menu" in text
    assert "Step 2 (done by the user) — note: the user closed the menu:\nAction: press key: esc" in text
    assert "Step 3 (yours) — REJECTED by the user" in text
    for line in ctx.feedback:
        assert f"- {line}" in text
    [image] = sent_images(body)
    assert image.size == (640, 400)


def test_history_is_cut_to_the_last_steps():
    history = [HistoryItem("agent", f"type text: step{i}") for i in range(1, 13)]
    with scripted("Action: wait") as (server, model):
        assert PromptPlanner(model, history_steps=3).plan(context(history=history)).action == WAIT
        text = all_text(server.requests[0])
    assert "(9 earlier steps not shown)" in text and "Step 10 (yours)" in text and "Step 12" in text
    assert "step9" not in text


@pytest.mark.parametrize("answer, action", [
    ("I need the file.\n\nAction: double click element: the 'report.txt' file",
     click_element("the 'report.txt' file", "double_click")),
    ("Thought: scroll down.\nAction: scroll (0, -5)", scroll(0, -5)),
    ("Done.\nAction: finish", FINISH),
    ("Ask.\nAction: call user: Which folder should I use?", call_user("Which folder should I use?")),
    ("```\nThinking.\nAction: hotkey (ctrl, s)\n```", hotkey("ctrl", "s")),
    ("**Action:** press key: enter", press_key("enter")),
    ("Type it.\nAction: `type text: hello world`", type_text("hello world")),
    ("Type two lines.\nAction: type text: first\nsecond", type_text("first\nsecond")),
])
def test_planner_grounder_parses_the_action_line(answer, action):
    with scripted(answer) as (_, model):
        assert PromptPlanner(model).plan(context()).action == action


# ---- end to end -----------------------------------------------------------------------------------


def test_end_to_end_maps_points_from_the_sent_image_to_the_screen():
    # 1280x800 sent at a quarter of the pixels: 640x400, so every coordinate doubles
    answer = "The Save button is at the bottom right.\nAction: click (600, 380)"
    with scripted(answer) as (server, model):
        out = PromptPlanner(model, kind="end-to-end", image_max_pixels=640 * 400).plan(context())
        body = server.requests[0]
    assert out.action == click(1200, 760)
    assert out.details["model_point"] == [600.0, 380.0] and out.details["sent_size"] == [640, 400]
    assert sent_images(body)[0].size == (640, 400)
    assert "click (x, y)" in body["messages"][0]["content"] and "640 x 400" in body["messages"][0]["content"]
    assert "click element" not in body["messages"][0]["content"]


def test_end_to_end_adds_the_screen_origin_and_maps_drags_and_history():
    history = [HistoryItem("human", "click (-1000, 400)"),  # screen pixels on a monitor left of the primary
               HistoryItem("agent", "scroll (0, -3) at (-1000, 400)")]
    answer = "Drag it.\nAction: drag from (10, 20) to (300.5, 399)"
    with scripted(answer) as (server, model):
        planner = PromptPlanner(model, kind="end-to-end", image_max_pixels=640 * 400)
        out = planner.plan(context(history=history, screen_origin=(-1280, 0)))
        text = all_text(server.requests[0])
    assert out.action == drag(-1260, 40, -679, 798)
    assert out.details["model_end"] == [300.5, 399.0]
    assert "Action: click (140, 200)" in text  # history shown in the model's own coordinates
    assert "Action: scroll (0, -3) at (140, 200)" in text  # the notches stay notches


def test_a_scroll_at_a_point_maps_the_point_and_not_the_notches():
    answer = "The list is on the left.\nAction: scroll (0, -3) at (100, 50)"
    with scripted(answer) as (_, model):
        out = PromptPlanner(model, kind="end-to-end", image_max_pixels=640 * 400).plan(context())
    assert out.action == scroll(0, -3, at=(200, 100)) and out.details["model_point"] == [100.0, 50.0]


def test_budget_of_the_profile_wins_when_smaller():
    with scripted("Action: click (100, 100)", image_max_pixels=320 * 200) as (server, model):
        out = PromptPlanner(model, kind="end-to-end", image_max_pixels=640 * 400).plan(context())
        assert sent_images(server.requests[0])[0].size == (320, 200)
    assert out.action == click(400, 400)


def test_norm1000_convention():
    with scripted("Action: right click (500, 250)") as (_, model):
        out = PromptPlanner(model, kind="end-to-end", convention="norm1000").plan(context())
    assert out.action == right_click(640, 200)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, SCREEN[0] - 1), st.integers(0, SCREEN[1] - 1), st.sampled_from([500_000, 300_000, 123_456]))
def test_random_points_come_back_within_two_pixels(px, py, budget):
    # what a perfect model would answer: the point in the sent image's pixels, rounded to integers
    sent_size = fit_to_pixels(context().screenshot, budget)[0].size
    mx, my = from_screen(px, py, "absolute", SCREEN, sent_size)
    with scripted(f"There.\nAction: click ({round(mx)}, {round(my)})") as (_, model):
        probe = PromptPlanner(model, kind="end-to-end", image_max_pixels=budget)
        x, y = probe.plan(context()).action.point
    assert abs(x - px) <= 2 and abs(y - py) <= 2


# ---- rejection --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, answer, feedback", [
    ("planner+grounder", "", "empty"),
    ("planner+grounder", "   \n", "empty"),
    ("planner+grounder", "I think I should click Save.", "no 'Action:' line"),
    ("planner+grounder", "Lorem ipsum dolor sit amet", "no 'Action:' line"),
    ("end-to-end", "Action: click (12,", "not a valid action"),
    ("end-to-end", "Action: click (12, 40)\nAction: type text: hi", "2 actions"),
    ("end-to-end", "Action: click (12, 40)\ntype text: hi", "exactly one action"),
    ("end-to-end", "Action: click (12, 40)\nThat should open it.", "nothing after"),
    ("end-to-end", "Action: click (x, y)", "placeholder"),
    ("planner+grounder", "Action: drag from (x1, y1) to (x2, y2)", "placeholder"),
    ("planner+grounder", "Action: click element: <description>", "placeholder"),
    ("end-to-end", "Action: click (1500, 200)", "off the screenshot"),
    ("end-to-end", "Action: click (-3, 200)", "off the screenshot"),
    ("end-to-end", "Action: drag from (10, 10) to (10, 9000)", "off the screenshot"),
    ("end-to-end", "Action: click element: the Save button", "coordinates"),
    ("planner+grounder", "Action: click (10, 10)", "name the target"),
    ("planner+grounder", "Action: pyautogui.click(10, 10)", "not a valid action"),
    ("planner+grounder", "Action: ", "empty"),
    ("planner+grounder", "Action: fly to the moon", "not a valid action"),
    ("end-to-end", "Action: type text: rm -rf ~\x1b[2K\rtype text: hello", "control characters"),
    ("planner+grounder", "Action: click element: the \u202eSave button", "control characters"),
])
def test_bad_answers_raise_planning_error_with_feedback(kind, answer, feedback):
    with scripted(answer) as (_, model):
        with pytest.raises(PlanningError) as caught:
            PromptPlanner(model, kind=kind).plan(context())
    assert feedback in caught.value.feedback and caught.value.raw == answer


def test_a_truncated_answer_says_so():
    with scripted({"response": "Action: click (12,", "finish_reason": "length"}) as (_, model):
        with pytest.raises(PlanningError) as caught:
            PromptPlanner(model, kind="end-to-end").plan(context())
    assert "not a valid action" in caught.value.feedback and "cut off" in caught.value.feedback


# ---- UI-TARS ----------------------------------------------------------------------------------------


def uitars_point(px: int, py: int, sent_size: tuple[int, int]) -> tuple[int, int]:
    """A screen pixel as UI-TARS 1.5 would write it: pixels of the smart-resized sent image."""
    mx, my = from_screen(px, py, "uitars_resized", SCREEN, sent_size)
    return round(mx), round(my)


@pytest.mark.parametrize("template, expected", [
    ("Thought: Save is there.\nAction: click(start_box='({x},{y})')", click(900, 500)),
    ("Thought: t\nAction: click(start_box='<|box_start|>({x},{y})<|box_end|>')", click(900, 500)),
    ("Thought: t\nAction: left_double(point='<point>{x} {y}</point>')", double_click(900, 500)),
    ("Thought: t\nAction: right_single(start_box='({x},{y})')", right_click(900, 500)),
])
def test_uitars_points_map_to_the_screen(template, expected):
    sent = (640, 400)
    x, y = uitars_point(900, 500, sent)
    with scripted(template.format(x=x, y=y)) as (server, model):
        out = UITarsPlanner(model, image_max_pixels=640 * 400).plan(context())
        assert sent_images(server.requests[0])[0].size == sent
    assert abs(out.action.point[0] - 900) <= 2 and abs(out.action.point[1] - 500) <= 2
    assert out.action.kind == expected.kind
    assert out.details["convention"] == "uitars_resized" and out.details["model_point"] == [float(x), float(y)]
    assert smart_resize(*sent, min_pixels=100 * 28 * 28, max_pixels=16384 * 28 * 28) == (644, 392)


@pytest.mark.parametrize("answer, action", [
    ("Thought: copy.\nAction: hotkey(key='ctrl c')", hotkey("ctrl", "c")),
    ("Thought: type.\nAction: type(content='report\\n')", type_text("report\n")),
    ("Thought: down.\nAction: scroll(start_box='(100,100)', direction='down')", scroll(0, -5)),
    ("Thought: left.\nAction: scroll(start_box='(100,100)', direction='left')", scroll(-5, 0)),
    ("Thought: wait.\nAction: wait()", WAIT),
    ("Thought: done.\nAction: finished(content='saved')", FINISH),
    ("Thought: Which folder do you want?\nAction: call_user()", call_user("Which folder do you want?")),
])
def test_uitars_actions_become_canonical(answer, action):
    with scripted(answer) as (_, model):
        planned = UITarsPlanner(model).plan(context()).action
    if action.kind == "scroll":  # over start_box, mapped to the screen (test_uitars_points_map_to_the_screen)
        assert planned.point is not None and planned.delta == action.delta
        planned = scroll(*planned.delta)
    assert planned == action


def test_uitars_drag_and_request():
    history = [HistoryItem("agent", "click (640, 400)", "I focus the window.")]
    sent = (1280, 800)
    (x1, y1), (x2, y2) = uitars_point(100, 100, sent), uitars_point(700, 600, sent)
    answer = f"Thought: move it.\nAction: drag(start_box='({x1},{y1})', end_box='({x2},{y2})')"
    with scripted(answer) as (server, model):
        out = make_planner("uitars", model).plan(context("Move the card", history=history, feedback=["it moved"]))
        text = all_text(server.requests[0])
    assert out.action.kind == "drag"
    assert max(abs(a - b) for a, b in zip(out.action.point + out.action.end, (100, 100, 700, 600))) <= 2
    assert "Move the card" in text and "click(start_box=" in text and "- it moved" in text
    # history in UI-TARS syntax and model space: 1280x800 is smart-resized to 1288x812
    assert "Action: click(start_box='(644,406)')" in text


@pytest.mark.parametrize("answer, feedback", [
    ("", "empty"), ("Thought: hmm", "no 'Action:' line"), ("Action: click(start_box='(12,", "unterminated"),
    ("Action: click(start_box='(1,2)')\n\nhotkey(key='enter')", "several actions"),
    ("Action: click(start_box='(5000,20)')", "off the screenshot"), ("Action: teleport()", "unknown"),
])
def test_uitars_garbage_raises_planning_error(answer, feedback):
    with scripted(answer) as (_, model):
        with pytest.raises(PlanningError) as caught:
            UITarsPlanner(model).plan(context())
    assert feedback in caught.value.feedback


# ---- factory ----------------------------------------------------------------------------------------


def test_make_planner():
    with scripted() as (_, model):
        assert make_planner("end-to-end", model, history_steps=4).history_steps == 4
        assert make_planner("planner+grounder", model).kind == "planner+grounder"
        assert isinstance(make_planner("uitars", model), UITarsPlanner)
        assert make_planner("uitars", model).kind == "end-to-end" and make_planner("uitars", model).name == "t"
        with pytest.raises(ValueError, match="unknown planner kind"):
            make_planner("oracle", model)
        with pytest.raises(ValueError):
            PromptPlanner(model, convention="inches")
