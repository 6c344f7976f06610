"""How much a matched word tells: word information (IDF over the benchmark's items, numbers
discounted), the number-masked tokens both sides are hashed from, and the coverage score.

Words every item uses ("the", "return", "def") weigh about nothing, so a shared run of them is
no evidence; a run of digits or number words is little evidence; an item's own terms weigh most.
"""

from __future__ import annotations

import numpy as np

from curate.decontam.select import BenchItem
from curate.text.words import word_hashes, word_hashes_masked

NUMBER = np.uint64(0x6E756D6265722121)  # the word hash every number is replaced by in n-grams
NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
                "thousand million first second third fourth fifth sixth seventh eighth ninth tenth")
NUMBER_FACTOR = 0.2  # a number says little on its own: `1, 2, 3, ...` or "One, Two, Three" are everywhere
NAME_FACTOR = 0.2  # a renamed copy is judged with its names weighing this much (`match`: kind renamed)


def word_weights(items: list[BenchItem], doc: np.ndarray, words: np.ndarray, numbers: np.ndarray) -> np.ndarray:
    """Information of each item word: its rarity across the benchmark's items (IDF,
    log((N + 1) / (df + 0.5))), times NUMBER_FACTOR for numbers and number words.

    See the module docstring."""
    if not len(words):
        return np.zeros(0, np.float64)
    owner = np.repeat(np.arange(len(doc) - 1), np.diff(doc))
    pairs = np.unique(np.stack([words.view(np.int64), owner]), axis=1)
    uniq, df = np.unique(pairs[0], return_counts=True)
    idf = np.log((len(items) + 1) / (df + 0.5))
    weights = idf[np.searchsorted(uniq, words.view(np.int64))]
    _, number_hashes = word_hashes([NUMBER_WORDS])
    weights[np.isin(words, number_hashes) | numbers] *= NUMBER_FACTOR
    return np.maximum(weights, 0.0)


def tokens(texts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(offsets, word hashes, the same with every number as NUMBER) of texts (a list or Arrow array)."""
    doc, words, masked = word_hashes_masked(texts, int(NUMBER))
    return doc.astype(np.int64), words, masked


def coverage(types: np.ndarray, weights: np.ndarray, plain: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(score, words) of an item-word mask, given per item word its distinct-word id (`types`)
    and per distinct word its weight and whether it is not a number (`plain`): the information
    of the distinct words the mask covers over that of all the item's distinct words (a word
    counts once however often it repeats: a repeated example line is not more evidence), and
    how many distinct words that are not numbers it covers."""
    seen = np.zeros(len(weights), bool)
    seen[types[mask]] = True
    return seen_score(weights, float(weights.sum()), seen), int((seen & plain).sum())


def seen_score(weights: np.ndarray, total: float, seen: np.ndarray) -> float:
    """`coverage`'s score from the distinct words covered (`seen`) and the item's information
    `total` (float(weights.sum()): a caller judging the same item again keeps it)."""
    return float(weights[seen].sum()) / total if total > 0 else float(seen.mean()) if len(seen) else 0.0
