"""``pcagent trace report DIR [--out FILE]``: one self-contained HTML page for a trajectory.

The page shows the task and outcome, the collaboration metrics (meta.json ``collaboration``, as
pcagent.collab.metrics writes them), a summary of what completion wrote, and every step: its screenshot with
the action marked (the refinement's marked screenshot when the step has one, else the marks of
tracker.refine.marks drawn here), the action, who took it, the thought and where it came from, the
approval decision, the action description, the reflection, the accepted boost samples and each completion
pass's provenance.

It works offline and loads nothing: screenshots are embedded as data URLs (shrunk to at most
``IMAGE_MAX_PIXELS`` and stored as JPEG, so a long trajectory stays a few megabytes), the style is inline,
there is no script, and a Content-Security-Policy forbids any other source. Every text from the trajectory
is escaped for HTML with its control characters made visible, so a thought holding ``<script>`` shows as
text. An unreadable screenshot is noted on its step and listed with the other problems; the page is still
written.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.images import fit_to_pixels, to_data_url
from models.text_excerpt import escape_controls
from tracker.datasets.samples import accepted_boosts, thought_of
from tracker.datasets.sources import DatasetError, in_parallel, step_image, task_text
from tracker.format.trajectory import (
    Step,
    Trajectory,
    TrajectoryError,
    atomic_write,
    desktop_origin,
    read_trajectory,
)
from tracker.refine.marks import draw_marks
from tracker.report.report_style import PAGE_STYLE

__all__ = ["IMAGE_MAX_PIXELS", "REPORT_FILE", "ReportResult", "decision_label", "render_report", "thought_source_label",
           "write_report"]

REPORT_FILE = "report.html"
IMAGE_MAX_PIXELS = 1280 * 800
JPEG_QUALITY = 80
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

# meta.json "collaboration" keys (pcagent.collab.metrics), in the order shown, with their labels
_METRICS = (
    ("proposed", "Proposals"), ("approved", "Approved"), ("approved_by", "Approved by"), ("edited", "Edited"),
    ("rejected", "Rejected"), ("takeovers", "Take-overs"), ("pauses", "Pauses"), ("stops", "Stops"),
    ("interventions", "Interventions"), ("step_accuracy", "Step accuracy (approved / proposed)"),
    ("agent_steps", "Agent steps"), ("human_steps", "Human steps"), ("total_steps", "Total steps"),
    ("human_step_share", "Human share of steps"), ("last_step_by", "Last step by"),
    ("agent_time_s", "Agent time"), ("human_time_s", "Human time"), ("review_time_s", "Review time"),
    ("outcome", "Outcome"),
)
_SHARES = ("step_accuracy", "human_step_share")
_VERDICTS = {"approve": "approved", "edit": "edited", "reject": "rejected", "takeover": "taken over",
             "pause": "paused", "stop": "stopped"}


def _html(value: object) -> str:
    """Any value as HTML text: control characters shown as escapes, markup escaped."""
    shown = value if isinstance(value, str) else "" if value is None else str(value)
    return html.escape(escape_controls(shown, keep="\n\t"), quote=True)


@dataclass
class ReportResult:
    """The page written, and what was wrong with the trajectory (the page lists it too)."""

    path: Path
    steps: int
    problems: list[str] = field(default_factory=list)


# ---- pieces ---------------------------------------------------------------------------------------


def _screenshot_html(trajectory: Trajectory, step: Step, origin: tuple[int, int]) -> tuple[str, str | None]:
    """The step's marked screenshot as an <img>, and the problem met reading it (or None)."""
    marked = step.extra.get("marked_screenshot")
    try:
        if isinstance(marked, str) and marked and marked != step.screenshot:
            image = step_image(trajectory, marked)  # refinement's marks, drawn on the full image
        else:
            image = step_image(trajectory, step.screenshot)
            image = draw_marks(image, step, origin) if image is not None else None
    except DatasetError as error:
        return f'<div class="noshot">screenshot unreadable: {_html(error)}</div>', f"error: step {step.index}: {error}"
    if image is None:
        return '<div class="noshot">no screenshot</div>', None
    size = image.size
    shown, _ = fit_to_pixels(image, IMAGE_MAX_PIXELS)
    return (f'<img src="{to_data_url(shown, "jpeg", JPEG_QUALITY)}" width="{shown.width}" height="{shown.height}" '
            f'alt="screenshot before step {step.index} ({size[0]} x {size[1]})">'), None


def thought_source_label(thought: object, meta: dict) -> str:
    """Where a thought came from, in words."""
    source = thought.get("source") if isinstance(thought, dict) else None
    if source == "human":
        return "typed by the human"
    if source == "completed" and isinstance(thought, dict):
        model = thought.get("model") or "a model"
        details = [str(v) for v in (thought.get("profile"), thought.get("pass"), thought.get("mode")) if v]
        return f"completed by {model}" + (f" ({', '.join(details)})" if details else "")
    if source == "agent":
        agent = meta.get("agent") if isinstance(meta.get("agent"), dict) else {}
        planner = agent.get("planner") or agent.get("model")
        return "the agent's planner" + (f" ({planner})" if isinstance(planner, str) and planner else "")
    if source == "imported":
        return "imported"
    return str(source) if source else "source not recorded"


def decision_label(step: Step) -> str:
    """The approval gate's decision on the step, in words."""
    decision = step.extra.get("decision")
    if not isinstance(decision, dict):
        return "the human acted (no proposal to decide)" if step.actor == "human" else "no decision recorded"
    verdict = decision.get("verdict")
    words = _VERDICTS.get(verdict, str(verdict))
    by = decision.get("by")
    label = f"{words} by the user" if by == "user" else f"{words} automatically ({by})" if by else words
    if decision.get("action"):
        label += f": {decision['action']}"
    if decision.get("note"):
        label += f" — {decision['note']}"
    return label


def _row(label: str, value_html: str, cls: str = "") -> str:
    attribute = f' class="{cls}"' if cls else ""
    return f"<tr{attribute}><th>{_html(label)}</th><td>{value_html}</td></tr>"


def _completion_rows(step: Step) -> list[str]:
    """action description and its check, reflection, boosts, and each pass's provenance record."""
    extra, rows = step.extra, []
    description = extra.get("action_description")
    if isinstance(description, dict):
        description = description.get("text")
    if isinstance(description, str) and description:
        checked = extra.get("action_description_checked")
        note = ""
        if isinstance(checked, dict) and checked.get("verdict") == "good":
            note = ' <span class="note">checked: good</span>'
        elif isinstance(checked, dict) and checked.get("verdict") == "corrected":
            note = f' <span class="note">corrected; was: {_html(checked.get("original"))}</span>'
        rows.append(_row("Description", f"<code>{_html(description)}</code>{note}", "description"))
    reflection = extra.get("reflection")
    if isinstance(reflection, dict) and (reflection.get("text") or reflection.get("correct") is not None):
        verdicts = [f"previous step {'correct' if reflection['correct'] else 'not correct'}"
                    if isinstance(reflection.get("correct"), bool) else "",
                    f"{'redundant' if reflection['redundant'] else 'not redundant'}"
                    if isinstance(reflection.get("redundant"), bool) else ""]
        head = ", ".join(v for v in verdicts if v)
        rows.append(_row("Reflection", (f'<span class="note">{_html(head)}</span> ' if head else "")
                         + f'<span class="prose">{_html(reflection.get("text"))}</span>', "reflection"))
    elif isinstance(reflection, str) and reflection:
        rows.append(_row("Reflection", f'<span class="prose">{_html(reflection)}</span>', "reflection"))
    boosts = accepted_boosts(step)
    if boosts:
        items = "".join(f'<li><span class="prose">{_html(t)}</span><br><code>{_html(a)}</code></li>' for t, a in boosts)
        rows.append(_row(f"Boost samples ({len(boosts)})", f'<ol class="boosts">{items}</ol>', "boost"))
    records = extra.get("completion")
    if isinstance(records, dict) and records:
        parts = []
        for pass_name, record in records.items():
            if not isinstance(record, dict):
                parts.append(f"<li>{_html(pass_name)}: {_html(record)}</li>")
                continue
            details = ", ".join(str(record[k]) for k in ("model", "profile", "time") if record.get(k))
            cached = " (cached)" if record.get("cached") else ""
            error = f" — {_html(record['error'])}" if record.get("error") else ""
            parts.append(f"<li><strong>{_html(pass_name)}</strong>: {_html(record.get('status'))}{cached}"
                         f"{' · ' + _html(details) if details else ''}{error}</li>")
        rows.append(_row("Completion", f'<ul class="provenance">{"".join(parts)}</ul>', "completion"))
    return rows


def _step_html(trajectory: Trajectory, step: Step, start: float, screenshot: str) -> str:
    extra = step.extra
    thought_text, _ = thought_of(step)
    thought = extra.get("thought")
    rows = [_row("Action", f"<code>{_html(step.action)}</code>", "action")]
    if isinstance(extra.get("planned_action"), str):
        rows.append(_row("Planned", f"<code>{_html(extra['planned_action'])}</code>"))
    if thought_text.strip():
        source = thought_source_label(thought, trajectory.meta)
        rows.append(_row("Thought", f'<span class="prose">{_html(thought_text)}</span> '
                                    f'<span class="source">— {_html(source)}</span>', "thought"))
    else:
        rows.append(_row("Thought", '<span class="none">none recorded</span>', "thought"))
    rows.append(_row("Decision", _html(decision_label(step)), "decision"))
    element, window = step.element or {}, step.window or {}
    target = " — ".join(str(element[k]) for k in ("name", "role") if element.get(k))
    application = element.get("application") or window.get("application")
    place = " · ".join(str(v) for v in (window.get("title"), application) if v)
    if target or place:
        rows.append(_row("Element", _html(target or "(unnamed)") + (f' <span class="note">in {_html(place)}</span>'
                                                                  if place else "")))
    if extra.get("redacted"):
        rows.append(_row("Redacted", _html(f"typed text hidden ({extra['redacted']})")))
    rows += _completion_rows(step)
    grounding = extra.get("grounding")
    if isinstance(grounding, dict):
        found = "found" if grounding.get("found") else f"not found ({grounding.get('reason')})"
        rows.append(_row("Grounding", _html(f"{grounding.get('engine')}: {found}")))
    timing = extra.get("timing")
    if isinstance(timing, dict) and timing:
        rows.append(_row("Timing", _html(", ".join(f"{k} {v}" for k, v in timing.items()))))
    actor = step.actor if step.actor in ("human", "agent") else "other"
    return (f'<li class="step actor-{actor}" id="step-{step.index}">'
            f'<figure>{screenshot}</figure>'
            f'<div class="details"><h3>Step {step.index} <span class="actor">{_html(step.actor)}</span>'
            f' <span class="when">+{step.time - start:.1f} s</span></h3>'
            f'<table>{"".join(rows)}</table></div></li>')


def _metric_value(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in _SHARES and isinstance(value, (int, float)):
        return f"{value * 100:.1f}%"
    if key.endswith("_s") and isinstance(value, (int, float)):
        return f"{value:.1f} s"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items() if v) or "—"
    return str(value)


def _metrics_html(trajectory: Trajectory) -> str:
    metrics = trajectory.meta.get("collaboration")
    human = sum(step.actor == "human" for step in trajectory.steps)
    agent = sum(step.actor == "agent" for step in trajectory.steps)
    if not isinstance(metrics, dict):
        return ('<section id="metrics"><h2>Collaboration</h2><p class="none">No collaboration metrics recorded '
                f'(not a collaborative run). Steps in the file: {human} human, {agent} agent.</p></section>')
    known = dict(_METRICS)
    rows = [_row(label, _html(_metric_value(key, metrics.get(key))), f"metric-{key}")
            for key, label in _METRICS if key in metrics]
    rows += [_row(key, _html(_metric_value(key, value)), f"metric-{key}") for key, value in metrics.items()
             if key not in known]
    return f'<section id="metrics"><h2>Collaboration</h2><table class="metrics">{"".join(rows)}</table></section>'


def _completion_summary_html(trajectory: Trajectory) -> str:
    sources: dict[str, int] = {}
    for step in trajectory.steps:
        thought = step.extra.get("thought")
        label = thought_source_label(thought, trajectory.meta) if thought_of(step)[0].strip() else "no thought"
        sources[label] = sources.get(label, 0) + 1
    described = sum(bool(step.extra.get("action_description")) for step in trajectory.steps)
    reflected = sum(isinstance(step.extra.get("reflection"), (dict, str)) for step in trajectory.steps)
    boosts = sum(len(accepted_boosts(step)) for step in trajectory.steps)
    failed = sum(1 for step in trajectory.steps if isinstance(step.extra.get("completion"), dict)
                 for record in step.extra["completion"].values()
                 if isinstance(record, dict) and record.get("status") == "failed")
    rows = [_row(f"Thoughts: {label}", str(count)) for label, count in sorted(sources.items())]
    rows += [_row("Action descriptions", str(described)), _row("Reflections", str(reflected)),
             _row("Boost samples kept", str(boosts))]
    if failed:
        rows.append(_row("Failed completion passes", str(failed), "failed"))
    return f'<section id="completion"><h2>Thoughts and completion</h2><table>{"".join(rows)}</table></section>'


def _header_html(trajectory: Trajectory) -> str:
    meta = trajectory.meta
    human = sum(step.actor == "human" for step in trajectory.steps)
    agent = len(trajectory.steps) - human
    platform = meta.get("platform") if isinstance(meta.get("platform"), dict) else {}
    agent_info = meta.get("agent") if isinstance(meta.get("agent"), dict) else {}
    recorder = meta.get("recorder") if isinstance(meta.get("recorder"), dict) else {}
    rows = [_row("Outcome", _html(meta.get("outcome") or "not ended cleanly"), "outcome"),
            _row("Steps", _html(f"{len(trajectory.steps)} ({human} human, {agent} agent)")),
            _row("Trajectory", _html(f"{trajectory.root.resolve().name} · id {meta.get('id')} · "
                                    f"created {meta.get('created')}")),
            _row("Platform", _html(" ".join(str(platform[k]) for k in ("os", "display_server") if platform.get(k))))]
    if agent_info:
        rows.append(_row("Agent", _html(", ".join(f"{k} {v}" for k, v in agent_info.items()
                                                 if isinstance(v, (str, int, float)) and v != ""))))
    if recorder.get("name"):
        rows.append(_row("Recorder", _html(recorder["name"])))
    if isinstance(meta.get("score"), (int, float)):
        rows.append(_row("Score", _html(meta["score"])))
    task = task_text(meta) or "(no task recorded)"
    return f'<header><h1>{_html(task)}</h1><table class="summary">{"".join(rows)}</table></header>'


# ---- the page -------------------------------------------------------------------------------------


def render_report(trajectory: Trajectory) -> tuple[str, list[str]]:
    """The page's HTML, and the problems met (reader problems, unreadable screenshots)."""
    problems = [str(problem) for problem in trajectory.problems]
    origin = desktop_origin(trajectory.meta)
    start = trajectory.steps[0].time if trajectory.steps else 0.0
    shots = in_parallel(lambda step: _screenshot_html(trajectory, step, origin), trajectory.steps)
    problems += [problem for _, problem in shots if problem]
    steps = "".join(_step_html(trajectory, step, start, shot)
                    for step, (shot, _) in zip(trajectory.steps, shots, strict=True))
    problem_html = ""
    if problems:
        items = "".join(f"<li>{_html(problem)}</li>" for problem in problems)
        problem_html = f'<section id="problems"><h2>Problems</h2><ul>{items}</ul></section>'
    title = f"pcagent trajectory: {task_text(trajectory.meta) or trajectory.root.resolve().name}"
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_html(title)}</title>'
        f"<style>{PAGE_STYLE}</style></head><body>"
        f"{_header_html(trajectory)}{_metrics_html(trajectory)}{_completion_summary_html(trajectory)}{problem_html}"
        f'<section id="steps"><h2>Steps</h2><ol class="steps">{steps}</ol></section>'
        f'<footer>Written by pcagent trace report on {_html(time.strftime("%Y-%m-%d %H:%M:%S"))}.</footer>'
        "</body></html>\n")
    return page, problems


def write_report(folder: Path | str, out: Path | str | None = None) -> ReportResult:
    """Write the report of the trajectory ``folder`` to ``out`` (default ``folder/report.html``).

    Raises DatasetError when the folder is not a trajectory (no readable meta.json) or the file cannot be
    written."""
    folder = Path(folder)
    try:
        trajectory = read_trajectory(folder)
    except TrajectoryError as error:
        raise DatasetError(str(error)) from None
    page, problems = render_report(trajectory)
    path = Path(out) if out is not None else folder / REPORT_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, page.encode("utf-8"), sync=False)
    except OSError as error:
        raise DatasetError(f"cannot write {path}: {error}") from None
    return ReportResult(path, len(trajectory.steps), problems)

