"""Seeded 64-bit hashes of row keys, for ranking rows independently of their order.

The mix stage keeps, in each group, the k rows whose key hashes lowest. The hash is FNV-1a over
the key's UTF-8 bytes, started from a seed-dependent offset and finished with the splitmix64
mixer, compiled with numba straight over the Arrow string buffers (no Python object per row).
It is stable across processes, platforms and Python hash seeds, so a recorded mix can be
reproduced exactly; it is not cryptographic (nobody chooses trace ids adversarially here).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from curate.text.arrow import one_chunk, text_array
from curate.text.jit import njit
from curate.text.small import pick
from curate.text.words import FNV_OFFSET as _FNV_OFFSET
from curate.text.words import FNV_PRIME as _FNV_PRIME
from curate.text.words import arrow_buffers, mix64

_MASK = (1 << 64) - 1


@njit(cache=True, nogil=True)
def _hash_strings(data, offsets, start):
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    for d in range(n):
        h = start
        for i in range(offsets[d], offsets[d + 1]):
            h = (h ^ np.uint64(data[i])) * _FNV_PRIME
        out[d] = mix64(h ^ np.uint64(offsets[d + 1] - offsets[d]))
    return out


def seeded_hashes(keys: pa.Array | pa.ChunkedArray | list[str], seed: int) -> np.ndarray:
    """uint64 hash of each key under `seed`; nulls hash like the empty string.

    >>> a = seeded_hashes(["x", "y"], 1); b = seeded_hashes(["y", "x"], 1)
    >>> bool(a[0] == b[1]) and bool(a[0] != seeded_hashes(["x"], 2)[0])
    True
    """
    array = one_chunk(text_array(keys))  # not pa.array: it imports pandas
    if len(array) == 0:
        return np.zeros(0, dtype=np.uint64)
    data, offsets, _ = arrow_buffers(array)
    if len(data) == 0:
        data = np.zeros(1, np.uint8)
    start = np.uint64(int(_FNV_OFFSET) ^ ((int(seed) * 0x9E3779B97F4A7C15) & _MASK))
    return pick(_hash_strings, len(data))(data, offsets, start)
