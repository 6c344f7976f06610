"""`curate mix` imports no pandas (0.2 s of every run) and no polars: groups are dictionary codes,
masks and scalars are built from buffers, and rejected rows get their reason columns the same way."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SOURCES = ["math", "code", "general", None]


@pytest.mark.parametrize("options, ties", [
    (["--counts", "{math: 20, code: 9, (null): 4}"], False),  # others dropped to rejected/
    (["--ratios", "{math: 2, code: 1}", "--total", "30", "--others", "keep"], False),
    (["--counts", "{general: 70, math: 5}", "--repeat", "[general]", "--domains", "math"], False),
    (["--counts", "{math: 20, code: 9}", "--rows-per-part", "40"], True),  # settled by the key text
])
def test_mix_command_does_not_import_pandas(tmp_path, options, ties):
    """Counts, ratios with a total, repeats, domains and hash ties (hashes coarsened to force
    them: real 64-bit ties practically never occur), over several parts."""
    rows = [{"id": f"p{i:03d}", "sample_idx": i % 2, "source": SOURCES[i % 4], "domain": "math" if i % 3 else "code",
             "problem": f"problem {i}", "answer": str(i)} for i in range(160)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=50)
    coarsen = """
import numpy as np
import curate.stages.mix_hash as mix_hash
seeded_hashes = mix_hash.seeded_hashes
mix_hash.seeded_hashes = lambda keys, seed: seeded_hashes(keys, seed) % np.uint64(5)
""" if ties else ""
    code = f"""
import sys
{coarsen}
from curate.cli.group import cli
try:
    cli(["mix", {str(tmp_path / 'in.parquet')!r}, {str(tmp_path / 'out')!r}, *{options!r}], standalone_mode=False)
finally:
    print(sorted(m for m in ("polars", "pandas") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    plan = (tmp_path / "out" / "01-mix" / "artifacts" / "mix_plan.json").read_text()
    assert ('"ties": [' in plan) == ties
    assert (tmp_path / "out" / "01-mix" / "part-00000.parquet").exists()


def test_mix_of_jsonl_does_not_import_pandas(tmp_path):
    """Load turns flat JSON lines into Arrow columns from buffers (python_array), not pa.array."""
    lines = [json.dumps({"id": f"p{i}", "source": SOURCES[i % 4], "problem": f"problem {i}", "answer": i,
                         "score": i / 7 if i % 5 else None, "hard": i % 2 == 0}) for i in range(90)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["mix", {str(tmp_path / 'in.jsonl')!r}, {str(tmp_path / 'out')!r}, "--counts", "{{math: 9, code: 4}}"],
        standalone_mode=False)
finally:
    print(sorted(m for m in ("polars", "pandas") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    kept = pq.read_table(tmp_path / "out" / "01-mix" / "part-00000.parquet")
    assert kept.num_rows == 13
