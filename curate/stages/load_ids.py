"""Row identity for `load`: ids scoped by source, duplicate ids refused, trace ids.

A problem's `id` names it within its source. A source without an id column gets
`id = digest(source name, stripped problem text)`, which already differs between sources. A
source that brings its own ids has them prefixed with its name (`gsm8k:1`), so two sources that
both number their problems from 1 never merge into one problem (pass rates, per-problem caps and
dedup all group by `id`). `id_scope: global` on a source keeps its ids as they are, for sources
that share an id space on purpose; a `run:` source (another curate run) is global by default,
its ids being curate's already.

Within one source, an id must name one problem: two rows with the same id but different problem
texts, or the same id and the same `sample_idx`, stop the run in `prepare` with the file and the
first duplicate lines (JSONL line numbers, Parquet row numbers). Rows with the same id and problem
and no `sample_idx` are samples of that problem, as a source of several traces per problem has.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.background import usable_cores
from curate.errors import InputError
from curate.fingerprint import digest
from curate.recipe import Source
from curate.text.arrow import arrow_buffers, numbers, numpy_array, string_array, true_mask
from curate.text.sorted_sets import sorted_unique

SHOWN = 3  # duplicate ids listed in the error


def id_scope(source: Source, fmt: str, path: str | None = None) -> str:
    """`source` (ids prefixed with the source name) or `global` (ids kept as given): a run, or
    files inside a run directory (a stage folder, a part, its dataset/), hold curate's own ids."""
    if source.id_scope:
        return source.id_scope
    if fmt == "run" or source.path.startswith("run:") or (path and inside_a_run(path)):
        return "global"
    return "source"


def inside_a_run(path: str) -> bool:
    """Whether `path` lies within a curate run directory (up to three levels down)."""
    from pathlib import Path

    if path.startswith(("hub:", "hf:")) or any(ch in path for ch in "*?["):
        return False
    from curate.rundir import RunDir

    p = Path(path).resolve()
    return any(RunDir.is_run(d) and RunDir(d).recipe_path.exists() for d in [p, *p.parents][:4])


def id_column(source: Source, available: list[str]) -> str | None:
    """The source column that gives `id`, if any."""
    name = source.columns.get("id", "id")
    return name if name in available else None


def has_own_ids(source: Source, files: list) -> bool:
    """Whether a local source's first file has an id column (read from its header or first line
    only). Decides whether its ids are scoped, which the load fingerprint must cover."""
    import json
    from pathlib import Path

    first = Path(files[0]) if files else None
    try:
        if first is None or first.suffix == ".gz":
            return False
        if first.suffix == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(first).names
        elif first.suffix == ".csv":
            import pyarrow.csv as pacsv

            names = pacsv.open_csv(first).schema.names
        else:
            with open(first, "rb") as fh:
                line = next((raw for raw in fh if raw.strip()), b"{}")
            names = list(json.loads(line))
    except (OSError, ValueError, pa.ArrowException):  # unreadable: prepare reports it
        return False
    return id_column(source, names) is not None


def scoped_ids(ids: pa.ChunkedArray | pa.Array, source: Source) -> pa.ChunkedArray | pa.Array:
    """`name:id` for every given id (nulls stay null: they are derived from the problem later)."""
    prefix, empty = string_array([f"{source.display_name}:", ""])
    if not pa.types.is_string(ids.type):
        ids = pc.cast(ids, pa.string())
    return pc.binary_join_element_wise(prefix, ids, empty)


# ---------------------------------------------------------------- duplicate ids within a source


def check_duplicate_ids(source: Source, files: list[dict], read: Callable[[dict, bool], Iterator[pa.Table]],
                        problem_of: Callable[[pa.Table], pa.Array]) -> None:
    """Raise InputError when an id of `source` names two problems (or one sample twice).

    `read(file, problems)` yields a file's rows (whole; the problem text only when `problems`);
    `problem_of(table)` gives each row's problem text. Problem texts, sample numbers and row
    numbers are gathered only when some id repeats, so a source of unique ids costs one read of
    its id column and one hash pass (`pc.unique`) over it."""
    if _ids_distinct(source, files, read):
        return
    table = _keys(source, files, read, problem_of)
    bad = _clashing_ids(table) if table is not None else []
    if bad:
        raise _duplicate_error(source, files, table, bad)


def _ids_distinct(source: Source, files: list[dict], read) -> bool:
    """Whether no id of the source repeats (nulls aside; true when no file has ids)."""
    chunks = []
    for file in files:
        for table in read(file, False):
            column = id_column(source, table.column_names)
            if column is not None:
                ids = table[column]
                chunks += (ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())).chunks
    ids = pa.chunked_array(chunks, pa.string())
    distinct = len(pc.unique(ids)) - (1 if ids.null_count else 0)  # unique() counts null as a value
    return distinct == len(ids) - ids.null_count


def _keys(source: Source, files: list[dict], read, problem_of) -> pa.Table | None:
    """(id, problem, sample, file, row) of every row with an id; None when no file has ids."""
    keys = []
    for number, file in enumerate(files):
        for table in read(file, problem_of is not None):
            column = id_column(source, table.column_names)
            if column is not None:
                keys.append(_key_table(table, column, source, problem_of, number))
    if not keys:
        return None
    table = _with_row_numbers(pa.concat_tables(keys))
    return table.filter(pc.is_valid(table["id"]))


def _key_table(table: pa.Table, column: str, source: Source, problem_of, file_number: int) -> pa.Table:
    ids = table[column]
    ids = ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())
    sample = source.columns.get("sample_idx", "sample_idx")
    samples = table[sample] if sample in table.column_names else pa.nulls(table.num_rows, pa.int64())
    problems = problem_of(table) if problem_of else pa.nulls(table.num_rows, pa.string())
    return pa.table({
        "id": ids, "problem": problems if pa.types.is_string(problems.type) else pc.cast(problems, pa.string()),
        "sample": pc.cast(samples, pa.string()),
        "file": numpy_array(np.full(table.num_rows, file_number, np.int32)),
    })


def _with_row_numbers(table: pa.Table) -> pa.Table:
    """Each row's index within its own file (0-based), in read order."""
    files = numbers(table["file"])  # not `to_numpy`: it imports pandas (0.3-1 s of start-up)
    starts = np.r_[0, np.flatnonzero(np.diff(files)) + 1] if len(files) else np.zeros(0, np.int64)
    index = np.arange(len(files), dtype=np.int64)
    first = np.repeat(starts, np.diff(np.r_[starts, len(files)]))
    return table.append_column("row", numpy_array(index - first))


def _clashing_ids(table: pa.Table) -> list[str]:
    """Ids that name two problem texts, or one (id, sample_idx) twice; in first-seen order.

    Counted in numpy over value codes: `Table.group_by` runs on Acero, whose first use imports
    pyarrow.dataset and pandas (0.2 s of every load of several samples per problem)."""
    if not table.num_rows:
        return []
    distinct_ids, ids = _codes(table["id"])
    problems = _codes(table["problem"])[1]  # a null problem counts as a text of its own
    pairs = sorted_unique(ids * np.int64(problems.max(initial=0) + 1) + problems)
    names = np.bincount(pairs // np.int64(problems.max(initial=0) + 1), minlength=len(distinct_ids))
    bad = names > 1
    given = true_mask(pc.is_valid(table["sample"]))
    if given.any():
        samples = _codes(table["sample"])[1][given]
        keys, counts = np.unique(ids[given] * np.int64(samples.max() + 1) + samples, return_counts=True)
        bad[keys[counts > 1] // np.int64(samples.max() + 1)] = True
    # codes number the ids in first-seen order: the clashing codes, ascending, are that order
    return distinct_ids.take(numpy_array(np.flatnonzero(bad))).to_pylist()


def _codes(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(distinct values in first-seen order, each row's int64 index into them; null is a value)."""
    distinct = pc.unique(column)
    return distinct, numbers(pc.index_in(column, value_set=distinct)).astype(np.int64)


def _duplicate_error(source: Source, files: list[dict], table: pa.Table, bad: list[str]) -> InputError:
    shown = table.filter(pc.is_in(table["id"], string_array(bad[:SHOWN]))).to_pylist()
    lines = []
    for value in bad[:SHOWN]:
        rows = [r for r in shown if r["id"] == value][:4]
        where = ", ".join(_where(files[r["file"]], r["row"]) for r in rows)
        lines.append(f"  id {value!r}: {where}")
    more = f"\n  ... and {len(bad) - SHOWN} more duplicate id(s)" if len(bad) > SHOWN else ""
    return InputError(
        f"source '{source.display_name}' ({source.path}): {len(bad)} id(s) name more than one problem "
        f"(or one sample twice):\n" + "\n".join(lines) + more,
        "An id names one problem within its source. Give each problem its own id; or map no `id` "
        "column (then curate derives ids from the problem text); or, for several samples of one "
        "problem, give each its own `sample_idx`.")


def _where(file: dict, row: int) -> str:
    if file.get("format") == "jsonl":
        return f"{file['path']}:{_line_number(file, row)}"
    return f"{file['path']} row {row} (counting from 0)"


def _line_number(file: dict, row: int) -> int:
    """The 1-based line of the `row`-th non-blank line of a JSONL file (only for the error)."""
    from curate import io

    opener = io._gzip_binary(file["path"]) if str(file["path"]).endswith(".gz") else open(file["path"], "rb")
    index = -1
    with opener as fh:
        for number, raw in enumerate(fh, 1):
            if raw.strip():
                index += 1
                if index == row:
                    return number
    return -1


# ---------------------------------------------------------------- ids and trace ids of rows


def with_ids(table: pa.Table, trace_ids: bool = True) -> pa.Table:
    """Fill `id`, `sample_idx` and `trace_id` (unless `trace_ids` is off: a reader that does not
    read them) where the source did not give them."""
    if not any(table.column(c).null_count for c in ("id", "sample_idx", "trace_id")[:3 if trace_ids else 2]):
        # `id` nullable as where something is filled: a view's pieces must share one schema
        return table.set_column(0, "id", table.column("id"))
    if table.column("id").null_count:  # derived from the problem texts, read only for this
        rows = table.select(["id", "source", "problem"]).to_pydict()
        ids = [i if i is not None else digest(s or "", (p or "").strip())
               for i, s, p in zip(rows["id"], rows["source"], rows["problem"])]
        table = table.set_column(0, "id", string_array(ids))  # not pa.array: it would import pandas
    else:  # the field as set above (nullable), so the parts are the same bytes either way
        table = table.set_column(0, "id", table.column("id"))
    table = table.set_column(1, "sample_idx", pc.fill_null(table.column("sample_idx"), _zero()))
    if not trace_ids or not table.column("trace_id").null_count:
        return table
    return table.set_column(2, "trace_id", trace_digests(table))


def _zero() -> pa.Scalar:
    return numpy_array(np.zeros(1, np.int32))[0]  # not pa.scalar(0): it imports pandas


HASH_THREADS_BYTES = 1 << 20  # hashed on several threads from this many bytes (and 2 KB a row)
GIL_FREE_UPDATE = 2048  # hashlib lets go of the GIL while it hashes at least this many bytes


def trace_digests(table: pa.Table) -> pa.Array:
    """`trace_id` where missing: digest(id, sample_idx, teacher, reasoning, answer[, extra]),
    of the table's own columns (`id` and `sample_idx` already filled).

    `extra` (the unmapped source columns) is part of it: rows of one problem that differ only
    there (a trace corpus loaded without mapping its trace column) are different rows, and
    must not share an id that filter, verify and write treat as one row.

    Each row's message (the UTF-8 bytes `digest` hashes: every part followed by \\x1f, `extra`
    only when present) is joined in Arrow, so the Python loop makes one hash object per row and
    no string: 4-5x faster than hashing part by part, with the same ids. Long messages
    (R1-length traces) are hashed on one thread per core: hashlib releases the GIL for them.
    """
    sep, empty = string_array(["\x1f", ""])  # scalars, not Python strings: pa.scalar imports pandas
    extra = pc.fill_null(pc.binary_join_element_wise(table.column("extra"), empty, sep), empty)  # "extra\x1f" or ""
    parts = [table.column("id"), pc.cast(table.column("sample_idx"), pa.string()), table.column("teacher"),
             table.column("reasoning"), table.column("answer"), extra]
    messages = pc.binary_join_element_wise(*parts, sep, null_handling="replace", null_replacement="")
    data, offsets, _ = arrow_buffers(messages)
    known = table.column("trace_id").combine_chunks()
    todo = np.flatnonzero(true_mask(pc.is_null(known)))  # the rows without a trace id
    starts, ends = offsets[todo].tolist(), offsets[todo + 1].tolist()
    size = sum(ends) - sum(starts)
    view = memoryview(data)
    threads = usable_cores() if size >= HASH_THREADS_BYTES and size >= GIL_FREE_UPDATE * len(starts) else 1
    if threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        step = -(-len(starts) // threads)
        cuts = [(starts[i:i + step], ends[i:i + step]) for i in range(0, len(starts), step)]
        with ThreadPoolExecutor(len(cuts)) as pool:
            digests = b"".join(pool.map(lambda cut: _digests(view, *cut), cuts))
    else:
        digests = _digests(view, starts, ends)
    computed = _hex(digests)
    return computed if len(todo) == len(known) else pc.replace_with_mask(known, pc.is_null(known), computed)


def _digests(view: memoryview, starts: list[int], ends: list[int]) -> bytes:
    """The 8-byte blake2b digest (as digest(..., length=16)) of each view[start:end], joined."""
    blake2b = hashlib.blake2b
    return b"".join([blake2b(view[a:b], digest_size=8).digest() for a, b in zip(starts, ends)])


HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def _hex(digests: bytes) -> pa.StringArray:
    """8-byte digests as 16-character lowercase hex strings (`hexdigest`), in numpy."""
    raw = np.frombuffer(digests, np.uint8)
    text = np.empty(2 * len(raw), np.uint8)
    text[0::2], text[1::2] = HEX[raw >> 4], HEX[raw & 15]
    n = len(raw) // 8
    offsets = np.arange(0, 16 * n + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))
