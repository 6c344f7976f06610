"""The C build of dedup's hot kernels (`curate/dedup/_native.c`), in place of numba's when built.

numba's import and cache loads cost a `curate dedup` command 0.3-0.4 CPU seconds before its
first hash, more than the hashing of 30k R1-length rows on two cores. The package builds these
kernels as an optional C extension (`pyproject.toml`: an install without a C compiler skips it),
and `curate.text.small.pick` hands out the C kernel wherever one is registered here, before
numba's kernel or its Python twin. Each wrapper takes and returns what its numba kernel does
and allocates the outputs; the C functions fill them, with the GIL released, so kernels still
run on threads at once. Results are bit-identical (tests/test_native_kernels.py).

CURATE_NATIVE=0 in the environment turns the C kernels off (the numba ones run), e.g. to
compare the two. In a checkout, a C source newer than its build is not used either: editing
`_native.c` needs `pip install -e .` again, and until then numba's kernels run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.text.small import load_extension, register_native

_native = load_extension("curate.dedup._native", Path(__file__).parent)


def available() -> bool:
    """Whether the C kernels are in use in this process."""
    return _native is not None


def minhash_kernel(data, offsets, valid, n, char_mode, a, b, order, keep, bands, rows, mult, kept):
    """`kernels._minhash_kernel` in C: the same arguments and the same 7-tuple back."""
    offsets = np.ascontiguousarray(offsets, np.int64)
    docs = len(offsets) - 1
    sig = np.empty((1 if bands else docs, len(a)), dtype=np.uint32)
    keys = np.empty((bands, docs if bands else 0), dtype=np.uint64)
    exact = np.zeros(docs, dtype=np.uint64)
    counts = np.zeros(docs, dtype=np.int64)
    if keep and len(kept) < 16:
        kept = np.empty((offsets[docs] - offsets[0]) // 4 + 16, dtype=np.uint32)
    kept_offsets = np.zeros(docs + 1 if keep else 1, dtype=np.int64)
    valid = np.ascontiguousarray(valid, np.bool_)
    order = np.ascontiguousarray(order, np.uint16)
    done, pos = 0, 0
    while True:
        done, pos = _native.minhash(data, offsets, valid, int(n), bool(char_mode), a, b, order, bool(keep),
                                    int(bands), int(rows), mult, sig, keys, exact, counts, kept, kept_offsets,
                                    done, pos)
        if done == docs:
            return sig, keys, exact, counts, kept_offsets, kept, pos
        need = 2 * (int(offsets[done + 1] - offsets[done]) + 2)  # the kernel's own growth rule
        grown = np.empty(max(2 * len(kept), pos + need), dtype=np.uint32)
        grown[:pos] = kept[:pos]
        kept = grown


def bag_jaccard_kernel(offs, values, left, right):
    """`jaccard_kernels._bag_jaccard_kernel` in C."""
    out = np.empty(len(left), dtype=np.float64)
    _native.bag_jaccard(np.ascontiguousarray(offs, np.int64), np.ascontiguousarray(values, np.uint32),
                        np.ascontiguousarray(left, np.int64), np.ascontiguousarray(right, np.int64), out)
    return out


def bucket_edges(keys, ids, scratch):
    """`graph_kernels._bucket_edges` in C: partitioned by the keys' top bits, then one table a partition."""
    n = len(keys)
    shift = 0
    while (n >> shift) > 2048:
        shift += 1
    counts = np.zeros((1 << shift) + 1, dtype=np.int64)
    sorted_keys, sorted_ids = scratch[0, :n], scratch[1, :n]
    _native.bucket_partition(np.ascontiguousarray(keys, np.uint64), _as_u64(ids), sorted_keys, sorted_ids,
                             counts, shift)
    largest = max(1, int(np.diff(counts).max(initial=0)))
    size = 16
    while size < largest + largest // 2:
        size *= 2
    slots = np.zeros((size, 2), dtype=np.uint64)
    left = np.empty(4 * largest + 1024, dtype=np.int64)
    right = np.empty(4 * largest + 1024, dtype=np.int64)
    part, k = 0, 0
    while True:
        part, k = _native.bucket_runs(sorted_keys, sorted_ids, counts, part, slots, left, right, k)
        if part == len(counts) - 1:
            return left[:k], right[:k]
        room = max(2 * len(left), k + 2 * int(counts[part + 1] - counts[part]))
        left, right = _grown(left, k, room), _grown(right, k, room)


def union_find(n, left, right):
    """`graph_kernels._union_find` in C: each unit's root, the smallest index in its cluster."""
    parent = np.arange(n, dtype=np.int64)
    _native.union_find(parent, np.ascontiguousarray(left, np.int64), np.ascontiguousarray(right, np.int64))
    return parent


def read_slices(fd: int, base: int, starts, stops, targets, out: np.ndarray) -> int:
    """`cluster._read_slices`' preads in C (no GIL held between them): -1 when every slice was
    read, else the index of the slice the file ended in."""
    as_i64 = [np.ascontiguousarray(a, np.int64) for a in (starts, stops, targets)]
    return _native.read_slices(int(fd), int(base), *as_i64, out)


def _as_u64(values) -> np.ndarray:
    """8-byte integers as uint64, no copy when already contiguous."""
    values = np.ascontiguousarray(values)
    return values.view(np.uint64) if values.dtype.itemsize == 8 else values.astype(np.uint64)


def _grown(values: np.ndarray, used: int, room: int) -> np.ndarray:
    wider = np.empty(room, dtype=values.dtype)
    wider[:used] = values[:used]
    return wider


def use_for(kernel, wrapper) -> None:
    """Have `pick` hand out `wrapper` (the C build) for the numba `kernel`, when built."""
    if _native is not None:
        register_native(kernel, wrapper)
