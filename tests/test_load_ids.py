"""Problem identity: ids scoped by source, `id_scope: global`, duplicate ids refused with lines."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.errors import InputError
from curate.fingerprint import digest
from curate.recipe import validate_recipe
from curate.runner import run_recipe
from curate.stages.load_ids import with_ids


def run(tmp_path, sources, stages=(), name="run"):
    raw = {"name": "t", "sources": sources, "stages": [{"use": "load", "keep_parts": True}, *stages],
           "base_dir": str(tmp_path)}
    run_recipe(validate_recipe(raw), tmp_path / name, progress=False)
    last = sorted(p for p in (tmp_path / name).iterdir() if p.name[:2].isdigit())[-1]
    return pa.concat_tables([pq.read_table(p) for p in sorted(last.glob("part-*.parquet"))])


def two_sources_with_id_1(write_jsonl):
    write_jsonl("alg.jsonl", [{"id": 1, "problem": "What is 1+1?", "answer": "\\boxed{2}", "reference": "2"}])
    write_jsonl("geo.jsonl", [{"id": 1, "problem": "How many sides has a square?", "answer": "\\boxed{5}",
                               "reference": "4"}])


def test_same_id_in_two_sources_stays_two_problems(tmp_path, write_jsonl):
    two_sources_with_id_1(write_jsonl)
    sources = [{"path": "alg.jsonl", "domain": "math"}, {"path": "geo.jsonl", "domain": "math"}]
    out = run(tmp_path, sources, [{"use": "verify", "checkers": 1}, {"use": "filter", "max_per_problem": 1}])
    rows = {r["id"]: r for r in out.to_pylist()}
    assert sorted(rows) == ["alg:1", "geo:1"]  # the cap kept one sample of each problem
    assert (rows["alg:1"]["verdict"], rows["alg:1"]["pass_rate"]) == ("pass", 1.0)
    assert (rows["geo:1"]["verdict"], rows["geo:1"]["pass_rate"]) == ("fail", 0.0)  # not pooled


def test_id_scope_global_shares_the_id_space(tmp_path, write_jsonl):
    two_sources_with_id_1(write_jsonl)
    sources = [{"path": "alg.jsonl", "id_scope": "global"}, {"path": "geo.jsonl", "id_scope": "global"}]
    out = run(tmp_path, sources, [{"use": "filter", "max_per_problem": 1}])
    assert out["id"].to_pylist() == ["1"]  # one problem on purpose: the cap keeps one of the two rows


def test_sources_without_ids_keep_their_derived_ids(tmp_path, write_jsonl):
    write_jsonl("p.jsonl", [{"problem": "  What is 1+1?\n"}, {"problem": "What is 2+2?"}])
    out = run(tmp_path, [{"path": "p.jsonl"}])
    assert out["id"].to_pylist() == [digest("p", "What is 1+1?"), digest("p", "What is 2+2?")]


def test_a_run_source_keeps_its_ids(tmp_path, write_jsonl):
    two_sources_with_id_1(write_jsonl)
    first = run(tmp_path, [{"path": "alg.jsonl"}])
    again = run(tmp_path, [{"path": f"run:{tmp_path / 'run'}"}], name="chained")
    assert again["id"].to_pylist() == first["id"].to_pylist() == ["alg:1"]
    assert again["trace_id"].to_pylist() == first["trace_id"].to_pylist()
    for inside in ("run/00-load", "run/00-load/part-00000.parquet"):  # a stage folder, a part file
        assert run(tmp_path, [{"path": inside}], name=inside.replace("/", "_"))["id"].to_pylist() == ["alg:1"]


def test_duplicate_ids_in_jsonl_name_the_lines(tmp_path):
    lines = ['{"id": 7, "problem": "first"}', "", '{"id": 8, "problem": "second"}', '{"id": 7, "problem": "third"}']
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        run(tmp_path, [{"path": "d.jsonl"}])
    assert f"{tmp_path / 'd.jsonl'}:1, {tmp_path / 'd.jsonl'}:4" in info.value.message
    assert "'7'" in info.value.message and "'8'" not in info.value.message
    assert "sample_idx" in info.value.hint


def test_duplicate_ids_across_parquet_files_name_the_rows(tmp_path):
    (tmp_path / "d").mkdir()
    pq.write_table(pa.table({"qid": ["a", "b"], "q": ["x", "y"]}), tmp_path / "d" / "0.parquet")
    pq.write_table(pa.table({"qid": ["c", "b"], "q": ["z", "w"]}), tmp_path / "d" / "1.parquet")
    with pytest.raises(InputError) as info:
        run(tmp_path, [{"path": "d", "columns": {"id": "qid", "problem": "q"}}])
    message = info.value.message
    assert f"0.parquet row 1 (counting from 0), {tmp_path / 'd' / '1.parquet'} row 1" in message


def test_samples_of_one_problem_share_its_id(tmp_path, write_jsonl):
    samples = [{"id": 1, "problem": "What is 1+1?", "answer": a} for a in ("2", "3")]
    write_jsonl("s.jsonl", samples)
    out = run(tmp_path, [{"path": "s.jsonl"}])
    assert out["id"].to_pylist() == ["s:1", "s:1"] and len(set(out["trace_id"].to_pylist())) == 2
    write_jsonl("twice.jsonl", [{**s, "sample_idx": 0} for s in samples])
    with pytest.raises(InputError, match="one sample twice"):
        run(tmp_path, [{"path": "twice.jsonl"}], name="twice")


def test_the_fingerprint_covers_scoped_ids_and_leaves_sources_without_ids_as_before(tmp_path, write_jsonl):
    from curate.runner import build_stages, fingerprinted_config

    two_sources_with_id_1(write_jsonl)
    write_jsonl("p.jsonl", [{"problem": "What is 1+1?"}])
    recipe = validate_recipe({"name": "t", "base_dir": str(tmp_path), "sources": [
        {"path": "alg.jsonl"}, {"path": "geo.jsonl", "id_scope": "global"}, {"path": "p.jsonl"}]})
    config = fingerprinted_config(recipe, build_stages(recipe)[0])
    assert sorted(config["reads"]) == ["alg.jsonl", "alg.jsonl ids", "geo.jsonl", "p.jsonl"]
    assert ["id_scope" in s for s in config["sources"]] == [False, True, False]  # unset: not in the config


def test_a_source_domain_fills_rows_whose_domain_is_empty(tmp_path, write_jsonl):
    write_jsonl("m.jsonl", [{"problem": "a", "domain": None}, {"problem": "b", "domain": "code"}])
    write_jsonl("n.jsonl", [{"problem": "c", "domain": None}])
    out = run(tmp_path, [{"path": "m.jsonl", "domain": "math"}, {"path": "n.jsonl", "domain": "math"}])
    assert out["domain"].to_pylist() == ["math", "code", "math"]


@pytest.mark.parametrize("trace_ids", [False, True])
def test_own_ids_fill_sample_idx_in_arrow_as_the_row_path_does(trace_ids):
    """A source with its ids and some sample numbers: the Arrow path (ids kept, sample_idx 0 where
    missing) gives the values and types the per-row path gives (forced by one missing id)."""
    from curate.schema import conform

    rows = {"id": ["a", "b", "c"], "problem": ["p1", "p2", "p3"], "sample_idx": [None, 3, None],
            "trace_id": ["t1", "t2", "t3"], "reasoning": ["r", "r", "r"]}
    fast = with_ids(conform(pa.table(rows), where="test"), trace_ids)
    slow = with_ids(conform(pa.table({**rows, "id": ["a", "b", None]}), where="test"), trace_ids)
    assert fast.schema == slow.schema
    assert fast["sample_idx"].to_pylist() == slow["sample_idx"].to_pylist() == [0, 3, 0]
    assert fast["id"].to_pylist() == ["a", "b", "c"] and fast["trace_id"].to_pylist() == ["t1", "t2", "t3"]


@pytest.mark.parametrize("long", [False, True])
def test_trace_ids_hashed_on_threads_equal_one_thread_and_the_digest_of_the_strings(monkeypatch, long):
    """`trace_digests` splits long rows over threads: the same ids as on one thread and as
    `digest` of the strings, with and without extras, with nulls and with trace ids given."""
    import random

    from curate.schema import conform
    from curate.stages import load_ids

    rng = random.Random(3)
    alphabet = ["a", "é", "∑", "😀", " ", "\n", "x" * 50] + ["y" * 3000] * long
    rows = [{"id": f"p{i}", "sample_idx": i % 5 - 1, "teacher": rng.choice([None, "", "t@rev"]),
             "reasoning": rng.choice([None, "", "".join(rng.choices(alphabet, k=rng.randrange(0, 60)))]),
             "answer": rng.choice([None, "", "\\boxed{4}", "".join(rng.choices(alphabet, k=5))]),
             "extra": rng.choice([None, None, "", '{"sample":1}', "é" * rng.randrange(0, 3000)]),
             "trace_id": "given" if i % 7 == 0 else None} for i in range(500)]
    table = conform(pa.Table.from_pylist(rows)).slice(3)  # offsets start mid-buffer
    rows = rows[3:]
    want = [r["trace_id"]
            or digest(r["id"], r["sample_idx"], r["teacher"] or "", r["reasoning"] or "", r["answer"] or "",
                      *([] if r["extra"] is None else [r["extra"]]))
            for r in rows]
    one = load_ids.trace_digests(table)
    monkeypatch.setattr(load_ids, "HASH_THREADS_BYTES", 0)
    monkeypatch.setattr(load_ids, "GIL_FREE_UPDATE", 0)
    monkeypatch.setattr(load_ids, "usable_cores", lambda: 3)
    threaded = load_ids.trace_digests(table)
    assert threaded.equals(one) and one.to_pylist() == want
    none_given = table.set_column(2, "trace_id", pa.nulls(table.num_rows, pa.string()))
    assert load_ids.trace_digests(none_given).to_pylist() == [
        digest(r["id"], r["sample_idx"], r["teacher"] or "", r["reasoning"] or "", r["answer"] or "",
               *([] if r["extra"] is None else [r["extra"]])) for r in rows]
