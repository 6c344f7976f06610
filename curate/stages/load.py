"""`load`: read the recipe's sources into trace-schema parts.

`prepare` scans every source once (row counts, JSONL line offsets) and writes a plan that cuts
the concatenated sources into a fixed number of contiguous parts; each part task then reads only
its slice. Column mapping: a schema column takes the source column named in `columns:`, else a
source column of the same name; every other source column is kept in `extra` (JSON). Ids are
stable: `id` = hash(source name, problem text) unless the source has one, which is then scoped by
the source's name (`load_ids`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curate import io
from curate.background import prefetch
from curate.errors import InputError
from curate.fingerprint import digest
from curate.recipe import Source
from curate.schema import COLUMNS, conform, dumps, split_reasoning
from curate.stages.base import PartContext, PrepareContext, Stage, StageConfig
from curate.stages.load_ids import check_duplicate_ids, has_own_ids, id_scope, scoped_ids, trace_digests, with_ids
from curate.storage import is_url, local_source
from curate.text.arrow import string_array

__all__ = ["Load", "to_traces", "trace_digests", "with_ids"]

EVERY = 1024  # JSONL offset index granularity (lines)


class LoadConfig(StageConfig):
    sources: list[Source] = Field(default_factory=list, description="Filled from the recipe's sources.")
    base_dir: str | None = Field(None, description="Folder relative source paths resolve from.")
    rows_per_part: int = Field(50_000, ge=1, description="Rows per part (the unit of parallel work).")
    parts: int | None = Field(None, ge=1, description="Fixed number of parts (overrides rows_per_part).")
    keep_parts: bool = Field(
        False, description="Keep load's part files even when load streams straight into the next stage "
        "in the same task (they are a conformed copy of the sources, as large as the input). Off: "
        "a resumed or forced run reads the sources again for the parts it redoes.")
    on_error: io.OnError = Field(
        "fail", description="Bad JSONL lines: fail (stop with file:line), skip (count them in the "
        "stats), or record (keep them in rejected/ with the reason).")


class Load(Stage):
    name = "load"
    version = 2  # 2: extra is part of a missing trace_id
    Config = LoadConfig
    has_prepare = True

    # ---- prepare: a plan of which source rows go into which part
    def prepare(self, ctx: PrepareContext) -> None:
        if not self.config.sources:
            raise InputError("the recipe has no sources.", "Add a `sources:` list with at least one path.")
        entries = [scan_source(s, self._path(s)) for s in self.config.sources]
        total = sum(e["rows"] for e in entries)
        if total == 0:
            raise InputError("the sources hold no rows: " + ", ".join(e["path"] for e in entries),
                             "Check the paths, the split, and that the files are not empty.")
        parts = self.config.parts or max(1, math.ceil(total / self.config.rows_per_part))
        plan = {"total": total, "parts": parts, "entries": entries}
        (ctx.artifacts / "plan.json").write_text(json.dumps(plan, indent=1))
        ctx.stats["rows"] = total

    def keeps_parts(self) -> bool:
        return self.config.keep_parts

    def view_parts(self, ctx: PrepareContext) -> list[dict[str, Any]] | None:
        """Parquet sources need no conformed copy: a reader recomputes a part from its slice of the
        files (the columns it asks for), about as fast as it would read a copy back, so the part
        is only marked done. Not for JSONL, CSV or Hub sources (parsing costs more than reading a
        copy, and bad lines must reach rejected/), chats or traces split in Python, nor with
        `keep_parts`."""
        plan = json.loads((ctx.artifacts / "plan.json").read_text())
        simple = all(not s.messages and not s.trace and not s.code_tests for s in self.config.sources)
        if self.config.keep_parts or not simple or any(e["format"] != "parquet" for e in plan["entries"]):
            return None
        size = math.ceil(plan["total"] / plan["parts"])
        rows = [min(plan["total"], (p + 1) * size) - min(plan["total"], p * size) for p in range(plan["parts"])]
        return [{"part": p, "rows_in": n, "rows_out": n, "rejected": 0, "counters": {}, "stats": {}, "seconds": 0.0}
                for p, n in enumerate(rows)]

    def fingerprint_extra(self) -> dict[str, Any]:
        """Size and sampled content of local source files: an edited source redoes the run."""
        from curate.fingerprint import file_fingerprint

        out = {}
        for source in self.config.sources:
            path = self._path(source)
            if Path(path).exists():
                files = io.expand_files(path, tuple(io.SUFFIXES)) if Path(path).is_dir() else [Path(path)]
                out[source.path] = file_fingerprint(files)
                if id_scope(source, io.detect_format(path), path) == "source" and has_own_ids(source, files):
                    out[f"{source.path} ids"] = "prefixed with the source name"  # since load_ids
        return out

    def config_dict(self) -> dict[str, Any]:
        """The config, without an unset `id_scope` (so fingerprints made before it existed hold)."""
        config = super().config_dict()
        for source in config.get("sources", []):
            if source.get("id_scope") is None:
                source.pop("id_scope", None)
        return config

    def num_parts(self, ctx: PrepareContext) -> int:
        return json.loads((ctx.artifacts / "plan.json").read_text())["parts"]

    def _path(self, source: Source) -> str:
        if source.path.startswith(("hub:", "hf:", "run:")) or source.format == "hub":
            return source.path
        if is_url(source.path):  # s3://, gs://...: a local copy, fetched again only when it changed
            return local_source(source.path)
        p = Path(source.path).expanduser()
        if not p.is_absolute() and self.config.base_dir and not any(c in source.path for c in "*?["):
            p = Path(self.config.base_dir) / p
        elif not p.is_absolute() and self.config.base_dir:
            return str(Path(self.config.base_dir) / source.path)
        return str(p)

    # ---- run: read this part's slice of every source it overlaps
    def run(self, batches, ctx: PartContext) -> Iterator[pa.Table]:
        plan = json.loads((ctx.artifacts / "plan.json").read_text())
        size = math.ceil(plan["total"] / plan["parts"])
        lo, hi = ctx.part * size, min(plan["total"], (ctx.part + 1) * size)
        offset = 0
        for i, entry in enumerate(plan["entries"]):
            source = self.config.sources[i]
            for file in located(entry, source):
                start, stop = max(lo, offset), min(hi, offset + file["rows"])
                if start < stop:  # the next slices decode on a helper thread while this one converts
                    tables = read_slice(source, file, start - offset, stop - offset, self.config, ctx,
                                        columns=source_columns(source, ctx.columns))
                    scope = entry.get("id_scope", "source")
                    for table in prefetch(tables):
                        traces = to_traces(table, source, where=file["path"], scope=scope,
                                           trace_ids=ctx.columns is None or "trace_id" in ctx.columns)
                        yield _project(traces, ctx.columns)
                offset += file["rows"]


# ---------------------------------------------------------------- scanning and reading


def located(entry: dict[str, Any], source: Source) -> list[dict[str, Any]]:
    """The planned files of a source; for a source at a URL, the same files in this machine's
    copy of it (the plan names the planner's copy; a Ray worker has its own cache)."""
    files = entry["files"]
    if not is_url(source.path):
        return files
    base = local_source(source.path)
    return [{**f, "path": base if f["path"] == entry["path"] else
             str(Path(base) / Path(f["path"]).relative_to(entry["path"]))} for f in files]


def scan_source(source: Source, path: str) -> dict[str, Any]:
    """Row counts per file (and JSONL offsets) for one source; checks its columns early."""
    fmt = source.format if source.format != "auto" else io.detect_format(path)
    if fmt == "parquet":
        files = [{"path": str(f), "rows": io.parquet_rows(f)} for f in io.expand_files(path, (".parquet",))]
    elif fmt == "jsonl":
        files = []
        for f in io.expand_files(path, (".jsonl", ".json", ".ndjson", ".jsonl.gz")):
            rows, offsets = io.jsonl_index(f, EVERY)
            files.append({"path": str(f), "rows": rows, "offsets": offsets})
    elif fmt == "csv":
        files = [{"path": str(f), "rows": io.read_csv(f).num_rows} for f in io.expand_files(path, (".csv",))]
    elif fmt == "run":
        files = [{"path": str(f), "rows": io.parquet_rows(f)} for f in io.run_output_files(path)]
    else:
        table = whole_table(source, fmt, path)
        files = [{"path": path, "rows": min(table.num_rows, source.limit or table.num_rows)}]
    files = _apply_limit(files, source.limit)
    scope = id_scope(source, fmt, path)
    fmt = "parquet" if fmt == "run" else fmt
    entry = {"path": path, "format": fmt, "files": files, "rows": sum(f["rows"] for f in files), "id_scope": scope}
    for file in files:
        file["format"] = fmt
    if entry["rows"]:
        check_columns(source, first_columns(source, files[0]), files[0]["path"])
    if entry["rows"] and scope == "source":
        check_duplicate_ids(source, files, lambda f, p: identity_rows(source, f, p), lambda t: problem_texts(t, source))
    return entry


def _apply_limit(files: list[dict], limit: int | None) -> list[dict]:
    if limit is None:
        return files
    out, left = [], limit
    for f in files:
        if left <= 0:
            break
        out.append({**f, "rows": min(f["rows"], left)})
        left -= out[-1]["rows"]
    return out


def whole_table(source: Source, fmt: str, path: str) -> pa.Table:
    if fmt == "datasets":
        return io.read_datasets_folder(path, source.split)
    if fmt == "hub":
        return io.read_hub(path, config=source.config, split=source.split, revision=source.revision)
    raise InputError(f"{path}: unsupported format '{fmt}'.")


def _project(table: pa.Table, columns: list[str] | None) -> pa.Table:
    return table.select([c for c in columns if c in table.column_names]) if columns else table


def source_columns(source: Source, wanted: list[str] | None) -> list[str] | None:
    """The source columns the trace columns `wanted` are made from (None: all). Ids and trace ids
    are derived from other columns, so those come along; `extra` is not made right (the caller
    selects `wanted`, which a view reader never asks it of)."""
    if wanted is None or source.messages or source.trace or source.code_tests:
        return None
    needed = set(wanted) | {"id", "problem", "source", "sample_idx", "domain", "license"}
    if "trace_id" in needed:
        needed |= {"trace_id", "teacher", "reasoning", "answer"}
    return sorted({source.columns.get(c, c) for c in needed})


def read_slice(source: Source, file: dict, start: int, stop: int, config, ctx,
               columns: list[str] | None = None) -> Iterator[pa.Table]:
    path, fmt = Path(file["path"]), file["format"]
    if fmt == "parquet":
        yield from io.read_parquet_range(path, start, stop, columns=columns)
    elif fmt == "jsonl":
        log = io.ReadLog()
        yield from io.read_jsonl_range(path, start, stop, file["offsets"], EVERY, config.on_error, log)
        record_bad_lines(log, source, config.on_error, ctx)
    elif fmt == "csv":
        yield io.read_csv(path).slice(start, stop - start)
    else:
        yield whole_table(source, fmt, file["path"]).slice(start, stop - start)


def identity_rows(source: Source, file: dict, problems: bool) -> Iterator[pa.Table]:
    """A whole file's rows for the duplicate-id check; of Parquet, just the columns it reads."""
    if file["format"] == "jsonl" and not problems:
        fast = jsonl_ids(file)
        if fast is not None:
            return iter([fast])
    if file["format"] != "parquet":
        return read_slice(source, file, 0, file["rows"], _Quiet(), None)
    wanted = [source.columns.get(c, c) for c in ("id", "sample_idx")]
    wanted += [source.columns.get("problem", "problem"), source.messages] if problems else []
    return io.read_parquet_range(Path(file["path"]), 0, file["rows"], columns=[c for c in wanted if c])


def jsonl_ids(file: dict) -> pa.Table | None:
    """A JSONL file parsed by Arrow's JSON reader (C++, ~15x faster than line by line), or None
    when it cannot be (mixed types, bad lines, gzip, a limit): the caller reads it line by line."""
    import pyarrow.json as pj

    if str(file["path"]).endswith(".gz"):
        return None
    try:
        table = pj.read_json(file["path"])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return table if table.num_rows == file["rows"] else None


def first_columns(source: Source, file: dict) -> list[str]:
    for table in read_slice(source, file, 0, min(file["rows"], 100), _Quiet(), None):
        return table.column_names
    return []


class _Quiet:
    on_error = "skip"


def record_bad_lines(log: io.ReadLog, source: Source, on_error: str, ctx: PartContext | None) -> None:
    if ctx is None or not log.bad_lines:
        return
    ctx.counters["bad_lines"] += len(log.bad_lines)
    listed = ctx.stats.setdefault("bad_lines", [])
    listed.extend(f"{b.file}:{b.line}: {b.error}" for b in log.bad_lines[: max(0, 50 - len(listed))])
    if on_error == "record":
        rows = [{"id": digest(b.file, b.line), "source": source.display_name, "domain": source.domain,
                 "extra": dumps({"raw_line": b.text, "file": b.file, "line": b.line})}
                for b in log.bad_lines]
        reasons = [f"bad JSON at {b.file}:{b.line}: {b.error}" for b in log.bad_lines]
        ctx.reject(pa.Table.from_pylist(rows), reasons)


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


# ---------------------------------------------------------------- mapping to the trace schema


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
    for column in COLUMNS:
        name = source.columns.get(column, column if column in table.column_names else None)
        if name is not None and name in table.column_names:
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
        return pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                         for v in column.to_pylist()], pa.string())
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
    return pa.array(out, pa.string())
