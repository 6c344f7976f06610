"""The readers of prompt log-probabilities agree, and the cache writer thread commits what it is
given and hands its failures back (no engine here: test_score.py runs the real one)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.teachers.base import Request, Response, Sample
from curate.teachers.cache import CacheWriter, RequestCache
from curate.teachers.logprobs import PromptArrays, token_arrays, token_matrix


def engine_chunks(rng, positions: int, top_k: int, cuts: list[int]):
    """Prompt log-probabilities as the engine core sends them, split at `cuts` (prefill chunks):
    per position the token there, then the top-K by rank; the rank of the token there."""
    lps = -np.sort(rng.exponential(2.0, size=(positions, top_k)), axis=1).astype(np.float32)
    top = np.stack([rng.choice(1000, size=top_k, replace=False) for _ in range(positions)])
    there = rng.integers(0, 1000, size=positions)
    own = rng.uniform(-12, 0, size=positions).astype(np.float32)
    ranks = rng.integers(top_k + 1, 900, size=positions)
    own[rng.random(positions) < 0.05] = -np.inf  # a token the model cannot produce
    if top_k:
        inside = rng.random(positions) < 0.3  # the token there is one of the top-K
        slot = rng.integers(0, top_k, size=positions)
        rows = np.arange(positions)
        there[inside], own[inside] = top[rows, slot][inside], lps[rows, slot][inside]
        ranks[inside] = slot[inside] + 1
    ids = np.concatenate([there[:, None], top], axis=1)
    values = np.concatenate([own[:, None], lps], axis=1)
    bounds = [0, *cuts, positions]
    return ids, values, [(ids[a:b], values[a:b], ranks[a:b]) for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize(("top_k", "cuts"), [(0, []), (5, []), (20, [7, 30]), (3, [1])])
def test_prompt_arrays_read_in_one_slice_agree_with_the_per_position_reader(top_k, cuts):
    rng = np.random.default_rng(top_k)
    ids, values, chunks = engine_chunks(rng, 48, top_k, cuts)
    arrays = PromptArrays()
    for chunk in chunks:
        arrays.add(*chunk)
    assert len(arrays) == 49  # prompt position 0 has none
    first = 20  # prompt position of the first completion token: row first - 1 of the arrays
    completion = ids[first - 1:, 0].tolist()
    chosen, top_ids, top_lps = token_matrix(arrays, completion, first=first, top_k=top_k)
    slow_chosen, slow_ids, slow_lps = token_arrays(arrays, completion, first=first, top_k=top_k)
    assert chosen.dtype == np.float32 and chosen.tolist() == np.float32(slow_chosen).tolist()
    if top_k:
        assert top_ids.tolist() == slow_ids and top_lps.tolist() == np.float32(slow_lps).tolist()
    else:
        assert top_ids is None and slow_ids is None
    assert chosen.tolist() == np.maximum(values[first - 1:, 0], -65504.0).tolist()  # -inf: float16's min
    if top_k:
        assert top_ids.tolist() == ids[first - 1:, 1:].tolist()


def response(value: float) -> Response:
    return Response(prompt_tokens=3, samples=[Sample(text=None, finish_reason="scored",
                                                     logprobs=np.full(4, value, np.float32))])


def request(i: int) -> Request:
    return Request(key=f"k{i}", messages=[], sample_idx=[0], sampling={}, payload_hash=f"h{i}")


def test_the_cache_writer_commits_everything_put_before_close(tmp_path):
    cache = RequestCache(tmp_path / "requests.sqlite")
    writer = CacheWriter(cache)
    for i in range(50):
        writer.put(request(i), response(-i))
    writer.close()
    reader = RequestCache(tmp_path / "requests.sqlite")  # another connection sees the commits
    got = list(reader.get_many([request(i) for i in range(50)]))
    assert [float(r.samples[0].logprobs[0]) for r in got] == [-float(i) for i in range(50)]
    reader.close()
    cache.close()


def test_a_failing_cache_write_is_raised_in_the_callers_thread(tmp_path):
    cache = RequestCache(tmp_path / "requests.sqlite")
    cache.db.close()  # every write now fails
    writer = CacheWriter(cache)
    writer.put(request(0), response(0.0))
    with pytest.raises(Exception, match="closed"):
        writer.close()
    with pytest.raises(Exception, match="closed"):
        writer.put(request(1), response(0.0))
