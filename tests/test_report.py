"""`pcagent trace report`: the page opened in headless Chromium (Debian's chromium, as the installer's --test
puts it there) shows every step with its marked screenshot, thought and its source, action, actor and
decision, the collaboration metrics and completion provenance; text from the trajectory is shown, never
run; the page loads nothing from anywhere."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from tests.collaborative_trajectory import (
    HOSTILE_THOUGHT, REPO, TASK, build_collaborative_trajectory, copy_recorded,
)
from tests.conftest import skip_or_fail
from tracker.format.trajectory import read_trajectory

CHROMIUM = "/usr/bin/chromium"


def pcagent(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pcagent", *map(str, args)], cwd=REPO, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def chromium(page: Path, profile: Path, *how: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file, with no network of its own (no background requests, no updates)."""
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail("chromium is not installed: run installer/install-debian.sh --test")
    flags = ["--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--no-first-run", f"--user-data-dir={profile}"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run([CHROMIUM, *flags, *how, page.resolve().as_uri()], capture_output=True, text=True,
                          timeout=90, stdin=subprocess.DEVNULL)


class _Page(HTMLParser):
    """What a rendered DOM holds: its elements by tag, the text of the steps, and every URL it names."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.images: list[str] = []
        self.steps: list[str] = []
        self._in_step = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attributes = dict(attrs)
        self.urls += [value for key, value in attrs if key in ("src", "href", "action", "poster") and value]
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        if tag == "li" and "step" in (attributes.get("class") or "").split():
            self.steps.append("")
            self._in_step = 1
        elif self._in_step and tag == "li":
            self._in_step += 1

    def handle_endtag(self, tag):
        if self._in_step and tag == "li":
            self._in_step -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._in_step:
            self.steps[-1] += data


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, _Page, str]:
    folder = build_collaborative_trajectory(tmp_path_factory.mktemp("report") / "collab")
    done = pcagent("trace", "report", folder)
    assert done.returncode == 0, done.stderr
    page = folder / "report.html"
    assert done.stdout.strip() == str(page)
    dom = chromium(page, tmp_path_factory.mktemp("chromium"), "--dump-dom")
    assert dom.returncode == 0 and "<body" in dom.stdout, dom.stderr[-2000:]
    parsed = _Page()
    parsed.feed(dom.stdout)
    return page, parsed, dom.stdout


def test_the_page_shows_every_step_its_actor_action_thought_source_and_decision(report):
    _, page, _ = report
    assert len(page.steps) == 5
    human, approved, edited, completed, finish = page.steps
    assert "human" in human and "click (45, 50)" in human and "typed by the human" in human
    assert "the human acted" in human and "Save — push button" in human
    assert "agent" in approved and "type text: Report" in approved
    assert "The name field has focus, so I type the new name." in approved
    assert "the agent's planner (scripted-planner)" in approved and "approved by the user" in approved
    assert "edited by the user: drag from (100, 20) to (140, 60) — moved further" in edited
    assert "drag from (100, 20) to (120, 40)" in edited  # what the agent had planned
    assert "I scroll down to find the list." in completed
    assert "completed by scripted-model (scripted, thought, history)" in completed
    assert "previous step correct, not redundant" in completed and "Moving the window uncovered the list." in completed
    assert "reflection: failed" in completed and "the answer had no verdict" in completed
    assert "finish" in finish and "none recorded" in finish


def test_the_page_shows_completion_provenance_boosts_and_the_metrics(report):
    _, page, _ = report
    first = page.steps[0]
    assert "click element: the 'Save' button" in first and "checked: good" in first
    assert "The Save button is at the top left; I press it." in first and "click (44, 51)" in first
    assert "describe: done · scripted-model, scripted" in first and "boost: done (cached)" in first
    text = " ".join(page.text)
    metrics = read_trajectory(report[0].parent).meta["collaboration"]
    assert metrics["step_accuracy"] == 0.5 and metrics["interventions"] == 1
    for shown in ("Step accuracy (approved / proposed)", "50.0%", "Interventions", "Human share of steps", "60.0%",
                  "Review time", f"{metrics['review_time_s']:.1f} s", "Last step by"):
        assert shown in text
    assert TASK in text  # the task's markup is text, not bold
    assert "b" not in page.tags


def test_text_from_the_trajectory_is_shown_never_run(report):
    _, page, dom = report
    assert "script" not in page.tags
    shown = "I click Save <script>alert('x')</script> now\\x1b[31m <image> here"  # the escape made visible
    assert shown in page.steps[0] and HOSTILE_THOUGHT not in dom
    assert "&lt;script&gt;" in dom


def test_the_page_loads_nothing_and_embeds_marked_screenshots(report):
    path, page, _ = report
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", html,
                         re.IGNORECASE)
    assert "default-src 'none'" in html and "<script" not in html.lower()
    assert all(url.startswith("data:image/") for url in page.urls) and len(page.images) == 5
    with Image.open(io.BytesIO(base64.b64decode(page.images[0].split(",", 1)[1]))) as shot:
        red = shot.convert("RGB").getpixel((45, 50))  # the dot of the click's mark
    assert red[0] > 180 and red[1] < 90 and red[2] < 90


def test_a_real_recording_renders_and_a_broken_one_is_reported(tmp_path):
    recorded = copy_recorded(tmp_path / "recorded")
    out = tmp_path / "pages" / "recorded.html"
    done = pcagent("trace", "report", recorded, "--out", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    shot = tmp_path / "shot.png"
    rendered = chromium(out, tmp_path / "profile", "--screenshot=" + str(shot), "--window-size=1280,2000")
    assert rendered.returncode == 0 and shot.is_file(), rendered.stderr[-2000:]
    with Image.open(shot) as image:
        colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 50  # a page with screenshots on it, not a blank one

    first = read_trajectory(recorded).steps[0].screenshot
    (recorded / first).write_bytes(b"RIFF broken")
    broken = pcagent("trace", "report", recorded)
    assert broken.returncode == 1 and f"{first.rsplit('/', 1)[-1]}: screenshot cannot be decoded" in broken.stderr
    assert "screenshot unreadable" in (recorded / "report.html").read_text()

    not_one = pcagent("trace", "report", tmp_path / "pages")
    assert not_one.returncode == 1 and "not a trajectory folder" in not_one.stderr
