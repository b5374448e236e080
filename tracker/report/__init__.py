"""The HTML report of a trajectory (`pcagent trace report DIR [--out FILE]`): one self-contained offline page
with every step's marked screenshot, action, actor, thought and its source, approval decision and completion
provenance, and the collaboration metrics. html_report.py builds the page, report_style.py holds its style."""

from tracker.report.html_report import REPORT_FILE, ReportResult, render_report, write_report

__all__ = ["REPORT_FILE", "ReportResult", "render_report", "write_report"]
