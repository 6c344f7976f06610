"""Row groups compressed on several threads and spliced into one file: the bytes of one writer.

`AtomicParquetWriter` encodes each table as a small Parquet file of its own (on up to two
threads) and splices their row groups into the part with one footer, offsets moved. These
tests compare the spliced file with what a single `ParquetWriter` writes from the same tables,
byte for byte, on tables with nulls, several chunks, dictionary-friendly and wide columns.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.schema import TRACE_SCHEMA, conform
from curate.storage import thrift_compact as tc
from curate.storage.parquet_files import AtomicParquetWriter, aligned


def trace_rows(n: int, seed: int = 0, words: int = 60) -> pa.Table:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    return conform(pa.table({
        "id": [f"p{seed}-{i:06d}" for i in range(n)],
        "problem": [" ".join(rng.choices(vocab, k=rng.randint(0, words))) for _ in range(n)],
        "answer": [None if i % 7 == 0 else str(i % 13) for i in range(n)],
        "dup_of": [None if i % 5 else f"p{i - 1}" for i in range(n)],
    }))


def single_writer(tables: list[pa.Table], path, schema=TRACE_SCHEMA) -> bytes:
    with pq.ParquetWriter(path, schema, compression="zstd", compression_level=1) as writer:
        for table in tables:
            writer.write_table(aligned(table))
    return path.read_bytes()


def atomic(tables: list[pa.Table], path, encoders: int, schema=TRACE_SCHEMA) -> bytes:
    writer = AtomicParquetWriter(path, schema, encoders=encoders)
    for table in tables:
        writer.reserve()
        writer.write(table)
    assert writer.commit() == sum(t.num_rows for t in tables)
    return path.read_bytes()


@pytest.mark.parametrize("sizes", [[1], [3000], [3000, 3000, 17], [500, 4000, 1, 2500, 2500, 800]])
def test_spliced_parts_are_the_bytes_of_one_writer(tmp_path, sizes):
    tables = [trace_rows(n, seed) for seed, n in enumerate(sizes)]
    expected = single_writer(tables, tmp_path / "one.parquet")
    for encoders in (1, 2, 3):
        assert atomic(tables, tmp_path / f"spliced-{encoders}.parquet", encoders) == expected
    read = pq.read_table(tmp_path / "spliced-2.parquet")
    assert read.equals(pa.concat_tables([t.cast(TRACE_SCHEMA) for t in tables]))
    assert pq.ParquetFile(tmp_path / "spliced-2.parquet").metadata.num_row_groups == len(sizes)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # no pieces left behind


def test_a_part_with_several_chunks_per_column_is_spliced_alike(tmp_path):
    rows = trace_rows(5000, 3)
    chunked = pa.concat_tables([rows.slice(o, 1024).combine_chunks() for o in range(0, 5000, 1024)])
    tables = [chunked, trace_rows(300, 4)]
    assert atomic(tables, tmp_path / "a.parquet", 2) == single_writer(tables, tmp_path / "b.parquet")


def test_no_rows_gives_the_empty_file_of_one_writer(tmp_path):
    assert atomic([], tmp_path / "a.parquet", 2) == single_writer([], tmp_path / "b.parquet")
    assert atomic([trace_rows(0)], tmp_path / "c.parquet", 2) == (tmp_path / "b.parquet").read_bytes()


def test_other_schemas_splice_too(tmp_path):
    schema = pa.schema([("key", pa.string()), ("n", pa.int64()), ("xs", pa.list_(pa.float32()))])
    tables = [pa.table({"key": [f"k{i}" for i in range(n)], "n": list(range(n)),
                        "xs": [[float(i)] * (i % 4) for i in range(n)]}, schema=schema) for n in (10, 2000, 7)]
    assert atomic(tables, tmp_path / "a.parquet", 2, schema) == single_writer(tables, tmp_path / "b.parquet", schema)


def test_abort_leaves_no_files(tmp_path):
    writer = AtomicParquetWriter(tmp_path / "part.parquet", encoders=2)
    for seed in range(3):
        writer.write(trace_rows(2000, seed))
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_failing_encode_raises_and_abort_cleans_up(tmp_path):
    """The failure comes out of a later write (once the encode is seen done) or the commit."""
    writer = AtomicParquetWriter(tmp_path / "part.parquet", encoders=2)
    writer.write(trace_rows(10))
    writer.sink.schema = pa.schema([("other", pa.int8())])  # the next encode cannot write this table
    with pytest.raises(ValueError, match="schema"):
        writer.write(trace_rows(10, 1))
        writer.write(trace_rows(10, 2))
        writer.write(trace_rows(10, 3))
        writer.commit()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_compact_protocol_round_trips_a_footer(tmp_path):
    path = tmp_path / "f.parquet"
    single_writer([trace_rows(100), trace_rows(50, 1)], path)
    data = path.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    footer = data[-8 - length:-8]
    meta = tc.decode_struct(footer)
    assert tc.encode_struct(meta) == footer
    assert meta[3][1] == 150 and len(meta[4][1][1]) == 2
