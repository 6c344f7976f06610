"""Source columns -> the trace schema, for `load`.

A schema column takes the source column named in `columns:`, else a source column of the same
name; every other source column is kept in `extra` (JSON). Chats (`messages:`) give the system
prompt, the problem (the last user turn), the reply (split into reasoning and answer) and the
earlier turns (`extra.history`); a generation column (`trace:`) is split into reasoning and answer.
Numbers or nested values in string columns become text. `check_columns` refuses a mapping that
names missing columns before any part runs, with the recipe lines that would map the source.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.errors import InputError
from curate.recipe import Source
from curate.schema import COLUMNS, conform, dumps, split_reasoning
from curate.stages.load_ids import scoped_ids, with_ids
from curate.text.arrow import string_array


def check_columns(source: Source, available: list[str], where: str) -> None:
    """Every mapped column must exist; some column must give the problem."""
    wanted = dict(source.columns)
    if source.code_tests == "humaneval":
        wanted["entry_point"] = "entry_point"
    for key in ("trace", "messages"):
        if getattr(source, key):
            wanted[key] = getattr(source, key)
    missing = {k: v for k, v in wanted.items() if v not in available}
    unknown = [k for k in source.columns if k not in COLUMNS]
    if unknown:
        raise InputError(f"{where}: `columns:` maps unknown trace column(s) {unknown}.",
                         f"Trace columns are: {', '.join(COLUMNS)}.")
    has_problem = "problem" in source.columns or "problem" in available or source.messages
    if missing or not has_problem:
        what = f"column(s) {sorted(missing.values())} not found" if missing else "no `problem` column"
        example = mapping_example(source, available, has_problem)
        raise InputError(f"{where}: {what}. The source has: {', '.join(available)}.",
                         "Map the source's columns in the recipe, e.g.\n" + example)


PROBLEM_LIKE = ("question", "problem", "prompt", "instruction", "query", "input", "text")


def mapping_example(source: Source, available: list[str], has_problem: bool) -> str:
    """The recipe lines that would map this source: its mapping so far plus a guessed `problem`
    column, as YAML that parses (a `sources:` item at the recipe's indentation)."""
    import yaml

    columns = dict(source.columns)
    if not has_problem:
        guess = next((c for name in PROBLEM_LIKE for c in available if c.lower() == name), None)
        columns = {"problem": guess or "YOUR_PROBLEM_COLUMN", **columns}
    item: dict[str, Any] = {"path": source.path}
    item.update({key: getattr(source, key) for key in ("trace", "messages") if getattr(source, key)})
    item["columns"] = columns
    text = yaml.safe_dump({"sources": [item]}, sort_keys=False, default_flow_style=False)
    lines = text.splitlines()
    # PyYAML puts list items at their key's column; a recipe indents them (as the README does).
    return "\n".join("  " + (line if i == 0 else "  " + line) for i, line in enumerate(lines))


def problem_texts(table: pa.Table, source: Source) -> pa.Array:
    """Each source row's problem text, as `to_traces` will find it (for the duplicate-id check)."""
    if source.messages:
        return chat_columns(table.column(source.messages).to_pylist())["problem"]
    name = source.columns.get("problem", "problem")
    return table[name] if name in table.column_names else pa.nulls(table.num_rows, pa.string())


def to_traces(table: pa.Table, source: Source, *, where: str, scope: str = "source",
              trace_ids: bool = True) -> pa.Table:
    """Source columns -> TRACE_SCHEMA: mapping, chats, generations, extras, ids.

    Ids the source gives are prefixed with its name unless `scope` is `global` (`load_ids`);
    `trace_ids` off leaves missing trace ids null (for a reader that does not read them)."""
    table = _flatten_types(table)
    out: dict[str, Any] = {}
    used = set()
    names = set(table.column_names)  # `column_names` builds a new list on every call
    for column in COLUMNS:
        name = source.columns.get(column, column if column in names else None)
        if name is not None and name in names:
            out[column] = table.column(name)
            used.add(name)
    n = table.num_rows
    added: dict[str, list] = {}
    if source.messages:
        used.add(source.messages)
        chat = chat_columns(table.column(source.messages).to_pylist())
        added["history"] = chat.pop("history")
        out.update(chat)
    if source.trace:
        used.add(source.trace)
        pairs = [split_reasoning(t) for t in table.column(source.trace).to_pylist()]
        out["reasoning"] = pa.array([p[0] for p in pairs], pa.string())
        out["answer"] = pa.array([p[1] for p in pairs], pa.string())
    if "id" in out and scope == "source":
        out["id"] = scoped_ids(out["id"], source)
    out["source"] = out.get("source") or pa.repeat(string_array([source.display_name])[0], n)
    for key in ("domain", "license"):  # the source's value fills rows whose own column is empty
        if getattr(source, key):
            value = string_array([getattr(source, key)])[0]
            out[key] = _fill(out[key], value) if key in out else pa.repeat(value, n)
    out["extra"] = extra_column(table, used, out.get("extra"), added)
    if source.code_tests and "reference" in out:
        from curate.verifiers.formats import import_tests

        values = out["reference"].to_pylist()
        if source.code_tests == "humaneval":  # the test code and its entry point, from two columns
            values = [{"test": t, "entry_point": e} for t, e in zip(values, table.column("entry_point").to_pylist())]
        out["reference"] = pa.array([import_tests(source.code_tests, v) for v in values], pa.string())
    traces = conform(pa.table({k: _as_string_if_needed(k, v) for k, v in out.items()}), where=where)
    return with_ids(traces, trace_ids)


def _fill(column, value: pa.Scalar):
    """`column`'s nulls filled with `value` (a column of nothing but nulls may have the null type)."""
    column = column.cast(pa.string()) if pa.types.is_null(column.type) else _as_string_if_needed("domain", column)
    return pc.fill_null(column, value)


def _flatten_types(table: pa.Table) -> pa.Table:
    """large_string -> string so the mapped columns fit the schema."""
    fields = [pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


def _as_string_if_needed(name: str, column):
    """Numbers or nested values in string columns (a numeric gold answer, a JSON test spec)."""
    from curate.schema import TRACE_SCHEMA

    target = TRACE_SCHEMA.field(name).type
    if target == pa.string() and not pa.types.is_string(column.type) and not pa.types.is_null(column.type):
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
            return pc.cast(column, pa.string())
        return string_array([None if v is None else (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                             for v in column.to_pylist()])
    return column


def chat_columns(chats: list) -> dict[str, pa.Array]:
    """Chats -> system, problem (last user turn), answer/reasoning (the reply), extra history."""
    system, problem, answer, reasoning, history = [], [], [], [], []
    for chat in chats:
        chat = json.loads(chat) if isinstance(chat, str) else (chat or [])
        sys_turns = [m["content"] for m in chat if m.get("role") == "system"]
        turns = [m for m in chat if m.get("role") != "system"]
        last_user = max((i for i, m in enumerate(turns) if m.get("role") == "user"), default=None)
        reply = turns[last_user + 1]["content"] if last_user is not None and last_user + 1 < len(turns) else None
        r, a = split_reasoning(reply) if reply is not None else (None, None)
        system.append(sys_turns[0] if sys_turns else None)
        problem.append(turns[last_user]["content"] if last_user is not None else None)
        reasoning.append(r)
        answer.append(a)
        history.append(turns[:last_user] if last_user else None)
    return {"system": pa.array(system, pa.string()), "problem": pa.array(problem, pa.string()),
            "reasoning": pa.array(reasoning, pa.string()), "answer": pa.array(answer, pa.string()),
            "history": history}


def extra_column(table: pa.Table, used: set[str], existing, added: dict[str, list]) -> pa.Array:
    """Unmapped source columns (and values derived on the way, e.g. chat history) as JSON."""
    leftover = [c for c in table.column_names if c not in used and c not in COLUMNS]
    added = {k: v for k, v in added.items() if any(x is not None for x in v)}
    if not leftover and not added:
        return existing if existing is not None else pa.nulls(table.num_rows, pa.string())
    rows = table.select(leftover).to_pylist() if leftover else [{} for _ in range(table.num_rows)]
    old = existing.to_pylist() if existing is not None else [None] * table.num_rows
    out = []
    for i, row in enumerate(rows):
        merged = {**(json.loads(old[i]) if old[i] else {}), **row}
        merged.update({k: v[i] for k, v in added.items() if v[i] is not None})
        out.append(dumps(merged) if merged else None)
    return string_array(out)  # not pa.array: it imports pandas


# ---------------------------------------------------------------- what a reader of some columns needs


def project_columns(table: pa.Table, columns: list[str] | None) -> pa.Table:
    if not columns:
        return table
    names = set(table.column_names)  # a new list on every call: 0.3 ms a piece when asked per column
    return table.select([c for c in columns if c in names])


def slice_given(source: Source, file: dict, start: int, stop: int) -> tuple[bool, bool]:
    """(ids given, trace ids given) for rows [start, stop) of a Parquet source file, by the
    statistics of the row groups they touch; (False, False) for other formats."""
    if file["format"] != "parquet":
        return False, False
    import pyarrow.parquet as pq

    meta, groups, offset = pq.ParquetFile(file["path"]).metadata, [], 0
    for group in range(meta.num_row_groups):
        n = meta.row_group(group).num_rows
        if offset < stop and start < offset + n:
            groups.append(meta.row_group(group))
        offset += n
    return given_ids(source, groups)


def given_ids(source: Source, groups: list) -> tuple[bool, bool]:
    """Whether the statistics of these row groups say every row has an id, and a trace id."""
    return tuple(all(_no_nulls(g, source.columns.get(c, c)) for g in groups) for c in ("id", "trace_id"))


def _no_nulls(group, name: str) -> bool:
    """Whether a row group's statistics say column `name` has a value in every row."""
    for i in range(group.num_columns):
        column = group.column(i)
        if column.path_in_schema == name:
            stats = column.statistics
            return stats is not None and stats.has_null_count and stats.null_count == 0
    return False


def source_columns(source: Source, wanted: list[str] | None, ids_given: bool = False,
                   trace_ids_given: bool = False, available: set[str] | None = None) -> list[str] | None:
    """The source columns the trace columns `wanted` are made from (None: all). Ids and trace ids
    are derived from other columns where missing, so those come along (the problem texts unless
    `ids_given`; teacher, reasoning and answer unless `trace_ids_given`: the statistics say every
    row has one); `extra` holds every unmapped column, so asking for it reads those of the file's
    `available` columns (all of them when not given)."""
    if wanted is None or source.messages or source.trace or source.code_tests:
        return None
    if "extra" in wanted and available is None:
        return None
    needed = set(wanted) | {"id", "source", "sample_idx", "domain", "license"} | (set() if ids_given else {"problem"})
    if "trace_id" in needed:
        needed |= {"trace_id"} if trace_ids_given else {"trace_id", "teacher", "reasoning", "answer"}
    columns = {source.columns.get(c, c) for c in needed}
    if "extra" in wanted:  # what `extra_column` folds in: the columns no trace column is made from
        columns |= {c for c in available if c not in COLUMNS and c not in source.columns.values()}
    return sorted(columns)
