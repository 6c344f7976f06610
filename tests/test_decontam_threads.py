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
