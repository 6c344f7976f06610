"""Math verification of trace rows: extraction here, equivalence in a worker pool.

Rows are grouped by (gold, grader options): one pool job per problem, so the worker parses the
gold once; identical extracted answers of one problem are checked once. Pools are kept per
process (keyed by their settings) so consecutive parts reuse warm workers.
"""

from __future__ import annotations

import atexit
from collections import Counter
from collections.abc import Callable
from typing import Any

from curate.schema import split_reasoning
from curate.verifiers.math import MathOptions, extract_answer
from curate.verifiers.pool import WorkerPool

_POOLS: dict[tuple, WorkerPool] = {}


def get_pool(*, workers: int, deadline: float, memory_mb: int) -> WorkerPool:
    """A warm math worker pool with these settings (created on first use, closed at exit)."""
    key = (workers, deadline, memory_mb)
    if key not in _POOLS:
        if not _POOLS:
            atexit.register(close_pools)
        _POOLS[key] = WorkerPool("curate.verifiers.math", workers=workers, deadline=deadline, memory_mb=memory_mb)
    return _POOLS[key]


def close_pools() -> None:
    while _POOLS:
        _POOLS.popitem()[1].close()


def final_text(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(text after the reasoning, why there is none)."""
    answer = row.get("answer")
    if answer and "<think>" in answer:
        _, answer = split_reasoning(answer)
    if answer is None or not answer.strip():
        if row.get("finish_reason") == "length":
            return None, "truncated before the final answer (finish_reason=length)"
        if answer is None and row.get("reasoning"):  # an empty string is a closed, empty answer
            return None, "reasoning never closed (no </think>), so there is no final answer"
        if row.get("reasoning"):
            return None, "empty answer: nothing after the reasoning (</think>)"
        return None, "empty answer"
    return answer, None


def prepare_row(row: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """(extracted answer, None) or (None, a final no_answer/bad_reference result)."""
    gold = row.get("reference")
    if gold is None or not str(gold).strip():
        return None, {"verdict": "bad_reference", "reason": "no gold answer in `reference`"}
    text, why = final_text(row)
    if text is None:
        return None, {"verdict": "no_answer", "reason": why}
    extracted = extract_answer(text)
    if extracted is None:
        return None, {"verdict": "no_answer", "reason": "no \\boxed{} or 'answer is' phrase after the reasoning"}
    return extracted, None


def verify_math_rows(
    rows: list[dict[str, Any]], options_for: Callable[[str | None], dict[str, Any]], *,
    workers: int, deadline: float, memory_mb: int, counters: Counter | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """One (verdict, detail) per row."""
    results: list[tuple[str, dict[str, Any]] | None] = [None] * len(rows)
    jobs: dict[tuple, dict[str, list[int]]] = {}
    extracted: list[str | None] = []
    for i, row in enumerate(rows):
        pred, final = prepare_row(row)
        extracted.append(pred)
        if final is not None:
            results[i] = (final.pop("verdict"), {"verifier": "math", **final})
            continue
        options = options_for(row.get("source"))
        MathOptions(**options)  # fail early on a bad option name
        key = (str(row["reference"]), tuple(sorted(options.items())))
        jobs.setdefault(key, {}).setdefault(pred, []).append(i)
    if jobs:
        keys = list(jobs)
        pool_jobs = [((gold, dict(opts)), list(jobs[(gold, opts)])) for gold, opts in keys]
        pool = get_pool(workers=workers, deadline=deadline, memory_mb=memory_mb)
        outputs = pool.run(pool_jobs)
        if counters is not None:
            counters["math checks"] += sum(len(items) for _, items in pool_jobs)
        for key, output in zip(keys, outputs):
            for (pred, indices), result in zip(jobs[key].items(), output):
                for i in indices:
                    results[i] = _row_result(result, pred)
    return [r for r in results if r is not None]


def _row_result(result: tuple, pred: str) -> tuple[str, dict[str, Any]]:
    kind, payload = result
    shown = pred if len(pred) <= 200 else pred[:200] + "..."
    if kind == "bad_header":
        return "bad_reference", {"verifier": "math", "reason": f"gold unusable: {payload}", "extracted": shown}
    return kind, {"verifier": "math", **payload, "extracted": shown}
