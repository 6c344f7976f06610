"""The compiled grouping of dedup (curate.dedup.cluster) against plain reference code."""

from __future__ import annotations

import numpy as np

from curate.dedup import cluster as dc


def _sorted_run_edges(keys: np.ndarray, ids: np.ndarray) -> set[tuple[int, int]]:
    """Reference: sort by (key, id); in each run of equal keys, (first, member) and (previous, member)."""
    order = np.lexsort((ids, keys))
    keys, ids = keys[order], ids[order]
    edges, start = set(), 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            for j in range(start + 1, i):
                edges.add((int(ids[start]), int(ids[j])))
                if j - 1 != start:
                    edges.add((int(ids[j - 1]), int(ids[j])))
            start = i
    return edges


def test_bucket_edges_equal_the_edges_of_a_sort_by_key_and_id():
    rng = np.random.default_rng(3)
    keys = (rng.integers(0, 2**63, 20_000, dtype=np.int64).astype(np.uint64) << np.uint64(1)) | np.uint64(1)
    keys[rng.integers(0, 20_000, 6000)] = keys[rng.integers(0, 40, 6000)]  # some large buckets
    keys[:3] = 0  # a zero key is an ordinary key
    keys[3:6] = np.uint64(2**64 - 1)  # so is the largest
    ids = np.sort(rng.choice(200_000, 20_000, replace=False))  # several partitions of the table
    left, right = dc._bucket_edges(keys, ids, np.empty((2, len(keys)), np.uint64))
    assert set(zip(left.tolist(), right.tolist())) == _sorted_run_edges(keys, ids)
    assert (left < right).all()


def test_unique_edges_orders_and_deduplicates_undirected_pairs():
    left, right = dc.unique_edges(np.array([3, 1, 2, 5, 5]), np.array([1, 3, 2, 4, 4]))
    assert left.tolist() == [1, 4] and right.tolist() == [3, 5]
