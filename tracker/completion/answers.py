"""Reading the answers of the describe, check, thought and reflection passes; anything else is rejected.

Each reader takes the model's text and returns the values a step keeps, or raises AnswerError saying what
was wrong (the run records the step as failed and goes on). Descriptions become element clicks of the
action grammar (tracker.format.actions: ``click element: the 'Save' button``), so a description is held
to the same rules as any action: one line, no control characters, no placeholder.
"""

from __future__ import annotations

import re

from models.text_excerpt import has_unsafe_controls, quoted
from tracker.format.actions import ActionError, click_element, format_action

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "MAX_THOUGHT_CHARS",
    "AnswerError",
    "parse_description",
    "parse_reflection",
    "parse_thought",
    "parse_verdict",
    "strip_thinking",
]

MAX_DESCRIPTION_CHARS = 300
MAX_THOUGHT_CHARS = 4000
QUOTE = 160  # characters of a rejected answer quoted in the error

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_DECORATION = "*_`>#- \t"  # markdown around a label: "**Element:**", "- Verdict:"


def strip_thinking(text: str) -> str:
    """The answer without a reasoning model's <think> block (or the end of one the template opened)."""
    text = _THINK.sub("", text or "")
    if "</think>" in text:
        text = text.split("</think>", 1)[1]
    return text.strip()


class AnswerError(ValueError):
    """An answer that does not say what its pass asked for."""


def _labelled(text: str, label: str) -> list[str]:
    """The values of every line "<label>: value" (markdown decoration and full-width colons allowed)."""
    pattern = re.compile(rf"^[{re.escape(_DECORATION)}]*{label}[*_ \t]*[:：][*_ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
    return [m.group(1).strip() for m in pattern.finditer(text)]


def _clean_phrase(value: str) -> str:
    value = value.strip().strip("*_`").strip()
    if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def _element_click(description: str, kind: str, answer: str) -> str:
    description = _clean_phrase(description)
    if not description:
        raise AnswerError(f"empty description in {quoted(answer, QUOTE)}")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise AnswerError(f"a description of {len(description)} characters (at most {MAX_DESCRIPTION_CHARS})")
    if re.search(r"<[a-z ]*description[a-z ]*>", description, re.IGNORECASE):
        raise AnswerError(f"a placeholder instead of a description: {quoted(description, QUOTE)}")
    try:
        return format_action(click_element(description, kind))
    except ActionError as error:
        raise AnswerError(f"not a usable description: {error}") from None


def parse_description(text: str, kind: str) -> str:
    """"Element: <description>" (or a one-line answer) as the element click of ``kind``'s text."""
    answer = strip_thinking(text)
    found = _labelled(answer, "element")
    if found:
        return _element_click(found[0], kind, answer)
    lines = [line for line in answer.splitlines() if line.strip()]
    if len(lines) != 1:
        raise AnswerError(f"expected one line 'Element: <description>', got {quoted(answer, QUOTE)}")
    return _element_click(lines[0], kind, answer)


_GOOD = ("good", "correct", "right", "yes")
_WRONG = ("wrong", "incorrect", "bad", "no")


def parse_verdict(text: str, kind: str) -> str | None:
    """None for "good"; the corrected element click for "wrong" with a correction."""
    answer = strip_thinking(text)
    verdicts = _labelled(answer, "verdict")
    word = verdicts[0] if verdicts else (answer.splitlines()[0] if answer else "")
    first = re.match(r"[\s*_`]*([A-Za-z]+)", word)
    verdict = first.group(1).lower() if first else ""
    if verdict in _GOOD:
        return None
    if verdict not in _WRONG:
        raise AnswerError(f"expected 'Verdict: good' or 'Verdict: wrong', got {quoted(answer, QUOTE)}")
    corrections = _labelled(answer, "correction") or _labelled(answer, "correct description")
    if not corrections:  # PC Agent's own form: "Wrong. Correct description: ..." on one line
        inline = re.search(r"correct(?:ion|ed description| description)\s*[:：]\s*(.+)", answer, re.IGNORECASE)
        corrections = [inline.group(1)] if inline else []
    if not corrections:
        raise AnswerError(f"'wrong' without a 'Correction:' line in {quoted(answer, QUOTE)}")
    return _element_click(corrections[0], kind, answer)


_ACTION_LEAK = re.compile(r"^[\s*_`>#-]*action\s*[:：]", re.IGNORECASE | re.MULTILINE)
_THOUGHT_LABEL = re.compile(r"^[\s*_`>#-]*thought[*_ \t]*[:：][*_ \t]*", re.IGNORECASE)


def parse_thought(text: str) -> str:
    """The thought: a "Thought:" label and any leaked "Action:" part removed; never empty."""
    answer = strip_thinking(text)
    leak = _ACTION_LEAK.search(answer)
    if leak:
        answer = answer[:leak.start()]
    thought = _clean_phrase(_THOUGHT_LABEL.sub("", answer.strip()))
    if not thought:
        raise AnswerError(f"no thought in the answer {quoted(text, QUOTE)}")
    if len(thought) > MAX_THOUGHT_CHARS:
        raise AnswerError(f"a thought of {len(thought)} characters (at most {MAX_THOUGHT_CHARS})")
    if has_unsafe_controls(thought):
        raise AnswerError(f"control characters in the thought {quoted(thought, QUOTE)}")
    return thought


def _yes_no(answer: str, label: str) -> bool:
    values = _labelled(answer, label)
    if not values:
        raise AnswerError(f"no '{label.capitalize()}: yes/no' line in {quoted(answer, QUOTE)}")
    word = re.match(r"[\s*_`]*([A-Za-z]+)", values[0])
    value = word.group(1).lower() if word else ""
    if value in ("yes", "true", "correct"):
        return True
    if value in ("no", "false", "incorrect"):
        return False
    raise AnswerError(f"'{label.capitalize()}:' must be yes or no, not {quoted(values[0], QUOTE)}")


def parse_reflection(text: str) -> tuple[bool, bool, str]:
    """(the last step was correct, it was redundant, the reflection)."""
    answer = strip_thinking(text)
    correct, redundant = _yes_no(answer, "correct"), _yes_no(answer, "redundant")
    mark = re.search(rf"^[{re.escape(_DECORATION)}]*reflection[*_ \t]*[:：][*_ \t]*", answer,
                     re.IGNORECASE | re.MULTILINE)
    rest = answer[mark.end():] if mark else ""
    later_label = re.search(r"^[\s*_`>#-]*(?:correct|redundant)[*_ \t]*[:：]", rest, re.IGNORECASE | re.MULTILINE)
    reflection = _clean_phrase(rest[:later_label.start()] if later_label else rest)
    if not reflection:
        raise AnswerError(f"no 'Reflection:' text in {quoted(answer, QUOTE)}")
    if len(reflection) > MAX_THOUGHT_CHARS or has_unsafe_controls(reflection):
        raise AnswerError(f"an unusable reflection {quoted(reflection, QUOTE)}")
    return correct, redundant, reflection
