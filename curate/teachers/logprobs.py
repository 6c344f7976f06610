"""vLLM's per-position log-probabilities -> the token arrays curate stores.

vLLM returns, per position, the log-probability of the token actually there (sampled, or the
prompt's token) and the top-K alternatives by rank, either as one dict per position or (with
`flat_logprobs`) as flat lists with start/end indices per position; both are read here.
Ranks start at 1; the token actually there may also be one of the top-K.

Scoring asks for the prompt log-probabilities of whole sequences, and turning them into Python
lists is most of the per-sequence work in our process (vLLM's output processor makes about 22
list items per token with top-20, all freed again once curate has its arrays). `keep_prompt_arrays` has the engine keep
the arrays it receives from the engine core instead: `PromptArrays`, read here as one slice per
sequence. It leans on vLLM's output processor (a request's `LogprobsProcessor`, checked for
what is used); where that is not found the request keeps vLLM's default lists, read by the
same functions.
"""

from __future__ import annotations

import math
from typing import Any


def position_lists(logprobs: Any, position: int) -> tuple[list[int], list[float], list[int | None]]:
    """(ids, logprobs, ranks) of one position, in vLLM's order (the token there first)."""
    if isinstance(logprobs, PromptArrays):
        ids, lps, ranks = logprobs.rows(position, 1)
        return ids[0].tolist(), lps[0].tolist(), [int(ranks[0]), *range(1, ids.shape[1])]
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


class PromptArrays:
    """A request's prompt log-probabilities as the engine core sent them, one chunk per prefill
    step: ids and log-probabilities [positions, 1 + K] (the token there, then the top-K by rank)
    and the rank of the token there [positions], for prompt positions 1, 2, ... (position 0 has
    none)."""

    def __init__(self) -> None:
        self.chunks: list[tuple[Any, Any, Any]] = []

    def add(self, token_ids, logprobs, ranks) -> None:
        import numpy as np

        self.chunks.append(tuple(t.numpy() if hasattr(t, "numpy") else np.asarray(t)  # torch, else numpy
                                 for t in (token_ids, logprobs, ranks)))

    def __len__(self) -> int:  # positions, as a list of them would count (the first is None)
        return 1 + sum(len(chunk[0]) for chunk in self.chunks)

    def rows(self, first: int, count: int):
        """(ids, log-probs, ranks) of prompt positions first .. first + count - 1."""
        import numpy as np

        whole = [np.concatenate(part) if len(self.chunks) > 1 else part[0] for part in zip(*self.chunks)]
        return tuple(array[first - 1:first - 1 + count] for array in whole)


def keep_prompt_arrays(engine, request_id: str) -> bool:
    """Have vLLM's output processor keep the request's prompt log-probabilities as
    `PromptArrays` (False: left as it was). Only for requests that want no detokenized text
    (nothing reads the decoded tokens then) and ask for prompt log-probabilities alone."""
    try:
        processor = engine.output_processor
        internal = processor.external_req_ids[request_id]
        logprobs = processor.request_states[internal[-1]].logprobs_processor
        wanted = (len(internal) == 1 and logprobs.tokenizer is None and logprobs.logprobs is None
                  and logprobs.num_prompt_logprobs is not None
                  and callable(getattr(logprobs, "_update_prompt_logprobs", None)))
    except (AttributeError, KeyError, IndexError, TypeError):
        return False
    if not wanted:
        return False
    arrays = PromptArrays()

    def update(tensors) -> None:  # vLLM's LogprobsTensors: ids, log-probs, ranks
        arrays.add(tensors[0], tensors[1], tensors[2])

    logprobs.prompt_logprobs = arrays
    logprobs._update_prompt_logprobs = update
    return True


def token_matrix(logprobs: Any, token_ids: list[int], *, first: int, top_k: int):
    """`token_arrays` as numpy: (log-probs float32 [T], top ids int32 [T, K] or None, top
    log-probs float32 [T, K] or None). `PromptArrays`, and flat logprobs whose positions each
    hold the token there and then the top-K by rank (what vLLM returns), are sliced without a
    Python loop per token."""
    import numpy as np

    count = len(token_ids)
    matrix = _regular_matrix(logprobs, first, count, top_k) if count else None
    if matrix is not None and np.array_equal(matrix[0][:, 0], np.asarray(token_ids, dtype=np.int32)):
        ids, lps = matrix
        lps = np.maximum(lps.astype(np.float32, copy=False), -65504.0)
        if top_k == 0:
            return lps[:, 0].copy(), None, None
        return lps[:, 0].copy(), ids[:, 1:].copy(), lps[:, 1:].copy()
    chosen, top_ids, top_lps = token_arrays(logprobs, token_ids, first=first, top_k=top_k)
    return (np.asarray(chosen, dtype=np.float32),
            None if top_ids is None else np.asarray(top_ids, dtype=np.int32).reshape(count, -1),
            None if top_lps is None else np.asarray(top_lps, dtype=np.float32).reshape(count, -1))


def _regular_matrix(logprobs: Any, first: int, count: int, top_k: int):
    """(ids int32 [count, 1 + K], log-probs [count, 1 + K]) when every position holds 1 + K
    entries, else None (the per-position reader handles the rest)."""
    import numpy as np

    if isinstance(logprobs, PromptArrays):
        ids, lps, _ = logprobs.rows(first, count)
        if ids.shape != (count, top_k + 1) or lps.shape != ids.shape:
            return None
        return ids.astype(np.int32, copy=False), lps
    if not hasattr(logprobs, "start_indices"):
        return None
    start = np.asarray(logprobs.start_indices[first:first + count])
    end = np.asarray(logprobs.end_indices[first:first + count])
    lo, hi = int(start[0]), int(end[-1])
    if len(start) != count or not np.all(end - start == top_k + 1) or hi - lo != count * (top_k + 1):
        return None
    ids = np.asarray(logprobs.token_ids[lo:hi], dtype=np.int32).reshape(count, top_k + 1)
    lps = np.asarray(logprobs.logprobs[lo:hi], dtype=np.float32).reshape(count, top_k + 1)
    return ids, lps
