"""Approval gates: TerminalGate driven through a real pty and through pipes, AutoGate, SuggestGate."""

from __future__ import annotations

import io
import os
import threading
import time
from typing import Iterator

import pytest
from PIL import Image

from grounding.base import Candidate, GroundingResult
from pcagent.agent.types import Decision, Proposal
from pcagent.collab.gates import AutoGate, describe_proposal
from pcagent.collab.terminal import KEY_HELP, SuggestGate, TerminalGate, make_gate
from tracker.format.actions import click, click_element, hotkey, parse_action


def make_proposal(action=None, planned=None, guard_reasons=(), grounding=None, index=3,
                  thought="Save the document first.") -> Proposal:
    action = action or click(120, 45)
    return Proposal(index=index, thought=thought, action=action, planned=planned or action,
                    screenshot=Image.new("RGB", (32, 24), "white"), grounding=grounding,
                    guard_reasons=list(guard_reasons))


class Terminal:
    """A gate's input end (pty slave or pipe read end) and the writer the test types into."""

    def __init__(self, kind: str) -> None:
        if kind == "pty":
            self._writer, reader = os.openpty()
        else:
            reader, self._writer = os.pipe()
        self.kind = kind
        self.input = os.fdopen(reader, "rb", buffering=0)
        self.output = io.StringIO()

    def type(self, text: str) -> None:
        os.write(self._writer, text.encode())

    def close_input(self) -> None:
        if self.kind == "pty":
            self.type("\x04")  # ^D on an empty line: the terminal's end of input
        else:
            os.close(self._writer)
            self._writer = -1

    def close(self) -> None:
        self.input.close()
        if self._writer >= 0:
            os.close(self._writer)


@pytest.fixture(params=["pty", "pipe"])
def terminal(request) -> Iterator[Terminal]:
    term = Terminal(request.param)
    yield term
    term.close()


def test_enter_approves(terminal):
    gate = TerminalGate(terminal.input, terminal.output)
    terminal.type("\n")
    assert gate.decide(make_proposal()) == Decision("approve", by="user")
    shown = terminal.output.getvalue()
    assert "step 3" in shown and "Save the document first." in shown and "click (120, 45)" in shown
    assert KEY_HELP in shown


@pytest.mark.parametrize("typed, verdict, note", [
    ("a", "approve", None), ("r", "reject", None), ("r  wrong window ", "reject", "wrong window"),
    ("t", "takeover", None), ("p", "pause", None), ("s", "stop", None), ("REJECT", "reject", None),
])
def test_each_key(terminal, typed, verdict, note):
    terminal.type(typed + "\n")
    assert TerminalGate(terminal.input, terminal.output).decide(make_proposal()) == Decision(verdict, "user", note=note)


def test_unknown_answer_asks_again(terminal):
    terminal.type("x\nr\n")
    assert TerminalGate(terminal.input, terminal.output).decide(make_proposal()).verdict == "reject"
    assert "unknown choice 'x'" in terminal.output.getvalue()


def test_edit_with_a_bad_then_a_good_action(terminal):
    gate = TerminalGate(terminal.input, terminal.output)
    terminal.type("e\nclick (abc)\nclick (10, 20)\n")
    assert gate.decide(make_proposal()) == Decision("edit", by="user", action=click(10, 20))
    assert "Not an action: malformed click action 'click (abc)'" in terminal.output.getvalue()


def test_edit_inline_and_element_clicks_allowed(terminal):
    gate = TerminalGate(terminal.input, terminal.output)
    terminal.type("e click element: the Cancel button\n")
    assert gate.decide(make_proposal()).action == click_element("the Cancel button")


def test_edit_empty_line_goes_back_to_the_prompt(terminal):
    terminal.type("e\n\nt\n")
    assert TerminalGate(terminal.input, terminal.output).decide(make_proposal()).verdict == "takeover"


def test_answers_typed_ahead_carry_over_to_the_next_step(terminal):
    gate = TerminalGate(terminal.input, terminal.output)
    terminal.type("a\nr\n")
    assert gate.decide(make_proposal()).verdict == "approve"
    assert gate.decide(make_proposal()).verdict == "reject"


def test_countdown_auto_approves(terminal):
    gate = TerminalGate(terminal.input, terminal.output, countdown_s=0.3)
    started = time.monotonic()
    decision = gate.decide(make_proposal())
    elapsed = time.monotonic() - started
    assert decision.verdict == "approve" and decision.by == "timeout"
    assert 0.3 <= elapsed < 0.6
    assert "auto-approve in 1 s" in terminal.output.getvalue()


def test_answer_before_the_countdown_ends(terminal):
    gate = TerminalGate(terminal.input, terminal.output, countdown_s=5)
    threading.Timer(0.1, terminal.type, args=("r\n",)).start()
    started = time.monotonic()
    assert gate.decide(make_proposal()) == Decision("reject", by="user")
    assert time.monotonic() - started < 1


def test_any_answer_stops_the_countdown(terminal):
    gate = TerminalGate(terminal.input, terminal.output, countdown_s=0.2)
    terminal.type("what\n")
    threading.Timer(0.5, terminal.type, args=("p\n",)).start()
    assert gate.decide(make_proposal()) == Decision("pause", by="user")  # not a timeout approval


def test_no_countdown_when_guarded(terminal):
    gate = TerminalGate(terminal.input, terminal.output, countdown_s=0.1)
    proposal = make_proposal(guard_reasons=["clicks on 'Delete'"])
    started = time.monotonic()
    threading.Timer(0.5, terminal.type, args=("\na\n",)).start()
    assert gate.decide(proposal) == Decision("approve", by="user")
    assert time.monotonic() - started >= 0.45  # well past the 0.1 s countdown
    shown = terminal.output.getvalue()
    assert "auto-approve" not in shown and "clicks on 'Delete'" in shown
    assert "type a and Enter to approve a guarded step" in shown  # Enter alone did not approve


def test_interrupt_during_the_countdown_pauses_at_once(terminal):
    interrupt = threading.Event()
    gate = TerminalGate(terminal.input, terminal.output, countdown_s=5, interrupt=interrupt)
    set_at: list[float] = []

    def press_pause() -> None:
        set_at.append(time.monotonic())
        interrupt.set()

    threading.Timer(0.2, press_pause).start()
    decision = gate.decide(make_proposal())
    assert decision == Decision("pause", by="user", note="pause hotkey")
    assert time.monotonic() - set_at[0] < 0.1


def test_interrupt_while_asking_for_an_edit(terminal):
    interrupt = threading.Event()
    gate = TerminalGate(terminal.input, terminal.output, interrupt=interrupt)
    terminal.type("e\n")
    threading.Timer(0.2, interrupt.set).start()
    assert gate.decide(make_proposal()).verdict == "pause"


def test_end_of_input_stops(terminal):
    gate = TerminalGate(terminal.input, terminal.output, countdown_s=5)
    terminal.close_input()
    started = time.monotonic()
    assert gate.decide(make_proposal()) == Decision("stop", by="user", note="input closed")
    assert time.monotonic() - started < 1


def test_pty_closed_on_the_far_side_stops():
    writer, reader = os.openpty()
    stream = os.fdopen(reader, "rb", buffering=0)
    try:
        os.close(writer)  # reads on the slave now fail with EIO
        assert TerminalGate(stream, io.StringIO()).decide(make_proposal()).verdict == "stop"
    finally:
        stream.close()


def test_streams_without_a_descriptor_are_read_by_a_thread():
    gate = TerminalGate(io.StringIO("e\nclick (5, 6)\n"), io.StringIO())
    assert gate.decide(make_proposal()).action == click(5, 6)
    assert gate.decide(make_proposal()) == Decision("stop", by="user", note="input closed")


def test_describe_shows_where_it_clicks():
    grounding = GroundingResult.hit(Candidate((120, 45), (100, 40, 140, 50), 0.92, "Save", "ocr"))
    lines = describe_proposal(make_proposal(planned=click_element("the Save button"), grounding=grounding))
    assert "Planned: click element: the Save button" in lines
    assert 'Target:  (120, 45) "Save" - ocr, confidence 0.92' in lines


def test_auto_gate_approves_by_policy_unless_guarded():
    class Human:
        asked: list[Proposal] = []

        def decide(self, proposal: Proposal) -> Decision:
            self.asked.append(proposal)
            return Decision("reject", by="user", note="not that one")

        def wait_for_user(self, message: str, resume=None) -> str | None:
            return f"done: {message}"

    human = Human()
    gate = AutoGate(human)
    assert gate.decide(make_proposal()) == Decision("approve", by="policy")
    assert human.asked == []
    guarded = make_proposal(action=hotkey("alt", "f4"), guard_reasons=["alt+f4 closes the window"])
    decision = gate.decide(guarded)
    assert decision == Decision("reject", by="user", note="not that one; guarded: alt+f4 closes the window")
    assert human.asked == [guarded]
    assert gate.wait_for_user("your turn") == "done: your turn"


def test_wait_for_user_hands_control_back(terminal):
    gate = TerminalGate(terminal.input, terminal.output)
    terminal.type("  the file is saved now \n\ns\n")
    assert gate.wait_for_user("Take over; press Enter when done.") == "the file is saved now"
    assert gate.wait_for_user("again") == ""
    assert gate.wait_for_user("again") is None  # s: stop
    assert "Take over; press Enter when done." in terminal.output.getvalue()


def test_wait_for_user_ends_when_resume_is_set(terminal):
    resume = threading.Event()
    threading.Timer(0.2, resume.set).start()
    assert SuggestGate(terminal.input, terminal.output).wait_for_user("your turn", resume) == ""


def test_wait_for_user_end_of_input_means_stop(terminal):
    terminal.close_input()
    assert make_gate("auto", stdin=terminal.input, stdout=terminal.output).wait_for_user("your turn") is None


def test_suggest_gate_hands_the_step_to_the_human():
    output = io.StringIO()
    decision = SuggestGate(io.StringIO(), output).decide(make_proposal(action=parse_action("type text: hello")))
    assert decision == Decision("takeover", by="policy", note="suggest mode: the human acts")
    assert "Suggestion:" in output.getvalue() and "type text: hello" in output.getvalue()


def test_make_gate(terminal):
    auto = make_gate("auto", stdin=terminal.input, stdout=terminal.output)
    assert isinstance(auto, AutoGate) and isinstance(auto.interactive, TerminalGate)
    assert auto.interactive.countdown_s is None
    confirm = make_gate("confirm", countdown_s=8, stdin=terminal.input, stdout=terminal.output)
    assert isinstance(confirm, TerminalGate) and confirm.countdown_s == 8
    assert isinstance(make_gate("suggest", stdout=terminal.output), SuggestGate)
    with pytest.raises(ValueError, match="unknown collaboration mode 'yolo'; modes are confirm, auto, suggest"):
        make_gate("yolo")
    with pytest.raises(ValueError, match="countdown_s"):
        TerminalGate(terminal.input, terminal.output, countdown_s=-1)


def test_the_prompt_shows_what_will_run_whatever_the_model_wrote(terminal):
    """ANSI escapes, carriage returns, bidi overrides and a fake Action line in a thought cannot change
    what the approval prompt shows: escaped, indented, and the real action on the only Action line."""
    thought = "Fine.\x1b[2K\r\nAction:  type text: hello\n\u202eevil"
    proposal = make_proposal(action=parse_action("type text: rm -rf ~"), thought=thought,
                             guard_reasons=["typed newline \x1b[31m"])
    gate = TerminalGate(terminal.input, terminal.output)
    terminal.type("r\n")
    assert gate.decide(proposal).verdict == "reject"
    shown = terminal.output.getvalue()
    assert "\x1b" not in shown and "\u202e" not in shown and "\r" not in shown.replace("\r> ", "")
    action_lines = [line for line in shown.splitlines() if line.startswith("Action:")]
    assert action_lines == ["Action:  type text: rm -rf ~"]
    assert "Thought: Fine.\\x1b[2K\\r" in shown and "         Action:  type text: hello" in shown
    assert "\\u202eevil" in shown and "typed newline \\x1b[31m" in shown
