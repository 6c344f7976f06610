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
  item has numbers (or other constants glued to the same letters, `2x` for `5x`) is the same
  task with new constants (kind `template`, changed numbers kept);
- renamed: the item's function and parameter names (`idents`) not repeated, the rest mostly
  is: the names weigh NAME_FACTOR in the score (kind `renamed`). A pair found only through the
  n-grams over the words outside names (kind 2 matches) is a leak only as such a copy;
- pool rarity: an n-gram matched in at least `pool_min` distinct problems of the texts scanned
  together is the pool's boilerplate; a hit found mostly through such n-grams is near unless
  it covers POOL_KEEP of the item (`pool_common`).

A pair is a `leak` when its score reaches `min_score` and it shows the item's own content
(`evidence`: the whole item up to its constants, or a run of MIN_RUN words of it; a short
item's stem that a look-alike problem repeats is not enough); or when it repeats at least `min_words`
distinct words (numbers aside) with a score of at least `min_score / 2` (a long quote from a
long item); or when it repeats at least `min_grams` of the item's n-grams word for word (a long
verbatim run of low-information words: formulas, examples). Weaker pairs are `near`. Within one
text, a leak whose matched text lies mostly inside a stronger leak's is explained by it (a
shared doctest line of two HumanEval items) and dropped. The exact path (item shorter than n,
contained whole) is a leak.

A `Hit` carries the verdict, scores and the matched word spans in the text and in the item;
`hit_record` turns them into character spans with an excerpt, for the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.decontam.evidence import TextConstants, own_content
from curate.decontam.index import BenchIndex, token_spans
from curate.decontam.weights import tokens
from curate.text.arrow import text_array, valid_mask
from curate.text.jit import njit
from curate.text.small import pick

EXCERPT_CONTEXT = 160  # characters kept around the matched spans in a report record
MIN_SCORE = 0.3
MIN_WORDS = 20
MIN_GRAMS = 30
LOOK, SYNC = 4, 2  # alignment: skip up to LOOK words on either side to where SYNC words agree again
EXPLAINED = 0.5
RENAMED_SHARE = 0.5  # share of an item's numbers, and of its other words, a renamed copy repeats
MIN_GAP_ANCHORS = 2  # distinct windows over skipped names that make a pair worth judging
POOL_KEEP = 0.5  # a hit through pool boilerplate alone stays a leak from this score on
POOL_SHARE = 0.5  # share of a hit's matched n-grams that are the pool's boilerplate making it so
EDGE_SCORE = 0.8  # share of a hit's matched text inside a stronger hit's that makes it explained


@dataclass(frozen=True)
class Hit:
    """One benchmark item found in one text."""

    row: int
    item: int
    kind: str  # "ngram", "exact", "template" or "renamed"
    n: int
    share: float  # share of the item's indexed n-grams matched
    text_spans: tuple[tuple[int, int], ...]  # matched word intervals [start, end) in the text
    item_spans: tuple[tuple[int, int], ...]  # covered word intervals in the item
    score: float = 1.0  # information-weighted share of the item covered
    words: int = 0  # distinct item words (not numbers) the text repeats
    grams: int = 0  # item n-grams the text repeats word for word
    verdict: str = "leak"  # "leak" or "near"
    changed: tuple[tuple[int, int], ...] = ()  # template: (item word, text word) positions of changed numbers
    pool_common: bool = False  # found only through n-grams that many problems of the pool contain


def scan_texts(index: BenchIndex, texts: pa.Array | list[str], n: int, *, min_score: float = MIN_SCORE,
               min_words: int = MIN_WORDS, min_grams: int = MIN_GRAMS, near: bool = True,
               groups: np.ndarray | None = None, pool_min: int = 0, renamed: bool = True) -> list[Hit]:
    """Every hit of `index` (at this n) in `texts`, ordered by row then item; `near=False`
    leaves out the pairs below the thresholds. With `pool_min`, an n-gram matched in at least
    that many distinct `groups` (problems) of these texts is the pool's boilerplate
    (`pool_common`). `renamed=False` skips the search for copies with renamed names (`idents`)."""
    array = text_array(texts)
    doc, words, masked = tokens(array)
    docs, items, ipos, tpos, kinds, keys = index.by_n[n].scan(doc, words, masked, renamed=renamed)
    if not len(docs):
        return []
    order = np.lexsort((tpos, ipos, items, docs))
    docs, items, ipos, tpos, kinds, keys = (a[order] for a in (docs, items, ipos, tpos, kinds, keys))
    bounds = np.flatnonzero(np.diff(docs) | np.diff(items)) + 1
    judged: list[tuple[Hit, int, int]] = []
    constants = TextConstants(array)
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(docs)]):
        row = int(docs[lo])
        if not (kinds[lo:hi] != 2).any() and len(np.unique(ipos[lo:hi])) < MIN_GAP_ANCHORS:
            continue  # found only across skipped names, by too few windows to be a renamed copy
        text = slice(doc[row], doc[row + 1])
        hit = _judge(index, n, row, int(items[lo]), ipos[lo:hi], tpos[lo:hi], kinds[lo:hi],
                     words[text], masked[text] != words[text], constants, (min_score, min_words, min_grams))
        if hit.verdict == "leak" or (kinds[lo:hi] != 2).any():  # a gap-only near match is no evidence
            judged.append((hit, lo, hi))
    final = pool_rarity(judged, docs, keys, groups, pool_min)
    hits: list[Hit] = []
    for start, stop in _row_runs(final):
        hits += _attribute(final[start:stop], near)
    return hits


def pool_rarity(judged: list[tuple[Hit, int, int]], docs: np.ndarray, keys: np.ndarray, groups: np.ndarray | None,
                pool_min: int) -> list[Hit]:
    """The judged hits (each with its slice of the matches), those found mostly (POOL_SHARE)
    through the pool's boilerplate marked `pool_common` and, if leaks below POOL_KEEP, made near.

    An n-gram is boilerplate when at least `pool_min` distinct `groups` (problems) hold it in
    a pair that covers less than POOL_KEEP of its item, in a text that does not copy an item
    holding it: copies of an item (a contaminated pool holds many) do not make the item's own
    n-grams common, and the samples of one problem count once. Counted over matches only, so
    it costs nothing where nothing matches."""
    if not pool_min or groups is None or not judged:
        return [hit for hit, _, _ in judged]
    weak = [np.arange(lo, hi) for hit, lo, hi in judged if hit.score < POOL_KEEP]
    if not weak:
        return [hit for hit, _, _ in judged]
    at = np.concatenate(weak)
    strong = [np.arange(lo, hi) for hit, lo, hi in judged if hit.score >= POOL_KEEP]
    if strong:  # a text copying an item holds that item's n-grams: they count for no other item
        code = lambda idx: keys[idx] * (int(docs.max()) + 1) + docs[idx]  # noqa: E731
        at = at[~np.isin(code(at), code(np.concatenate(strong)))]
    pairs = np.unique(np.stack([keys[at], groups[docs[at]]]), axis=1)
    found, counts = np.unique(pairs[0], return_counts=True)
    common = found[(counts >= pool_min) & (found >= 0)]
    out = []
    for hit, lo, hi in judged:
        if hit.score < POOL_KEEP and np.isin(keys[lo:hi], common).mean() >= POOL_SHARE:
            hit = replace(hit, pool_common=True, **({"verdict": "near", "kind": "ngram", "changed": ()}
                                                   if hit.verdict == "leak" else {}))
        out.append(hit)
    return out


def problem_groups(table: pa.Table) -> np.ndarray:
    """Per row, a number naming its problem (equal problem texts, the samples of one problem,
    share it); rows without a `problem` column, or with none, are problems of their own."""
    if "problem" not in table.column_names:
        return np.arange(table.num_rows)
    # a chunked column is encoded as it is (one dictionary across its chunks), not copied whole
    encoded = pc.dictionary_encode(table.column("problem"))
    own = -1 - np.arange(table.num_rows)
    if not encoded.num_chunks:
        return own
    # the indices' buffers as they are (null slots hold anything; `own` replaces them): fill_null
    # and to_numpy would make pyarrow import pandas (0.35 s of a command's start-up)
    values, valid = [], []
    for chunk in encoded.chunks:
        codes = chunk.indices
        width = np.dtype(f"int{codes.type.bit_width}")
        raw = np.frombuffer(codes.buffers()[1], width, len(codes), codes.offset * width.itemsize)
        values.append(raw.astype(np.int64))
        valid.append(valid_mask(codes))
    return np.where(np.concatenate(valid), np.concatenate(values), own)


def _row_runs(hits: list[Hit]):
    """(start, stop) of each run of hits of one row (they come ordered by row)."""
    start = 0
    for k in range(1, len(hits) + 1):
        if k == len(hits) or hits[k].row != hits[start].row:
            yield start, k
            start = k


def _judge(index, n, row, item, ipos, tpos, kinds, text_words, text_numbers, constants, thresholds) -> Hit:
    length = int(index.item_words[item])
    if (kinds == 1).any():  # the exact path: whole item contained
        starts = np.unique(tpos[kinds == 1])
        return Hit(row, item, "exact", n, 1.0, _merge(starts, length), ((0, length),), 1.0, length, 1)
    grams = np.unique(ipos[kinds == 0])  # the item's indexed windows the text repeats
    total = int(index.by_n[n].item_total[item])
    names = index.names_of(item) if len(index.item_names) else np.zeros(length, np.bool_)
    align = pick(_align, len(text_words), 2e-5)
    item_constants, glued = index.constants_of(item)
    text_constants = constants.of(row, text_numbers) if glued else 2 * text_numbers.view(np.int8)
    state, text_at = align(index.words_of(item), item_constants, names, text_words, text_constants,
                           ipos.astype(np.int64), tpos.astype(np.int64), n, LOOK, SYNC)
    equal, changed = state == 1, state >= 2
    mask = equal | changed
    score, words = index.coverage(item, equal)
    renamed = _renamed(index, item, state)
    if renamed:
        score = max(score, index.coverage(item, equal, renamed=True)[0])
    min_score, min_words, min_grams = thresholds
    exact_grams = _exact_windows(equal, n)
    own = renamed or min_score <= 0  # else checked only when the share alone would flag the pair
    leak = (words >= min_words and score >= min_score / 2) or exact_grams >= min_grams or (
        score >= min_score and (own or own_content(index.weights_of(item), index.digits_of(item), state)))
    leak = leak and (renamed or (kinds == 0).any())  # found only across skipped names: a renamed copy or nothing
    # a changed number at the item's edge shows a template only when the rest is all there (else
    # a quote may just stop before the item's last constant, the text going on with its own)
    kind = "template" if leak and ((state == 2).any() or (state == 3).any() and score >= EDGE_SCORE) else "ngram"
    kind = "renamed" if leak and renamed else kind
    spans = _runs(_text_mask(mask, text_at, tpos, n, len(text_words)))
    moved = tuple((int(i), int(text_at[i])) for i in np.flatnonzero(changed)) if kind == "template" else ()
    return Hit(row, item, kind, n, round(min(len(grams) / total, 1.0), 4) if total else 0.0, spans, _runs(mask),
               round(score, 4), words, exact_grams, "leak" if leak else "near", moved)


def _renamed(index: BenchIndex, item: int, state: np.ndarray) -> bool:
    """A copy with other names: some of the item's function or parameter names (`idents`) are
    not repeated, no number is changed, and most of its numbers and of its other words are
    repeated (a look-alike item of the same shape differs in its examples or its prose)."""
    names, numbers, others = index.word_classes(item)
    if not len(names) or (state[names] == 1).all() or (state >= 2).any():
        return False
    return bool((state[others] == 1).mean() >= RENAMED_SHARE
                and (not len(numbers) or (state[numbers] == 1).mean() >= RENAMED_SHARE))


def _exact_windows(equal: np.ndarray, n: int) -> int:
    """How many n-word windows of the item the text repeats word for word."""
    if len(equal) < n:
        return 0
    runs = np.r_[0, np.cumsum(equal)]
    return int(((runs[n:] - runs[:-n]) == n).sum())


@njit(cache=True, nogil=True)
def _agree(iw, tw, i, t, step, sync):
    """True when `sync` item and text words from (i, t) on, in direction `step`, are equal."""
    for k in range(sync):
        a, b = i + k * step, t + k * step
        if a < 0 or a >= len(iw) or b < 0 or b >= len(tw) or iw[a] != tw[b]:
            return False
    return True


@njit(cache=True, nogil=True)
def _walk(iw, inum, iname, tw, tnum, i, t, step, look, sync, state, text_at, pending, claimed):
    """Follow the item through the text from (i, t) in direction `step`: equal words, and a
    constant facing one of its kind (`inum`, `tnum`: 2 a number, 1 a word with digits glued to
    letters, `19x`), advance both; elsewhere skip at most `look` words on either side
    to the nearest point where `sync` words agree again (a renamed identifier, an inserted
    word), or stop. An item name facing a word that is not a number is a renamed name: the walk steps over
    the name's words and one text word. A changed number counts only once an equal word (or the item's edge)
    follows it: where a quote ends, the text's next number is not the item's constant changed. A text word
    already aligned to another item word stops the walk (look-alike example lines)."""
    waiting = 0
    while 0 <= i < len(iw) and 0 <= t < len(tw):
        if claimed[t] >= 0 and claimed[t] != i:
            return
        if iw[i] == tw[t]:
            state[i] = 1
            text_at[i] = t
            claimed[t] = i
            for k in range(waiting):
                if state[pending[k, 0]] == 0:
                    state[pending[k, 0]] = 2
                    text_at[pending[k, 0]] = pending[k, 1]
                    claimed[pending[k, 1]] = pending[k, 0]
            waiting = 0
        elif inum[i] and inum[i] == tnum[t]:
            pending[waiting, 0] = i
            pending[waiting, 1] = t
            waiting += 1
        elif iname[i] and tnum[t] != 2:
            while 0 <= i < len(iw) and iname[i] and iw[i] != tw[t]:
                i += step
            t += step
            continue
        else:
            found = False
            for total in range(1, 2 * look + 1):
                for da in range(max(0, total - look), min(total, look) + 1):
                    if _agree(iw, tw, i + da * step, t + (total - da) * step, step, sync):
                        i += da * step
                        t += (total - da) * step
                        found = True
                        break
                if found:
                    break
            if not found:
                return
            continue
        i += step
        t += step
    if not 0 <= i < len(iw):  # the item's edge: its last (first) constants were changed too
        for k in range(waiting):
            if state[pending[k, 0]] == 0 and claimed[pending[k, 1]] < 0:
                state[pending[k, 0]] = 3
                text_at[pending[k, 0]] = pending[k, 1]
                claimed[pending[k, 1]] = pending[k, 0]


@njit(cache=True, nogil=True)
def _align(iw, inum, iname, tw, tnum, anchor_i, anchor_t, n, look, sync):
    """Per item word: 0 unmatched, 1 equal, 2 a number the text replaced by another number
    (3: at the item's edge, weaker evidence); and the text position of each. Walks start from
    every matched window not yet walked through, the windows equal word for word first."""
    state = np.zeros(len(iw), np.int8)
    text_at = np.full(len(iw), -1, np.int64)
    pending = np.empty((len(iw) + 1, 2), np.int64)
    claimed = np.full(len(tw), -1, np.int64)
    for exact_first in (True, False):
        for a in range(len(anchor_i)):
            i, t = anchor_i[a], anchor_t[a]
            if _agree(iw, tw, i, t, 1, n) != exact_first or (state[i] == 1 and text_at[i] == t):
                continue
            _walk(iw, inum, iname, tw, tnum, i, t, 1, look, sync, state, text_at, pending, claimed)
            _walk(iw, inum, iname, tw, tnum, i - 1, t - 1, -1, look, sync, state, text_at, pending, claimed)
    return state, text_at


def _text_mask(mask, text_at, tpos, n, size) -> np.ndarray:
    """Text words behind an item mask (aligned words plus every matched window)."""
    edges = np.zeros(size + 1, np.int64)  # +1 where a matched window starts, -1 where it ends
    np.add.at(edges, tpos, 1)
    np.add.at(edges, np.minimum(tpos + n, size), -1)
    out = np.cumsum(edges[:-1]) > 0
    at = text_at[mask & (text_at >= 0)]
    out[at[at < size]] = True
    return out


def _attribute(hits: list[Hit], near: bool) -> list[Hit]:
    """One text's hits: a leak whose matched text lies mostly inside a stronger leak's is
    explained by it and dropped, as are near hits so explained; `near=False` drops all near."""
    if len(hits) < 2:
        return [h for h in hits if near or h.verdict == "leak"]
    order = sorted(range(len(hits)), key=lambda k: (hits[k].verdict != "leak", -hits[k].score, hits[k].item))
    size = max((b for h in hits for _, b in h.text_spans), default=0)
    explained = np.full(size, -1.0)  # text word -> score of the strongest leak covering it
    keep = []
    for k in order:
        hit = hits[k]
        positions = np.zeros(size, bool)
        for a, b in hit.text_spans:
            positions[a:b] = True
        inside = np.count_nonzero(explained[positions] > hit.score) / max(np.count_nonzero(positions), 1)
        if inside >= EXPLAINED and hit.kind != "exact":  # ties stay: items with the same words
            continue
        if hit.verdict == "leak":
            explained[positions] = np.maximum(explained[positions], hit.score)
        if hit.verdict == "leak" or near:
            keep.append(k)
    return [hits[k] for k in sorted(keep)]


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
    item_tokens = index.token_spans_of(hit.item)
    text_tokens = token_spans(text, limit=max(t for _, t in hit.changed) + 1)
    return [[problem[slice(*item_tokens[i])], text[slice(*text_tokens[t])]] for i, t in hit.changed]


def char_spans(text: str, word_spans: tuple[tuple[int, int], ...], tokens: list | None = None) -> list[list[int]]:
    """Word intervals -> character intervals of `text` (whose word spans `tokens` may give)."""
    if tokens is None:
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
        "words": hit.words, "grams": hit.grams, "pool_common": hit.pool_common,
        "changed_numbers": _changed(index, hit, text),
        "excerpt": text[lo:hi], "excerpt_start": lo, "excerpt_spans": [[a - lo, b - lo] for a, b in spans],
        "item_problem": item.problem,
        "item_spans": char_spans(item.problem, hit.item_spans, index.token_spans_of(hit.item)),
    }
