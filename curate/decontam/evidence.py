"""What a partial match must show to be a leak: the item's own content, not just its stem.

Competition problems of one kind share their stems ("For how many values of n in {1, 2, ...,
100} do we have", "What is the smallest value of", "Let f(x) be a polynomial of degree n"); what
makes one problem that problem is the rest, often a formula of common letters and constants
(`(n+1)^n≥2^n*n!`). A short item whose stem a look-alike problem repeats is covered by a large
information share, since the stem holds most of its distinct words, but the text has another
problem where the item goes on. So the share of an item's information (`match`: score) makes a
leak alone only when the copy is complete up to its constants: the item's words without digits
that the text leaves out carry at most MAX_MISSING of the item's information, counted per
position (a formula of letters repeated in the stem is still missing where the formula stands).
Words with digits are constants a template copy may change (`19x`, `2n`: a number glued to a
letter is one word), so they are left out of that count, and the alignment treats two of them
facing each other as a changed constant. A partial copy (a quote of part of the item) is a leak
when it repeats a run of at least MIN_RUN words, longer than a shared stem and its first
symbols (changed constants count in the run: a template that also renames a person keeps long
runs between the names), or when it is long by the other rules of `match` (min_words,
min_grams). In a run of MIN_RUN words repeated word for word, numbers too (`quoted`), the
item's numbers weigh fully: a number alone says little (`1, 2, 3` is everywhere), but an item's
numbers repeated in their order (a sequence, a table) are as specific as its rare words.
On the real folds of tests/benchmarks/bench_decontam_real.py, MAX_MISSING 0.05 flags the same
clean rows and 0.2-0.3 one more of 573 CHAMP rows; MIN_RUN 15-18 gives the same verdicts, 14
flags two more CHAMP rows and 20 misses 3 HumanEval snippets (20-word quotes); for `quoted`
alone, runs of 15-21 words give the same verdicts, 14 flags two more clean CHAMP rows and 22
misses a CHAMP snippet.
"""

from __future__ import annotations

import bisect

import numpy as np
import pyarrow as pa

from curate.decontam.kernels import DIGITS_TWIN_COST, word_digits
from curate.text.arrow import arrow_buffers
from curate.text.small import pick

MAX_MISSING = 0.1  # information share of the item's digit-free words a complete copy may leave out
MIN_RUN = 16  # words a partial copy repeats in one run (constants aside): two problem n-grams end to end


def digit_words(text: str | np.ndarray) -> np.ndarray:
    """Per word of `text` (or of its UTF-8 bytes; the word rule of `curate.text.words`): does it
    hold an ASCII digit."""
    raw = np.frombuffer(text.encode("utf-8"), np.uint8) if isinstance(text, str) else text
    return pick(word_digits, len(raw), DIGITS_TWIN_COST)(raw)


def own_content(weights: np.ndarray, digits: np.ndarray, state: np.ndarray) -> bool:
    """Does a pair show the item's own content: complete up to constants (MAX_MISSING), or one
    run of MIN_RUN words repeated but for constants. Per item word: its information, whether
    it holds a digit, and its state in the alignment of `match` (0 unmatched, 1 equal, 2-3 a
    changed constant)."""
    return missing_share(weights, digits, state) <= MAX_MISSING or longest_run(state >= 1) >= MIN_RUN


def quoted(state: np.ndarray) -> bool:
    """Does the text quote the item: a run of MIN_RUN of its words repeated word for word, numbers
    too (`match` then scores the pair with the item's numbers weighing fully)."""
    return longest_run(state == 1) >= MIN_RUN


class TextConstants:
    """Per word of a text of a scanned batch: 2 a number, 1 a constant glued to letters, 0
    neither; read from the texts' bytes only for rows a pair with glued constants is judged in."""

    def __init__(self, texts: pa.Array | pa.ChunkedArray):
        self.texts = texts
        self.chunks: list[tuple[int, np.ndarray, np.ndarray]] | None = None  # (first row, data, offsets)
        self.rows: dict[int, np.ndarray] = {}

    def of(self, row: int, numbers: np.ndarray) -> np.ndarray:
        """Row `row`'s constants, given its words that are numbers (the tokeniser's)."""
        if row not in self.rows:
            start, data, offsets = self._chunk_of(row)
            digits = digit_words(data[offsets[row - start]:offsets[row - start + 1]])
            digits = digits if len(digits) == len(numbers) else numbers  # cannot happen: one word rule
            self.rows[row] = digits.view(np.int8) + numbers.view(np.int8)
        return self.rows[row]

    def _chunk_of(self, row: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(first row, bytes, offsets) of the chunk holding `row`, read in place (no combined copy)."""
        if self.chunks is None:
            chunks = self.texts.chunks if isinstance(self.texts, pa.ChunkedArray) else [self.texts]
            starts = np.cumsum([0] + [len(c) for c in chunks]).tolist()
            self.chunks = [(start, *arrow_buffers(c)[:2]) for start, c in zip(starts, chunks) if len(c)]
        return self.chunks[bisect.bisect_right([c[0] for c in self.chunks], row) - 1]


def missing_share(weights: np.ndarray, digits: np.ndarray, state: np.ndarray) -> float:
    """Information share of an item's words without digits at positions the text does not
    repeat (`state` 0: the alignment of `match`), over that of all its words without digits."""
    plain = ~digits
    total = float(weights[plain].sum())
    if total <= 0:
        return float((state[plain] == 0).mean()) if plain.any() else 0.0
    return float(weights[plain & (state == 0)].sum()) / total


def longest_run(equal: np.ndarray) -> int:
    """The longest run of True in a mask of item words (the words the text repeats)."""
    if not equal.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], equal.view(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max())
