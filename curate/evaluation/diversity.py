"""Diversity of one problem's samples: distinct answers, distinct n-grams, pairwise similarity.

A mode-seeking student can gain pass@1 and lose pass@k by writing the same trace every time;
these three figures show it per problem:

- `distinct_answers`: how many different (whitespace-normalised) final answers the samples give;
- `distinct_ngrams`: distinct word n-grams across all the problem's traces over all n-grams
  (1.0: no n-gram repeats anywhere; near 1/n_samples: the traces are copies);
- `pairwise_similarity`: mean Jaccard similarity of the traces' word n-gram sets over all pairs
  (at most MAX_PAIRS, the first ones in order), 1.0 for identical traces.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

MAX_PAIRS = 190  # 20 traces; beyond that the first pairs in order


def distinct_answers(answers: list[str | None]) -> int:
    return len({" ".join(a.split()) for a in answers if a is not None})


def ngram_sets(traces: list[str], n: int) -> tuple[list[set[int]], int]:
    """Per trace, its set of hashed word n-grams; and the total n-gram count over all traces."""
    from curate.text.words import ngram_hashes

    offs, hashes, _ = ngram_hashes([t or "" for t in traces], n)
    sets = [set(hashes[offs[i]:offs[i + 1]].tolist()) for i in range(len(traces))]
    return sets, int(offs[-1] - offs[0])


def trace_diversity(traces: list[str], n: int = 4) -> dict[str, float | None]:
    """`distinct_ngrams` and `pairwise_similarity` of one problem's traces (None when undefined)."""
    if not traces:
        return {"distinct_ngrams": None, "pairwise_similarity": None}
    sets, total = ngram_sets(traces, n)
    union = set().union(*sets)
    distinct = len(union) / total if total else None
    pairs = list(combinations(range(len(sets)), 2))[:MAX_PAIRS]
    if not pairs:
        return {"distinct_ngrams": distinct, "pairwise_similarity": None}
    sims = [len(sets[a] & sets[b]) / len(sets[a] | sets[b]) if sets[a] | sets[b] else 1.0 for a, b in pairs]
    return {"distinct_ngrams": distinct, "pairwise_similarity": float(np.mean(sims))}
