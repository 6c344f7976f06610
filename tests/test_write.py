"""write: the Hub folder loads with `datasets` per config, has the training-view types (no
large_*), concatenates with other datasets, and its Parquet carries CDC metadata and a page
index; content-defined chunking really keeps pages stable under an insertion."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from publish_helpers import make_run

from curate.publish.training_view import MESSAGES_TYPE
from curate.stages.write import CDC_METADATA_KEY, ShardWriter, WriteConfig

EXPECTED = {"reasoning": 110, "general": 30, "all": 140}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("write"))


def test_every_config_loads_with_datasets(run_dir):
    import datasets

    for config, rows in EXPECTED.items():
        ds = datasets.load_dataset(str(run_dir / "dataset"), config, split="train")
        assert ds.num_rows == rows, config
        assert ds.data.schema.field("messages").type.equals(MESSAGES_TYPE, check_metadata=False) or \
            str(ds.data.schema.field("messages").type) == "list<item: struct<content: string, role: string>>"
        assert ds.features["num_tokens"].dtype == "int64"
        for name in ("source", "domain", "verdict", "pass_rate", "teacher"):
            assert name in ds.column_names
    default = datasets.load_dataset(str(run_dir / "dataset"), split="train")
    assert default.num_rows == EXPECTED["all"]  # default_config: all


def test_messages_shape_and_think_format(run_dir):
    table = pq.read_table(sorted((run_dir / "dataset" / "reasoning").glob("*.parquet")))
    assert str(table.schema.field("messages").type) == "list<element: struct<content: string, role: string>>"
    row = table.slice(0, 1).to_pylist()[0]
    roles = [m["role"] for m in row["messages"]]
    assert roles[-2:] == ["user", "assistant"]
    assistant = row["messages"][-1]["content"]
    assert assistant.startswith("<think>\n") and "\n</think>\n\n" in assistant


def _types(t: pa.DataType):
    yield t
    for i in range(t.num_fields):
        yield from _types(t.field(i).type)


def test_no_large_types_and_concatenation_works(run_dir):
    import datasets

    files = sorted((run_dir / "dataset").glob("*/*.parquet"))
    for f in files:
        for field in pq.read_schema(f):
            assert not any(pa.types.is_large_string(t) or pa.types.is_large_list(t) or pa.types.is_large_binary(t)
                           for t in _types(field.type)), (f, field)
    ours = datasets.load_dataset(str(run_dir / "dataset"), "general", split="train")
    other = datasets.Dataset.from_list(
        [{**ours[0], "messages": [{"content": "hi", "role": "user"}, {"content": "hello", "role": "assistant"}]}],
        features=ours.features)
    both = datasets.concatenate_datasets([ours, other])
    assert both.num_rows == ours.num_rows + 1
    assert pa.concat_tables([pq.read_table(files[0]), pq.read_table(files[-1])]).num_rows > 0


def test_parquet_has_zstd_page_index_and_cdc_metadata(run_dir):
    for f in sorted((run_dir / "dataset").glob("*/*.parquet")):
        meta = pq.ParquetFile(f).metadata
        cdc = json.loads(meta.metadata[CDC_METADATA_KEY.encode()])
        assert cdc["enabled"] is True and cdc["min_chunk_size"] < cdc["max_chunk_size"]
        for rg in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                column = meta.row_group(rg).column(c)
                assert column.compression == "ZSTD"
                assert column.has_offset_index and column.has_column_index


def _windows_found(a: bytes, b: bytes, width: int = 64, samples: int = 200) -> float:
    """Share of fixed windows of `a` (sampled over its data region) that occur anywhere in `b`."""
    rng = random.Random(0)
    starts = [rng.randrange(4, len(a) - width - 2048) for _ in range(samples)]
    return sum(a[s:s + width] in b for s in starts) / samples


def _write(rows: list[dict], folder: Path, cdc: bool) -> bytes:
    config = WriteConfig(content_defined_chunking=cdc)
    writer = ShardWriter(folder, config)
    writer.write(pa.Table.from_pylist(rows))
    writer.close()
    return (folder / "00000.parquet").read_bytes()


def test_content_defined_chunking_keeps_pages_stable_under_an_insert(tmp_path):
    rng = random.Random(1)
    words = [hashlib.sha1(str(i).encode()).hexdigest()[:8] for i in range(5000)]
    rows = [{"text": " ".join(rng.choice(words) for _ in range(120))} for _ in range(6000)]
    inserted = [{"text": "a brand new first row"}] + rows
    with_cdc = _windows_found(_write(rows, tmp_path / "a", True), _write(inserted, tmp_path / "b", True))
    without = _windows_found(_write(rows, tmp_path / "c", False), _write(inserted, tmp_path / "d", False))
    # measured: 0.77 with CDC, 0.06 without (the rest are pages around the insert and the footer)
    assert with_cdc > 0.5, with_cdc  # most pages are byte-identical after the insert
    assert without < 0.2, without  # fixed-size pages all shift


def test_shards_roll_over_and_all_load(tmp_path):
    import datasets

    run = make_run(tmp_path, max_shard_bytes=20_000)
    shards = sorted((run / "dataset" / "reasoning").glob("*.parquet"))
    assert len(shards) > 1
    n = len(shards)
    assert [s.name for s in shards] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    assert datasets.load_dataset(str(run / "dataset"), "reasoning", split="train").num_rows == EXPECTED["reasoning"]


def test_rerun_gives_byte_identical_dataset(tmp_path, run_dir):
    other = make_run(tmp_path)
    ours = {p.relative_to(run_dir / "dataset"): p.read_bytes() for p in (run_dir / "dataset").rglob("*") if p.is_file()}
    theirs = {p.relative_to(other / "dataset"): p.read_bytes() for p in (other / "dataset").rglob("*") if p.is_file()}
    assert ours.keys() == theirs.keys()
    assert [k for k in ours if ours[k] != theirs[k]] == []


def test_rows_matching_no_config_are_rejected(tmp_path):
    run = make_run(tmp_path, configs={"reasoning": {"domain": ["math"]}}, all_config=None, default_config=None)
    reasons = pq.read_table(sorted((run / "rejected" / "03-write").glob("*.parquet")))["reject_reason"].to_pylist()
    assert len(reasons) == 50 and set(reasons) == {"matches no dataset config"}  # 20 code + 30 general


def test_view_of_selected_rows_equals_view_of_the_taken_rows():
    """The compiled view gathers routed rows itself; it must match taking them first."""
    import numpy as np

    from curate.publish.training_view import training_view
    from curate.schema import conform

    rng = random.Random(3)
    rows = [{"id": f"r{i}", "problem": f"problem {i} " * rng.randrange(1, 5), "domain": "math",
             "reasoning": None if i % 3 == 0 else f"think {i} " * rng.randrange(0, 9),
             "answer": None if i % 7 == 0 else f"\\boxed{{{i}}}", "system": "be brief" if i % 4 == 0 else None,
             "prompt_tokens": 5 if i % 2 else None, "completion_tokens": 7 if i % 2 else None}
            for i in range(60)]
    table = conform(pa.Table.from_pylist(rows))
    picked = np.array(sorted(rng.sample(range(60), 23)), dtype=np.int64)
    columns = ["id", "problem", "prompt_tokens"]
    gathered = training_view(table, columns, picked)
    assert gathered.to_pylist() == training_view(table.take(picked), columns).to_pylist()
    assert gathered["id"].to_pylist() == [f"r{i}" for i in picked]


def test_fast_view_equals_the_per_row_reference():
    """The kernel path (join + one gather) gives exactly what the per-row path builds, with
    nulls, system prompts and multi-byte text, and its byte counts match the messages'."""
    import numpy as np

    from curate.publish.training_view import _messages_and_bytes, _messages_slow, _row_bytes, assistant_text
    from curate.schema import conform

    rng = random.Random(11)
    rows = [{"id": f"r{i}", "problem": None if i % 9 == 0 else f"problème {i} " * rng.randrange(1, 4),
             "reasoning": None if i % 3 == 0 else "pensée ∑ " * rng.randrange(0, 5),
             "answer": None if i % 5 == 0 else f"\\boxed{{{i}}}", "system": "sois bref" if i % 4 == 0 else None}
            for i in range(80)]
    table = conform(pa.Table.from_pylist(rows))
    chunked = pa.concat_tables([table.slice(0, 30), table.slice(30)])  # columns of two chunks
    for source in (table, chunked):
        picked = np.array(sorted(rng.sample(range(80), 37)), dtype=np.int64)
        messages, row_bytes = _messages_and_bytes(source, picked)
        taken = table.take(picked)
        reference = _messages_slow(taken, assistant_text(taken).combine_chunks())
        assert messages.to_pylist() == reference.to_pylist()
        assert row_bytes.tolist() == _row_bytes(reference).tolist()
        assert messages.type == reference.type and messages.flatten().field("content").null_count == sum(
            r["problem"] is None for r in taken.to_pylist())
    # content has a validity bitmap even without nulls, as the gather before it had: it counts
    # in the view's nbytes, which sizes row groups (files written before must not change)
    whole = conform(pa.Table.from_pylist([{"id": "a", "problem": "p", "reasoning": "r", "answer": "x"}]))
    assert _messages_and_bytes(whole, None)[0].flatten().field("content").buffers()[0] is not None


def test_load_filter_write_of_parquet_imports_neither_numba_nor_pandas(tmp_path):
    """Both cost a process 0.2-0.3 s before its first row (pyarrow imports pandas on the first
    `pa.array`, `to_numpy` or Python scalar argument): the Arrow-native path avoids them. With
    the card's plots off, matplotlib (imported only where a chart is drawn) stays out too."""
    import subprocess
    import sys

    rows = [{"problem": f"p{i}", "reasoning": f"r{i}", "answer": f"a{i}", "teacher": "t"} for i in range(50)]
    pa.parquet.write_table(pa.Table.from_pylist(rows), tmp_path / "traces.parquet")
    code = f"""
import sys
from curate.recipe import validate_recipe
from curate.runner import run_recipe
raw = {{"name": "lean", "sources": [{{"path": {str(tmp_path / 'traces.parquet')!r}, "domain": "math"}}],
        "stages": [{{"use": "load"}}, {{"use": "filter", "domains": ["math"], "min_chars": 2, "max_chars": 99,
                     "max_completion_tokens": 9000, "min_pass_rate": 0.0, "where": {{"teacher": ["t"]}}}},
                   {{"use": "write", "plots": False, "configs": {{"math": {{"domain": ["math"]}}}}}}]}}
if __name__ == "__main__":
    run_recipe(validate_recipe(raw), {str(tmp_path / 'run')!r}, progress=False)
    print(sorted(m for m in ("numba", "pandas", "matplotlib") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
    assert pq.read_metadata(next((tmp_path / "run" / "dataset" / "math").glob("*.parquet"))).num_rows == 50


def test_a_trace_published_twice_is_an_error(tmp_path):
    """The invariant of a published dataset: one row per trace_id, in every config and in `all`."""
    from curate.errors import CurateError
    from curate.recipe import validate_recipe
    from curate.runner import run_recipe

    rows = [{"problem": f"p{i % 3}", "trace_id": f"t{i % 3}" if i != 4 else "t1", "domain": "math"}
            for i in range(6)]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw = {"name": "dup", "sources": [{"path": str(source)}],
           "stages": [{"use": "load", "rows_per_part": 2}, {"use": "write"}]}
    with pytest.raises(CurateError, match=r"'default' would hold 3 trace_id\(s\) more than once") as err:
        run_recipe(validate_recipe(raw), tmp_path / "run", progress=False)
    assert "max_per_problem" in err.value.hint
    assert not (tmp_path / "run" / "dataset").exists()
    unique = [dict(r, trace_id=f"u{i}") for i, r in enumerate(rows)]
    source.write_text("".join(json.dumps(r) + "\n" for r in unique))
    raw["stages"][1]["configs"] = {"a": {"trace_id": ["u0", "u1"]}, "b": {"trace_id": ["u1", "u2"]}}
    run_recipe(validate_recipe(raw), tmp_path / "ok", progress=False)  # overlapping configs are fine
    raw["stages"][1]["all_config"] = "all"
    with pytest.raises(CurateError, match="'all' would hold 1 trace_id"):
        run_recipe(validate_recipe(raw), tmp_path / "all", progress=False)
