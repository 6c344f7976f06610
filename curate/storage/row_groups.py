"""One Parquet file from row groups encoded apart, so several threads can compress one file.

Arrow's Parquet writer encodes and compresses a file's row groups one after another on the
calling thread (zstd is most of the time a part pass spends writing). Here each table is
encoded on its own, as a complete small Parquet file (`encode`), on any thread; the files are
then spliced in order (`Splicer`): their row-group bytes appended to one file, and
one footer written with every row group, its offsets moved to where its bytes now are.

Each row group is encoded with the same writer properties as by a single writer, so the bytes
are the same as one `ParquetWriter` writing the tables one after another (tested; it needs
no page index and no bloom filters: `splice_supported` says when the options allow it).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from curate.storage import thrift_compact as tc

MAGIC = b"PAR1"
# Offsets of a footer that point into the row groups' bytes, by struct: RowGroup.file_offset;
# ColumnMetaData data, index and dictionary page offsets and the bloom filter's offset.
ROW_GROUP_OFFSETS = (5,)
COLUMN_META_OFFSETS = (9, 10, 11, 14)
UNSUPPORTED_OPTIONS = ("write_page_index", "bloom_filter_options", "encryption_properties", "sorting_columns")


def splice_supported(options: dict[str, Any]) -> bool:
    """Whether files written with `options` can be spliced (nothing written beside the row groups)."""
    return not any(options.get(name) for name in UNSUPPORTED_OPTIONS)


def encode(table: pa.Table, path: Path, schema: pa.Schema, options: dict[str, Any]) -> Path:
    """Write `table` to `path` as a complete Parquet file, as a single writer would write it.

    A file, not a buffer in memory: the compressed row group then sits in the page cache, not
    in the process (tens of MB per encoder for R1-length rows)."""
    with pq.ParquetWriter(path, schema, **options) as writer:
        writer.write_table(table)
    return path


class Splicer:
    """Append encoded files' row groups to `out` (an open binary file), then write one footer."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.out.write(MAGIC)
        self.position = len(MAGIC)
        self.meta: dict[int, tuple[int, Any]] | None = None
        self.row_groups: list[dict] = []
        self.rows = 0

    def append(self, encoded: Path) -> None:
        """Add the row groups of one encoded file (from `encode`), then delete it."""
        with open(encoded, "rb") as source:
            size = source.seek(0, os.SEEK_END)
            source.seek(size - 8)
            tail = source.read(8)
            footer_length = struct.unpack("<I", tail[:4])[0]
            data_end = size - 8 - footer_length
            source.seek(0)
            if source.read(4) != MAGIC or tail[4:] != MAGIC or data_end < len(MAGIC):
                raise ValueError(f"{encoded} is not a Parquet file")
            source.seek(data_end)
            meta = tc.decode_struct(source.read(footer_length))
            _copy(source, self.out, len(MAGIC), data_end - len(MAGIC))
        encoded.unlink()
        shift = self.position - len(MAGIC)
        for group in meta[4][1][1] if 4 in meta else []:
            _move(group, shift)
            self.row_groups.append(group)
        self.rows += meta[3][1]
        if self.meta is None:
            self.meta = meta
        self.position += data_end - len(MAGIC)

    def finish(self) -> None:
        """Write the footer: the first file's, with every row group and the total row count."""
        if self.meta is None:
            raise ValueError("no row groups to splice")
        meta = dict(self.meta)
        meta[3] = (tc.I64, self.rows)
        meta[4] = (tc.LIST, (tc.STRUCT_TYPE, self.row_groups))
        footer = tc.encode_struct(meta)
        self.out.write(footer)
        self.out.write(struct.pack("<I", len(footer)))
        self.out.write(MAGIC)


def _copy(source: BinaryIO, out: BinaryIO, start: int, length: int) -> None:
    """Copy `length` bytes of `source` from `start` to the end of `out` (in the kernel when it can)."""
    out.flush()
    copy_at(source, out, start, length, out.seek(0, os.SEEK_END))
    out.seek(0, os.SEEK_END)


def copy_at(source: BinaryIO, out: BinaryIO, start: int, length: int, at: int) -> None:
    """Copy `length` bytes of `source` from `start` into `out` at byte `at` (past its end: the
    gap reads as zeros). `out` must hold nothing unflushed; its position is left anywhere."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(source.fileno(), out.fileno(), length - done, start + done, at + done)
            if n <= 0:
                break
            done += n
    except (AttributeError, OSError):  # no copy_file_range here (or not between these files)
        pass
    source.seek(start + done)
    out.seek(at + done)
    while done < length:
        chunk = source.read(min(1 << 20, length - done))
        if not chunk:
            raise ValueError("encoded row group file ended early")
        out.write(chunk)
        done += len(chunk)
    out.flush()


def _move(group: dict[int, tuple[int, Any]], shift: int) -> None:
    """Shift a RowGroup's file offsets (its own and its column chunks') by `shift` bytes."""
    _shift_fields(group, ROW_GROUP_OFFSETS, shift)
    for chunk in group[1][1][1]:
        if chunk.get(2, (0, 0))[1]:  # ColumnChunk.file_offset: 0 from Arrow 26, an offset from others
            _shift_fields(chunk, (2,), shift)
        if 3 in chunk:
            _shift_fields(chunk[3][1], COLUMN_META_OFFSETS, shift)


def _shift_fields(fields: dict[int, tuple[int, Any]], ids: tuple[int, ...], shift: int) -> None:
    for fid in ids:
        if fid in fields:
            kind, value = fields[fid]
            fields[fid] = (kind, value + shift)
