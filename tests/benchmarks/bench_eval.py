"""Benchmark: `curate eval` (one model) vs `curate generate` on the same prompts, one engine, one run.

Both on ONE engine (curate's engine cache; the tiny model on CPU), the same prompts, n samples
each, the same seeds:
  - generate: `run_recipe` with load (JSONL in) + generate (request cache on) -> Parquet, what
    `curate generate` does;
  - eval:     `run_eval`: the eval set written, load + generate + verify per model through the
    runner, then the metrics (pass@k, maj@k, bootstrap, diversity) and eval.json/md/html.
Prints output tokens per wall second of each (median over repeats, alternating order) and the
ratio eval/generate.

    python tests/benchmarks/bench_eval.py [--prompts 256 --n 4 --max-tokens 128 --repeats 3]

Goal: ratio >= 0.95 (the measurement and verification add at most 5% to generation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from bench_generate import options  # noqa: E402

OVERHEAD: list[float] = []  # eval's seconds outside its generate stage (load, verify, metrics, reports)


def write_set(path: Path, count: int) -> None:
    rows = [{"id": f"b{i:05d}", "problem": f"Compute {i} * {i + 7} and explain each step.",
             "answer": str(i * (i + 7))} for i in range(count)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def run_generate(config: dict, source: Path, run_dir: Path) -> tuple[float, int]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from curate.recipe import validate_recipe
    from curate.rundir import RunDir
    from curate.runner import run_recipe

    recipe = validate_recipe({"name": "bench", "sources": [{"path": str(source), "domain": "math",
                                                            "columns": {"reference": "answer"}}],
                              "stages": [{"use": "load"}, {"use": "generate", **config}]})
    started = time.perf_counter()
    run_recipe(recipe, run_dir, progress=False)
    seconds = time.perf_counter() - started
    rd = RunDir(run_dir)
    table = pq.read_table(rd.parts(rd.stage_dirs_named("generate")[0])[0])
    return seconds, int(pc.sum(table["completion_tokens"]).as_py())


def run_evaluation(config: dict, source: Path, run_dir: Path) -> tuple[float, int]:
    from curate.evalrun.config import validate_eval
    from curate.evalrun.run import run_eval

    model = {k: v for k, v in config.items() if k != "n"}
    evaluation = validate_eval({"benchmark": str(source), "n": config["n"], "verify": {"checkers": 1},
                                "models": [{"name": "tiny", **model}]})
    started = time.perf_counter()
    result = run_eval(evaluation, run_dir, progress=False)
    seconds = time.perf_counter() - started
    manifest = json.loads((run_dir / "models" / "tiny" / "manifest.json").read_text())
    generating = sum(s["wall_seconds"] for s in manifest["stages"].values() if s["name"] == "generate")
    OVERHEAD.append(seconds - generating)
    return seconds, result["models"][0]["cost"]["completion_tokens"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from curate.teachers.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="curate-bench-eval-") as tmp:
        tmp = Path(tmp)
        config = options(build_tiny_model(tmp / "tiny-llama"), args)
        source = tmp / "set.jsonl"
        write_set(source, args.prompts)
        warm = tmp / "warm.jsonl"
        write_set(warm, 8)
        run_evaluation(config, warm, tmp / "warm")  # start the engine and the checkers' imports (not timed)
        gen, ev = [], []
        for repeat in range(args.repeats):
            pair = [("generate", lambda r=repeat: run_generate(config, source, tmp / f"gen{r}")),
                    ("eval", lambda r=repeat: run_evaluation(config, source, tmp / f"eval{r}"))]
            for name, fn in pair if repeat % 2 == 0 else pair[::-1]:
                seconds, tokens = fn()
                (gen if name == "generate" else ev).append(tokens / seconds)
                print(f"repeat {repeat} {name:>8}: {tokens} output tokens in {seconds:.2f} s "
                      f"= {tokens / seconds:,.0f} tok/s", flush=True)
        g, e = statistics.median(gen), statistics.median(ev)
        print(f"\n{args.prompts} prompts x n={args.n}, max_tokens={args.max_tokens}, {args.repeats} repeats (medians)")
        print(f"curate generate : {g:,.0f} output tok/s")
        print(f"curate eval     : {e:,.0f} output tok/s (+ verify, metrics, reports)")
        print(f"ratio eval/gen  : {e / g:.3f}  (goal >= 0.95)")
        print(f"eval outside generation: median {statistics.median(OVERHEAD[1:]):.2f} s per run "
              "(load, verify, metrics, reports; robust to a busy machine)")
        from curate.teachers.vllm import shutdown_engines

        shutdown_engines()


if __name__ == "__main__":
    main()
