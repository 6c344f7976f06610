"""MinHash signatures, LSH band keys and exact Jaccard, compiled over Arrow buffers.

Algorithm (kernels in `curate.dedup.kernels`). A text is read once, byte by byte, straight
from an Arrow string array's buffers (no Python object per word or shingle). Normalised words
(see `curate.text.words`) are hashed branch-free: a byte table folds case and classifies, the running
hash is rotate-xor (bytes 7 bits apart, a two-cycle chain per byte) and the output index moves
only at word ends, since a branch per word boundary mispredicts about once per word. A rolling
polynomial over the last n (mixed) word hashes gives each word n-gram's 64-bit hash; its top
32 bits are the shingle value. Character n-grams run over the normalised byte stream instead
(words joined by one space). Texts with fewer than n words (or characters) yield one shingle
of all of them, so short texts still have a fingerprint. The same pass hashes the normalised
text (the exact-duplicate key).

Signatures use `num_perm` hash functions h_k(x) = a_k * x + b_k (mod 2^32, a_k odd, so each is
a permutation of 32-bit values) over well-mixed shingle values. Per text, a loop over the
permutations (innermost: contiguous, SIMD) updates the running minima with eight shingles per
sweep, which cuts the load/store traffic on the minima eightfold. Shingling, not this
arithmetic, sets the speed (about 540 MB/s per core for both together, 200-word texts).
With `hashing="one-permutation"` one hash per shingle fills `num_perm` bins instead
(`curate.dedup.hashing`, which also says when dedup picks it).

LSH. The signature is cut into `bands` bands of `rows` values; a band's key is a multilinear
hash of its values plus one finaliser. `band_keys_and_shingles` computes the keys in the same
pass from one scratch signature row (no docs x perms array) and can keep every text's shingle
values for the exact check (`bag_jaccard`, hashing, no sort). Two texts at Jaccard s share at
least one band key with probability 1 - (1 - s^rows)^bands. `lsh_params` picks bands x rows by
minimising a weighted sum of the false-positive area (below the threshold) and the false-
negative area (above it), the routine datasketch uses; a recall-heavy weighting suits a
pipeline that checks candidates exactly afterwards, because a false positive then costs only a
set comparison while a false negative is a duplicate that stays.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyarrow as pa

from curate.dedup import twins  # noqa: F401 (registers the NumPy twins of the hot inner kernels)
from curate.dedup.hashing import order_for
from curate.dedup.jaccard_kernels import _bag_jaccard_kernel, _jaccard_kernel
from curate.dedup.kernels import BAND_MULTIPLIERS, _band_kernel, _minhash_kernel, _set_kernel
from curate.text.small import pick
from curate.text.words import arrow_buffers, text_array

# ---------------------------------------------------------------- LSH parameters


def collision_probability(s: np.ndarray | float, bands: int, rows: int) -> np.ndarray | float:
    """P(two texts at Jaccard s share a band key) = 1 - (1 - s^rows)^bands."""
    return 1.0 - (1.0 - np.power(s, rows)) ** bands


@lru_cache(maxsize=64)
def lsh_params(
    threshold: float, num_perm: int, *, fp_weight: float = 0.5, fn_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted error areas.

    The false-positive area is the integral of the collision probability over [0, threshold],
    the false-negative area the integral of its complement over [threshold, 1]. Weights
    (0.5, 0.5) reproduce datasketch's default choice; raising `fn_weight` favours recall.

    >>> lsh_params(0.8, 128)
    (9, 13)
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must lie strictly between 0 and 1")
    if fp_weight == 1 - fn_weight and threshold in _CHOSEN.get((num_perm, fn_weight), {}):
        return _CHOSEN[num_perm, fn_weight][threshold]
    return _minimise(threshold, num_perm, fp_weight, fn_weight)


def _minimise(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """`lsh_params` by its numerical search (50-200 ms: 2 integrals per bands x rows)."""
    low = np.linspace(0.0, threshold, 2001)
    high = np.linspace(threshold, 1.0, 2001)
    best, best_error = (1, 1), np.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(collision_probability(low, bands, rows), low)
            fn = np.trapezoid(1.0 - collision_probability(high, bands, rows), high)
            error = fp_weight * fp + fn_weight * fn
            if error < best_error - 1e-12:
                best, best_error = (bands, rows), error
    return best


# `lsh_params` of common settings, as `_minimise` computes them (tests/test_minhash.py checks
# every entry), so a command run with them skips the search: (num_perm, fn_weight) ->
# {threshold: (bands, rows)}, for fp_weight = 1 - fn_weight (0.5: datasketch's default weighting,
# 0.95: dedup's default recall_weight).
_CHOSEN: dict[tuple[int, float], dict[float, tuple[int, int]]] = {
    (64, 0.5): {0.5: (14, 4), 0.55: (12, 5), 0.6: (10, 6), 0.65: (9, 7), 0.7: (8, 8), 0.75: (7, 9),
                0.8: (5, 11), 0.85: (4, 15), 0.9: (3, 21), 0.95: (2, 32)},
    (64, 0.95): {0.5: (21, 3), 0.55: (19, 3), 0.6: (16, 4), 0.65: (16, 4), 0.7: (12, 5), 0.75: (12, 5),
                 0.8: (10, 6), 0.85: (8, 8), 0.9: (6, 10), 0.95: (4, 16)},
    (128, 0.5): {0.5: (25, 5), 0.55: (21, 6), 0.6: (18, 7), 0.65: (16, 8), 0.7: (14, 9), 0.75: (11, 11),
                 0.8: (9, 13), 0.85: (8, 16), 0.9: (5, 25), 0.95: (3, 42)},
    (128, 0.95): {0.5: (26, 3), 0.55: (32, 4), 0.6: (24, 4), 0.65: (25, 5), 0.7: (21, 6), 0.75: (18, 7),
                  0.8: (16, 8), 0.85: (12, 10), 0.9: (9, 14), 0.95: (6, 21)},
    (256, 0.5): {0.5: (42, 6), 0.55: (36, 7), 0.6: (32, 8), 0.65: (28, 9), 0.7: (25, 10), 0.75: (21, 12),
                 0.8: (17, 15), 0.85: (13, 19), 0.9: (9, 28), 0.95: (5, 51)},
    (256, 0.95): {0.5: (53, 4), 0.55: (51, 5), 0.6: (41, 5), 0.65: (42, 6), 0.7: (36, 7), 0.75: (30, 8),
                  0.8: (25, 10), 0.85: (19, 13), 0.9: (15, 17), 0.95: (9, 28)},
}

# ---------------------------------------------------------------- permutations


def permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(a, b): num_perm odd multipliers and offsets, uint32, fixed by `seed`."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


# ---------------------------------------------------------------- public API


def _twin_seconds(offsets: np.ndarray, data: np.ndarray, shingle: str) -> float:
    """Estimated seconds of a shingling kernel run as Python (`curate.text.small`) over these
    texts: a fixed cost per text plus a cost per byte. Measured at load 6-7 on 2 cores: about
    1.1 ms per text, and per byte 1.6-2.5 us for word shingles (NumPy twins for their byte
    loops) and 17-19 us for character shingles (none). A cost per byte alone (10 us before)
    overrated 10 R1-length problems fivefold, and the signature pass then imported numba to
    hash them (0.7 CPU s) where Python took 0.07-0.13 s."""
    per_byte = 3e-5 if shingle == "char" else 2.5e-6
    return 1.1e-3 * (len(offsets) - 1) + per_byte * len(data)


def _as_array(texts) -> pa.Array:
    return text_array(texts)


def text_buffers(texts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(utf8 bytes, int64 offsets, valid mask) of strings (an Arrow array or a list), no text copy."""
    return arrow_buffers(_as_array(texts))


def signatures(
    texts, *, num_perm: int = 128, ngram: int = 5, shingle: str = "word", seed: int = 1,
    hashing: str = "permutations",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signatures uint32[docs, num_perm], exact uint64[docs], shingle counts int64[docs]).

    A text with no words has count 0, exact hash 0 and an all-0xFFFFFFFF signature: callers
    leave such texts out of deduplication. Equal normalised texts have equal exact hashes.

    >>> sig, exact, counts = signatures(["The cat  sat", "the CAT sat!", ""], ngram=2)
    >>> bool((sig[0] == sig[1]).all()), bool(exact[0] == exact[1]), counts.tolist()
    (True, True, [2, 2, 0])
    """
    a, b = permutations(num_perm, seed)
    order = order_for(hashing, num_perm, seed)
    data, offsets, valid = text_buffers(texts)
    kernel = pick(_minhash_kernel, 1, _twin_seconds(offsets, data, shingle))
    sig, _, exact, counts, _, _, _ = kernel(data, offsets, valid, int(ngram), shingle == "char", a, b, order, False,
                                            0, 0, BAND_MULTIPLIERS, np.empty(0, np.uint32))
    return sig, exact, counts


def band_keys_and_shingles(
    texts, *, bands: int, rows: int, num_perm: int = 128, ngram: int = 5, shingle: str = "word", seed: int = 1,
    keep: bool = True, scratch: list[np.ndarray] | None = None, threads: int = 1, join: bool = True,
    hashing: str = "permutations",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | list[np.ndarray]]:
    """(band keys uint64[docs, bands], exact, counts, shingle offsets, shingle values).

    What `band_keys(signatures(...))` gives, in one pass without the signatures; with `keep`,
    each text's shingle values (unsorted, with repeats) for `bag_jaccard`. The keys are a
    transposed view of a band-major array (`.T` is contiguous per band).

    `scratch`, a list, lends the buffers the shingle values are written into and gets back the
    (maybe grown) buffers: a caller doing part after part reuses them, so tens of MB of fresh
    pages are not faulted in for every part (costly in a VM). The values returned are then a
    view of one, valid until the buffers are lent again.

    The texts are hashed in pieces: the chunks of a chunked array (never copied into one), else
    `threads` runs of rows; up to `threads` pieces at once on threads (the compiled kernel
    releases the GIL). The results are the same however the texts are cut. `join=False` returns
    the shingle values as a list of the pieces' values (their concatenation), sparing a copy.
    """
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} permutations, have {num_perm}")
    a, b = permutations(num_perm, seed)
    order = order_for(hashing, num_perm, seed)
    pieces = _pieces(_as_array(texts), threads)
    threads = max(1, min(int(threads), len(pieces)))
    scratch = scratch if scratch is not None else []
    slots = len(pieces) + (len(pieces) > 1)  # slot 0: the joined values (one piece: its own)
    scratch.extend(np.empty(0, np.uint32) for _ in range(slots - len(scratch)))

    def run(i: int):  # the kernel releases the GIL: pieces run on threads at once
        data, offsets, valid = pieces[i]
        slot = i + (len(pieces) > 1)
        kernel = pick(_minhash_kernel, 1, _twin_seconds(offsets, data, shingle))
        out = kernel(data, offsets, valid, int(ngram), shingle == "char", a, b, order, bool(keep), int(bands),
                     int(rows), BAND_MULTIPLIERS, scratch[slot])
        if keep:
            scratch[slot] = out[5]
        return out[1:]

    if len(pieces) == 1:
        keys, exact, counts, kept_offsets, kept, used = run(0)
        return keys.T, exact, counts, kept_offsets, kept[:used]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(run, range(len(pieces))))
    keys = np.concatenate([r[0] for r in results], axis=1)
    exact = np.concatenate([r[1] for r in results])
    counts = np.concatenate([r[2] for r in results])
    if not keep:
        return keys.T, exact, counts, np.zeros(1, np.int64), np.empty(0, np.uint32)
    starts = np.cumsum([0] + [r[5] for r in results])
    kept_offsets = np.concatenate([[0]] + [r[3][1:] + start for r, start in zip(results, starts)])
    if not join:
        return keys.T, exact, counts, kept_offsets, [r[4][:r[5]] for r in results]
    if len(scratch[0]) < starts[-1]:
        scratch[0] = np.empty(int(starts[-1] * 1.25), np.uint32)
    values = scratch[0][:starts[-1]]
    for r, start in zip(results, starts):
        values[start:start + r[5]] = r[4][:r[5]]
    return keys.T, exact, counts, kept_offsets, values


def _pieces(texts: pa.Array | pa.ChunkedArray, threads: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(bytes, offsets, valid) runs of rows to hash apart: the chunks of a chunked array (row
    groups: no copy into one array), else one array cut into `threads` runs of rows."""
    if isinstance(texts, pa.ChunkedArray) and texts.num_chunks > 1:
        return [text_buffers(chunk) for chunk in texts.chunks if len(chunk)] or [text_buffers(texts)]
    data, offsets, valid = text_buffers(texts)
    docs = len(offsets) - 1
    cuts = np.linspace(0, docs, max(1, min(int(threads), docs // MIN_DOCS_PER_THREAD)) + 1).astype(np.int64)
    return [(data, offsets[lo:hi + 1], valid[lo:hi]) for lo, hi in zip(cuts[:-1], cuts[1:])]


MIN_DOCS_PER_THREAD = 512  # fewer rows per thread: the thread costs more than it saves


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """uint64[docs, bands]: one hash per band of `rows` consecutive signature values.

    A transposed view of a band-major array: `.T` of it is contiguous per band.
    """
    if bands * rows > sig.shape[1]:
        raise ValueError(f"{bands} bands x {rows} rows need {bands * rows} permutations, have {sig.shape[1]}")
    kernel = pick(_band_kernel, sig.size)
    return kernel(np.ascontiguousarray(sig), int(bands), int(rows), BAND_MULTIPLIERS).T


def shingle_sets(texts, *, ngram: int = 5, shingle: str = "word") -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values): each text's sorted distinct shingle values (the sets MinHash sees)."""
    data, offsets, valid = text_buffers(texts)
    kernel = pick(_set_kernel, 1, _twin_seconds(offsets, data, shingle))
    return kernel(data, offsets, valid, int(ngram), shingle == "char")


def jaccard_pairs(offsets: np.ndarray, values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle sets of texts left[e] and right[e] (from `shingle_sets`)."""
    kernel = pick(_jaccard_kernel, len(values) + len(left))
    return kernel(offsets, values, np.asarray(left, np.int64), np.asarray(right, np.int64))


def bag_jaccard(offsets: np.ndarray, values: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the distinct values of slices left[e] and right[e] (unsorted, repeats allowed).

    >>> offs, vals = np.array([0, 3, 5]), np.array([1, 2, 2, 3, 2], np.uint32)
    >>> bag_jaccard(offs, vals, np.array([0]), np.array([1])).tolist()
    [0.5]
    """
    kernel = pick(_bag_jaccard_kernel, len(values) + len(left), 5e-6)
    return kernel(np.asarray(offsets, np.int64), np.asarray(values, np.uint32), np.asarray(left, np.int64),
                  np.asarray(right, np.int64))


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The MinHash estimate: the fraction of equal signature values."""
    return float(np.mean(sig_a == sig_b))
