"""The `problem_stats` that verify writes for each problem: pass rate, pass@k and diversity.

pass@k uses the same unbiased estimator as `curate eval` (`estimators.pass_at_k`), reported for
k = 1 and the powers of two up to n. Diversity is measured over the correct samples only, because
a mode-seeking student can gain pass@1 and lose pass@k: the number of distinct final answers
among them and the mean pairwise Jaccard overlap of their word 4-gram sets (1.0 = the correct
traces are copies of each other).
"""

from __future__ import annotations

from typing import Any

from curate.evaluation.diversity import distinct_answers, trace_diversity
from curate.evaluation.estimators import pass_at_k

NGRAM = 4


def ks_for(n: int) -> list[int]:
    """1 and the powers of two up to n: ks_for(10) == [1, 2, 4, 8]."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


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
    # a passing sample without an extracted answer still counts, as the empty answer
    stats["distinct_answers"] = distinct_answers([answers[i] or "" for i in correct])
    similarity = trace_diversity([traces[i] for i in correct], NGRAM)["pairwise_similarity"]
    stats["mean_pairwise_ngram_overlap"] = None if similarity is None else round(similarity, 6)
    return stats


def pass_rate(verdicts: list[str]) -> float | None:
    """Share of samples that pass; None when the problem could not be judged (bad reference)."""
    if not verdicts or "bad_reference" in verdicts:
        return None
    return sum(v == "pass" for v in verdicts) / len(verdicts)
