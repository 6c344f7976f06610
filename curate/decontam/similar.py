"""Cheap CPU similarity for paraphrase candidates: character n-gram TF-IDF cosine and word overlap.

n-gram matching cannot see a rephrased benchmark item; a judge can, but asking it about every
(row, item) pair is out of the question. This index proposes the few items most like a row by
two signals, since a rewrite defeats each in different cases (measured on real HumanEval
problems, tests/benchmarks/bench_paraphrase.py):
- `tfidf`: texts lower-cased to their word characters, cut into character n-grams inside words
  (morphology-tolerant: "triangles" and "triangle" share most of theirs), weighted by sublinear
  tf times smoothed idf over the benchmark items, compared by cosine;
- `words`: Jaccard overlap of the two texts' word sets (no weighting: robust when an item's
  rare code or example tokens dominate its TF-IDF vector).
With `both`, each signal proposes its own top k and the union goes to the judge.

Scores are exact: each row's n-grams and words are looked up in postings (numpy arrays of item
ids and weights) and summed with one `bincount` per signal.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"\w+")


def char_ngrams(text: str, n: int) -> Counter:
    """Character n-grams inside the words of `text` (a word shorter than n counts whole)."""
    grams: Counter = Counter()
    for word in _WORD.findall(text.lower()):
        padded = f" {word} "
        if len(padded) <= n:
            grams[padded] += 1
            continue
        grams.update(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams


def word_set(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


class SimilarityIndex:
    """Postings of the benchmark items for both signals."""

    def __init__(self, texts: list[str], *, n: int = 4, method: str = "both"):
        self.n, self.method, self.size = n, method, len(texts)
        counts = [char_ngrams(t or "", n) for t in texts]
        df: Counter = Counter()
        for grams in counts:
            df.update(grams.keys())
        self.idf = {g: math.log((1 + self.size) / (1 + d)) + 1.0 for g, d in df.items()}
        self.grams = _postings([self._vector(grams) for grams in counts])
        sets = [word_set(t or "") for t in texts]
        self.words = _postings([dict.fromkeys(s, 1.0) for s in sets])
        self.word_counts = np.asarray([len(s) for s in sets], np.float64)

    def _vector(self, grams: Counter) -> dict[str, float]:
        weights = {g: (1.0 + math.log(c)) * self.idf.get(g, 0.0) for g, c in grams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {g: w / norm for g, w in weights.items() if w}

    def scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(TF-IDF cosine, word Jaccard) of `text` against every item."""
        cosine = _dot(self.grams, self._vector(char_ngrams(text or "", self.n)), self.size)
        mine = word_set(text or "")
        shared = _dot(self.words, dict.fromkeys(mine, 1.0), self.size)
        union = len(mine) + self.word_counts - shared
        return cosine, np.divide(shared, union, out=np.zeros(self.size), where=union > 0)

    def top(self, text: str, k: int, min_score: float = 0.0) -> list[tuple[int, float]]:
        """Candidate items for `text` with their score (the larger of the two), best first: the
        top k by each signal the method uses, keeping those scoring at least `min_score`."""
        if not self.size:
            return []
        cosine, jaccard = self.scores(text)
        signals = {"tfidf": [cosine], "words": [jaccard], "both": [cosine, jaccard]}[self.method]
        chosen: set[int] = set()
        for signal in signals:
            order = np.argsort(-signal, kind="stable")[:k]
            chosen.update(int(i) for i in order if signal[i] >= min_score and signal[i] > 0)
        best = np.maximum(cosine, jaccard) if self.method == "both" else signals[0]
        return sorted(((i, float(best[i])) for i in chosen), key=lambda pair: (-pair[1], pair[0]))


def _postings(vectors: list[dict[str, float]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """key -> (item ids, weights) over the items' sparse vectors."""
    lists: dict[str, tuple[list[int], list[float]]] = {}
    for item, vector in enumerate(vectors):
        for key, weight in vector.items():
            ids, weights = lists.setdefault(key, ([], []))
            ids.append(item)
            weights.append(weight)
    return {key: (np.asarray(ids, np.int64), np.asarray(ws, np.float64)) for key, (ids, ws) in lists.items()}


def _dot(postings: dict[str, tuple[np.ndarray, np.ndarray]], query: dict[str, float], size: int) -> np.ndarray:
    """Each item's dot product with the sparse `query`."""
    hits = [(postings[key], weight) for key, weight in query.items() if key in postings]
    if not hits:
        return np.zeros(size)
    ids = np.concatenate([p[0] for p, _ in hits])
    weights = np.concatenate([p[1] * w for p, w in hits])
    return np.bincount(ids, weights=weights, minlength=size)
