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
from curate.verifiers.math import MathOptions
from curate.verifiers.math_extract import Policy, extract
from curate.verifiers.pool import WorkerPool, stop_forkserver

_POOLS: dict[tuple, WorkerPool] = {}


ROWS_PER_WORKER = 256  # a worker's own set-up (below) pays for itself past about this many rows


def get_pool(*, workers: int, deadline: float, memory_mb: int, rows: int | None = None) -> WorkerPool:
    """The math worker pool with these settings (started on first use, closed at exit).

    It returns at once: the workers import sympy and math-verify meanwhile, and the pool's
    first `run` waits for them; so calling this early (verify's prepare) overlaps that start.

    `rows`: the math rows the whole run holds, when the caller knows them before the pool
    starts; a run that small starts fewer workers than `workers` (`workers_for`), and later
    calls with the same settings get that pool."""
    key = (workers, deadline, memory_mb)
    if key not in _POOLS:
        if not _POOLS:
            atexit.register(close_pools)
        size = workers_for(rows, workers) if rows is not None else workers
        _POOLS[key] = WorkerPool("curate.verifiers.math", workers=size, deadline=deadline, memory_mb=memory_mb,
                                 preload=("math_verify",))
    return _POOLS[key]


def workers_for(rows: int, workers: int) -> int:
    """Workers worth starting for `rows` math rows: one per ROWS_PER_WORKER, at most `workers`.

    Each worker pays its own first checks' set-up (math-verify's LaTeX parser builds its
    prediction tables and sympy its caches as they are first used: about 0.4 CPU seconds for
    the quickstart's answers, against 0.2 s for all 72 of its checks once warm), so in a small
    run a second worker spends more CPU on that than it takes off the first's checks, CPU the
    run's code checks and other processes need."""
    return max(1, min(workers, -(-rows // ROWS_PER_WORKER)))


def close_pools() -> None:
    """Stop every pool's workers, then the forkserver they forked from (this runs at exit)."""
    while _POOLS:
        _POOLS.popitem()[1].close()
    stop_forkserver()


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


NO_ANSWER = {
    "strict": "no \\boxed{} answer after the reasoning (extract: strict)",
    "standard": "no final answer found: no \\boxed{}, no 'answer is' phrase, no expression in the final "
                "sentence or display",
    "lenient": "no final answer found: no \\boxed{}, no 'answer is' phrase, no expression in any paragraph",
}


def prepare_row(row: dict[str, Any], policy: Policy = "standard") -> tuple[Any, dict[str, Any] | None]:
    """(what the checker compares, with the extraction record) or (None, a final result).

    The first is `(pred, record)`: `pred` is the answer, or a dict of the different answers the
    text committed to; `record` holds the `extraction` rule and the span read.
    """
    gold = row.get("reference")
    if gold is None or not str(gold).strip():
        return None, {"verdict": "bad_reference", "reason": "no gold answer in `reference`"}
    text, why = final_text(row)
    if text is None:
        return None, {"verdict": "no_answer", "reason": why, "extraction": "none"}
    found = extract(text, policy)
    if found.answer is None:
        return None, {"verdict": "no_answer", "reason": NO_ANSWER[policy], "extraction": "none"}
    pred: Any = found.answer
    if len(found.alternatives) > 1:
        pred = {"alternatives": list(found.alternatives), "joined": ", ".join(found.alternatives)}
    elif found.forms:
        pred = {"alternatives": [found.answer], "forms": list(found.forms)}
    return (pred, found.record(text)), None


def verify_math_rows(
    rows: list[dict[str, Any]], options_for: Callable[[str | None], dict[str, Any]], *,
    workers: int, deadline: float, memory_mb: int, counters: Counter | None = None,
    policy: Policy = "standard",
) -> list[tuple[str, dict[str, Any]]]:
    """One (verdict, detail) per row; the detail records the extraction rule and span."""
    results: list[tuple[str, dict[str, Any]] | None] = [None] * len(rows)
    jobs: dict[tuple, dict[Any, tuple[Any, list[int]]]] = {}
    records: list[dict[str, Any]] = [{} for _ in rows]
    for i, row in enumerate(rows):
        prepared, final = prepare_row(row, policy)
        if final is not None:
            results[i] = (final.pop("verdict"), {"verifier": "math", **final})
            continue
        pred, records[i] = prepared
        options = options_for(row.get("source"))
        MathOptions(**options)  # fail early on a bad option name
        key = (str(row["reference"]), tuple(sorted(options.items())))
        slot = jobs.setdefault(key, {}).setdefault(_hashable(pred), (pred, []))
        slot[1].append(i)
    if jobs:
        keys = list(jobs)
        pool_jobs = [((gold, dict(opts)), [pred for pred, _ in jobs[(gold, opts)].values()]) for gold, opts in keys]
        pool = get_pool(workers=workers, deadline=deadline, memory_mb=memory_mb)
        outputs = pool.run(pool_jobs)
        if counters is not None:
            counters["math checks"] += sum(len(items) for _, items in pool_jobs)
        for key, output in zip(keys, outputs):
            for (pred, indices), result in zip(jobs[key].values(), output):
                for i in indices:
                    results[i] = _row_result(result, pred, records[i])
    return [r for r in results if r is not None]


def _hashable(pred: Any) -> Any:
    return pred if isinstance(pred, str) else (tuple(pred["alternatives"]), pred.get("joined"),
                                               tuple(pred.get("forms", ())))


def _row_result(result: tuple, pred: Any, record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind, payload = result
    text = pred if isinstance(pred, str) else " | ".join(pred["alternatives"])
    shown = text if len(text) <= 200 else text[:200] + "..."
    if kind == "bad_header":
        return "bad_reference", {"verifier": "math", "reason": f"gold unusable: {payload}", "extracted": shown,
                                 **record}
    return kind, {"verifier": "math", **payload, "extracted": shown, **record}
