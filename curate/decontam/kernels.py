"""Compiled (numba) kernels of the benchmark n-gram index: window hashes, the open-addressing
lookup tables and the training-side scan. `curate.decontam.index` owns the data and calls these.

A window of L consecutive words hashes to `fmix(sum(w[j] * B**(L-1-j)) + L * SALT)` over the 64-bit
word hashes: a polynomial hash, so the scan rolls it in O(1) per word instead of re-mixing n
words, and one formula serves both the n-gram path (L = n) and the exact path (L = an item's
length). Tables use Fibonacci hashing (slot = high bits of key * GOLD) with linear probing, and
a one-bit-per-key filter (bit = high bits of key * GOLD2) that answers most misses from cache.
When the package's C build of these kernels is there (`curate.decontam.native`, registered at
the end of this file), it runs in their place at every size; these stay the reference it is
tested against.
"""

from __future__ import annotations

import numpy as np

from curate.decontam import native
from curate.text import words
from curate.text.jit import njit
from curate.text.small import numpy_twin
from curate.text.words import text_words_masked

BASE = np.uint64(0xFF51AFD7ED558CCD)
SALT = np.uint64(0x9E3779B97F4A7C15)
GOLD = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: slot = high bits of key * GOLD
GOLD2 = np.uint64(0xC2B2AE3D27D4EB4F)
MAX_EXACT = 62  # exact-path lengths must fit a positive 64-bit mask


@njit(cache=True, nogil=True)
def _nz(h):
    return h if h != np.uint64(0) else np.uint64(1)


@njit(cache=True, nogil=True)
def window_key(words, start, length):
    h = np.uint64(0)
    for j in range(length):
        h = h * BASE + words[start + j]
    return _nz(h + np.uint64(length) * SALT)


@njit(cache=True, nogil=True)
def all_windows(doc, words, n):
    """Every n-word window of every text: (text, position, key)."""
    total = 0
    for d in range(len(doc) - 1):
        total += max(doc[d + 1] - doc[d] - n + 1, 0)
    item = np.empty(total, np.int64)
    pos = np.empty(total, np.int64)
    keys = np.empty(total, np.uint64)
    k = 0
    for d in range(len(doc) - 1):
        for s in range(doc[d], doc[d + 1] - n + 1):
            item[k] = d
            pos[k] = s - doc[d]
            keys[k] = window_key(words, s, n)
            k += 1
    return item, pos, keys


@njit(cache=True)
def build_table(keys, values, bits, filter_bits):
    """Open addressing (Fibonacci-hashed slots, linear probing) plus a one-bit-per-key filter."""
    tk = np.zeros(1 << bits, np.uint64)
    tv = np.zeros(1 << bits, np.int64)
    filt = np.zeros(max((1 << filter_bits) // 64, 1), np.uint64)
    mask = np.uint64((1 << bits) - 1)
    for i in range(len(keys)):
        slot = (keys[i] * GOLD) >> np.uint64(64 - bits)
        while tk[slot] != np.uint64(0) and tk[slot] != keys[i]:
            slot = (slot + np.uint64(1)) & mask
        tk[slot] = keys[i]
        tv[slot] = values[i]
        f = (keys[i] * GOLD2) >> np.uint64(64 - filter_bits)
        filt[f >> np.uint64(6)] |= np.uint64(1) << (f & np.uint64(63))
    return tk, tv, filt


@njit(cache=True, nogil=True)
def _shift(size):
    """64 - log2(size) for a power-of-two size: the shift that keeps log2(size) high bits."""
    bits = 0
    while (1 << bits) < size:
        bits += 1
    return np.uint64(64 - bits)


@njit(cache=True, nogil=True)
def _probe(tk, tv, filt, key, tshift, fshift):
    """The value stored for `key`, or -1; the filter answers most misses from cache."""
    f = (key * GOLD2) >> fshift
    if not (filt[f >> np.uint64(6)] >> (f & np.uint64(63))) & np.uint64(1):
        return -1
    mask = np.uint64(len(tk) - 1)
    slot = (key * GOLD) >> tshift
    while tk[slot] != np.uint64(0):
        if tk[slot] == key:
            return tv[slot]
        slot = (slot + np.uint64(1)) & mask
    return -1


@njit(cache=True, nogil=True)
def scan_words(doc, words, masked, n, power, exact, skip, tk, tv, tf, fk, fv, ff, sk, sv, sf, vf, gf,
               o_doc, o_val, o_pos, o_kind):
    """Matches of one field (n-grams and the exact path over `masked`, numbers as one word) into
    the o_* buffers: (text, posting-list index, word position, kind 0=n-gram
    1=exact 2=n-gram over a gap). With `skip`, a second n-gram pass reads only the words in
    the vocabulary filter `vf` (the words benchmark items use outside names) and probes each window
    that closed over a skipped word: a copy whose names were changed (`curate.decontam.idents`). Returns the
    number of matches; more than the buffers hold means: rerun with larger buffers (growing
    arrays inside this loop makes numba's code ~50x slower)."""
    shifts = _shifts(tk, tf, fk, ff, sk, sf, vf, gf)
    ring_w = np.zeros(n, np.uint64)
    ring_p = np.zeros(n, np.int64)
    k = 0
    for d in range(len(doc) - 1):
        k = _scan_text(d, doc[d], doc[d + 1], words, masked, n, power, exact, skip, tk, tv, tf, fk, fv, ff, sk, sv,
                       sf, vf, gf, shifts, ring_w, ring_p, o_doc, o_val, o_pos, o_kind, k)
    return k


@njit(cache=True, nogil=True)
def _shifts(tk, tf, fk, ff, sk, sf, vf, gf):
    """`_shift` of each table and filter of a scan, worked out once per scan, not per text."""
    out = np.empty(8, np.uint64)
    out[0], out[1] = _shift(len(tk)), _shift(len(tf) * 64)
    out[2], out[3] = _shift(len(fk)), _shift(len(ff) * 64)
    out[4], out[5] = _shift(len(sk)), _shift(len(sf) * 64)
    out[6], out[7] = _shift(len(vf) * 64), _shift(len(gf) * 64)
    return out


@njit(cache=True, nogil=True)
def _scan_text(d, a, b, words, masked, n, power, exact, skip, tk, tv, tf, fk, fv, ff, sk, sv, sf, vf, gf, shifts,
               ring_w, ring_p, o_doc, o_val, o_pos, o_kind, k):
    """`scan_words` on text d, words a..b: its matches from o_*[k] on; returns the new k."""
    ts, tfs, fs, ffs, ss, sfs, vfs, gfs = shifts[0], shifts[1], shifts[2], shifts[3], shifts[4], shifts[5], \
        shifts[6], shifts[7]
    cap = len(o_doc)
    salt = np.uint64(n) * SALT
    if b - a >= n:
        h = np.uint64(0)
        for j in range(n):
            h = h * BASE + masked[a + j]
        s = a
        while True:
            v = _probe(tk, tv, tf, _nz(h + salt), ts, tfs)
            if v >= 0:
                if k < cap:
                    o_doc[k], o_val[k], o_pos[k], o_kind[k] = d, v, s - a, 0
                k += 1
            if s + n >= b:
                break
            h = (h - masked[s] * power) * BASE + masked[s + n]
            s += 1
        if skip:
            k = _scan_skipping(d, a, b, masked, n, power, salt, tk, tv, tf, ts, tfs, vf, vfs, gf, gfs,
                               ring_w, ring_p, o_doc, o_val, o_pos, o_kind, k)
    if not exact:
        return k
    for s in range(a, b):
        m = _probe(fk, fv, ff, _nz(masked[s]), fs, ffs)
        if m <= 0:
            continue
        for length in range(1, min(MAX_EXACT, b - s) + 1):
            if (m >> length) & 1:
                v = _probe(sk, sv, sf, window_key(masked, s, length), ss, sfs)
                if v >= 0:
                    if k < cap:
                        o_doc[k], o_val[k], o_pos[k], o_kind[k] = d, v, s - a, 1
                    k += 1
    return k


@njit(cache=True, nogil=True)
def scan_bytes(data, offsets, valid, number, low, kind, states, n, power, exact, skip, tk, tv, tf, fk, fv, ff, sk,
               sv, sf, vf, gf, o_doc, o_val, o_pos, o_kind, words, masked, doc):
    """`curate.text.words.word_hashes_masked` and `scan_words` in one call, text by text: each
    text is tokenised into a scratch buffer and scanned there, and only the texts with a match
    keep their words (in `words`, `masked`; `doc` their offsets, no words for the others). Most
    texts match nothing, and their words were written once per text, to the same few cache
    lines, instead of to fresh arrays the size of the batch and read back by the scan. Returns
    (matches, words kept); more matches than the o_* buffers hold means: rerun with larger ones."""
    m = len(offsets) - 1
    longest = 0
    for d in range(m):
        longest = max(longest, offsets[d + 1] - offsets[d])
    text_w = np.empty(longest // 2 + 1, np.uint64)
    text_m = np.empty(longest // 2 + 1, np.uint64)
    shifts = _shifts(tk, tf, fk, ff, sk, sf, vf, gf)
    ring_w = np.zeros(n, np.uint64)
    ring_p = np.zeros(n, np.int64)
    k = 0
    kept = 0
    for d in range(m):
        count = text_words_masked(data, offsets[d], offsets[d + 1], number, low, kind, states, text_w, text_m, 0) \
            if valid[d] else 0
        before = k
        k = _scan_text(d, 0, count, text_w, text_m, n, power, exact, skip, tk, tv, tf, fk, fv, ff, sk, sv, sf, vf, gf,
                       shifts, ring_w, ring_p, o_doc, o_val, o_pos, o_kind, k)
        if k > before:
            words[kept:kept + count] = text_w[:count]
            masked[kept:kept + count] = text_m[:count]
            kept += count
        doc[d + 1] = kept
    return k, kept


@njit(cache=True, nogil=True)
def _scan_skipping(d, a, b, masked, n, power, salt, tk, tv, tf, ts, tfs, vf, vfs, gf, gfs, ring_w, ring_p,
                   o_doc, o_val, o_pos, o_kind, k):
    """The second pass of `scan_words` over text d (words a..b): a rolling hash over the words
    found in the vocabulary; a window is probed when it spans more than n words (it closed
    over a skipped word; the others were probed by the first pass) and at most 2n. `gf` is a
    filter of the gap windows' keys alone: small, so most probes end in the first cache."""
    cap = len(o_doc)
    count = 0
    head = 0  # once n words are kept: the ring slot of the oldest (no division in this loop)
    h = np.uint64(0)
    for s in range(a, b):
        w = masked[s]
        f = (_nz(w) * GOLD2) >> vfs
        if not (vf[f >> np.uint64(6)] >> (f & np.uint64(63))) & np.uint64(1):
            continue  # not in the vocabulary (a filter: 1 word in ~60 outside it is kept)
        if count < n:
            h = h * BASE + w
            ring_w[count] = w
            ring_p[count] = s
            count += 1
            if count < n:
                continue
        else:
            h = (h - ring_w[head] * power) * BASE + w
            ring_w[head] = w
            ring_p[head] = s
            head = head + 1 if head + 1 < n else 0
        first = ring_p[head]
        if n < s - first + 1 <= 2 * n:
            key = _nz(h + salt)
            f = (key * GOLD2) >> gfs
            if not (gf[f >> np.uint64(6)] >> (f & np.uint64(63))) & np.uint64(1):
                continue
            v = _probe(tk, tv, tf, key, ts, tfs)
            if v >= 0:
                if k < cap:
                    o_doc[k], o_val[k], o_pos[k], o_kind[k] = d, v, first - a, 2
                k += 1
    return k


@njit(cache=True)
def build_filter(keys, filter_bits):
    """A one-bit-per-key filter (bit = high bits of key * GOLD2), as `build_table` makes."""
    filt = np.zeros(max((1 << filter_bits) // 64, 1), np.uint64)
    for i in range(len(keys)):
        f = (keys[i] * GOLD2) >> np.uint64(64 - filter_bits)
        filt[f >> np.uint64(6)] |= np.uint64(1) << (f & np.uint64(63))
    return filt


@njit(cache=True, nogil=True)
def word_bounds(raw, limit):
    """Byte (start, end) of the first `limit` words (-1: all) of UTF-8 bytes: the word rule of
    `curate.text.words` (runs of ASCII letters and digits and non-ASCII bytes), for reports."""
    starts = np.empty(len(raw) // 2 + 1, np.int64)
    ends = np.empty(len(raw) // 2 + 1, np.int64)
    k = 0
    inside = False
    for i in range(len(raw)):
        b = raw[i]
        word = (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b >= 128
        if word and not inside:
            if k == limit:
                break
            starts[k] = i
            inside = True
        elif not word and inside:
            ends[k] = i
            k += 1
            inside = False
    if inside:
        ends[k] = len(raw)
        k += 1
    return starts[:k], ends[:k]


BOUNDS_TWIN_COST = 2e-8  # seconds per byte of word_bounds' NumPy twin (as word_digits')


@numpy_twin(word_bounds)
def _word_bounds_numpy(raw, limit):
    word = ((raw >= 48) & (raw <= 57)) | ((raw >= 65) & (raw <= 90)) | ((raw >= 97) & (raw <= 122)) | (raw >= 128)
    edges = np.flatnonzero(np.diff(np.r_[np.int8(0), word.view(np.int8), np.int8(0)])).astype(np.int64)
    starts, ends = edges[::2], edges[1::2]
    return (starts, ends) if limit < 0 else (starts[:limit], ends[:limit])


@njit(cache=True, nogil=True)
def span_chars(raw, spans):
    """Character (start, end) of word intervals [a, b) of a text's UTF-8 bytes (`spans` = [a0, b0,
    a1, b1, ...], the word rule of `word_bounds`): per interval the start of word a and the end
    of word min(b, count) - 1, count being the text's words; -1, -1 where a >= count. One pass
    up to the last word asked for, counting characters as it goes: a report needs a few words
    of a long text, not the bounds of all of them."""
    m = len(spans) // 2
    out = np.full(2 * m, -1, np.int64)
    limit = 0
    for k in range(m):
        limit = max(limit, spans[2 * k + 1])
    count, chars, start, last = 0, 0, 0, -1  # chars: characters before byte i (lead bytes)
    inside = False
    for i in range(len(raw) + 1):
        b = raw[i] if i < len(raw) else 32
        word = (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b >= 128
        if word and not inside:
            if count == limit:
                break
            start = chars
            inside = True
        elif not word and inside:
            for k in range(m):
                if spans[2 * k] == count:
                    out[2 * k] = start
                if spans[2 * k + 1] - 1 == count:
                    out[2 * k + 1] = chars
            last = chars
            count += 1
            inside = False
        if i < len(raw) and (b & 0xC0) != 0x80:
            chars += 1
    for k in range(m):  # intervals past the text's last word end with it
        if spans[2 * k] < count and out[2 * k + 1] < 0:
            out[2 * k + 1] = last
    return out


DIGITS_TWIN_COST = 2e-8  # seconds per byte of word_digits' NumPy twin (measured ~17 ns)


@njit(cache=True, nogil=True)
def word_digits(raw):
    """Per word of UTF-8 bytes (the word rule of `word_bounds`): does it hold an ASCII digit. One
    pass and one small array: the constants of a long text row (`evidence.TextConstants`)."""
    out = np.zeros(len(raw) // 2 + 1, np.bool_)
    k = 0
    inside = False
    for i in range(len(raw)):
        b = raw[i]
        if (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b >= 128:
            inside = True
            if b <= 57:
                out[k] = True
        elif inside:
            k += 1
            inside = False
    return out[:k + inside]


@numpy_twin(word_digits)
def _word_digits_numpy(raw):
    word = ((raw >= 48) & (raw <= 57)) | ((raw >= 65) & (raw <= 90)) | ((raw >= 97) & (raw <= 122)) | (raw >= 128)
    edges = np.flatnonzero(np.diff(np.r_[np.int8(0), word.view(np.int8), np.int8(0)]))
    digits = np.r_[0, np.cumsum((raw >= 48) & (raw <= 57))]
    return digits[edges[1::2]] > digits[edges[::2]]


for _kernel, _wrapper in ((scan_bytes, native.scan_bytes), (scan_words, native.scan_words),
                          (window_key, native.window_key), (all_windows, native.all_windows),
                          (build_table, native.build_table), (build_filter, native.build_filter),
                          (word_bounds, native.word_bounds), (span_chars, native.span_chars),
                          (word_digits, native.word_digits),
                          (words._word_hashes, native.word_hashes),  # the index build's tokenisers
                          (words._word_hashes_masked, native.word_hashes_masked)):
    native.use_for(_kernel, _wrapper)
