"""Dedup units and the per-file tasks of the dedup prepare phase.

A *unit* is what dedup compares: a problem (all rows with one `id`; the default, so samples of
one problem are never each other's duplicates) or a single row (field `reasoning`/`answer`,
keyed by `trace_id`, else `id#sample_idx`). Every task here is a module-level function taking
only paths and a plain options dict, so the local process pool and Ray run them alike:

- `signature_task`: one part file -> a Parquet of unit keys, exact hashes, sizes, pass counts
  and sources, plus files beside it: LSH band keys (band-major), every unit's shingle values
  (for the exact Jaccard check) and the first HEAD_BYTES bytes of its text (for the report).
  Prepare deletes these companions when it is done; they are about the size of the text.
- `materialise_against`: an earlier release (path, run directory or Hub id) -> Parquet files
  of just the columns dedup reads, under artifacts; the release itself is never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.dedup.signature_files import (  # noqa: F401 (the file layout, read by cluster and report)
    SignatureSink,
    companion,
    drop_scratch,
    heads_path,
    remove_companions,
    unit_heads,
)
from curate.dedup.trim import return_free_memory
from curate.errors import InputError
from curate.rundir import part_file_name
from curate.schema import empty_table
from curate.text.arrow import numbers, numpy_array, one_chunk, string_array

if TYPE_CHECKING:
    import polars as pl

UNIT_COLUMNS = ("id", "trace_id", "sample_idx", "source", "domain", "verdict")
AGAINST_ROWS = 200_000


def row_key() -> pl.Expr:
    """The key of a row-level unit: trace_id, else `id#sample_idx`."""
    import polars as pl

    fallback = pl.concat_str([pl.col("id"), pl.lit("#"), pl.col("sample_idx").cast(pl.Utf8).fill_null("")])
    return pl.coalesce([pl.col("trace_id"), fallback])


def unit_key(level: str) -> pl.Expr:
    import polars as pl

    return pl.col("id") if level == "problem" else row_key()


def read_units(path: str, options: dict[str, Any], *, domains: list[str] | None) -> tuple[pa.Array, pa.Table]:
    """Units of one Parquet file: their texts, and key, rows, passes, source per unit.

    Rows with one key (the samples of a problem) fold into one unit (`fold_units`); its text is
    the smallest of theirs, so the choice does not depend on row order. In Arrow and numpy; a
    file without ids goes through polars (`polars_units`), which hashes the texts into ids.
    When every key is unique and no row is filtered out (one row per unit), the texts are the
    file's own buffers, never copied.
    """
    read = options.get("read") or _read_file  # the run's reader: an input part may be a view of the sources
    table = read(path, needed_columns(options, domains))
    if not table.num_rows:
        return text_column(table, path, options["field"]), empty_table(UNITS)
    try:
        texts, rows = arrow_rows(table, path, options, domains)
    except UnitsSpan:
        return polars_units(table, path, options, domains)
    if pc.count_distinct(rows["key"]).as_py() != rows.num_rows:
        return fold_units(texts, rows)
    ones = numpy_array(np.ones(rows.num_rows, np.uint32))
    return texts, pa.table({"key": rows["key"], "rows": ones, "passes": rows["passes"], "source": rows["source"]})


def fold_units(texts: pa.ChunkedArray, rows: pa.Table) -> tuple[pa.Array, pa.Table]:
    """One unit per key, in the order keys first occur: the smallest text and source (none only
    if no row has one), rows counted, passes summed. `rows`: key, passes, source per text."""
    keys = pc.dictionary_encode(one_chunk(rows["key"]))  # the dictionary: keys in order of appearance
    group = numbers(keys.indices).astype(np.int64)
    counts = np.bincount(group, minlength=len(keys.dictionary))
    passes = np.zeros(len(counts), np.int64)
    np.add.at(passes, group, numbers(rows["passes"]).astype(np.int64))
    units = pa.table({"key": keys.dictionary, "rows": numpy_array(counts.astype(np.uint32)),
                      "passes": numpy_array(passes.astype(np.uint32)),
                      "source": rows["source"].take(_smallest(rows["source"], group, counts))})
    return one_chunk(texts.take(_smallest(texts, group, counts))), units


def _smallest(values: pa.ChunkedArray, group: np.ndarray, counts: np.ndarray) -> pa.Array:
    """The row of each group's smallest value (nulls last; ties: the first row)."""
    rank = numbers(pc.rank(values, sort_keys="ascending", tiebreaker="dense"))  # nulls ranked last
    order = np.lexsort((rank, group))  # stable: equal values in row order
    starts = np.zeros(len(counts), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return numpy_array(order[starts].astype(np.int64))


def polars_units(table: pa.Table, path: str, options: dict[str, Any],
                 domains: list[str] | None) -> tuple[pa.Array, pa.Table]:
    """`read_units` of a file without ids, in polars (imported here): the ids are its hashes of
    the texts, which earlier runs' artifacts hold."""
    import polars as pl

    texts, df = row_frame(table, path, options, domains)
    passes = (pl.col("verdict") == "pass").cast(pl.UInt32).fill_null(0)
    if not df["key"].is_duplicated().any():
        texts, units = one_row_units(texts, df)
        return texts, units.to_arrow()
    df = df.with_columns(pl.from_arrow(texts).gather(df["row"]).alias("text"))
    # maintain_order: units in file order, so the artifacts are the same bytes run to run
    units = df.group_by("key", maintain_order=True).agg(text=pl.col("text").min(), rows=pl.len(),
                                                        passes=passes.sum(), source=pl.col("source").min())
    return units["text"].to_arrow(), units.drop("text").to_arrow()


def needed_columns(options: dict[str, Any], domains: list[str] | None) -> list[str]:
    """The columns the signature pass reads (each column read costs)."""
    return ["id", "source", "verdict", options["field"]] + (["domain"] if domains else []) + (
        ["trace_id", "sample_idx"] if options["level"] == "row" else [])


def row_frame(table: pa.Table, path: str, options: dict[str, Any],
              domains: list[str] | None) -> tuple[pa.Array | pa.ChunkedArray, pl.DataFrame]:
    """(texts, rows): the text column, and one row per kept row (its `row` in `table`, unit key,
    source, verdict), the rows outside `domains` or without a key left out."""
    import polars as pl

    field = options["field"]
    texts = text_column(table, path, field)
    df = pl.from_arrow(table.drop_columns([field]), rechunk=False) if table.num_columns > 1 else pl.DataFrame()
    for column in UNIT_COLUMNS:
        if column not in df.columns:
            dtype = pl.Int32 if column == "sample_idx" else pl.Utf8
            df = df.with_columns(pl.lit(None, dtype=dtype).alias(column) if df.width else
                                 pl.Series(column, [None] * len(texts), dtype=dtype))
    if df.schema["id"] == pl.Null or df["id"].null_count() == len(df):
        df = df.with_columns(pl.from_arrow(texts).hash().cast(pl.Utf8).alias("id"))
    df = df.with_columns(unit_key(options["level"]).alias("key")).with_row_index("row")
    if domains:
        df = df.filter(pl.col("domain").is_in(domains))
    return texts, df.filter(pl.col("key").is_not_null())


def text_column(table: pa.Table, path: str, field: str) -> pa.ChunkedArray:
    """The texts dedup compares: chunked (row groups of a view), hashed chunk by chunk, never
    copied into one array."""
    if field not in table.column_names:
        available = pq.ParquetFile(path).schema_arrow.names if Path(path).exists() else table.column_names
        raise InputError(f"{path}: no column '{field}' to deduplicate (columns: {', '.join(available)}).",
                         "Set `field:` to a column the data has (problem, reasoning or answer).")
    texts = table[field]
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    return texts


def arrow_unit_keys(ids, trace_ids, samples, level: str):
    """`unit_key` in pyarrow: id, or trace_id else `id#sample_idx`."""
    if level == "problem":
        return ids
    index = pc.fill_null(samples.cast(pa.string()), _scalar(""))
    return pc.coalesce(trace_ids, pc.binary_join_element_wise(ids, _scalar("#"), index, _scalar("")))


def piece_units(table: pa.Table, path: str, options: dict[str, Any],
                domains: list[str] | None) -> tuple[pa.ChunkedArray, pa.Table]:
    """`arrow_rows` of one piece of the streamed pass, each row its own unit (key, passes, source).
    Raises UnitsSpan for a piece without ids or where a key repeats."""
    texts, units = arrow_rows(table, path, options, domains)
    if pc.count_distinct(units["key"]).as_py() != units.num_rows:
        raise UnitsSpan("a unit key repeats")
    return texts, units


def arrow_rows(table: pa.Table, path: str, options: dict[str, Any],
               domains: list[str] | None) -> tuple[pa.ChunkedArray, pa.Table]:
    """`row_frame` in Arrow: the texts of the kept rows (in `domains`, with a key), and their
    key, passes (1 for a passing verdict), source. Raises UnitsSpan without ids."""
    texts = text_column(table, path, options["field"])

    def column(name: str, kind: pa.DataType = pa.string()):
        return table[name] if name in table.column_names else pa.nulls(len(table), kind)

    ids = column("id")
    if pa.types.is_null(ids.type) or ids.null_count == len(ids):
        raise UnitsSpan("no ids")
    keys = arrow_unit_keys(ids, column("trace_id"), column("sample_idx", pa.int32()), options["level"])
    passes = pc.fill_null(pc.equal(column("verdict"), _scalar("pass")).cast(pa.uint32()), _ZERO)
    units = pa.table({"key": keys, "passes": passes, "source": column("source")})
    keep = pc.is_valid(keys)
    if domains:
        keep = pc.and_(keep, pc.is_in(column("domain"), value_set=string_array(domains)))
    if pc.sum(keep.cast(pa.int64())).as_py() != len(keys):
        texts, units = texts.filter(keep), units.filter(keep)
    return texts, units


_UNITS = pa.schema([("key", pa.string()), ("passes", pa.uint32()), ("source", pa.string())])
UNITS = pa.schema([("key", pa.string()), ("rows", pa.uint32()), ("passes", pa.uint32()), ("source", pa.string())])
_ZERO = numpy_array(np.zeros(1, np.uint32))[0]  # scalars made without pa.scalar, which imports pandas


def _scalar(text: str) -> pa.Scalar:
    return string_array([text])[0]


def one_row_units(texts: pa.Array | pa.ChunkedArray, df: pl.DataFrame) -> tuple[pa.Array | pa.ChunkedArray,
                                                                                  pl.DataFrame]:
    """Units of rows whose keys are all distinct: each row is a unit, its text its own."""
    import polars as pl

    if len(df) < len(texts):
        texts = texts.take(df["row"].to_arrow())
    passes = (pl.col("verdict") == "pass").cast(pl.UInt32).fill_null(0)
    return texts, df.select("key", pl.lit(1, pl.UInt32).alias("rows"), passes.alias("passes"), "source")


class UnitsSpan(Exception):
    """A part whose units cannot be made a row group at a time: a key repeats (a unit folds
    several rows), or the ids are missing (they would be hashed from the whole part's texts)."""


def _read_file(path: str, columns: list[str]) -> pa.Table:
    source = pq.ParquetFile(path, memory_map=True)  # the page cache, not a fresh copy of the bytes
    names = source.schema_arrow.names
    return source.read(columns=[c for c in columns if c in names], use_threads=False)


def signature_task(path: str, out: str, part: int, options: dict[str, Any]) -> dict[str, Any]:
    """Signature pass over one part: unit attributes to `out`, band keys and shingles beside it.

    `out` (Parquet): key, exact hash, sizes, pass counts, source, one row per unit in file
    order. `bands.npy`: uint64 [bands, units], band-major so the grouping reads one band as
    one contiguous slice. With `verify` on, `shingle_offsets.npy` / `shingle_values.npy`: each
    unit's shingle values as the signature pass saw them, so the exact Jaccard check of
    candidate pairs neither re-reads nor re-tokenises the text (4 bytes per shingle on disk).
    `heads.arrow`: each unit's first HEAD_BYTES bytes (uncompressed Arrow, memory-mapped
    later), so the report shows the largest clusters without reading any part again (a byte
    slice: 5x cheaper than slicing characters; a character cut at the end is dropped).

    With `options["tables"]` (a reader of the part a row group at a time), a part whose rows
    are each a unit is hashed row group by row group as it is decoded: memory holds a row
    group or two, not the part, and decoding overlaps hashing. A part where a unit folds
    several rows (samples of one problem) is read whole.
    """
    sink = SignatureSink(out, part, options)
    try:
        if options.get("tables") is not None:
            try:
                return _streamed(path, sink, options)
            except UnitsSpan:
                sink.close()
                sink = SignatureSink(out, part, options)
        texts, units = read_units(path, options, domains=options.get("domains"))
        with sink.pipeline() as submit:
            submit(texts)
        return sink.finish(units)
    finally:
        sink.close()
        return_free_memory()  # this part's arrays: otherwise the resident set grows part by part


def _streamed(path: str, sink: SignatureSink, options: dict[str, Any]) -> dict[str, Any]:
    """The signature pass a row group at a time; raises UnitsSpan for a part read whole instead.

    This thread decodes and frames the next rows while the sink hashes the ones before."""
    domains = options.get("domains")
    frames = []
    with sink.pipeline() as submit:
        for table in options["tables"](path, needed_columns(options, domains)):
            if not table.num_rows:
                continue
            texts, units = piece_units(table, path, options, domains)
            submit(texts)
            frames.append(units)
    if not frames:
        raise UnitsSpan("no rows")  # the whole-part path makes the empty files
    units = pa.concat_tables(frames).cast(_UNITS)
    if pc.count_distinct(units["key"]).as_py() != units.num_rows:  # a key in two row groups: rare, but its rows fold
        raise UnitsSpan("a unit key repeats across row groups")
    rows = numpy_array(np.ones(units.num_rows, np.uint32))
    return sink.finish(pa.table({"key": units["key"], "rows": rows, "passes": units["passes"],
                                 "source": units["source"]}))


# ---------------------------------------------------------------- against: an earlier release


def materialise_against(spec: str, out_dir: Path, *, field: str, split: str = "train",
                        config: str | None = None) -> list[Path]:
    """Copy the columns dedup needs from an earlier release into `out_dir`; return the files."""
    from curate import io

    keep = [*UNIT_COLUMNS, field]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for table in _against_tables(spec, io, split=split, config=config):
        if field not in table.column_names:
            raise InputError(f"against: {spec} has no column '{field}' (columns: {', '.join(table.column_names)}).",
                             "Point `against:` at a dataset with that column, or change `field:`.")
        table = table.select([c for c in keep if c in table.column_names])
        for offset in range(0, max(table.num_rows, 1), AGAINST_ROWS):
            path = out_dir / part_file_name(len(written))
            pq.write_table(table.slice(offset, AGAINST_ROWS), path)
            written.append(path)
    return written


def _against_tables(spec: str, io, *, split: str, config: str | None):
    fmt = io.detect_format(spec)
    if fmt == "run":  # ParquetFile: pq.read_table imports pyarrow.dataset, and with it pandas (0.19 s)
        yield from (pq.ParquetFile(f).read() for f in io.run_output_files(spec))
    elif fmt == "parquet":
        yield from (pq.ParquetFile(f).read() for f in io.expand_files(spec, (".parquet",)))
    elif fmt == "jsonl":
        import polars as pl

        for f in io.expand_files(spec, (".jsonl", ".json", ".ndjson", ".jsonl.gz")):
            yield pl.read_ndjson(f).to_arrow()
    elif fmt == "datasets":
        yield io.read_datasets_folder(spec, split)
    elif fmt == "hub":
        yield io.read_hub(spec, config=config, split=split, revision=None)
    else:
        raise InputError(f"against: cannot read '{spec}' (format {fmt}).",
                         "Use a Parquet/JSONL file or folder, a curate run directory or a Hub id.")
