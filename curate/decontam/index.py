"""The benchmark n-gram index: hashed word n-grams of benchmark problems, an allowlist, and an
exact path for items shorter than n.

Words come from `curate.text.words.word_hashes` (the tokeniser shared with dedup: lower case, every run
of letters/digits/non-ASCII bytes is a word, so punctuation and LaTeX spacing vanish and numbers
stay). Windows are hashed, and texts scanned, by the compiled kernels of
`curate.decontam.kernels`, so both sides of a comparison are always hashed the same way.

N-grams are hashed with every number replaced by one placeholder word (and a constant glued
before letters, `19x`, by the placeholder and its letters), so a copy with other constants
still matches (`tokens`); `curate.decontam.match` tells copies from template copies
by comparing the real words. Per item word the index also keeps its information (`word_weights`) and
whether it is a number.

Per n (one per distinct field setting, e.g. 8 for `problem`, 13 for `reasoning`):
- n-gram postings: sorted unique keys -> (item, position in item) lists. Keys that occur in at
  least `allowlist_min_items` distinct items are boilerplate and dropped; so are the windows that
  contain, or lie inside, a user allowlist phrase.
- exact path: items with fewer than n words (and at least `min_exact_words`) are keyed by the hash
  of their whole word sequence, constants masked like the n-grams (`match` tells a copy from a
  template copy by the real words); a small first-word table (word hash -> bit mask of item lengths)
  tells the scan which window lengths to hash at a training position, so the cost is one table
  probe per training word, not one pass per distinct length.

Lookups use open-addressing tables (power-of-two capacity, load <= 1/2), saved in `index.npz`
beside the sorted arrays (an older file without them builds them on load); items in `index.json`.
`curate.decontam.index_build` builds the index from the items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.decontam.evidence import digit_words
from curate.decontam.kernels import BASE, BOUNDS_TWIN_COST, build_filter, build_table, scan_words, word_bounds
from curate.decontam.select import BenchItem
from curate.decontam.weights import NAME_FACTOR, coverage
from curate.text.small import pick


def _table(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slots, values, filter): load <= 1/2, about 16 filter bits per key (at least 2**12)."""
    bits = max(4, int(2 * max(len(keys), 1) - 1).bit_length())
    build = pick(build_table, len(keys), 3e-5)
    return build(keys.astype(np.uint64), values.astype(np.int64), bits, _filter_bits(len(keys), 16))


def _filter(keys: np.ndarray) -> np.ndarray:
    """A one-bit-per-key filter of about 64 bits per key (`kernels.build_filter`)."""
    return pick(build_filter, len(keys), 3e-5)(keys.astype(np.uint64), _filter_bits(len(keys), 64))


def _filter_bits(count: int, per_key: int) -> int:
    """log2 of a filter's size in bits: about `per_key` bits per key, at least 2**12."""
    return max(12, int(per_key * max(count, 1) - 1).bit_length())


def token_spans(text: str, *, limit: int | None = None) -> list[tuple[int, int]]:
    """Character (start, end) of each word (the first `limit` words), as `curate.text.words` splits them."""
    starts, ends = token_bounds(text, limit=limit)
    return list(zip(starts.tolist(), ends.tolist()))


def token_bounds(text: str, *, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`token_spans` as two arrays (character starts, character ends): a report that needs a few
    words of a long text reads them without a tuple per word."""
    raw = np.frombuffer(text.encode("utf-8"), np.uint8)
    starts, ends = pick(word_bounds, len(raw), BOUNDS_TWIN_COST)(raw, -1 if limit is None else limit)
    if len(raw) == len(text):
        return starts, ends
    char_at = np.r_[np.cumsum((raw & 0xC0) != 0x80) - 1, len(text)]
    return char_at[starts], char_at[ends - 1] + 1


# ---------------------------------------------------------------- the index


@dataclass
class NgramIndex:
    """The index for one n: n-gram postings plus the exact path for shorter items."""

    n: int
    keys: np.ndarray  # sorted unique n-gram keys
    post_off: np.ndarray  # postings of keys[i]: post_item/post_pos[post_off[i]:post_off[i+1]]
    post_item: np.ndarray
    post_pos: np.ndarray
    item_total: np.ndarray  # indexed n-grams per item (0 for exact-path items)
    short_keys: np.ndarray
    short_off: np.ndarray
    short_item: np.ndarray
    short_len: np.ndarray  # word count of each short key
    first_keys: np.ndarray  # first-word hash -> mask of lengths
    first_masks: np.ndarray
    vocab: np.ndarray  # words the items use outside names (`idents`); empty: no name-free windows
    gap_keys: np.ndarray  # keys of the name-free windows that close over a gap (sorted unique)
    allowlisted: int = 0
    _tables: tuple | None = field(default=None, repr=False)

    ARRAYS = ("keys", "post_off", "post_item", "post_pos", "item_total", "short_keys", "short_off",
              "short_item", "short_len", "first_keys", "first_masks", "vocab", "gap_keys")

    def tables(self) -> tuple:
        """Lookup tables (slots, values, filter) for n-grams, first words and exact keys; filters
        of the vocabulary and of the gap windows' keys (`idents`)."""
        if self._tables is None:
            self._tables = (*_table(self.keys, np.arange(len(self.keys))),
                            *_table(self.first_keys, self.first_masks.view(np.int64)),
                            *_table(self.short_keys, np.arange(len(self.short_keys))),
                            _filter(self.vocab), _filter(self.gap_keys))
        return self._tables

    def scan(self, doc: np.ndarray, words: np.ndarray, masked: np.ndarray, *,
             renamed: bool = True) -> tuple[np.ndarray, ...]:
        """Raw matches over tokenised texts: (text, item, item position, text position, kind:
        0 n-gram, 1 exact, 2 n-gram over a skipped name, the matched n-gram's key number or -1
        on the exact path); `masked` is `words` with every number as one word (`weights.tokens`).
        `renamed=False` skips the name-free pass."""
        power = np.uint64(pow(int(BASE), self.n - 1, 1 << 64))
        capacity = max(1024, len(words) // 64)
        while True:
            buffers = [np.empty(capacity, np.int64) for _ in range(3)] + [np.empty(capacity, np.int8)]
            scan = pick(scan_words, len(words), 1e-5)
            k = scan(doc, words, masked, self.n, power, len(self.first_keys) > 0, renamed and len(self.vocab) > 0,
                     *self.tables(), *buffers)
            if k <= capacity:
                break
            capacity = k
        return self.matches(*(b[:k] for b in buffers))

    def matches(self, t_doc, t_val, t_pos, t_kind) -> tuple[np.ndarray, ...]:
        """The raw matches of a scan kernel (`scan_words`, `scan_bytes`) expanded per posting (see `scan`)."""
        grams, exact = t_kind != 1, t_kind == 1
        counts = self.post_off[t_val[grams] + 1] - self.post_off[t_val[grams]]
        a = _expand(t_doc[grams], t_val[grams], t_pos[grams], self.post_off, self.post_item, self.post_pos)
        zero = np.zeros(len(self.short_item), np.int64)
        b = _expand(t_doc[exact], t_val[exact], t_pos[exact], self.short_off, self.short_item, zero)
        kinds = np.concatenate([np.repeat(t_kind[grams], counts), np.ones(len(b[0]), np.int8)])
        keys = np.concatenate([np.repeat(t_val[grams], counts), np.full(len(b[0]), -1, np.int64)])
        return (*(np.concatenate([x, y]) for x, y in zip(a, b)), kinds, keys)


def _expand(docs, vals, tpos, off, items, ipos):
    """Expand matched keys into one row per (text, item, item position, text position)."""
    counts = off[vals + 1] - off[vals]
    total = int(counts.sum())
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    idx = np.repeat(off[vals], counts) + within
    return np.repeat(docs, counts), items[idx].astype(np.int64), ipos[idx].astype(np.int64), np.repeat(tpos, counts)


@dataclass
class BenchIndex:
    """Items of the selected benchmarks and one `NgramIndex` per n."""

    items: list[BenchItem]
    benchmarks: list[dict[str, Any]]
    by_n: dict[int, NgramIndex]
    settings: dict[str, Any]
    item_words: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # words per item
    item_hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # all items' word hashes
    item_weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))  # information per word
    item_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))  # which words are numbers
    item_names: np.ndarray = field(default_factory=lambda: np.zeros(0, np.bool_))  # which words are names (idents)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def words_of(self, item: int) -> np.ndarray:
        """The word hashes of one item."""
        start = int(self._starts()[item])
        return self.item_hashes[start:start + int(self.item_words[item])]

    def numbers_of(self, item: int) -> np.ndarray:
        """Per word of one item: is it a number."""
        start = int(self._starts()[item])
        return self.item_numbers[start:start + int(self.item_words[item])]

    def digits_of(self, item: int) -> np.ndarray:
        """Per word of one item: does it hold a digit (a number, or one glued to a letter: `evidence`)."""
        key = f"digits{item}"
        if key not in self._cache:
            digits = digit_words(self.items[item].problem)
            self._cache[key] = digits if len(digits) == self.item_words[item] else self.numbers_of(item)
        return self._cache[key]

    def constants_of(self, item: int) -> tuple[np.ndarray, bool]:
        """Per word of one item: 2 a number, 1 a constant glued to letters (`19x`), 0 neither (a
        name with a digit, `l1`, is a name a copy renames); and whether it has glued ones (cached)."""
        key = f"constants{item}"
        if key not in self._cache:
            names = self.names_of(item) if len(self.item_names) else False
            glued = self.digits_of(item) & ~self.numbers_of(item) & ~names
            self._cache[key] = (glued.astype(np.int8) + 2 * self.numbers_of(item).view(np.int8), bool(glued.any()))
        return self._cache[key]

    def names_of(self, item: int) -> np.ndarray:
        """Per word of one item: is it part of a function or parameter name (`idents`)."""
        start = int(self._starts()[item])
        return self.item_names[start:start + int(self.item_words[item])]

    def word_classes(self, item: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions of an item's name words, number words and other words (cached)."""
        key = f"classes{item}"
        if key not in self._cache:
            names = self.names_of(item) if len(self.item_names) else np.zeros(int(self.item_words[item]), bool)
            numbers = self.numbers_of(item)
            self._cache[key] = (np.flatnonzero(names), np.flatnonzero(numbers), np.flatnonzero(~names & ~numbers))
        return self._cache[key]

    def weights_of(self, item: int) -> np.ndarray:
        """How informative each word of one item is (see `word_weights`)."""
        start = int(self._starts()[item])
        return self.item_weights[start:start + int(self.item_words[item])]

    def coverage(self, item: int, mask: np.ndarray, *, renamed: bool = False) -> tuple[float, int]:
        """(score, distinct words that are not numbers) of an item-word mask (`weights.coverage`);
        `renamed`: with the item's names weighing NAME_FACTOR (a copy that renamed them)."""
        types, weights, plain, names = self.distinct_words(item)
        return coverage(types, weights * np.where(names, NAME_FACTOR, 1.0) if renamed else weights, plain, mask)

    def token_spans_of(self, item: int) -> list[tuple[int, int]]:
        """Character spans of an item's words (cached: reports highlight the same items again)."""
        key = f"spans{item}"
        if key not in self._cache:
            self._cache[key] = token_spans(self.items[item].problem)
        return self._cache[key]

    def distinct_words(self, item: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per item word its distinct-word id; per distinct word its weight, whether it is not a
        number and whether it is a name (cached: the same items are judged again and again)."""
        key = f"types{item}"
        if key not in self._cache:
            words = self.words_of(item)
            _, first, types = np.unique(words, return_index=True, return_inverse=True)
            names = self.names_of(item)[first] if len(self.item_names) else np.zeros(len(first), bool)
            self._cache[key] = (types.ravel(), self.weights_of(item)[first], ~self.numbers_of(item)[first], names)
        return self._cache[key]

    def cached(self, key: str, make):
        """A value derived from the index, made once (`verdict` keeps each judged item's arrays here)."""
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = make()
        return value

    def _starts(self) -> np.ndarray:
        if "starts" not in self._cache:
            self._cache["starts"] = np.r_[0, np.cumsum(self.item_words)].astype(np.int64)
        return self._cache["starts"]

    def save(self, folder: Path) -> None:
        """Write index.npz (arrays) and index.json (items, benchmarks, settings) into `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"item_words": self.item_words, "item_hashes": self.item_hashes, "item_weights": self.item_weights,
                  "item_numbers": self.item_numbers, "item_names": self.item_names}
        for n, ix in self.by_n.items():  # with the lookup tables: each process loading the index skips building them
            arrays.update({f"n{n}_{name}": getattr(ix, name) for name in NgramIndex.ARRAYS})
            arrays.update({f"n{n}_table_{i:02d}": table for i, table in enumerate(ix.tables())})
        np.savez(folder / "index.npz", **arrays)
        meta = {"settings": self.settings, "benchmarks": self.benchmarks,
                "allowlisted": {str(n): ix.allowlisted for n, ix in self.by_n.items()},
                "items": [[i.benchmark, i.id, i.problem, i.answer] for i in self.items]}
        (folder / "index.json").write_text(json.dumps(meta, ensure_ascii=False, sort_keys=True))

    @classmethod
    def load(cls, folder: Path) -> BenchIndex:
        meta = json.loads((folder / "index.json").read_text())
        with np.load(folder / "index.npz") as data:
            arrays = {k: data[k] for k in data.files}
        by_n = {}
        for n_text, allowlisted in meta["allowlisted"].items():
            n = int(n_text)
            tables = tuple(arrays[k] for k in sorted(arrays) if k.startswith(f"n{n}_table_")) or None
            by_n[n] = NgramIndex(n, *(arrays[f"n{n}_{name}"] for name in NgramIndex.ARRAYS), allowlisted=allowlisted,
                                 _tables=tables)
        items = [BenchItem(*row) for row in meta["items"]]
        return cls(items, meta["benchmarks"], by_n, meta["settings"], arrays["item_words"], arrays["item_hashes"],
                   arrays["item_weights"], arrays["item_numbers"], arrays["item_names"])


_LOADED: dict[tuple[str, float], BenchIndex] = {}


def load_index(folder: Path) -> BenchIndex:
    """Load (once per process) the index saved in `folder`."""
    key = (str(folder), (folder / "index.npz").stat().st_mtime)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = BenchIndex.load(folder)
    return _LOADED[key]
