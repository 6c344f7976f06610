"""Decide which benchmark items a batch of texts contains, how strongly, and where.

`scan_texts` tokenises a column once (`curate.text.words.word_hashes`) and runs the compiled scan of
`curate.decontam.index`; every matched window becomes a (text, item, item position, text
position) row. Matches are grouped per (text, item) and scored by what they share:

- coverage: the item words covered by matched windows, extended along the same alignment
  (`align.align`: where a matched window puts the item in the text, every run of at least n agreeing
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
item's stem that a look-alike problem repeats is not enough); or when it repeats at least
`min_words` distinct words (numbers aside) with a score of at least `min_score / 2` (a long
quote from a long item); or a run of MIN_RUN of its words word for word, numbers too,
reaching `min_score` with its numbers weighing fully (`evidence.quoted`); or when it repeats at
least `min_grams` of the item's n-grams word for word (a long verbatim run of low-information
words: formulas, examples). Weaker pairs are `near`. Within one text, a leak whose matched text
lies mostly inside that of stronger leaks matching more of the text is explained by them (a
shared doctest line of two HumanEval items) and dropped; leaks over the same text (look-alikes
equal up to constants) all stay. The exact path (item shorter than n, contained whole) is a
leak; contained with other constants, a template leak in a text that is mostly that
(`verdict._exact`), unless `pool_min` distinct problems are such templates of the one item:
then that short form is a generic exercise of the pool (`generic_templates`).

A `Hit` carries the verdict, scores and the matched word spans in the text and in the item;
`hit_record` turns them into character spans with an excerpt, for the reports.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.decontam.evidence import TextConstants
from curate.decontam.index import BenchIndex, NgramIndex, token_spans
from curate.decontam.kernels import BASE, scan_bytes, span_chars
from curate.decontam.verdict import ANCHOR_TWIN_COST, Hit, anchor_facts, judge
from curate.decontam.weights import NUMBER, tokens
from curate.text.arrow import arrow_buffers, text_array, valid_mask
from curate.text.small import is_twin, pick
from curate.text.words import BYTE_TABLES

EXCERPT_CONTEXT = 160  # characters kept around the matched spans in a report record
MIN_SCORE = 0.3
MIN_WORDS = 20
MIN_GRAMS = 30
EXPLAINED = 0.5
MIN_GAP_ANCHORS = 2  # distinct windows over skipped names that make a pair worth judging
POOL_KEEP = 0.5  # a hit through pool boilerplate alone stays a leak from this score on
FUSED_COST = 2e-6  # seconds per byte of the two-pass twins: ~3e-7 tokenising, 1e-5 a word (~5.4 bytes) scanning
POOL_SHARE = 0.5  # share of a hit's matched n-grams that are the pool's boilerplate making it so


def scan_texts(index: BenchIndex, texts: pa.Array | list[str], n: int, *, min_score: float = MIN_SCORE,
               min_words: int = MIN_WORDS, min_grams: int = MIN_GRAMS, near: bool = True,
               groups: np.ndarray | LazyGroups | None = None, pool_min: int = 0,
               renamed: bool = True) -> list[Hit]:
    """Every hit of `index` (at this n) in `texts`, ordered by row then item; `near=False`
    leaves out the pairs below the thresholds. With `pool_min`, an n-gram matched in at least
    that many distinct `groups` (problems) of these texts is the pool's boilerplate
    (`pool_common`). `renamed=False` skips the search for copies with renamed names (`idents`)."""
    array = text_array(texts)
    (doc, words, masked), (docs, items, ipos, tpos, kinds, keys) = _tokens_and_matches(index.by_n[n], array, renamed)
    if not len(docs):
        return []
    order = _match_order(docs, items, ipos, tpos)
    docs, items, ipos, tpos, kinds, keys = (a[order] for a in (docs, items, ipos, tpos, kinds, keys))
    starts = np.r_[0, np.flatnonzero(np.diff(docs) | np.diff(items)) + 1, len(docs)]  # each pair's matches
    facts = pick(anchor_facts, len(docs), ANCHOR_TWIN_COST)(ipos, kinds, starts).tolist()  # ipos ascends within a pair
    rows, pair_items, offsets = docs[starts[:-1]].tolist(), items[starts[:-1]].tolist(), doc.tolist()
    starts = starts.tolist()
    judged: list[tuple[Hit, int, int]] = []
    constants = TextConstants(array)
    for k, anchors in enumerate(facts):
        direct = bool(anchors[1])
        if not direct and anchors[3] < MIN_GAP_ANCHORS:
            continue  # found only across skipped names, by too few windows to be a renamed copy
        lo, hi, row = starts[k], starts[k + 1], rows[k]
        text = slice(offsets[row], offsets[row + 1])
        hit = judge(index, n, row, pair_items[k], ipos[lo:hi], tpos[lo:hi], kinds[lo:hi], anchors,
                    words[text], masked[text], constants, (min_score, min_words, min_grams))
        if hit.verdict == "leak" or direct:  # a gap-only near match is no evidence
            judged.append((hit, lo, hi))
    final = generic_templates(pool_rarity(judged, docs, keys, groups, pool_min), index, n, groups, pool_min)
    hits: list[Hit] = []
    for start, stop in _row_runs(final):
        hits += _attribute(final[start:stop], near)
    return hits


def _tokens_and_matches(grams: NgramIndex, array: pa.Array | pa.ChunkedArray,
                        renamed: bool) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """((doc, words, masked), raw matches) of `grams` in `array`. Compiled, in one pass that keeps
    the words of the matched texts only (`kernels.scan_bytes`: most texts match nothing), over
    each chunk's buffers in place (a window of a batch spans the batch's pieces: a combined copy
    would cost as much as the tokenising); as the Python twins, in two (`weights.tokens`, then
    `NgramIndex.scan`), whose NumPy tokeniser is the fast one for a small input. The texts
    without words are never read by the judge."""
    chunks = [arrow_buffers(chunk) for chunk in text_chunks(array)]
    scan = pick(scan_bytes, sum(int(offsets[-1] - offsets[0]) for _, offsets, _ in chunks), FUSED_COST)
    if not is_twin(scan):  # numba's kernel or its C build
        return scan_chunks(grams, chunks, scan, renamed=renamed)
    doc, words, masked = tokens(array)
    return (doc, words, masked), grams.scan(doc, words, masked, renamed=renamed)


def text_chunks(array: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    """The chunks of `array` holding rows (one chunk, maybe empty, when none does)."""
    if not isinstance(array, pa.ChunkedArray):
        return [array]
    chunks = [chunk for chunk in array.chunks if len(chunk)]
    return chunks if chunks else [array.combine_chunks()]


def scan_buffers(grams: NgramIndex, data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, scan: Any, *,
                 renamed: bool = True) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """`tokens` and `NgramIndex.scan` in one compiled pass over an Arrow string array's buffers
    (`kernels.scan_bytes` or its twin, as `scan`): ((doc, words, masked) holding the words of
    the matched texts only, the others none; the matches as `NgramIndex.scan` gives them)."""
    return scan_chunks(grams, [(data, offsets, valid)], scan, renamed=renamed)


def scan_chunks(grams: NgramIndex, chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], scan: Any, *,
                renamed: bool = True) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """`scan_buffers` over the buffers of consecutive chunks of one array, rows numbered across
    them: the kernel scans text after text, so each chunk's call appends to the outputs of the
    last and they come out as one call over all the texts would give them."""
    power = np.uint64(pow(int(BASE), grams.n - 1, 1 << 64))
    size = sum(int(offsets[-1] - offsets[0]) // 2 + len(offsets) for _, offsets, _ in chunks)  # pages are
    capacity = max(1024, size // 256)  # only touched for the texts kept
    rows = sum(len(offsets) - 1 for _, offsets, _ in chunks)
    while True:
        buffers = [np.empty(capacity, np.int64) for _ in range(3)] + [np.empty(capacity, np.int8)]
        words, masked, doc = np.empty(size, np.uint64), np.empty(size, np.uint64), np.zeros(rows + 1, np.int64)
        k = kept = row = 0
        for data, offsets, valid in chunks:
            m = len(offsets) - 1
            found, count = scan(data, offsets, valid, NUMBER, *BYTE_TABLES, grams.n, power, len(grams.first_keys) > 0,
                                renamed and len(grams.vocab) > 0, *grams.tables(), *(b[k:] for b in buffers),
                                words[kept:], masked[kept:], doc[row:row + m + 1])
            buffers[0][k:min(k + found, capacity)] += row  # the chunk's text numbers, across chunks
            doc[row + 1:row + m + 1] += kept
            k, kept, row = k + found, kept + count, row + m
        if k <= capacity:
            break
        capacity = k  # more matches than room: rerun with room for all (growing inside the kernel is slow)
    return (doc, words[:kept], masked[:kept]), grams.matches(*(b[:k] for b in buffers))


def _match_order(docs: np.ndarray, items: np.ndarray, ipos: np.ndarray, tpos: np.ndarray) -> np.ndarray:
    """np.lexsort((tpos, ipos, items, docs)): by text, item, item position, text position, ties
    in their order; as one stable argsort of the four packed into one int64 when they fit
    (all are >= 0), a fifth of lexsort's four passes."""
    dims = [int(a.max()) + 1 for a in (items, ipos, tpos)]
    if (int(docs.max()) + 1) * dims[0] * dims[1] * dims[2] >= 2 ** 63:
        return np.lexsort((tpos, ipos, items, docs))
    return np.argsort(((docs * dims[0] + items) * dims[1] + ipos) * dims[2] + tpos, kind="stable")


def pool_rarity(judged: list[tuple[Hit, int, int]], docs: np.ndarray, keys: np.ndarray,
                groups: np.ndarray | LazyGroups | None, pool_min: int) -> list[Hit]:
    """The judged hits (each with its slice of the matches), those found mostly (POOL_SHARE)
    through the pool's boilerplate marked `pool_common` and, if leaks below POOL_KEEP, made near.

    An n-gram is boilerplate when at least `pool_min` distinct `groups` (problems) hold it in
    a pair that covers less than POOL_KEEP of its item, in a text that does not copy an item
    holding it: copies of an item (a contaminated pool holds many) do not make the item's own
    n-grams common, and the samples of one problem count once. Counted over matches only, so
    it costs nothing where nothing matches."""
    if not pool_min or groups is None or not judged:
        return [hit for hit, _, _ in judged]
    lo, hi = (np.array(side, np.int64) for side in zip(*((lo, hi) for _, lo, hi in judged)))
    weak = np.array([hit.score < POOL_KEEP for hit, _, _ in judged])
    if not weak.any():
        return [hit for hit, _, _ in judged]
    at = _ranges(lo[weak], hi[weak])
    if not weak.all():  # a text copying an item holds that item's n-grams: they count for no other item
        both = np.zeros(int(docs.max()) + 1, np.int8)  # texts with weak and strong pairs: only there
        both[docs[lo[weak]]] = 1
        both[docs[lo[~weak]]] |= 2
        strong = _ranges(lo[~weak], hi[~weak])
        strong, check = strong[both[docs[strong]] == 3], both[docs[at]] == 3
        code = lambda idx: keys[idx] * (int(docs.max()) + 1) + docs[idx]  # noqa: E731
        check[check] = np.isin(code(at[check]), code(strong))
        at = at[~check]
        if not len(at):  # every weak pair lies in a text copying an item that holds its n-grams
            return [hit for hit, _, _ in judged]
    key, group = keys[at], groups[docs[at]]
    order = np.lexsort((group, key))
    key, group = key[order], group[order]
    first = np.r_[True, (key[1:] != key[:-1]) | (group[1:] != group[:-1])]  # each (n-gram, problem) once
    found, counts = np.unique(key[first], return_counts=True)
    common = found[(counts >= pool_min) & (found >= 0)]
    if not len(common):
        return [hit for hit, _, _ in judged]
    inside = np.r_[0, np.cumsum(np.isin(keys, common))].tolist()  # common n-grams among the first k matches
    out = []
    for hit, lo, hi in judged:
        if hit.score < POOL_KEEP and (inside[hi] - inside[lo]) / (hi - lo) >= POOL_SHARE:
            hit = replace(hit, pool_common=True, **({"verdict": "near", "kind": "ngram", "changed": ()}
                                                   if hit.verdict == "leak" else {}))
        out.append(hit)
    return out


def generic_templates(hits: list[Hit], index: BenchIndex, n: int, groups: np.ndarray | LazyGroups | None,
                      pool_min: int) -> list[Hit]:
    """Template leaks of an item shorter than n (`Compute $\\dbinom{31}{28}$`) made near and
    marked `pool_common` when at least `pool_min` distinct problems of these texts are that
    item with other constants, as for an n-gram of the pool's boilerplate: a pool holding the
    same short form that many times holds a generic exercise (`Compute $\\dbinom{8}{4}$`), not
    copies of the item. A few copies, or the samples of one problem, stay leaks. Off with pool
    rarity (`pool_min` 0 or no problems)."""
    if not pool_min or groups is None:
        return hits
    short = [k for k, hit in enumerate(hits)
             if hit.kind == "template" and hit.verdict == "leak" and index.item_words[hit.item] < n]
    problems: dict[int, set[int]] = {}
    for k in short:
        problems.setdefault(hits[k].item, set()).add(int(groups[hits[k].row]))
    generic = {item for item, seen in problems.items() if len(seen) >= pool_min}
    for k in short:
        if hits[k].item in generic:
            hits[k] = replace(hits[k], pool_common=True, verdict="near", kind="ngram", changed=())
    return hits


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The indices of every range [lo[k], hi[k]), one range after the other."""
    sizes = hi - lo
    return np.arange(int(sizes.sum())) + np.repeat(lo - (np.cumsum(sizes) - sizes), sizes)


class LazyGroups:
    """A scan's `groups` (`problem_groups` of its rows), made on first use: pool rarity reads them
    only where a weak pair or a short item's template was judged, which most scans of a clean
    corpus, and every scan of an empty field, never do, while encoding a scan's problem texts
    costs about as much as tokenising them."""

    def __init__(self, make: Callable[[], np.ndarray]):
        self._make, self._groups = make, None

    def __getitem__(self, index):
        if self._groups is None:
            self._groups = self._make()
        return self._groups[index]


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


def _attribute(hits: list[Hit], near: bool) -> list[Hit]:
    """One text's hits: a leak whose matched text lies mostly inside that of stronger leaks
    matching more of the text is explained by them and dropped (a near hit: inside stronger
    leaks at all); `near=False` drops all near. Two leaks over the same text both stay: the
    text holds both items (look-alikes equal up to their constants, a quote of the words two
    items share), and which it copies cannot be told."""
    if len(hits) < 2:
        return [h for h in hits if near or h.verdict == "leak"]
    order = sorted(range(len(hits)), key=lambda k: (hits[k].verdict != "leak", -hits[k].score, hits[k].item))
    size = max((b for h in hits for _, b in h.text_spans), default=0)
    leaks: list[tuple[float, np.ndarray, int]] = []  # kept leaks: score, text words, how many
    keep = []
    for k in order:
        hit = hits[k]
        positions = np.zeros(size, bool)
        for a, b in hit.text_spans:
            positions[a:b] = True
        count = np.count_nonzero(positions)
        covered = np.zeros(size, bool)
        for score, theirs, extent in leaks:
            if score > hit.score and (extent > count or hit.verdict != "leak"):
                covered |= theirs
        inside = np.count_nonzero(covered & positions) / max(count, 1)
        if inside >= EXPLAINED and hit.kind != "exact":  # ties stay: items with the same words
            continue
        if hit.verdict == "leak":
            leaks.append((hit.score, positions, count))
        if hit.verdict == "leak" or near:
            keep.append(k)
    return [hits[k] for k in sorted(keep)]


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
        raw = np.frombuffer(text.encode("utf-8"), np.uint8)
        flat = pick(span_chars, len(raw))(raw, np.array(word_spans, np.int64).reshape(-1)).tolist()
        return [[flat[k], flat[k + 1]] for k in range(0, len(flat), 2) if flat[k] >= 0]
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
