"""Benchmark: curate's score stage vs calling vLLM's prompt log-probabilities directly, one
engine, one run; and the bytes per scored token with top-K 20.

The same sequences (a rendered prompt + a completion of random token ids from the shared
tokenizer) through
  - baseline: `llm.generate(token-id prompts, SamplingParams(prompt_logprobs=K, max_tokens=1))`,
  - curate:   the score stage (`run_stage_on`, request cache on in a fresh folder each repeat:
              rendering, the tokenizer check, the cache, the step loop and the output rows),
both on ONE engine (curate's engine cache hands the baseline the very engine the stage uses),
with the same sampling parameters (the scorer's). The baseline's clock covers `llm.generate`
only: not the rendering and tokenizing that gave its prompts, nor freeing its outputs (curate's
clock covers both). With `--vllm-lists`, a third contender: the stage reading vLLM's Python
lists of log-probabilities instead of the engine's arrays (what it did before).
Prints scored tokens/s of each (median over repeats, alternating order) and the ratio, then the
bytes per scored token of the scored rows' token columns and of the `targets` export, as zstd
Parquet like `write` writes them.

    python tests/benchmarks/bench_score.py [--rows 96 --tokens 256 --top-k 20 --repeats 3 --vllm-lists]

Goal: ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
ENGINE_SHARE: list[float] = []  # the stage's time in the engine loop / its whole time


def options(model: Path, top_k: int) -> dict:
    return {"teacher": "vllm", "model": str(model), "logprobs": top_k, "enforce_eager": True,
            "gpu_memory_utilization": 0.3, "max_model_len": 1024, "cpu_kv_cache_gb": 1,
            "prefill": "<think>\n", "enable_prefix_caching": False}


def rollouts(model: Path, count: int, tokens: int):
    """Rows as generate with `logprobs` writes them: token ids, their log-probs, the tokenizer."""
    from transformers import AutoTokenizer

    from curate.schema import from_rows
    from curate.teachers.tokenizer_id import identity, identity_json

    tokenizer = AutoTokenizer.from_pretrained(model)
    ident = identity_json(identity(tokenizer, name=model.name, revision=None))
    rng = random.Random(0)
    vocab = len(tokenizer)
    rows = [{"id": f"b{i:05d}", "sample_idx": 0, "problem": f"Compute {i} * {i + 7}.", "domain": "math",
             "tokenizer": ident, "token_ids": [rng.randrange(10, vocab) for _ in range(tokens)],
             "token_logprobs": [-1.0] * tokens} for i in range(count)]
    return from_rows(rows)


def run_baseline(stage, table) -> tuple[float, int]:
    from curate.stages.score import make_scorer

    scorer = make_scorer(stage.config)
    llm = scorer.engine()
    requests = [r for r in stage.plan(table.to_pylist(), scorer) if r is not None]
    limit = scorer.max_model_len()
    prompts = [{"prompt_token_ids": r.prompt_token_ids} for r in requests]
    params = [scorer.sampling_params(r, limit) for r in requests]
    started = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    scored = sum(len(r.prompt_token_ids) - r.sampling["score_from"] for r in requests)
    assert all(o.prompt_logprobs is not None for o in outputs)
    return seconds, scored


def run_curate(stage, table, scratch: Path, *, arrays: bool = True):
    from curate.stages.base import run_stage_on
    from curate.teachers.scoring import VllmScorer

    VllmScorer.keep_arrays = arrays
    started = time.perf_counter()
    out, ctx = run_stage_on(stage, table, scratch)
    seconds = time.perf_counter() - started
    VllmScorer.keep_arrays = True
    if arrays:
        ENGINE_SHARE.append(ctx.stats["engine_seconds"] / seconds)
    return seconds, ctx.counters["tokens_scored"], out


def parquet_bytes(table, path: Path) -> int:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=96)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vllm-lists", action="store_true",
                        help="also time the stage reading vLLM's Python lists (not the engine's arrays)")
    args = parser.parse_args()

    from curate.publish.onpolicy_view import shaped_view
    from curate.stages.score import Score
    from curate.teachers.tiny_model import build_tiny_model
    from curate.teachers.vllm import shutdown_engines

    root = Path(tempfile.mkdtemp(prefix="bench-score-"))
    teacher = build_tiny_model(root / "tiny-teacher", seed=1)
    table = rollouts(teacher, args.rows, args.tokens)
    stage = Score(**options(teacher, args.top_k))
    run_baseline(stage, table.slice(0, 8))  # start the engine, warm it up
    base, ours, lists = [], [], []
    out = None
    contenders = ["baseline", "curate", *(["lists"] if args.vllm_lists else [])]
    for repeat in range(args.repeats):
        for which in contenders if repeat % 2 == 0 else contenders[::-1]:
            if which == "baseline":
                seconds, tokens = run_baseline(stage, table)
                base.append(tokens / seconds)
            else:
                seconds, tokens, out = run_curate(stage, table, root / f"scratch-{which}-{repeat}",
                                                  arrays=which == "curate")
                (ours if which == "curate" else lists).append(tokens / seconds)
    b, c = statistics.median(base), statistics.median(ours)
    print(f"rows {args.rows} x {args.tokens} completion tokens, top-K {args.top_k}, {args.repeats} repeats")
    print(f"baseline (vLLM prompt_logprobs): median {b:,.0f} scored tokens/s  {[round(x) for x in base]}")
    print(f"curate score stage:              median {c:,.0f} scored tokens/s  {[round(x) for x in ours]}")
    if lists:
        print(f"curate, reading vLLM's lists:    median {statistics.median(lists):,.0f} scored tokens/s  "
              f"{[round(x) for x in lists]}  (ratio {statistics.median(lists) / b:.3f})")
    print(f"ratio curate / baseline: {c / b:.3f}  (curate's time in the engine loop: median "
          f"{statistics.median(ENGINE_SHARE):.0%} of the stage)")
    tokens = args.rows * args.tokens
    token_columns = out.select(["token_ids", "token_logprobs", "teacher_logprobs", "advantages",
                                "teacher_top_ids", "teacher_top_logprobs"])
    targets = shaped_view(out, "targets")
    print(f"bytes per scored token (top-K {args.top_k}): arrow {token_columns.nbytes / tokens:.1f} raw; "
          f"zstd parquet: scored token columns {parquet_bytes(token_columns, root / 'a.parquet') / tokens:.1f}, "
          f"targets export {parquet_bytes(targets, root / 'b.parquet') / tokens:.1f}")
    shutdown_engines()


if __name__ == "__main__":
    main()
