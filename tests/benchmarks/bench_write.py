"""Benchmark: the `write` stage on one part against plain pyarrow `write_table`, same rows, same options.

    python tests/benchmarks/bench_write.py [--mb 200] [--repeats 3]

Input: an in-memory part of synthetic trace rows (R1-like reasoning lengths, two configs:
math/code -> `reasoning`, general -> `general`). curate runs `Write.run` on it: routes rows to
configs, builds the training view (`messages`, `num_tokens`) and writes the shards with zstd,
content-defined chunking and a page index.

The issue's baseline is `pq.write_table` of the final dataset's rows with the same options: the
training view of the same rows, built beforehand (so the baseline does strictly less work than
curate, which also routes rows and builds the view). For reference the script also times
`write_table` of the input trace rows themselves, a different and smaller table (it has no
`messages`). Prints medians over the repeats, MB/s of input and the throughput ratios
(goal >= 0.8). The machine is shared: read the ratio, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.publish.training_view import training_view
from curate.schema import TRACE_SCHEMA
from curate.stages.base import PartContext
from curate.stages.write import Write, parquet_options

WORDS = ("the of and to in is we find let so thus number equation solve "
         "value sum product therefore consider case prime integer answer check step wait maybe compute").split()


def make_part(mb: float) -> pa.Table:
    """Trace rows whose texts are distinct slices of a random word stream (no dictionary wins)."""
    rng = random.Random(0)
    stream = " ".join(rng.choice(WORDS) for _ in range(400_000))
    rows, size, i = [], 0, 0
    while size < mb * 1e6:
        domain = ("math", "code", "general")[i % 3]
        start = rng.randrange(0, len(stream) - 9000)
        reasoning = None if domain == "general" else stream[start:start + rng.randrange(2000, 8000)]
        problem = stream[start // 2:start // 2 + rng.randrange(150, 600)]
        row = {"id": f"{i:012x}", "sample_idx": i % 4, "trace_id": f"t{i:012x}", "source": f"s-{domain}",
               "domain": domain, "license": "cc-by-4.0", "problem": problem, "teacher": "teacher@rev",
               "reasoning": reasoning, "answer": f"So the answer is \\boxed{{{i}}}.", "finish_reason": "stop",
               "prompt_tokens": 90, "completion_tokens": 1500, "verdict": "pass", "pass_rate": 0.75,
               "contaminated": []}
        size += len(problem) + len(reasoning or "") + 200
        rows.append(row)
        i += 1
    return pa.Table.from_pylist(rows, schema=TRACE_SCHEMA)


def write_stage() -> Write:
    return Write(configs={"reasoning": {"domain": ["math", "code"]}, "general": {"domain": ["general"]}})


def run_curate(part: pa.Table, folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of Write.run over the part in 8192-row batches."""
    stage = write_stage()
    ctx = PartContext(artifacts=folder, scratch=folder / "scratch")
    start, cpu = time.perf_counter(), time.process_time()
    for _ in stage.run(part.to_batches(max_chunksize=8192), ctx):
        pass
    ctx.finish()  # the shards' last row groups and footers
    return time.perf_counter() - start, time.process_time() - cpu


def run_baseline(views: dict[str, pa.Table], folder: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of write_table of each config's rows with the write stage's options."""
    options = parquet_options(write_stage().config)
    folder.mkdir(parents=True, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    for name, view in views.items():
        pq.write_table(view, folder / f"{name}.parquet", **options)
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200, help="Input size in MB of text.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    part = make_part(args.mb)
    domain = part["domain"].to_pylist()
    raw = {"reasoning": part.filter(pa.array([d != "general" for d in domain])),
           "general": part.filter(pa.array([d == "general" for d in domain]))}
    views = {name: training_view(rows, write_stage().config.columns) for name, rows in raw.items()}
    mb = part.nbytes / 1e6
    times: dict[str, list[tuple[float, float]]] = {"curate": [], "rows": [], "view": []}
    with tempfile.TemporaryDirectory() as tmp:  # warm-up: imports, allocator, page cache
        run_curate(part.slice(0, 2000), Path(tmp) / "warm")
        run_baseline({k: v.slice(0, 1000) for k, v in views.items()}, Path(tmp) / "warm-base")
    runners = {"curate": lambda folder: run_curate(part, folder),
               "rows": lambda folder: run_baseline(raw, folder),
               "view": lambda folder: run_baseline(views, folder)}
    order = list(runners)
    for i in range(args.repeats):  # rotate the order: earlier writes' page-cache flushing slows later ones
        for key in order[i % 3:] + order[: i % 3]:
            with tempfile.TemporaryDirectory() as tmp:
                times[key].append(runners[key](Path(tmp) / key))
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(f"rows: {part.num_rows:,}  input: {mb:.0f} MB (Arrow)  repeats: {args.repeats}")
    labels = {"curate": "curate write stage (route + view + shards)",
              "rows": "pyarrow write_table, same trace rows",
              "view": "pyarrow write_table, prebuilt training view"}
    for key, label in labels.items():
        print(f"{label:<46} median wall {wall[key]:.2f} s ({mb / wall[key]:.0f} MB/s), "
              f"CPU {cpu[key]:.2f} s; wall runs {[round(t[0], 2) for t in times[key]]}")
    for name, med in (("wall", wall), ("CPU", cpu)):
        print(f"throughput ratio ({name}): curate / write_table of the final dataset's rows: "
              f"{med['view'] / med['curate']:.2f} (goal >= 0.8);   "
              f"curate / write_table of the input trace rows: {med['rows'] / med['curate']:.2f}")


if __name__ == "__main__":
    main()
