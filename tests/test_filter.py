"""filter: rejection-sampling policies, every drop recorded, choices independent of part count."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.schema import from_rows
from curate.stages.base import run_stage_on
from curate.stages.filter import Filter


def rows() -> pa.Table:
    """Three problems x four samples with verdicts, lengths, finish reasons and pass rates."""
    out = []
    verdicts = {"p1": ["pass", "pass", "fail", "pass"], "p2": ["fail"] * 4, "p3": ["pass"] * 4}
    for pid, vs in verdicts.items():
        rate = vs.count("pass") / 4
        for i, v in enumerate(vs):
            out.append({"id": pid, "sample_idx": i, "trace_id": f"{pid}-{i}", "domain": "math", "verdict": v,
                        "reasoning": "r" * (40 - 10 * i if pid != "p3" else 10 + i), "answer": "a",
                        "finish_reason": "length" if (pid, i) == ("p1", 3) else "stop", "pass_rate": rate,
                        "completion_tokens": 100 * (i + 1)})
    out.append({"id": "g", "sample_idx": 0, "trace_id": "g-0", "domain": "general", "verdict": "unverified",
                "reasoning": None, "answer": "hi"})
    return from_rows(out)


def kept(config: dict) -> tuple[list[str], list[str]]:
    out, ctx = run_stage_on(Filter(config), rows())
    rejected = ctx.rejected_table()
    return sorted(out.column("trace_id").to_pylist()), rejected.column("reject_reason").to_pylist() if rejected else []


CASES = [
    ({"verdict": ["pass"]}, ["p1-0", "p1-1", "p1-3", "p3-0", "p3-1", "p3-2", "p3-3"]),  # keep all correct
    ({"verdict": ["pass"], "keep": "first"}, ["p1-0", "p3-0"]),  # first correct
    ({"verdict": ["pass"], "keep": "shortest"}, ["p1-3", "p3-0"]),  # shortest correct
    ({"verdict": ["pass"], "max_per_problem": 2, "keep": "first"}, ["p1-0", "p1-1", "p3-0", "p3-1"]),
    ({"verdict": ["pass"], "finish_reason": ["stop"], "keep": "shortest"}, ["p1-1", "p3-0"]),
    ({"max_pass_rate": 0.99, "min_pass_rate": 0.01, "domains": ["math"]},  # window: drop too easy/hopeless
     ["g-0", "p1-0", "p1-1", "p1-2", "p1-3"]),
    ({"max_completion_tokens": 200, "domains": ["math"]}, ["g-0", "p1-0", "p1-1", "p2-0", "p2-1", "p3-0", "p3-1"]),
]


@pytest.mark.parametrize("config,expected", CASES)
def test_policies(config, expected):
    assert kept(config)[0] == expected


def test_every_drop_has_a_reason():
    out, reasons = kept({"verdict": ["pass"], "keep": "first"})
    assert len(out) + len(reasons) == 13
    assert reasons.count("verdict not in ['pass']") == 6
    assert all(r.startswith("more than 1 samples") for r in reasons if "verdict" not in r)


def test_a_row_failing_several_rules_is_rejected_once_by_the_first():
    """p2-2 and p2-3 fail the verdict rule and the token bound: each is rejected once, by the
    verdict rule (listed first); the rejected rows come rule by rule, in row order within a rule."""
    config = {"verdict": ["pass"], "finish_reason": ["stop"], "max_completion_tokens": 200}
    out, ctx = run_stage_on(Filter(config), rows())
    rejected = ctx.rejected_table()
    reasons = dict(zip(rejected["trace_id"].to_pylist(), rejected["reject_reason"].to_pylist()))
    verdict, finish, tokens = "verdict not in ['pass']", "finish_reason not in ['stop']", "completion_tokens above 200"
    assert reasons == {"p1-2": verdict, "p2-0": verdict, "p2-1": verdict, "p2-2": verdict, "p2-3": verdict,
                       "g-0": verdict, "p1-3": finish, "p3-2": tokens, "p3-3": tokens}
    assert rejected["trace_id"].to_pylist()[:6] == ["p1-2", "p2-0", "p2-1", "p2-2", "p2-3", "g-0"]  # rule order
    assert sorted(out["trace_id"].to_pylist()) == ["p1-0", "p1-1", "p3-0", "p3-1"]
    assert {k: v for k, v in ctx.counters.items() if k.startswith("rejected: ")} == {
        f"rejected: {verdict}": 6, f"rejected: {finish}": 1, f"rejected: {tokens}": 2}


def test_rules_that_drop_nothing_return_the_batch_itself():
    """No copy of a batch no rule drops from (the general row's null token count is not out of bounds)."""
    from curate.stages.base import PartContext

    table = rows()
    ctx = PartContext()
    assert Filter({"min_completion_tokens": 1, "drop_duplicates": True}).process(table, ctx) is table
    assert ctx.counters["rejected: completion_tokens below 1"] == 0 and not ctx.rejected


def test_random_choice_is_seeded_and_order_independent():
    config = {"verdict": ["pass"], "keep": "random", "max_per_problem": 2}
    first = run_stage_on(Filter(config), rows())[0].column("trace_id").to_pylist()
    reversed_rows = rows().take(list(range(12, -1, -1)))
    again = run_stage_on(Filter(config), reversed_rows)[0].column("trace_id").to_pylist()
    assert sorted(first) == sorted(again) and len(first) == 4


DATA = Path(__file__).resolve().parents[1] / "recipes" / "data"


def _run(tmp: Path, rows_per_part: int) -> list[str]:
    recipe = tmp / f"r{rows_per_part}.yaml"
    recipe.write_text(f"""
name: f
seed: 3
sources:
  - path: {DATA}/math.jsonl
    domain: math
    columns: {{problem: question, reference: gold, sample_idx: sample}}
    trace: generation
stages:
  - use: load
    rows_per_part: {rows_per_part}
  - use: filter
    keep: random
    finish_reason: [stop]
""")
    run_recipe(load_recipe(recipe), tmp / f"run{rows_per_part}", progress=False)
    parts = sorted((tmp / f"run{rows_per_part}").glob("01-filter/part-*.parquet"))
    return sorted(json.loads(e)["uid"] + f"#{t}" for p in parts
                  for e, t in zip(pq.read_table(p)["extra"].to_pylist(), pq.read_table(p)["trace_id"].to_pylist()))


def test_per_problem_choice_ignores_the_part_count(tmp_path):
    """Problems straddling parts (load cuts by rows) still keep exactly one sample."""
    whole, split = _run(tmp_path, 1000), _run(tmp_path, 7)
    assert whole == split
    uids = [k.split("#")[0] for k in split]
    assert len(uids) == len(set(uids))  # one sample per problem, even across part boundaries
    manifest = json.loads((tmp_path / "run7" / "manifest.json").read_text())
    assert manifest["stages"]["1"]["rejected"] > 0


def test_problem_rows_sharing_a_trace_id_keep_one_row_across_parts(tmp_path):
    """The quickstart-generate shape: several rows per problem, only problem and reference mapped,
    parts cutting through problems. filter keeps one row each and write publishes no trace twice."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: f
seed: 0
sources:
  - path: {DATA}/math.jsonl
    domain: math
    columns: {{problem: question, reference: gold}}
stages:
  - use: load
    rows_per_part: 48
  - use: filter
    max_per_problem: 1
    keep: first
  - use: write
""")
    run_recipe(load_recipe(recipe), tmp_path / "run", progress=False)
    table = pq.read_table(sorted((tmp_path / "run" / "dataset" / "default").glob("*.parquet")))
    problems = {json.loads(line)["uid"] for line in (DATA / "math.jsonl").read_text().splitlines()}
    assert table.num_rows == len(problems) == len(set(table["id"].to_pylist()))
    assert len(set(table["trace_id"].to_pylist())) == table.num_rows


def test_extraction_rule_filter_keeps_boxed_only():
    details = ['{"extraction": "boxed"}', '{"extraction": "last_expression"}', '{"extraction": "phrase"}', None]
    table = from_rows([{"id": f"p{i}", "sample_idx": 0, "trace_id": f"t{i}", "domain": "math", "verdict": "pass",
                        "verify_detail": d, "answer": "a"} for i, d in enumerate(details)])
    out, ctx = run_stage_on(Filter({"extraction": ["boxed"]}), table)
    assert sorted(out.column("trace_id").to_pylist()) == ["t0", "t3"]  # no record (t3): kept
    assert ctx.rejected_table().column("reject_reason").to_pylist() == ["extraction not in ['boxed']"] * 2


@pytest.mark.parametrize("keep", ["random", "first"])
def test_capped_filter_of_a_parquet_source_reads_a_view_with_the_result_of_a_copy(tmp_path, keep):
    """With a per-problem cap, prepare reads every part (problems straddling parts) through
    `read_input`, so load writes no copy of a Parquet source; kept and rejected rows are those
    of a run whose load kept its parts."""
    rows = [{"id": f"q{i // 4}", "sample_idx": i % 4, "problem": f"problem {i // 4}", "answer": str(i),
             "reasoning": "r" * (i % 7), "finish_reason": "length" if i % 5 == 0 else "stop"} for i in range(60)]
    data = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data, row_group_size=8)
    results = []
    for keep_parts in (False, True):
        recipe = tmp_path / f"r-{keep_parts}.yaml"
        recipe.write_text(json.dumps({
            "name": "capview", "seed": 3, "sources": [{"path": str(data), "domain": "math"}],
            "stages": [{"use": "load", "rows_per_part": 7, "keep_parts": keep_parts},
                       {"use": "filter", "finish_reason": ["stop"], "max_per_problem": 2, "keep": keep}]}))
        run = tmp_path / f"run-{keep_parts}"
        run_recipe(load_recipe(recipe), run, progress=False)
        assert bool(list((run / "00-load").glob("part-*.parquet"))) == keep_parts
        kept_rows = [pq.read_table(p).to_pylist() for p in sorted((run / "01-filter").glob("part-*.parquet"))]
        dropped = [pq.read_table(p).to_pylist() for p in sorted((run / "rejected" / "01-filter").glob("*.parquet"))]
        results.append((kept_rows, dropped))
    assert results[0] == results[1]
    ids = [row["id"] for part in results[0][0] for row in part]
    assert len(ids) == 2 * 15 and all(ids.count(i) == 2 for i in set(ids))  # two samples of each problem
