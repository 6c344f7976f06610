"""Benchmark: `curate push --follow` beside `curate run` against running, then `curate push --atomic`.

    python tests/benchmarks/bench_push_follow.py [--gb 0.3] [--mbps 50] [--repeats 3]

Same synthetic trace rows as bench_load_write.py (load + write, one shard per part), the Hub
replaced by the folder-backed stand-in of tests/hub_standin.py with a simulated uplink of
`--mbps` MB/s. Alternating in one window, each repeat measures
- `run`: `curate run` alone (the baseline of what a follower costs the run);
- `run+follow`: the same run with a follower started first; the run's own seconds, and the
  publish latency (from the run's end to the follower's commit);
- `run, then push --atomic`: the publish latency of today's one-commit push of the finished run.
Prints medians and ratios: the run's slowdown under a follower, and how much sooner the dataset
is published.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT / "tests")]

RUN = "from curate.cli.group import cli; cli()"


def recipe(tmp: Path, src: Path) -> Path:
    import yaml

    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "bench", "sources": [{"path": str(src)}],
                                    "stages": [{"use": "load", "rows_per_part": 25000}, {"use": "write"}]}))
    return path


def env(mbps: float) -> dict:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "STANDIN_MBPS": str(mbps),
            "HF_TOKEN": "hf_standin", "HF_HUB_OFFLINE": "1"}


def curate_run(path: Path, run: Path, mbps: float) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, "run", str(path), "--run-dir", str(run), "--quiet", "--no-report"],
                   check=True, cwd=ROOT, env=env(mbps), capture_output=True)
    return time.perf_counter() - began


def push(state: Path, run: Path, mbps: float, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "hub_standin.py"), str(state), "push", str(run),
                             "me/bench", *args], cwd=ROOT, env=env(mbps), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def followed(path: Path, tmp: Path, r: int, mbps: float) -> tuple[float, float, float]:
    """(the run's seconds, seconds from the run's end to the follower's exit, the follower's CPU seconds)."""
    run = tmp / f"followed{r}"
    follower = push(tmp / f"hub-f{r}", run, mbps, "--follow", "--poll", "0.5")
    seconds = curate_run(path, run, mbps)
    ended = time.perf_counter()
    _, status, usage = os.wait4(follower.pid, 0)
    follower.returncode = status
    if status:
        raise SystemExit("the follower failed")
    return seconds, time.perf_counter() - ended, usage.ru_utime + usage.ru_stime


def then_push(path: Path, tmp: Path, r: int, mbps: float) -> tuple[float, float]:
    run = tmp / f"plain{r}"
    seconds = curate_run(path, run, mbps)
    began = time.perf_counter()
    if push(tmp / f"hub-p{r}", run, mbps, "--atomic").wait():
        raise SystemExit("the push failed")
    return seconds, time.perf_counter() - began


def main() -> None:
    from bench_load_write import make_input

    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=0.3, help="In-memory size of the synthetic rows.")
    parser.add_argument("--mbps", type=float, default=50.0, help="Simulated uplink of the Hub stand-in, MB/s.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        src = tmp / "input.parquet"
        rows = make_input(src, args.gb)
        path = recipe(tmp, src)
        alone, follow, plain = [], [], []
        for r in range(args.repeats):
            alone.append(curate_run(path, tmp / f"alone{r}", args.mbps))
            follow.append(followed(path, tmp, r, args.mbps))
            plain.append(then_push(path, tmp, r, args.mbps))
        size = sum(p.stat().st_size for p in (tmp / "alone0" / "dataset").rglob("*.parquet")) / 1e6
        report(rows, size, args.mbps, alone, follow, plain)


def report(rows: int, size: float, mbps: float, alone: list, follow: list, plain: list) -> None:
    med = statistics.median
    run_alone, run_followed = med(alone), med(s for s, _, _ in follow)
    late_follow, late_plain = med(lag for _, lag, _ in follow), med(lag for _, lag in plain)
    print(f"rows: {rows}, dataset: {size:.0f} MB of Parquet, simulated uplink {mbps:.0f} MB/s")
    print(f"run alone:          median {run_alone:.2f} s  (runs: {', '.join(f'{s:.2f}' for s in alone)})")
    print(f"run with follower:  median {run_followed:.2f} s  (runs: {', '.join(f'{s:.2f}' for s, _, _ in follow)})")
    print(f"the follower's CPU: median {med(c for _, _, c in follow):.2f} s (startup included)")
    print(f"published after the run's end: --follow median {late_follow:.2f} s, "
          f"push --atomic median {late_plain:.2f} s")
    print(f"ratio run with follower / alone: {run_followed / run_alone:.2f}; "
          f"publish latency follow / push --atomic: {late_follow / late_plain:.2f}")


if __name__ == "__main__":
    main()
