"""Readers for `load` and the stage subcommands, and the Parquet helpers every stage shares.

Every reader yields Arrow tables of the source's own columns; `curate.stages.load` maps them to
the trace schema. Supported: Parquet, JSONL, CSV (a file, a folder or a glob), a `datasets`
folder (`save_to_disk`), a Hub dataset id through `datasets.load_dataset`, and another run.
Errors name the file (and the line, for JSONL) and say what to do next.
"""

from __future__ import annotations

import difflib
import glob as globlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import InputError
from curate.rundir import RunDir
from curate.storage.parquet_files import WRITE_BATCH_ROWS
from curate.text.arrow import python_array, string_array

OnError = Literal["fail", "skip", "record"]
JSONL_BATCH = 4096
SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl",
            ".csv": "csv", ".gz": "jsonl"}


@dataclass
class BadLine:
    """A JSONL line that did not parse: where it is, what it said, and the parser's message."""

    file: str
    line: int
    text: str
    error: str


@dataclass
class ReadLog:
    bad_lines: list[BadLine] = field(default_factory=list)


def detect_format(path: str) -> str:
    """Guess a source format from its path."""
    if path.startswith("run:"):
        return "run"
    if is_hub_shorthand(path):
        return "hub"
    p = Path(path)
    if p.is_dir():
        if RunDir.is_run(p):
            return "run"
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists():
            return "datasets"
        if RunDir.parts(p):  # a stage folder of a run
            return "parquet"
        kinds = {SUFFIXES.get(f.suffix) for f in _data_files(p) if f.suffix in SUFFIXES}
        if len(kinds) == 1:
            return kinds.pop()
        raise InputError(f"{path}: cannot tell the format of this folder (found {sorted(map(str, kinds))}).",
                         "Set `format:` on the source (parquet, jsonl, csv, datasets).")
    suffix = "".join(p.suffixes[-2:]) if p.suffix == ".gz" else p.suffix
    if suffix in SUFFIXES or p.suffix in SUFFIXES:
        return SUFFIXES.get(p.suffix if p.suffix != ".gz" else ".gz")
    if not p.exists() and not any(ch in path for ch in "*?["):
        if looks_like_hub_id(path):
            return "hub"
        raise missing_path_error(path)
    raise InputError(f"{path}: unknown file type '{p.suffix}'.",
                     "Set `format:` on the source (parquet, jsonl, csv, datasets, hub, run).")


def is_hub_shorthand(path: str) -> bool:
    """`hub:org/name` or `hf:org/name`: a Hub dataset read with `datasets.load_dataset`. Not
    `hf://datasets/org/name/...`, an fsspec URL of files in the repository (read as files)."""
    return path.startswith(("hub:", "hf:")) and not path.startswith("hf://")


def hub_id(path: str) -> str | None:
    """The Hub dataset a source reads (`org/name`), from `hub:`/`hf:` or an `hf://datasets/...` URL."""
    if path.startswith("hf://"):
        pieces = path[len("hf://"):].split("/")
        return f"{pieces[1]}/{pieces[2].split('@')[0]}" if len(pieces) > 2 and pieces[0] == "datasets" else None
    return path.split(":", 1)[1] if is_hub_shorthand(path) else None


def looks_like_hub_id(path: str) -> bool:
    """`org/name` with no local look: not absolute or `./`/`~`, no existing parent folder, and
    no file extension (`NuminaMath-1.5` is a Hub id; `data/math.jsonll` is a mistyped file)."""
    p = Path(path)
    if path.startswith((".", "~", "/")) or path.count("/") != 1 or p.parent.exists():
        return False
    return not (p.suffix[1:].isalpha() and len(p.suffix) > 2)


def missing_path_error(path: str) -> InputError:
    """A local path that does not exist, with the nearest existing file or folder suggested."""
    p = Path(path).expanduser()
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent == p.parent:
        names = sorted(f.name for f in parent.iterdir() if not f.name.startswith((".", "_")))
        close = ([n for n in names if n.startswith(p.name + ".")]
                 or difflib.get_close_matches(p.name, names, n=1, cutoff=0.6))
        hint = (f"did you mean {parent / close[0]}?" if close else
                f"{parent} holds: {', '.join(names[:10]) or 'nothing'}"
                + (" ..." if len(names) > 10 else ""))
    else:
        hint = f"the nearest existing folder is {parent}."
    return InputError(f"{path}: no such file or folder.",
                      f"{hint} (A Hub dataset is written `hub:org/name`.)")


def expand_files(path: str, suffixes: tuple[str, ...]) -> list[Path]:
    """A file, a folder (searched recursively) or a glob -> sorted list of files."""
    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        parts = RunDir.parts(p)  # a stage folder: its parts, not its artifacts
        files = parts or sorted(f for f in _data_files(p) if f.name.endswith(suffixes))
    else:
        if not any(ch in path for ch in "*?["):
            raise missing_path_error(path)
        files = sorted(Path(f) for f in globlib.glob(path, recursive=True) if Path(f).is_file())
    if not files:
        raise InputError(f"{path}: no input files found.", f"Expected files ending in {', '.join(suffixes)}.")
    return files


def _data_files(folder: Path) -> list[Path]:
    """Files under `folder`, skipping hidden and `_`-prefixed names (markers, temporaries)."""
    return [f for f in folder.rglob("*") if f.is_file()
            and not any(part.startswith((".", "_")) for part in f.relative_to(folder).parts)]


# ---------------------------------------------------------------- Parquet


def parquet_rows(path: Path) -> int:
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc}).",
                         "The file is corrupt or truncated: re-create or re-download it.") from exc


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file, from its footer."""
    try:
        return pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc}).",
                         "The file is corrupt or truncated: re-create or re-download it.") from exc


def read_parquet_range(path: Path, start: int, stop: int, batch_rows: int = 65536,
                       columns: list[str] | None = None, piece_bytes: int | None = None) -> Iterator[pa.Table]:
    """Rows [start, stop) of a Parquet file (just `columns` if given), reading only the row
    groups that overlap: a row group at a time, or with `piece_bytes`, in pieces of about that
    many decoded bytes (whole multiples of PIECE_ROWS rows), streamed through a small read buffer
    so that neither a whole row group nor its compressed bytes are ever held."""
    try:
        pf = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False) if piece_bytes else pq.ParquetFile(path)
        if columns is not None:
            columns = [c for c in columns if c in pf.schema_arrow.names]
        offset = 0
        for group in range(pf.num_row_groups):
            n = pf.metadata.row_group(group).num_rows
            lo, hi = max(start, offset), min(stop, offset + n)
            if lo < hi and piece_bytes:
                yield from _pieces(pf, group, lo - offset, hi - offset, columns, piece_bytes)
            elif lo < hi:
                table = pf.read_row_group(group, columns=columns)
                yield from _chunks(table.slice(lo - offset, hi - lo), batch_rows)
            offset += n
            if offset >= stop:
                break
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read Parquet ({exc}).",
                         "The file is corrupt or truncated: re-create or re-download it.") from exc


PIECE_ROWS = WRITE_BATCH_ROWS  # pieces in whole write batches: written, they cut the same pages
READ_BUFFER = 1 << 20  # bytes read from the file at a time when streaming pieces


def piece_rows(pf: pq.ParquetFile, group: int, columns: list[str] | None, piece_bytes: int) -> int:
    """Rows per piece: a multiple of PIECE_ROWS (at least one) whose decoded size, by the row
    group's footer, stays within `piece_bytes`."""
    meta = pf.metadata.row_group(group)
    names = set(columns) if columns is not None else None
    size = sum(meta.column(i).total_uncompressed_size for i in range(meta.num_columns)
               if names is None or meta.column(i).path_in_schema.split(".")[0] in names)
    per_row = max(1, size // max(1, meta.num_rows))
    return PIECE_ROWS * max(1, piece_bytes // (per_row * PIECE_ROWS))


def _pieces(pf: pq.ParquetFile, group: int, lo: int, hi: int, columns: list[str] | None,
            piece_bytes: int) -> Iterator[pa.Table]:
    """Rows [lo, hi) of one row group, decoded a piece at a time."""
    rows, seen = piece_rows(pf, group, columns, piece_bytes), 0
    for batch in pf.iter_batches(batch_size=rows, row_groups=[group], columns=columns, use_threads=False):
        first, last = max(lo, seen), min(hi, seen + batch.num_rows)
        if first < last:
            yield pa.Table.from_batches([batch.slice(first - seen, last - first)])
        seen += batch.num_rows
        if seen >= hi:
            return


def read_parquet_columns(path: Path, columns: list[str], stop: int | None = None) -> pa.Table:
    """The first `stop` rows (all if None) of just `columns` (those the file has), in one read:
    pyarrow decodes the row groups in parallel, several times faster than one group at a time
    for a narrow read of many small row groups."""
    try:
        pf = pq.ParquetFile(path)
        table = pf.read(columns=[c for c in columns if c in pf.schema_arrow.names])
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read Parquet ({exc}).",
                         "The file is corrupt or truncated: re-create or re-download it.") from exc
    return table if stop is None else table.slice(0, stop)


def _chunks(table: pa.Table, rows: int) -> Iterator[pa.Table]:
    for offset in range(0, table.num_rows, rows):
        yield table.slice(offset, rows)


# ---------------------------------------------------------------- JSONL


def _open_text(path: Path):
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def jsonl_index(path: Path, every: int = 1024) -> tuple[int, list[int]]:
    """Count non-blank lines; return (count, byte offset of every `every`-th counted line)."""
    count, offsets, position = 0, [], 0
    opener = open(path, "rb") if path.suffix != ".gz" else _gzip_binary(path)
    with opener as fh:
        for raw in fh:
            if raw.strip():
                if count % every == 0:
                    offsets.append(position)
                count += 1
            position += len(raw)
    return count, offsets


def _gzip_binary(path: Path):
    import gzip

    return gzip.open(path, "rb")


def read_jsonl_range(
    path: Path, start: int, stop: int, offsets: list[int], every: int, on_error: OnError, log: ReadLog,
) -> Iterator[pa.Table]:
    """Rows [start, stop) of a JSONL file (blank lines skipped); bad lines per `on_error`."""
    opener = open(path, "rb") if path.suffix != ".gz" else _gzip_binary(path)
    block = start // every
    rows: list[dict] = []
    with opener as fh:
        fh.seek(offsets[block]) if offsets else None
        index = block * every
        line_no = _line_number_at(path, offsets[block]) if offsets else 1
        for raw in fh:
            if index >= stop:
                break
            if raw.strip():
                if index >= start:
                    record = _parse_line(path, line_no, raw, on_error, log)
                    if record is not None:
                        rows.append(record)
                    if len(rows) >= JSONL_BATCH:
                        yield rows_to_table(rows, path)
                        rows = []
                index += 1
            line_no += 1
    if rows:
        yield rows_to_table(rows, path)


def _line_number_at(path: Path, offset: int) -> int:
    if offset == 0:
        return 1
    with (open(path, "rb") if path.suffix != ".gz" else _gzip_binary(path)) as fh:
        return fh.read(offset).count(b"\n") + 1


def _parse_line(path: Path, line_no: int, raw: bytes, on_error: OnError, log: ReadLog) -> dict | None:
    try:
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        return record
    except ValueError as exc:
        text = raw.decode("utf-8", errors="replace").rstrip("\n")
        if on_error == "fail":
            raise InputError(
                f"{path}:{line_no}: bad JSON line ({exc}).",
                "Fix or remove that line, or set `on_error: skip` (count and drop) or "
                "`on_error: record` (keep it in rejected/) on the load stage.",
            ) from None
        log.bad_lines.append(BadLine(str(path), line_no, text, str(exc)))
        return None


def rows_to_table(rows: list[dict], path: Path | str) -> pa.Table:
    """Python dicts -> Arrow, keeping nested values (lists, chats) as Arrow types.

    Every key of any row becomes a column (`Table.from_pylist` would keep only the first row's
    keys, silently dropping a column that the first line happens to lack)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    try:  # python_array, not pa.array: flat columns then skip pyarrow's pandas import
        return pa.table({k: python_array([r.get(k) for r in rows]) for k in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Mixed types across rows (e.g. an int here, a string there): keep them as JSON text.
        columns = {k: [_jsonish(r.get(k)) for r in rows] for k in keys}
        return pa.table({k: string_array(v) for k, v in columns.items()})


def _jsonish(value):
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------- CSV, datasets, Hub, runs


def read_csv(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read CSV ({exc}).", "Check the delimiter and quoting.") from exc


def read_datasets_folder(path: str, split: str) -> pa.Table:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as exc:  # datasets raises many kinds here
        raise InputError(f"{path}: not a readable `datasets` folder ({exc}).") from exc
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise InputError(f"{path}: no split '{split}'.", f"Set `split:` to one of {list(ds)}.")
        ds = ds[split]
    return ds.with_format("arrow").data.table


def read_hub(repo: str, *, config: str | None, split: str, revision: str | None) -> pa.Table:
    import datasets

    repo = repo.split(":", 1)[1] if repo.startswith(("hub:", "hf:")) else repo
    try:
        ds = datasets.load_dataset(repo, config, split=split, revision=revision)
    except Exception as exc:
        raise InputError(
            f"Hub dataset '{repo}' (config={config}, split={split}, revision={revision}) "
            f"could not be loaded: {exc}",
            "Check the id, config and split, and your network; offline, the dataset must be "
            "in the datasets cache (HF_HUB_OFFLINE=1 uses it).",
        ) from exc
    return ds.data.table


def run_output_files(path: str) -> list[Path]:
    """The part files of the last stage of a run directory that stores parts (`write` stores
    its rows in dataset/, and a stage fused into the next may keep none)."""
    rd = RunDir(path.split(":", 1)[1] if path.startswith("run:") else path)
    root, stages = rd.path, rd.stage_dirs()
    if not stages:
        raise InputError(f"{root}: not a curate run directory with finished stages.",
                         "Point at the folder you gave `curate run --run-dir`.")
    for stage in reversed(stages):
        parts = rd.parts(stage)
        if parts:
            return parts
    raise InputError(f"{root}: no stage of this run kept part files (load streamed straight into write).",
                     f"Read its published rows instead ({rd.dataset}), or rerun it with "
                     "`keep_parts: true` on load.")
