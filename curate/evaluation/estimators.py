"""Per-problem estimators and bootstrap intervals over problems.

pass@k is the unbiased estimator of Chen et al. (2021): with n samples of which c are correct,
pass@k = 1 - C(n-c, k) / C(n, k), computed as a running product so large n does not overflow.

maj@k is majority voting over the first k samples (in sample order): the most frequent extracted
answer wins (a tie goes to the answer seen first), and the problem counts as solved when the
winning answer's samples passed. Samples without an extracted answer do not vote; with no votes
at all the problem is not solved. Using the first k samples (not an average over subsets) keeps
the figure reproducible by hand and equal to what a user running k samples would see.

Intervals are percentile bootstrap intervals over problems: resample the problems with
replacement B times (seeded), take the mean of each resample, and report the (1-level)/2 and
(1+level)/2 quantiles. One index matrix serves every metric of one problem set, so intervals of
pass@1 and pass@k come from the same resamples.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k.

    >>> pass_at_k(4, 1, 1), pass_at_k(4, 1, 4), pass_at_k(4, 0, 2)
    (0.25, 1.0, 0.0)
    """
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"need 1 <= k={k} <= n={n} and 0 <= c={c} <= n")
    if n - c < k:
        return 1.0
    all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        all_wrong *= 1.0 - k / i
    return 1.0 - all_wrong


def majority_correct(answers: list[str | None], passed: list[bool], k: int) -> bool:
    """Is the majority answer of the first k samples a passing one?

    >>> majority_correct(["1", "2", "2"], [True, False, False], 3)
    False
    """
    votes = Counter(a for a in answers[:k] if a is not None)
    if not votes:
        return False
    best = max(votes.values())
    winner = next(a for a in answers[:k] if a is not None and votes[a] == best)
    return any(p for a, p in zip(answers[:k], passed[:k]) if a == winner)


def resample_indices(problems: int, *, resamples: int, seed: int) -> np.ndarray:
    """A (resamples x problems) matrix of problem indices drawn with replacement."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, problems, size=(resamples, problems))


def bootstrap_interval(values: np.ndarray, indices: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the mean of `values` over the resamples in `indices`."""
    if len(values) == 0:
        return (float("nan"), float("nan"))
    means = np.asarray(values, dtype=np.float64)[indices].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)
