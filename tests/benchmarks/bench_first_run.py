"""The first quickstart run after install, cold and warm: this checkout beside an older one.

    python tests/benchmarks/bench_first_run.py --old /path/to/old/checkout [--repeats 3]

Each measurement is a fresh process, `python -m curate run recipes/quickstart.yaml --quiet`, with
a fresh run directory, as a new user types it. Cold: numba's cache (NUMBA_CACHE_DIR) is a new
empty folder, as on a machine that never ran curate; warm: a second run with the same cache.
Old and new alternate (old cold, old warm, new cold, new warm, then again), so a shared
machine's load falls on both alike. Printed: medians of wall seconds, CPU seconds (user + sys
of the process and its children, the verify workers and sandboxed programs included), the
verify stage's wall (1 s of it is the sample's planted infinite loop, the code timeout) and the
rest (wall minus verify: start-up, imports, kernels and the other stages); ratios are old / new.
Then each stage's wall (the manifest's `wall_seconds`, both filters summed) and `outside`: wall
minus the stages (interpreter start-up, imports, the recipe, the run report). `--cold-only`
skips the warm runs. PYTHONDONTWRITEBYTECODE is dropped from the runs' environment, so each
checkout's first run writes its bytecode caches, as a user's first run (or install) does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(checkout: Path, cache: Path, run_dir: Path) -> dict[str, float]:
    """One `curate run` of the quickstart in a fresh process: wall, CPU, verify wall."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "NUMBA_CACHE_DIR": str(cache)}
    # as on a user's machine, Python keeps its bytecode caches (a session that forbids writing
    # them compiles curate's ~100 modules again in every process: 0.25 s in the main one alone)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [sys.executable, "-m", "curate", "run", str(checkout / "recipes" / "quickstart.yaml"),
            "--run-dir", str(run_dir), "--quiet"]
    cpu, start = cpu_seconds(), time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=run_dir.parent, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if done.returncode:
        raise SystemExit(f"{checkout}: curate run failed\n{done.stderr[-2000:]}")
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"].values()
    by_stage: dict[str, float] = {}
    for stage in stages:
        by_stage[stage["name"]] = by_stage.get(stage["name"], 0.0) + stage.get("wall_seconds", 0.0)
    verify = by_stage.get("verify", 0.0)
    outside = wall - sum(by_stage.values())
    return {"wall": wall, "cpu": cpu, "verify": verify, "rest": wall - verify,
            **{f"stage {name}": seconds for name, seconds in by_stage.items()}, "outside": outside}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="The checkout to compare with (e.g. a worktree of main).")
    parser.add_argument("--new", default=str(ROOT), help="This checkout (default: the one holding this script).")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold-only", action="store_true", help="Skip the warm runs.")
    args = parser.parse_args()
    sides = {"old": Path(args.old).resolve(), "new": Path(args.new).resolve()}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    kinds = ("cold",) if args.cold_only else ("cold", "warm")
    with tempfile.TemporaryDirectory(prefix="bench-first-run-") as tmp:
        for repeat in range(args.repeats):
            for side, checkout in sides.items():
                cache = Path(tmp) / f"cache-{side}-{repeat}"
                cache.mkdir()
                for kind in kinds:
                    run_dir = Path(tmp) / f"run-{side}-{kind}-{repeat}"
                    result = run_once(checkout, cache, run_dir)
                    results.setdefault((side, kind), []).append(result)
                    print(f"{side} {kind} #{repeat + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items())
                          + f"; load {os.getloadavg()[0]:.1f}", flush=True)
                    shutil.rmtree(run_dir)
                shutil.rmtree(cache)
    print(f"\nmedians of {args.repeats} (seconds); load average now {os.getloadavg()[0]:.1f}")
    print(f"{'':12}{'wall':>8}{'CPU':>8}{'verify':>8}{'rest':>8}")
    medians = {key: {m: statistics.median(r[m] for r in runs) for m in runs[0]} for key, runs in results.items()}
    for (side, kind), m in sorted(medians.items(), key=lambda kv: (kv[0][1], kv[0][0] != "old")):
        print(f"{side + ' ' + kind:12}" + "".join(f"{m[k]:8.2f}" for k in ("wall", "cpu", "verify", "rest")))
    for kind in kinds:
        old, new = medians[("old", kind)], medians[("new", kind)]
        print(f"{kind}: old / new = " + ", ".join(f"{k} {old[k] / new[k]:.2f}x" for k in ("wall", "cpu", "rest")))
    print_stages(medians)


def print_stages(medians: dict[tuple[str, str], dict[str, float]]) -> None:
    """Median wall seconds of each stage, and outside the stages."""
    names = [k for k in next(iter(medians.values())) if k.startswith("stage ") or k == "outside"]
    print(f"\nper stage, median wall seconds\n{'':12}" + "".join(f"{n.removeprefix('stage '):>9}" for n in names))
    for (side, kind), m in sorted(medians.items(), key=lambda kv: (kv[0][1], kv[0][0] != "old")):
        print(f"{side + ' ' + kind:12}" + "".join(f"{m.get(n, 0.0):9.2f}" for n in names))


if __name__ == "__main__":
    main()
