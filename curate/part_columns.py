"""Part passes that copy the columns a stage leaves alone, compressed, instead of re-encoding them.

A stage whose `run` only rewrites some columns (`Stage.column_edit`: dedup's `dup_of`,
decontam's `contaminated`) gets, for each row group of its input that its part holds whole (a
row group of the parent's part file, or of a source file under load's view), only the columns
it reads and those that cannot be copied; its output row group is then spliced from the input
chunks of the other columns, byte for byte, and a small file of the fresh ones
(`curate.storage.column_splice`). A row group the part holds only some rows of (parts are cut by
row count) is read and encoded whole, as the normal path does.

The stage sees the batches of the normal path (same rows, same boundaries), so its values,
counters and report records are the same; the file holds the same rows and schema, but the copied
chunks keep the input's encoding and row groups follow the input's. `CURATE_COLUMN_SPLICE=0`
turns this off (every part decoded and re-encoded, as before).

When the stage's edit says how much room its fresh columns take (`ColumnEdit.room_per_row`),
every row group's copy starts at once, at a place fixed by the input's footer; a stage whose
prepare ends on one core starts its first part that way before prepare ends (`start_early`,
through `PrepareContext.start_parts`), and the part task takes the writer over. Either way the
file's bytes are the same.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curate.background import Background
from curate.io import READ_BUFFER
from curate.rundir import RunDir
from curate.schema import TRACE_SCHEMA, conform
from curate.stages.base import ColumnEdit, Stage, ViewSegment, view_segments
from curate.storage.column_splice import ColumnSplicer, SpliceRefused, Template, encode_group
from curate.storage.parquet_files import PART_OPTIONS
from curate.storage.row_groups import MAGIC

ENV = "CURATE_COLUMN_SPLICE"
#: a row group larger than this (decoded, by its footer) is encoded the normal way, in batches:
#: copied, it would be a row group of the part, which later readers take one at a time (a part
#: written anew has row groups of 8192 rows), and its fresh columns are held until it ends
MAX_GROUP_BYTES = 128 << 20
#: a row group's fresh columns get ROOM_BASE bytes plus `ColumnEdit.room_per_row` a row after its
#: copied chunks when that is at most 1/ROOM_SHARE of them (a few MB at most: long rows only);
#: a row group whose fresh columns outgrow it is copied again after them, and so are those after
ROOM_BASE, ROOM_SHARE = 64 << 10, 50


@lru_cache(maxsize=1)
def template() -> Template:
    """The footer every spliced part gets (TRACE_SCHEMA, the part writer's options)."""
    return Template(TRACE_SCHEMA, PART_OPTIONS)


@dataclass
class ColumnPlan:
    """A part's input row groups, and for each one held whole, the output columns copied from it."""

    edit: ColumnEdit
    segments: list[ViewSegment]
    copies: list[dict[str, str] | None]  # per segment: output -> source column; None: encode it all
    fresh: list[list[str] | None] = field(default_factory=list)

    def __post_init__(self):
        self.fresh = [None if c is None else [n for n in TRACE_SCHEMA.names if n not in c] for c in self.copies]

    def tables(self) -> Iterator[pa.Table]:
        """The part's rows in trace schema: of a copied row group, only the columns the stage
        reads and those encoded fresh (the others null)."""
        for segment, fresh in zip(self.segments, self.fresh):
            columns = None if fresh is None else sorted(set(fresh) | set(self.edit.reads), key=TRACE_SCHEMA.names.index)
            for table in segment.tables(columns):
                yield conform(table)

    def encodes_batches(self) -> bool:
        """Whether some row group is encoded whole from the stage's batches, whose chunks must then
        be aligned to write the same pages (`rebatched`); else only the fresh columns are, each
        combined first (`SplicedPartWriter.write`)."""
        return any(c is None for c in self.copies)

    def writer(self, path: Path) -> SplicedPartWriter:
        """The part's writer: the one `start_early` made for this plan, else a new one."""
        early = _EARLY.pop(str(path), None)
        if early is not None and early.plan.key() == self.key():
            return early
        if early is not None:
            early.abort()
        return SplicedPartWriter(path, self)

    def key(self) -> tuple:
        """What makes two plans write the same file."""
        return (self.edit, self.copies, [(s.path, s.group, s.start, s.rows, s.whole, s.columns) for s in self.segments])


#: writers started by `start_early`, by part path, until their part task takes them
_EARLY: dict[str, SplicedPartWriter] = {}


def start_early(rd: RunDir, stage: Stage, index: int, part: int) -> None:
    """Start copying the unchanged columns of `part` of stage `index` now, on a helper thread,
    while its prepare finishes on one core (`PrepareContext.start_parts`); the part task of this
    process takes the writer over. The file is the one a writer started then would write."""
    plan = column_plan(rd, stage, index - 1, part)
    path = rd.part_path(rd.stage_dir(index, stage.name), part)
    if plan is not None and str(path) not in _EARLY:
        _EARLY[str(path)] = SplicedPartWriter(path, plan)


def drop_early() -> None:
    """Abort the writers `start_early` made that no part task took (a failed or resumed run)."""
    while _EARLY:
        _EARLY.popitem()[1].abort()


def column_plan(rd: RunDir, stage: Stage, parent: int, part: int) -> ColumnPlan | None:
    """How to run `stage` on `part` of stage `parent`'s output copying columns; None when it
    cannot (no column edit, no Parquet row group held whole, nothing to copy, turned off)."""
    edit = stage.column_edit()
    if edit is None or os.environ.get(ENV, "1") == "0":
        return None
    stage_dir = rd.stage_dir_at(parent)
    rd.fetch_part(stage_dir, part)
    path = rd.part_path(stage_dir, part)
    try:
        segments = file_segments(path) if rd.has_part(stage_dir, part) else view_segments(path)
        if not segments:
            return None
        copies = [_copies(segment, edit) for segment in segments]
    except (SpliceRefused, OSError, pa.ArrowException):
        return None
    if not any(copies):
        return None
    return ColumnPlan(edit, segments, copies)


def _copies(segment: ViewSegment, edit: ColumnEdit) -> dict[str, str] | None:
    """The output columns a segment's chunks can give (None: encode the segment whole)."""
    if not segment.whole:
        return None
    names = {out: src for out, src in segment.columns.items() if out not in edit.writes}
    fields, metadata = _footer(segment.path, *_stamp(segment.path))
    if metadata.row_group(segment.group).total_byte_size > MAX_GROUP_BYTES:
        return None
    return template().copies(fields, names) or None


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=64)
def _footer(path: str, mtime_ns: int, size: int) -> tuple[dict, pq.FileMetaData]:
    """A file's top-level fields (schema elements) and metadata, read once per version of it."""
    return template().fields_of(path), pq.ParquetFile(path).metadata


def file_segments(path: Path) -> list[ViewSegment]:
    """A part file's row groups, each whole, every trace column its own."""
    parquet = pq.ParquetFile(path)
    same = {name: name for name in parquet.schema_arrow.names if name in TRACE_SCHEMA.names}
    return [ViewSegment(str(path), group, 0, parquet.metadata.row_group(group).num_rows, True, same,
                        _group_reader(path, group)) for group in range(parquet.num_row_groups)]


def _group_reader(path: Path, group: int):
    def tables(columns: list[str] | None) -> Iterator[pa.Table]:
        source = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False)
        names = source.schema_arrow.names
        wanted = None if columns is None else [c for c in columns if c in names]
        for batch in source.iter_batches(batch_size=8192, row_groups=[group], columns=wanted, use_threads=False):
            yield pa.Table.from_batches([batch])
    return tables


class SplicedPartWriter:
    """`AtomicParquetWriter`'s interface for a `ColumnPlan`: the stage's output tables, in row order,
    become the part's row groups (copied chunks plus fresh ones), through a temporary file."""

    def __init__(self, path: Path, plan: ColumnPlan):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.plan, self.rows = path, plan, 0
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.file = open(self.tmp, "wb")
        self.splicer = ColumnSplicer(self.file, template())
        self.todo = deque((s, c, f, s.rows) for s, c, f in zip(plan.segments, plan.copies, plan.fresh))
        self.held: list[pa.Table] = []
        self.pieces = 0
        # copying chunks (and encoding whole row groups) run in order on a helper thread: the copy
        # is the kernel's, the encoding Arrow's, both release the GIL while the stage computes. A
        # row group's copied chunks go first, while the stage still works on its rows; its fresh
        # columns (the edited ones, and the nulls of columns the input lacks) are small, and are
        # encoded by the stage's thread, which would otherwise wait for the copy (by the helper
        # once every copy is done: `copied`)
        self.background: Background | None = Background(self._splice, depth=1)
        self.starts = self._layout()
        self.copied = threading.Event()  # set once every row group's copy is done (`starts` only)
        if self.starts is not None:  # every row group's copy can start now, each at its place
            ahead = [(s.path, s.group, c, at) for s, c, at in zip(plan.segments, plan.copies, self.starts)]
            self.background.submit(None, None, None, None, ahead)
        else:
            self.background.submit(None, None, None, None, self._next_copied())

    def _layout(self) -> list[int] | None:
        """Where each row group starts when every one is copied and the edit gives its fresh
        columns room (`ColumnEdit.room_per_row`): its copied bytes, then ROOM_BASE bytes plus
        that many a row. None (each row group right after the one before) when some row group
        is encoded whole, or its room would exceed 1/ROOM_SHARE of its copied bytes."""
        per_row = self.plan.edit.room_per_row
        if not per_row or any(c is None for c in self.plan.copies):
            return None
        starts, at = [], len(MAGIC)
        for segment, copies in zip(self.plan.segments, self.plan.copies):
            copied = self.splicer.copied_bytes(segment.path, segment.group, copies)
            room = ROOM_BASE + per_row * segment.rows
            if room * ROOM_SHARE > copied:
                return None
            starts.append(at)
            at += copied + room
        return starts

    def reserve(self) -> None:
        """Nothing to wait for here: `write` blocks when the helper thread is two row groups behind."""

    def _splice(self, table: pa.Table | None, piece: Path | None, segment: ViewSegment | None,
                copies: dict[str, str] | None, then: list[tuple[str, int, dict[str, str], int | None]] = ()) -> None:
        """Add `piece` to the file (encoding `table` into it first, when given): the fresh columns
        of `segment` beside its copied chunks, or (no segment) a row group of its own, every column
        encoded. Then start copying the chunks of the row groups in `then` (source, group,
        copies, where: None for right after the last one)."""
        if table is not None:
            encode_group(table, piece, PART_OPTIONS)
        if piece is not None:
            if segment is None:
                self.splicer.add_file(piece)
            else:
                self.splicer.add_group(segment.path, segment.group, copies, piece)
        for source, group, copies, at in then:
            self.splicer.start_group(source, group, copies, at)
        if self.starts is not None and then:
            self.copied.set()

    def _next_copied(self) -> list[tuple[str, int, dict[str, str], None]]:
        """The next row group to come, with its copied columns, when it has some."""
        if self.starts is not None or not self.todo or self.todo[0][1] is None:
            return []
        segment, copies = self.todo[0][0], self.todo[0][1]
        return [(segment.path, segment.group, copies, None)]

    def write(self, table: pa.Table) -> None:
        table = table if table.schema == TRACE_SCHEMA else table.cast(TRACE_SCHEMA)
        self.rows += table.num_rows
        while table.num_rows:
            if not self.todo:
                raise ValueError("the stage returned more rows than it read (a column edit keeps every row)")
            segment, copies, fresh, left = self.todo[0]
            take = min(left, table.num_rows)
            piece, table = table.slice(0, take), table.slice(take)
            if copies is None:
                self.background.submit(piece, self._piece(), None, None)
            else:
                self.held.append(piece.select(fresh))
            if take < left:
                self.todo[0] = (segment, copies, fresh, left - take)
                continue
            self.todo.popleft()
            if copies is not None:
                rows, self.held = pa.concat_tables(self.held).combine_chunks(), []
                if self.copied.is_set():  # the helper thread has nothing else to do: it encodes too
                    self.background.submit(rows, self._piece(), segment, copies)
                else:  # it copies meanwhile: this thread encodes
                    fresh = encode_group(rows, self._piece(), PART_OPTIONS)
                    self.background.submit(None, fresh, segment, copies, self._next_copied())

    def _piece(self) -> Path:
        self.pieces += 1
        return self.tmp.with_name(f"{self.tmp.name}.{self.pieces}")

    def commit(self) -> int:
        if self.todo:
            raise ValueError("the stage returned fewer rows than it read (a column edit keeps every row)")
        background, self.background = self.background, None
        background.close()
        self.splicer.finish()
        self.file.close()
        os.replace(self.tmp, self.path)
        self.file = None
        return self.rows

    def abort(self) -> None:
        """Drop the temporary files (no-op after commit)."""
        if self.file is None:
            return
        if self.background is not None:
            background, self.background = self.background, None
            with suppress(Exception):  # already failing: the temporary files go anyway
                background.close()
        self.splicer.close()
        self.file.close()
        self.file = None
        self.tmp.unlink(missing_ok=True)
        for k in range(1, self.pieces + 1):
            self.tmp.with_name(f"{self.tmp.name}.{k}").unlink(missing_ok=True)
