"""Benchmark: `curate view` on a large synthetic run: time to the first page, to a filtered page, RSS.

    python tests/benchmarks/bench_view.py [--rows 200000] [--repeats 5] [--keep DIR] [--no-search]

Builds a run directory of `--rows` trace rows (8-16 kB of reasoning each, about 5 kB a row on
disk: random words, so zstd cannot shrink them to nothing; parts of 50,000 rows as `load` makes
by default, row groups of 10,000 rows) plus a rejected/ folder with a tenth as many rows. Starts `curate view RUN` in a
subprocess, as a user would, and times over HTTP: the very first page (cold), the first page, a
filtered page (verdict=fail), a filtered and sorted page, a range filter, a page in the middle,
opening one row, and a full-text search with one match (a full scan of the texts). Prints medians,
the ratio to the issue's goals (first page < 1 s, filtered page < 0.5 s, RSS < 500 MB) and the
viewer's peak RSS.

Baseline, in the same run: the eager way the viewer avoids, reading the table's small columns
whole with pyarrow and filtering them in memory (a fresh subprocess, its time and peak RSS).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
PART_ROWS, GROUP_ROWS = 50_000, 10_000
VERDICTS = ["pass"] * 6 + ["fail"] * 3 + ["no_answer", "timeout"]


def make_run(path: Path, rows: int) -> int:
    """Write a run directory of `rows` kept rows and rows // 10 rejects; return its size in bytes."""
    import numpy as np
    import pyarrow as pa

    from curate.rundir import RunDir, write_json_atomic
    from curate.schema import TRACE_SCHEMA
    from curate.storage.parquet_files import write_rejected

    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(4000)] + ["therefore", "wait", "x^2", "$\\frac{a}{b}$"])
    pool = " ".join(vocab[rng.integers(0, len(vocab), 6_000_000)])
    rd = RunDir(path)
    path.mkdir(parents=True)
    write_json_atomic(rd.manifest_path, {"stages": {}})
    stage = rd.stage_dir(1, "verify")
    for part, start in enumerate(range(0, rows, PART_ROWS)):
        n = min(PART_ROWS, rows - start)
        tables = [_rows(rng, pool, start + g, min(GROUP_ROWS, n - g), TRACE_SCHEMA) for g in range(0, n, GROUP_ROWS)]
        _write(rd.part_path(stage, part), tables, TRACE_SCHEMA)
        rd.mark_done(stage, part, {"rows": n})
        reject = tables[0].slice(0, n // 10)
        reason = pa.array(["verdict not in ['pass']"] * reject.num_rows, pa.string())
        write_rejected(rd.rejected_path(rd.stage_dir(2, "filter"), part), reject.append_column("reject_reason", reason),
                       "filter")
    return sum(f.stat().st_size for f in path.rglob("*.parquet"))


def _rows(rng, pool: str, start: int, n: int, schema):
    import pyarrow as pa

    offsets = rng.integers(0, len(pool) - 16000, n)
    lengths = rng.integers(8000, 16000, n)
    reasoning = [pool[o:o + k] for o, k in zip(offsets.tolist(), lengths.tolist())]
    ids = [f"{(start + i) // 4:016x}" for i in range(n)]
    verdicts = [VERDICTS[v] for v in rng.integers(0, len(VERDICTS), n)]
    columns = {
        "id": ids, "sample_idx": [(start + i) % 4 for i in range(n)],
        "trace_id": [f"t{start + i:015x}" for i in range(n)], "source": ["synthetic"] * n, "domain": ["math"] * n,
        "problem": [pool[o:o + 300] for o in offsets.tolist()], "reference": ["42"] * n, "reasoning": reasoning,
        "answer": [f"So the answer is $\\boxed{{{i}}}$." for i in range(start, start + n)],
        "finish_reason": ["stop"] * n, "completion_tokens": [k // 4 for k in lengths.tolist()],
        "verdict": verdicts, "verify_detail": ['{"extracted":"42","verifier":"math"}'] * n,
        "pass_rate": rng.random(n).round(2).tolist(),
        "dup_of": [ids[i] if i % 50 == 1 else None for i in range(n)],
        "contaminated": [["aime:3"] if i % 997 == 0 else [] for i in range(n)],
    }
    arrays = [pa.array(columns.get(f.name, [None] * n), f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _write(path: Path, tables, schema) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema, compression="zstd", compression_level=1) as writer:
        for table in tables:
            writer.write_table(table)


def start_viewer(run: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "curate", "view", str(run)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    for line in proc.stdout:
        if line.startswith("Open:"):
            return proc, line.split()[-1]
    raise RuntimeError("the viewer printed no URL")


def get(url: str, path: str) -> float:
    parts = urlsplit(url)
    token = parts.query.split("=", 1)[1]
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", f"{path}{'&' if '?' in path else '?'}token={token}")
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    assert response.status == 200, body[:300]
    json.loads(body)
    return elapsed


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


BASELINE = """
import sys, time, glob
import pyarrow.parquet as pq, pyarrow.compute as pc, pyarrow as pa
files = sorted(glob.glob(sys.argv[1] + "/01-verify/part-*.parquet"))
started = time.perf_counter()
table = pa.concat_tables(pq.read_table(f, columns=["source", "domain", "verdict", "pass_rate",
    "completion_tokens", "finish_reason", "dup_of", "sample_idx", "trace_id", "id"]) for f in files)
page = table.filter(pc.equal(table["verdict"], "fail")).slice(0, 50)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(time.perf_counter() - started, int(hwm) / 1024)
"""

QUERIES = {
    "first page": "/api/rows?table=everything",
    "filtered page (verdict=fail)": "/api/rows?table=everything&f.verdict=fail",
    "filtered + sorted (tokens desc)": "/api/rows?table=everything&f.verdict=fail&sort=completion_tokens&desc=1",
    "range filter (pass_rate 0.2..0.3)": "/api/rows?table=01-verify&f.pass_rate=0.2..0.3",
    "a page in the middle of the stage": "/api/rows?table=01-verify&offset={middle}",
    "open a row (with siblings)": "/api/row?table=01-verify&row={middle}",
    "full-text search (one match)": "/api/rows?table=01-verify&q=boxed{{12345}}",
}
GOALS = {"first page": 1.0, "filtered page (verdict=fail)": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=1,
                        help="Measure a run that holds every part this many times (hard links: the 1M-row, 5 GB "
                             "run from 200,000 generated rows; the page cache then holds one copy of the data).")
    parser.add_argument("--no-search", action="store_true", help="Skip the full-text search (a full scan).")
    parser.add_argument("--keep", type=Path, help="Build (or reuse) the run here instead of a temporary folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.keep or Path(tmp) / "run"
        if not (run / "manifest.json").exists():
            started = time.perf_counter()
            size = make_run(run, args.rows)
            print(f"built {run} in {time.perf_counter() - started:.0f} s")
        if args.copies > 1:
            run = replicate(run, Path(tmp) / f"run-x{args.copies}", args.copies)
        rows = args.rows * args.copies
        size = sum(f.stat().st_size for f in run.rglob("*.parquet"))
        print(f"run: {rows:,} kept rows + {rows // 10:,} rejects, {size / 1e9:.2f} GB of Parquet")
        measure(run, rows, args.repeats, search=not args.no_search)


def replicate(run: Path, into: Path, copies: int) -> Path:
    """A run whose stage and reject folders hold each part of `run` `copies` times (hard links)."""
    import os

    for folder in sorted({p.parent for p in run.rglob("part-*.parquet")}):
        parts = sorted(folder.glob("part-*.parquet"))
        target = into / folder.relative_to(run)
        target.mkdir(parents=True, exist_ok=True)
        for copy in range(copies):
            for index, part in enumerate(parts):
                os.link(part, target / f"part-{copy * len(parts) + index:05d}.parquet")
    (into / "manifest.json").write_text((run / "manifest.json").read_text())
    return into


def measure(run: Path, rows: int, repeats: int, search: bool = True) -> None:
    started = time.perf_counter()
    proc, url = start_viewer(run)
    print(f"viewer up (process start, imports, footers read) in {time.perf_counter() - started:.2f} s")
    try:
        cold = get(url, QUERIES["first page"])
        print(f"{'first page, cold':<36} {cold:8.3f} s")
        for name, path in QUERIES.items():
            if "search" in name and not search:
                continue
            path = path.format(middle=rows // 2 + 7)
            times = [get(url, path) for _ in range(repeats if "search" not in name else 1)]
            median = statistics.median(times)
            goal = GOALS.get(name)
            ratio = f"  {median / goal:.2f} x goal ({goal} s)" if goal else ""
            print(f"{name:<36} {median:8.3f} s median of {len(times)}{ratio}")
        rss = peak_rss_mb(proc.pid)
        print(f"viewer peak RSS {rss:.0f} MB  ({rss / 500:.2f} x goal 500 MB)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    out = subprocess.run([sys.executable, "-c", BASELINE, str(run)], capture_output=True, text=True, check=True)
    seconds, rss = map(float, out.stdout.split())
    print(f"baseline (eager pyarrow: read the small columns whole, filter): {seconds:.3f} s, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
