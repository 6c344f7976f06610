"""Which MinHash scheme a dedup run hashes with: `num_perm` permutations, or one permutation.

`permutations` (datasketch's scheme): signature position p is the smallest a_p * x + b_p
(mod 2^32) over a text's shingle values x: `num_perm` multiplies per shingle, SIMD.

`one-permutation` (Li, Owen & Zhang 2012): one hash h = a_0 * x + b_0 per shingle; the 32-bit
range is cut into `num_perm` equal bins and position p is the smallest h in bin p. A bin no
shingle fell in (a short text) takes the value of the first filled bin in a fixed permutation of
the bins drawn for it (optimal densification, Shrivastava 2017), so two texts agree at a position
with probability about their Jaccard, as with `num_perm` permutations. One multiply per shingle:
over 30k R1-length texts, 16 ms of CPU against 157. But a text with few shingles leaves most
bins empty, and filling them costs more than `num_perm` SIMD permutations of a few values.

`auto` (the default) picks one permutation when the run's texts are long (LONG_TEXT_SHINGLES
shingles or more on average, by the Parquet footers of its first parts), else permutations. A
run hashes every text, its `against` release's included, by one scheme; band keys never leave
the run. The choice changes which candidate pairs LSH finds, not how a pair is judged.
"""

from __future__ import annotations

import functools

import numpy as np

SCHEMES = ("auto", "permutations", "one-permutation")
LONG_TEXT_SHINGLES = 256  # mean shingles a text from which `auto` hashes by one permutation
WORD_BYTES = 6  # bytes of a word and its separator, on average, in English prose and reasoning
NO_ORDER = np.zeros((0, 0), np.uint16)  # the kernels' `order` for `permutations`


def order_for(scheme: str, num_perm: int, seed: int) -> np.ndarray:
    """The kernels' `order` argument: each bin's densification order, or NO_ORDER."""
    if scheme == "permutations":
        return NO_ORDER
    if scheme != "one-permutation":
        raise ValueError(f"unknown MinHash scheme {scheme!r} (one of {', '.join(SCHEMES[1:])})")
    return densify_order(num_perm, seed)


@functools.lru_cache(maxsize=8)
def densify_order(num_perm: int, seed: int) -> np.ndarray:
    """uint16[num_perm, num_perm]: row p is the order in which empty bin p looks for a filled one,
    a permutation of the bins fixed by `seed` (the same for every text, process and run)."""
    rng = np.random.Generator(np.random.PCG64([seed, 0x0DE5]))
    order = np.argsort(rng.random((num_perm, num_perm)), axis=1).astype(np.uint16)
    order.setflags(write=False)
    return order


def choose(requested: str, mean_bytes: float | None, shingle: str) -> str:
    """`requested`, or for `auto` the scheme texts of `mean_bytes` bytes on average call for (not
    known: permutations)."""
    if requested != "auto":
        return requested
    if mean_bytes is None:
        return "permutations"
    shingles = mean_bytes / WORD_BYTES if shingle == "word" else mean_bytes
    return "one-permutation" if shingles >= LONG_TEXT_SHINGLES else "permutations"
