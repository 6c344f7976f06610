"""Normalisation, words and hashed word n-grams, shared by dedup and decontam.

Normalised words are the maximal runs of ASCII letters and digits plus any non-ASCII UTF-8
bytes, lower-cased; everything else (spaces, punctuation, LaTeX braces and backslashes)
separates words. So `\\frac {1}{2}` and `\\frac{1}{2}` both read `frac 1 2`, case and spacing
vanish, and numbers are kept (math problems that differ in a constant stay different).

The hot loop runs compiled (numba) straight over an Arrow string array's buffers: no Python
object per word or shingle. Each word is hashed with 64-bit FNV-1a; an n-gram hash mixes the
hashes of its n words in order. A text with fewer than n words yields one hash of all its words
(so short texts still have a fingerprint), flagged in `short`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa

from curate.text.arrow import arrow_buffers  # noqa: F401 (re-exported: dedup, decontam, the view)


def _defer_numba_blas_probe() -> None:
    """Import numba's array implementations without the scipy import they make to probe BLAS.

    numba's first compile or cache load in a process imports `numba.np.arraymath`, which
    imports scipy.linalg (0.24 s here, a tenth of deduplicating 280 MB) only to set a flag
    that np.correlate/np.convolve read; everything that really uses BLAS imports scipy itself
    when it is compiled. So: import arraymath with scipy hidden, then set the flag to what the
    probe would have found. Nothing changes but when (and whether) scipy is imported.
    Every compiled module imports this one, so each gets it (dedup, decontam, the view).
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]  # `import scipy.linalg...` fails fast
    try:
        import numba.np.arraymath as arraymath
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
    scipy = importlib.util.find_spec("scipy")  # numba itself imports the top-level package
    folders = (scipy.submodule_search_locations or []) if scipy else []
    arraymath._HAVE_BLAS = any(any((Path(f) / "linalg").glob("cython_blas*")) for f in folders)


_defer_numba_blas_probe()

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_WORD = re.compile(rb"[a-z0-9\x80-\xff]+")


def normalize(text: str) -> str:
    """The normalised form as text: words joined by single spaces.

    >>> normalize("Compute  \\\\frac {1}{2} + X!")
    'compute frac 1 2 x'
    """
    return " ".join(w.decode("utf-8", "replace") for w in _WORD.findall(text.lower().encode("utf-8")))


def words(text: str) -> list[str]:
    return normalize(text).split()


@numba.njit(cache=True, nogil=True)
def _is_word_byte(b):
    return (48 <= b <= 57) or (97 <= b <= 122) or (65 <= b <= 90) or b >= 128


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _word_hashes_masked(data, offsets, valid, number, low, kind):
    """`_word_hashes`, plus the same hashes with every number (ASCII digits only) as `number`."""
    n = len(offsets) - 1
    size = max(1, (offsets[n] - offsets[0]) // 2 + n)
    out = np.empty(size, dtype=np.uint64)
    masked = np.empty(size, dtype=np.uint64)
    doc = np.zeros(n + 1, dtype=np.int64)
    k = 0
    for d in range(n):
        if valid[d]:
            h = FNV_OFFSET
            state = 0  # bit 0: inside a word; bit 1: the word has a byte that is not a digit
            for i in range(offsets[d], offsets[d + 1]):
                c = kind[data[i]]
                if c:
                    h = (h ^ np.uint64(low[data[i]])) * FNV_PRIME
                    state |= 1 | (c & 1) << 1
                elif state:
                    out[k] = h
                    masked[k] = h if state & 2 else number
                    k += 1
                    h = FNV_OFFSET
                    state = 0
            if state:
                out[k] = h
                masked[k] = h if state & 2 else number
                k += 1
        doc[d + 1] = k
    return doc, out[:k], masked[:k]


@numba.njit(cache=True, nogil=True)
def mix64(h):
    # splitmix64 finaliser: spreads bits so that order-dependent combinations stay uniform
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
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


def word_hashes(texts: pa.Array | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, hashes): text i's word hashes are hashes[offsets[i]:offsets[i+1]]."""
    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    return _word_hashes(*arrow_buffers(array))


def word_hashes_masked(texts: pa.Array | list[str], number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, hashes, masked): `word_hashes`, and the same with every number (a word of ASCII
    digits only) replaced by the hash `number`, so n-grams can match whatever the constants."""
    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    return _word_hashes_masked(*arrow_buffers(array), np.uint64(number), _LOW, _KIND)


def ngram_hashes(texts: pa.Array | list[str], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, hashes, short): hashed word n-grams of each text.

    `short[i]` is True when text i has fewer than n words; its single hash then covers all of
    its words. Empty and null texts have no hashes.

    >>> offs, h, short = ngram_hashes(["a b c d", "A  b, C d", "x"], 3)
    >>> bool((h[offs[0]:offs[1]] == h[offs[1]:offs[2]]).all()), short.tolist()
    (True, [False, False, True])
    """
    doc, words_ = word_hashes(texts)
    return _ngrams(doc, words_, int(n))
