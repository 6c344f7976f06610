"""Building the benchmark n-gram index (`curate.decontam.index` describes what it holds).

`build_index` tokenises the items' problems once (`weights.tokens`: real words, and words with
constants masked), marks the words of function and parameter names (`idents`) and then, per n:
hashes every window of the masked words and the name-free windows that close over a skipped name
(kernels `all_windows`, `idents.skip_windows`); drops the boilerplate keys (in at least
`allowlist_min_items` items) and the windows of user allowlist phrases; sorts what is left into
postings; and keys the items shorter than n by their whole word sequence (the exact path, with
its first-word table). Each item word's information (`weights.word_weights`) is computed here
too. `index_settings` is what an index records of its build, and what `index_cache` keys by.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curate.decontam.idents import name_mask, name_words, skip_windows, vocabulary
from curate.decontam.index import BenchIndex, NgramIndex, token_spans
from curate.decontam.kernels import MAX_EXACT, all_windows, window_key
from curate.decontam.select import BenchItem
from curate.decontam.weights import NUMBER, tokens, word_weights
from curate.text.small import pick


def build_index(items: list[BenchItem], benchmarks: list[dict[str, Any]], ns: set[int] | list[int], *,
                allowlist: list[str] = (), allowlist_min_items: int = 5, min_exact_words: int = 3) -> BenchIndex:
    """Index the problems of `items` for each n in `ns` (see `curate.decontam.index`)."""
    doc, words, masked = tokens([i.problem for i in items])
    numbers = masked == NUMBER  # glued constants (`19x`) are masked too, but are no numbers
    names = _names(items, doc)
    left_out = name_words([i.problem for i in items], masked, names)
    p_doc, _, p_words = tokens(list(allowlist))
    phrases = [p_words[p_doc[i]:p_doc[i + 1]] for i in range(len(p_doc) - 1)]
    by_n = {n: _index_for_n(doc, words, masked, left_out, n, phrases, allowlist_min_items, min_exact_words)
            for n in sorted(set(ns))}
    settings = index_settings(ns, allowlist, allowlist_min_items, min_exact_words)
    weights = word_weights(items, doc, words, numbers)
    return BenchIndex(items, benchmarks, by_n, settings, np.diff(doc), words, weights, numbers, names)


def index_settings(ns: set[int] | list[int], allowlist: list[str], allowlist_min_items: int,
                   min_exact_words: int) -> dict[str, Any]:
    """The build settings an index records (and its cache is keyed by)."""
    return {"ns": sorted(set(ns)), "allowlist": list(allowlist), "allowlist_min_items": allowlist_min_items,
            "min_exact_words": min_exact_words}


def _names(items: list[BenchItem], doc: np.ndarray) -> np.ndarray:
    """Per item word: is it part of a name a copy may rename (`idents.name_mask`)."""
    masks = [name_mask(i.problem, token_spans(i.problem)) for i in items]
    if any(len(m) != n for m, n in zip(masks, np.diff(doc))):  # cannot happen: one word rule
        return np.zeros(int(doc[-1]), bool)
    return np.concatenate(masks) if masks else np.zeros(0, bool)


def _index_for_n(doc, words, masked, left_out, n, phrases, min_items, min_exact) -> NgramIndex:
    item, pos, keys = pick(all_windows, len(masked) * n)(doc, masked, n)
    keep = ~_phrase_mask(doc, masked, n, item, pos, phrases) if phrases else np.ones(len(keys), bool)
    plain = np.ones(len(keys), bool)
    (s_item, s_pos, s_keys), (c_doc, c_words, c_pos) = skip_windows(doc, masked, left_out, n)
    s_keep = ~_phrase_mask(c_doc, c_words, n, s_item, c_pos, phrases) if phrases else np.ones(len(s_keys), bool)
    item, pos, keys = np.r_[item, s_item], np.r_[pos, s_pos], np.r_[keys, s_keys]
    keep = np.r_[keep, s_keep]
    plain = np.r_[plain, np.zeros(len(s_keys), bool)]
    if min_items and len(keys):
        pairs = np.unique(np.stack([keys.view(np.int64), item]), axis=1)
        common_keys, counts = np.unique(pairs[0], return_counts=True)
        keep &= ~np.isin(keys.view(np.int64), common_keys[counts >= min_items])
    allowlisted = int(np.unique(keys[~keep & plain]).size)
    item_total = np.bincount(item[keep & plain], minlength=len(doc) - 1)  # the item's own indexed windows
    gap_keys = np.unique(keys[keep & ~plain])
    item, pos, keys = item[keep], pos[keep], keys[keep]
    order = np.lexsort((pos, item, keys))
    item, pos, keys = item[order], pos[order], keys[order]
    uniq, starts = np.unique(keys, return_index=True)
    post_off = np.append(starts, len(keys)).astype(np.int64)
    vocab = vocabulary(masked, left_out) if len(s_keys) else np.zeros(0, np.uint64)
    return NgramIndex(n, uniq, post_off, item.astype(np.int32), pos.astype(np.int32), item_total.astype(np.int64),
                      *_exact_path(doc, masked, n, min_exact), vocab, gap_keys, allowlisted=allowlisted)


def _phrase_mask(doc, words, n, item, pos, phrases) -> np.ndarray:
    """Windows that contain a user allowlist phrase, or whose words all lie in phrase occurrences."""
    drop = np.zeros(len(item), bool)
    first = np.searchsorted(item, np.arange(len(doc)))  # windows come grouped by item
    for d in range(len(doc) - 1):
        seq = words[doc[d]:doc[d + 1]]
        starts = pos[first[d]:first[d + 1]]
        inside = np.zeros(len(seq) + 1, np.int64)
        contains = np.zeros(len(starts), bool)
        for phrase in phrases:
            k = len(phrase)
            if k == 0 or k > len(seq):
                continue
            for a in np.flatnonzero((np.lib.stride_tricks.sliding_window_view(seq, k) == phrase).all(axis=1)):
                inside[a] += 1
                inside[a + k] -= 1
                contains |= (starts <= a) & (starts + n >= a + k)
        covered = np.r_[0, np.cumsum(np.cumsum(inside)[:-1] > 0)]  # covered words before each position
        full = covered[starts + n] - covered[starts] == n
        drop[first[d]:first[d + 1]] = contains | full
    return drop


def _exact_path(doc, words, n, min_exact):
    lengths = np.diff(doc)
    short = np.flatnonzero((lengths < n) & (lengths >= max(min_exact, 1)) & (lengths <= MAX_EXACT))
    key_of = pick(window_key, int(lengths[short].sum()))
    keys = np.array([key_of(words, doc[d], lengths[d]) for d in short], np.uint64)
    order = np.lexsort((short, keys))
    keys, short = keys[order], short[order]
    uniq, starts = np.unique(keys, return_index=True)
    off = np.append(starts, len(keys)).astype(np.int64)
    short_len = lengths[short[starts]].astype(np.int64) if len(uniq) else np.zeros(0, np.int64)
    masks: dict[int, int] = {}
    for d in short:
        first = int(words[doc[d]]) or 1
        masks[first] = masks.get(first, 0) | (1 << int(lengths[d]))
    first_keys = np.array(sorted(masks), np.uint64)
    first_masks = np.array([masks[k] for k in sorted(masks)], np.uint64)
    return uniq, off, short.astype(np.int32), short_len, first_keys, first_masks
