"""The verdict on one (text, benchmark item) pair of `curate.decontam.match`: align the item
through the text from the matched windows, score what the text repeats, and call it leak or near.

Split from `match` (which groups the raw matches into pairs, applies pool rarity and attributes
a text's hits) so that the per-pair steps sit together; `match` documents the rules. A scan of a
real corpus judges few pairs, but a contaminated one judges one per copy, so a pair's integer
facts come from compiled code: `anchor_facts` over the matches of every pair of a scan at once,
then one `_pair_facts` call per judged pair (the alignment, its `_tally`, the `_text_spans`
and the distinct item words repeated), working over the pair's stretch of text rather than
the whole text; what judging reads of an item is gathered once per item (`ItemView`). The
information scores stay NumPy sums over the same arrays (`weights.seen_score`, `evidence`), so
their rounding, and every verdict, is what it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from curate.decontam import native
from curate.decontam.align import align
from curate.decontam.evidence import MAX_MISSING, MIN_RUN, missing_share, own_content, quoted
from curate.decontam.weights import NAME_FACTOR, NUMBER, NUMBER_FACTOR, seen_score
from curate.text.jit import njit
from curate.text.small import numpy_twin, pick

LOOK, SYNC = 4, 2  # alignment: skip up to LOOK words on either side to where SYNC words agree again
RENAMED_SHARE = 0.5  # share of an item's numbers, and of its other words, a renamed copy repeats
EDGE_SCORE = 0.8  # a changed number at the item's edge makes a template from this score on
TEMPLATE_TEXT = 0.5  # share of a text's words a short item's template copy must be (`_exact`)


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


class ItemView(NamedTuple):
    """What judging a pair reads of its item, gathered once per item (`item_view`): per item word
    its hash, constant class (`index.constants_of`), name and number flags and distinct-word id;
    per distinct word whether it is not a number, its weight, and the weights of a renamed copy
    (names at NAME_FACTOR); the two weights' totals; whether the item has glued constants."""

    words: np.ndarray
    constants: np.ndarray
    names: np.ndarray
    numbers: np.ndarray
    types: np.ndarray
    plain: np.ndarray
    weights: np.ndarray
    renamed_weights: np.ndarray
    total: float
    renamed_total: float
    glued: bool


def item_view(index, item: int) -> ItemView:
    """The `ItemView` of one item (cached in the index: the same items are judged again and again)."""
    return index.cached(f"view{item}", lambda: _make_view(index, item))


def _make_view(index, item: int) -> ItemView:
    length = int(index.item_words[item])
    names = index.names_of(item) if len(index.item_names) else np.zeros(length, np.bool_)
    constants, glued = index.constants_of(item)
    types, weights, plain, type_names = index.distinct_words(item)
    renamed = weights * np.where(type_names, NAME_FACTOR, 1.0)  # as `index.coverage(renamed=True)` weighs them
    return ItemView(index.words_of(item), constants, names, index.numbers_of(item), types.astype(np.int64), plain,
                    weights, renamed, float(weights.sum()), float(renamed.sum()), glued)


NO_CONSTANTS = np.zeros(0, np.int8)  # `_pair_facts`: read the text's numbers from its masked words


def judge(index, n, row, item, ipos, tpos, kinds, anchors, text_words, text_masked, constants, thresholds) -> Hit:
    """The hit of one item in one text, from its matches (`ipos` ascending: `match` sorts them)
    and their `anchor_facts`, the text's words and the same with numbers masked
    (`weights.tokens`); `thresholds` = (min_score, min_words, min_grams)."""
    exact, direct, grams, _ = anchors  # grams: the item's indexed windows the text repeats
    if exact:  # the exact path: whole item contained (constants masked)
        return _exact(index, n, row, item, np.unique(tpos[kinds == 1]), text_words, thresholds[0])
    total = int(index.by_n[n].item_total[item])
    view = item_view(index, item)
    text_constants = constants.of(row, text_masked == NUMBER) if view.glued else NO_CONSTANTS
    state, text_at, seen, packed = pick(_pair_facts, len(text_words) + len(tpos), 2e-5)(
        view.words, view.constants, view.names, view.numbers, view.types, view.plain, text_words, text_masked,
        text_constants, ipos, tpos, n, LOOK, SYNC)
    flat = packed.tolist()
    exact_grams, twos, threes, *classes = flat[:9]
    words, edges = flat[9], 11 + flat[10]
    score = seen_score(view.weights, view.total, seen)
    renamed = _renamed(*classes) and not (twos or threes)
    if renamed:
        score = max(score, seen_score(view.renamed_weights, view.renamed_total, seen))
    min_score, min_words, min_grams = thresholds
    own = renamed or min_score <= 0  # else checked only when the share alone would flag the pair
    leak = (words >= min_words and score >= min_score / 2) or exact_grams >= min_grams or (
        score >= min_score and (own or own_content(index.weights_of(item), index.digits_of(item), state))) or (
        exact_grams > MIN_RUN - n and quoted(state) and _quote_score(view, seen) >= min_score)
    leak = leak and (renamed or direct)  # found only across skipped names: a renamed copy or nothing
    # a changed number at the item's edge shows a template only when the rest is all there (else
    # a quote may just stop before the item's last constant, the text going on with its own):
    # a high score, or every word without digits repeated (its constants, `19x`, may weigh most)
    edge = threes and (score >= EDGE_SCORE or leak and not twos and
                       missing_share(index.weights_of(item), index.digits_of(item), state) <= MAX_MISSING)
    kind = "template" if leak and (twos or edge) else "ngram"
    kind = "renamed" if leak and renamed else kind
    moved = tuple((int(i), int(text_at[i])) for i in np.flatnonzero(state >= 2)) if kind == "template" else ()
    return Hit(row, item, kind, n, round(min(grams / total, 1.0), 4) if total else 0.0, _pairs(flat[edges:]),
               _pairs(flat[11:edges]), round(score, 4), words, exact_grams, "leak" if leak else "near", moved)


def _quote_score(view: ItemView, seen: np.ndarray) -> float:
    """The score of the distinct item words a pair repeats (`seen`) with the item's numbers
    weighing fully (`evidence.quoted`)."""
    weights = np.where(view.plain, view.weights, view.weights / NUMBER_FACTOR)
    return seen_score(weights, float(weights.sum()), seen)


def _exact(index, n, row, item, starts, text_words, min_score) -> Hit:
    """The hit of an item shorter than n found whole, its constants masked (`starts`: where in
    the text): `exact` where the words are the item's; else the item with other constants, a
    `template` leak (its score reaching `min_score`) only in a text that is mostly that
    (TEMPLATE_TEXT of its words): a short item's template inside a longer text (`find 2^10+1
    mod 11` in a trace) is a step of another task more often than the item."""
    length = int(index.item_words[item])
    item_words = index.words_of(item)
    same = [t for t in starts.tolist() if np.array_equal(text_words[t:t + length], item_words)]
    if same:
        return Hit(row, item, "exact", n, 1.0, _merge(np.array(same), length), ((0, length),), 1.0, length, 1)
    start = int(starts[0])
    equal = text_words[start:start + length] == item_words
    score, words = index.coverage(item, equal)
    leak = min_score <= 0 or score >= min_score and length >= TEMPLATE_TEXT * len(text_words)
    moved = tuple((i, start + i) for i in np.flatnonzero(~equal).tolist()) if leak else ()
    return Hit(row, item, "template" if leak else "ngram", n, 1.0, ((start, start + length),), ((0, length),),
               round(score, 4), words, 0, "leak" if leak else "near", moved)


@njit(cache=True, nogil=True)
def _pair_facts(iw, inum, iname, numbers, types, plain, tw, tmasked, tconst, anchor_i, anchor_t, n, look, sync):
    """Everything a pair's verdict reads from its alignment, in one kernel call: (the alignment's
    state and text position per item word (`align.align`), the distinct item words it repeats equal,
    [the 9 facts of `_tally`, how many of those distinct words are not numbers, the count of
    item run edges, the item run edges, the text run edges (`_text_spans`)]). `tconst`: the
    text's constant classes (`evidence.TextConstants`), or empty when the item has no glued
    constants (`align._constant`). Its work is the item's and the pair's stretch of text, not the
    whole text: a long reasoning trace costs no more per pair than a short one, but for
    `align.align`'s table of claimed text words."""
    state, text_at = align(iw, inum, iname, tw, tmasked, tconst, anchor_i, anchor_t, n, look, sync)
    item_edges, facts = _tally(state, n, iname, numbers)
    text_edges = _text_spans(state, text_at, anchor_t, n, len(tw))
    seen = np.zeros(len(plain), np.bool_)
    for i in range(len(state)):
        if state[i] == 1:
            seen[types[i]] = True
    words = 0
    for k in range(len(seen)):
        if seen[k] and plain[k]:
            words += 1
    packed = np.empty(11 + len(item_edges) + len(text_edges), np.int64)
    packed[:9] = facts
    packed[9] = words
    packed[10] = len(item_edges)
    packed[11:11 + len(item_edges)] = item_edges
    packed[11 + len(item_edges):] = text_edges
    return state, text_at, seen, packed


@njit(cache=True, nogil=True)
def anchor_facts(ipos, kinds, starts):
    """Per pair (its matches ipos[starts[p]:starts[p + 1]], ascending; kinds 0 an n-gram, 1 the
    exact path, 2 an n-gram over a skipped name): [any on the exact path, any not over a skipped
    name, distinct item positions of the n-grams, distinct item positions of all], for every
    pair of a scan in one pass instead of a NumPy call (or a kernel call) each."""
    out = np.zeros((len(starts) - 1, 4), np.int64)
    for p in range(len(starts) - 1):
        exact, direct, grams, distinct = 0, 0, 0, 0
        last = -1
        for k in range(starts[p], starts[p + 1]):
            if kinds[k] == 1:
                exact = 1
            if kinds[k] != 2:
                direct = 1
            if k == starts[p] or ipos[k] != ipos[k - 1]:
                distinct += 1
            if kinds[k] == 0 and (grams == 0 or ipos[k] != last):
                grams += 1
                last = ipos[k]
        out[p, 0], out[p, 1], out[p, 2], out[p, 3] = exact, direct, grams, distinct
    return out


ANCHOR_TWIN_COST = 1e-7  # seconds per match of anchor_facts' NumPy twin


@numpy_twin(anchor_facts)
def _anchor_facts_numpy(ipos, kinds, starts):
    pairs = len(starts) - 1
    pair = np.repeat(np.arange(pairs), np.diff(starts))  # each match's pair
    new_pair = np.r_[True, pair[1:] != pair[:-1]] if len(pair) else np.zeros(0, np.bool_)
    moved = new_pair | np.r_[True, ipos[1:] != ipos[:-1]][:len(pair)]
    grams = np.flatnonzero(kinds == 0)  # an n-gram counts where its pair's previous n-gram has another position
    first = np.r_[True, pair[grams[1:]] != pair[grams[:-1]]] if len(grams) else np.zeros(0, np.bool_)
    counted = grams[first | np.r_[True, ipos[grams[1:]] != ipos[grams[:-1]]][:len(grams)]]
    out = np.zeros((pairs, 4), np.int64)
    out[:, 0] = np.bincount(pair[kinds == 1], minlength=pairs) > 0
    out[:, 1] = np.bincount(pair[kinds != 2], minlength=pairs) > 0
    out[:, 2] = np.bincount(pair[counted], minlength=pairs)
    out[:, 3] = np.bincount(pair[moved], minlength=pairs)
    return out


def _renamed(names: int, names_equal: int, numbers: int, numbers_equal: int, others: int, others_equal: int) -> bool:
    """A copy with other names, from the counts of the item's function or parameter names (`idents`),
    numbers and other words and of those the text repeats (`_tally`): some names are not repeated,
    and most of its numbers and of its other words are (a look-alike item of the same shape differs
    in its examples or its prose); the caller adds that no number is changed."""
    if not names or names_equal == names or not others:
        return False
    return others_equal / others >= RENAMED_SHARE and (not numbers or numbers_equal / numbers >= RENAMED_SHARE)


@njit(cache=True, nogil=True)
def _tally(state, n, names, numbers):
    """Integer facts of an alignment (`align.align`'s state per item word): the edges of the runs of
    item words the text repeats (equal or a changed constant), and [n-word windows repeated word
    for word, changed numbers (state 2), changed numbers at the item's edge (3), then per class
    (name words, number words, other words) how many and how many equal]. A word can be a name and
    a number; other words are neither."""
    edges = np.empty(len(state) + 1, np.int64)
    facts = np.zeros(9, np.int64)
    count, on, run = 0, False, 0
    for i in range(len(state)):
        value = state[i]
        if (value >= 1) != on:
            on = not on
            edges[count] = i
            count += 1
        run = run + 1 if value == 1 else 0
        if run >= n:
            facts[0] += 1
        if value == 2:
            facts[1] += 1
        elif value == 3:
            facts[2] += 1
        if names[i]:
            facts[3] += 1
            facts[4] += value == 1
        if numbers[i]:
            facts[5] += 1
            facts[6] += value == 1
        if not names[i] and not numbers[i]:
            facts[7] += 1
            facts[8] += value == 1
    if on:
        edges[count] = len(state)
        count += 1
    return edges[:count], facts


@njit(cache=True, nogil=True)
def _text_spans(state, text_at, tpos, n, size):
    """The edges of the runs of text words behind a pair: every matched window [t, t + n) and the
    text word of each item word aligned (state >= 1); counted over the stretch [lo, hi) those
    cover, outside which no text word is behind the pair."""
    lo, hi = size, 0
    for t in tpos:
        lo, hi = min(lo, t), max(hi, min(t + n, size))
    for i in range(len(state)):
        if state[i] >= 1 and 0 <= text_at[i] < size:
            lo, hi = min(lo, text_at[i]), max(hi, text_at[i] + 1)
    width = max(hi - lo, 0)
    depth = np.zeros(width + 1, np.int64)  # +1 where a matched window starts, -1 where it ends
    for t in tpos:
        depth[t - lo] += 1
        depth[min(t + n, size) - lo] -= 1
    inside = np.zeros(width, np.bool_)
    total = 0
    for k in range(width):
        total += depth[k]
        inside[k] = total > 0
    for i in range(len(state)):
        if state[i] >= 1 and 0 <= text_at[i] < size:
            inside[text_at[i] - lo] = True
    edges = np.empty(width + 1, np.int64)
    count, on = 0, False
    for k in range(width):
        if inside[k] != on:
            on = not on
            edges[count] = lo + k
            count += 1
    if on:
        edges[count] = hi
        count += 1
    return edges[:count]


def _merge(starts: np.ndarray, width: int) -> tuple[tuple[int, int], ...]:
    """Word intervals [s, s + width) of ascending starts, overlapping ones merged."""
    spans: list[list[int]] = []
    for s in starts.tolist():
        if spans and s <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], s + width)
        else:
            spans.append([s, s + width])
    return tuple((a, b) for a, b in spans)


def _pairs(flat: list[int]) -> tuple[tuple[int, int], ...]:
    """Run edges [a0, b0, a1, b1, ...] as ((a0, b0), (a1, b1), ...)."""
    return tuple(zip(flat[::2], flat[1::2]))


native.use_for(_pair_facts, native.pair_facts)
native.use_for(anchor_facts, native.anchor_facts)
