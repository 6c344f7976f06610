"""The one record schema every stage reads and writes.

One row per (problem, sample). A missing value is a null, never a missing column; fields a source
has beyond these ride in `extra`, a JSON string, so the schema never drifts between parts or runs.
Only plain `string`/`list` Arrow types are used (never `large_*`): Hub mixtures concatenate
datasets, and mixed string widths refuse to concatenate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Iterable, Iterator

import pyarrow as pa

from curate.errors import InputError

VERDICTS = ("pass", "fail", "no_answer", "bad_reference", "timeout", "error", "unverified")

TRACE_SCHEMA = pa.schema(
    [
        # identity
        pa.field("id", pa.string(), nullable=False),  # stable hash of source + normalised problem
        pa.field("sample_idx", pa.int32()),
        pa.field("trace_id", pa.string()),
        # provenance
        pa.field("source", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("license", pa.string()),
        # task
        pa.field("problem", pa.string()),
        pa.field("reference", pa.string()),  # gold answer (math) or JSON test spec (code)
        pa.field("system", pa.string()),
        # teacher output
        pa.field("teacher", pa.string()),
        pa.field("reasoning", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("finish_reason", pa.string()),
        pa.field("prompt_tokens", pa.int32()),
        pa.field("completion_tokens", pa.int32()),
        pa.field("sampling", pa.string()),  # JSON of the sampling parameters
        # annotations
        pa.field("verdict", pa.string()),
        pa.field("verify_detail", pa.string()),  # JSON
        pa.field("pass_rate", pa.float64()),
        pa.field("problem_stats", pa.string()),  # JSON: pass@k, diversity per problem
        pa.field("dup_of", pa.string()),
        pa.field("contaminated", pa.list_(pa.string())),
        # everything else the source had
        pa.field("extra", pa.string()),  # JSON object
    ]
)

COLUMNS: tuple[str, ...] = tuple(TRACE_SCHEMA.names)
JSON_COLUMNS = ("sampling", "verify_detail", "problem_stats", "extra")

REJECTED_SCHEMA = TRACE_SCHEMA.append(pa.field("reject_stage", pa.string())).append(
    pa.field("reject_reason", pa.string())
)


@dataclass
class Trace:
    """A Python view of one row; handy in tests and per-row stage helpers.

    >>> t = Trace(id="abc", problem="1+1?", answer="2")
    >>> Trace.from_dict(t.to_dict()) == t
    True
    """

    id: str
    sample_idx: int | None = None
    trace_id: str | None = None
    source: str | None = None
    domain: str | None = None
    license: str | None = None
    problem: str | None = None
    reference: str | None = None
    system: str | None = None
    teacher: str | None = None
    reasoning: str | None = None
    answer: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    sampling: str | None = None
    verdict: str | None = None
    verify_detail: str | None = None
    pass_rate: float | None = None
    problem_stats: str | None = None
    dup_of: str | None = None
    contaminated: list[str] | None = None
    extra: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Trace":
        return cls(**{name: row.get(name) for name in COLUMNS})

    def extra_dict(self) -> dict[str, Any]:
        return json.loads(self.extra) if self.extra else {}


assert tuple(f.name for f in fields(Trace)) == COLUMNS, "Trace and TRACE_SCHEMA disagree"


def empty_table(schema: pa.Schema = TRACE_SCHEMA) -> pa.Table:
    return schema.empty_table()


def conform(data: pa.Table | pa.RecordBatch, *, where: str = "input") -> pa.Table:
    """Return `data` with exactly TRACE_SCHEMA's columns, order and types.

    Absent columns become nulls; present ones are cast (e.g. large_string to string). Extra
    columns are an error here: sources fold them into `extra` before this point.
    Raises InputError naming the offending column when a cast is impossible.
    """
    table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    unknown = [c for c in table.column_names if c not in COLUMNS]
    if unknown:
        raise InputError(
            f"{where}: column(s) {unknown} are not in the trace schema.",
            "Map them with the source's `columns:` setting, or let `load` fold them into `extra`.",
        )
    arrays = []
    for field in TRACE_SCHEMA:
        if field.name not in table.column_names:
            arrays.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        try:
            # str() also compares list item names: Parquet reads `element` where Arrow builds
            # `item`, and the name is stored in each written file's schema.
            same = column.type == field.type and str(column.type) == str(field.type)
            arrays.append(column if same else column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(
                f"{where}: column '{field.name}' has type {column.type}, expected {field.type}.",
                f"Convert '{field.name}' to {field.type} in the source, or map another column.",
            ) from exc
    return pa.Table.from_arrays(arrays, schema=TRACE_SCHEMA)


def validate(table: pa.Table, schema: pa.Schema = TRACE_SCHEMA, *, where: str = "table") -> None:
    """Check `table` against `schema`; raise InputError naming the first offending column."""
    for field in schema:
        if field.name not in table.column_names:
            raise InputError(f"{where}: missing column '{field.name}'.", "Run it through conform().")
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise InputError(
                f"{where}: column '{field.name}' is {actual}, expected {field.type}.",
                "Cast it, or rebuild the table with curate.schema.conform().",
            )
        if not field.nullable and table.column(field.name).null_count:
            raise InputError(f"{where}: column '{field.name}' has nulls but may not.")
    extra = [c for c in table.column_names if c not in schema.names]
    if extra:
        raise InputError(f"{where}: unexpected column(s) {extra}.")


def from_rows(rows: Iterable[dict[str, Any] | Trace], schema: pa.Schema = TRACE_SCHEMA) -> pa.Table:
    """Build a schema-conforming table from dicts or Trace objects (missing keys are nulls)."""
    dicts = [r.to_dict() if isinstance(r, Trace) else r for r in rows]
    return pa.Table.from_pylist([{n: d.get(n) for n in schema.names} for d in dicts], schema=schema)


def to_rows(data: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    return data.to_pylist()


def iter_traces(data: pa.Table | pa.RecordBatch) -> Iterator[Trace]:
    for row in data.to_pylist():
        yield Trace.from_dict(row)


def dumps(obj: Any) -> str:
    """Canonical JSON for the JSON columns: sorted keys, no spaces, unicode kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
