"""The report page's style sheet, inline in the page (tracker.report.html_report): readable in a light or a
dark browser theme, a step per row with its screenshot beside its details, wrapping to one column on a
narrow window. Human steps are marked blue, agent steps orange."""

from __future__ import annotations

__all__ = ["PAGE_STYLE"]

PAGE_STYLE = """
:root { color-scheme: light dark; --human: #1f6feb; --agent: #d97706; --muted: #6b7280; --line: #d1d5db; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1500px; padding: 1rem 1.5rem; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; margin-top: 1.6rem; }
h3 { margin: 0 0 0.4rem; font-size: 1.05rem; }
table { border-collapse: collapse; }
th { text-align: left; vertical-align: top; padding: 0.15rem 0.8rem 0.15rem 0; color: var(--muted);
     font-weight: 600; white-space: nowrap; }
td { vertical-align: top; padding: 0.15rem 0; }
code { font: 0.92em ui-monospace, monospace; background: rgba(127, 127, 127, 0.14); padding: 0 0.25em;
       border-radius: 3px; white-space: pre-wrap; word-break: break-word; }
.prose { white-space: pre-wrap; }
.source, .note, .when, footer { color: var(--muted); font-size: 0.9em; }
.none { color: var(--muted); font-style: italic; }
ol.steps { list-style: none; padding: 0; margin: 0; }
li.step { display: flex; flex-wrap: wrap; gap: 1rem; padding: 0.9rem 0 0.9rem 0.8rem; margin-bottom: 0.6rem;
          border-left: 5px solid var(--line); border-bottom: 1px solid var(--line); }
li.actor-human { border-left-color: var(--human); }
li.actor-agent { border-left-color: var(--agent); }
.actor { font-size: 0.8em; padding: 0.05rem 0.45rem; border-radius: 0.6rem; color: white; background: var(--muted); }
.actor-human .actor { background: var(--human); }
.actor-agent .actor { background: var(--agent); }
figure { margin: 0; flex: 1 1 560px; max-width: 820px; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); }
.details { flex: 1 1 420px; min-width: 0; }
.noshot { padding: 2rem; border: 1px dashed var(--line); color: var(--muted); text-align: center; }
ol.boosts, ul.provenance { margin: 0; padding-left: 1.2rem; }
ol.boosts li { margin-bottom: 0.3rem; }
tr.failed td, #problems li { color: #b91c1c; }
footer { margin-top: 2rem; }
"""
