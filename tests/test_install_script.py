"""tests/install_test_deps.sh explains what it needs and stops clearly without root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "install_test_deps.sh"


def _bin_without_system_packages(tmp_path: Path) -> Path:
    """A PATH holding only the shell tools the script uses: bwrap and chromium look missing."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "id", "dirname", "python"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    bin_dir.chmod(0o755)
    tmp_path.chmod(0o755)
    return bin_dir


def _run(args: list[str], path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(path), "HOME": "/tmp"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root to switch to an unprivileged user")
def test_non_root_user_is_told_what_to_run_as_root(tmp_path):
    path = _bin_without_system_packages(tmp_path)
    result = _run([shutil.which("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups",
                   str(path / "bash"), str(SCRIPT), "--dry-run"], path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "needs root" in result.stderr
    assert "apt-get install -y bubblewrap chromium chromium-driver" in result.stderr
    assert "nothing installed" not in result.stdout


def test_dry_run_prints_the_plan_and_installs_nothing(tmp_path):
    result = _run(["bash", str(SCRIPT), "--dry-run"], Path(os.environ["PATH"]))
    if os.geteuid() != 0 and result.returncode == 1:
        assert "needs root" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert "apt packages to install:" in result.stdout
    assert "--dry-run: nothing installed" in result.stdout


def test_readme_says_in_one_line_that_it_needs_root_and_gigabytes():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert any("install_test_deps.sh" in line and "root" in line and "GB" in line
               and "upgrade" in line for line in lines)
