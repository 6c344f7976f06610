"""Parquet files written atomically: streamed into a temporary file, renamed into place on commit.

A crash leaves either nothing or a complete file (`RunDir` marks a part done only after the
rename). Rejected rows are written the same way, with the stage that dropped them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from curate.schema import REJECTED_SCHEMA, TRACE_SCHEMA


class AtomicParquetWriter:
    """Stream tables into `path` through a temporary file; `commit` renames it into place.

    Tables are encoded and compressed on a helper thread (`curate.background`), so the stage
    that produces them keeps computing meanwhile; one at a time (a table waiting behind the one
    being written would only hold memory: the writer is the slow end). Parts are transient (the
    next stage reads them once): zstd level 1 favours speed over size.
    """

    def __init__(self, path: Path, schema: pa.Schema = TRACE_SCHEMA, **options):
        from curate.background import Background

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.schema, self.rows = path, schema, 0
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        options.setdefault("compression", "zstd")
        options.setdefault("compression_level", 1)
        self.writer: pq.ParquetWriter | None = pq.ParquetWriter(self.tmp, schema, **options)
        self.background = Background(self.writer.write_table, depth=0)

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.background.submit(aligned(table.cast(self.schema) if table.schema != self.schema else table))
            self.rows += table.num_rows

    def commit(self) -> int:
        self.background.close()
        self.writer.close()
        self.writer = None
        os.replace(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        """Drop the temporary file (no-op after commit)."""
        if self.writer is not None:
            try:
                self.background.close()
            except Exception:  # noqa: BLE001 - already failing; the temporary file goes anyway
                pass
            try:
                self.writer.close()
            except OSError:  # e.g. the disk is full: the temporary file goes anyway
                pass
            self.writer = None
        self.tmp.unlink(missing_ok=True)


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
    """Write a part's rejected rows (with `reject_stage`) atomically; remove stale files if none."""
    if table is None or table.num_rows == 0:
        path.unlink(missing_ok=True)
        return 0
    table = table.append_column("reject_stage", pa.array([stage] * table.num_rows, pa.string()))
    table = table.select(REJECTED_SCHEMA.names)
    return write_parquet_atomic(path, [table], REJECTED_SCHEMA)
