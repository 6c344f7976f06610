"""`curate filter` imports no pandas (0.2 s of every run) and no polars, whatever its rules: masks
are built from buffers and compute functions get Arrow scalars, never Python values."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

RULES = [
    ["--verdict", "pass,judge_pass"], ["--extraction", "boxed"], ["--finish-reason", "stop"],
    ["--min-completion-tokens", "50", "--max-completion-tokens", "400"], ["--min-chars", "5", "--max-chars", "60"],
    ["--min-pass-rate", "0.2", "--max-pass-rate", "0.9"], ["--drop-duplicates"], ["--drop-contaminated"],
    ["--drop-contaminated", "--keep-templates"], ["--where", "{source: [a]}"],
    ["--verdict", "pass", "--domains", "math"],
    ["--max-per-problem", "2", "--keep", "first", "--rows-per-part", "30"],  # problems straddle parts
    ["--keep", "shortest"], ["--max-per-problem", "2", "--keep", "random"], ["--max-per-problem", "3"],
]


def test_filter_command_does_not_import_pandas(tmp_path):
    """Every rule kind, each a `curate filter` in one fresh process; prints the rules after which
    pandas or polars was first loaded."""
    rows = [{"id": f"p{i // 4:03d}", "sample_idx": i % 4, "source": "ab"[i % 2], "domain": ["math", "code"][i // 4 % 2],
             "problem": f"problem {i // 4}", "answer": "a" * (i % 7),
             "reasoning": "r" * (i * 7 % 53) if i % 5 else None,
             "verdict": ["pass", "fail", None][i % 3], "finish_reason": ["stop", "length"][i % 2],
             "completion_tokens": i * 13 % 500, "pass_rate": i // 4 % 5 / 4,
             "verify_detail": json.dumps({"extraction": ["boxed", "phrase"][i % 2]}) if i % 3 else None,
             "dup_of": "p000" if i % 7 == 0 else None,
             "contaminated": [["x/1 (template)"], ["x/2", "x/3 (template)"], [], None][i % 4]} for i in range(120)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=40)
    code = f"""
import sys
from curate.cli.group import cli
for n, rules in enumerate({RULES!r}):
    cli(["filter", {str(tmp_path / 'in.parquet')!r}, {str(tmp_path)!r} + f"/out{{n}}", *rules], standalone_mode=False)
    loaded = sorted(m for m in ("polars", "pandas") if m in sys.modules)
    if loaded:
        print(rules, loaded)
        break
else:
    print("done")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "done", out.stdout + out.stderr
    assert all((tmp_path / f"out{n}" / "01-filter" / "part-00000.parquet").exists() for n in range(len(RULES)))
