"""The compiled (numba) exact-Jaccard kernels behind `curate.dedup.minhash`: of two sorted sets
(`_jaccard_kernel`), and of the distinct values of two unsorted slices (`_bag_jaccard_kernel`,
what dedup's candidate check runs; its C build in `curate.dedup.native` runs in its place when
built). Split from `curate.dedup.kernels`, which computes the shingles and signatures.
"""

from __future__ import annotations

import numpy as np

from curate.dedup import native
from curate.text.jit import njit


@njit(cache=True, nogil=True)
def _jaccard_kernel(offs, values, left, right):
    out = np.empty(len(left), dtype=np.float64)
    for e in range(len(left)):
        i, j = offs[left[e]], offs[right[e]]
        i_end, j_end = offs[left[e] + 1], offs[right[e] + 1]
        na, nb = i_end - i, j_end - j
        common = 0
        while i < i_end and j < j_end:
            if values[i] == values[j]:
                common += 1
                i += 1
                j += 1
            elif values[i] < values[j]:
                i += 1
            else:
                j += 1
        union = na + nb - common
        out[e] = common / union if union else 1.0
    return out


@njit(cache=True, nogil=True)
def _slot_of(slots, stamps, x, base, mask):
    """The slot holding `x` in this pair's table, or the empty slot where it would go."""
    h = (np.uint64(x) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
    j = np.int64(h) & mask
    while stamps[j] >= base and slots[j] != x:
        j = (j + 1) & mask
    return j


@njit(cache=True, nogil=True)
def _bag_jaccard_kernel(offs, values, left, right):
    """Exact Jaccard of the distinct values of two unsorted slices, per pair, by hashing.

    One open-addressing table, reused across pairs through a per-pair stamp (no clearing):
    the left slice's values are inserted (stamp 3e, counted once each), then the right's are
    probed: a left value seen for the first time counts as common (stamp 3e+1), a value not in
    the left slice is inserted as right-only (stamp 3e+2). Linear in the two slices, no sort.
    """
    longest = 1
    for e in range(len(left)):
        longest = max(longest, offs[left[e] + 1] - offs[left[e]] + offs[right[e] + 1] - offs[right[e]])
    size = 16
    while size < 2 * longest:
        size *= 2
    mask = size - 1
    slots = np.zeros(size, dtype=np.uint32)
    stamps = np.full(size, -1, dtype=np.int64)
    out = np.empty(len(left), dtype=np.float64)
    for e in range(len(left)):
        base = 3 * e
        distinct_left = 0
        for i in range(offs[left[e]], offs[left[e] + 1]):
            x = values[i]
            j = _slot_of(slots, stamps, x, base, mask)
            if stamps[j] < base:
                slots[j] = x
                stamps[j] = base
                distinct_left += 1
        common = 0
        right_only = 0
        for i in range(offs[right[e]], offs[right[e] + 1]):
            x = values[i]
            j = _slot_of(slots, stamps, x, base, mask)
            if stamps[j] < base:
                slots[j] = x
                stamps[j] = base + 2
                right_only += 1
            elif stamps[j] == base:
                stamps[j] = base + 1
                common += 1
        union = distinct_left + right_only
        out[e] = common / union if union else 1.0
    return out


native.use_for(_bag_jaccard_kernel, native.bag_jaccard_kernel)
