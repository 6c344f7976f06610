"""`read_parquet`: one local file, as `pq.read_table` reads it, without pyarrow.dataset's pandas import."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from curate.storage.parquet_files import read_parquet


def test_read_parquet_equals_read_table(tmp_path):
    table = pa.Table.from_pylist([{"id": f"p{i}", "n": i, "tags": ["a"] * (i % 3), "note": None if i % 2 else "x"}
                                  for i in range(50)])
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=16)
    assert read_parquet(path).equals(pq.read_table(path))
    assert read_parquet(str(path), columns=["note", "id"]).equals(pq.read_table(path, columns=["note", "id"]))


def test_inspect_command_does_not_import_pandas(tmp_path):
    """`curate inspect` of a Parquet file: pq.read_table's dataset layer imported pandas (0.27 s)."""
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "p1", "problem": "1 + 1?", "answer": "2", "domain": "math"}]), path)
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["inspect", {str(path)!r}], standalone_mode=False)
finally:
    print(sorted(m for m in ("pandas", "pyarrow.dataset") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
