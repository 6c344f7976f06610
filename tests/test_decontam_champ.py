"""Decontamination at its defaults on real competition problems (CHAMP, PyPI `champ-dataset`):
problems of one competition share stems ("For how many values of n in {1, 2, ..., 100} do we
have", "what is the smallest value of"), so a short item's stem, repeated by another problem,
covers much of its information. Such look-alikes are near, never flagged; copies of the item,
its constants changed (glued to letters too: `2x+1` -> `5x+3`), or a long quote, are flagged
(see curate/decontam/evidence.py; the figures: tests/benchmarks/bench_decontam_real.py --champ)."""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
from decontam_real import FIELDS, PROSE, champ_corpus, change_numbers

from curate.decontam.index_build import build_index
from curate.decontam.select import BenchItem
from curate.stages.decontam import scan_table

# CI installs it (tests/install_test_deps.sh): there a missing package fails instead of skipping
if not os.environ.get("CI"):
    pytest.importorskip("champ_dataset", reason="pip install champ-dataset (the dev extra)")

# (benchmark item, another CHAMP problem that shares its stem): different problems
LOOKALIKES = [("P_Inequality_48", "P_Inequality_33"), ("P_Inequality_26", "P_Inequality_21"),
              ("P_Polynomial_17", "P_Polynomial_42"), ("P_Inequality_2", "P_Sequence_23"),
              ("P_Combinatorics_33", "P_Combinatorics_38")]


def problems() -> dict:
    import champ_dataset

    return {k: p.text for k, p in champ_dataset.load("v0").problems.items()}


def scan(items: list[str], texts: list[str]) -> tuple[list, list[dict]]:
    text = problems()
    index = build_index([BenchItem("champ", k, text[k]) for k in items], [], set(FIELDS.values()))
    table = pa.table({"id": [str(i) for i in range(len(texts))], "problem": texts})
    stats: dict = {}
    return scan_table(index, table, fields=FIELDS, stats=stats), stats["decontam_hits"]


def test_problems_that_share_a_short_items_stem_are_near_not_flagged():
    text = problems()
    items = [a for a, _ in LOOKALIKES]
    found, hits = scan(items, [text[b] for _, b in LOOKALIKES])
    assert not any(found), [(b, f) for (_, b), f in zip(LOOKALIKES, found) if f]
    # each shares a large share of its item's information, and is listed as near
    near = {(h["row_id"], h["item_id"]) for h in hits if h["verdict"] == "near" and h["score"] >= 0.3}
    assert len(near) >= 4


def test_copies_of_the_same_short_items_are_flagged():
    import random

    text = problems()
    items = [a for a, _ in LOOKALIKES] + ["P_Number-Theory_29"]
    rng = random.Random(0)
    copies = [text[k] for k in items] + [change_numbers(text[k], rng) for k in items]
    found, hits = scan(items, copies)
    assert all(f"champ:{k}" in {x.removesuffix(" (template)") for x in f} for k, f in zip(items * 2, found))
    # x, 2x+1 and 4x+1 with other constants: the glued constants are changed constants of a template
    (record,) = [h for h in hits if h["row_id"] == str(2 * len(items) - 1) and h["verdict"] == "leak"]
    assert record["kind"] == "template" and any(a.endswith("x") for a, _ in record["changed_numbers"])


@pytest.fixture(scope="module")
def results() -> list[tuple]:
    out = []
    for fold in (0, 1):
        items, rows = champ_corpus(fold)
        index = build_index(items, [{"name": "champ"}], set(FIELDS.values()))
        table = pa.table({"id": [f"r{i}" for i in range(len(rows))], "problem": [r.problem for r in rows],
                          "reasoning": [r.reasoning for r in rows], "answer": [r.answer for r in rows]})
        found = scan_table(index, table, fields=FIELDS, stats={})
        out += list(zip(rows, found))
    return out


def test_clean_competition_rows_are_almost_never_flagged(results):
    clean = [(row, keys) for row, keys in results if not row.kind and not row.sibling]
    flagged = [(row.problem or row.reasoning or "")[:80] for row, keys in clean if keys]
    # before the own-content rule: 18 of 573 (3.1%), each a look-alike sharing a short item's stem
    assert len(clean) >= 500 and len(flagged) < 0.005 * len(clean), flagged


def test_competition_leaks_are_flagged(results):
    def caught(kind: str) -> tuple[int, int]:
        rows = [(row, keys) for row, keys in results if row.kind == kind]
        return sum(row.item in {k.removesuffix(" (template)") for k in keys} for row, keys in rows), len(rows)

    for kind in ("verbatim", "reformatted", "in_reasoning"):
        hit, planted = caught(kind)
        assert hit == planted == 270, kind
    # before issue 17's rules 250 and 12: copies reported only as a look-alike item, short items whose
    # every constant changed (glued `19x` too) never judged, a quote of an item's numbers near
    assert caught("constants") == (270, 270) and caught("snippet") == (15, 15)


def test_a_copy_of_an_item_is_flagged_as_it_beside_a_look_alike():
    # (item, its look-alike in the benchmark, the row): the look-alike's match covers as much of
    # the row (equal up to constants) or less (a shorter item, a quote of the words both share),
    # so it does not explain the item's match away; each row leaked its item
    cases = [("P_Inequality_35", "P_Inequality_39",
              "For how many values of n in {102, ..., 1001} is 4/(n+3)+8/(n+9)+...+9/(3n)<9/7?"),
             ("P_Combinatorics_20", "P_Combinatorics_40",
              "Find the number of ways to fill a 4 x 11 rectangle with 2 x 4 tiles and three-cell L-shaped tiles "
              "(i.e., a 11 x 3 tile without a corner)."),
             ("P_Sequence_2", "P_Sequence_6",
              "Solve the following task and explain each step. {y_n}, {z_n} be three sequences with positive "
              "initial terms x_1, y_1, z_1, defined as x_(n+1)=y_n+1/z_n, y_(n+1)=z_n+1/x_n, z_(n+1)=x_n+1/y_n. "
              "Let w_n be the maximum value of x_n, y_n, z_n. For Use only the standard library.")]
    found, _ = scan([k for a, b, _ in cases for k in (a, b)], [text for *_, text in cases])
    for (item, _, _), keys in zip(cases, found):
        assert f"champ:{item}" in {k.removesuffix(" (template)") for k in keys}, (item, keys)


def test_a_short_item_with_every_constant_changed_is_a_template():
    # every n-gram of these items holds a constant glued to letters (`19x`, `2x`, `3xyz`, `15n`):
    # with its digits changed no n-gram was shared, so the copy was never even judged
    copies = {"P_Number-Theory_21": "Find all integer solutions to the equation 22x^5-93y^11=1991.",
              "P_Number-Theory_30": "Find all integer solutions to the equation 22x^10-16y^7=16.",
              "P_Number-Theory_57": "Find all possible values of 13^n+17n-4 mod 12 for interger n≥1.",
              "P_Polynomial_7": "Find the remainder of x^101-10x^54+5 divided by x^8-5.",
              "P_Polynomial_19": "Factorize x^10+y^8+z^9-12xyz.",
              "P_Polynomial_2": "Solve the equation x^8+a^9-8a*x^11+11a^12*x=9 for a≠4 as an expression of a."}
    found, hits = scan(list(copies), list(copies.values()))
    for item, keys in zip(copies, found):
        assert f"champ:{item} (template)" in keys, (item, keys)
    # the report lists the glued constants the copy changed
    (record,) = [h for h in hits if h["item_id"] == "P_Polynomial_7" and h["row_id"] == "3"]
    assert ["2x", "10x"] in record["changed_numbers"]


def test_an_item_shorter_than_n_with_every_constant_changed_is_a_template():
    # `Find 3^105+4^105 mod 7` has 7 words: found only whole (the exact path), which compared the
    # real words, so a copy with other constants was never a candidate
    items = ["P_Number-Theory_22", "P_Number-Theory_24"]
    rows = ["Find 4^110+5^110 mod 12.", "Find 3^33+9 mod 650.", "Find 3^105+4^105 mod 7.",
            "<think>" + PROSE + " First I find 3^33+9 mod 650 to see the pattern, then the rest of the "
            "argument follows from Fermat's little theorem applied twice.</think>"]
    text = problems()
    index = build_index([BenchItem("champ", k, text[k]) for k in items], [], set(FIELDS.values()))
    table = pa.table({"id": [str(i) for i in range(len(rows))], "problem": rows[:3] + ["Solve it."],
                      "reasoning": [None] * 3 + [rows[3]]})
    stats: dict = {}
    found = scan_table(index, table, fields=FIELDS, stats=stats)
    assert found[:3] == [{"champ:P_Number-Theory_22 (template)"}, {"champ:P_Number-Theory_24 (template)"},
                         {"champ:P_Number-Theory_22"}]
    (record,) = [h for h in stats["decontam_hits"] if h["row_id"] == "1"]
    assert record["changed_numbers"] == [["2", "3"], ["32", "33"], ["1", "9"], ["641", "650"]]
    # the same words inside a longer trace are a step of another task: near, not flagged
    assert not found[3] and [h["verdict"] for h in stats["decontam_hits"] if h["row_id"] == "3"] == ["near"]


def test_a_quote_of_an_items_numbers_and_words_is_a_leak():
    # 20 words of P_Number-Theory_35 word for word: half are its sequence `9, 7, 7, 4, ...`, and
    # numbers weigh a fifth, so among the 135 items of a fold the quote scores just under 0.3
    text = problems()  # the benchmark half of fold 0 (decontam_real.champ_corpus)
    items = [BenchItem("champ", k, text[k]) for i, k in enumerate(text) if i % 2 == 0]
    index = build_index(items, [{"name": "champ"}], set(FIELDS.values()))
    quote = ("Solve the following task and explain each step. 9, 7, 7, 4, 7, 5, 3, 9, 4, 1... From the fifth "
             "number, every number is the sum of the Use only the standard library.")
    table = pa.table({"id": ["0"], "problem": [quote]})
    stats: dict = {}
    (keys,) = scan_table(index, table, fields=FIELDS, stats=stats)
    (record,) = [h for h in stats["decontam_hits"] if h["item_id"] == "P_Number-Theory_35"]
    assert keys == {"champ:P_Number-Theory_35"} and 0.15 <= record["score"] < 0.3
