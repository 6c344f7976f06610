"""A Parquet file assembled from other files' compressed column chunks, copied byte for byte.

A stage that rewrites only some columns of its rows (`Stage.column_edit`) need not decode and
re-compress the others: each output row group takes its unchanged columns' chunks straight from
the input row group they came from (bytes copied, offsets moved, the column renamed when the
source named it differently) and the other columns from a small file encoded just for them
(`encode_group`), under one footer. Inside a row group the copied chunks come first and the
fresh ones after them (the footer lists every chunk in schema order, with its offset), so a row
group's copy can start before the stage has made its fresh columns. Row groups stay contiguous
and in order; a writer that knows how much room the fresh columns need may copy several row
groups ahead, each at a place that leaves that room after it (a gap readers skip, as they skip
parquet-mr's padding between row groups). The footer's schema, Arrow schema and column orders are
those of an empty file pyarrow writes with the output schema (`Template`), so readers see the
file a `ParquetWriter` would have written, but for the copied chunks' encodings and that order.

A chunk is copied only when every schema element of its column (type, repetition, logical type,
children) is the one the output schema makes (`copyable`): a REQUIRED column into an OPTIONAL
one, an int64 into an int32 or a list with other child names is re-encoded. What a copied chunk
points to outside itself (page and column indexes, bloom filters) is dropped from its metadata,
and so are its statistics when another writer than Arrow's made it (the footer names Arrow's,
and readers excuse some writers' faulty statistics by that name).
Encrypted files and chunks kept in other files (`file_path`) are refused (`SpliceRefused`).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from curate.storage import thrift_compact as tc
from curate.storage.row_groups import MAGIC, copy_at

# FileMetaData fields
FM_SCHEMA, FM_ROWS, FM_GROUPS, FM_ENCRYPTION = 2, 3, 4, 8
# ColumnChunk fields kept in a copied chunk: file_path (1, refused), file_offset (2), meta_data (3);
# the offset and column index positions (4-7) and encryption fields (8, 9) point elsewhere
CC_FILE_PATH, CC_FILE_OFFSET, CC_META = 1, 2, 3
CC_KEPT = (CC_FILE_OFFSET, CC_META)
# ColumnMetaData fields
CM_PATH, CM_UNCOMPRESSED, CM_COMPRESSED, CM_DATA, CM_INDEX, CM_DICT = 3, 6, 7, 9, 10, 11
CM_STATISTICS, CM_BLOOM, CM_BLOOM_LENGTH = 12, 14, 15
FM_CREATED_BY = 6
ARROW_WRITER = b"parquet-cpp-arrow"
# SchemaElement fields: name (4) may differ at a column's top; field_id (9) is not compared
SE_NAME, SE_CHILDREN, SE_FIELD_ID = 4, 5, 9


class SpliceRefused(ValueError):
    """The file cannot give its chunks (encrypted, chunks elsewhere, not Parquet)."""


def read_footer(source: BinaryIO) -> dict[int, tuple[int, Any]]:
    """The decoded FileMetaData of an open Parquet file."""
    size = source.seek(0, os.SEEK_END)
    if size < 12:
        raise SpliceRefused("too short to be a Parquet file")
    source.seek(size - 8)
    tail = source.read(8)
    source.seek(0)
    if source.read(4) != MAGIC or tail[4:] != MAGIC:  # PARE: an encrypted footer
        raise SpliceRefused("not a plain Parquet file")
    length = struct.unpack("<I", tail[:4])[0]
    source.seek(size - 8 - length)
    meta = tc.decode_struct(source.read(length))
    if FM_ENCRYPTION in meta:
        raise SpliceRefused("encrypted columns")
    return meta


def top_fields(meta: dict[int, tuple[int, Any]]) -> dict[str, tuple[list[dict], range]]:
    """Each top-level field's schema elements (its subtree, in order) and its leaf column indexes."""
    elements = meta[FM_SCHEMA][1][1]
    out: dict[str, tuple[list[dict], range]] = {}
    pos, leaf = 1, 0
    for _ in range(elements[0].get(SE_CHILDREN, (0, 0))[1]):
        end, leaves = _subtree_end(elements, pos)
        out[elements[pos][SE_NAME][1].decode()] = (elements[pos:end], range(leaf, leaf + leaves))
        pos, leaf = end, leaf + leaves
    return out


def _subtree_end(elements: list[dict], pos: int) -> tuple[int, int]:
    """(index after the subtree at `pos`, its number of leaves)."""
    children = elements[pos].get(SE_CHILDREN, (0, 0))[1]
    if not children:
        return pos + 1, 1
    end, leaves = pos + 1, 0
    for _ in range(children):
        end, n = _subtree_end(elements, end)
        leaves += n
    return end, leaves


def copyable(source: list[dict], target: list[dict]) -> bool:
    """Whether a source field's chunks can stand for a target field's: the same subtree of schema
    elements but for the top one's name (and field ids)."""
    if len(source) != len(target):
        return False
    for k, (a, b) in enumerate(zip(source, target)):
        skip = (SE_FIELD_ID,) if k else (SE_FIELD_ID, SE_NAME)
        if {f: v for f, v in a.items() if f not in skip} != {f: v for f, v in b.items() if f not in skip}:
            return False
    return True


class Template:
    """The footer of an empty file pyarrow writes with `schema` and `options`: the output's
    schema elements, key-value metadata (the Arrow schema), writer name and column orders."""

    def __init__(self, schema: pa.Schema, options: dict[str, Any]):
        buffer = io.BytesIO()
        pq.ParquetWriter(buffer, schema, **options).close()
        buffer.seek(0)
        self.schema, self.options = schema, options
        self.meta = read_footer(buffer)
        self.fields = top_fields(self.meta)

    def fields_of(self, path: Path | str) -> dict[str, list[dict]]:
        """The top-level fields of a Parquet file, by name, with their schema elements."""
        with open(path, "rb") as source:
            return {name: elements for name, (elements, _) in top_fields(read_footer(source)).items()}

    def copies(self, source_fields: dict[str, list[dict]], names: dict[str, str]) -> dict[str, str]:
        """Of `names` (output field -> source field), those whose chunks can be copied raw."""
        return {out: src for out, src in names.items()
                if out in self.fields and src in source_fields and copyable(source_fields[src], self.fields[out][0])}


def encode_group(table: pa.Table, path: Path, options: dict[str, Any]) -> Path:
    """`table` as a Parquet file of one row group (the fresh columns of one output row group)."""
    with pq.ParquetWriter(path, table.schema, **options) as writer:
        writer.write_table(table, row_group_size=max(1, table.num_rows))
    return path


@dataclass
class _Open:
    """An input file held open while the output is written, with its footer's pieces."""

    file: BinaryIO
    groups: list[dict]
    fields: dict[str, tuple[list[dict], range]]
    arrow_writer: bool  # written by Arrow's C++ writer (any version), as the template says it was


class ColumnSplicer:
    """Write row groups into `out` (an open binary file) from other files' chunks; `finish` writes
    the footer from `template`."""

    def __init__(self, out: BinaryIO, template: Template):
        self.out, self.template = out, template
        self.out.write(MAGIC)
        self.out.flush()
        self.position = len(MAGIC)  # where the next row group's bytes may start
        self.groups: list[dict] = []
        self.rows = 0
        self.opened: dict[str, _Open] = {}
        # row groups whose copied chunks are written (`start_group`): (source, group) -> (start, end, chunks)
        self.started: dict[tuple[str, int], tuple[int, int, dict[str, list[dict]]]] = {}

    def source(self, path: Path | str) -> _Open:
        key = str(path)
        if key not in self.opened:
            file = open(path, "rb")
            try:
                meta = read_footer(file)
            except BaseException:
                file.close()
                raise
            arrow = meta.get(FM_CREATED_BY, (0, b""))[1].startswith(ARROW_WRITER)
            self.opened[key] = _Open(file, meta[FM_GROUPS][1][1] if FM_GROUPS in meta else [], top_fields(meta), arrow)
        return self.opened[key]

    def copied_bytes(self, source: Path | str, group: int, copies: dict[str, str]) -> int:
        """The bytes `start_group` would copy for these columns of that row group."""
        src = self.source(source)
        columns = src.groups[group][1][1][1]
        return sum(columns[leaf][CC_META][1][CM_COMPRESSED][1] for name in copies.values()
                   for leaf in src.fields[name][1])

    def start_group(self, source: Path | str, group: int, copies: dict[str, str], at: int | None = None) -> int:
        """Copy the chunks of an output row group's fields in `copies` (output -> source name) from
        row group `group` of `source`, before its fresh columns exist; `add_group` adds those.
        They go at byte `at`, by default right after what was written or started before (a
        caller that knows the fresh columns' room can place several row groups ahead). Returns
        where the copied bytes end."""
        key = (str(source), group)
        if key in self.started:
            raise ValueError(f"row group {group} of {source} was started twice")
        if at is None:
            at = max([self.position] + [end for _, end, _ in self.started.values()])
        src = self.source(source)
        taken, end = {}, at
        for name in self.template.fields:
            if name in copies:
                taken[name], end = self._take(src, group, copies[name], name, end)
        self.started[key] = (at, end, taken)
        return end

    def add_group(self, source: Path | str, group: int, copies: dict[str, str], fresh: Path | None) -> None:
        """One output row group: the fields in `copies` (output -> source name) from row group
        `group` of `source` (copied now, or by `start_group`), then every other field from the one
        row group of `fresh`. The footer lists the chunks in schema order; in the file the copied
        ones come first, so most of a row group's bytes can be copied before a stage is done.
        A row group started ahead where the row group before has since written its fresh
        columns (they outgrew their room) is copied again, after them."""
        start, end, taken = self.started.pop((str(source), group), (None, None, None))
        if start is None or start < self.position:
            self.start_group(source, group, copies, at=self.position)
            start, end, taken = self.started.pop((str(source), group))
        src = self.source(source)
        new = self.source(fresh) if fresh is not None else None
        rows = src.groups[group][3][1]
        if new is not None and (len(new.groups) != 1 or new.groups[0][3][1] != rows):
            raise ValueError(f"{fresh}: expected one row group of {rows} rows")
        for name in self.template.fields:
            if name in taken:
                continue
            if new is None or name not in new.fields:
                raise ValueError(f"no chunk for column {name}")
            taken[name], end = self._take(new, 0, name, name, end)
        self.position = end
        self._add([chunk for name in self.template.fields for chunk in taken[name]], rows)
        if new is not None:
            self._close(fresh)

    def add_file(self, fresh: Path) -> None:
        """Every row group of `fresh` (a file written with the output schema), all columns."""
        if self.started:
            raise ValueError("a row group was started and not finished")
        new = self.source(fresh)
        for index, group in enumerate(new.groups):
            chunks = []
            for name in self.template.fields:
                taken, self.position = self._take(new, index, name, name, self.position)
                chunks += taken
            self._add(chunks, group[3][1])
        self._close(fresh)

    def _take(self, src: _Open, group: int, name: str, out_name: str, at: int) -> tuple[list[dict], int]:
        """Copy the chunks of field `name` in row group `group` of `src` into the output at byte
        `at`; (their metadata, moved and renamed to `out_name`; where the copied bytes end)."""
        out = []
        columns = src.groups[group][1][1][1]
        for leaf in src.fields[name][1]:
            chunk = columns[leaf]
            if CC_FILE_PATH in chunk or CC_META not in chunk:
                raise SpliceRefused("a column chunk kept in another file")
            meta = dict(chunk[CC_META][1])
            start = _chunk_start(meta)
            length = meta[CM_COMPRESSED][1]
            copy_at(src.file, self.out, start, length, at)
            shift = at - start
            at += length
            for fid in (CM_DATA, CM_DICT):
                if fid in meta and (fid == CM_DATA or meta[fid][1] > 0):
                    meta[fid] = (meta[fid][0], meta[fid][1] + shift)
            for fid in (CM_INDEX, CM_BLOOM, CM_BLOOM_LENGTH):
                meta.pop(fid, None)
            if not src.arrow_writer:  # readers excuse some writers' faulty statistics by `created_by`,
                meta.pop(CM_STATISTICS, None)  # which is now the template's (Arrow's): keep none of theirs
            kind, path = meta[CM_PATH]
            meta[CM_PATH] = (kind, (path[0], [out_name.encode()] + path[1][1:]))
            new = {fid: chunk[fid] for fid in CC_KEPT if fid in chunk}
            offset = new.get(CC_FILE_OFFSET, (tc.I64, 0))
            new[CC_FILE_OFFSET] = (offset[0], offset[1] + shift if offset[1] else 0)
            new[CC_META] = (tc.STRUCT, meta)
            out.append(dict(sorted(new.items())))
        return out, at

    def _add(self, chunks: list[dict], rows: int) -> None:
        metas = [c[CC_META][1] for c in chunks]
        start = min(_chunk_start(m) for m in metas)  # the row group's first byte: chunks need not be in schema order
        self.groups.append({
            1: (tc.LIST, (tc.STRUCT, chunks)),
            2: (tc.I64, sum(m[CM_UNCOMPRESSED][1] for m in metas)),
            3: (tc.I64, rows),
            5: (tc.I64, start),
            6: (tc.I64, sum(m[CM_COMPRESSED][1] for m in metas)),
            7: (tc.I16, len(self.groups)),
        })
        self.rows += rows

    def _close(self, path: Path | str) -> None:
        held = self.opened.pop(str(path), None)
        if held is not None:
            held.file.close()
        Path(path).unlink(missing_ok=True)

    def finish(self) -> None:
        """Write the footer: the template's, with these row groups and their row count."""
        if self.started:
            raise ValueError("a row group was started and not finished")
        meta = dict(self.template.meta)
        meta[FM_ROWS] = (tc.I64, self.rows)
        meta[FM_GROUPS] = (tc.LIST, (tc.STRUCT, self.groups))
        footer = tc.encode_struct(dict(sorted(meta.items())))
        self.out.seek(self.position)
        self.out.truncate()  # row groups copied ahead that another took the place of
        self.out.write(footer)
        self.out.write(struct.pack("<I", len(footer)))
        self.out.write(MAGIC)
        self.close()

    def close(self) -> None:
        """Close the input files (the fresh ones are deleted by `abort`'s caller)."""
        for held in self.opened.values():
            held.file.close()
        self.opened.clear()


def _chunk_start(meta: dict[int, tuple[int, Any]]) -> int:
    """Where a column chunk's first page (its dictionary's, when it has one) starts."""
    start = meta[CM_DATA][1]
    if meta.get(CM_DICT, (0, 0))[1] > 0:
        start = min(start, meta[CM_DICT][1])
    return start
