"""Synthetic corpora with planted near-duplicates at measured Jaccard similarities.

Used by the dedup tests and `tests/benchmarks/bench_dedup.py`. Base documents are random
sequences over a large random vocabulary, so unplanted pairs share almost no shingles. A planted
copy substitutes k scattered words: each substitution replaces about n of the S word n-grams,
so J ~ (S - a) / (S + a) with a ~ k n affected shingles; k is chosen for a target J, and the
label is the *measured* Jaccard of the two shingle sets (`curate.dedup.minhash.shingle_sets`), not
the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.dedup.minhash import jaccard_pairs, shingle_sets


@dataclass
class Corpus:
    texts: list[str]
    pairs: np.ndarray  # (m, 2) int: planted (original, copy) indices
    similarity: np.ndarray  # (m,) measured Jaccard of each planted pair

    @property
    def bytes(self) -> int:
        return sum(len(t.encode()) for t in self.texts)


def vocabulary(size: int, rng: np.random.Generator) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 10, size)
    return np.array(["".join(rng.choice(letters, n)) for n in lengths])


def planted_corpus(
    docs: int, *, words: int = 120, planted: float = 0.2, low: float = 0.5, high: float = 1.0,
    ngram: int = 5, seed: int = 0, vocab_size: int = 20_000,
) -> Corpus:
    """`docs` texts of `words` words; a fraction `planted` of them are copies of earlier texts
    edited to a Jaccard similarity drawn uniformly from [low, high]."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(vocab_size, rng)
    n_copies = int(docs * planted)
    n_base = docs - n_copies
    ids = rng.integers(0, vocab_size, size=(docs, words))
    originals = rng.integers(0, n_base, n_copies)
    shingles = max(words - ngram + 1, 1)
    for c, original in enumerate(originals):
        target = rng.uniform(low, high)
        edits = round(shingles * (1 - target) / (1 + target) / ngram)
        row = ids[original].copy()
        positions = rng.choice(words, size=min(edits, words), replace=False)
        row[positions] = rng.integers(0, vocab_size, len(positions))
        ids[n_base + c] = row
    texts = [" ".join(vocab[row]) for row in ids]
    pairs = np.stack([originals, np.arange(n_base, docs)], axis=1) if n_copies else np.zeros((0, 2), int)
    offsets, values = shingle_sets(texts, ngram=ngram)
    similarity = jaccard_pairs(offsets, values, pairs[:, 0], pairs[:, 1])
    return Corpus(texts, pairs, similarity)


def score(corpus: Corpus, dup_of: list[int | None], threshold: float) -> dict[str, float]:
    """Recall over planted pairs at J >= threshold, precision over marked docs.

    A planted pair counts as found when the two ended in one cluster: one is marked as a
    duplicate of the other, or both point to the same kept text. A marked doc is correct when it
    and the doc it points to are linked by planted pairs at J >= threshold (same component).
    """
    n = len(corpus.texts)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (a, b), s in zip(corpus.pairs, corpus.similarity):
        if s >= threshold:
            parent[find(int(a))] = find(int(b))
    cluster = [d if d is not None else i for i, d in enumerate(dup_of)]
    true_pairs = [(int(a), int(b)) for (a, b), s in zip(corpus.pairs, corpus.similarity) if s >= threshold]
    found = sum(cluster[a] == cluster[b] for a, b in true_pairs)
    marked = [(i, d) for i, d in enumerate(dup_of) if d is not None]
    correct = sum(find(i) == find(d) for i, d in marked)
    return {"recall": found / max(len(true_pairs), 1), "precision": correct / max(len(marked), 1),
            "true_pairs": len(true_pairs), "marked": len(marked)}
