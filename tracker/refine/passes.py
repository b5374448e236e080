"""The refinement passes that edit a trajectory's steps (options.py lists them all).

Each pass takes the :class:`Work` of one trajectory (its source folder, an edited copy of its meta.json and
its steps as :class:`Draft`s) and a :class:`PassLog` it notes every change in, naming steps by their index
in the source. Steps keep every key they came with (thoughts included); a step dropped is dropped whole,
and two steps merged into one keep the keys of both. The passes never touch files: screenshots are still
the source's until the runner writes the result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tracker.format.actions import CLICK_KINDS, FINISH, Action, click, format_action, parse_action
from tracker.format.trajectory import Step
from tracker.recording.own_windows import step_shows_own_windows
from tracker.refine.images import same_pixels
from tracker.refine.options import RefineOptions

__all__ = ["STEP_PASSES", "Draft", "PassLog", "Work", "merge_extras", "unusable_reason"]

LONE_MODIFIERS = {"ctrl", "shift", "alt", "alt_gr", "super"}
# Alone, ctrl and shift do nothing; alt (a menu bar) and super (a launcher) may, so those go only when the
# next step is a chord with them in it (the same key recorded once alone and once in the chord).
INERT_MODIFIERS = {"ctrl", "shift"}
REFINED_KEY = "refined"  # step key: what refinement changed on this step


@dataclass
class Draft:
    """A step on its way from the source to the result; ``step.screenshot`` still names the source's file."""

    step: Step
    source_index: int | None  # None for a step refinement added

    @property
    def action(self) -> Action:
        return parse_action(self.step.action)

    def set_action(self, action: Action, pass_name: str) -> None:
        previous = self.step.action
        self.step.action = format_action(action)
        notes = self.step.extra.get(REFINED_KEY)
        self.step.extra[REFINED_KEY] = [*(notes if isinstance(notes, list) else []),
                                        {"pass": pass_name, "action_was": previous}]


@dataclass
class Work:
    """One trajectory being refined."""

    root: Path  # the source trajectory folder
    meta: dict  # an edited copy of its meta.json
    drafts: list[Draft]
    resolution: tuple[int, int] | None = None  # set by normalize: the size to write every screenshot at


@dataclass
class PassLog:
    """What one pass changed: a list of {"step": source index, "change": what, ...details}."""

    name: str
    changes: list[dict] = field(default_factory=list)

    def note(self, draft: Draft | None, change: str, **details: object) -> None:
        self.changes.append({"step": draft.source_index if draft else None, "change": change, **details})

    def counts(self) -> dict[str, int]:
        return dict(Counter(change["change"] for change in self.changes))

    def to_dict(self) -> dict:
        return {"counts": self.counts(), "changes": self.changes}


def merge_extras(first: dict, second: dict) -> dict:
    """The keys of two merged steps: the first's, plus the second's it lacks. Of two different thoughts, two
    from one source are joined (the first's provenance kept), else a human's is kept over any other."""
    merged = dict(first)
    for key, value in second.items():
        if key not in merged:
            merged[key] = value
        elif key == "thought" and value != merged[key]:
            merged[key] = _merge_thoughts(merged[key], value)
    return merged


def _merge_thoughts(first: object, second: object) -> object:
    text_a, text_b = _thought_text(first), _thought_text(second)
    if not text_b or text_b == text_a:
        return first
    if not text_a:
        return second
    if _thought_source(first) == _thought_source(second):
        return {**first, "text": f"{text_a}\n{text_b}"} if isinstance(first, dict) else f"{text_a}\n{text_b}"
    return second if _thought_source(second) == "human" and _thought_source(first) != "human" else first


def _thought_source(thought: object) -> str | None:
    return thought.get("source") if isinstance(thought, dict) else None


def _thought_text(thought: object) -> str:
    text = thought.get("text") if isinstance(thought, dict) else thought
    return text.strip() if isinstance(text, str) else ""


# ---------------------------------------------------------------------------------------------------
# Whole recordings


def _task_description(meta: dict) -> str:
    task = meta.get("task")
    description = task.get("description") if isinstance(task, dict) else None
    return description.strip() if isinstance(description, str) else ""


def _failed(work: Work) -> bool:
    last = work.drafts[-1].step.action if work.drafts else None
    return work.meta.get("outcome") == "fail" or last == "fail"


def unusable_reason(work: Work, options: RefineOptions) -> str | None:
    """Why drop-unusable drops this recording ("no task", "no steps", "ended in fail"), or None."""
    if not _task_description(work.meta):
        return "no task description"
    if not work.drafts:
        return "no steps"
    if _failed(work) and not options.keep_failed:
        return "ended in fail"
    return None


# ---------------------------------------------------------------------------------------------------
# Step passes


def drop_own_windows(work: Work, log: PassLog, options: RefineOptions) -> None:
    kept = []
    for draft in work.drafts:
        if step_shows_own_windows(draft.step.extra, draft.step.window):
            log.note(draft, "dropped", action=draft.step.action)
        else:
            kept.append(draft)
    work.drafts = kept


def _near(a: tuple[int, int], b: tuple[int, int], tolerance: int) -> bool:
    return abs(a[0] - b[0]) + abs(a[1] - b[1]) <= tolerance


def merge_press_drag(work: Work, log: PassLog, options: RefineOptions) -> None:
    """click at P + drag from P -> one drag (with the click's screenshot, time and element: the screen and
    the thing the button went down on); a drag from P to within the tolerance of P -> click at P."""
    tolerance = options.drag_tolerance
    out: list[Draft] = []
    drafts = work.drafts
    i = 0
    while i < len(drafts):
        draft = drafts[i]
        action = draft.action
        following = drafts[i + 1] if i + 1 < len(drafts) else None
        if (following is not None and action.kind == "click" and action.point is not None
                and following.step.actor == draft.step.actor):
            drag = following.action
            if drag.kind == "drag" and _near(action.point, drag.point, tolerance):
                if _near(drag.point, drag.end, tolerance):
                    merged_action = click(*action.point)  # press, wobble, release: still a click
                else:
                    merged_action = drag
                log.note(draft, "merged", with_step=following.source_index, actions=[draft.step.action,
                                                                                      following.step.action],
                         into=format_action(merged_action))
                draft.step.extra = merge_extras(draft.step.extra, following.step.extra)
                draft.step.element = draft.step.element or following.step.element
                draft.step.window = draft.step.window or following.step.window
                draft.set_action(merged_action, log.name)
                out.append(draft)
                i += 2
                continue
        if action.kind == "drag" and _near(action.point, action.end, tolerance):
            log.note(draft, "drag to click", action=draft.step.action)
            draft.set_action(click(*action.point), log.name)
        out.append(draft)
        i += 1
    work.drafts = out


def drop_redundant(work: Work, log: PassLog, options: RefineOptions) -> None:
    """Leading waits, and modifier keys pressed alone (see INERT_MODIFIERS)."""
    kept: list[Draft] = []
    leading = True
    drafts = work.drafts
    for i, draft in enumerate(drafts):
        action = draft.action
        if leading and action.kind == "wait":
            log.note(draft, "leading wait dropped")
            continue
        leading = False
        if action.kind == "press_key" and action.keys[0] in LONE_MODIFIERS:
            key = action.keys[0]
            following = drafts[i + 1].action if i + 1 < len(drafts) else None
            chorded = following is not None and following.kind in ("hotkey", "press_key") and key in following.keys
            if key in INERT_MODIFIERS or chorded:
                log.note(draft, "stray modifier dropped", action=draft.step.action)
                continue
        kept.append(draft)
    work.drafts = kept


def drop_unchanged(work: Work, log: PassLog, options: RefineOptions) -> None:
    """A click or wait whose next step's screenshot has exactly its pixels changed nothing: dropped."""
    drafts = work.drafts
    kept: list[Draft] = []
    for i, draft in enumerate(drafts):
        following = drafts[i + 1] if i + 1 < len(drafts) else None
        kind = draft.action.kind
        if (following is not None and (kind in CLICK_KINDS or kind == "wait")
                and draft.step.screenshot and following.step.screenshot
                and same_pixels(work.root / draft.step.screenshot, work.root / following.step.screenshot)):
            log.note(draft, "dropped", action=draft.step.action)
            continue
        kept.append(draft)
    work.drafts = kept


def force_finish(work: Work, log: PassLog, options: RefineOptions) -> None:
    """A recording that did not fail ends with `finish` (see RefineOptions.finish_mode)."""
    if not work.drafts:
        return
    if _failed(work):
        log.note(None, "kept fail")
        return
    last = work.drafts[-1]
    kind = last.action.kind
    if kind != "finish":
        if kind == "wait" or options.finish_mode == "replace":
            log.note(last, "replaced by finish", action=last.step.action)
            last.set_action(FINISH, log.name)
        else:
            step = Step(index=last.step.index + 1, time=last.step.time, actor=last.step.actor,
                        action=format_action(FINISH), screenshot=None,
                        extra={REFINED_KEY: [{"pass": log.name, "added": True}]})
            work.drafts.append(Draft(step, None))
            log.note(None, "finish appended", after_step=last.source_index)
    if work.meta.get("outcome") != "finish":
        work.meta["outcome"] = "finish"


def vertical_scroll(work: Work, log: PassLog, options: RefineOptions) -> None:
    """PC Agent-E scrolls only vertically, wherever the pointer is: `scroll (dy)`, which is our
    `scroll (0, dy)`. A horizontal part is dropped; a scroll with nothing vertical is dropped whole; an
    `at (x, y)` point moves to the step's pointer (where the pointer was when it scrolled)."""
    kept: list[Draft] = []
    for draft in work.drafts:
        action = draft.action
        if action.kind != "scroll" or (action.delta[0] == 0 and action.point is None):
            kept.append(draft)
            continue
        if action.delta[1] == 0:
            log.note(draft, "horizontal scroll dropped", action=draft.step.action)
            continue
        if action.point is not None and draft.step.pointer is None:
            draft.step.pointer = action.point
        vertical = replace(action, delta=(0, action.delta[1]), point=None)
        log.note(draft, "rewritten", action=draft.step.action, into=format_action(vertical))
        draft.set_action(vertical, log.name)
        kept.append(draft)
    work.drafts = kept


# In running order (options.PASS_NAMES); drop-unusable, normalize and marks are the runner's.
STEP_PASSES: dict[str, Callable[[Work, PassLog, RefineOptions], None]] = {
    "own-windows": drop_own_windows,
    "merge-drag": merge_press_drag,
    "drop-redundant": drop_redundant,
    "drop-unchanged": drop_unchanged,
    "force-finish": force_finish,
    "vertical-scroll": vertical_scroll,
}
