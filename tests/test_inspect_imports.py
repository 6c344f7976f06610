"""`curate inspect` of Parquet, of flat JSON lines and of a run imports no pandas (0.2 s) and no
polars: JSON values become Arrow columns from buffers (python_array), not through pa.array."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def test_inspect_does_not_import_pandas(tmp_path):
    rows = [{"id": f"p{i}", "source": "ab"[i % 2] if i % 3 else None, "problem": f"problem {i}", "answer": str(i),
             "tokens": i if i % 4 else None, "rate": i / 3, "ok": i % 2 == 0} for i in range(30)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = f"""
import sys
from curate.cli.group import cli
for path in ({str(tmp_path / 'in.parquet')!r}, {str(tmp_path / 'in.jsonl')!r}):
    cli(["inspect", path, "--json"], standalone_mode=False)
print(sorted(m for m in ("polars", "pandas") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert '"rows": 30' in out.stdout
