"""Parquet files written atomically: streamed into a temporary file, renamed into place on commit.

A crash leaves either nothing or a complete file (`RunDir` marks a part done only after the
rename). Rejected rows are written the same way, with the stage that dropped them. And
`read_parquet`, how curate reads one whole local file.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from curate.background import usable_cores
from curate.schema import REJECTED_SCHEMA, TRACE_SCHEMA
from curate.storage.row_groups import Splicer, encode, splice_supported
from curate.text.arrow import repeated_string

#: how parts are written (zstd level 1: parts are transient, speed over size)
PART_OPTIONS = {"compression": "zstd", "compression_level": 1}


class AtomicParquetWriter:
    """Stream tables into `path` through a temporary file; `commit` renames it into place.

    Each table (a row group) is encoded and compressed off the calling thread, so the stage that
    produces them keeps computing meanwhile. With `encoders` > 1 (default: up to two, one per
    core) that many row groups are compressed at once, each as a small file of its own, spliced
    into the part in order (`curate.storage.row_groups`: the same bytes as one writer's); with
    one, a single helper thread writes them one after another. Tables wait for an encoder in the
    caller's hands, not in a queue (a queued table would only hold memory: the writer is the
    slow end). Parts are transient (the next stage reads them once): zstd level 1 favours speed
    over size.
    """

    def __init__(self, path: Path, schema: pa.Schema = TRACE_SCHEMA, *, encoders: int | None = None, **options):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.schema, self.rows = path, schema, 0
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.options = options = {**PART_OPTIONS, **options}
        encoders = default_encoders() if encoders is None else encoders
        self.sink: _Sink | None = (_SplicedSink if encoders > 1 and splice_supported(options) else _SerialSink)(
            self.tmp, schema, options, encoders)

    def reserve(self) -> None:
        """Wait until an encoder is free: a caller that makes its next table only then holds
        no table waiting for the writer."""
        self.sink.reserve()

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.sink.submit(aligned(table.cast(self.schema) if table.schema != self.schema else table))
            self.rows += table.num_rows

    def commit(self) -> int:
        self.sink.close()
        self.sink = None
        os.replace(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        """Drop the temporary file (no-op after commit)."""
        if self.sink is not None:
            try:
                self.sink.abort()
            except Exception:  # noqa: BLE001 - already failing (e.g. a full disk): the temporary file goes anyway
                pass
            self.sink = None
        self.tmp.unlink(missing_ok=True)


def default_encoders() -> int:
    """Row groups compressed at once by one writer: the cores this process may use, at most two
    (a part pass has a reader and a stage beside its writer)."""
    return max(1, min(2, usable_cores()))


class _Sink:
    """Where an `AtomicParquetWriter` sends its tables."""

    def reserve(self) -> None:
        """Wait until a table submitted now would be taken at once."""

    def submit(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Write everything submitted and complete the file; raise the first failure."""
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class _SerialSink(_Sink):
    """One ParquetWriter on one helper thread: row groups compressed one after another."""

    def __init__(self, tmp: Path, schema: pa.Schema, options: dict, encoders: int):
        from curate.background import Background

        self.writer: pq.ParquetWriter | None = pq.ParquetWriter(tmp, schema, **options)
        self.background = Background(self.writer.write_table, depth=0)

    def submit(self, table: pa.Table) -> None:
        self.background.submit(table)

    def close(self) -> None:
        self.background.close()
        self.writer.close()
        self.writer = None

    def abort(self) -> None:
        if self.writer is None:
            return
        try:
            self.background.close()
        finally:
            writer, self.writer = self.writer, None
            writer.close()


class _SplicedSink(_Sink):
    """Row groups encoded on `encoders` threads at once, each into a file of its own beside the
    part, spliced into the part in order."""

    def __init__(self, tmp: Path, schema: pa.Schema, options: dict, encoders: int):
        from concurrent.futures import ThreadPoolExecutor

        self.tmp, self.schema, self.options, self.encoders = tmp, schema, options, encoders
        self.file = open(tmp, "wb")
        self.splicer = Splicer(self.file)
        self.pool = ThreadPoolExecutor(encoders, thread_name_prefix="curate-writer")
        self.pending: deque = deque()
        self.submitted = 0

    def reserve(self) -> None:
        while len(self.pending) >= self.encoders:  # every encoder busy: wait for the oldest
            self._splice_next()

    def submit(self, table: pa.Table) -> None:
        self.reserve()
        piece = self.tmp.with_name(f"{self.tmp.name}.{self.submitted}")
        self.submitted += 1
        self.pending.append(self.pool.submit(encode, table, piece, self.schema, self.options))
        while self.pending and self.pending[0].done():  # spliced early: its file goes now
            self._splice_next()

    def _splice_next(self) -> None:
        self.splicer.append(self.pending.popleft().result())

    def close(self) -> None:
        try:
            while self.pending:
                self._splice_next()
            if self.splicer.rows:
                self.splicer.finish()
        finally:
            self.pool.shutdown()
            self.file.close()
        if not self.splicer.rows:  # no rows: the file a writer makes with none
            pq.ParquetWriter(self.tmp, self.schema, **self.options).close()

    def abort(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        self.file.close()
        for k in range(self.submitted):
            self.tmp.with_name(f"{self.tmp.name}.{k}").unlink(missing_ok=True)


WRITE_BATCH_ROWS = 1024  # Parquet's write batch: page boundaries are checked every this many rows of a chunk


def aligned(table: pa.Table) -> pa.Table:
    """`table` with every column either one chunk or chunks of whole WRITE_BATCH_ROWS multiples
    (but the last), combining the columns that are not: the writer cuts pages per chunk, so only
    such a table is written with the same pages (bytes) as its rows in single arrays. A nested
    column is batched by its values, not rows: it is combined whenever it has several chunks."""
    for i, column in enumerate(table.columns):
        nested = pa.types.is_nested(column.type) and column.num_chunks > 1
        if nested or any(len(chunk) % WRITE_BATCH_ROWS for chunk in column.chunks[:-1]):
            table = table.set_column(i, table.field(i), pa.chunked_array([column.combine_chunks()], column.type))
    return table


def write_parquet_atomic(
    path: Path, tables: Iterable[pa.Table], schema: pa.Schema = TRACE_SCHEMA, **options
) -> int:
    """Stream tables into `path` via a temporary file and an atomic rename; return the row count."""
    writer = AtomicParquetWriter(path, schema, **options)
    try:
        for table in tables:
            writer.write(table)
        return writer.commit()
    finally:
        writer.abort()


def write_rejected(path: Path, table: pa.Table | None, stage: str) -> int:
    """Write a part's rejected rows (with `reject_reason`) atomically; remove stale files if none."""
    writer = RejectedWriter(path, stage)
    try:
        if table is not None:
            writer.add(table)
        return writer.commit()
    finally:
        writer.abort()


class RejectedWriter:
    """A part's rejected rows (with `reject_reason`), written while the part runs.

    Rows are gathered into row groups of about GROUP_ROWS rows and each is handed to an
    `AtomicParquetWriter` (encoded off the caller's thread) as soon as it is full, so a part
    that rejects most of its rows holds one row group of them, not all, and their encoding
    overlaps the stage's work instead of following it. `commit` writes the rest and renames the
    file into place, or removes a stale file when no row came.
    """

    GROUP_ROWS = 8192

    def __init__(self, path: Path, stage: str):
        self.path, self.stage = path, stage
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.writer: AtomicParquetWriter | None = None

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.pending.append(table)
        self.pending_rows += table.num_rows
        if self.pending_rows >= self.GROUP_ROWS:
            self._write()

    def commit(self) -> int:
        self._write()
        if self.writer is None:
            self.path.unlink(missing_ok=True)
            return 0
        rows = self.writer.commit()
        self.writer = None
        return rows

    def abort(self) -> None:
        """Drop the temporary file (no-op after commit)."""
        self.pending = []
        if self.writer is not None:
            self.writer.abort()

    def _write(self) -> None:
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        self.pending, self.pending_rows = [], 0
        stage = repeated_string(self.stage, table.num_rows)  # not pa.array: it imports pandas
        table = table.append_column("reject_stage", stage)
        if self.writer is None:
            self.writer = AtomicParquetWriter(self.path, REJECTED_SCHEMA)
        self.writer.write(table.select(REJECTED_SCHEMA.names))


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """One local Parquet file (those `columns`, else all) as a table.

    Not `pq.read_table`: it goes through pyarrow.dataset, whose import pulls in pandas (0.2-0.3 s
    of a command's start-up, for nothing on a single file)."""
    with pq.ParquetFile(path) as file:
        return file.read(columns=columns)
