"""The committed sample corpus (recipes/data/) is exactly what tools/make_sample.py writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = ["math.jsonl", "code.jsonl", "general.jsonl", "mini_benchmark.jsonl", "PLANTS.md"]


def test_sample_corpus_regenerates_byte_for_byte(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_sample.py"), str(tmp_path)],
                   check=True, capture_output=True)
    for name in FILES:
        made, committed = (tmp_path / name).read_bytes(), (ROOT / "recipes" / "data" / name).read_bytes()
        assert made == committed, f"recipes/data/{name} differs from what tools/make_sample.py writes; rerun it"
    assert not (ROOT / "recipes" / "data" / "make_sample.py").exists()
