"""Lint gate: `ruff check curate tests` (rules and line length from pyproject.toml) stays clean.

ruff comes with the `dev` extra, which CI installs; without it the test skips locally and fails
under CI, so a broken CI install cannot hide lint findings.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_reports_no_findings():
    """Every finding fails the test and is printed with its file, line and rule."""
    if importlib.util.find_spec("ruff") is None:
        if os.environ.get("CI"):
            pytest.fail("ruff is required under CI: pip install -e '.[dev]'", pytrace=False)
        pytest.skip("ruff not installed (pip install -e '.[dev]')")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "curate", "tests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, f"ruff check curate tests found problems:\n{result.stdout}{result.stderr}"
