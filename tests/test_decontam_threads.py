"""Decontamination scans batches of a part on threads: rows, counters and report records must be
those of one batch after another."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from curate.schema import conform
from curate.stages import decontam as stage_module
from curate.stages.base import PartContext, PrepareContext
from curate.stages.decontam import Decontam

MINI = Path(__file__).resolve().parent.parent / "recipes" / "data" / "mini_benchmark.jsonl"


def run(stage: Decontam, table: pa.Table, artifacts: Path, threads: int, monkeypatch) -> tuple:
    monkeypatch.setattr(stage_module, "threads_per_part", lambda: threads)
    ctx = PartContext(artifacts=artifacts)
    out = pa.concat_tables(stage.run(table.to_batches(max_chunksize=3), ctx))
    return out, dict(ctx.counters), ctx.stats


def test_threaded_batches_give_the_rows_counters_and_records_of_sequential_ones(tmp_path, monkeypatch):
    items = [json.loads(line)["problem"] for line in MINI.read_text().splitlines()]
    filler = "a short note about gardening, weather and the price of tea in the morning market"
    problems = [items[i % len(items)] if i % 3 == 0 else f"{filler} {i}" for i in range(40)]
    table = conform(pa.table({"id": [f"r{i}" for i in range(40)], "problem": problems}))
    stage = Decontam({"benchmarks": [str(MINI)], "max_report_hits": 4})
    stage.prepare(PrepareContext(inputs=[], artifacts=tmp_path))
    one = run(stage, table, tmp_path, 1, monkeypatch)
    two = run(stage, table, tmp_path, 2, monkeypatch)
    assert one[1]["rows_contaminated"] >= 10 and one[2]["hits_not_listed"] > 0  # the list limit is reached
    assert two[0].equals(one[0]) and two[1] == one[1] and two[2] == one[2]


def test_decontam_command_does_not_import_pandas(tmp_path):
    """pyarrow imports pandas on the first `pa.array` (0.35 CPU s of a command's start-up): the
    benchmark texts and the `contaminated` column are built from buffers instead."""
    import subprocess
    import sys

    import pyarrow.parquet as pq

    items = [json.loads(line)["problem"] for line in MINI.read_text().splitlines()]
    rows = pa.table({"id": [f"r{i}" for i in range(30)],
                     "problem": [items[i % len(items)] if i % 4 == 0 else f"plain row {i}" for i in range(30)]})
    pq.write_table(rows, tmp_path / "in.parquet", row_group_size=10)
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["decontam", {str(tmp_path / 'in.parquet')!r}, {str(tmp_path / 'out')!r}, "--benchmarks", {str(MINI)!r}],
        standalone_mode=False)
finally:
    print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
    marked = pq.read_table(tmp_path / "out" / "01-decontam" / "part-00000.parquet")["contaminated"].to_pylist()
    assert sum(bool(m) for m in marked) >= 6 and all(m == [] for m in marked[1::4])
