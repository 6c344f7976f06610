"""Cheap CPU similarity for paraphrase candidates: character n-gram TF-IDF cosine.

n-gram matching cannot see a rephrased benchmark item; a judge can, but asking it about every
(row, item) pair is out of the question. This index proposes the few items most like a row:
texts are lower-cased to their word characters, cut into character n-grams inside words
(morphology-tolerant: "triangles" and "triangle" share most of theirs), weighted by sublinear tf
times smoothed idf over the benchmark items, and compared by cosine.

Retrieval looks only at a row's `probe` rarest n-grams (short posting lists), which bounds the
cost per row; the best candidates found that way are then scored exactly.
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


class SimilarityIndex:
    """TF-IDF vectors of the benchmark items, and their n-gram postings."""

    def __init__(self, texts: list[str], *, n: int = 4, probe: int = 64):
        self.n, self.probe, self.size = n, probe, len(texts)
        counts = [char_ngrams(t or "", n) for t in texts]
        df: Counter = Counter()
        for grams in counts:
            df.update(grams.keys())
        self.idf = {g: math.log((1 + self.size) / (1 + d)) + 1.0 for g, d in df.items()}
        self.vectors = [self._vector(grams) for grams in counts]
        postings: dict[str, list[int]] = {}
        for item, grams in enumerate(counts):
            for gram in grams:
                postings.setdefault(gram, []).append(item)
        self.postings = {g: np.asarray(items, np.int64) for g, items in postings.items()}

    def _vector(self, grams: Counter) -> dict[str, float]:
        weights = {g: (1.0 + math.log(c)) * self.idf.get(g, 0.0) for g, c in grams.items()}
        norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
        return {g: w / norm for g, w in weights.items() if w}

    def top(self, text: str, k: int, min_score: float = 0.0) -> list[tuple[int, float]]:
        """The `k` items most similar to `text` with cosine >= min_score, best first."""
        vector = self._vector(char_ngrams(text or "", self.n))
        if not vector or not self.size:
            return []
        rare = sorted(vector, key=lambda g: -self.idf[g])[: self.probe]
        hits = np.concatenate([self.postings[g] for g in rare]) if rare else np.zeros(0, np.int64)
        if not hits.size:
            return []
        votes = np.bincount(hits, minlength=self.size)
        shortlist = np.argsort(-votes, kind="stable")[: max(4 * k, 16)]
        scored = [(int(i), self.cosine(vector, self.vectors[i])) for i in shortlist if votes[i]]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return [(i, s) for i, s in scored[:k] if s >= min_score]

    @staticmethod
    def cosine(a: dict[str, float], b: dict[str, float]) -> float:
        if len(a) > len(b):
            a, b = b, a
        return sum(w * b.get(g, 0.0) for g, w in a.items())
