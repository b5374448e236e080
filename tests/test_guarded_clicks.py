"""Guards see every click: a coordinate click on a "Delete" button, from an end-to-end planner or a replay,
in auto mode, waits for approval; nothing reaches the app before it, and the step records what the guard
saw. The app is the real Qt sample app on Xvfb; the planner is a scripted loopback model."""

from __future__ import annotations

import sys
import time

from grounding.accessibility import NullAccessibility
from models.scripted_server import ScriptedServer
from pcagent.collab.point_target import PointLookup
from tests.pty_process import PtyProcess
from tracker.format.trajectory import Step, TrajectoryWriter, new_meta, read_trajectory


def _clicks(app, since: float) -> list[str]:
    return [e["name"] for e in app.events("button_clicked") if e["t"] > since]


def _approve_after_checking_nothing_happened(proc: PtyProcess, app, since: float) -> None:
    proc.read_until("Needs approval:", timeout=60)
    proc.read_until("> ")
    time.sleep(0.5)  # had the click been sent, the app would have logged it by now
    assert _clicks(app, since) == [], "the guarded click reached the app before approval"
    assert "Delete" in proc.text[proc.text.index("Needs approval:"):]
    proc.write("a\n")
    app.wait_for("button_clicked", name="Delete", timeout=20)


def test_end_to_end_coordinate_click_on_delete_waits_for_approval(sample_app, xdisplay, tmp_path):
    x, y = sample_app.center("delete")
    script = [{"response": f"Delete it.\nAction: click ({x}, {y})"}, {"response": "Done.\nAction: finish"}]
    with ScriptedServer(script) as server:
        models = tmp_path / "models.toml"
        models.write_text(f'[profiles.planner]\nbase_url = "{server.base_url}"\nmodel = "m"\nmax_retries = 0\n'
                          f"image_max_pixels = {1280 * 800}\n")
        since = time.time()
        proc = PtyProcess([sys.executable, "-m", "pcagent", "run", "delete the item", "--planner", "planner",
                           "--planner-kind", "end-to-end", "--models-file", str(models), "--mode", "auto",
                           "--out", str(tmp_path / "run"), "--settle", "0.3"], env=xdisplay.child_env())
        try:
            _approve_after_checking_nothing_happened(proc, sample_app, since)
            assert proc.wait(60) == 0, proc.text
        finally:
            proc.close()
    step = read_trajectory(tmp_path / "run").steps[0]
    assert step.extra["guard"]["saw"] == {"text": "Delete", "source": "accessibility", "role": "push button"}
    assert any("Delete" in reason for reason in step.extra["guard"]["reasons"])
    assert step.extra["decision"]["by"] == "user"


def test_replayed_click_on_delete_waits_for_approval(sample_app, xdisplay, grab, tmp_path):
    """`pcagent replay` runs in auto mode by default; a recorded click on Delete still asks."""
    recorded = tmp_path / "recorded"
    rect = sample_app.rect("delete")
    x, y = sample_app.center("delete")
    meta = new_meta(task={"mode": "given", "description": "delete"},
                    screens=[{"index": 0, "left": 0, "top": 0, "width": 1280, "height": 800, "scale": 1.0,
                              "primary": True}])
    with TrajectoryWriter(recorded, meta) as writer:
        shot = grab()
        for index, action in enumerate((f"click ({x}, {y})", "finish")):
            path = writer.save_screenshot(index, _png(shot))
            element = {"name": "Delete", "role": "push button", "rect": list(rect),
                       "application": "pcagent-sampleapp"} if index == 0 else None
            writer.append_step(Step(index=index, time=time.time(), actor="human", action=action, screenshot=path,
                                    pointer=(x, y) if index == 0 else None, element=element))
        writer.close("finish")
    since = time.time()
    proc = PtyProcess([sys.executable, "-m", "pcagent", "replay", str(recorded), "--out", str(tmp_path / "replayed"),
                       "--settle", "0.3"], env=xdisplay.child_env())
    try:
        _approve_after_checking_nothing_happened(proc, sample_app, since)
        assert proc.wait(60) == 0, proc.text
    finally:
        proc.close()
    assert read_trajectory(tmp_path / "replayed").steps[0].extra["guard"]["saw"]["text"] == "Delete"


def test_without_accessibility_the_guard_reads_the_label_with_ocr(sample_app, grab):
    seen = PointLookup(NullAccessibility("off")).at(grab(), sample_app.center("delete"))
    assert (seen.text, seen.source) == ("Delete", "ocr")


def _png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
