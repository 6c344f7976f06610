"""Benchmark: curate's generate stage vs plain `vllm.LLM.generate`, one engine, one run.

The same prompts (rendered with the chat template), n samples each, the same per-request
seeds, through
  - baseline: `llm.generate(prompts, sampling_params)` on token-id prompts, and
  - curate:   `run_recipe` with load (Parquet in) + generate (request cache on) -> Parquet out,
both on ONE engine (curate's engine cache hands the baseline the very engine the stage uses).
Prints output tokens/s of each (median over repeats, alternating order) and the ratio.

    python tests/benchmarks/bench_generate.py [--prompts 256 --n 4 --max-tokens 128 --repeats 3]

On the tiny random model the engine is fast, so any overhead of ours shows. Goal: ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def options(model: Path, args) -> dict:
    return {"teacher": "vllm", "model": str(model), "n": args.n, "max_tokens": args.max_tokens,
            "enforce_eager": True, "gpu_memory_utilization": 0.3, "max_model_len": 1024,
            "cpu_kv_cache_gb": 1}


def problems(count: int) -> list[dict]:
    return [{"id": f"b{i:05d}", "problem": f"Compute {i} * {i + 7} and explain each step."}
            for i in range(count)]


def run_baseline(stage, rows) -> tuple[float, int]:
    """Plain LLM.generate on the same token ids and per-request sampling params."""
    from curate.teachers import make_teacher

    teacher = make_teacher(stage.config)
    llm = teacher.engine()
    requests = [stage.requests_for(row, teacher.name)[0] for row in rows]
    teacher.render(requests)
    limit = teacher.max_model_len()
    prompts = [{"prompt_token_ids": r.prompt_token_ids} for r in requests]
    params = [teacher.sampling_params(r, limit) for r in requests]
    started = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    return seconds, sum(len(c.token_ids) for o in outputs for c in o.outputs)


def run_curate(config: dict, source: Path, run_dir: Path) -> tuple[float, int]:
    """`curate generate`'s path: a load + generate recipe, Parquet in and out, cache on."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from curate.recipe import validate_recipe
    from curate.runner import run_recipe

    recipe = validate_recipe({"name": "bench", "sources": [{"path": str(source)}],
                              "stages": [{"use": "load"}, {"use": "generate", **config}]})
    started = time.perf_counter()
    run_recipe(recipe, run_dir, progress=False)
    seconds = time.perf_counter() - started
    table = pq.read_table(run_dir / "01-generate" / "part-00000.parquet")
    return seconds, int(pc.sum(table["completion_tokens"]).as_py())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.schema import from_rows
    from curate.stages.generate import Generate
    from curate.teachers.tiny_model import build_tiny_model

    with tempfile.TemporaryDirectory(prefix="curate-bench-") as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "tiny-llama")
        config = options(model, args)
        stage = Generate(**config)
        rows = problems(args.prompts)
        source = tmp / "problems.parquet"
        pq.write_table(pa.Table.from_pylist(rows), source)
        rows = from_rows(rows).to_pylist()
        run_baseline(stage, rows[:8])  # start the engine and warm it up (not timed)
        base, ours = [], []
        for repeat in range(args.repeats):
            pair = [("base", lambda: run_baseline(stage, rows)),
                    ("curate", lambda r=repeat: run_curate(config, source, tmp / f"run{r}"))]
            for name, fn in pair if repeat % 2 == 0 else pair[::-1]:
                seconds, tokens = fn()
                (base if name == "base" else ours).append(tokens / seconds)
                print(f"repeat {repeat} {name:>6}: {tokens} output tokens in {seconds:.2f} s "
                      f"= {tokens / seconds:,.0f} tok/s", flush=True)
        b, c = statistics.median(base), statistics.median(ours)
        print(f"\n{args.prompts} prompts x n={args.n}, max_tokens={args.max_tokens}, "
              f"{args.repeats} repeats (medians)")
        print(f"vllm.LLM.generate : {b:,.0f} output tok/s")
        print(f"curate generate   : {c:,.0f} output tok/s (Parquet in/out, request cache on)")
        print(f"ratio curate/vllm : {c / b:.3f}  (goal >= 0.95)")
        from curate.teachers.vllm import shutdown_engines

        shutdown_engines()


if __name__ == "__main__":
    main()
