"""Rejected rows are written while a part runs, a row group at a time, and land whole and in order."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.schema import from_rows
from curate.stages.base import PartContext
from curate.storage.parquet_files import RejectedWriter


def rejects(n: int, start: int = 0) -> pa.Table:
    rows = from_rows([{"id": f"p{i}", "trace_id": f"t{i}", "problem": f"problem {i}"} for i in range(start, start + n)])
    return rows.append_column("reject_reason", pa.array([f"why {i}" for i in range(start, start + n)], pa.string()))


def test_rows_are_written_in_row_groups_as_they_come_and_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(RejectedWriter, "GROUP_ROWS", 10)
    path = tmp_path / "rejected" / "part-00000.parquet"
    writer = RejectedWriter(path, "filter")
    writer.add(rejects(7))
    assert writer.writer is None and not path.exists()  # 7 rows wait for a full row group
    writer.add(rejects(7, 7))
    assert writer.pending == []  # 14 rows: handed to the encoder
    writer.add(rejects(7, 14))
    assert writer.commit() == 21
    file = pq.ParquetFile(path)
    assert [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)] == [14, 7]
    table = file.read()
    assert table["trace_id"].to_pylist() == [f"t{i}" for i in range(21)]
    assert table["reject_reason"].to_pylist() == [f"why {i}" for i in range(21)]
    assert set(table["reject_stage"].to_pylist()) == {"filter"}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_no_rows_removes_a_stale_file_and_abort_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(RejectedWriter, "GROUP_ROWS", 5)
    path = tmp_path / "part-00000.parquet"
    path.write_bytes(b"stale")
    assert RejectedWriter(path, "mix").commit() == 0 and not path.exists()
    writer = RejectedWriter(path, "mix")
    writer.add(rejects(6))  # a row group is being written
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_context_with_a_sink_hands_rows_on_with_their_reasons():
    got = []
    ctx = PartContext(reject_sink=got.append)
    ctx.reject(from_rows([{"id": "a", "trace_id": "a-0"}, {"id": "b", "trace_id": "b-0"}]), "too short")
    ctx.reject(from_rows([{"id": "c", "trace_id": "c-0"}]), ["one reason per row"])
    assert ctx.rejected == [] and ctx.rejected_table() is None and ctx.counters["rejected"] == 3
    assert [t["reject_reason"].to_pylist() for t in got] == [["too short"] * 2, ["one reason per row"]]


@pytest.mark.parametrize("group_rows", [4, 10_000])
def test_a_filter_rejecting_most_rows_writes_them_all_whatever_the_row_group_size(tmp_path, monkeypatch,
                                                                                  group_rows):
    """Two rules, so each part rejects in two calls: with 4-row groups the first call's rows are
    written at once and the second's at the part's end; with large groups, all at the end."""
    monkeypatch.setattr(RejectedWriter, "GROUP_ROWS", group_rows)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "problem": f"p {i}", "answer": "x" * (i % 9)}) + "\n"
                            for i in range(40)))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"name": "rej", "seed": 1, "sources": [{"path": str(data), "domain": "math"}],
                                  "stages": [{"use": "load", "rows_per_part": 25},
                                             {"use": "filter", "min_chars": 5, "max_chars": 7}]}))
    run_recipe(load_recipe(recipe), tmp_path / "run", progress=False)
    files = sorted((tmp_path / "run" / "rejected" / "01-filter").glob("part-*.parquet"))
    table = pa.concat_tables(pq.read_table(f) for f in files)
    reasons = {f"q{i}": "chars below 5" if i % 9 < 5 else "chars above 7" for i in range(40) if i % 9 < 5 or i % 9 == 8}
    got = dict(zip((i.split(":")[-1] for i in table["id"].to_pylist()), table["reject_reason"].to_pylist()))
    assert got == reasons and table.num_rows == len(reasons)
    groups = [pq.ParquetFile(f).num_row_groups for f in files]
    assert groups == ([2, 2] if group_rows == 4 else [1, 1])
