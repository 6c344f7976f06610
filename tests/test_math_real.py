"""Math verification on real model output: the CHAMP answers (PyPI `champ-dataset`, hand-labelled
sample) and Math-Verify's own test tables (from its sdist), against stock math-verify."""

from __future__ import annotations

import pytest

from curate.verifiers.math_extract import extract
from tests.benchmarks.bench_verify_real import real_answers, suite_agreement
from tests.helpers import mv_cases

pytest.importorskip("champ_dataset", reason="pip install champ-dataset (the dev extra)")


def test_real_answers_beat_stock_math_verify():
    result = real_answers("standard")
    ours, stock = result["curate"], result["stock"]
    assert result["labelled"] == 120
    assert ours["accuracy"] >= stock["accuracy"]
    assert ours["false_accepts"] <= stock["false_accepts"] / 2
    # Over all 1,080 rows: the rows where the checkers disagree decide it.
    audit = result["audit"]
    assert result["unlabelled_disagreements"] <= 10, "label the new disagreements in champ_labels.json"
    assert audit["curate"]["false_accepts"] <= audit["stock"]["false_accepts"] / 2
    assert audit["curate"]["false_rejects"] <= audit["stock"]["false_rejects"]
    assert result["curate_pass_all"] >= 150  # was 0 before the cascade (1,058 no_answer)


@pytest.mark.skipif(mv_cases.sdist() is None, reason="run tests/install_test_deps.sh (downloads the sdist)")
def test_math_verify_tables_agreement_floor():
    result = suite_agreement(None)
    assert result["cases"] >= 200
    assert result["agreement"] >= 0.95


CASCADE = [
    ("so the number of such strings is 771.", "last_expression", "771", ()),
    ("**Answer:** 72", "phrase", "72", ()),
    ("Total $$a+b = 230 + 311 = 771$$", "last_expression", "771", ()),
    ("Either way, the answer is either 12 or 13.", "phrase", "13", ("12", "13")),
    ("First \\boxed{12}, then \\boxed{13}.", "boxed", "13", ("12", "13")),
    ("La réponse est 5.", "phrase", "5", ()),
    ("I hope this helps!", "none", None, ()),
]


@pytest.mark.parametrize("text,rule,answer,alternatives", CASCADE)
def test_cascade_records_rule_and_hedges(text, rule, answer, alternatives):
    found = extract(text, "standard")
    assert (found.rule, found.answer) == (rule, answer)
    assert len(found.alternatives) <= 1 if not alternatives else found.alternatives == alternatives


def test_strict_reads_boxes_only():
    assert extract("so the answer is 771.", "strict").answer is None
    assert extract("so \\boxed{771}.", "strict").answer == "771"


HEDGES = [  # gold, what the text committed to, verdict
    ("12", {"alternatives": ["12", "13"], "joined": "12, 13"}, "fail"),  # "either 12 or 13"
    ("252", {"alternatives": ["252", "\\binom{10}{5}"], "joined": "252, \\binom{10}{5}"}, "pass"),  # same value
    ("(2,2),(6,2)", {"alternatives": ["(2,2)", "(6,2)"], "joined": "(2,2), (6,2)"}, "pass"),  # one box per part
    ("3", {"alternatives": ["3"], "forms": ["x = 3"]}, "pass"),
]


@pytest.mark.parametrize("gold,pred,verdict", HEDGES)
def test_hedges_pass_only_when_every_answer_is_right(gold, pred, verdict):
    from curate.verifiers import math

    math.warm_up()
    assert math.check(math.prepare((gold, {})), pred)[0] == verdict


def test_unparseable_gold_is_a_bad_reference_with_its_text():
    from curate.verifiers import math

    with pytest.raises(ValueError, match="Always greater than 20"):
        math.prepare(("Always greater than 20", {}))


def test_verify_report_counts_extraction_rules_and_bad_golds(tmp_path):
    import json

    import pyarrow.parquet as pq

    from curate.schema import from_rows
    from curate.verifiers.report import build_report, upstream_summary, write_report

    details = [("pass", {"extraction": "boxed"}), ("pass", {"extraction": "last_expression"}),
               ("no_answer", {"extraction": "none", "reason": "no final answer found"}),
               ("bad_reference", {"reason": "gold unusable: gold 'Always greater than 20' is prose"})]
    rows = [{"id": f"p{i}", "sample_idx": 0, "trace_id": f"t{i}", "source": "s", "domain": "math", "verdict": v,
             "verify_detail": json.dumps(d)} for i, (v, d) in enumerate(details)]
    pq.write_table(from_rows(rows), tmp_path / "part-0.parquet")
    report = build_report([tmp_path / "part-0.parquet"])
    assert report["extraction"] == {"boxed / pass": 1, "last_expression / pass": 1, "none / no_answer": 1}
    assert report["bad_references"] == [["gold unusable: gold 'Always greater than 20' is prose", 1]]
    write_report([tmp_path / "part-0.parquet"], tmp_path, None)
    assert upstream_summary(tmp_path).startswith("math: 1 bad_reference: gold unusable")
