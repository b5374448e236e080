"""installer/install-debian.sh refuses to report success when a package the tests need is missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _fake_tools(folder: Path, missing: str) -> None:
    """dpkg-query that knows every package but `missing`, and an apt-get that cannot install anything."""
    folder.mkdir()
    (folder / "dpkg-query").write_text(f'#!/bin/sh\n[ "$3" = "{missing}" ] && exit 1\n'
                                       'printf "install ok installed"\n')
    (folder / "apt-get").write_text("#!/bin/sh\nexit 100\n")
    (folder / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    for tool in folder.iterdir():
        tool.chmod(0o755)


def test_a_missing_test_package_makes_the_installer_fail(tmp_path):
    _fake_tools(tmp_path / "bin", "zenity")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PCAGENT_VENV": str(tmp_path / "venv")}
    result = subprocess.run(["bash", str(REPO / "installer" / "install-debian.sh"), "--test"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "required system packages are missing: zenity" in result.stdout
    assert not (tmp_path / "venv").exists()  # it stopped before installing anything into a venv


def test_a_missing_test_package_is_not_required_to_use_pcagent(tmp_path):
    """Without --test only the display, input and accessibility packages are required; zenity is not."""
    _fake_tools(tmp_path / "bin", "zenity")
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "PCAGENT_VENV": str(tmp_path / "venv"),
           "PYTHON": "false"}  # stop right after the package check: no venv is built in a test
    result = subprocess.run(["bash", str(REPO / "installer" / "install-debian.sh")], env=env,
                            capture_output=True, text=True, timeout=120)
    assert "required system packages are missing" not in result.stdout
    assert "needs Python 3.10 or newer" in result.stdout
