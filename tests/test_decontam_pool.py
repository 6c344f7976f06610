"""Pool rarity: an n-gram that many problems of the pool contain says little (real HumanEval
items; real competition problems of CHAMP, PyPI `champ-dataset`, as the pool)."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
from decontam_real import humaneval

from curate.decontam.index_build import build_index
from curate.decontam.select import BenchItem
from curate.stages.decontam import scan_table

FIELDS = {"problem": 8}

# CI installs it (tests/install_test_deps.sh): there a missing package fails instead of skipping
if not os.environ.get("CI"):
    pytest.importorskip("champ_dataset", reason="pip install champ-dataset (the dev extra)")


@pytest.fixture(scope="module")
def setup():
    code = humaneval()
    index = build_index([BenchItem("humaneval", r["task_id"], r["prompt"]) for r in code], [], {8})
    import champ_dataset

    pool = [p.text for p in champ_dataset.load("v0").problems.values()][:24]
    return index, code, pool


def flags(index, problems: list[str], pool_min: int) -> tuple[list, dict]:
    table = pa.table({"id": [str(i) for i in range(len(problems))], "problem": problems})
    stats: dict = {}
    return scan_table(index, table, fields=FIELDS, pool_min=pool_min, stats=stats), stats


NOTE = "Note: you may assume the input is always valid."  # a sentence of HumanEval/77, and of many tasks
# a tie-breaking rule of HumanEval/153 that many tasks state: alone, a long quote of the item
TIE = ("If there are two or more extensions with the same strength, you should choose the one that comes first "
       "in the list.")


def test_a_sentence_a_short_item_shares_with_other_problems_is_near(setup):
    index, code, pool = setup
    assert NOTE in code[77]["prompt"]
    # a third of the short item's information, but none of its own task: near, never flagged
    alone, stats = flags(index, [f"{pool[0]}\n{NOTE}"], pool_min=10)
    assert alone == [frozenset()]
    assert [(h["item_id"], h["verdict"]) for h in stats["decontam_hits"]][:1] == [("HumanEval/77", "near")]
    # many problems of the pool carry it: also the pool's boilerplate
    found, stats = flags(index, [f"{p}\n{NOTE}" for p in pool], pool_min=10)
    assert not any(found) and all(h["pool_common"] for h in stats["decontam_hits"])


def test_a_sentence_many_pool_problems_share_is_boilerplate(setup):
    index, code, pool = setup
    assert TIE in " ".join(code[153]["prompt"].split())
    rows = [f"{p}\n{TIE}" for p in pool]
    # judged alone, a 23-word quote of the item: flagged
    alone, _ = flags(index, rows[:1], pool_min=10)
    assert alone == [{"humaneval:HumanEval/153"}]
    # twenty-four distinct problems carry it: the pool's boilerplate, reported as near
    found, stats = flags(index, rows, pool_min=10)
    assert not any(found)
    assert stats["decontam_hits"] and all(h["verdict"] == "near" and h["pool_common"] for h in stats["decontam_hits"])
    assert all(flags(index, rows, pool_min=0)[0])  # without pool rarity every row is flagged


def test_copies_stay_leaks_however_many_rows_hold_them(setup):
    index, code, pool = setup
    # the whole item copied into many distinct problems: it covers the item, so it stays a leak
    found, _ = flags(index, [f"{p}\n{code[153]['prompt']}" for p in pool], pool_min=10)
    assert all("humaneval:HumanEval/153" in f for f in found)
    # sixteen samples of one problem are one problem: judged as that row alone
    found, _ = flags(index, [f"{pool[0]}\n{TIE}"] * 16, pool_min=10)
    assert all(f == {"humaneval:HumanEval/153"} for f in found)


def test_copies_of_an_item_do_not_make_its_ngrams_boilerplate(setup):
    index, code, pool = setup
    # a contaminated pool: twelve problems hold the whole item, one holds only its rule; only
    # pairs covering less than half an item count towards rarity, so the rule's row stays a leak
    rows = [f"{p}\n{code[153]['prompt']}" for p in pool[:12]] + [f"{pool[12]}\n{TIE}"]
    found, _ = flags(index, rows, pool_min=10)
    assert all("humaneval:HumanEval/153" in f for f in found)


def test_a_short_form_many_pool_problems_share_is_a_generic_exercise():
    """MATH-style `Compute $\\dbinom{31}{28}$.` with other numbers: one such problem is a template
    leak of the item; a pool of several distinct ones holds the exercise form, not the item."""
    index = build_index([BenchItem("math", "m1", "Compute $\\dbinom{31}{28}$.")], [], {8})
    forms = [f"Compute $\\dbinom{{{a}}}{{{b}}}$." for a in range(5, 9) for b in (2, 3, 4)]
    alone, stats = flags(index, forms[:1], pool_min=10)
    assert alone == [{"math:m1 (template)"}]  # one copy: the item with new constants, a leak
    assert [h["kind"] for h in stats["decontam_hits"]] == ["template"]
    few, _ = flags(index, forms[:9], pool_min=10)  # fewer than pool_min: each still a template leak
    assert all(few)
    found, stats = flags(index, forms, pool_min=10)
    assert not any(found)
    assert {(h["verdict"], h["pool_common"]) for h in stats["decontam_hits"]} == {("near", True)}
    same_problem, _ = flags(index, forms[:1] * 4, pool_min=10)  # samples of one problem count once
    assert all(same_problem)


def test_a_weak_pair_only_inside_a_copy_of_another_item_leaves_nothing_to_count():
    """A text that copies one item whole and shares only that item's n-grams with a second:
    the weak pair's n-grams count for no other item, so there is nothing to count (this once
    indexed an empty array with a one-element mask: `curate decontam` failed on such a pool)."""
    import numpy as np

    from curate.decontam.match import pool_rarity
    from curate.decontam.verdict import Hit

    weak = Hit(0, 1, "ngram", 8, 0.1, ((0, 8),), ((0, 8),), score=0.1, verdict="near")
    strong = Hit(0, 0, "exact", 8, 1.0, ((0, 20),), ((0, 20),))
    docs, keys = np.zeros(4, np.int64), np.array([7, 8, 7, 8], np.int64)  # the weak pair's n-grams are the copy's
    hits = pool_rarity([(weak, 0, 2), (strong, 2, 4)], docs, keys, np.zeros(1, np.int64), pool_min=1)
    assert hits == [weak, strong]


def test_problem_groups_are_encoded_only_for_scans_that_weigh_pool_rarity(setup, monkeypatch):
    """`LazyGroups`: a clean scan, and a copy strong enough to need no pool count, never encode
    the problems; a boilerplate sentence in many problems does (its verdicts: the test above)."""
    from curate.decontam import match

    index, code, pool = setup
    calls = []
    real = match.problem_groups
    monkeypatch.setattr(match, "problem_groups", lambda table: calls.append(table.num_rows) or real(table))
    clean, _ = flags(index, pool, pool_min=10)
    copied, _ = flags(index, [code[0]["prompt"], *pool[:3]], pool_min=10)
    assert not any(clean) and copied[0] and calls == []
    found, stats = flags(index, [f"{p}\n{TIE}" for p in pool], pool_min=10)
    assert calls == [len(pool)]  # once for the scan, however many weak pairs read them
    assert not any(found) and all(h["pool_common"] for h in stats["decontam_hits"])
