"""Benchmark: curate `load` + `write` against plain pyarrow read + write_table, same rows, same options.

    python tests/benchmarks/bench_load_write.py [--gb 1.0] [--repeats 3]

Both sides run in a fresh subprocess (so peak RSS is each side's own) on the same synthetic
Parquet file of trace rows. The baseline reads the file and writes it back with the options the
`write` stage uses (zstd, content-defined chunking, page index). curate runs a recipe with the
`load` and `write` stages, fused into one task per part: it conforms rows to the trace schema,
builds the training view (`messages`, `num_tokens`), writes the Hub layout and the dataset card
(load keeps no part files of its own when it streams into write). Prints medians, MB/s of input,
the ratio curate/baseline and curate's peak RSS, for one worker and for `--workers 2`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORDS = ("the of and to in is we find let so thus number equation solve value sum product "
         "therefore consider case prime integer answer check step wait maybe compute").split()


def make_input(path: Path, gb: float) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.schema import TRACE_SCHEMA

    rng = random.Random(0)
    vocab = [" ".join(rng.choice(WORDS) for _ in range(400)) for _ in range(64)]
    target, written, batch_rows, index = gb * 1e9, 0, 2000, 0
    with pq.ParquetWriter(path, TRACE_SCHEMA, compression="zstd") as writer:
        while written < target:
            rows = []
            for _ in range(batch_rows):
                reasoning = " ".join(rng.choice(vocab) for _ in range(2))
                rows.append({"id": f"{index:012x}", "sample_idx": 0, "trace_id": f"t{index:012x}",
                             "source": "synthetic", "domain": "math", "problem": vocab[index % 64][:300],
                             "reasoning": reasoning, "answer": f"The answer is \\boxed{{{index}}}.",
                             "finish_reason": "stop", "prompt_tokens": 80, "completion_tokens": 1200,
                             "verdict": "pass"})
                index += 1
            table = pa.Table.from_pylist(rows, schema=TRACE_SCHEMA)
            writer.write_table(table)
            written += table.nbytes
    return index


BASELINE = """
import sys, pyarrow.parquet as pq
src, dst = sys.argv[1], sys.argv[2]
pf = pq.ParquetFile(src)
with pq.ParquetWriter(dst, pf.schema_arrow, compression="zstd", use_content_defined_chunking=True,
                      write_page_index=True) as w:
    for batch in pf.iter_batches(batch_size=8192):
        w.write_batch(batch)
"""

CURATE = """
import sys
from curate.recipe import validate_recipe
from curate.runner import run_recipe
src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = {"name": "bench", "sources": [{"path": src}],
       "stages": [{"use": "load", "rows_per_part": 25000}, {"use": "write"}]}
if __name__ == "__main__":
    run_recipe(validate_recipe(raw), dst, progress=False, workers=workers)
"""


def timed(code: str, *args: str) -> tuple[float, float]:
    """(seconds, peak RSS in MB of the largest process) of running `code` in a fresh interpreter."""
    wrapper = code + ("\nimport resource; print('RSS', max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
                      " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(out.stderr)
    rss_kb = int(out.stdout.strip().split("RSS")[-1])
    return seconds, rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0, help="In-memory size of the synthetic rows.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "input.parquet"
        rows = make_input(src, args.gb)
        import pyarrow.parquet as pq

        arrow_mb = pq.read_metadata(src).row_group(0).total_byte_size  # noqa: F841 (for reference)
        size_mb = sum(pq.read_metadata(src).row_group(i).total_byte_size
                      for i in range(pq.read_metadata(src).num_row_groups)) / 1e6
        results = {"baseline": [], "curate": [], "curate --workers 2": []}
        for r in range(args.repeats):
            results["baseline"].append(timed(BASELINE, str(src), str(Path(tmp) / f"b{r}.parquet")))
            results["curate"].append(timed(CURATE, str(src), str(Path(tmp) / f"run{r}"), "1"))
            results["curate --workers 2"].append(timed(CURATE, str(src), str(Path(tmp) / f"w{r}"), "2"))
        report(rows, size_mb, results)


def report(rows: int, size_mb: float, results: dict) -> None:
    med = {k: statistics.median(s for s, _ in v) for k, v in results.items()}
    rss = {k: max(m for _, m in v) for k, v in results.items()}
    print(f"rows: {rows}, uncompressed input: {size_mb:.0f} MB")
    for key in results:
        print(f"{key:>18}: median {med[key]:.2f} s, {size_mb / med[key]:.0f} MB/s, peak RSS {rss[key]:.0f} MB"
              f"  (runs: {', '.join(f'{s:.2f}' for s, _ in results[key])})")
    print(f"ratio curate/baseline throughput: {med['baseline'] / med['curate']:.2f} (one worker), "
          f"{med['baseline'] / med['curate --workers 2']:.2f} (--workers 2, both cores)")
    print(json.dumps({"rows": rows, "mb": round(size_mb), "median_s": med, "peak_rss_mb": rss,
                      "ratio": round(med["baseline"] / med["curate"], 3),
                      "ratio_workers_2": round(med["baseline"] / med["curate --workers 2"], 3)}))


if __name__ == "__main__":
    main()
