"""Pages of rows, single rows and a trace's path, read lazily with polars scans.

A page query (over `tables.scan`) projects only the small columns (verdict, tokens, flags, ...) plus the row position,
filters, sorts and slices inside one polars plan, so the first page of an unfiltered table reads
one row group and a filtered page reads only the filtered columns. Text columns are read for the
rows of the page alone (a 100-character problem preview) and for one row when it is opened.
Nothing is cached between requests but the tables' row counts: memory stays bounded by one plan.
"""

from __future__ import annotations

import bisect
import json
from itertools import accumulate
from pathlib import Path

import polars as pl

from curate.storage import is_url
from curate.view.search import matching_rows, text_columns
from curate.view.tables import ROW, Table, parquet_file, scan

#: columns the table shows, in order, where a table has them
LIST_COLUMNS = ("source", "domain", "verdict", "pass_rate", "completion_tokens", "num_tokens", "finish_reason",
                "dup_of", "contaminated", "reject_stage", "reject_reason", "sample_idx", "trace_id", "id")
PREVIEW = 100
MAX_PAGE = 200
#: polars' streaming engine: a scan holds a few morsels of each column, never a whole column
ENGINE = "streaming"


class QueryError(ValueError):
    """A request named a column, value or table the data does not have (answered with 400)."""


def columns(frame: pl.LazyFrame) -> dict[str, pl.DataType]:
    return dict(frame.collect_schema())


def page(table: Table, *, filters: dict[str, str] | None = None, search: str = "", sort: str = "",
         descending: bool = False, offset: int = 0, limit: int = 50) -> dict:
    """Rows [offset, offset+limit) of the filtered, searched and sorted table, and the match count."""
    frame = scan(table)
    schema = columns(frame)
    shown = shown_columns(schema)
    frame = frame.filter(*_predicates(table, schema, filters or {}, search)) if filters or search else frame
    if sort:
        if sort not in schema:
            raise QueryError(f"no column {sort!r} to sort by")
        key = pl.col(sort).list.len() if isinstance(schema[sort], pl.List) else pl.col(sort)
        frame = frame.sort(key, descending=descending, nulls_last=True, maintain_order=True)
    limit = max(1, min(int(limit), MAX_PAGE))
    projected = [ROW] + [_shown(c, schema) for c in shown]
    rows_frame, count_frame = frame.select(projected).slice(int(offset), limit), frame.select(pl.len())
    if filters or search:  # two plans: collect_all ran them 2x slower than one after the other
        rows, total = rows_frame.collect(engine=ENGINE), count_frame.collect(engine=ENGINE).item()
    else:  # the unfiltered count is in the Parquet footers already
        rows, total = rows_frame.collect(engine=ENGINE), table.rows
    records = rows.to_dicts()
    previews = _previews(table, [r[ROW] for r in records], schema)
    for record in records:
        record["problem"] = previews.get(record[ROW])
    return {"columns": shown, "rows": records, "total": total, "offset": int(offset), "limit": limit}


def _shown(name: str, schema: dict) -> pl.Expr:
    if name == "contaminated" and isinstance(schema[name], pl.List):
        return pl.col(name).list.len().alias(name)
    return pl.col(name)


def _predicates(table: Table, schema: dict, filters: dict[str, str], search: str) -> list[pl.Expr]:
    exprs = []
    for name, value in filters.items():
        if name not in schema:
            raise QueryError(f"no column {name!r} to filter by")
        exprs.append(_filter(name, schema[name], value))
    if search:
        if not text_columns(schema):
            raise QueryError("this table has no text column to search")
        exprs.append(pl.col(ROW).is_in(pl.Series(matching_rows(table, search), dtype=pl.UInt32).implode()))
    return exprs


def _filter(name: str, dtype, value: str) -> pl.Expr:
    """`value` is `=text`, `min..max` for numbers, `yes`/`no` for presence, `null` for missing."""
    column = pl.col(name)
    if value in ("yes", "no") and (name == "dup_of" or isinstance(dtype, pl.List)):
        present = column.list.len() > 0 if isinstance(dtype, pl.List) else column.is_not_null()
        return present.fill_null(False) if value == "yes" else ~present.fill_null(False)
    if value == "null":
        return column.is_null()
    if dtype.is_numeric() and ".." in value:
        low, _, high = value.partition("..")
        try:
            bounds = [float(b) if b else None for b in (low, high)]
        except ValueError:
            raise QueryError(f"{name}: {value!r} is not a range like 0.2..0.8") from None
        expr = pl.lit(True)
        expr = expr & (column >= bounds[0]) if bounds[0] is not None else expr
        expr = expr & (column <= bounds[1]) if bounds[1] is not None else expr
        return expr.fill_null(False)
    if isinstance(dtype, pl.List):  # a number counts the items (the table shows counts), text is an item
        matched = column.list.len() == int(value) if value.isdigit() else column.list.contains(pl.lit(value))
        return matched.fill_null(False)
    literal = value
    if dtype.is_numeric():
        try:
            literal = float(value)
        except ValueError:
            raise QueryError(f"{name}: {value!r} is not a number") from None
    return (column == literal).fill_null(False)


def values(table: Table, name: str, top: int = 30) -> list[dict]:
    """The most common values of a small column, with counts (for the filter menus)."""
    frame = scan(table)
    schema = columns(frame)
    if name not in schema or name in text_columns(schema):
        raise QueryError(f"no column {name!r} to list values of")
    column = pl.col(name)
    if isinstance(schema[name], pl.List):
        column = column.list.len().alias(name)
    counts = frame.select(column).group_by(name).len().sort("len", descending=True).head(top).collect(engine=ENGINE)
    return [{"value": r[name], "count": r["len"]} for r in counts.to_dicts()]


# ---------------------------------------------------------------- single rows


def locate(table: Table, row: int) -> tuple[Path, int]:
    """The file holding table row `row` and the row's position in that file."""
    if not 0 <= row < table.rows:
        raise QueryError(f"row {row} is outside 0..{table.rows - 1}")
    ends = list(accumulate(table.counts))
    index = bisect.bisect_right(ends, row)
    return table.files[index], row - (ends[index - 1] if index else 0)


def fetch(table: Table, rows: list[int], names: list[str] | None = None) -> dict[int, dict]:
    """Whole rows (or only `names`) by table position; reads only the row groups holding them."""
    by_file: dict[Path, list[tuple[int, int]]] = {}
    for row in rows:
        path, local = locate(table, row)
        by_file.setdefault(path, []).append((row, local))
    out: dict[int, dict] = {}
    for path, wanted in by_file.items():
        out.update(_fetch_file(path, table.kind, wanted, names))
    return out


def _fetch_file(path: Path, kind: str, wanted: list[tuple[int, int]], names) -> dict[int, dict]:
    if kind == "jsonl":
        locals_ = {local: row for row, local in wanted}
        out, index = {}, 0
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    if index in locals_:
                        record = json.loads(line)
                        out[locals_[index]] = {k: record.get(k) for k in names} if names else record
                    index += 1
        return out
    if is_url(path):
        return _fetch_object(path, wanted, names)
    # polars reads only the pages a slice needs; pyarrow would decode the whole row group
    frame = pl.scan_parquet(path)
    present = [n for n in names if n in frame.collect_schema()] if names else frame.collect_schema().names()
    if not present:  # e.g. the siblings' answers of a chat-format config, which has no `answer`
        return {row: {} for row, _ in wanted}
    if len(wanted) == 1:
        row, local = wanted[0]
        return {row: frame.slice(local, 1).select(present).collect(engine=ENGINE).to_dicts()[0]}
    # several rows: one slice per row, run together (each reads only the pages holding its row)
    slices = [frame.slice(local, 1).select(present) for _, local in wanted]
    found = pl.collect_all(slices, engine=ENGINE)
    return {row: part.to_dicts()[0] for (row, _), part in zip(wanted, found)}


def _fetch_object(url: str, wanted: list[tuple[int, int]], names) -> dict[int, dict]:
    """Rows of a Parquet object at a URL: its footer, then each row group holding a wanted row
    (only the columns asked for), by range requests."""
    parquet = parquet_file(url)
    present = [n for n in names if n in parquet.schema_arrow.names] if names else None
    if present == []:
        return {row: {} for row, _ in wanted}
    ends = list(accumulate(parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)))
    by_group: dict[int, list[tuple[int, int]]] = {}
    for row, local in wanted:
        group = bisect.bisect_right(ends, local)
        by_group.setdefault(group, []).append((row, local - (ends[group - 1] if group else 0)))
    out = {}
    for group, rows in by_group.items():
        table = pl.from_arrow(parquet.read_row_group(group, columns=present))
        out.update({row: table.slice(at, 1).to_dicts()[0] for row, at in rows})
    return out


def _previews(table: Table, rows: list[int], schema: dict) -> dict[int, str | None]:
    column = preview_column(schema)
    if column is None or not rows:
        return {}
    fetched = fetch(table, rows, [column])
    return {row: str(record.get(column) or "")[:PREVIEW] for row, record in fetched.items()}


def preview_column(schema: dict) -> str | None:
    """The column whose start the table shows: the problem, or a file's first string column."""
    return "problem" if "problem" in schema else next((c for c, t in schema.items() if t == pl.String), None)


def shown_columns(schema: dict) -> list[str]:
    """The table's columns: the trace's small ones, or a file's first few non-text columns."""
    known = [c for c in LIST_COLUMNS if c in schema]
    if len(known) >= 3:
        return known
    texts = set(text_columns(schema)) | {preview_column(schema)}
    others = [c for c, t in schema.items() if c not in texts and c != ROW and not isinstance(t, pl.Struct)]
    return (known + [c for c in others if c not in known])[:10]


def find(table: Table, column: str, value: str, limit: int = 64) -> list[dict]:
    """Rows whose `column` equals `value` (the other samples of a problem, a dedup cluster)."""
    frame = scan(table)
    schema = columns(frame)
    if column not in schema:
        return []
    shown = [_shown(c, schema) for c in shown_columns(schema)]
    found = frame.filter(pl.col(column) == value).select([pl.col(ROW)] + shown).head(limit).collect(engine=ENGINE)
    return found.to_dicts()
