"""The pure evaluation metrics: the pass@k estimator against its closed form, maj@k, intervals, collapse."""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curate.evaluation.diversity import distinct_answers, trace_diversity
from curate.evaluation.estimators import bootstrap_interval, majority_correct, pass_at_k, resample_indices
from curate.evaluation.summary import Problem, collapse_warning, summarize


@st.composite
def counts(draw):
    n = draw(st.integers(1, 40))
    return n, draw(st.integers(0, n)), draw(st.integers(1, n))


@given(counts())
def test_pass_at_k_equals_the_closed_form(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_is_the_share_of_k_subsets_with_a_correct_sample(nck):
    n, c, k = nck
    subsets = list(combinations(range(n), k))
    assert pass_at_k(n, c, k) == pytest.approx(sum(min(s) < c for s in subsets) / len(subsets))


def test_pass_at_k_refuses_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_majority_vote_ties_go_to_the_first_answer_and_empty_votes_lose():
    assert majority_correct(["7", "8", "8", "7"], [True, False, False, True], 4)
    assert not majority_correct(["8", "7", "8", "7"], [False, True, False, True], 4)
    assert not majority_correct([None, None], [False, False], 2)
    assert majority_correct([None, "7"], [False, True], 2)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.integers(0, 10))
def test_bootstrap_interval_brackets_resample_means(values, seed):
    idx = resample_indices(len(values), resamples=200, seed=seed)
    low, high = bootstrap_interval(np.array(values), idx, 0.9)
    assert min(values) - 1e-9 <= low <= high <= max(values) + 1e-9
    assert (low, high) == bootstrap_interval(np.array(values), resample_indices(len(values), resamples=200,
                                                                                  seed=seed), 0.9)


def test_diversity_of_copies_and_of_different_traces():
    same = trace_diversity(["a b c d e f"] * 3)
    assert same["pairwise_similarity"] == 1.0 and same["distinct_ngrams"] == pytest.approx(1 / 3)
    other = trace_diversity(["a b c d e f", "g h i j k l"])
    assert other["pairwise_similarity"] == 0.0 and other["distinct_ngrams"] == 1.0
    assert distinct_answers(["1", " 1", "2", None]) == 2


def problem(c: int, n: int = 4) -> Problem:
    return Problem("p", [i < c for i in range(n)], ["x"] * n, ["t"] * n, [1] * n, [False] * n)


def test_collapse_needs_higher_pass1_and_lower_pass_at_k_beyond_the_interval():
    base = summarize([problem(1)] * 10)      # pass@1 .25, pass@4 1
    sharp = summarize([problem(4)] * 5 + [problem(0)] * 5)  # pass@1 .5, pass@4 .5
    assert collapse_warning("student", sharp, "teacher", base).startswith("diversity collapse")
    assert collapse_warning("teacher", base, "student", sharp) is None
    assert collapse_warning("same", base, "teacher", base) is None


def test_fresh_dates_compare_partial_dates_as_the_start_of_their_period():
    from curate.evalrun.analyse import is_fresh

    assert is_fresh("2025-02", "2025-01-31") and not is_fresh("2025-02", "2025-02-01")
    assert is_fresh("2025-03-02", "2025-03-01") and not is_fresh("2025-03-01", "2025-03-01")
    assert not is_fresh(None, "2020-01-01")


def test_eval_recipe_errors_name_the_key_and_suggest_the_field(tmp_path):
    from curate.errors import RecipeError
    from curate.evalrun.config import is_eval_recipe, load_eval

    path = tmp_path / "e.yaml"
    path.write_text("kind: eval\nbenchmark: x.jsonl\nmodels:\n  - name: a\n    model: m\n    temprature: 1\n")
    assert is_eval_recipe(path)
    with pytest.raises(RecipeError) as err:
        load_eval(path)
    assert "e.yaml:6: models[0].temprature: unknown field" in err.value.message
    assert "temperature" in err.value.hint
    path.write_text("kind: eval\nbenchmark: x.jsonl\nmodels: [{name: a, model: m, n: 3}]\n")
    with pytest.raises(RecipeError, match="set it once at the top level"):
        load_eval(path)
    path.write_text("kind: eval\nmodels: [{name: a, model: m}]\n")
    with pytest.raises(RecipeError, match="exactly one of `benchmark`"):
        load_eval(path)


def test_pack_benchmark_items_carry_the_release_date_and_free_text_benchmarks_are_refused(monkeypatch):
    from curate.decontam import loaders
    from curate.decontam.select import BenchItem
    from curate.errors import CurateError
    from curate.evalrun.config import validate_eval
    from curate.evalrun.items import benchmark_rows

    # the Hub is the one stand-in: the pack's items as load_items would return them
    monkeypatch.setattr(loaders, "load_items", lambda sel: [BenchItem("aime25", "1", "Find x.", "7")])
    config = validate_eval({"benchmark": "aime_2025", "models": [{"name": "a", "model": "m"}]})
    assert benchmark_rows(config) == [{"id": "aime25:1", "problem": "Find x.", "reference": "7", "domain": "math",
                                       "benchmark": "aime25", "date": "2025-02"}]
    # code benchmarks are evaluated (tests/test_eval_code.py); a free-text reference is refused
    with pytest.raises(CurateError, match="no answers curate can verify.*eval supports .*humaneval"):
        benchmark_rows(validate_eval({"benchmark": "gpqa_diamond", "models": [{"name": "a", "model": "m"}]}))
