"""The signature pass a row group at a time writes what the whole-part pass writes.

`signature_task` with a row-group reader (`options["tables"]`) hashes each row group as it is
decoded; a part where a unit folds rows (a repeated key) or has no ids falls back to reading the
part whole. Either way the files it writes must be the ones the whole-part pass writes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.dedup import units
from curate.dedup.synth import planted_corpus
from curate.dedup.units import companion, heads_path, signature_task, unit_heads
from curate.stages.base import iter_input
from curate.stages.dedup import Dedup


def part_file(path, ids, *, domains=None, row_group=50):
    corpus = planted_corpus(len(ids), words=60, planted=0.3, seed=3)
    texts = list(corpus.texts)
    texts[5] = ""  # an empty text: no shingles
    columns = {"id": ids, "problem": texts, "source": ["s"] * len(ids),
               "verdict": [("pass", "fail", None)[i % 3] for i in range(len(ids))]}
    if domains is not None:
        columns["domain"] = domains
    pq.write_table(pa.table(columns), path, row_group_size=row_group)
    return path


def outputs(out):
    """Everything a signature task wrote, as comparable values."""
    files = {"sig": pq.read_table(out).to_pydict()}
    for what in ("bands", "shingle_offsets", "shingle_values"):
        files[what] = np.load(companion(out, what)).tolist()
    files["heads"] = unit_heads(out, list(range(len(files["sig"]["key"]))))
    return files


def both_ways(tmp_path, path, monkeypatch=None, **config):
    """Run the task whole and streamed; with `monkeypatch`, the streamed run must not read the part whole."""
    options = {**Dedup(config).options(), "threads": 2}
    whole = signature_task(str(path), str(tmp_path / "whole" / "sig.parquet"), 0, options)
    if monkeypatch is not None:
        monkeypatch.setattr(units, "read_units", lambda *a, **k: pytest.fail("read the part whole"))
    streamed = signature_task(str(path), str(tmp_path / "stream" / "sig.parquet"), 0, {**options, "tables": iter_input})
    assert whole["out"] != streamed["out"]
    assert {k: v for k, v in whole.items() if k != "out"} == {k: v for k, v in streamed.items() if k != "out"}
    a, b = outputs(whole["out"]), outputs(streamed["out"])
    assert a == b
    leftovers = [p.name for p in (tmp_path / "stream").iterdir() if p.name.endswith(".tmp")]
    assert not leftovers
    return a


def test_unique_ids_over_row_groups(tmp_path, monkeypatch):
    ids = [f"p{i}" for i in range(230)]
    files = both_ways(tmp_path, part_file(tmp_path / "in.parquet", ids), monkeypatch)
    assert len(files["sig"]["key"]) == 230 and files["sig"]["shingles"][5] == 0
    assert files["sig"]["passes"][:3] == [1, 0, 0]


def test_rows_outside_domains_left_out(tmp_path, monkeypatch):
    ids = [f"p{i}" for i in range(230)]
    domains = [("math", "code", None)[i % 3] for i in range(230)]
    files = both_ways(tmp_path, part_file(tmp_path / "in.parquet", ids, domains=domains), monkeypatch, domains=["math"])
    assert files["sig"]["key"] == [f"p{i}" for i in range(0, 230, 3)]


@pytest.mark.parametrize("repeat", ["inside a row group", "across row groups"])
def test_a_repeated_key_folds_rows_as_the_whole_pass_does(tmp_path, repeat):
    ids = [f"p{i}" for i in range(230)]
    if repeat == "inside a row group":
        ids[61] = ids[60]
    else:
        ids[170] = ids[20]
    files = both_ways(tmp_path, part_file(tmp_path / "in.parquet", ids))
    assert len(files["sig"]["key"]) == 229 and 2 in files["sig"]["rows"]


def test_missing_ids_are_hashed_from_the_whole_part(tmp_path):
    files = both_ways(tmp_path, part_file(tmp_path / "in.parquet", [None] * 120))
    assert len(files["sig"]["key"]) <= 120 and all(files["sig"]["key"])


def test_an_empty_part(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "problem": pa.array([], pa.string())}), path)
    files = both_ways(tmp_path, path)
    assert files["sig"]["key"] == [] and files["shingle_values"] == []


def test_heads_file_is_readable_while_appended_in_pieces(tmp_path):
    ids = [f"p{i}" for i in range(120)]
    files = both_ways(tmp_path, part_file(tmp_path / "in.parquet", ids, row_group=7))
    out = tmp_path / "stream" / "sig.parquet"
    assert heads_path(out).exists() and files["heads"][0]


def test_many_small_jobs_write_what_one_job_writes(tmp_path, monkeypatch):
    """The sink cuts texts into jobs of about JOB_BYTES, hashed at once on its threads and recorded
    in order: cut into jobs of a few rows, the files hold the same values as from one job."""
    from curate.dedup import signature_files

    path = part_file(tmp_path / "in.parquet", [f"p{i}" for i in range(230)])
    options = {**Dedup({}).options(), "threads": 2}
    one = signature_task(str(path), str(tmp_path / "one" / "sig.parquet"), 0, options)
    monkeypatch.setattr(signature_files, "JOB_BYTES", 2000)  # a few rows per job: dozens of jobs in flight
    many = signature_task(str(path), str(tmp_path / "many" / "sig.parquet"), 0, {**options, "tables": iter_input})
    assert outputs(one["out"]) == outputs(many["out"])


def test_a_failing_job_is_raised_and_leaves_no_files(tmp_path, monkeypatch):
    """A hash job's error comes out of the task (not a hang while buffers wait to be returned),
    and nothing half-written stays."""
    from curate.dedup import signature_files

    real, calls = signature_files.band_keys_and_shingles, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("job 3 failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(signature_files, "band_keys_and_shingles", failing)
    monkeypatch.setattr(signature_files, "JOB_BYTES", 2000)
    path = part_file(tmp_path / "in.parquet", [f"p{i}" for i in range(230)])
    out = tmp_path / "sig" / "sig.parquet"
    with pytest.raises(RuntimeError, match="job 3 failed"):
        signature_task(str(path), str(out), 0, {**Dedup({}).options(), "threads": 2, "tables": iter_input})
    assert not list(out.parent.iterdir())


def test_row_level_keys_from_trace_ids_else_id_and_sample(tmp_path, monkeypatch):
    """field reasoning: a unit is a row, keyed by trace_id, else `id#sample_idx` (sample_idx
    missing: `id#`); the streamed pass makes these keys in Arrow, the whole pass in polars."""
    corpus = planted_corpus(90, words=60, planted=0.3, seed=4)
    rows = 90
    table = pa.table({
        "id": [f"p{i // 3}" for i in range(rows)], "reasoning": list(corpus.texts),
        "trace_id": [None if i % 4 else f"t{i}" for i in range(rows)],
        "sample_idx": pa.array([None if i % 5 == 0 else i % 3 for i in range(rows)], pa.int32()),
        "source": ["s"] * rows, "verdict": [("pass", None)[i % 2] for i in range(rows)]})
    path = tmp_path / "in.parquet"
    pq.write_table(table, path, row_group_size=25)
    files = both_ways(tmp_path, path, monkeypatch, field="reasoning")
    assert files["sig"]["key"][:6] == ["t0", "p0#1", "p0#2", "p1#0", "t4", "p1#"]
