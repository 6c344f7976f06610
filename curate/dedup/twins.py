"""NumPy twins of the dedup kernels' two hot inner loops, for small inputs run as Python.

`curate.text.small` runs a kernel as Python while compiling it would cost more than the work; it
rebinds the inner kernels below to these whole-array versions, which give the same values (see
tests/test_small_kernels.py) at a small fraction of element-by-element Python's cost.
Importing this module registers them.
"""

from __future__ import annotations

import numpy as np

from curate.dedup.kernels import EMPTY, WORD_TABLE, _min_hashes, _one_permutation, _word_hashes_of
from curate.text.small import numpy_twin
from curate.text.words import mix64


@numpy_twin(_min_hashes)
def min_hashes(row, xs, k, a, b):
    """`_min_hashes`: every (permutation, value) at once; mod 2^32 like the kernel's casts."""
    row[:] = EMPTY
    if k:
        a32, b32, x32 = (v.astype(np.uint32, copy=False) for v in (a, b, xs[:k]))
        np.minimum(row, (a32[:, None] * x32[None, :] + b32[:, None]).min(axis=1), out=row)


@numpy_twin(_one_permutation)
def one_permutation(row, xs, k, a, b, order):
    """`_one_permutation`: every value's bin at once, then every empty bin's first filled one."""
    perms = len(row)
    row[:] = EMPTY
    if not k:
        return
    h = a[:1].astype(np.uint32) * xs[:k].astype(np.uint32) + b[:1].astype(np.uint32)
    np.minimum.at(row, ((h.astype(np.uint64) * np.uint64(perms)) >> np.uint64(32)).astype(np.int64), h)
    empty = np.flatnonzero(row == EMPTY)
    if 0 < len(empty) < perms:
        probes = order[empty]
        first = (row[probes] != EMPTY).argmax(axis=1)
        row[empty] = row[probes[np.arange(len(empty)), first]]


@numpy_twin(_word_hashes_of)
def word_hashes_of(data, lo, hi, out):
    """`_word_hashes_of`: a word's rotate-xor chain h = rotl(h, 7) ^ c equals the xor of each
    byte rotated by 7 times its distance from the word's end, so one reduction per word."""
    chars = WORD_TABLE[data[lo:hi]].astype(np.uint64)
    inside = chars != 0
    edges = np.diff(np.r_[False, inside, False].astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    count = len(starts)
    if count:
        word_end = np.repeat(ends, ends - starts)
        positions = np.flatnonzero(inside)
        turn = ((7 * (word_end - 1 - positions)) % 64).astype(np.uint64)
        c = chars[positions]
        rotated = (c << turn) | (c >> ((np.uint64(64) - turn) % np.uint64(64)))
        bounds = np.r_[0, np.cumsum(ends - starts)[:-1]]
        out[:count] = mix64.py_func(np.bitwise_xor.reduceat(rotated, bounds))
    return count
