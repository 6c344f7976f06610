"""End to end: `curate filter` and `curate mix` as a user runs them, beside polars doing the same.

    python tests/benchmarks/bench_filter_mix.py [--rows 30000] [--repeats 3] [--curate-root CHECKOUT]

Input: `bench_e2e.py`'s file of R1-length rows (about 5 KB each, planted near-duplicates and
benchmark copies), cut into three sources (a, b, c: rows i % 3) and run once, untimed, through
`load -> dedup -> decontam` (`curate run`), so the marks are curate's own. Its parts are then
the input of the timed commands, each a fresh process (`python -m curate ...`):
- `curate filter MARKED OUT --drop-duplicates --drop-contaminated`; the library route is a polars
  lazy query (`scan_parquet`, the two conditions, `sink_parquet` with zstd level 1, as curate's
  parts), without curate's `rejected/` rows and report;
- `curate mix KEPT OUT --counts {a: N, b: N, c: N}` (N: 80% of the smallest source); the library
  route reads the file with polars, ranks rows per source by a seeded hash of `trace_id` and
  writes the N lowest of each (zstd level 1), without the plan, `rejected/` and report.
Each side's output row count is checked equal. Wall, CPU (user + sys), peak RSS: medians of
`--repeats` runs (`bench_e2e.run_timed`); the ratio is library wall / curate wall.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "benchmarks"))

import bench_e2e  # noqa: E402
from bench_e2e import input_arguments, line, make_input, median_of, run_timed  # noqa: E402

SOURCES = ("a", "b", "c")


def marked_input(data: Path, path: Path) -> Path:
    """The decontam stage's part of a `load -> dedup -> decontam` run over three sources (cached)."""
    import pyarrow.parquet as pq

    marked = data / f"marked-{path.stem}.parquet"
    if marked.exists():
        return marked
    table = pq.read_table(path)
    sources = []
    for i, name in enumerate(SOURCES):
        pq.write_table(table.take(list(range(i, table.num_rows, 3))), data / f"{name}.parquet", row_group_size=10_000)
        sources.append({"name": name, "path": str(data / f"{name}.parquet"), "domain": "math"})
    recipe = {"name": "marks", "seed": 1, "sources": sources,
              "stages": [{"use": "load"}, {"use": "dedup", "threshold": bench_e2e.THRESHOLD},
                         {"use": "decontam", "benchmarks": [str(data / "B.jsonl")]}]}
    (data / "marks.yaml").write_text(json.dumps(recipe))
    run_dir = data / "marks-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "curate", "run", str(data / "marks.yaml"), "--run-dir", str(run_dir)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    parts = sorted((run_dir / "02-decontam").glob("part-*.parquet"))
    pq.write_table(pq.read_table(parts), marked, row_group_size=10_000, compression="zstd", compression_level=1)
    return marked


def rows_of(stage: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in stage.glob("part-*.parquet"))


def fresh(argv: list[str], out: Path, data: Path) -> dict:
    """One timed run into an empty OUT (a run directory left from the last would be resumed)."""
    shutil.rmtree(out, ignore_errors=True)
    return run_timed(argv, data)


def library_filter(src: str, out: str) -> None:
    import polars as pl

    kept = pl.col("dup_of").is_null() & (pl.col("contaminated").list.len().fill_null(0) == 0)
    pl.scan_parquet(src).filter(kept).sink_parquet(out, compression="zstd", compression_level=1)


def library_mix(src: str, out: str, count: int, seed: int = 1) -> None:
    import polars as pl

    rank = pl.col("trace_id").hash(seed).rank("ordinal").over("source")
    table = pl.read_parquet(src).filter(rank <= count)
    table.write_parquet(out, compression="zstd", compression_level=1)


def library_rows(out: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(out).metadata.num_rows


def compare(name: str, curate: list[str], library: list[str], data: Path, mb: float, repeats: int,
            curate_out: Path, library_out: Path) -> None:
    ours = [fresh(curate, curate_out.parent, data) for _ in range(repeats)]
    theirs = [run_timed(library, data) for _ in range(repeats)]
    rows, expected = rows_of(curate_out), library_rows(library_out)
    print(line(f"curate {name}", ours, mb, {"rows": rows}))
    print(line(f"polars {name}", theirs, mb, {"rows": expected}))
    print(f"{'':<26}ratio (polars wall / curate wall): {median_of(theirs, 'wall') / median_of(ours, 'wall'):.2f}x, "
          f"cpu {median_of(theirs, 'cpu') / median_of(ours, 'cpu'):.2f}x", flush=True)
    if rows != expected:
        raise SystemExit(f"{name}: curate kept {rows} rows, polars {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    input_arguments(parser)
    parser.add_argument("--curate-root", default=str(ROOT), help="Checkout whose curate the commands run.")
    parser.add_argument("--library", choices=["filter", "mix"], help=argparse.SUPPRESS)
    parser.add_argument("--args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.library == "filter":
        return library_filter(*args.args)
    if args.library == "mix":
        return library_mix(args.args[0], args.args[1], int(args.args[2]))
    bench_e2e.CURATE_ROOT = Path(args.curate_root)
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    marked = marked_input(data, make_input(data, args.rows, args.words))
    kept_out, mix_out = data / "out-filter", data / "out-mix"
    filter_cmd = [sys.executable, "-m", "curate", "filter", str(marked), str(kept_out), "--drop-duplicates",
                  "--drop-contaminated"]
    bench_e2e.warm_up([bench_e2e.CURATE_ROOT], data, marked, data / "B.jsonl", [])  # byte-compiled, as installed
    fresh(filter_cmd, kept_out, data)  # untimed: warms the page cache
    kept = data / "kept.parquet"
    library_filter(str(marked), str(kept))
    per_source = min(_source_counts(kept).values())
    count = int(per_source * 0.8)
    mix_cmd = [sys.executable, "-m", "curate", "mix", str(kept), str(mix_out), "--by", "source",
               "--counts", json.dumps({s: count for s in SOURCES})]
    me = [sys.executable, __file__, "--library"]
    mb = marked.stat().st_size / 1e6
    print(f"input: {marked} ({mb:.1f} MB; mix input {kept.stat().st_size / 1e6:.1f} MB, {count} rows a source); "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.repeats} repeats, medians; "
          f"curate from {bench_e2e.CURATE_ROOT}\n")
    print(f"{'':<26}{'wall s':>8}{'cpu s':>8}{'MB/s':>9}{'RSS MB':>9}")
    compare("filter", filter_cmd, me + ["filter", "--args", str(marked), str(data / "lib-filter.parquet")], data, mb,
            args.repeats, kept_out / "01-filter", data / "lib-filter.parquet")
    compare("mix", mix_cmd, me + ["mix", "--args", str(kept), str(data / "lib-mix.parquet"), str(count)], data,
            kept.stat().st_size / 1e6, args.repeats, mix_out / "01-mix", data / "lib-mix.parquet")


def _source_counts(path: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    column = pq.read_table(path, columns=["source"])["source"].to_pylist()
    return {s: column.count(s) for s in SOURCES}


if __name__ == "__main__":
    main()
