"""NumPy twins of the dedup kernels' two hot inner loops, for small inputs run as Python.

`curate.text.small` runs a kernel as Python while compiling it would cost more than the work; it
rebinds the inner kernels below to these whole-array versions, which give the same values (see
tests/test_small_kernels.py) at a small fraction of element-by-element Python's cost.
Importing this module registers them.
"""

from __future__ import annotations

import numpy as np

from curate.dedup.kernels import EMPTY, PROBES, WORD_TABLE, _min_hashes, _word_hashes_of
from curate.text.small import numpy_twin
from curate.text.words import mix64


@numpy_twin(_min_hashes)
def min_hashes(row, xs, k, a, b):
    """`_min_hashes`: every value's bin at once, then each empty bin's probes in step."""
    perms = len(row)
    row[:] = EMPTY
    if not k:
        return
    h = (a[0].astype(np.uint32) * xs[:k].astype(np.uint32) + b[0].astype(np.uint32)).astype(np.uint32)
    np.minimum.at(row, _bins(h, perms), h)
    full = row != EMPTY
    empty = np.flatnonzero(~full)
    if not len(empty) or len(empty) == perms:
        return
    source = np.full(len(empty), -1, np.int64)
    for t in range(1, PROBES * perms + 1):
        waiting = source < 0
        if not waiting.any():
            break
        keys = (empty[waiting].astype(np.uint64) << np.uint64(32)) | np.uint64(t)
        j = _bins((mix64.py_func(keys) >> np.uint64(32)).astype(np.uint32), perms)
        source[np.flatnonzero(waiting)[full[j]]] = j[full[j]]
    for i in np.flatnonzero(source < 0):  # the linear scan after PROBES * perms probes
        source[i] = next(j % perms for j in range(empty[i] + 1, empty[i] + perms + 1) if full[j % perms])
    row[empty] = row[source]


def _bins(h: np.ndarray, perms: int) -> np.ndarray:
    return ((h.astype(np.uint64) * np.uint64(perms)) >> np.uint64(32)).astype(np.int64)


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
