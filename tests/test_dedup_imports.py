"""The default `curate dedup` command imports no polars (0.12 s of a small command's run) and no
pandas (0.2 s)."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.dedup.synth import planted_corpus


@pytest.mark.parametrize("planted, samples", [(0.3, 1), (0.0, 1), (0.3, 3)])
def test_dedup_command_does_not_import_polars(tmp_path, planted, samples):
    """One row a problem (the streamed signature pass) with and without duplicates, and several
    samples a problem (a part read whole, its rows folded into units): the units, the
    clustering, the decisions, clusters.parquet and the report run in pyarrow and numpy."""
    texts = planted_corpus(60, words=30, planted=planted, seed=4).texts
    rows = [{"id": f"p{i:03d}", "sample_idx": s, "source": "s" if i % 3 else None, "problem": text,
             "answer": str(i), "verdict": "pass" if (i + s) % 4 == 0 else None}
            for i, text in enumerate(texts) for s in range(samples)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=20)
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["dedup", {str(tmp_path / 'in.parquet')!r}, {str(tmp_path / 'out')!r}], standalone_mode=False)
finally:
    print(sorted(m for m in ("polars", "pandas") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # with several samples, load's duplicate-id check counts repeated ids (no Acero group_by: it imports pandas)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    stats = (tmp_path / "out" / "01-dedup" / "artifacts" / "stats.json").read_text()
    assert ('"removed_units": 0' in stats) == (planted == 0.0)
    assert (tmp_path / "out" / "01-dedup" / "part-00000.parquet").exists()
