"""Make the README's pictures of the tray app: run tests/test_app_screens.py (Xvfb, openbox, gnome-keyring
and xdotool, as the test bed installs them) with $PCAGENT_SCREENS_DIR set, then copy each window's PNG into
docs/ under a stable name, as a 256-colour palette PNG (a fraction of the size, the same look).

    .venv/bin/python docs/make_readme_screens.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
# the test's picture -> the name the README links to
PICTURES = {
    "tray_menu": "app-tray-menu.png",
    "approval_panel": "app-approval-panel.png",
    "review_window": "app-review-window.png",
    "settings_window": "app-settings.png",
    "settings_recording": "app-settings-recording.png",
    "thought_box": "app-thought-box.png",
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pcagent-screens-") as folder:
        env = {**os.environ, "PCAGENT_SCREENS_DIR": folder}
        test = subprocess.run([sys.executable, "-m", "pytest", "tests/test_app_screens.py", "-q",
                               "-p", "no:cacheprovider"], cwd=REPO, env=env, check=False)
        if test.returncode != 0:
            print("make_readme_screens: the screens test failed; docs/ is unchanged", file=sys.stderr)
            return test.returncode
        missing = [name for name in PICTURES if not (Path(folder) / f"{name}.png").exists()]
        if missing:
            print(f"make_readme_screens: the test wrote no {', '.join(missing)}", file=sys.stderr)
            return 1
        for name, target in PICTURES.items():
            with Image.open(Path(folder) / f"{name}.png") as image:
                palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
                palette.save(DOCS / target, optimize=True)
            print(f"{DOCS / target}  {(DOCS / target).stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
