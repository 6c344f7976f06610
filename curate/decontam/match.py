"""Decide which benchmark items a batch of texts contains, and where.

`scan_texts` tokenises a column once (`curate.text.words.word_hashes`) and runs the compiled scan of
`curate.decontam.index`; every matched window becomes a (text, item, item position, text
position) row. Matches are then grouped per (text, item) and judged:

- exact path (item shorter than n): a hit; the whole item is covered.
- n-gram path: the share of the item's indexed n-grams seen must reach `min_share`, and a
  changed constant vetoes the hit (`veto_changed_numbers`): when a number of the item lies in a
  run of item words no matched window covers, and the text, aligned through the neighbouring
  match, repeats every other word of that run but has another number there, it is the same template
  with other constants: another problem (the failure of digit-normalising decontaminators).
  A partial quote continues with other words and still matches.

A `Hit` carries the share, the matched word spans in the text and in the item; `hit_record`
turns them into character spans with an excerpt, for the reports.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from curate.decontam.index import BenchIndex, number_positions, token_spans
from curate.text.words import word_hashes

EXCERPT_CONTEXT = 160  # characters kept around the matched spans in a report record


@dataclass(frozen=True)
class Hit:
    """One benchmark item found in one text."""

    row: int
    item: int
    kind: str  # "ngram" or "exact"
    n: int
    share: float
    text_spans: tuple[tuple[int, int], ...]  # matched word intervals [start, end) in the text
    item_spans: tuple[tuple[int, int], ...]  # covered word intervals in the item


def scan_texts(index: BenchIndex, texts: pa.Array | list[str], n: int, *, min_share: float = 0.0,
               veto_changed_numbers: bool = True) -> list[Hit]:
    """Every hit of `index` (at this n) in `texts`, ordered by row then item."""
    array = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    doc, words = word_hashes(array)
    docs, items, ipos, tpos, kinds = index.by_n[n].scan(doc.astype(np.int64), words)
    if not len(docs):
        return []
    order = np.lexsort((tpos, ipos, items, docs))
    docs, items, ipos, tpos, kinds = docs[order], items[order], ipos[order], tpos[order], kinds[order]
    bounds = np.flatnonzero(np.diff(docs) | np.diff(items)) + 1
    hits = []
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(docs)]):
        row = int(docs[lo])
        numbers = functools.partial(_text_numbers, array, row)
        hit = _judge(index, n, row, int(items[lo]), ipos[lo:hi], tpos[lo:hi], kinds[lo:hi],
                     min_share, veto_changed_numbers, words[doc[row]:doc[row + 1]], numbers)
        if hit is not None:
            hits.append(hit)
    return hits


def _judge(index, n, row, item, ipos, tpos, kinds, min_share, veto, text_words, text_numbers) -> Hit | None:
    length = int(index.item_words[item])
    if kinds.any():  # the exact path: whole item contained
        starts = np.unique(tpos[kinds == 1])
        return Hit(row, item, "exact", n, 1.0, _merge(starts, length), ((0, length),))
    total = int(index.by_n[n].item_total[item])
    share = len(np.unique(ipos)) / total if total else 0.0
    if share < min_share or share == 0.0:
        return None
    covered = np.zeros(length, bool)
    for p in np.unique(ipos):
        covered[p:p + n] = True
    if veto and _changed_number(covered, index.numbers(item), index.words_of(item), text_words,
                                ipos, tpos, n, text_numbers):
        return None
    return Hit(row, item, "ngram", n, round(share, 4), _merge(np.unique(tpos), n), _runs(covered))


@functools.lru_cache(maxsize=64)
def _numbers_of(text: str) -> frozenset[int]:
    return frozenset(number_positions(text))


def _text_numbers(array, row: int) -> frozenset[int]:
    """Word positions of numbers in text `row` (tokenised only when a veto needs it)."""
    return _numbers_of(array[row].as_py() or "")


def _changed_number(covered, numbers, item_words, text_words, ipos, tpos, n, text_numbers) -> bool:
    """True when the text follows the item's wording across an uncovered gap but states another
    number in it: the same template with other constants.

    A gap is a maximal run of uncovered item words holding a number. It is aligned to the text
    through a matched window next to it (left side, or right side at the item's start); the veto
    needs every non-number word of the gap that the text reaches to be equal, and a number to
    face another number. A partial quote continues with other words, so it does not veto; at
    the item's edge a lone differing number is not enough evidence (a quote that stops before
    a final doctest output followed by some number), an equal word after it is."""
    last = len(covered) - 1
    for p in numbers:
        if covered[p]:
            continue
        lo, hi = p, p
        while lo > 0 and not covered[lo - 1]:
            lo -= 1
        while hi < last and not covered[hi + 1]:
            hi += 1
        if lo == 0 and hi == last:
            continue
        anchor = lo - 1 if lo > 0 else hi + 1  # a covered item word next to the gap
        w = int(np.flatnonzero((ipos <= anchor) & (anchor < ipos + n))[0])
        shift = int(tpos[w]) - int(ipos[w])  # text position = item position + shift
        equal = _same_but_numbers(item_words, text_words, range(lo, hi + 1), shift, set(numbers), text_numbers)
        # inside the item the match itself resumes after the gap; at an edge, some equal word
        # past the number must show that the text goes on with the item's wording
        if equal is not None and (0 < lo and hi < last or equal > 0):
            return True
    return False


def _same_but_numbers(item_words, text_words, positions, shift, numbers, text_numbers) -> int | None:
    """The count of equal aligned words when every aligned non-number word is equal and some
    item number faces another number in the text; else None."""
    changed, equal = [], 0
    for i in positions:
        t = i + shift
        if t < 0 or t >= len(text_words):
            continue
        if i in numbers:
            if item_words[i] != text_words[t]:
                changed.append(t)
        elif item_words[i] != text_words[t]:
            return None
        else:
            equal += 1
    return equal if changed and all(t in text_numbers() for t in changed) else None


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
        "kind": hit.kind, "n": hit.n, "share": hit.share,
        "excerpt": text[lo:hi], "excerpt_start": lo, "excerpt_spans": [[a - lo, b - lo] for a, b in spans],
        "item_problem": item.problem, "item_spans": char_spans(item.problem, hit.item_spans),
    }
