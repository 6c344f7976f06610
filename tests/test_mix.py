"""mix: exact counts and ratios, seeded, independent of row order and part count; shortages and
up-sampling; every dropped row in rejected/ with its reason. Real runs of small recipes."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from curate.errors import CurateError
from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.stages.mix import MixConfig, largest_remainder

GROUPS = {"math": 23, "code": 11, "general": 9}


def make_rows(order_seed: int | None = None) -> list[dict]:
    rows = [{"trace_id": f"{domain}-{i:03d}", "problem": f"{domain} problem {i}", "answer": str(i),
             "kind": domain}
            for domain, n in GROUPS.items() for i in range(n)]
    if order_seed is not None:
        random.Random(order_seed).shuffle(rows)
    return rows


def run_mix(tmp_path: Path, write_jsonl, write_recipe, mix: dict, *, rows_per_part: int = 7,
            order_seed: int | None = None, seed: int = 0, name: str = "run") -> Path:
    data = write_jsonl(f"{name}-data.jsonl", make_rows(order_seed))
    recipe = {"name": "mixtest", "seed": seed,
              "sources": [{"path": str(data), "name": "pool", "columns": {"domain": "kind"}}],
              "stages": [{"use": "load", "rows_per_part": rows_per_part}, {"use": "mix", **mix}]}
    path = write_recipe(recipe, f"{name}.yaml")
    run_dir = tmp_path / name
    run_recipe(load_recipe(path), run_dir, progress=False)
    return run_dir


def kept(run_dir: Path) -> list[str]:
    parts = sorted((run_dir / "01-mix").glob("part-*.parquet"))
    return sorted(t for p in parts for t in pq.read_table(p, columns=["trace_id"])["trace_id"].to_pylist())


def rejected(run_dir: Path) -> list[dict]:
    parts = sorted((run_dir / "rejected" / "01-mix").glob("part-*.parquet"))
    return [r for p in parts for r in pq.read_table(p, columns=["trace_id", "reject_reason"]).to_pylist()]


def test_exact_counts_per_group_and_rejects_with_reasons(tmp_path, write_jsonl, write_recipe):
    config = {"by": "domain", "counts": {"math": 10, "code": 4, "general": 9}}
    run = run_mix(tmp_path, write_jsonl, write_recipe, config)
    counts = Counter(t.split("-")[0] for t in kept(run))
    assert counts == {"math": 10, "code": 4, "general": 9}
    rej = rejected(run)
    assert len(rej) == (23 - 10) + (11 - 4)
    assert Counter(r["reject_reason"] for r in rej) == {
        "not selected by mix (group math: kept 10 of 23)": 13,
        "not selected by mix (group code: kept 4 of 11)": 7}
    assert set(kept(run)).isdisjoint(r["trace_id"] for r in rej)


def test_realised_counts_reach_the_manifest(tmp_path, write_jsonl, write_recipe):
    import json

    run = run_mix(tmp_path, write_jsonl, write_recipe, {"by": "domain", "counts": {"math": 5, "code": 5, "general": 5}})
    stage = json.loads((run / "manifest.json").read_text())["stages"]["1"]
    stats = stage["prepare_stats"]
    assert stats["mix_total"] == 15 and stage["rows_out"] == 15
    assert stats["mix_groups"]["math"] == {"available": 23, "target": 5, "kept": 5, "repeated": 0}


def test_ratios_with_total_are_exact(tmp_path, write_jsonl, write_recipe):
    run = run_mix(tmp_path, write_jsonl, write_recipe,
                  {"by": "domain", "ratios": {"math": 0.5, "code": 0.3, "general": 0.2}, "total": 21})
    counts = Counter(t.split("-")[0] for t in kept(run))
    assert sum(counts.values()) == 21
    assert counts == largest_remainder({"math": 0.5, "code": 0.3, "general": 0.2}, 21)


def test_groups_without_target_are_dropped_or_kept(tmp_path, write_jsonl, write_recipe):
    dropped = run_mix(tmp_path, write_jsonl, write_recipe, {"by": "domain", "counts": {"math": 3}}, name="drop")
    assert Counter(t.split("-")[0] for t in kept(dropped)) == {"math": 3}
    reasons = Counter(r["reject_reason"] for r in rejected(dropped))
    assert reasons["group code has no mix target (by domain)"] == 11
    kept_all = run_mix(tmp_path, write_jsonl, write_recipe, {"by": "domain", "counts": {"math": 3}, "others": "keep"},
                       name="keep")
    assert Counter(t.split("-")[0] for t in kept(kept_all)) == {"math": 3, "code": 11, "general": 9}


def test_asking_for_more_than_exists_names_every_group(tmp_path, write_jsonl, write_recipe):
    with pytest.raises(CurateError) as info:
        run_mix(tmp_path, write_jsonl, write_recipe, {"by": "domain", "counts": {"math": 30, "code": 2, "science": 1}})
    err = info.value
    assert "math wants 30 but has 23" in err.message and "science wants 1 but has 0" in err.message
    assert "code=11" in err.hint and "general=9" in err.hint and "repeat" in err.hint


def test_repeat_upsamples_with_distinct_trace_ids(tmp_path, write_jsonl, write_recipe):
    run = run_mix(tmp_path, write_jsonl, write_recipe,
                  {"by": "domain", "counts": {"math": 5, "code": 25, "general": 9}, "repeat": ["code"]})
    ids = kept(run)
    assert len(ids) == len(set(ids)) == 39
    code = [t for t in ids if t.startswith("code-")]
    assert len(code) == 25
    originals = Counter(t.split("#")[0] for t in code)
    assert set(originals) == {f"code-{i:03d}" for i in range(11)}  # every row at least twice
    assert sorted(Counter(originals.values()).items()) == [(2, 8), (3, 3)]  # 25 = 2*11 + 3
    extras = pq.read_table(sorted((run / "01-mix").glob("part-*.parquet")), columns=["trace_id", "extra"]).to_pylist()
    assert all('"mix_copy": ' in (r["extra"] or "") for r in extras if "#mix" in r["trace_id"])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.integers(0, 10_000), rows_per_part=st.integers(3, 50))
def test_selection_ignores_row_order_and_part_count(tmp_path_factory, write_jsonl, write_recipe, order, rows_per_part):
    tmp = tmp_path_factory.mktemp("prop")
    mix = {"by": "domain", "counts": {"math": 7, "code": 5, "general": 2}}
    reference = run_mix(tmp, write_jsonl, write_recipe, mix, rows_per_part=43, name="ref")
    shuffled = run_mix(tmp, write_jsonl, write_recipe, mix, rows_per_part=rows_per_part, order_seed=order, name="shuf")
    assert kept(shuffled) == kept(reference)


def test_seed_changes_the_choice(tmp_path, write_jsonl, write_recipe):
    mix = {"by": "domain", "counts": {"math": 8}}
    a = run_mix(tmp_path, write_jsonl, write_recipe, mix, seed=1, name="a")
    b = run_mix(tmp_path, write_jsonl, write_recipe, mix, seed=2, name="b")
    again = run_mix(tmp_path, write_jsonl, write_recipe, mix, seed=1, name="again")
    assert kept(a) == kept(again)
    assert kept(a) != kept(b)


def test_largest_remainder_sums_to_total():
    for total in range(50):
        shares = largest_remainder({"a": 0.2, "b": 0.45, "c": 0.35}, total)
        assert sum(shares.values()) == total


@pytest.mark.parametrize("config, message", [
    ({}, "exactly one of"),
    ({"counts": {"a": 1}, "ratios": {"a": 1.0}}, "exactly one of"),
    ({"ratios": {"a": 1.0}}, "need a `total`"),
    ({"counts": {"a": 1}, "by": "colour"}, "not a trace column"),
    ({"counts": {"a": -1}}, ">= 0"),
])
def test_config_errors_say_what_to_do(config, message):
    with pytest.raises(ValidationError, match=message):
        MixConfig(**config)


def test_shortage_after_verify_names_the_verify_reasons(tmp_path, write_jsonl, write_recipe):
    """Real prose answers, boxed-only extraction: the mix error says why nothing passed."""
    rows = [{"trace_id": f"m-{i}", "problem": f"p{i}", "answer": f"so the number of such strings is {i}.",
             "reference": str(i), "kind": "math"} for i in range(6)]
    data = write_jsonl("prose.jsonl", rows)
    recipe = {"name": "why", "sources": [{"path": str(data), "name": "pool", "columns": {"domain": "kind"}}],
              "stages": [{"use": "load"}, {"use": "verify", "extract": "strict", "checkers": 1},
                         {"use": "filter", "verdict": ["pass"]}, {"use": "mix", "by": "domain", "counts": {"math": 3}}]}
    with pytest.raises(CurateError) as info:
        run_recipe(load_recipe(write_recipe(recipe, "why.yaml")), tmp_path / "run", progress=False)
    err = info.value
    assert "math wants 3 but has 0" in err.message
    assert "math: 6 no_answer: no \\boxed{} answer" in err.message and "reports/verify.md" in err.message
    assert "extract: standard" in err.hint and "\\boxed{}" in err.hint


@pytest.mark.parametrize("repeat", [False, True])
def test_parquet_sources_are_mixed_from_a_view_with_the_same_result_as_from_a_copy(tmp_path, write_recipe,
                                                                                   repeat):
    """load writes no parts for a Parquet source when mix follows it (prepare reads views), and
    the kept rows, their order and the rejected rows are those of a run whose load kept its copy."""
    import pyarrow as pa

    data = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(make_rows(order_seed=3)), data, row_group_size=10)
    counts = {"math": 30, "code": 4} if repeat else {"math": 10, "code": 4}
    results = []
    for keep_parts in (False, True):
        recipe = {"name": "mixview", "seed": 0,
                  "sources": [{"path": str(data), "name": "pool", "columns": {"domain": "kind"}}],
                  "stages": [{"use": "load", "rows_per_part": 17, "keep_parts": keep_parts},
                             {"use": "mix", "by": "domain", "counts": counts, "repeat": repeat}]}
        run = tmp_path / f"run-{keep_parts}"
        run_recipe(load_recipe(write_recipe(recipe, f"mix-{keep_parts}.yaml")), run, progress=False)
        assert bool(list((run / "00-load").glob("part-*.parquet"))) == keep_parts
        parts = sorted((run / "01-mix").glob("part-*.parquet"))
        results.append(([pq.read_table(p).to_pylist() for p in parts], rejected(run)))
    assert results[0] == results[1]
    kept_rows = [row for part in results[0][0] for row in part]
    assert len(kept_rows) == sum(counts.values())
    assert len(results[0][1]) == 9 + 7 + (0 if repeat else 13)  # general: no target; code: 7 not chosen; math
