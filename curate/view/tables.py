"""What a path given to `curate view` holds: named tables of rows, each a list of files.

A run directory yields one table per stage folder that kept parts, `rejected` (every stage's
dropped rows), `everything` (the last kept parts plus every reject: each input row once, where it
ended) and one per `dataset/` config. A stage folder, a `dataset/` folder, a folder of Parquet or
JSONL files, or one file yields its own tables. Only metadata is read here (row counts from the
Parquet footers), so opening a 10 GB run costs a few milliseconds per file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from curate.errors import InputError
from curate.rundir import RunDir
from curate.schema import empty_table
from curate.storage import Store, is_url, local_source

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
EVERYTHING = "everything"  # the table of a run's every row, where it ended
ROW = "_row"  # a row's position in its table: how the page, the row view and the API name a row


@dataclass
class Table:
    """One browsable table: its files (all Parquet or all JSONL) and their row counts."""

    name: str
    files: list  # Paths, or URLs (str) of objects read in place
    kind: str = "parquet"
    #: what the rows are: "stage" (a stage's output), "dropped" (rejects), "published" (a dataset config),
    #: "all" (a run's last kept parts plus its rejects), "file"
    role: str = "file"
    counts: list[int] = field(default_factory=list)
    schemas: list[tuple[str, ...]] = field(default_factory=list)  # column names per file (Parquet)

    @property
    def rows(self) -> int:
        return sum(self.counts)


def open_path(path: str | Path) -> tuple[Path, dict[str, Table]]:
    """The root folder the viewer may serve from, and the tables under `path` (by name)."""
    if is_url(path) and RunDir.is_run(str(path)):
        rd = RunDir.for_reading(str(path))
        root, tables = rd.path, _run_tables(rd)
    elif is_url(path):  # Parquet objects are read in place; JSONL ones come down first
        root, tables = Path(path.split("://", 1)[1]), _url_tables(str(path))
    else:
        root, tables = _local_tables(path)
    tables = [t for t in tables if t.files]
    if not tables:
        raise InputError(f"{path}: found no Parquet or JSONL rows here.",
                         "Point at a run directory (it holds manifest.json), a stage folder, or a data file.")
    for table in tables:
        footers = [_footer(f, table.kind) for f in table.files]
        table.counts, table.schemas = [n for n, _ in footers], [names for _, names in footers]
    return root, {t.name: t for t in tables}


def _local_tables(path: str | Path) -> tuple[Path, list[Table]]:
    root = Path(path).resolve()
    if not root.exists():
        raise InputError(f"{path}: no such file or folder.", "Give a run directory, a stage folder, "
                         "a dataset/ folder, or a Parquet or JSONL file.")
    if root.is_file():
        tables = [_file_table(root.name, [root])]
    elif RunDir.is_run(root):
        tables = _run_tables(RunDir(root))
    else:
        tables = _folder_tables(root)
    return (root if root.is_dir() else root.parent), tables


def _run_tables(rd: RunDir) -> list[Table]:
    stages = [Table(d.name, rd.remote_parts(d) if rd.store else rd.parts(d), role="stage") for d in rd.stage_dirs()]
    kept = [t for t in stages if t.files]
    rejects = rd.remote_rejects() if rd.store else rd.rejected_parts()
    # named after the folders RunDir gives: `rejected`, `dataset/CONFIG`
    rejected = Table(Path(rejects[0]).parent.parent.name if rejects else "", rejects, role="dropped")
    tables = []
    if kept or rejected.files:
        tables.append(Table(EVERYTHING, (kept[-1].files if kept else []) + rejected.files, role="all"))
    tables += kept + [rejected]
    if rd.store:
        configs: dict[str, list[str]] = {}
        for name, url in rd.remote_dataset().items():
            if name.count("/") == 1 and name.endswith(".parquet"):
                configs.setdefault(name.split("/")[0], []).append(url)
        tables += [Table(f"{rd.dataset.name}/{c}", files, role="published") for c, files in sorted(configs.items())]
    elif rd.dataset.is_dir():
        tables += _dataset_tables(rd.dataset, prefix=rd.dataset.name + "/")
    return tables


def _url_tables(url: str) -> list[Table]:
    """Parquet objects at a URL (a file, a prefix or a glob), read in place; JSONL ones downloaded."""
    store = Store(url)
    found = store.call("listing", "", lambda: store.fs.find(store.root) or store.fs.glob(store.root))
    parquet = sorted(f"{store.protocol}://{key}" for key in found if key.endswith(".parquet"))
    if parquet:
        return [Table(Path(store.root).name, parquet)]
    local = Path(local_source(url))
    return [_file_table(local.name, [local])] if local.is_file() else _folder_tables(local)


def _folder_tables(folder: Path) -> list[Table]:
    parts = RunDir.parts(folder)
    if parts:  # a stage folder, or one stage's rejects
        return [Table(folder.name, parts, role="stage")]
    configs = _dataset_tables(folder, prefix="")
    if configs:
        return configs
    parquet = sorted(folder.glob("*.parquet"))
    jsonl = sorted(f for f in folder.iterdir() if f.suffix in JSONL_SUFFIXES)
    return [Table(folder.name, parquet)] if parquet else [_file_table(folder.name, jsonl)]


def _dataset_tables(folder: Path, prefix: str) -> list[Table]:
    """A Hub folder: one table per config folder (`<config>/<split>-*.parquet`)."""
    return [Table(prefix + sub.name, sorted(sub.glob("*.parquet")), role="published")
            for sub in sorted(folder.iterdir()) if sub.is_dir() and any(sub.glob("*.parquet"))]


def _file_table(name: str, files: list[Path]) -> Table:
    kind = "jsonl" if files and files[0].suffix in JSONL_SUFFIXES else "parquet"
    if files and files[0].suffix not in JSONL_SUFFIXES + (".parquet",):
        raise InputError(f"{files[0]}: the viewer reads Parquet and JSONL files.",
                         "Convert it, or point at the run directory that holds it.")
    return Table(name, files, kind)


def _footer(path: Path, kind: str) -> tuple[int, tuple[str, ...]]:
    """A file's row count and column names (JSONL: counted by reading it, names unknown)."""
    if kind == "jsonl":
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip()), ()
    try:
        metadata = parquet_file(path).metadata
        return metadata.num_rows, tuple(metadata.schema.to_arrow_schema().names)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a readable Parquet file ({exc}).",
                         "The file is corrupt or still being written: wait for the stage, or remove it.") from exc


def scan(table: Table) -> pl.LazyFrame:
    """One lazy frame over the table's files, with each row's position in the table as `_row`.

    Files are grouped by schema (a run's `everything` joins kept parts and rejects, which carry two
    more columns); each group is one scan, and the groups are stacked with missing columns as nulls.
    """
    if table.kind == "jsonl":
        frames = [pl.scan_ndjson(f, infer_schema_length=1000) for f in table.files]
    else:
        groups: list[tuple[tuple, list[Path]]] = []
        for f, names in zip(table.files, table.schemas):
            if groups and groups[-1][0] == names:
                groups[-1][1].append(f)
            else:
                groups.append((names, [f]))
        frames = [_scan_urls(files) if is_url(files[0]) else pl.scan_parquet(files) for _, files in groups]
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    return frame.with_row_index(ROW)


# ---------------------------------------------------------------- objects at a URL, read in place


#: URL -> (size, footer) of objects opened before: like the tables' row counts, kept for the
#: viewer's life (a marked part is not rewritten in place; a rerun is seen by opening the run again)
_FOOTERS: dict[str, tuple[int, pq.FileMetaData]] = {}


def parquet_file(path, **options) -> pq.ParquetFile:
    """A Parquet file on disk, or an object at a URL opened for range reads (its footer read once)."""
    if not is_url(path):
        return pq.ParquetFile(path, **options)
    store, key = Store(path), path.split("://", 1)[1]
    size, footer = _FOOTERS.get(path, (None, None))
    # exact range reads (fsspec's default read-ahead cache would fetch up to 50 MB per read); a
    # known size spares the request for it
    known = {"size": size} if size is not None else {}
    handle = store.call("opening", "", lambda: store.fs.open(key, "rb", cache_type="none", **known))
    parquet = pq.ParquetFile(handle, metadata=footer, **options)
    _FOOTERS[path] = (handle.size, parquet.metadata)
    return parquet


def _scan_urls(urls: list[str]) -> pl.LazyFrame:
    """A lazy frame over Parquet objects (of one schema), read through the store's filesystem:
    objects are opened in order, only when the plan gets to them, and read a row group at a time
    with only the columns the plan needs, so a first page stops after the first row groups."""
    from polars.io.plugins import register_io_source

    schema = pl.from_arrow(empty_table(parquet_file(urls[0]).schema_arrow)).schema

    def batches(with_columns, predicate, n_rows, batch_size):
        # with no column asked for (a count), read the first: polars then counts rows right
        columns = with_columns or list(schema)[:1]
        left = n_rows
        for url in urls:
            parquet = parquet_file(url)
            for group in range(parquet.num_row_groups):
                frame = pl.from_arrow(parquet.read_row_group(group, columns=columns))
                frame = frame.filter(predicate) if predicate is not None else frame
                if left is not None:
                    frame, left = frame.head(left), left - min(left, frame.height)
                yield frame
                if left == 0:
                    return

    return register_io_source(batches, schema=schema)
