"""A part pass of wide rows holds pieces, not batches: views are read in small pieces, gathered
into the batches a read of a written part gives, and written with the same bytes.

Parquet's writer cuts pages per array chunk, checking the page size every 1024 rows of a
chunk, so a batch made of pieces is only written like one array when its chunks are whole
multiples of 1024 rows: these tests fail when that alignment is lost (the part files of a
view would then differ from those of a kept copy).
"""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import io
from curate.part_task import READ_BATCH_ROWS, rebatched
from curate.schema import conform
from curate.storage.parquet_files import AtomicParquetWriter, aligned


def wide_rows(n: int, words: int = 300, seed: int = 0) -> pa.Table:
    """Trace rows with ~2 KB problems of random words: pages of the text column fill up."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    problems = [" ".join(rng.choices(vocab, k=words)) for _ in range(n)]
    return conform(pa.table({"id": [f"p{i:06d}" for i in range(n)], "problem": problems,
                             "answer": [str(i % 97) for i in range(n)]}))


def written(tables, path) -> bytes:
    writer = AtomicParquetWriter(path)
    for table in tables:
        writer.write(table)
    writer.commit()
    return path.read_bytes()


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return wide_rows(20_000)


def test_batches_gathered_from_uneven_pieces_are_written_like_whole_batches(table, tmp_path):
    """Pieces cut anywhere (a source's row groups need not line up with the part's batches)."""
    cuts, start, rng = [], 0, random.Random(1)
    while start < table.num_rows:
        size = rng.choice([70, 1024, 1500, 2048, 3000, 4096])
        cuts.append(table.slice(start, size).combine_chunks())
        start += size
    batches = list(rebatched(cuts, READ_BATCH_ROWS))
    assert [b.num_rows for b in batches] == [8192, 8192, 3616]
    for batch in batches:
        for column in batch.columns:
            assert all(len(chunk) % 1024 == 0 for chunk in column.chunks[:-1])
    whole = [table.slice(o, READ_BATCH_ROWS).combine_chunks() for o in range(0, table.num_rows, READ_BATCH_ROWS)]
    assert pa.concat_tables(batches).equals(table)
    assert written(batches, tmp_path / "pieces.parquet") == written(whole, tmp_path / "whole.parquet")


def test_the_writer_combines_columns_chunked_off_the_write_batch(table, tmp_path):
    """Chunks of 1000 rows would cut other pages; aligned() makes them one chunk first."""
    rows = table.slice(0, 8192)
    chunked = pa.concat_tables([rows.slice(o, 1000).combine_chunks() for o in range(0, 8192, 1000)])
    assert aligned(chunked)["problem"].num_chunks == 1
    whole = written([rows.combine_chunks()], tmp_path / "whole.parquet")
    assert written([chunked], tmp_path / "chunked.parquet") == whole
    with pq.ParquetWriter(tmp_path / "raw.parquet", chunked.schema, compression="zstd", compression_level=1) as raw:
        raw.write_table(chunked)  # what the writer would make of it without aligned()
    assert (tmp_path / "raw.parquet").read_bytes() != (tmp_path / "whole.parquet").read_bytes()


def test_a_range_read_in_pieces_gives_the_rows_in_small_aligned_pieces(table, tmp_path):
    path = tmp_path / "source.parquet"
    pq.write_table(table, path, row_group_size=3000)
    start, stop = 2500, 17_000
    pieces = list(io.read_parquet_range(path, start, stop, piece_bytes=1 << 20))
    assert pa.concat_tables(pieces).equals(pa.concat_tables(io.read_parquet_range(path, start, stop)))
    # ~1.8 KB rows: 1 MB holds less than 1024 of them, so pieces are 1024 rows, cut from each
    # row group's first row (the part's first and last row groups only partly read)
    middle = [1024, 1024, 952]
    assert [p.num_rows for p in pieces] == [500] + middle * 4 + [1024, 976]
    # 8 MB holds 4096 of them: a piece per row group of 3000 rows (6 groups overlap the range)
    big = io.read_parquet_range(path, start, stop, piece_bytes=8 << 20)
    assert [p.num_rows for p in big] == [500] + [3000] * 4 + [2000]


def test_a_view_read_in_pieces_gives_the_parts_of_a_kept_copy(tmp_path, write_recipe, monkeypatch):
    """dedup after load of a Parquet source: the view, read in 1024-row pieces from row groups
    of 3000 rows, yields the part files a kept copy gives, byte for byte (with the column splice
    off: it copies the source's chunks, so its bytes follow the source; `test_column_splice`)."""
    import curate.stages.base as base
    from curate.part_columns import ENV
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    monkeypatch.setattr(base, "VIEW_PIECE_BYTES", 1)  # the smallest piece: 1024 rows
    monkeypatch.setenv(ENV, "0")
    data = tmp_path / "data.parquet"
    rows = wide_rows(18_000, words=60)
    pq.write_table(rows.select(["id", "problem", "answer"]), data, row_group_size=3000)
    outputs = {}
    for keep in (True, False):
        recipe = {"name": "pieces", "seed": 1, "sources": [{"path": str(data)}],
                  "stages": [{"use": "load", "rows_per_part": 10_000, "keep_parts": keep}, {"use": "dedup"}]}
        run = tmp_path / f"run-{keep}"
        run_recipe(load_recipe(write_recipe(recipe, f"{keep}.yaml")), run, progress=False)
        outputs[keep] = {p.name: p.read_bytes() for p in sorted((run / "01-dedup").glob("part-*.parquet"))}
    markers = [json.loads(p.read_text()) for p in sorted((tmp_path / "run-False" / "00-load" / "_done").glob("*"))]
    assert all(m["view"] for m in markers) and len(outputs[True]) == 2
    assert outputs[False] == outputs[True]
    groups = pq.ParquetFile(tmp_path / "run-False" / "01-dedup" / "part-00000.parquet").metadata
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [8192, 808]


@pytest.mark.parametrize("some_missing", [False, True])
def test_a_view_asked_for_trace_ids_reads_the_texts_only_where_some_may_be_missing(tmp_path, write_recipe,
                                                                                   monkeypatch, some_missing):
    """Trace ids a Parquet source gives in every row (by its row groups' statistics) need not be
    derived: a reader of (id, trace_id) through load's view reads neither the problem nor the
    reasoning; with a trace id missing somewhere it reads them, and derives the same ids a kept
    copy holds."""
    import curate.io as io
    from curate.recipe import load_recipe
    from curate.runner import run_recipe
    from curate.stages.base import read_input

    rows = [{"id": f"q{i}", "sample_idx": 0, "trace_id": None if some_missing and i == 5 else f"t{i}",
             "problem": f"problem {i}", "reasoning": "why " * i, "answer": str(i)} for i in range(40)]
    data = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), data, row_group_size=16)
    runs = {}
    for keep in (True, False):
        recipe = {"name": "ids", "seed": 1, "sources": [{"path": str(data)}],
                  "stages": [{"use": "load", "keep_parts": keep}, {"use": "mix", "counts": {"data": 10}}]}
        runs[keep] = tmp_path / f"run-{keep}"
        run_recipe(load_recipe(write_recipe(recipe, f"{keep}.yaml")), runs[keep], progress=False)
    read = []
    original = io.read_parquet_range
    monkeypatch.setattr(io, "read_parquet_range", lambda *a, **k: read.append(k["columns"]) or original(*a, **k))
    view = read_input(runs[False] / "00-load" / "part-00000.parquet", ["id", "trace_id"])
    copy = read_input(runs[True] / "00-load" / "part-00000.parquet", ["id", "trace_id"])
    assert view.to_pylist() == copy.to_pylist()
    assert ("reasoning" in read[0]) == some_missing and "problem" not in read[0]  # every row has an id
