"""The dedup unit index: every unit as an integer, its attributes as small numpy arrays.

Clustering needs, per unit, only a number, its exact-text hash, whether it has shingles and
where its first occurrence lies; the strings (keys, sources) and the other attributes matter
only for the units that end up in a cluster of two or more. So the index keeps, for the whole
corpus, about 4 bytes per row plus 17 per unit (the exact hashes go after the exact pass);
`member_frames` reads the full attributes back from the signature files for the cluster
members alone, with the same ordering and aggregation rules as for all units.

Units are numbered prior (earlier release) first, then by key; a unit that occurs in several
files (the samples of one problem split across parts) takes its attributes from all of them:
exact hash and length the smallest, shingles the largest, rows and passes summed, source the
smallest, position from its first file.

Everything here is pyarrow and numpy: the default dedup command imports no polars (0.12 s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.dedup.trim import return_free_memory
from curate.schema import empty_table
from curate.text.arrow import bool_array, numbers, numpy_array, string_array

ATTRS = ["key", "part", "exact", "shingles", "length", "rows", "passes", "source"]
COLUMNS = ["uidx", "key", "prior", "exact", "shingles", "length", "rows", "passes", "source", "pos", "part"]
BATCH = 16_384  # signature rows read back at once
SIGNATURE = pa.schema([("key", pa.large_string()), ("part", pa.int32()), ("exact", pa.uint64()),
                       ("shingles", pa.int32()), ("length", pa.int64()), ("rows", pa.int32()),
                       ("passes", pa.int32()), ("source", pa.large_string())])  # a signature file's columns
OCCURRENCES = pa.schema([pa.field("pos", pa.uint32()), *SIGNATURE, pa.field("prior", pa.bool_()),
                         pa.field("uidx", pa.uint32())])
_UNITS = pa.schema([OCCURRENCES.field(name) for name in COLUMNS])


@dataclass
class UnitIndex:
    """Integer units of the concatenated signature files (current parts, then `against` ones)."""

    sig_files: list[Path]
    prior: list[bool]
    starts: np.ndarray  # int64[files + 1]: each file's first row in the concatenation
    uidx: np.ndarray  # uint32[rows]: the unit of each row
    first: np.ndarray  # int64[units]: the row of each unit's first occurrence
    prior_units: int  # units [0, prior_units) are the earlier release's
    shared: bool  # some unit occurs in more than one file
    usable: np.ndarray  # bool[units]: has shingles (an empty text is never compared)
    exact: np.ndarray | None  # uint64[units]: normalised-text hash; None once the exact pass ran
    rows_seen: int  # rows of the current units
    seen: pa.Table  # per source of the current units: source, units, rows

    @property
    def units(self) -> int:
        return len(self.first)

    def drop_rows(self) -> None:
        """Let go of the per-row units and the first rows (12 bytes a row) once the cluster
        members are read: what follows needs only the counts and the per-unit flags."""
        self.uidx = np.zeros(0, np.uint32)
        self.first = np.broadcast_to(np.int64(0), self.first.shape)  # `units` stays; no memory

    def locate(self, units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(file, position in it) of the first occurrence of each of `units`."""
        rows = self.first[units]
        files = np.searchsorted(self.starts, rows, side="right") - 1
        return files, rows - self.starts[files]


def build_index(sig_files: list[Path], prior: list[bool]) -> UnitIndex:
    """Number the units of the signature files and gather their per-unit arrays."""
    sizes = [pq.ParquetFile(str(f)).metadata.num_rows for f in sig_files]
    starts = np.zeros(len(sig_files) + 1, np.int64)
    np.cumsum(sizes, out=starts[1:])
    uidx = np.zeros(int(starts[-1]), np.uint32)
    firsts, offset, prior_units = [], 0, 0
    for kind in (True, False):  # the earlier release's units take the smallest numbers
        chosen = [i for i, p in enumerate(prior) if p == kind]
        if chosen:
            first, count = _number(sig_files, chosen, starts, uidx, offset)
            firsts.append(first)
            offset += count
            prior_units = offset if kind else prior_units
    return_free_memory()  # the sort's arrays, before the attributes' are allocated
    first = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
    index = UnitIndex(sig_files, prior, starts, uidx, first, prior_units, len(first) < len(uidx),
                      np.zeros(len(first), bool), None, 0, pa.table({}))
    _attributes(index)
    return index


def _number(sig_files: list[Path], chosen: list[int], starts: np.ndarray, uidx: np.ndarray,
            offset: int) -> tuple[np.ndarray, int]:
    """Number the units of one kind's files (contiguous in the concatenation) from `offset` by
    key: a key's dense rank. Returns each new unit's first row (in its first file) and their
    count. Memory: the keys of one kind without their common prefix (source-scoped ids share
    it: 9 bytes a key left of 29 at 1M rows), the rank's sort in Arrow's allocator, and the
    rank written straight into `uidx` (no int64 copies of it)."""
    keys = _key_suffixes(sig_files, chosen)
    ranks = pc.rank(keys, sort_keys="ascending", tiebreaker="dense")  # 1, 2, ... by key bytes
    del keys
    lo, n = int(starts[chosen[0]]), len(ranks)
    mine = uidx[lo:lo + n]
    mine[:] = numbers(ranks)  # from the buffers: pyarrow's to_numpy imports pandas
    del ranks
    count = int(mine.max()) if n else 0
    mine -= 1
    first = np.full(count, np.iinfo(np.int64).max, np.int64)
    for at in range(0, n, BATCH):  # rows a batch at a time: no row-long index arrays
        np.minimum.at(first, mine[at:at + BATCH], np.arange(lo + at, lo + min(at + BATCH, n)))
    mine += offset
    return first, count


def _key_suffixes(sig_files: list[Path], chosen: list[int]) -> pa.ChunkedArray:
    """The keys of files `chosen`, one chunk a file, less the characters all of them begin with:
    every key lies between the smallest and the largest (in byte order, which is code point
    order), so their common prefix is every key's, and dropping it keeps order and equality."""
    def keys(i: int) -> pa.Array:
        column = pq.ParquetFile(str(sig_files[i])).read(columns=["key"], use_threads=False)["key"]
        return column.cast(pa.large_string()).combine_chunks()

    low = high = None
    for i in chosen:
        bounds = pc.min_max(keys(i))
        if bounds["min"].is_valid:
            low = min(low, bounds["min"].as_py()) if low is not None else bounds["min"].as_py()
            high = max(high, bounds["max"].as_py()) if high is not None else bounds["max"].as_py()
    shared = len(os.path.commonprefix([low, high])) if low is not None else 0
    return pa.chunked_array([pc.utf8_slice_codeunits(keys(i), shared).cast(pa.string()) for i in chosen],
                            pa.string())  # (a slice counts code points; binary_slice fails on Arrow 26)


def _attributes(index: UnitIndex) -> None:
    """Exact hashes, usable flags and the per-source counts, one signature file at a time.
    Per unit only what is kept (exact hash, usable flag) and the smallest source's code; rows
    are summed per source straight from the current files, not per unit."""
    n = index.units
    exact = np.full(n, np.iinfo(np.uint64).max, np.uint64)
    usable = np.zeros(n, bool)
    sources = sorted({s for f in index.sig_files for s in _column(f, "source").unique().to_pylist() if s is not None})
    code = np.full(n, len(sources), np.uint32)  # the smallest source of a unit; len(sources): none
    names = string_array(sources)
    for i, f in enumerate(index.sig_files):
        attrs = _read(f, ["exact", "shingles", "source"])
        units = index.uidx[index.starts[i]:index.starts[i + 1]]
        np.minimum.at(exact, units, numbers(attrs["exact"]))
        usable[units[numbers(attrs["shingles"]) > 0]] = True  # the largest count is > 0
        np.minimum.at(code, units, _filled(pc.index_in(attrs["source"].cast(pa.string()), value_set=names),
                                           len(sources)))
        del attrs
    index.exact, index.usable = exact, usable
    current = slice(index.prior_units, n)
    counts = np.bincount(code[current], minlength=len(sources) + 1)
    totals = np.zeros(len(sources) + 1, np.int64)
    for i, f in enumerate(index.sig_files):
        if not index.prior[i]:  # a current file's rows are all of current units
            np.add.at(totals, code[index.uidx[index.starts[i]:index.starts[i + 1]]], _filled(_column(f, "rows"), 0))
    index.rows_seen = int(totals.sum())
    present = np.flatnonzero(counts)
    index.seen = pa.table({"source": string_array([(sources + [None])[c] for c in present]),
                           "units": numpy_array(counts[present].astype(np.uint32)),
                           "rows": numpy_array(totals[present].astype(np.int64))})


def _read(path: Path, columns: list[str]) -> pa.Table:
    """Columns of a signature file (`pq.read_table` would import pyarrow.dataset, and pandas)."""
    return pq.ParquetFile(str(path)).read(columns=columns, use_threads=False)


def _column(path: Path, name: str) -> pa.ChunkedArray:
    """One column of a signature file."""
    return _read(path, [name])[name]


def _filled(values: pa.Array | pa.ChunkedArray, fill: int) -> np.ndarray:
    """An integer Arrow array as int64 numpy, nulls read as `fill` (no pandas: see `numbers`)."""
    values = values.cast(pa.int64())
    if values.null_count:
        values = pc.fill_null(values, numpy_array(np.array([fill], np.int64))[0])
    return numbers(values).astype(np.int64, copy=False)


def member_frames(index: UnitIndex, members: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """(occurrences, units) of the units `members` (ascending), read back from the signature files.

    `units` has the columns and row rules of the whole-corpus unit table (sorted by `uidx`);
    `occurrences` one row per (file, unit) with its `part`, `key`, `prior` and `uidx` (in no
    particular order). Arrow throughout: its pool hands freed pages back (polars' allocator
    kept them a while, and a frame of every member per step grew the prepare peak by about
    100 bytes a row at 1M rows).
    """
    wanted = np.zeros(index.units, bool)
    wanted[members] = True
    tables = []
    for i, f in enumerate(index.sig_files):
        units = index.uidx[index.starts[i]:index.starts[i + 1]]
        positions = np.flatnonzero(wanted[units])
        table = _read_rows(f, positions)
        tables.append(table.append_column("prior", bool_array(np.full(len(positions), index.prior[i])))
                      .append_column("uidx", numpy_array(units[positions].astype(np.uint32))))
        del table
        return_free_memory()  # the file's decoded batch: its pages stayed, pinned by the rows taken
    table = pa.concat_tables(tables) if tables else empty_table(OCCURRENCES)
    del tables
    table = _zero_counts(table)
    if not index.shared:  # an occurrence a unit: the occurrences sorted are the units, one table for both
        ranked = table.take(pc.sort_indices(table["uidx"])).combine_chunks()
        del table
        return_free_memory()
        return ranked, ranked.select(COLUMNS)
    return table, _fold(table.take(pc.sort_indices(table["uidx"])))  # a stable sort: within a unit, file order


def _fold(ranked: pa.Table) -> pa.Table:
    """One row per unit of occurrences sorted by `uidx` (in file order within a unit): key,
    prior, pos and part from the first; exact, length the smallest; shingles the largest; rows,
    passes summed; source the smallest, none only if none has one. In numpy over the groups'
    bounds: Arrow's group_by runs on Acero, whose import (pyarrow.dataset) imports pandas."""
    uidx = numbers(ranked["uidx"])
    starts = np.flatnonzero(np.r_[True, uidx[1:] != uidx[:-1]]) if len(uidx) else np.zeros(0, np.int64)
    first = numpy_array(starts.astype(np.int64))
    columns = {name: ranked[name].take(first) for name in ("key", "prior", "pos", "part")}
    for name, fold in (("exact", np.minimum), ("length", np.minimum), ("shingles", np.maximum),
                       ("rows", np.add), ("passes", np.add)):
        kind = ranked.schema.field(name).type
        values = fold.reduceat(numbers(ranked[name]), starts) if len(starts) else np.zeros(0)
        columns[name] = numpy_array(values.astype(kind.to_pandas_dtype()))  # a numpy dtype: no pandas import
    group = np.cumsum(np.r_[False, uidx[1:] != uidx[:-1]]) if len(uidx) else np.zeros(0, np.int64)
    rank = numbers(pc.rank(ranked["source"], sort_keys="ascending", tiebreaker="dense"))  # nulls last
    smallest = np.lexsort((rank, group))[starts]  # by unit, then source: each unit's first is its smallest
    columns["source"] = ranked["source"].take(numpy_array(smallest.astype(np.int64)))
    columns["uidx"] = numpy_array(uidx[starts])
    return pa.table({name: columns[name] for name in COLUMNS}).cast(_UNITS).combine_chunks()


def _zero_counts(table: pa.Table) -> pa.Table:
    """`rows` and `passes` with nulls read as 0, their type kept."""
    for name in ("rows", "passes"):
        column = table[name]
        if column.null_count:
            zero = numpy_array(np.zeros(1, column.type.to_pandas_dtype()))[0]  # a numpy dtype: no pandas import
            table = table.set_column(table.schema.get_field_index(name), name, pc.fill_null(column, zero))
    return table


def _read_rows(path: Path, positions: np.ndarray) -> pa.Table:
    """The signature rows at `positions` (ascending) of one file, with their `pos`, a batch at a time."""
    source = pq.ParquetFile(str(path))
    pieces, start = [], 0
    for batch in source.iter_batches(batch_size=BATCH, columns=ATTRS, use_threads=False):
        lo, hi = np.searchsorted(positions, [start, start + batch.num_rows])
        if hi > lo:
            pieces.append(batch.take(numpy_array((positions[lo:hi] - start).astype(np.int64))))
        start += batch.num_rows
    table = pa.Table.from_batches(pieces) if pieces else empty_table(source.schema_arrow)
    return table.select(ATTRS).cast(SIGNATURE).add_column(0, "pos", numpy_array(positions.astype(np.uint32)))
