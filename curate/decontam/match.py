"""Decide which benchmark items a batch of texts contains, how strongly, and where.

`scan_texts` tokenises a column once (`curate.text.words.word_hashes`) and runs the compiled scan of
`curate.decontam.index`; every matched window becomes a (text, item, item position, text
position) row. Matches are grouped per (text, item) and scored by what they share:

- coverage: the item words covered by matched windows, extended along the same alignment
  (`_align`: where a matched window puts the item in the text, every run of at least n agreeing
  words counts, so n-grams dropped as boilerplate inside a real copy still count);
- score: the covered words' information (`index.word_weights`: rarity across the benchmark's
  items, numbers and number words discounted) over the whole item's information;
- template: a run that agrees everywhere except that the text has other numbers where the
  item has numbers is the same task with new constants (kind `template`, changed numbers kept).

A pair is a `leak` when its score reaches `min_score`, or when it covers at least `min_words`
words with a score of at least `min_score / 3` (a long quote from a long item); weaker pairs
are `near`. Within one text, a leak whose matched text lies mostly inside a stronger leak's
matched text is explained by it (a shared doctest line of two HumanEval items) and dropped.
The exact path (item shorter than n, contained whole) is a leak.

A `Hit` carries the verdict, scores and the matched word spans in the text and in the item;
`hit_record` turns them into character spans with an excerpt, for the reports.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from curate.decontam.index import BenchIndex, number_positions, token_spans
from curate.text.words import word_hashes

EXCERPT_CONTEXT = 160  # characters kept around the matched spans in a report record
MIN_SCORE = 0.3
MIN_WORDS = 20
EXPLAINED = 0.5  # share of a hit's matched text inside a stronger hit's that makes it explained


@dataclass(frozen=True)
class Hit:
    """One benchmark item found in one text."""

    row: int
    item: int
    kind: str  # "ngram", "exact" or "template"
    n: int
    share: float  # share of the item's indexed n-grams matched
    text_spans: tuple[tuple[int, int], ...]  # matched word intervals [start, end) in the text
    item_spans: tuple[tuple[int, int], ...]  # covered word intervals in the item
    score: float = 1.0  # information-weighted share of the item covered
    words: int = 0  # item words covered
    grams: int = 0  # distinct item n-grams matched
    verdict: str = "leak"  # "leak" or "near"
    changed: tuple[tuple[int, int], ...] = ()  # template: (item word, text word) positions of changed numbers


def scan_texts(index: BenchIndex, texts: pa.Array | list[str], n: int, *, min_score: float = MIN_SCORE,
               min_words: int = MIN_WORDS, near: bool = True) -> list[Hit]:
    """Every hit of `index` (at this n) in `texts`, ordered by row then item; `near=False`
    leaves out the pairs below the thresholds."""
    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    doc, words = word_hashes(array)
    docs, items, ipos, tpos, kinds = index.by_n[n].scan(doc.astype(np.int64), words)
    if not len(docs):
        return []
    order = np.lexsort((tpos, ipos, items, docs))
    docs, items, ipos, tpos, kinds = docs[order], items[order], ipos[order], tpos[order], kinds[order]
    bounds = np.flatnonzero(np.diff(docs) | np.diff(items)) + 1
    hits: list[Hit] = []
    row_start = 0
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(docs)]):
        row = int(docs[lo])
        if hits and hits[row_start].row != row:
            hits[row_start:] = _attribute(hits[row_start:], near)
            row_start = len(hits)
        numbers = functools.partial(_text_numbers, array, row)
        hits.append(_judge(index, n, row, int(items[lo]), ipos[lo:hi], tpos[lo:hi], kinds[lo:hi],
                           words[doc[row]:doc[row + 1]], numbers, min_score, min_words))
    hits[row_start:] = _attribute(hits[row_start:], near)
    return hits


def _judge(index, n, row, item, ipos, tpos, kinds, text_words, text_numbers, min_score, min_words) -> Hit:
    length = int(index.item_words[item])
    if kinds.any():  # the exact path: whole item contained
        starts = np.unique(tpos[kinds == 1])
        return Hit(row, item, "exact", n, 1.0, _merge(starts, length), ((0, length),), 1.0, length, 1)
    grams = np.unique(ipos)
    total = int(index.by_n[n].item_total[item])
    covered = np.zeros(length, bool)
    for p in grams:
        covered[p:p + n] = True
    state, text_at = _alignment(index, item, n, ipos, tpos, text_words, text_numbers)
    exact = covered | (state == 1)
    changed = (state == 2) & ~exact
    weights = index.weights_of(item)
    kind = "template" if changed.any() else "ngram"
    mask = exact | changed
    score = _weighted_share(weights, mask)
    words = int(mask.sum())
    leak = score >= min_score or (words >= min_words and score >= min_score / 3)
    spans = _runs(_text_mask(mask, text_at, tpos, n, len(text_words)))
    moved = tuple((int(i), int(text_at[i])) for i in np.flatnonzero(changed))
    return Hit(row, item, kind if leak else "ngram", n, round(len(grams) / total, 4) if total else 0.0, spans,
               _runs(mask), round(score, 4), words, len(grams), "leak" if leak else "near", moved if leak else ())


def _weighted_share(weights: np.ndarray, mask: np.ndarray) -> float:
    total = float(weights.sum())
    if total <= 0.0:  # an item of only common words: plain share
        return float(mask.mean()) if len(mask) else 0.0
    return float(weights[mask].sum()) / total


def _alignment(index, item, n, ipos, tpos, text_words, text_numbers):
    """Per item word: 0 unmatched, 1 equal, 2 a number the text replaced by another number,
    over every alignment a matched window suggests; and the text position of each word."""
    item_numbers = index.numbers(item)
    length = int(index.item_words[item])
    inum = np.zeros(length, np.bool_)
    inum[[p for p in item_numbers if p < length]] = True
    tnum = np.zeros(len(text_words), np.bool_)
    if inum.any():
        positions = [p for p in text_numbers() if p < len(text_words)]
        tnum[positions] = True
    shifts = np.unique(tpos - ipos).astype(np.int64)
    return _align(index.words_of(item), inum, text_words, tnum, shifts, n)


@numba.njit(cache=True, nogil=True)
def _align(iw, inum, tw, tnum, shifts, min_run):
    """Runs of >= min_run item words that the text repeats at one of `shifts` (text position =
    item position + shift), a number facing a number counting as agreeing; a run needs at
    least half its words equal."""
    length = len(iw)
    state = np.zeros(length, np.int8)
    text_at = np.full(length, -1, np.int64)
    for s in shifts:
        i = 0
        while i < length:
            j, equal = i, 0
            while j < length and 0 <= j + s < len(tw):
                same = iw[j] == tw[j + s]
                if not (same or (inum[j] and tnum[j + s])):
                    break
                equal += 1 if same else 0
                j += 1
            if j - i >= min_run and 2 * equal >= j - i:
                for k in range(i, j):
                    if iw[k] == tw[k + s]:
                        state[k] = 1
                        text_at[k] = k + s
                    elif state[k] == 0:
                        state[k] = 2
                        text_at[k] = k + s
            i = max(j, i + 1)
    return state, text_at


def _text_mask(mask, text_at, tpos, n, size) -> np.ndarray:
    """Text words behind an item mask (aligned words plus every matched window)."""
    out = np.zeros(size, bool)
    at = text_at[mask & (text_at >= 0)]
    out[at[at < size]] = True
    for t in np.unique(tpos):
        out[t:t + n] = True
    return out


def _attribute(hits: list[Hit], near: bool) -> list[Hit]:
    """One text's hits: a leak whose matched text lies mostly inside a stronger leak's is
    explained by it and dropped, as are near hits so explained; `near=False` drops all near."""
    order = sorted(range(len(hits)), key=lambda k: (hits[k].verdict != "leak", -hits[k].score, hits[k].item))
    explained: set[int] = set()
    keep = []
    for k in order:
        hit = hits[k]
        positions = {t for a, b in hit.text_spans for t in range(a, b)}
        inside = len(positions & explained) / max(len(positions), 1)
        if explained and inside >= EXPLAINED and hit.kind != "exact":
            continue
        if hit.verdict == "leak":
            explained |= positions
        if hit.verdict == "leak" or near:
            keep.append(k)
    return [hits[k] for k in sorted(keep)]


@functools.lru_cache(maxsize=64)
def _numbers_of(text: str) -> frozenset[int]:
    return frozenset(number_positions(text))


def _text_numbers(array, row: int) -> frozenset[int]:
    """Word positions of numbers in text `row` (tokenised only when an alignment needs it)."""
    return _numbers_of(array[row].as_py() or "")


def _merge(starts: np.ndarray, width: int) -> tuple[tuple[int, int], ...]:
    spans: list[list[int]] = []
    for s in starts.tolist():
        if spans and s <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], s + width)
        else:
            spans.append([s, s + width])
    return tuple((a, b) for a, b in spans)


def _runs(mask: np.ndarray) -> tuple[tuple[int, int], ...]:
    padded = np.zeros(len(mask) + 2, np.int8)
    padded[1:-1] = mask
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return tuple((int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]))


def _changed(index: BenchIndex, hit: Hit, text: str) -> list[list[str]]:
    """[item number, text number] for each constant a template copy changed."""
    if not hit.changed:
        return []
    problem = index.items[hit.item].problem
    item_tokens = token_spans(problem, limit=max(i for i, _ in hit.changed) + 1)
    text_tokens = token_spans(text, limit=max(t for _, t in hit.changed) + 1)
    return [[problem[slice(*item_tokens[i])], text[slice(*text_tokens[t])]] for i, t in hit.changed]


def char_spans(text: str, word_spans: tuple[tuple[int, int], ...]) -> list[list[int]]:
    """Word intervals -> character intervals of `text`."""
    tokens = token_spans(text, limit=max((b for _, b in word_spans), default=0))
    out = []
    for a, b in word_spans:
        if a < len(tokens):
            out.append([tokens[a][0], tokens[min(b, len(tokens)) - 1][1]])
    return out


def hit_record(index: BenchIndex, hit: Hit, text: str, *, field: str, row_id: str | None,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-able report record: ids, share, an excerpt of the text and both highlighted spans."""
    item = index.items[hit.item]
    spans = char_spans(text, hit.text_spans)
    lo = max(0, min(a for a, _ in spans) - EXCERPT_CONTEXT) if spans else 0
    hi = min(len(text), max(b for _, b in spans) + EXCERPT_CONTEXT) if spans else 0
    return {
        "benchmark": item.benchmark, "item_id": item.id, "row_id": row_id, "field": field, **(extra or {}),
        "verdict": hit.verdict, "kind": hit.kind, "n": hit.n, "score": hit.score, "share": hit.share,
        "words": hit.words, "grams": hit.grams, "changed_numbers": _changed(index, hit, text),
        "excerpt": text[lo:hi], "excerpt_start": lo, "excerpt_spans": [[a - lo, b - lo] for a, b in spans],
        "item_problem": item.problem, "item_spans": char_spans(item.problem, hit.item_spans),
    }
