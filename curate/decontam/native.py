"""The C build of decontam's kernels (`curate/decontam/_native*.c`), in place of numba's when built.

As for dedup (`curate.dedup.native`): importing numba and loading its cached kernels costs a
`curate decontam` command 0.3-0.4 CPU seconds and ~110 MB of memory, more than scanning a
30k-row batch. The package builds these kernels as an optional C extension, and
`curate.text.small.pick` hands out the C kernel wherever one is registered here: the scan
(`kernels.scan_bytes`, `scan_words`, with the tokeniser), the verdict's per-pair facts and
anchors, the index build's windows, tables and filters, and the reports' word spans. Each
wrapper takes and returns what its numba kernel does and allocates the outputs; the C functions
fill them, with the GIL released. Results are bit-identical (tests/test_native_decontam.py).
Measured on 30k R1-length rows (2 cores): 1.5 -> 1.15 s wall, 380 -> 280 MB peak RSS; on 1M
rows the same wall (the scan costs what numba's does), ~115 MB less memory.

CURATE_NATIVE=0 turns the C kernels off, and a C source newer than its build is not used
(`curate.text.small.load_extension`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.decontam.weights import NUMBER
from curate.text.small import load_extension, register_native

_native = load_extension("curate.decontam._native", Path(__file__).parent)


def available() -> bool:
    """Whether the C kernels are in use in this process."""
    return _native is not None


def _i64(values) -> np.ndarray:
    return np.ascontiguousarray(values, np.int64)


def _u64(values) -> np.ndarray:
    return np.ascontiguousarray(values, np.uint64)


def _u8(values) -> np.ndarray:
    """Bytes or a bool/int8 mask as one byte per value, no copy when already so."""
    values = np.ascontiguousarray(values)
    return values.view(np.uint8) if values.dtype.itemsize == 1 else values.astype(np.uint8)


def _tables(tables) -> list[np.ndarray]:
    """A scan's 11 tables (slots, values, filter three times, then two filters), typed for C."""
    return [_i64(t) if k in (1, 4, 7) else _u64(t) for k, t in enumerate(tables)]


def scan_words(doc, words, masked, n, power, exact, skip, *rest):
    """`kernels.scan_words` in C: the matches' count (more than the o_* buffers hold: rerun)."""
    tables, outputs = rest[:11], rest[11:]
    return _native.scan_words(_i64(doc), _u64(words), _u64(masked), int(n), int(power), bool(exact), bool(skip),
                              *_tables(tables), *outputs)


def scan_bytes(data, offsets, valid, number, low, kind, states, n, power, exact, skip, *rest):
    """`kernels.scan_bytes` in C: (matches, words kept); the outputs are the caller's buffers, as
    for the numba kernel."""
    tables, outputs = rest[:11], rest[11:]
    found, kept = _native.scan_bytes(_u8(data), _i64(offsets), _u8(valid), int(number), _u8(low), _u8(kind),
                                     _u8(states), int(n), int(power), bool(exact), bool(skip), *_tables(tables),
                                     *outputs)
    return found, kept


def word_hashes(data, offsets, valid):
    """`curate.text.words._word_hashes` in C: (doc offsets, hashes)."""
    offsets = _i64(offsets)
    texts = len(offsets) - 1
    out = np.empty(max(1, int(offsets[texts] - offsets[0]) // 2 + texts), np.uint64)
    doc = np.zeros(texts + 1, np.int64)
    return doc, out[:_native.word_hashes(_u8(data), offsets, _u8(valid), doc, out)]


def word_hashes_masked(data, offsets, valid, number, low, kind, states):
    """`curate.text.words._word_hashes_masked` in C: (doc offsets, hashes, masked hashes)."""
    offsets = _i64(offsets)
    texts = len(offsets) - 1
    size = max(1, int(offsets[texts] - offsets[0]) // 2 + texts)
    out, masked = np.empty(size, np.uint64), np.empty(size, np.uint64)
    doc = np.zeros(texts + 1, np.int64)
    k = _native.word_hashes_masked(_u8(data), offsets, _u8(valid), int(number), _u8(low), _u8(kind), _u8(states),
                                   doc, out, masked)
    return doc, out[:k], masked[:k]


def window_key(words, start, length):
    """`kernels.window_key` in C."""
    return _native.window_key(_u64(words), int(start), int(length))  # a Python int, as numba returns


def all_windows(doc, words, n):
    """`kernels.all_windows` in C: every n-word window of every text, (text, position, key)."""
    doc = _i64(doc)
    total = int(np.maximum(np.diff(doc) - n + 1, 0).sum())
    item, pos, keys = np.empty(total, np.int64), np.empty(total, np.int64), np.empty(total, np.uint64)
    _native.all_windows(doc, _u64(words), int(n), item, pos, keys)
    return item, pos, keys


def build_table(keys, values, bits, filter_bits):
    """`kernels.build_table` in C: (slots, values, filter)."""
    tk, tv = np.zeros(1 << bits, np.uint64), np.zeros(1 << bits, np.int64)
    filt = np.zeros(max((1 << filter_bits) // 64, 1), np.uint64)
    _native.build_table(_u64(keys), _i64(values), int(bits), int(filter_bits), tk, tv, filt)
    return tk, tv, filt


def build_filter(keys, filter_bits):
    """`kernels.build_filter` in C."""
    filt = np.zeros(max((1 << filter_bits) // 64, 1), np.uint64)
    _native.build_filter(_u64(keys), int(filter_bits), filt)
    return filt


def word_bounds(raw, limit):
    """`kernels.word_bounds` in C: byte (starts, ends) of the first `limit` words (-1: all)."""
    raw = _u8(raw)
    starts, ends = np.empty(len(raw) // 2 + 1, np.int64), np.empty(len(raw) // 2 + 1, np.int64)
    k = _native.word_bounds(raw, int(limit), starts, ends)
    return starts[:k], ends[:k]


def span_chars(raw, spans):
    """`kernels.span_chars` in C: character (start, end) of word intervals."""
    spans = _i64(spans)
    out = np.full(2 * (len(spans) // 2), -1, np.int64)
    _native.span_chars(_u8(raw), spans, out)
    return out


def word_digits(raw):
    """`kernels.word_digits` in C: per word, does it hold an ASCII digit."""
    raw = _u8(raw)
    out = np.zeros(len(raw) // 2 + 1, np.bool_)
    return out[:_native.word_digits(raw, out)]


def anchor_facts(ipos, kinds, starts):
    """`verdict.anchor_facts` in C: per pair [exact, direct, grams, distinct]."""
    starts = _i64(starts)
    out = np.zeros((len(starts) - 1, 4), np.int64)
    _native.anchor_facts(_i64(ipos), np.ascontiguousarray(kinds, np.int8), starts, out)
    return out


def pair_facts(iw, inum, iname, numbers, types, plain, tw, tmasked, tconst, anchor_i, anchor_t, n, look, sync):
    """`verdict._pair_facts` in C: (state, text_at, seen, packed); the facts it packs have at most
    one edge more than item words and one more than text words."""
    state, text_at = np.zeros(len(iw), np.int8), np.zeros(len(iw), np.int64)
    seen = np.zeros(len(plain), np.bool_)
    packed = np.zeros(11 + len(iw) + len(tw) + 2, np.int64)
    used = _native.pair_facts(_u64(iw), np.ascontiguousarray(inum, np.int8), _u8(iname), _u8(numbers), _i64(types),
                              _u8(plain), _u64(tw), _u64(tmasked), np.ascontiguousarray(tconst, np.int8),
                              _i64(anchor_i), _i64(anchor_t), int(n), int(look), int(sync), int(NUMBER), state,
                              text_at, seen, packed)
    return state, text_at, seen, packed[:used]


def use_for(kernel, wrapper) -> None:
    """Have `pick` hand out `wrapper` (the C build) for the numba `kernel`, when built."""
    if _native is not None:
        register_native(kernel, wrapper)
