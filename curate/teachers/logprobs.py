"""vLLM's per-position log-probabilities -> the token arrays curate stores.

vLLM returns, per position, the log-probability of the token actually there (sampled, or the
prompt's token) and the top-K alternatives by rank, either as one dict per position or (with
`flat_logprobs`) as flat lists with start/end indices per position; both are read here.
Ranks start at 1; the token actually there may also be one of the top-K.
"""

from __future__ import annotations

import math
from typing import Any


def position_lists(logprobs: Any, position: int) -> tuple[list[int], list[float], list[int | None]]:
    """(ids, logprobs, ranks) of one position, in vLLM's order (the token there first)."""
    if hasattr(logprobs, "start_indices"):  # vllm.logprobs.FlatLogprobs
        lo, hi = logprobs.start_indices[position], logprobs.end_indices[position]
        return logprobs.token_ids[lo:hi], logprobs.logprobs[lo:hi], logprobs.ranks[lo:hi]
    entries = logprobs[position] or {}
    return (list(entries), [e.logprob for e in entries.values()], [e.rank for e in entries.values()])


def token_arrays(logprobs: Any, token_ids: list[int], *, first: int, top_k: int
                 ) -> tuple[list[float], list[list[int]] | None, list[list[float]] | None]:
    """For positions first, first+1, ...: the log-probability of `token_ids[i]` and, with
    `top_k`, the top-K alternatives (ids and log-probabilities, best first)."""
    chosen: list[float] = []
    top_ids: list[list[int]] = []
    top_lps: list[list[float]] = []
    for offset, token in enumerate(token_ids):
        ids, lps, ranks = position_lists(logprobs, first + offset)
        chosen.append(_logprob_of(token, ids, lps))
        if top_k:
            ranked = sorted((r, i, lp) for i, lp, r in zip(ids, lps, ranks) if r is not None and r <= top_k)
            seen: set[int] = set()
            ids_k, lps_k = [], []
            for _, i, lp in ranked:
                if i not in seen:
                    seen.add(i)
                    ids_k.append(i)
                    lps_k.append(_finite(lp))
            top_ids.append(ids_k)
            top_lps.append(lps_k)
    return chosen, (top_ids if top_k else None), (top_lps if top_k else None)


def _logprob_of(token: int, ids: list[int], lps: list[float]) -> float:
    for i, lp in zip(ids, lps):
        if i == token:
            return _finite(lp)
    raise ValueError(f"vLLM returned no log-probability for token {token}")


def _finite(value: float) -> float:
    """-inf (a token the model cannot produce) as the most negative float16, so Arrow and JSON
    keep a number."""
    return -65504.0 if math.isinf(value) and value < 0 else float(value)


def token_matrix(logprobs: Any, token_ids: list[int], *, first: int, top_k: int):
    """`token_arrays` as numpy: (log-probs float32 [T], top ids int32 [T, K] or None, top
    log-probs float32 [T, K] or None). Flat logprobs whose positions each hold the token there
    and then the top-K by rank (what vLLM returns) are sliced without a Python loop per token."""
    import numpy as np

    count = len(token_ids)
    if hasattr(logprobs, "start_indices") and count:
        start = np.asarray(logprobs.start_indices[first:first + count])
        end = np.asarray(logprobs.end_indices[first:first + count])
        lo, hi = int(start[0]), int(end[-1])
        if len(start) == count and np.all(end - start == top_k + 1) and hi - lo == count * (top_k + 1):
            ids = np.asarray(logprobs.token_ids[lo:hi], dtype=np.int32).reshape(count, top_k + 1)
            if np.array_equal(ids[:, 0], np.asarray(token_ids, dtype=np.int32)):
                lps = np.maximum(np.asarray(logprobs.logprobs[lo:hi], dtype=np.float32), -65504.0)
                lps = lps.reshape(count, top_k + 1)
                if top_k == 0:
                    return lps[:, 0].copy(), None, None
                return lps[:, 0].copy(), ids[:, 1:].copy(), lps[:, 1:].copy()
    chosen, top_ids, top_lps = token_arrays(logprobs, token_ids, first=first, top_k=top_k)
    return (np.asarray(chosen, dtype=np.float32),
            None if top_ids is None else np.asarray(top_ids, dtype=np.int32).reshape(count, -1),
            None if top_lps is None else np.asarray(top_lps, dtype=np.float32).reshape(count, -1))
