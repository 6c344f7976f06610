"""Per-problem statistics: pass rate, unbiased pass@k, and diversity of the correct samples.

pass@k is the unbiased estimator of Chen et al. (2021): with n samples of which c are correct,
pass@k = 1 - C(n-c, k) / C(n, k), computed as a product so large n does not overflow. It is
reported for k = 1 and the powers of two up to n.

Diversity matters because a mode-seeking student can gain pass@1 and lose pass@k: we report the
number of distinct final answers among the correct samples and the mean pairwise Jaccard overlap
of their word 4-gram sets (1.0 = the correct traces are copies of each other).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

NGRAM = 4
MAX_PAIRS = 190  # 20 traces; beyond that a deterministic subset of pairs


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    """
    if k > n or n <= 0:
        raise ValueError(f"k={k} must be between 1 and n={n}")
    if n - c < k:
        return 1.0
    prob_all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        prob_all_wrong *= 1.0 - k / i
    return 1.0 - prob_all_wrong


def ks_for(n: int) -> list[int]:
    """1 and the powers of two up to n: ks_for(10) == [1, 2, 4, 8]."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


def ngram_overlap(texts: list[str]) -> float | None:
    """Mean pairwise Jaccard similarity of word 4-gram sets; None with fewer than two texts."""
    if len(texts) < 2:
        return None
    from curate.text.words import ngram_hashes

    offs, hashes, _ = ngram_hashes(texts, NGRAM)
    sets = [set(hashes[offs[i]:offs[i + 1]].tolist()) for i in range(len(texts))]
    pairs = list(combinations(range(len(sets)), 2))[:MAX_PAIRS]
    total = 0.0
    for a, b in pairs:
        union = len(sets[a] | sets[b])
        total += len(sets[a] & sets[b]) / union if union else 1.0
    return round(total / len(pairs), 6)


def problem_stats(verdicts: list[str], answers: list[str | None], traces: list[str]) -> dict[str, Any]:
    """The `problem_stats` JSON of one problem, from its samples' verdicts (in sample order)."""
    n = len(verdicts)
    correct = [i for i, v in enumerate(verdicts) if v == "pass"]
    stats: dict[str, Any] = {"n": n, "correct": len(correct)}
    if "bad_reference" in verdicts:
        stats["bad_reference"] = True
        return stats
    unknown = sum(v in ("timeout", "error") for v in verdicts)
    if unknown:
        stats["unknown"] = unknown
    for k in ks_for(n):
        stats[f"pass@{k}"] = round(pass_at_k(n, len(correct), k), 6)
    stats["distinct_answers"] = len({" ".join((answers[i] or "").split()) for i in correct})
    stats["mean_pairwise_ngram_overlap"] = ngram_overlap([traces[i] for i in correct])
    return stats


def pass_rate(verdicts: list[str]) -> float | None:
    """Share of samples that pass; None when the problem could not be judged (bad reference)."""
    if not verdicts or "bad_reference" in verdicts:
        return None
    return sum(v == "pass" for v in verdicts) / len(verdicts)
