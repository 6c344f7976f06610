"""The compiled (numba) kernels behind `curate.dedup.minhash`: shingling, min-hashing, band keys
(the exact Jaccard ones are in `jaccard_kernels`).

See `curate.dedup.minhash` for the algorithm. These run straight over Arrow string buffers, one text
after another, with no Python object per word or shingle; every kernel is cached on disk
(`cache=True`), so a process pays numba's one-off start-up plus a cache load per kernel. Small
inputs run them as Python instead (`curate.text.small`; NumPy twins of the hot loops in
`curate.dedup.twins`), so a small run neither compiles nor imports numba. Their C build
(`curate.dedup.native`), when there, runs in their place at every size; these are its reference.
"""

from __future__ import annotations

import numpy as np

from curate.dedup import native
from curate.text.jit import njit
from curate.text.words import FNV_OFFSET, FNV_PRIME, mix64

EMPTY = np.uint32(0xFFFFFFFF)
FOLD = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, inline="always")
def _lower(b):
    return b + 32 if 65 <= b <= 90 else b


@njit(cache=True, nogil=True, inline="always")
def _word_byte(b):
    return (48 <= b <= 57) or (97 <= b <= 122) or (65 <= b <= 90) or b >= 128


@njit(cache=True, nogil=True)
def _fold(ring, start, width, n):
    """Hash of `width` consecutive ring entries from `start` (mod n), in order.

    A polynomial over the entries, then one splitmix finaliser: order-sensitive and cheaper
    than mixing each entry (this runs once per shingle).
    """
    h = np.uint64(width)
    for j in range(width):
        h = h * FOLD + ring[(start + j) % n]
    return mix64(h)


@njit(cache=True, nogil=True)
def _powers(n):
    """(FOLD^(n-1), n * FOLD^n): constants of the rolling n-gram hash."""
    k = np.uint64(1)
    for _ in range(n - 1):
        k = k * FOLD
    return k, np.uint64(n) * k * FOLD


@njit(cache=True, nogil=True, inline="always")
def _roll(state, slot, seen, value, ring, n, k_top):
    """Push `value` into the ring and the rolling sum; returns (state, slot).

    state = sum of the last n values times FOLD^(n-1-j): `_fold` without the finaliser, kept
    in O(1) per value instead of O(n).
    """
    if seen >= n:
        state = state - ring[slot] * k_top
    ring[slot] = value
    slot = slot + 1 if slot + 1 < n else 0
    return state * FOLD + value, slot


def _byte_table() -> np.ndarray:
    """byte -> its lower-case form if it belongs to a word (ASCII letter or digit, any non-ASCII
    byte), else 0: classification and case folding in one load."""
    table = np.zeros(256, dtype=np.uint8)
    for b in range(256):
        if 48 <= b <= 57 or 97 <= b <= 122 or b >= 128:
            table[b] = b
        elif 65 <= b <= 90:
            table[b] = b + 32
    return table


WORD_TABLE = _byte_table()


@njit(cache=True, nogil=True)
def _word_hashes_of(data, lo, hi, out):
    """Hashes of the normalised words of data[lo:hi] into out; returns their count.

    Branch-free per byte: the word-boundary branch of a byte loop mispredicts about once per
    word, which cost more than the hashing. Every byte stores the running hash at out[k] and
    advances k only where a word ends, so the store is always made and k decides what stays.
    The running hash is h = rotl(h, 7) ^ byte (zeroed between words): a two-cycle chain per
    byte where FNV-1a's multiply took five, and exact for words of up to nine ASCII bytes
    (7 bits each fill 63 bits); a splitmix finaliser per word then spreads the bits.
    """
    h = np.uint64(0)
    inside = np.uint64(0)
    k = 0
    for i in range(lo, hi):
        c = np.uint64(WORD_TABLE[data[i]])
        w = np.uint64(c != 0)
        out[k] = h
        k += inside & (w ^ np.uint64(1))
        h = (((h << np.uint64(7)) | (h >> np.uint64(57))) ^ c) & (np.uint64(0) - w)
        inside = w
    out[k] = h
    for j in range(k + inside):
        out[j] = mix64(out[j])
    return k + inside


@njit(cache=True, nogil=True)
def _word_shingles(data, lo, hi, n, ring, buf, words):
    """Word n-gram shingle values of data[lo:hi] into buf; returns (count, exact hash).

    Two passes: the words' hashes (branch-free over the bytes), then the rolling n-gram hash
    over them; `words` is scratch of at least hi - lo + 1 entries.
    """
    k_top, k_width = _powers(n)
    m = _word_hashes_of(data, lo, hi, words)
    count = 0
    state = np.uint64(0)
    exact = FNV_OFFSET
    for w in range(m):  # the rolling sum reads the word leaving the window from `words` itself
        h = words[w]
        if w >= n:
            state = state - words[w - n] * k_top
        state = state * FOLD + h
        exact = (exact ^ h) * FNV_PRIME
        if w + 1 >= n:
            buf[count] = np.uint32(mix64(k_width + state) >> np.uint64(32))
            count += 1
    if 0 < m < n:
        buf[count] = np.uint32(_fold(words, 0, m, n) >> np.uint64(32))
        count += 1
    return count, (mix64(exact) if m else np.uint64(0))


@njit(cache=True, nogil=True)
def _char_shingles(data, lo, hi, n, ring, buf):
    """Character n-gram shingle values of the normalised bytes of data[lo:hi]."""
    k_top, k_width = _powers(n)
    count = 0
    chars = 0
    slot = 0
    state = np.uint64(0)
    exact = FNV_OFFSET
    pending_space = False
    for i in range(lo, hi):
        b = data[i]
        if not _word_byte(b):
            pending_space = chars > 0
            continue
        for c in (32, _lower(b)):
            if c == 32 and not pending_space:
                continue
            state, slot = _roll(state, slot, chars, np.uint64(c), ring, n, k_top)
            exact = (exact ^ np.uint64(c)) * FNV_PRIME
            chars += 1
            if chars >= n:
                buf[count] = np.uint32(mix64(k_width + state) >> np.uint64(32))
                count += 1
        pending_space = False
    if 0 < chars < n:
        buf[count] = np.uint32(_fold(ring, 0, chars, n) >> np.uint64(32))
        count += 1
    return count, (mix64(exact) if chars else np.uint64(0))


@njit(cache=True, nogil=True)
def _shingles(data, lo, hi, n, char_mode, ring, buf, words):
    if char_mode:
        return _char_shingles(data, lo, hi, n, ring, buf)
    return _word_shingles(data, lo, hi, n, ring, buf, words)


@njit(cache=True, nogil=True)
def _min_hashes(row, xs, k, a, b):
    """row[p] = min over the k values x of xs of (a[p] * x + b[p]) mod 2^32.

    Eight values per sweep over the permutations: the loop over p is SIMD (16 lanes with
    AVX-512), and folding eight candidates before touching `row` cuts its load/store traffic
    (and the store-to-load chain from one value to the next) eightfold: 4-5x faster than one
    value per sweep.
    """
    perms = len(a)
    row[:] = EMPTY
    i = 0
    while i + 8 <= k:
        x1, x2, x3, x4 = xs[i], xs[i + 1], xs[i + 2], xs[i + 3]
        x5, x6, x7, x8 = xs[i + 4], xs[i + 5], xs[i + 6], xs[i + 7]
        for p in range(perms):
            ap, bp = a[p], b[p]
            m1 = min(np.uint32(ap * x1 + bp), np.uint32(ap * x2 + bp))
            m2 = min(np.uint32(ap * x3 + bp), np.uint32(ap * x4 + bp))
            m3 = min(np.uint32(ap * x5 + bp), np.uint32(ap * x6 + bp))
            m4 = min(np.uint32(ap * x7 + bp), np.uint32(ap * x8 + bp))
            row[p] = min(row[p], min(min(m1, m2), min(m3, m4)))
        i += 8
    while i < k:
        x = xs[i]
        for p in range(perms):
            row[p] = min(row[p], np.uint32(a[p] * x + b[p]))
        i += 1


@njit(cache=True, nogil=True)
def _one_permutation(row, xs, k, a, b, order):
    """One permutation hashing (`curate.dedup.hashing`): each value's a[0] * x + b[0] mod 2^32
    lowers the minimum of its bin (its place among len(row) equal ranges); an empty bin p then
    takes the value of the first bin of order[p] that a value fell in."""
    perms = len(row)
    row[:] = EMPTY
    a0, b0 = a[0], b[0]
    for i in range(k):
        h = np.uint32(a0 * xs[i] + b0)
        j = (np.uint64(h) * np.uint64(perms)) >> np.uint64(32)
        row[j] = min(row[j], h)
    full = row != EMPTY
    filled = full.sum()
    if 0 < filled < perms:
        for p in range(perms):
            if not full[p]:
                t = 0
                while not full[order[p, t]]:
                    t += 1
                row[p] = row[order[p, t]]


@njit(cache=True, nogil=True)
def _minhash_kernel(data, offsets, valid, n, char_mode, a, b, order, keep, bands, rows, mult, kept):
    """Signatures (docs x perms, uint32), exact hashes and shingle counts of every text.

    With `bands` > 0, band keys (bands x docs, see `_band_kernel`) instead of signatures: each
    signature lives only in one scratch row (no docs x perms array to allocate and fill).
    With `keep`, also every text's shingle values as (offsets, values), unsorted and with
    repeats, so the exact Jaccard check later needs no second tokenising pass; they are
    written into `kept` (grown if too small; the values returned are a view of it). A non-empty
    `order` (perms x perms) hashes by one permutation (`_one_permutation`), else by len(a).
    """
    docs = len(offsets) - 1
    sig = np.empty((1 if bands else docs, len(a)), dtype=np.uint32)
    keys = np.empty((bands, docs if bands else 0), dtype=np.uint64)
    exact = np.zeros(docs, dtype=np.uint64)
    counts = np.zeros(docs, dtype=np.int64)
    longest = 1
    for d in range(docs):
        longest = max(longest, offsets[d + 1] - offsets[d] + 2)
    buf = np.empty(longest * 2, dtype=np.uint32)
    words = np.empty(longest, dtype=np.uint64)
    ring = np.zeros(max(n, 1), dtype=np.uint64)
    if keep and len(kept) < 16:
        kept = np.empty((offsets[docs] - offsets[0]) // 4 + 16, dtype=np.uint32)
    kept_offsets = np.zeros(docs + 1 if keep else 1, dtype=np.int64)
    pos = 0
    for d in range(docs):
        target = buf
        if keep:  # shingle straight into the kept values: no copy
            need = 2 * (offsets[d + 1] - offsets[d] + 2)
            if pos + need > len(kept):
                grown = np.empty(max(2 * len(kept), pos + need), dtype=np.uint32)
                grown[:pos] = kept[:pos]
                kept = grown
            target = kept[pos:]
        k = 0
        if valid[d]:
            k, exact[d] = _shingles(data, offsets[d], offsets[d + 1], n, char_mode, ring, target, words)
        counts[d] = k
        row = sig[0] if bands else sig[d]
        if len(order):
            _one_permutation(row, target, k, a, b, order)
        else:
            _min_hashes(row, target, k, a, b)
        if bands:
            _band_row(row, keys, d, bands, rows, mult)
        if keep:
            pos += k
            kept_offsets[d + 1] = pos
    return sig, keys, exact, counts, kept_offsets, kept, pos


# Odd 64-bit multipliers of the band hash, one per signature position (fixed: band keys must
# not change between processes or runs).
BAND_MULTIPLIERS = np.random.Generator(np.random.PCG64(0x5EED)).integers(
    0, 2**63, 1024, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)


@njit(cache=True, nogil=True)
def _band_kernel(sig, bands, rows, mult):
    """uint64[bands, docs] (band-major): each band's values combined multilinearly, then mixed.

    sum_r sig[d, band*rows + r] * mult[...] (mod 2^64) has independent multiplies (SIMD across
    rows, no chain through a mixer per value); one splitmix finaliser per band key.
    """
    docs = sig.shape[0]
    out = np.empty((bands, docs), dtype=np.uint64)
    for d in range(docs):
        _band_row(sig[d], out, d, bands, rows, mult)
    return out


@njit(cache=True, nogil=True)
def _band_row(row, out, d, bands, rows, mult):
    for band in range(bands):
        h = np.uint64(band + 1)
        for r in range(rows):
            h += np.uint64(row[band * rows + r]) * mult[band * rows + r]
        out[band, d] = mix64(h)


@njit(cache=True, nogil=True)
def _set_kernel(data, offsets, valid, n, char_mode):
    docs = len(offsets) - 1
    total = 0
    for d in range(docs):
        total += offsets[d + 1] - offsets[d] + 1
    out = np.empty(max(total, 1), dtype=np.uint32)
    offs = np.zeros(docs + 1, dtype=np.int64)
    ring = np.zeros(max(n, 1), dtype=np.uint64)
    longest = 1
    for d in range(docs):
        longest = max(longest, offsets[d + 1] - offsets[d] + 1)
    words = np.empty(longest, dtype=np.uint64)
    pos = 0
    for d in range(docs):
        k = 0
        if valid[d]:
            k, _ = _shingles(data, offsets[d], offsets[d + 1], n, char_mode, ring, out[pos:], words)
            k = _sort_unique(out[pos:pos + k])
        pos += k
        offs[d + 1] = pos
    return offs, out[:pos]


@njit(cache=True, nogil=True)
def _sort_unique(x):
    """Sort x in place and move its distinct values to the front; returns their count."""
    if len(x) == 0:
        return 0
    x.sort()
    k = 1
    for i in range(1, len(x)):
        if x[i] != x[k - 1]:
            x[k] = x[i]
            k += 1
    return k


native.use_for(_minhash_kernel, native.minhash_kernel)
