"""Benchmark: the dedup stage on Ray against the local process pool, on the same 2 cores.

    python tests/benchmarks/bench_ray.py [--rows 200000] [--parts 16] [--repeats 3] [--stage dedup]

One synthetic corpus (problems with planted near-duplicates) is loaded once into a run directory
per executor; then the dedup stage is recomputed `--repeats` times (`--force dedup`), each time by
a fresh `curate run` process, as a user would: with the local executor (`--workers 2`, a spawned
process pool) and with `--executor ray --address ...` on a 2-CPU Ray instance started once by
this script (as `ray start` would be; a new driver is a new Ray job, so its worker processes
start fresh too). Figures: the dedup stage's wall time from the manifest (its prepare fan-out,
clustering and per-part tasks) and the whole process's. The ratio is local / Ray: 1.0 means Ray
costs nothing, the goal is at least 0.8. `--stage filter` times a
filter stage instead (for copies of curate without dedup).
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

WORDS = ["find", "the", "number", "of", "integers", "such", "that", "sum", "product", "prime",
         "divisor", "equation", "solve", "value", "triangle", "circle", "area", "radius",
         "angle", "probability", "coin", "dice", "digits", "remainder", "modulo", "sequence",
         "term", "ratio", "polynomial", "root", "real", "complex", "matrix", "vector", "least",
         "greatest"]


def make_corpus(path: Path, rows: int) -> None:
    """Problems of ~40 words; one in five is a near-copy (two words changed) of an earlier one."""
    rng = random.Random(0)
    problems: list[str] = []
    with path.open("w") as out:
        for i in range(rows):
            if problems and rng.random() < 0.2:
                words = rng.choice(problems).split()
                for _ in range(2):
                    words[rng.randrange(len(words))] = rng.choice(WORDS)
                text = " ".join(words)
            else:
                text = " ".join(rng.choice(WORDS) for _ in range(40)) + f" case {i}"
            problems.append(text)
            trace = f"<think>\nwork on case {i}\n</think>\n\nThe answer is \\boxed{{{i % 97}}}."
            out.write(json.dumps({"q": text, "gold": str(i % 97), "gen": trace}) + "\n")


def write_recipe(tmp: Path, data: Path, rows: int, parts: int, stage: str) -> Path:
    import yaml

    timed = {"use": "dedup"} if stage == "dedup" else {"use": "filter", "max_chars": 10**6}
    recipe = {
        "name": "bench-ray", "seed": 1,
        "sources": [{"path": str(data), "domain": "math", "license": "cc-by-4.0", "trace": "gen",
                     "columns": {"problem": "q", "reference": "gold"}}],
        "stages": [{"use": "load", "rows_per_part": -(-rows // parts)}, timed],
    }
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run_once(recipe: Path, run_dir: Path, stage: str, *extra: str) -> tuple[float, float]:
    """One `curate run` in a fresh process; (the timed stage's wall seconds, process seconds)."""
    force = ["--force", stage] if (run_dir / "manifest.json").exists() else []
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "curate", "run", str(recipe), "--run-dir", str(run_dir),
                    "--workers", "2", "--quiet", *force, *extra], check=True, capture_output=True)
    total = time.perf_counter() - started
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return next(s["wall_seconds"] for s in manifest["stages"].values() if s["name"] == stage), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--parts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stage", choices=["dedup", "filter"], default="dedup")
    args = parser.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        make_corpus(tmp / "problems.jsonl", args.rows)
        recipe = write_recipe(tmp, tmp / "problems.jsonl", args.rows, args.parts, args.stage)
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
        startup = time.perf_counter() - started
        address = ray.get_runtime_context().gcs_address
        on_ray = ["--executor", "ray", "--address", address]
        times: dict[str, list[tuple[float, float]]] = {"local": [], "ray": []}
        try:
            run_once(recipe, tmp / "local", args.stage)  # load, and the first dedup (warm-up)
            run_once(recipe, tmp / "ray", args.stage, *on_ray)
            for _ in range(args.repeats):  # alternate, so drift in the shared machine's load
                times["local"].append(run_once(recipe, tmp / "local", args.stage))  # hits both
                times["ray"].append(run_once(recipe, tmp / "ray", args.stage, *on_ray))
        finally:
            ray.shutdown()
        same = all((tmp / "local" / p.relative_to(tmp / "ray")).read_bytes() == p.read_bytes()
                   for p in sorted((tmp / "ray").glob("01-*/part-*.parquet")))
    report(args, times, startup, same)


def report(args, times: dict[str, list[tuple[float, float]]], startup: float, same: bool) -> None:
    med = {k: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
           for k, v in times.items()}
    print(f"{args.stage} stage, {args.rows} rows in {args.parts} parts, 2 cores, {args.repeats} "
          "repeats, each a fresh `curate run` process; medians in seconds")
    print(f"{'':22}{'stage':>8}{'process':>9}   stage times")
    for key, label in (("local", "local --workers 2"), ("ray", "ray (2-CPU cluster)")):
        print(f"  {label:20}{med[key][0]:8.2f}{med[key][1]:9.2f}   "
              f"{[round(t[0], 2) for t in times[key]]}")
    print(f"  ray cluster start-up (once, not in the figures): {startup:.2f}")
    print(f"  ratio local/ray: stage {med['local'][0] / med['ray'][0]:.2f}, whole process "
          f"{med['local'][1] / med['ray'][1]:.2f} (goal >= 0.8); "
          f"identical {args.stage} parts: {same}")


if __name__ == "__main__":
    main()
