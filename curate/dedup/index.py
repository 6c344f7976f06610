"""The dedup unit index: every unit as an integer, its attributes as small numpy arrays.

Clustering needs, per unit, only a number, its exact-text hash, whether it has shingles and
where its first occurrence lies; the strings (keys, sources) and the other attributes matter
only for the units that end up in a cluster of two or more. So the index keeps, for the whole
corpus, about 4 bytes per row plus 17 per unit (the exact hashes go after the exact pass) and
no polars frame; `member_frames` reads the full attributes back from the signature files for
the cluster members alone, with the same ordering and aggregation rules as for all units.

Units are numbered prior (earlier release) first, then by key; a unit that occurs in several
files (the samples of one problem split across parts) takes its attributes from all of them:
exact hash and length the smallest, shingles the largest, rows and passes summed, source the
smallest, position from its first file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.dedup.trim import return_free_memory
from curate.schema import empty_table

ATTRS = ["key", "part", "exact", "shingles", "length", "rows", "passes", "source"]
COLUMNS = ["uidx", "key", "prior", "exact", "shingles", "length", "rows", "passes", "source", "pos", "part"]
BATCH = 16_384  # signature rows read back at once


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
    seen: pl.DataFrame  # per source of the current units: units, rows

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
                      np.zeros(len(first), bool), None, 0, pl.DataFrame())
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
    mine[:] = pl.from_arrow(ranks).to_numpy()  # not pyarrow's to_numpy: it imports pandas
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
    sources = sorted({s for f in index.sig_files for s in
                      pl.read_parquet(str(f), columns=["source"])["source"].drop_nulls().unique().to_list()})
    code = np.full(n, len(sources), np.uint32)  # the smallest source of a unit; len(sources): none
    enum = pl.Enum(sources or [""])
    for i, f in enumerate(index.sig_files):
        attrs = pl.read_parquet(str(f), columns=["exact", "shingles", "source"])
        units = index.uidx[index.starts[i]:index.starts[i + 1]]
        np.minimum.at(exact, units, attrs["exact"].to_numpy())
        usable[units[attrs["shingles"].to_numpy() > 0]] = True  # the largest count is > 0
        np.minimum.at(code, units, attrs["source"].cast(enum).to_physical().fill_null(len(sources)).to_numpy())
        del attrs
    index.exact, index.usable = exact, usable
    current = slice(index.prior_units, n)
    counts = np.bincount(code[current], minlength=len(sources) + 1)
    totals = np.zeros(len(sources) + 1, np.int64)
    for i, f in enumerate(index.sig_files):
        if not index.prior[i]:  # a current file's rows are all of current units
            rows = pl.read_parquet(str(f), columns=["rows"])["rows"].fill_null(0).to_numpy().astype(np.int64)
            np.add.at(totals, code[index.uidx[index.starts[i]:index.starts[i + 1]]], rows)
    index.rows_seen = int(totals.sum())
    present = np.flatnonzero(counts)
    index.seen = pl.DataFrame({"source": pl.Series([(sources + [None])[c] for c in present], dtype=pl.Utf8),
                               "units": pl.Series(counts[present], dtype=pl.UInt32),
                               "rows": pl.Series(totals[present], dtype=pl.Int64)})


def member_frames(index: UnitIndex, members: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(occurrences, units) of the units `members` (ascending), read back from the signature files.

    `units` has the columns and row rules of the whole-corpus unit table (sorted by `uidx`);
    `occurrences` one row per (file, unit) with its `part`, `key`, `prior` and `uidx` (in no
    particular order). The rows are gathered and sorted in Arrow, whose pool hands its pages
    back, and enter polars once: polars' allocator keeps freed pages for a while, and a frame
    of every member per step grew the prepare peak by about 100 bytes a row at 1M rows.
    """
    wanted = np.zeros(index.units, bool)
    wanted[members] = True
    tables = []
    for i, f in enumerate(index.sig_files):
        units = index.uidx[index.starts[i]:index.starts[i + 1]]
        positions = np.flatnonzero(wanted[units])
        table = _read_rows(f, positions)
        tables.append(table.append_column("prior", _arrow(np.full(len(positions), index.prior[i]), pl.Boolean))
                      .append_column("uidx", _arrow(units[positions], pl.UInt32)))
        del table
        return_free_memory()  # the file's decoded batch: its pages stayed, pinned by the rows taken
    if not tables:
        empty = pl.DataFrame(schema={**{a: pl.Utf8 for a in ATTRS}, "pos": pl.UInt32, "prior": pl.Boolean,
                                     "uidx": pl.UInt32})
        return empty, empty.select(COLUMNS)
    table = pa.concat_tables(tables)
    del tables
    counts = pl.col("rows", "passes").fill_null(0)
    if not index.shared:  # an occurrence a unit: the occurrences sorted are the units, one frame for both
        ranked = pl.from_arrow(table.take(pc.sort_indices(table["uidx"])).combine_chunks()).with_columns(counts)
        del table
        return_free_memory()
        return ranked, ranked.select(COLUMNS).rechunk()
    occ = pl.from_arrow(table).with_columns(counts)
    del table
    ranked = occ.sort("uidx", maintain_order=True)  # within a unit: file order, i.e. prior, key, part
    units = ranked.group_by("uidx", maintain_order=True).agg(
        pl.col("key").first(), pl.col("prior").first(), pl.col("exact").min(), pl.col("shingles").max(),
        pl.col("length").min(), pl.col("rows").sum(), pl.col("passes").sum(), pl.col("source").min(),
        pl.col("pos").first(), pl.col("part").first())
    return occ, units.select(COLUMNS).rechunk()


def _arrow(values: np.ndarray, dtype: pl.DataType) -> pa.Array:
    """A numpy array as Arrow through polars (pyarrow would import pandas to convert it)."""
    return pl.Series(values, dtype=dtype).to_arrow()


def _read_rows(path: Path, positions: np.ndarray) -> pa.Table:
    """The signature rows at `positions` (ascending) of one file, with their `pos`, a batch at a time."""
    source = pq.ParquetFile(str(path))
    pieces, start = [], 0
    for batch in source.iter_batches(batch_size=BATCH, columns=ATTRS, use_threads=False):
        lo, hi = np.searchsorted(positions, [start, start + batch.num_rows])
        if hi > lo:
            pieces.append(batch.take(_arrow(positions[lo:hi] - start, pl.Int64)))
        start += batch.num_rows
    table = pa.Table.from_batches(pieces) if pieces else empty_table(source.schema_arrow)
    return table.select(ATTRS).add_column(0, "pos", _arrow(positions, pl.UInt32))
