"""The verify stage on the sample corpus: verdicts match the planted faults; pass@k; the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.evaluation.estimators import pass_at_k
from curate.evaluation.problem_stats import ks_for, problem_stats
from curate.recipe import load_recipe
from curate.runner import run_recipe

DATA = Path(__file__).resolve().parents[1] / "recipes" / "data"
FAULT_VERDICT = {"wrong": "fail", "truncated": "no_answer", "no_answer": "no_answer", "alt": "pass",
                 "final_sentence": "pass", "hang": "timeout"}


def plants(file: str) -> dict[tuple[str, int], str]:
    """(uid, sample) -> planted fault, read from PLANTS.md."""
    out = {}
    for line in (DATA / "PLANTS.md").read_text().splitlines():
        m = re.match(r"\|\s*" + re.escape(file) + r"\s*\|\s*(\S+)\s*\|\s*(\d+)\s*\|\s*(\S+)\s*\|", line)
        if m:
            out[(m.group(1), int(m.group(2)))] = m.group(3)
    return out


def run(tmp_path: Path, recipe_text: str) -> pa.Table:
    path = tmp_path / "r.yaml"
    path.write_text(recipe_text)
    run_recipe(load_recipe(path), tmp_path / "run", progress=False)
    parts = sorted((tmp_path / "run").glob("01-verify/part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts])


MATH_RECIPE = f"""
name: vt
seed: 1
sources:
  - path: {DATA}/math.jsonl
    name: math
    domain: math
    columns: {{problem: question, reference: gold, sample_idx: sample}}
    trace: generation
  - path: {DATA}/general.jsonl
    domain: general
    messages: messages
stages:
  - use: load
  - use: verify
    checkers: 2
"""


@pytest.fixture(scope="module")
def math_out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("verify_math")
    return run(tmp, MATH_RECIPE), tmp


def test_math_verdicts_match_the_plants(math_out):
    table, _ = math_out
    rows = [r for r in table.to_pylist() if r["domain"] == "math"]
    planted = plants("math.jsonl")
    wrong = []
    for row in rows:
        uid = json.loads(row["extra"])["uid"]
        expected = "bad_reference" if uid == "m-023" else FAULT_VERDICT[planted.get((uid, row["sample_idx"]), "alt")]
        if row["verdict"] != expected:
            wrong.append((uid, row["sample_idx"], row["verdict"], expected, row["verify_detail"]))
    assert not wrong
    assert len(rows) == 136


def test_every_row_annotated_and_general_unverified(math_out):
    table, _ = math_out
    assert table.num_rows == 136 + 40
    verdicts = table.column("verdict").to_pylist()
    assert None not in verdicts
    general = [r for r in table.to_pylist() if r["domain"] == "general"]
    assert {r["verdict"] for r in general} == {"unverified"}
    assert all(r["pass_rate"] is None and r["problem_stats"] is None for r in general)


def test_problem_stats(math_out):
    table, _ = math_out
    by_id: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        if row["domain"] == "math":
            by_id.setdefault(row["id"], []).append(row)
    for rows in by_id.values():
        stats = json.loads(rows[0]["problem_stats"])
        assert all(r["problem_stats"] == rows[0]["problem_stats"] for r in rows)
        assert stats["n"] == len(rows)
        if stats.get("bad_reference"):
            assert rows[0]["pass_rate"] is None
            continue
        correct = sum(r["verdict"] == "pass" for r in rows)
        assert stats["correct"] == correct and rows[0]["pass_rate"] == correct / len(rows)
        assert [k for k in stats if k.startswith("pass@")] == [f"pass@{k}" for k in ks_for(len(rows))]
        assert stats["pass@1"] == pytest.approx(correct / len(rows))
        if correct >= 2:
            assert 0.0 <= stats["mean_pairwise_ngram_overlap"] <= 1.0 and stats["distinct_answers"] >= 1


def test_report_files(math_out):
    _, tmp = math_out
    report = json.loads((tmp / "run" / "reports" / "verify.json").read_text())
    wrong = sum(f == "wrong" for f in plants("math.jsonl").values())
    assert report["counts"]["math / math"]["fail"] == wrong
    assert report["counts"]["general / general"] == {"unverified": 40}
    assert any("prose, not math" in reason for reason, _ in report["top_failure_reasons"])
    md = (tmp / "run" / "reports" / "verify.md").read_text()
    assert "| math / math |" in md and "pass@1=" in md


def test_pass_at_k_agrees_with_the_combinatorial_definition():
    from math import comb

    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - comb(n - c, k) / comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_diversity_counts_distinct_correct_answers():
    stats = problem_stats(["pass", "pass", "fail", "pass"], ["1/2", "0.5", "3", "1/2"],
                          ["a b c d e f", "a b c d e f", "x", "totally different words here now"])
    assert stats["distinct_answers"] == 2 and stats["correct"] == 3
    assert 0 < stats["mean_pairwise_ngram_overlap"] < 1
    assert problem_stats(["bad_reference"] * 2, [None, None], ["", ""]) == {"n": 2, "correct": 0, "bad_reference": True}


CODE_RECIPE = f"""
name: vc
seed: 1
sources:
  - path: {DATA}/code.jsonl
    name: code
    domain: code
    columns: {{problem: question, reference: tests, sample_idx: sample}}
    trace: generation
stages:
  - use: load
  - use: verify
    checkers: 2
    code_timeout: 3
"""


def test_code_verdicts_match_the_plants(tmp_path):
    import shutil as _shutil

    if not _shutil.which("bwrap") and not __import__("os").environ.get("CI"):
        pytest.skip("bubblewrap not installed")
    table = run(tmp_path, CODE_RECIPE)
    planted = plants("code.jsonl")
    expected_for = {"wrong": "fail", "hang": "timeout", "truncated": "no_answer"}
    got = {(json.loads(r["extra"])["uid"], r["sample_idx"]): r["verdict"] for r in table.to_pylist()}
    expected = {key: expected_for[planted[key]] if key in planted else "pass" for key in got}
    assert got == expected
    report = json.loads((tmp_path / "run" / "reports" / "verify.json").read_text())
    assert report["counts"]["code / code"]["timeout"] == 1


def test_code_checked_ahead_in_prepare_gives_each_part_the_same_rows(tmp_path, monkeypatch):
    """A small inline run checks its code rows in prepare (prefetch); the parts take those
    results: rows and counters equal a run whose parts check their own code."""
    from curate.verifiers import prefetch

    recipe = CODE_RECIPE.replace("    checkers: 2\n", "    checkers: 2\n    sandbox: none\n").replace(
        "  - use: load\n", "  - use: load\n    rows_per_part: 10\n")
    started = []
    monkeypatch.setattr(prefetch, "_STARTED", {})  # what an earlier test may have left unclaimed
    monkeypatch.setattr(prefetch, "start", lambda rows, *a, start=prefetch.start: (started.append(len(rows)),
                                                                                  start(rows, *a)))
    for name in ("ahead", "alone"):
        (tmp_path / name).mkdir()
    ahead = run(tmp_path / "ahead", recipe)
    assert started == [32] and not prefetch._STARTED  # every started row was taken by its part
    monkeypatch.setattr(prefetch, "MAX_ROWS", 0)
    alone = run(tmp_path / "alone", recipe)
    assert len(started) == 1
    assert ahead.to_pylist() == alone.to_pylist()

    def counters(name):
        stages = json.loads((tmp_path / name / "run" / "manifest.json").read_text())["stages"]
        return stages["1"]["counters"]

    assert counters("ahead") == counters("alone") and counters("ahead")["sandbox runs"] > 0


def test_a_small_run_starts_the_math_workers_its_rows_need():
    """A worker pays its own first checks' set-up, so a run of a few hundred math rows starts
    one; the parts, asking with the configured count, get that same pool."""
    from curate.verifiers import math_rows

    assert math_rows.workers_for(136, 2) == 1
    assert math_rows.workers_for(math_rows.ROWS_PER_WORKER + 1, 2) == 2
    assert math_rows.workers_for(10_000, 4) == 4 and math_rows.workers_for(0, 4) == 1
    saved = dict(math_rows._POOLS)
    math_rows._POOLS.clear()
    try:
        early = math_rows.get_pool(workers=2, deadline=1.5, memory_mb=1024, rows=136)
        assert early.workers == 1
        assert math_rows.get_pool(workers=2, deadline=1.5, memory_mb=1024) is early
        assert early.run([(("1/2", {}), ["0.5", "3"])])[0][0][0] == "pass"
    finally:
        math_rows.close_pools()
        math_rows._POOLS.update(saved)


def test_missing_bwrap_is_refused_with_the_install_line(monkeypatch, tmp_path):
    from curate.errors import CurateError
    from curate.stages.verify import Verify

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CurateError) as err:
        Verify()
    assert "apt-get install bubblewrap" in err.value.hint
    Verify(sandbox="none")  # explicit opt-out works
    Verify(verifiers={"math": "math"})  # no code verifier, no sandbox needed


def test_output_is_independent_of_the_part_count(math_out, tmp_path):
    """Problems straddling parts are judged whole: same annotations with 1 part or 8."""
    one, _ = math_out
    many = run(tmp_path, MATH_RECIPE.replace("  - use: load\n", "  - use: load\n    rows_per_part: 25\n"))
    parts = list((tmp_path / "run").glob("01-verify/part-*.parquet"))
    assert len(parts) == 8  # 176 rows, 25 per part

    def rows(table):
        return sorted(table.to_pylist(), key=lambda r: r["trace_id"])

    assert rows(many) == rows(one)
    stats = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]["1"]
    assert stats["rows_out"] == 176
    assert stats["prepare_stats"]["split_problems"] > 0


def test_dry_run_preview_shows_what_would_be_compared():
    from curate.schema import from_rows
    from curate.stages.verify import Verify

    table = from_rows([
        {"id": "a", "sample_idx": 0, "domain": "math", "reference": "\\frac12", "answer": "so \\boxed{0.5}"},
        {"id": "b", "sample_idx": 0, "domain": "math", "reference": "3", "reasoning": "hmm", "answer": None},
        {"id": "c", "sample_idx": 0, "domain": "code", "answer": "```python\nprint(1)\n```",
         "reference": json.dumps({"type": "stdio", "tests": [{"input": "", "output": "1"}]})},
        {"id": "d", "sample_idx": 0, "domain": "general", "answer": "hi"},
    ])
    text = Verify(sandbox="none").preview(table).splitlines()
    assert "answer '0.5' (boxed) vs gold '\\\\frac12'" in text[0]
    assert "no_answer (reasoning never closed" in text[1]
    assert "1-line program, stdio tests: 1" in text[2]
    assert text[3].endswith("unverified")


def test_an_empty_answer_is_not_reported_as_unclosed_reasoning():
    """`<think>…</think>` and nothing after is an empty answer; no `</think>` at all is unclosed."""
    from curate.schema import split_reasoning
    from curate.verifiers.math_rows import prepare_row

    def reason(text: str, finish: str = "stop") -> str:
        reasoning, answer = split_reasoning(text, prefilled=True)
        row = {"reference": "4", "reasoning": reasoning, "answer": answer, "finish_reason": finish}
        return prepare_row(row)[1]["reason"]

    assert reason("<think>\n2+2=4\n</think>\n\n") == "empty answer: nothing after the reasoning (</think>)"
    assert reason("<think>\n2+2 is").startswith("reasoning never closed")
    assert reason("<think>\n2+2 is", finish="length").startswith("truncated")
    assert prepare_row({"reference": "4", "answer": "  "})[1]["reason"] == "empty answer"


def test_a_math_verify_stage_checks_its_extra_without_importing_it(monkeypatch):
    """math-verify (and sympy, ~1.5 CPU-s) is imported by the worker processes only."""
    import importlib.util
    import subprocess
    import sys

    from curate.errors import MissingExtra
    from curate.stages.verify import Verify

    code = ("import sys\nfrom curate.stages.verify import Verify\nVerify({'verifiers': {'math': 'math'}})\n"
            "print('math_verify' in sys.modules, 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "math_verify" else real(name, *a))
    with pytest.raises(MissingExtra, match="math_verify"):
        Verify({"verifiers": {"math": "math"}})
