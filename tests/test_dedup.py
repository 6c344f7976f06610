"""The dedup stage: planted duplicates, keep rule, invariances, against, reports, recipes."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.dedup.synth import planted_corpus, score
from curate.schema import conform
from curate.stages.base import PartContext, PrepareContext
from curate.stages.dedup import Dedup


def problem_rows(texts: list[str], *, samples: int = 1, verdicts: dict[int, str] | None = None,
                 source: str = "s") -> list[dict]:
    """One problem per text (id p0000, p0001, ...), `samples` rows each."""
    verdicts = verdicts or {}
    return [{"id": f"p{i:04d}", "sample_idx": s, "trace_id": f"p{i:04d}-{s}", "source": source,
             "domain": "math", "problem": text, "reasoning": f"think {i} {s}", "answer": str(i),
             "verdict": verdicts.get(i)}
            for i, text in enumerate(texts) for s in range(samples)]


def run_dedup(tmp: Path, rows: list[dict], *, parts: int = 1, **config) -> tuple[pa.Table, dict]:
    """prepare + run over `parts` real Parquet parts, inline (no executor); returns output, stats."""
    inputs = []
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(rows)), parts)):
        path = tmp / "in" / f"part-{i:05d}.parquet"
        pq.write_table(conform(pa.Table.from_pylist([rows[j] for j in chunk])), path)
        inputs.append(path)
    stage = Dedup(config)
    ctx = PrepareContext(inputs=inputs, artifacts=tmp / "artifacts", num_parts=parts)
    ctx.artifacts.mkdir(parents=True, exist_ok=True)
    stage.prepare(ctx)
    out = []
    for i, path in enumerate(inputs):
        part_ctx = PartContext(part=i, num_parts=parts, artifacts=ctx.artifacts)
        out += list(stage.run(pq.read_table(path).to_batches(), part_ctx))
    return pa.concat_tables(out), ctx.stats


def marks(table: pa.Table) -> dict[str, str | None]:
    return dict(zip(table["trace_id"].to_pylist(), table["dup_of"].to_pylist()))


def test_planted_near_duplicates_found_and_distinct_rows_kept(tmp_path):
    corpus = planted_corpus(600, words=60, planted=0.25, low=0.5, high=1.0, seed=7)
    out, stats = run_dedup(tmp_path, problem_rows(corpus.texts), parts=3)
    dup_of = _dup_indices(out, 600)
    result = score(corpus, dup_of, 0.8)
    assert result["true_pairs"] > 50
    assert result["recall"] >= 0.98
    assert result["precision"] == 1.0  # the exact Jaccard check admits no pair below 0.8
    planted_copies = set(corpus.pairs[:, 1].tolist())
    assert all(dup_of[i] is None for i in range(600) if i not in planted_copies and i not in corpus.pairs[:, 0])
    assert (stats["bands"], stats["rows"]) == (16, 8)
    # band keys, shingles and text heads are gone once prepare is done; the unit tables stay
    assert sorted(p.name for p in (tmp_path / "artifacts" / "signatures").iterdir()) == [
        f"part-{i:05d}.parquet" for i in range(3)]


def _dup_indices(out: pa.Table, n: int) -> list[int | None]:
    by_id = dict(zip(out["id"].to_pylist(), out["dup_of"].to_pylist()))
    return [None if by_id[f"p{i:04d}"] is None else int(by_id[f"p{i:04d}"][1:]) for i in range(n)]


def test_without_the_exact_check_lsh_candidates_below_threshold_are_joined(tmp_path):
    corpus = planted_corpus(400, words=60, planted=0.4, low=0.55, high=0.85, seed=2)
    checked, _ = run_dedup(tmp_path / "a", problem_rows(corpus.texts))
    unchecked, _ = run_dedup(tmp_path / "b", problem_rows(corpus.texts), verify_pairs=False)
    assert score(corpus, _dup_indices(checked, 400), 0.8)["precision"] == 1.0
    assert score(corpus, _dup_indices(unchecked, 400), 0.8)["precision"] < 0.9


def test_exact_duplicates_differing_in_whitespace_and_case(tmp_path):
    texts = ["What is 2 + 2?", "what  is 2+2 ?", "WHAT IS 2 + 2", "What is 2 + 3?"]
    out, stats = run_dedup(tmp_path, problem_rows(texts, samples=2), near=False)
    got = dict(zip(out["id"].to_pylist(), out["dup_of"].to_pylist()))
    # the shortest text of the cluster stays (keep: verified, shortest)
    assert got == {"p0000": "p0002", "p0001": "p0002", "p0002": None, "p0003": None}
    assert stats["removed_rows"] == 4  # every sample of a removed problem is marked


def test_identical_texts_are_near_duplicates_even_without_the_exact_pass(tmp_path):
    texts = ["What is 2 + 2 when counted twice?"] * 3 + ["What is 2 + 3 when counted twice?"]
    out, _ = run_dedup(tmp_path, problem_rows(texts), exact=False, threshold=0.9)
    assert out["dup_of"].to_pylist() == [None, "p0000", "p0000", None]


def test_samples_of_one_problem_are_not_duplicates_of_each_other(tmp_path):
    rows = problem_rows(["Solve x + 1 = 2 for x please"], samples=4)
    for row in rows:
        row["reasoning"] = "the same reasoning for every sample"
    out, _ = run_dedup(tmp_path / "p", rows)
    assert out["dup_of"].null_count == 4
    out, _ = run_dedup(tmp_path / "r", rows, field="reasoning")
    assert marks(out) == {"p0000-0": None, "p0000-1": "p0000-0", "p0000-2": "p0000-0", "p0000-3": "p0000-0"}


@pytest.mark.parametrize(("keep", "kept"), [(["verified", "shortest"], "p0001"), (["shortest"], "p0000"),
                                            (["longest"], "p0001")])
def test_keep_rule(tmp_path, keep, kept):
    base = "Find the number of positive integers n below one hundred such that n squared ends in one"
    texts = [base, base + " exactly"]
    out, _ = run_dedup(tmp_path, problem_rows(texts, samples=2, verdicts={1: "pass"}), keep=keep, threshold=0.7)
    marked = {i for i, d in zip(out["id"].to_pylist(), out["dup_of"].to_pylist()) if d}
    assert marked == {"p0000", "p0001"} - {kept}
    assert set(out["dup_of"].drop_null().to_pylist()) == {kept}


def test_dedup_of_a_deduplicated_dataset_removes_nothing(tmp_path):
    corpus = planted_corpus(300, words=40, planted=0.3, low=0.7, high=1.0, seed=11)
    out, stats = run_dedup(tmp_path / "first", problem_rows(corpus.texts), parts=2)
    assert stats["removed_units"] > 0
    kept = out.filter(pa.compute.is_null(out["dup_of"])).to_pylist()
    again, stats = run_dedup(tmp_path / "second", kept, parts=3)
    assert stats["removed_units"] == 0 and again["dup_of"].null_count == again.num_rows


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), parts=st.integers(1, 4), field=st.sampled_from(["problem", "reasoning"]))
def test_result_independent_of_row_order_and_part_count(seed, parts, field):
    corpus = planted_corpus(120, words=30, planted=0.4, low=0.6, high=1.0, seed=5)
    rows = problem_rows(corpus.texts, samples=2)
    for row in rows:
        row["reasoning"] = row["problem"] if row["sample_idx"] == 0 else row["reasoning"]
    shuffled = [rows[i] for i in np.random.default_rng(seed).permutation(len(rows))]
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        reference, _ = run_dedup(Path(a), rows, parts=1, field=field, threshold=0.7)
        other, _ = run_dedup(Path(b), shuffled, parts=parts, field=field, threshold=0.7)
    assert marks(other) == marks(reference)
    assert reference["dup_of"].null_count < reference.num_rows


def test_against_an_earlier_release_marks_rows_and_leaves_it_untouched(tmp_path):
    corpus = planted_corpus(80, words=40, planted=0.0, seed=4)
    old = problem_rows(corpus.texts[:40])
    release = tmp_path / "release" / "train-00000-of-00001.parquet"
    release.parent.mkdir()
    pq.write_table(conform(pa.Table.from_pylist(old)), release)
    before = hashlib.sha256(release.read_bytes()).hexdigest()
    new = problem_rows([t.upper() for t in corpus.texts[30:80]], source="new")
    for row in new:
        row["id"] = "n" + row["id"]
    out, stats = run_dedup(tmp_path / "run", new, against=str(release.parent))
    got = dict(zip(out["id"].to_pylist(), out["dup_of"].to_pylist()))
    assert {k: v for k, v in got.items() if v} == {f"np{i:04d}": f"p{i + 30:04d}" for i in range(10)}
    assert stats["against_units"] == 40
    assert hashlib.sha256(release.read_bytes()).hexdigest() == before


def test_rows_outside_domains_pass_through(tmp_path):
    rows = problem_rows(["same text here", "same text here"])
    rows[1]["domain"] = "general"
    rows.append({**rows[0], "id": "p0009", "trace_id": "p0009-0"})
    out, _ = run_dedup(tmp_path, rows, domains=["math"])
    assert marks(out) == {"p0000-0": None, "p0001-0": None, "p0009-0": "p0000"}


def test_empty_texts_and_empty_selection(tmp_path):
    rows = problem_rows(["", "  ...  ", "x"])
    rows[0]["problem"] = None
    out, stats = run_dedup(tmp_path / "a", rows, parts=2)
    assert out["dup_of"].null_count == 3 and stats["empty_units"] == 2
    out, stats = run_dedup(tmp_path / "b", rows, domains=["code"])
    assert out["dup_of"].null_count == 3 and stats["units"] == 0


def test_config_rejects_half_an_lsh_shape():
    with pytest.raises(ValueError):
        Dedup({"bands": 10})
    with pytest.raises(ValueError):
        Dedup({"bands": 20, "rows": 10})
    assert Dedup({"bands": 20, "rows": 5}).lsh_shape() == (20, 5)


def test_recipe_run_writes_report_and_filter_drops_marked_rows(tmp_path, write_recipe):
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    corpus = planted_corpus(200, words=100, planted=0.3, low=0.85, high=1.0, seed=9)  # J >= 0.9: LSH misses 1e-4
    data = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(problem_rows(corpus.texts, samples=2)), data)
    recipe = {"name": "dd", "seed": 1, "sources": [{"path": str(data), "domain": "math"}],
              "stages": [{"use": "load", "rows_per_part": 90}, {"use": "dedup"},
                         {"use": "filter", "drop_duplicates": True}]}
    manifest = run_recipe(load_recipe(write_recipe(recipe)), tmp_path / "run", workers=2, progress=False)
    dedup, filt = manifest["stages"][1], manifest["stages"][2]
    removed = dedup["prepare_stats"]["removed_rows"]
    assert removed == 2 * len(corpus.pairs) and filt["rejected"] == removed
    assert dedup["counters"]["marked_duplicate"] == removed
    reports = tmp_path / "run" / "reports"
    report = json.loads((reports / "dedup.json").read_text())
    assert report["per_source"][0]["removed_rows"] == removed
    assert sum((int(size) - 1) * count for size, count in report["cluster_sizes"].items()) == len(corpus.pairs)
    assert report["largest_clusters"][0]["members"][0]["keeper"] is True
    shown = [m for c in report["largest_clusters"] for m in c["members"]]
    assert shown and all(m["text"] == corpus.texts[int(m["key"].split(":")[-1][1:])][:400] for m in shown)
    assert "## Largest clusters" in (reports / "dedup.md").read_text()
    assert not (reports / "dedup_clusters.svg").exists()  # the stage never pays for a plotting library
    from curate.publish.report import render_report

    html = render_report(tmp_path / "run")
    assert html.count('id="clusters-size-') == len(report["cluster_sizes"])  # one bar per size


def test_sample_corpus_planted_duplicates(tmp_path, write_recipe):
    """recipes/data/math.jsonl plants m-051..m-056 (reworded) and m-057/m-058 (exact)."""
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    math = Path(__file__).resolve().parent.parent / "recipes" / "data" / "math.jsonl"
    recipe = {"name": "sample", "seed": 1,
              "sources": [{"path": str(math), "domain": "math",
                           "columns": {"problem": "question", "reference": "gold", "sample_idx": "sample"},
                           "trace": "generation"}],
              "stages": [{"use": "load", "rows_per_part": 40}, {"use": "dedup", "ngram": 3, "threshold": 0.5}]}
    run_recipe(load_recipe(write_recipe(recipe)), tmp_path / "run", progress=False)
    out = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "run" / "01-dedup").glob("part-*.parquet")))
    marked = {json.loads(e)["uid"] for e, d in zip(out["extra"].to_pylist(), out["dup_of"].to_pylist()) if d}
    assert marked == {f"m-05{i}" for i in range(1, 9)}


def test_report_shows_non_ascii_texts_cut_at_a_character(tmp_path):
    text = "abc" + "é, " * 600  # byte 600 (the kept head) falls inside an é
    copy = "  " + text.replace(" ", "   ")  # the same words, other spacing
    assert len(text.encode()[:600].decode("utf-8", "ignore")) < len(text.encode()[:600].decode("utf-8", "replace"))
    _, stats = run_dedup(tmp_path, problem_rows([text, copy, "something else entirely here"]))
    report = json.loads((tmp_path / "artifacts" / "report" / "dedup.json").read_text())
    members = report["largest_clusters"][0]["members"]
    assert stats["removed_units"] == 1
    assert [m["text"] for m in members] == [text[:400], copy[:400]]


def test_per_source_report_counts_marked_rows_of_units_without_a_source(tmp_path):
    """Every marked row is counted under its source, a null source included: the per-source
    removals add up to the stage's."""
    corpus = planted_corpus(120, words=60, planted=0.3, low=0.9, high=1.0, seed=5)
    rows = problem_rows(corpus.texts, samples=2)
    for row in rows:
        row["source"] = None if int(row["id"][1:]) % 2 else "a"
    _, stats = run_dedup(tmp_path, rows)
    table = json.loads((tmp_path / "artifacts" / "report" / "dedup.json").read_text())["per_source"]
    assert [r["source"] for r in table] == ["a", None]
    assert table[1]["removed_rows"] > 0
    assert sum(r["removed_rows"] for r in table) == stats["removed_rows"] == 2 * len(corpus.pairs)
    assert sum(r["removed_units"] for r in table) == stats["removed_units"]


def test_character_shingles_find_near_duplicates(tmp_path):
    from curate.dedup.minhash import jaccard_pairs, shingle_sets

    long = " ".join(f"word{i % 97} x{i}" for i in range(1500))  # more char shingles than bytes / 4
    texts = ["The quick brown fox jumps over the lazy dog near the river bank",
             "the quick brown fox jumps over the lazy dog near the river bank!!",
             "The quick brown fox jumped over the lazy dog near the river bank",
             "Completely unrelated words about cooking pasta at home tonight", long, long + " end"]
    offsets, values = shingle_sets(texts, ngram=4, shingle="char")
    assert jaccard_pairs(offsets, values, [0, 4], [2, 5]).min() >= 0.75
    out, stats = run_dedup(tmp_path, problem_rows(texts), shingle="char", ngram=4, threshold=0.75)
    assert marks(out) == {"p0000-0": None, "p0001-0": "p0000", "p0002-0": "p0000", "p0003-0": None,
                          "p0004-0": None, "p0005-0": "p0004"}
    assert stats["exact_duplicate_units"] == 1 and stats["near_pairs"] >= 2


def test_parquet_input_is_read_through_a_view_with_the_same_bytes_as_a_kept_copy(tmp_path, write_recipe,
                                                                                    monkeypatch):
    """load of a Parquet source writes no conformed copy before dedup: its parts are views that
    dedup's signature pass and part tasks recompute; the output is byte for byte the one made
    from a kept copy, and a resumed run (dedup parts redone) still reads the view. Bytes are
    compared with the column splice off (it copies the source's chunks, so the bytes follow the
    input's encoding: `test_column_splice` compares its values); values with it on."""
    from curate.part_columns import ENV
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    monkeypatch.setenv(ENV, "0")
    corpus = planted_corpus(300, words=60, planted=0.3, low=0.7, high=1.0, seed=4)
    data = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(problem_rows(corpus.texts, samples=2)), data, row_group_size=70)
    outputs = {}
    for keep in (True, False):
        recipe = {"name": "view", "seed": 1, "sources": [{"path": str(data)}],
                  "stages": [{"use": "load", "rows_per_part": 250, "keep_parts": keep}, {"use": "dedup"}]}
        run = tmp_path / f"run-{keep}"
        run_recipe(load_recipe(write_recipe(recipe, f"{keep}.yaml")), run, progress=False)
        outputs[keep] = {p.name: p.read_bytes() for p in sorted((run / "01-dedup").glob("part-*.parquet"))}
    view = tmp_path / "run-False"
    assert len(outputs[True]) == 3 and outputs[False] == outputs[True]
    assert not list((view / "00-load").glob("part-*.parquet"))
    markers = [json.loads(p.read_text()) for p in sorted((view / "00-load" / "_done").glob("*.json"))]
    assert [m["rows_out"] for m in markers] == [200, 200, 200] and all(m["view"] for m in markers)
    from curate.stages.base import read_input

    for columns in (["id", "source", "problem"], ["trace_id", "sample_idx", "verdict"], None):  # projected views
        kept = pq.read_table(tmp_path / "run-True" / "00-load" / "part-00001.parquet", columns=columns)
        assert read_input(view / "00-load" / "part-00001.parquet", columns).to_pydict() == kept.to_pydict()
    from curate.cli.inspect import read_any

    kept = pa.concat_tables(pq.read_table(p) for p in sorted((tmp_path / "run-True" / "00-load").glob("part-*")))
    assert read_any(str(view / "00-load")).to_pydict() == kept.to_pydict()  # `curate inspect RUN/00-load`
    for part in ("part-00001", "part-00002"):  # a crash after the prepare phase: those parts redo
        (view / "01-dedup" / "_done" / f"{part}.json").unlink()
        (view / "01-dedup" / f"{part}.parquet").unlink()
    recipe = load_recipe(tmp_path / "False.yaml")
    run_recipe(recipe, view, progress=False)
    assert {p.name: p.read_bytes() for p in sorted((view / "01-dedup").glob("part-*.parquet"))} == \
        outputs[True]
    monkeypatch.delenv(ENV)
    run_recipe(recipe, tmp_path / "spliced", progress=False)
    spliced = {p.name: pq.read_table(p) for p in sorted((tmp_path / "spliced" / "01-dedup").glob("part-*.parquet"))}
    assert {k: t.to_pydict() for k, t in spliced.items()} == \
        {p.name: pq.read_table(p).to_pydict() for p in sorted((view / "01-dedup").glob("part-*.parquet"))}


def test_artifacts_are_identical_between_two_identical_runs(tmp_path):
    """Samples of a problem fold into one unit; the folded units must come out in one order, so
    the signature files, clusters and stats of two runs of the same input are the same bytes."""
    rows = problem_rows(planted_corpus(60, words=40, planted=0.3, seed=3).texts, samples=3)
    trees = []
    for run in range(4):
        folder = tmp_path / f"run{run}"
        run_dedup(folder, rows, parts=2, ngram=3, threshold=0.5)
        artifacts = folder / "artifacts"
        trees.append({p.relative_to(artifacts).as_posix(): p.read_bytes()
                      for p in sorted(artifacts.rglob("*")) if p.is_file()})
    assert "clusters.parquet" in trees[0] and "stats.json" in trees[0]
    assert all(tree.keys() == trees[0].keys() for tree in trees)
    assert [name for tree in trees[1:] for name in tree if tree[name] != trees[0][name]] == []


def test_candidate_pairs_checked_in_chunks_give_the_same_marks(tmp_path, monkeypatch):
    from curate.dedup import cluster

    rows = problem_rows(planted_corpus(300, words=50, planted=0.4, low=0.6, high=1.0, seed=8).texts)
    whole, stats = run_dedup(tmp_path / "whole", rows, parts=2)
    monkeypatch.setattr(cluster, "VERIFY_PAIRS", 3)
    chunked, chunked_stats = run_dedup(tmp_path / "chunked", rows, parts=2)
    assert stats["candidate_pairs"] > 10 and marks(chunked) == marks(whole)
    assert chunked_stats["near_pairs"] == stats["near_pairs"]


@pytest.mark.parametrize("planted, columns", [(0.3, None), (0.0, None), (0.3, ["id", "problem", "answer"])])
def test_dedup_command_on_parquet_with_ids_does_not_import_pandas(tmp_path, planted, columns):
    """pyarrow imports pandas on `to_numpy`, `Schema.empty_table` and `pa.scalar` (0.3 s of every
    command's start-up); load's duplicate-id check and the dedup path read buffers instead, a
    corpus without duplicates (no cluster members) makes its empty tables with
    `schema.empty_table`, and a source with ids but no sample_idx fills it without `pa.scalar`."""
    import subprocess
    import sys

    rows = problem_rows(planted_corpus(40, words=30, planted=planted, seed=2).texts)
    rows = [{k: row[k] for k in columns} for row in rows] if columns else rows
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet", row_group_size=10)
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["dedup", {str(tmp_path / 'in.parquet')!r}, {str(tmp_path / 'out')!r}], standalone_mode=False)
finally:
    print("pandas" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
    assert (tmp_path / "out" / "01-dedup" / "part-00000.parquet").exists()


def test_a_part_without_cluster_members_joins_the_others(tmp_path):
    """Cluster members are read back per signature file: a file holding none gives an empty
    frame that must concatenate with the others (the columns in the same order)."""
    dups = planted_corpus(40, words=40, planted=0.4, low=0.9, high=1.0, seed=3).texts
    unique = [f"distinct problem number {i} " + " ".join(f"w{i}x{k}" for k in range(30)) for i in range(40)]
    out, stats = run_dedup(tmp_path, problem_rows(dups + unique), parts=2)
    assert stats["removed_units"] > 0
    marked = [i for i, d in enumerate(out["dup_of"].to_pylist()) if d]
    assert marked and max(marked) < 40  # every duplicate lies in the first part
