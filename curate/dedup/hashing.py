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
from pathlib import Path

import numpy as np

SCHEMES = ("auto", "permutations", "one-permutation")
LONG_TEXT_SHINGLES = 256  # mean shingles a text from which `auto` hashes by one permutation
WORD_BYTES = 6  # bytes of a word and its separator, on average, in English prose and reasoning
SAMPLED_PARTS = 4  # parts whose footers `auto` reads
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


def choose(requested: str, paths: list[str], field: str, shingle: str) -> str:
    """`requested`, or for `auto` the scheme the run's text lengths call for."""
    if requested != "auto":
        return requested
    mean = mean_text_bytes(paths[:SAMPLED_PARTS], field)
    if mean is None:
        return "permutations"
    shingles = mean / WORD_BYTES if shingle == "word" else mean
    return "one-permutation" if shingles >= LONG_TEXT_SHINGLES else "permutations"


def mean_text_bytes(paths: list[str], field: str) -> float | None:
    """Mean bytes of `field` a row in these parts (files or views), by their Parquet footers;
    None when a footer cannot tell (a computed column, a source that is not Parquet)."""
    from curate.part_columns import file_segments
    from curate.stages.base import view_segments

    size = rows = 0.0
    footers: dict[str, object] = {}
    for path in paths:
        try:
            segments = file_segments(Path(path)) if Path(path).exists() else view_segments(path)
        except (OSError, ValueError):
            return None
        for segment in segments or []:
            column = segment.columns.get(field)
            if column is None:
                return None
            group = _footer(footers, segment.path).row_group(segment.group)
            chunk = next((group.column(i) for i in range(group.num_columns)
                          if group.column(i).path_in_schema == column), None)
            if chunk is None:
                return None
            size += chunk.total_uncompressed_size * segment.rows / max(1, group.num_rows)
            rows += segment.rows
        if segments is None:
            return None
    return max(0.0, size / rows - 4) if rows else None  # 4: the length before each value


def _footer(cache: dict, path: str):
    if path not in cache:
        import pyarrow.parquet as pq

        cache[path] = pq.ParquetFile(path).metadata
    return cache[path]
