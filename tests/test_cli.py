"""The `pcagent trace` commands as a user runs them."""

from __future__ import annotations

import subprocess
import sys

from tests.test_pctracker import STANDARD_LINES, make_recording


def pcagent(*args):
    return subprocess.run([sys.executable, "-m", "pcagent", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def test_import_show_and_check_a_pctracker_recording(tmp_path):
    src = make_recording(tmp_path / "events", STANDARD_LINES)
    dest = tmp_path / "imported"
    result = pcagent("trace", "import-pctracker", src, dest)
    assert result.returncode == 0, result.stderr
    assert f"Imported into {dest}" in result.stdout

    shown = pcagent("trace", "show", dest)
    assert shown.returncode == 0, shown.stderr
    assert 'task: rename "a, b.txt" to b.txt' in shown.stdout
    for action in ("click (10, 20)", "press key: enter", "hotkey (ctrl, c)", "scroll (0, -3)",
                   "drag from (1, 2) to (30, 40)", "finish"):
        assert action in shown.stdout

    checked = pcagent("trace", "check", dest)
    assert checked.returncode == 0, checked.stdout
    assert "OK (0 errors" in checked.stdout


def test_check_reports_a_bad_step_with_its_line_number(tmp_path):
    src = make_recording(tmp_path / "events", STANDARD_LINES)
    dest = tmp_path / "imported"
    assert pcagent("trace", "import-pctracker", src, dest).returncode == 0
    steps = (dest / "steps.jsonl").read_text().splitlines()
    steps[2] = steps[2].replace('"hotkey (ctrl, c)"', '"launch missiles"')
    (dest / "steps.jsonl").write_text("\n".join(steps) + "\n")
    checked = pcagent("trace", "check", dest)
    assert checked.returncode == 1
    assert "steps.jsonl:3" in checked.stdout and "FAILED" in checked.stdout


def test_unreadable_trajectory_is_a_clear_error(tmp_path):
    result = pcagent("trace", "show", tmp_path / "nothing-here")
    assert result.returncode == 1
    assert "nothing-here" in result.stderr
    assert "Traceback" not in result.stderr
