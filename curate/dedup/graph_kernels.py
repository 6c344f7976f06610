"""The compiled (numba) graph kernels of dedup's clustering (`curate.dedup.cluster`): candidate
edges among units sharing a band key, and union-find over the edges. When the package's C build
is there (`curate.dedup.native`), it runs in their place at every size; these stay the reference
it is tested against.
"""

from __future__ import annotations

import numpy as np

from curate.dedup import native
from curate.text.jit import njit


@njit(cache=True, nogil=True)
def _bucket_edges(keys, ids, scratch):
    """Edges (first, member) and (previous, member) among units sharing a band key.

    `ids` ascend, so one pass with an open-addressing table (key -> first and latest id)
    yields, for each run of equal keys in id order, the same edges as sorting by (key, id)
    would, without the sort; every edge already has left < right. The keys are first split
    by their top bits into partitions of about 2k (a stable counting sort, so ids still ascend
    within each): each partition's table then fits in the L2 cache, where one big table
    (16 bytes a unit) missed the caches on almost every probe. `scratch`: uint64[2, >= n].
    """
    n = len(keys)
    shift = 0
    while (n >> shift) > 2048:
        shift += 1
    parts = 1 << shift
    counts = np.zeros(parts + 1, dtype=np.int64)
    top = np.uint64(64 - shift) if shift else np.uint64(63)
    for i in range(n):
        counts[(np.int64(keys[i] >> top) if shift else 0) + 1] += 1
    for p in range(parts):
        counts[p + 1] += counts[p]
    fill = counts[:parts].copy()
    for i in range(n):
        p = np.int64(keys[i] >> top) if shift else 0
        scratch[0, fill[p]] = keys[i]
        scratch[1, fill[p]] = np.uint64(ids[i])
        fill[p] += 1
    largest = 1
    for p in range(parts):
        largest = max(largest, counts[p + 1] - counts[p])
    size = 16
    while size < largest + largest // 2:
        size *= 2
    slots = np.zeros((size, 2), dtype=np.uint64)
    # Room for the edges grows as partitions need it: most band keys are unique, and room for
    # 2 edges a unit up front cost 32 bytes a unit, the largest array of the grouping.
    left = np.empty(4 * largest + 1024, dtype=np.int64)
    right = np.empty(4 * largest + 1024, dtype=np.int64)
    k = 0
    for p in range(parts):
        lo, hi = counts[p], counts[p + 1]
        if hi - lo > 1:
            if k + 2 * (hi - lo) > len(left):
                room = max(2 * len(left), k + 2 * (hi - lo))
                wider = np.empty(room, dtype=np.int64)
                wider[:k] = left[:k]
                left = wider
                wider = np.empty(room, dtype=np.int64)
                wider[:k] = right[:k]
                right = wider
            slots[:] = 0
            k = _bucket_run(scratch[0, lo:hi], scratch[1, lo:hi], slots, left, right, k)
    return left[:k], right[:k]


@njit(cache=True, nogil=True)
def _bucket_run(keys, ids, slots, left, right, k):
    """`_bucket_edges` over one partition with a zeroed table: key and packed ids (+1) side by
    side, one cache line per probe. Appends edges from `k` on; returns the new count."""
    mask = len(slots) - 1
    low = np.uint64(0xFFFFFFFF)
    for i in range(len(keys)):
        key = keys[i]
        j = np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask
        while slots[j, 1] != 0 and slots[j, 0] != key:
            j = (j + 1) & mask
        member = np.int64(ids[i])
        tag = np.uint64(member + 1)
        meta = slots[j, 1]
        if meta == 0:
            slots[j, 0] = key
            slots[j, 1] = (tag << np.uint64(32)) | tag
        else:
            first = np.int64(meta >> np.uint64(32)) - 1
            latest = np.int64(meta & low) - 1
            left[k], right[k] = first, member
            k += 1
            if latest != first:
                left[k], right[k] = latest, member
                k += 1
            slots[j, 1] = (meta & ~low) | tag
    return k


@njit(cache=True)
def _union_find(n, left, right):
    parent = np.arange(n)
    for e in range(len(left)):
        a, b = left[e], right[e]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        parent[i] = r
    return parent


native.use_for(_bucket_edges, native.bucket_edges)
native.use_for(_union_find, native.union_find)
