"""Action guards: the default rules, TOML extensions, and the guard model over a scripted server."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from grounding.base import Candidate, GroundingResult
from models.base import Message, ModelResponse
from models.errors import ModelConnectionError
from models.backends.openai_compat import OpenAICompatibleModel
from models.profile import ModelProfile
from models.scripted_server import ScriptedServer, last_user_text
from pcagent.agent.types import Proposal
from pcagent.collab.guards import (ActionGuard, GuardConfigError, GuardModel, GuardRules, looks_like_secret,
                            parse_hotkey)
from tracker.format.actions import Action, click, click_element, double_click, parse_action, right_click


def proposal(action: Action | str, planned: Action | str | None = None, label: str | None = None) -> Proposal:
    action = parse_action(action) if isinstance(action, str) else action
    planned = parse_action(planned) if isinstance(planned, str) else planned
    grounding = None
    if label is not None:
        grounding = GroundingResult.hit(Candidate(action.point, None, 0.9, label, "ocr"))
    return Proposal(index=0, thought="next step", action=action, planned=planned or action,
                    screenshot=Image.new("RGB", (16, 16), "gray"), grounding=grounding)


RULES = GuardRules()


# --- default rules ---

@pytest.mark.parametrize("text", ["hello world", "Meeting notes 2024-01-15 with Bob at 3pm",
                                  "/home/User/Documents/report2024.txt", "https://example.com/a/b?id=42",
                                  "4111 1111 1111 1112", "my-Long_file-name-2024-v2"])
def test_ordinary_text_passes(text):
    assert RULES.check(proposal(f"type text: {text}")) == []


@pytest.mark.parametrize("text, kind", [
    ("sk-proj-abcdefghijklmnop1234", "an OpenAI-style API key"),
    ("token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "a GitHub token"),
    ("AKIAIOSFODNN7EXAMPLE", "an AWS access key id"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=", "a PEM key or certificate"),
    ("4111 1111 1111 1111", "a payment card number"),
    ("5500-0000-0000-0004", "a payment card number"),
    ("aB3dE5gH7jK9mN1pQ3sT5vW7", "a long random-looking token"),
    ("3f786850e387550fdab836ed7e6dc881de23001b", "a long random-looking token"),
])
def test_secret_looking_text_needs_approval(text, kind):
    assert looks_like_secret(text) == kind
    reasons = RULES.check(proposal(Action("type_text", text=text)))
    assert reasons == [f"the typed text looks like {kind}"]
    assert text not in reasons[0]  # the secret is never echoed into the trajectory


def test_typing_into_a_password_field():
    assert RULES.check(proposal("type text: hunter2"), focused_role="password text") == [
        "types into a password field (password text)"]
    assert RULES.check(proposal("type text: hunter2"), focused_role="text") == []


def test_a_typed_line_break_is_maybe():
    assessment = RULES.assess(proposal(Action("type_text", text="see you\n")))
    assert assessment.risk == "maybe" and "line break" in assessment.reasons[0]


@pytest.mark.parametrize("keys, says", [
    (("alt", "f4"), "alt+f4 closes the window"), (("ctrl", "w"), "ctrl+w closes the tab or window"),
    (("ctrl", "q"), "ctrl+q quits the application"), (("shift", "delete"), "shift+delete deletes permanently"),
    (("delete", "shift", "ctrl"), "ctrl+shift+delete clears browsing data"),
    (("super", "l"), "super+l locks the screen (the agent cannot unlock it)"),
])
def test_closing_and_deleting_hotkeys(keys, says):
    assessment = RULES.assess(proposal(Action("hotkey", keys=keys)))
    assert assessment.risk == "always" and list(assessment.reasons) == [says]


@pytest.mark.parametrize("action", ["hotkey (ctrl, c)", "hotkey (ctrl, s)", "press key: enter", "scroll (0, -3)",
                                    "drag from (1, 2) to (3, 4)", "wait", "finish", "click (5, 5)"])
def test_everyday_actions_pass(action):
    assert RULES.assess(proposal(action)).risk == "never"


def test_delete_key_is_maybe():
    assessment = RULES.assess(proposal("press key: delete"))
    assert assessment.risk == "maybe" and "selection is unknown" in assessment.reasons[0]


@pytest.mark.parametrize("word", ["Delete", "Remove account", "Send", "Submit order", "Pay now", "Buy", "Purchase",
                                  "Confirm", "Empty Trash", "Format disk", "Uninstall", "Erase", "Discard changes",
                                  "Deleting files"])
def test_risky_words_on_the_target(word):
    by_description = RULES.assess(proposal(click(5, 5), planned=click_element(f"the {word} button")))
    by_label = RULES.assess(proposal(click(5, 5), label=word))
    by_name = RULES.assess(proposal(double_click(5, 5)), element_text=word)
    for assessment in (by_description, by_label, by_name):
        assert assessment.risk == "always", word
    assert "the planner's description" in by_description.reasons[0]
    assert "the ocr label" in by_label.reasons[0]
    assert "the element's name" in by_name.reasons[0]


def test_words_match_whole_words_only():
    for text in ("Model deletion history", "Sender", "Payment details", "Reformatted"):
        assert RULES.check(proposal(click(5, 5)), element_text=text) == [], text


def test_right_click_opens_a_menu_and_passes():
    assert RULES.check(proposal(right_click(5, 5)), element_text="Delete") == []


def test_replace_is_maybe_and_everyday_buttons_pass():
    assert RULES.assess(proposal(click(5, 5)), element_text="Replace").risk == "maybe"
    for label in ("OK", "Save", "Continue", "Yes", "Apply"):
        assert RULES.check(proposal(click(5, 5)), element_text=label) == []


# --- configuration ---

def test_toml_extends_the_defaults(tmp_path: Path):
    path = tmp_path / "guards.toml"
    path.write_text('[guards]\nextra_words = ["archive"]\nallow_words = ["remove filter"]\n'
                    'hotkeys = ["ctrl+shift+k", "F5"]\nallow_hotkeys = ["ctrl+w"]\ndisable = ["delete_key"]\n'
                    'maybe_words = ["next"]\n')
    rules = GuardRules.from_toml(path)
    assert rules.check(proposal(click(5, 5)), element_text="Archive") != []
    assert rules.check(proposal(click(5, 5)), element_text="Remove filter") == []
    assert rules.check(proposal(click(5, 5)), element_text="Remove") != []  # only the phrase is allowed
    assert rules.check(proposal("hotkey (ctrl, shift, k)")) == ["ctrl+shift+k listed in the guard configuration"]
    assert rules.check(proposal("press key: f5")) != []
    assert rules.check(proposal("hotkey (ctrl, w)")) == []
    assert rules.check(proposal("hotkey (alt, f4)")) != []
    assert rules.check(proposal("press key: delete")) == []
    assert rules.assess(proposal(click(5, 5)), element_text="Next").risk == "maybe"


@pytest.mark.parametrize("text, message", [
    ("[guards]\nextra_word = ['x']\n", "unknown key(s) extra_word in [guards]; keys are extra_words"),
    ("[guards]\nextra_words = 'x'\n", "[guards] extra_words must be a list of non-empty strings"),
    ("[guards]\nhotkeys = ['ctrl+banana']\n", "[guards] hotkeys: unknown key name 'banana'"),
    ("[guards]\nhotkeys = ['ctrl+']\n", "empty key name in 'ctrl+'"),
    ("[guards]\nallow_hotkeys = ['ctrl+c']\n", "allow_hotkeys: ctrl+c is not guarded by default"),
    ("[guards]\ndisable = ['typing']\n", "disable: unknown rule(s) typing; rules are password_field"),
    ("[other]\nx = 1\n", "no [guards] table"),
    ("[guards\n", "not valid TOML"),
])
def test_toml_errors_name_the_problem(tmp_path: Path, text, message):
    path = tmp_path / "guards.toml"
    path.write_text(text)
    with pytest.raises(GuardConfigError) as caught:
        GuardRules.from_toml(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(GuardConfigError, match="no such guard configuration file"):
        GuardRules.from_toml(tmp_path / "nope.toml")


def test_parse_hotkey():
    assert parse_hotkey("Ctrl+Shift+Del") == frozenset({"ctrl", "shift", "delete"})
    assert parse_hotkey("ctrl++") == frozenset({"ctrl", "+"})


# --- the guard model ---

def scripted_model(server: ScriptedServer) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(ModelProfile(name="g", backend="openai", base_url=server.base_url,
                                              model="scripted", max_retries=0))


@pytest.mark.parametrize("answer, risk, last_reason", [
    ("SAFE", "never", None),
    ("NEEDS_APPROVAL", "maybe", "the guard model says it needs approval"),
    ("Not safe.", "maybe", "the guard model says it needs approval"),
    ("The sky is blue", "maybe", "the guard model gave no clear answer ('The sky is blue')"),
])
def test_guard_model_decides_maybe_cases(answer, risk, last_reason):
    with ScriptedServer([{"response": answer}]) as server, scripted_model(server) as model:
        guard = ActionGuard(GuardRules(), GuardModel(model))
        assessment = guard.assess(proposal(click(5, 5), planned=click_element("the Replace button")))
        assert assessment.risk == risk and assessment.model_answer == answer
        if last_reason is None:
            assert assessment.reasons == ()
        else:
            assert assessment.reasons[0].startswith("clicks on 'the Replace button'")
            assert assessment.reasons[-1] == last_reason
        question = last_user_text(server.requests[0])
        assert "Proposed action: click (5, 5)" in question and "Answer SAFE or NEEDS_APPROVAL" in question
        assert server.requests[0]["messages"][0]["role"] == "system"


def test_guard_model_is_not_asked_about_clear_cases():
    with ScriptedServer([]) as server, scripted_model(server) as model:
        guard = ActionGuard(GuardRules(), GuardModel(model))
        assert guard.check(proposal("hotkey (alt, f4)")) == ["alt+f4 closes the window"]
        assert guard.check(proposal("click (5, 5)")) == []
        assert server.requests == []


def test_guard_model_failure_means_approval():
    class Unreachable:
        name = "down"

        def generate(self, messages: list[Message], **_: object) -> ModelResponse:
            raise ModelConnectionError("cannot reach http://127.0.0.1:9")

        def close(self) -> None:
            pass

    guard = ActionGuard(model=GuardModel(Unreachable(), include_screenshot=False))
    reasons = guard.check(proposal("press key: delete"))
    assert reasons[-1] == "the guard model 'down' failed (ModelConnectionError)"
