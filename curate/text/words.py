"""Normalisation, words and hashed word n-grams, shared by dedup and decontam.

Normalised words are the maximal runs of ASCII letters and digits plus any non-ASCII UTF-8
bytes, lower-cased; everything else (spaces, punctuation, LaTeX braces and backslashes)
separates words. So `\\frac {1}{2}` and `\\frac{1}{2}` both read `frac 1 2`, case and spacing
vanish, and numbers are kept (math problems that differ in a constant stay different).

The hot loop runs compiled (numba) straight over an Arrow string array's buffers: no Python
object per word or shingle. Each word is hashed with 64-bit FNV-1a; an n-gram hash mixes the
hashes of its n words in order. A text with fewer than n words yields one hash of all its words
(so short texts still have a fingerprint), flagged in `short`. Small inputs take this module's NumPy
twins instead (`curate.text.small`): same hashes, no compilation.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from curate.text.arrow import arrow_buffers, text_array  # noqa: F401 (arrow_buffers re-exported: dedup, decontam, the view)
from curate.text.jit import njit
from curate.text.small import numpy_twin, pick

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
TWIN_COST = 3e-7  # seconds per byte (word) of the NumPy twins below, measured: 0.05-0.15 us
_WORD = re.compile(rb"[a-z0-9\x80-\xff]+")


def normalize(text: str) -> str:
    """The normalised form as text: words joined by single spaces.

    >>> normalize("Compute  \\\\frac {1}{2} + X!")
    'compute frac 1 2 x'
    """
    return " ".join(w.decode("utf-8", "replace") for w in _WORD.findall(text.lower().encode("utf-8")))


def words(text: str) -> list[str]:
    return normalize(text).split()


@njit(cache=True, nogil=True)
def _is_word_byte(b):
    return (48 <= b <= 57) or (97 <= b <= 122) or (65 <= b <= 90) or b >= 128


@njit(cache=True, nogil=True)
def _word_hashes(data, offsets, valid):
    """Per text, the FNV-1a hash of each normalised word; returns (doc_offsets, hashes)."""
    n = len(offsets) - 1
    out = np.empty(max(1, (offsets[n] - offsets[0]) // 2 + n), dtype=np.uint64)
    doc = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for d in range(n):
        if valid[d]:
            h = FNV_OFFSET
            inside = False
            for i in range(offsets[d], offsets[d + 1]):
                b = data[i]
                if _is_word_byte(b):
                    if 65 <= b <= 90:
                        b += 32
                    h = (h ^ np.uint64(b)) * FNV_PRIME
                    inside = True
                elif inside:
                    out[k] = h
                    k += 1
                    h = FNV_OFFSET
                    inside = False
            if inside:
                out[k] = h
                k += 1
        doc[d + 1] = k
    return doc, out[:k]


def _byte_classes() -> tuple[np.ndarray, np.ndarray]:
    """Per byte: its lower-case value (0 for a separator) and its kind (0 separator, 1 letter or
    non-ASCII, 2 digit): two table reads per byte instead of a chain of comparisons."""
    low, kind = np.zeros(256, np.uint8), np.zeros(256, np.uint8)
    for b in range(256):
        if b >= 128 or chr(b).isascii() and chr(b).isalnum():  # `_is_word_byte`, in Python
            low[b], kind[b] = b + 32 if 65 <= b <= 90 else b, 2 if 48 <= b <= 57 else 1
    return low, kind


_LOW, _KIND = _byte_classes()


# word states of `_word_hashes_masked`, by (state, byte kind 1 letter or 2 digit): 0 outside a
# word, 1 digits only (a number), 2 digits then letters (`19x`), 3 anything else
_STATES = np.array([0, 3, 1, 0, 2, 1, 0, 2, 3, 0, 3, 3], np.uint8)
BYTE_TABLES = (_LOW, _KIND, _STATES)  # `text_words_masked`'s tables, for the decontam scan


@njit(cache=True, nogil=True)
def _word_hashes_masked(data, offsets, valid, number, low, kind, states):
    """`_word_hashes`, plus the same hashes with every number (ASCII digits only) as `number`
    and every constant glued before letters (`19x`, `3xyz`: digits, then no digit) as the hash
    of its letters seeded with `number` (`_glued`)."""
    n = len(offsets) - 1
    size = max(1, (offsets[n] - offsets[0]) // 2 + n)
    out = np.empty(size, dtype=np.uint64)
    masked = np.empty(size, dtype=np.uint64)
    doc = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for d in range(n):
        if valid[d]:
            k = text_words_masked(data, offsets[d], offsets[d + 1], number, low, kind, states, out, masked, k)
        doc[d + 1] = k
    return doc, out[:k], masked[:k]


@njit(cache=True, nogil=True)
def text_words_masked(data, lo, hi, number, low, kind, states, out, masked, k):
    """The words of one text (bytes lo..hi) into out[k:] and masked[k:] (`_word_hashes_masked`);
    returns the new k. Room for (hi - lo) // 2 + 1 words is the caller's: the decontam scan
    tokenises each text into a scratch buffer this way and keeps only the words of texts that match.
    A caller in another file (`kernels.scan_bytes`) compiles this in; its disk cache sees an
    edit here only because the cache is keyed by all sources (`curate.text.jit`)."""
    h = FNV_OFFSET
    state = 0
    for i in range(lo, hi):
        b = data[i]
        c = kind[b]
        if c:
            h = (h ^ np.uint64(low[b])) * FNV_PRIME
            state = states[state * 3 + c]
        elif state:
            out[k] = h
            masked[k] = h if state == 3 else (number if state == 1 else _glued(data, i, number, low, kind))
            k += 1
            h = FNV_OFFSET
            state = 0
    if state:
        out[k] = h
        masked[k] = h if state == 3 else (number if state == 1 else _glued(data, hi, number, low, kind))
        k += 1
    return k


@njit(cache=True, nogil=True)
def _glued(data, end, number, low, kind):
    """The masked hash of a constant glued before letters ending at `end`: the hash of its
    letters seeded with `number`."""
    i = end
    while kind[data[i - 1]] == 1:
        i -= 1
    g = number
    for j in range(i, end):
        g = (g ^ np.uint64(low[data[j]])) * FNV_PRIME
    return g


@njit(cache=True, nogil=True)
def mix64(h):
    # splitmix64 finaliser: spreads bits so that order-dependent combinations stay uniform
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@njit(cache=True, nogil=True)
def _ngrams(doc, words, n):
    """Word hashes -> n-gram hashes per text (short texts: one hash of all their words)."""
    m = len(doc) - 1
    total = 0
    for d in range(m):
        count = doc[d + 1] - doc[d]
        total += max(count - n + 1, 1 if count > 0 else 0)
    out = np.empty(total, dtype=np.uint64)
    offs = np.zeros(m + 1, dtype=np.int64)
    short = np.zeros(m, dtype=np.bool_)
    k = 0
    for d in range(m):
        start, stop = doc[d], doc[d + 1]
        count = stop - start
        if count == 0:
            offs[d + 1] = k
            continue
        width = min(n, count)
        short[d] = count < n
        for s in range(start, stop - width + 1):
            h = np.uint64(width)
            for j in range(width):
                h = mix64(h ^ words[s + j]) + np.uint64(j)
            out[k] = h
            k += 1
        offs[d + 1] = k
    return offs, out, short


# ---------------------------------------------------------------- NumPy twins (small inputs)


def _word_runs(data, offsets, valid):
    """Every normalised word of the valid texts: (doc offsets, start, end, lower-cased bytes)."""
    n = len(offsets) - 1
    lo, hi = int(offsets[0]), int(offsets[n])
    raw = np.asarray(data[lo:hi])
    inside = ((raw >= 48) & (raw <= 57)) | ((raw >= 97) & (raw <= 122)) | ((raw >= 65) & (raw <= 90)) | (raw >= 128)
    owner = np.repeat(np.arange(n), np.diff(offsets))
    inside &= np.asarray(valid, bool)[owner]
    first = np.zeros(hi - lo + 1, bool)
    first[offsets[:-1] - lo] = True  # a text's first byte starts a word, whatever precedes it
    starts = np.flatnonzero(inside & (first[:-1] | ~np.r_[False, inside[:-1]]))
    last = np.zeros(hi - lo + 1, bool)
    last[offsets[1:] - lo] = True  # last[i + 1]: byte i ends its text
    ends = np.flatnonzero(inside & (last[1:] | ~np.r_[inside[1:], False])) + 1
    doc = np.zeros(n + 1, np.int64)
    doc[1:] = np.cumsum(np.bincount(owner[starts], minlength=n)) if n else 0
    lower = raw + np.where((raw >= 65) & (raw <= 90), 32, 0).astype(np.uint8)
    return doc, starts, ends, lower


def fnv_of_runs(lower, starts, ends, seed=FNV_OFFSET) -> np.ndarray:
    """FNV-1a of each run lower[start:end], one byte position at a time across all runs."""
    lengths = ends - starts
    order = np.argsort(-lengths, kind="stable")  # the runs still going at step j are a prefix
    h = np.full(len(starts), seed, np.uint64)
    by_length, first = lengths[order], starts[order]
    for j in range(int(by_length[0]) if len(by_length) else 0):
        alive = int(np.searchsorted(-by_length, -j, side="left"))  # lengths > j
        h[:alive] = (h[:alive] ^ lower[first[:alive] + j].astype(np.uint64)) * FNV_PRIME
    out = np.empty_like(h)
    out[order] = h
    return out


@numpy_twin(_word_hashes)
def _word_hashes_numpy(data, offsets, valid):
    doc, starts, ends, lower = _word_runs(data, offsets, valid)
    return doc, fnv_of_runs(lower, starts, ends)


@numpy_twin(_word_hashes_masked)
def _word_hashes_masked_numpy(data, offsets, valid, number, low, kind, states):  # noqa: ARG001 (the kernel's tables)
    doc, starts, ends, lower = _word_runs(data, offsets, valid)
    hashes = fnv_of_runs(lower, starts, ends)
    is_digit = (lower >= 48) & (lower <= 57)
    digits = np.r_[0, np.cumsum(is_digit)]
    letters = np.r_[np.flatnonzero(~is_digit), len(lower)]
    first = letters[np.searchsorted(letters, starts)]  # each word's first byte that is not a digit
    glued = np.flatnonzero((first > starts) & (first < ends) & (digits[ends] == digits[first]))
    masked = np.where(digits[ends] - digits[starts] == ends - starts, np.uint64(number), hashes)
    masked[glued] = fnv_of_runs(lower, first[glued], ends[glued], np.uint64(number))
    return doc, hashes, masked


@numpy_twin(_ngrams)
def _ngrams_numpy(doc, words, n):
    counts = np.diff(doc)
    windows = np.where(counts > 0, np.maximum(counts - n + 1, 1), 0)
    offs = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(windows, out=offs[1:])
    starts = np.repeat(doc[:-1] - offs[:-1], windows) + np.arange(offs[-1])
    width = np.repeat(np.minimum(n, counts), windows)
    h = width.astype(np.uint64)
    for j in range(n):
        alive = width > j
        h[alive] = mix64.py_func(h[alive] ^ words[starts[alive] + j]) + np.uint64(j)
    return offs, h, (counts < n) & (counts > 0)


def word_hashes(texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, hashes): text i's word hashes are hashes[offsets[i]:offsets[i+1]]."""
    array = text_array(texts)
    data, offsets, valid = arrow_buffers(array)
    return pick(_word_hashes, len(data), TWIN_COST)(data, offsets, valid)


def word_hashes_masked(texts: pa.Array | list[str], number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, hashes, masked): `word_hashes`, and the same with every number (a word of ASCII
    digits only) replaced by the hash `number` and every constant glued before letters (`19x`)
    by the hash of its letters seeded with `number`, so n-grams can match whatever the constants."""
    array = text_array(texts)
    data, offsets, valid = arrow_buffers(array)
    return pick(_word_hashes_masked, len(data), TWIN_COST)(data, offsets, valid, np.uint64(number), _LOW, _KIND,
                                                         _STATES)


def ngram_hashes(texts: pa.Array | list[str], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, hashes, short): hashed word n-grams of each text.

    `short[i]` is True when text i has fewer than n words; its single hash then covers all of
    its words. Empty and null texts have no hashes.

    >>> offs, h, short = ngram_hashes(["a b c d", "A  b, C d", "x"], 3)
    >>> bool((h[offs[0]:offs[1]] == h[offs[1]:offs[2]]).all()), short.tolist()
    (True, [False, False, True])
    """
    doc, words_ = word_hashes(texts)
    return pick(_ngrams, len(words_) * int(n), TWIN_COST)(doc, words_, int(n))
