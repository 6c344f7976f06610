"""Benchmark verify: math checks per second per core, and code sandbox overhead.

    python tests/benchmarks/bench_verify.py [--repeats 5]

Math: the sample corpus's math rows, judged (1) by curate's path (extraction in this process,
equivalence in worker processes with a parent-enforced deadline, golds parsed once per problem,
identical answers of a problem checked once) with 1 and 2 workers, and (2) by calling
math-verify directly in one process, row by row (parse gold, parse answer, verify, with
math-verify's own SIGALRM timeouts). Reported: rows/s, rows/s per core, and the ratio.

Code: the overhead of one bubblewrap sandbox run (the same harness run with and without the
sandbox), and rows/s on 2 workers over the sample corpus's code rows (the planted infinite loop
is left out: it costs its timeout by design).

`--only start`: checks per second of a math worker forked from the forkserver (now) against a
spawned one (before), alternating.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

# Run as a script from a checkout: import this tree's curate, not an installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from curate.schema import split_reasoning
from curate.verifiers.math import extract_answer

ROOT = Path(__file__).resolve().parents[2]


def load_rows(name: str, reference: str) -> list[dict]:
    rows = []
    for line in (ROOT / "recipes" / "data" / name).read_text().splitlines():
        raw = json.loads(line)
        reasoning, answer = split_reasoning(raw["generation"])
        rows.append({"id": raw["uid"], "source": "bench", "reference": raw[reference], "reasoning": reasoning,
                     "answer": answer, "finish_reason": raw["finish_reason"], "uid": raw["uid"],
                     "sample": raw["sample"]})
    return rows


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def direct_math(rows: list[dict]) -> None:
    """The baseline: math-verify called directly, one process, row by row."""
    from math_verify import parse, verify

    for row in rows:
        pred = extract_answer(row["answer"]) if row["answer"] else None
        if pred is None:
            continue
        gold = parse(f"${row['reference']}$")
        verify(gold, parse(f"${pred}$"))


def bench_math(repeats: int, scale: int) -> None:
    from curate.verifiers.math_rows import close_pools, get_pool, verify_math_rows

    # The corpus `scale` times over, so per-job overhead is amortised. Each copy is its own
    # problems with its own texts (trailing spaces make every text distinct), so no cache of
    # parsed golds or answers can serve one copy from another.
    rows = [{**r, "id": f"{r['id']}-{k}", "reference": r["reference"] + " " * k,
             "answer": None if r["answer"] is None else r["answer"] + " " * k}
            for k in range(scale) for r in load_rows("math.jsonl", "gold")]
    direct_math(rows[:5])  # import and warm sympy
    base = timed(lambda: direct_math(rows), repeats)
    print(f"math: {len(rows)} rows per repeat, median of {repeats}")
    print(f"  math-verify directly, 1 process   : {len(rows) / base:8.1f} rows/s  (1 core)")
    per_core = {}
    for workers in (1, 2):
        started = time.perf_counter()
        get_pool(workers=workers, deadline=2.0, memory_mb=2048).run([])  # no jobs: waits for the workers
        startup = time.perf_counter() - started
        seconds = timed(lambda w=workers: verify_math_rows(rows, lambda s: {}, workers=w, deadline=2.0,
                                                           memory_mb=2048), repeats)
        per_core[workers] = len(rows) / seconds / workers
        print(f"  curate, {workers} worker(s)               : {len(rows) / seconds:8.1f} rows/s  "
              f"({per_core[workers]:.1f} per core; pool start {startup:.2f}s, once per process)")
        close_pools()
    print(f"  ratio per core (curate 1 worker / direct): {per_core[1] / (len(rows) / base):.2f}x")
    print(f"  ratio per core (curate 2 workers / direct): {per_core[2] / (len(rows) / base):.2f}x")
    print(f"  scaling 1 -> 2 workers: {per_core[2] * 2 / per_core[1]:.2f}x")


def bench_start_methods(repeats: int, scale: int) -> None:
    """Checks per second of a 1-worker pool whose worker is forked from the forkserver (now)
    or spawned (before), alternating; each pool starts anew and is timed twice."""
    import multiprocessing

    from curate.verifiers import pool as pool_module
    from curate.verifiers.math_rows import close_pools, get_pool, verify_math_rows

    rows = [{**r, "id": f"{r['id']}-{k}", "reference": r["reference"] + " " * k,
             "answer": None if r["answer"] is None else r["answer"] + " " * k}
            for k in range(scale) for r in load_rows("math.jsonl", "gold")]
    forkserver = pool_module._context
    rates: dict[str, list[float]] = {"spawned": [], "forked": []}
    for _ in range(repeats):
        for kind in rates:
            pool_module._context = forkserver if kind == "forked" else (
                lambda _preload: multiprocessing.get_context("spawn"))
            get_pool(workers=1, deadline=2.0, memory_mb=2048).run([])
            for _ in range(2):
                seconds = timed(lambda: verify_math_rows(rows, lambda s: {}, workers=1, deadline=2.0,
                                                         memory_mb=2048), 1)
                rates[kind].append(len(rows) / seconds)
            close_pools()
    pool_module._context = forkserver
    spawned, forked = (statistics.median(rates[k]) for k in ("spawned", "forked"))
    print(f"math worker, {len(rows)} rows, median of {2 * repeats}: spawned {spawned:.1f} rows/s, "
          f"forked from the forkserver {forked:.1f} rows/s, ratio {forked / spawned:.2f}x")


def bench_code(repeats: int) -> None:
    from curate.verifiers.code import CodeSettings, harness_source, verify_code_rows
    from curate.verifiers.sandbox import Limits, Sandbox

    files = {"harness.py": harness_source(), "program.py": "print(1)\n"}
    runs = 20

    def many(kind: str) -> None:
        box = Sandbox(kind=kind, python=Sandbox().python)
        for _ in range(runs):
            assert box.run(files, ["stdio"], limits=Limits()).stdout == b"1\n"

    bwrap = timed(lambda: many("bwrap"), repeats) / runs
    plain = timed(lambda: many("none"), repeats) / runs
    print(f"code: one program run, median of {repeats} x {runs}")
    print(f"  unsandboxed run : {plain * 1000:6.1f} ms")
    print(f"  bwrap sandbox   : {bwrap * 1000:6.1f} ms")
    print(f"  sandbox overhead: {(bwrap - plain) * 1000:6.1f} ms per run")
    rows = [r for r in load_rows("code.jsonl", "tests") if not (r["uid"] == "c-007" and r["sample"] == 1)]
    settings = CodeSettings(timeout=5.0)
    seconds = timed(lambda: verify_code_rows(rows, settings, workers=2), repeats)
    print(f"  rows/s on 2 workers: {len(rows) / seconds:.1f} ({len(rows)} rows, median of {repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["math", "code", "start"], default=None,
                        help="start: a spawned vs a forked math worker (not in the default set).")
    parser.add_argument("--scale", type=int, default=10, help="Math: copies of the sample corpus per repeat.")
    args = parser.parse_args()
    if args.only == "start":
        bench_start_methods(args.repeats, args.scale)
    if args.only in (None, "math"):
        bench_math(args.repeats, args.scale)
    if args.only in (None, "code"):
        bench_code(args.repeats)


if __name__ == "__main__":
    main()
