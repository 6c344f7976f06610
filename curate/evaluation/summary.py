"""Summaries of one model on one set of problems, and the diversity-collapse check.

The input is plain data (`Problem`: one problem's samples in sample order), so this module knows
nothing of run directories or stages; `curate.evalrun` reads the verified runs and passes it in.

A summary (stable keys; rates in [0, 1]):

    {"problems": P, "samples": S, "n": n, "unjudged": U,
     "pass@k": {"1": {"value": .., "low": .., "high": ..}, "2": ..., ...},
     "maj@k":  {"1": {...}, ...},
     "diversity": {"distinct_answers": .., "distinct_ngrams": .., "pairwise_similarity": ..},
     "tokens_per_sample": .., "truncation_rate": .., "completion_tokens": ..}

k runs over 1..n where n is the smallest sample count among the problems (so every estimate is
defined). Problems whose reference could not be used (`bad_reference`) are left out of the rates
and counted in `unjudged`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curate.evaluation.diversity import distinct_answers, trace_diversity
from curate.evaluation.estimators import bootstrap_interval, majority_correct, pass_at_k, resample_indices


@dataclass
class Problem:
    """One problem's samples, in sample order."""

    id: str
    passed: list[bool]
    answers: list[str | None] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    tokens: list[int | None] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)
    judged: bool = True
    groups: dict[str, str] = field(default_factory=dict)  # e.g. {"benchmark": "aime24", "domain": "math"}
    date: str | None = None
    contaminated: bool = False


@dataclass(frozen=True)
class Settings:
    """How intervals and diversity are computed."""

    resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    ngram: int = 4


def _estimate(values: np.ndarray, indices: np.ndarray, level: float) -> dict[str, float]:
    low, high = bootstrap_interval(values, indices, level)
    return {"value": round(float(values.mean()), 6), "low": round(low, 6), "high": round(high, 6)}


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return round(float(np.mean(kept)), 6) if kept else None


def summarize(problems: list[Problem], settings: Settings = Settings()) -> dict:
    """The summary of one model on `problems` (see the module docstring)."""
    judged = [p for p in problems if p.judged and p.passed]
    samples = sum(len(p.passed) for p in problems)
    tokens = [t for p in problems for t in p.tokens if t is not None]
    out: dict = {"problems": len(judged), "samples": samples, "unjudged": len(problems) - len(judged),
                 "completion_tokens": int(sum(tokens)),
                 "tokens_per_sample": round(float(np.mean(tokens)), 3) if tokens else None,
                 "truncation_rate": round(sum(t for p in problems for t in p.truncated) / samples, 6)
                 if samples else None}
    if not judged:
        return {**out, "n": 0, "pass@k": {}, "maj@k": {}, "diversity": {}}
    n = min(len(p.passed) for p in judged)
    indices = resample_indices(len(judged), resamples=settings.resamples, seed=settings.seed)
    passk, majk = {}, {}
    for k in range(1, n + 1):
        values = np.array([pass_at_k(n, sum(p.passed[:n]), k) for p in judged])
        passk[str(k)] = _estimate(values, indices, settings.level)
        votes = np.array([float(majority_correct(p.answers[:n], p.passed[:n], k)) for p in judged])
        majk[str(k)] = _estimate(votes, indices, settings.level)
    per_problem = [trace_diversity(p.traces[:n], settings.ngram) for p in judged]
    diversity = {"distinct_answers": _mean([distinct_answers(p.answers[:n]) for p in judged]),
                 "distinct_ngrams": _mean([d["distinct_ngrams"] for d in per_problem]),
                 "pairwise_similarity": _mean([d["pairwise_similarity"] for d in per_problem])}
    return {**out, "n": n, "pass@k": passk, "maj@k": majk, "diversity": diversity}


def collapse_warning(model: str, summary: dict, baseline: str, base: dict) -> str | None:
    """A warning when `model` gains pass@1 over `baseline` but loses pass@k beyond its interval.

    With K the largest k both summaries have: pass@1(model) > pass@1(baseline) and the upper end
    of the model's pass@K interval lies below the baseline's pass@K.
    """
    common = set(summary.get("pass@k", {})) & set(base.get("pass@k", {}))
    if "1" not in common:
        return None
    k = str(max(int(x) for x in common))
    p1, b1 = summary["pass@k"]["1"]["value"], base["pass@k"]["1"]["value"]
    mine, theirs = summary["pass@k"][k], base["pass@k"][k]
    if k != "1" and p1 > b1 and mine["high"] < theirs["value"]:
        return (f"diversity collapse: {model} has higher pass@1 than {baseline} ({p1:.3f} > {b1:.3f}) "
                f"but lower pass@{k} ({mine['value']:.3f}, interval up to {mine['high']:.3f}, "
                f"< {theirs['value']:.3f})")
    return None
