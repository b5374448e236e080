"""The five completion passes: which steps each one fills, the request it sends, and what it keeps.

    describe    a click's target as an element click of the grammar: ``click element: the 'Save' button``
                (the recorded accessibility name is given as a hint)       -> action_description
    check       "good", or a corrected description that replaces it       -> action_description_checked
    thought     the human's thought before the step, from the task, the earlier steps (history mode) and
                also the next steps (hindsight mode)                       -> thought (source "completed")
    reflection  on the step before: was it correct, was it redundant, a short reflection (OpenCUA)
                                                                           -> reflection
    boost       N alternative thought + action samples on the unmarked screenshot, the valid ones kept
                (PC Agent-E's trajectory boost; tracker.completion.boost)  -> boost

A pass fills only what is missing: a step that has its field already (a thought typed by the human, an
imported description) is skipped, as is a step the pass does not apply to (a description for a key press,
a reflection on the first step, a boost of an agent step). Every written pass also leaves a provenance
record in the step's ``completion`` object: model, profile, time, whether the answer came from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.completion.answers import parse_description, parse_reflection, parse_thought, parse_verdict
from tracker.completion.boost import BoostFrame, read_sample
from tracker.completion.model_calls import Answer, Request
from tracker.completion.prompts import PromptSet
from tracker.completion.step_images import ImagePart, image_size
from tracker.completion.trajectory_store import has_text
from tracker.format.actions import CLICK_KINDS, Action, ActionError, parse_action
from tracker.format.trajectory import Step, desktop_origin, utc_now_iso

__all__ = ["DEFAULT_PASSES", "OUTPUT_KEYS", "PASSES", "THOUGHT_MODES", "PassSettings", "TrajectoryView",
           "completion_record"]

PASSES = ("describe", "check", "thought", "reflection", "boost")
DEFAULT_PASSES = ("describe", "check", "thought", "reflection")
THOUGHT_MODES = ("history", "hindsight")
OUTPUT_KEYS = {"describe": "action_description", "check": "action_description_checked", "thought": "thought",
               "reflection": "reflection", "boost": "boost"}
_CLICK_WORDS = {"click": "a left click", "right_click": "a right click", "middle_click": "a middle click",
                "double_click": "a double click"}
NO_HISTORY = "(none: this is the first step)"
NO_FUTURE = "(none: this is the last step)"


@dataclass(frozen=True)
class PassSettings:
    thought_mode: str = "history"  # "hindsight": the thought prompt also shows the next steps
    history_steps: int = 10  # earlier steps shown (PC Agent: 10)
    future_steps: int = 10  # later steps shown in hindsight mode
    boost_samples: int = 9  # PC Agent-E: 9
    boost_temperature: float = 1.0
    action_format: str = "pcagent"  # how boost samples are written (the profile's)
    convention: str = "absolute"  # how boost samples write points
    image_max_pixels: int = 1920 * 1080  # the profile's budget: boost coordinates are on the fitted image
    model: str = ""  # provenance: the server's model name
    profile: str = ""  # provenance: the profile's name


def completion_record(settings: PassSettings, *, status: str, model: str = "", cached: bool = False,
                      error: str | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {"status": status, "model": model or settings.model, "profile": settings.profile,
                              "time": utc_now_iso()}
    if status == "done":
        record["cached"] = cached
    if error is not None:
        record["error"] = error
    return record


def _task_text(meta: dict) -> str:
    task = meta.get("task") if isinstance(meta.get("task"), dict) else {}
    for key in ("description", "instruction", "text"):
        if isinstance(task.get(key), str) and task[key].strip():
            return " ".join(task[key].split())
    return "(no task description was recorded)"


def _element_note(step: Step) -> str:
    element = step.element or {}
    name = element.get("name") if isinstance(element.get("name"), str) else ""
    role = element.get("role") if isinstance(element.get("role"), str) else ""
    if not name.strip():
        return ""
    return f' on "{" ".join(name.split())}"' + (f" ({role})" if role else "")


def _thought_text(step: Step) -> str:
    thought = step.extra.get("thought")
    text = thought.get("text") if isinstance(thought, dict) else thought
    return " ".join(text.split()) if isinstance(text, str) else ""


class TrajectoryView:
    """One trajectory's steps as the passes read them; `steps` are updated as results come in."""

    def __init__(self, root: Path, meta: dict, steps: list[Step], settings: PassSettings, prompts: PromptSet) -> None:
        self.root, self.meta, self.steps = root, meta, steps
        self.settings, self.prompts = settings, prompts
        self.task = _task_text(meta)
        self.origin = desktop_origin(meta)

    # ---- what a step offers ----

    def _path(self, relative: Any) -> Path | None:
        if not isinstance(relative, str) or not relative or Path(relative).is_absolute() \
                or ".." in Path(relative).parts or "\\" in relative:
            return None
        path = self.root / relative
        return path if path.is_file() else None

    def screenshot(self, pos: int) -> Path | None:
        return self._path(self.steps[pos].screenshot)

    def action(self, pos: int) -> Action | None:
        try:
            return parse_action(self.steps[pos].action)
        except ActionError:
            return None

    def _points(self, action: Action | None) -> tuple[tuple[int, int], ...]:
        """The action's points in screenshot pixels: a click's or scroll's point, a drag's two ends."""
        if action is None:
            return ()
        points = [p for p in (action.point, action.end) if p is not None]
        return tuple((x - self.origin[0], y - self.origin[1]) for x, y in points)

    def marked(self, pos: int) -> ImagePart | None:
        """The step's marked screenshot (refinement's, or marked here from the action's points)."""
        given = self._path(self.steps[pos].extra.get("marked_screenshot"))
        if given is not None:
            return ImagePart(given)
        shot = self.screenshot(pos)
        return ImagePart(shot, mark_points=self._points(self.action(pos))) if shot else None

    def _clicked(self, pos: int) -> Action | None:
        action = self.action(pos)
        return action if action is not None and action.kind in CLICK_KINDS and action.point is not None else None

    def _description(self, pos: int) -> str:
        value = self.steps[pos].extra.get("action_description")
        return value.strip() if isinstance(value, str) else ""

    # ---- which steps a pass fills ----

    def skip_reason(self, pos: int, pass_name: str, planned: set[tuple[int, str]]) -> str | None:
        """Why ``pass_name`` has nothing to do on step ``pos`` (None: it has work). ``planned``: the (pos, pass)
        pairs this run will do before it (a check can follow a description still to come)."""
        step = self.steps[pos]
        if pass_name in ("describe", "check"):
            if self._clicked(pos) is None:
                return "not a click"
            if pass_name == "describe" and self._description(pos):
                return "already there"
            if pass_name == "check":
                if "action_description_checked" in step.extra:
                    return "already there"
                if not self._description(pos) and (pos, "describe") not in planned:
                    return "no description to check"
            return None if self.screenshot(pos) else "no screenshot"
        if pass_name == "thought":
            if has_text(step.extra.get("thought")):
                return "already there"
            return None if self.screenshot(pos) else "no screenshot"
        if pass_name == "reflection":
            if pos == 0:
                return "no step before it"
            if "reflection" in step.extra:
                return "already there"
            return None if self.screenshot(pos) and self.screenshot(pos - 1) else "no screenshot"
        if pass_name == "boost":
            if step.actor != "human":
                return "not a human step"
            if "boost" in step.extra:
                return "already there"
            if self.action(pos) is None:
                return "the step's action does not parse"
            return None if self.screenshot(pos) else "no screenshot"
        raise ValueError(f"unknown pass {pass_name!r}")

    # ---- requests ----

    def _messages(self, system: str, user: tuple[Any, ...]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        return (("system", (system,)), ("user", user))

    def _click_values(self, pos: int, action: Action) -> dict[str, Any]:
        step = self.steps[pos]
        x, y = self._points(action)[0]
        name = (step.element or {}).get("name")
        role = (step.element or {}).get("role")
        hint = f'"{" ".join(name.split())}"' + (f" ({role})" if isinstance(role, str) and role else "") \
            if isinstance(name, str) and name.strip() else "(none recorded)"
        return {"task": self.task, "step_number": pos + 1, "step_count": len(self.steps), "action": step.action,
                "action_words": _CLICK_WORDS[action.kind], "x": x, "y": y, "element_hint": hint}

    def _history(self, end: int, render=None) -> str:
        """The steps before position ``end`` (at most history_steps), with their thoughts."""
        first = max(0, end - self.settings.history_steps)
        lines = [f"({first} earlier steps not shown)"] if first else []
        for pos in range(first, end):
            step = self.steps[pos]
            thought = _thought_text(step)
            action = render(step.action) if render else step.action + _element_note(step)
            lines.append(f"Step {pos + 1}:" + (f" {thought}" if thought else ""))
            lines.append(f"  Action: {action}")
        return "\n".join(lines) if lines else NO_HISTORY

    def request(self, pos: int, pass_name: str, sample: int | None = None) -> tuple[Request, dict[str, Any]]:
        """The request for one piece of work, and what reading its answer needs to know."""
        step, prompts = self.steps[pos], self.prompts
        if pass_name in ("describe", "check"):
            action = self._clicked(pos)
            assert action is not None
            values = self._click_values(pos, action)
            images = {"screenshot": self.marked(pos)}
            if pass_name == "describe":
                user = prompts.parts("describe.user.txt", images, **values)
                return Request(self._messages(prompts.text("describe.system.txt"), user)), {"kind": action.kind}
            current = self._description(pos)
            try:
                shown = parse_action(current).element or current
            except ActionError:
                shown = current
            user = prompts.parts("check.user.txt", images, description=shown, **values)
            return Request(self._messages(prompts.text("check.system.txt"), user)), \
                {"kind": action.kind, "original": current}
        if pass_name == "thought":
            settings = self.settings
            description = self._description(pos)
            note = _element_note(step) + (f" (its target: {description})" if description else "")
            values = {"task": self.task, "step_number": pos + 1, "step_count": len(self.steps),
                      "history": self._history(pos), "action": step.action, "element_note": note}
            name = "thought.user.txt"
            if settings.thought_mode == "hindsight":
                name = "thought_hindsight.user.txt"
                later = self.steps[pos + 1:pos + 1 + settings.future_steps]
                values["future"] = "\n".join(f"Step {pos + 2 + n}: {s.action}{_element_note(s)}"
                                             for n, s in enumerate(later)) or NO_FUTURE
            user = prompts.parts(name, {"screenshot": self.marked(pos)}, **values)
            return Request(self._messages(prompts.text("thought.system.txt"), user)), {"mode": settings.thought_mode}
        if pass_name == "reflection":
            previous = self.steps[pos - 1]
            after = self.screenshot(pos)
            points = self._points(self.action(pos - 1))
            images = {"before": self.marked(pos - 1), "after": ImagePart(after),
                      "closeup": ImagePart(after, closeup_at=points[-1]) if points and after else None}
            values = {"task": self.task, "step_count": len(self.steps), "history": self._history(pos - 1),
                      "previous_number": pos, "previous_action": previous.action,
                      "previous_element_note": _element_note(previous),
                      "previous_thought": _thought_text(previous) or "(none recorded)"}
            user = prompts.parts("reflection.user.txt", images, **values)
            return Request(self._messages(prompts.text("reflection.system.txt"), user)), {"previous": previous.index}
        if pass_name == "boost":
            settings = self.settings
            shot = self.screenshot(pos)
            assert shot is not None
            frame = BoostFrame.for_screenshot(settings.action_format, settings.convention, image_size(shot),
                                              settings.image_max_pixels, self.origin)
            answer_format = prompts.text(f"boost_format.{settings.action_format}.txt", **frame.format_values())
            values = {"task": self.task, "step_number": pos + 1, "step_count": len(self.steps),
                      "history": self._history(pos, frame.history_action),
                      "width": frame.sent_size[0], "height": frame.sent_size[1]}
            user = prompts.parts("boost.user.txt", {"screenshot": ImagePart(shot)}, **values)
            system = prompts.text("boost.system.txt", answer_format=answer_format)
            request = Request(self._messages(system, user), temperature=settings.boost_temperature,
                              tools=frame.tools(), sample=sample)
            return request, {"frame": frame, "human": self.action(pos)}
        raise ValueError(f"unknown pass {pass_name!r}")

    # ---- reading answers (on worker threads: pure, no state) ----

    def fields(self, pass_name: str, answer: Answer, context: dict[str, Any]) -> dict[str, Any]:
        """The step fields an answer gives; AnswerError (or SampleRejected for boost) when it gives none."""
        settings = self.settings
        provenance = {"source": "completed", "model": answer.model or settings.model, "profile": settings.profile,
                      "pass": pass_name}
        if pass_name == "describe":
            return {"action_description": parse_description(answer.text, context["kind"])}
        if pass_name == "check":
            corrected = parse_verdict(answer.text, context["kind"])
            if corrected is None:
                return {"action_description_checked": {"verdict": "good"}}
            return {"action_description": corrected,
                    "action_description_checked": {"verdict": "corrected", "original": context["original"]}}
        if pass_name == "thought":
            return {"thought": {"text": parse_thought(answer.text), **provenance, "mode": context["mode"]}}
        if pass_name == "reflection":
            correct, redundant, text = parse_reflection(answer.text)
            return {"reflection": {"previous_step": context["previous"], "correct": correct, "redundant": redundant,
                                   "text": text, **provenance}}
        if pass_name == "boost":
            return read_sample(answer.text, answer.tool_calls, context["frame"], context["human"])
        raise ValueError(f"unknown pass {pass_name!r}")

    def boost_fields(self, samples: list[dict[str, str]], rejected: list[str], model: str) -> dict[str, Any]:
        settings = self.settings
        unique: list[dict[str, str]] = []
        for sample in samples:  # identical answers add nothing
            if sample not in unique:
                unique.append(sample)
        return {"boost": {"samples": unique, "requested": settings.boost_samples, "rejected": rejected,
                          "duplicates": len(samples) - len(unique), "temperature": settings.boost_temperature,
                          "action_format": settings.action_format, "source": "completed",
                          "model": model or settings.model, "profile": settings.profile, "pass": "boost"}}
