"""`load`: read the recipe's sources into trace-schema parts.

`prepare` scans every source once (row counts, JSONL line offsets, the columns and the
duplicate-id check) and writes a plan that cuts the concatenated sources into a fixed number of
contiguous parts; each part task then reads only its slice. Parts of Parquet sources are views:
marked done, not written, and recomputed from the plan by whoever reads them (`view_parts`).
Source columns become trace columns in `load_mapping`. Ids are stable: `id` = hash(source name,
problem text) unless the source has one, which is then scoped by the source's name (`load_ids`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
from pydantic import Field

from curate import io
from curate.background import prefetch
from curate.errors import InputError
from curate.fingerprint import digest
from curate.recipe import Source
from curate.schema import COLUMNS, dumps
from curate.stages.base import VIEW_PIECE_BYTES, PartContext, PrepareContext, Stage, StageConfig, ViewSegment
from curate.stages.load_ids import check_duplicate_ids, has_own_ids, id_scope, trace_digests, with_ids
from curate.stages.load_mapping import (
    check_columns,
    given_ids,
    problem_texts,
    project_columns,
    slice_given,
    source_columns,
    to_traces,
)
from curate.storage import is_url, local_source

__all__ = ["Load", "check_columns", "to_traces", "trace_digests", "with_ids"]

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
        plan = read_plan(ctx.artifacts)
        simple = all(not s.messages and not s.trace and not s.code_tests for s in self.config.sources)
        if self.config.keep_parts or not simple or any(e["format"] != "parquet" for e in plan["entries"]):
            return None
        rows = [hi - lo for lo, hi in (part_range(plan, p) for p in range(plan["parts"]))]
        return [{"part": p, "rows_in": n, "rows_out": n, "rejected": 0, "counters": {}, "stats": {}, "seconds": 0.0}
                for p, n in enumerate(rows)]

    def view_segments(self, ctx: PartContext) -> list[ViewSegment] | None:
        """A view part's rows by source row group, with the trace columns `to_traces` passes on
        unchanged: those a source column gives, but the ids (scoped or derived), `extra`, and what
        the source's settings fill or convert (domain, license, code tests)."""
        plan = read_plan(ctx.artifacts)
        if any(e["format"] != "parquet" for e in plan["entries"]) or any(
                s.messages or s.trace for s in self.config.sources):
            return None
        lo, hi = part_range(plan, ctx.part)
        segments, offset = [], 0
        for i, entry in enumerate(plan["entries"]):
            source = self.config.sources[i]
            for file in located(entry, source):
                start, stop = max(lo, offset), min(hi, offset + file["rows"])
                if start < stop:
                    scope = entry.get("id_scope", "source")
                    segments += self._file_segments(source, file, start - offset, stop - offset, scope, ctx)
                offset += file["rows"]
        return segments

    def _file_segments(self, source: Source, file: dict, start: int, stop: int, scope: str,
                       ctx: PartContext) -> list[ViewSegment]:
        """Rows [start, stop) of one source file, a segment per row group they touch."""
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(file["path"])
        meta, names = parquet.metadata, set(parquet.schema_arrow.names)
        computed = {"id", "sample_idx", "trace_id", "extra"} | {k for k in ("domain", "license") if getattr(source, k)}
        computed |= {"reference"} if source.code_tests else set()
        same = {c: source.columns.get(c, c) for c in COLUMNS if c not in computed}
        same = {c: name for c, name in same.items() if name in names}
        out, offset = [], 0
        for group in range(meta.num_row_groups):
            n = meta.row_group(group).num_rows
            first, last = max(start, offset), min(stop, offset + n)
            if first < last:
                given = given_ids(source, [meta.row_group(group)])
                out.append(ViewSegment(file["path"], group, first - offset, last - first, last - first == n, same,
                                       self._segment_reader(source, file, first, last, scope, ctx, given, names)))
            offset += n
        return out

    def _segment_reader(self, source: Source, file: dict, start: int, stop: int, scope: str, ctx: PartContext,
                        given: tuple[bool, bool] = (False, False), names: set[str] | None = None):
        """What `ViewSegment.tables` calls: rows [start, stop) of `file` as `run` makes them
        (`given`: the row group's statistics say every row has an id, a trace id)."""
        def tables(columns: list[str] | None) -> Iterator[pa.Table]:
            wanted = source_columns(source, columns, *given, available=names)
            for table in read_slice(source, file, start, stop, self.config, ctx, columns=wanted,
                                    piece_bytes=ctx.piece_bytes or VIEW_PIECE_BYTES):
                traces = to_traces(table, source, where=file["path"], scope=scope,
                                   trace_ids=columns is None or "trace_id" in columns)
                yield project_columns(traces, columns)
        return tables

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
        return read_plan(ctx.artifacts)["parts"]

    def _path(self, source: Source) -> str:
        if io.is_hub_shorthand(source.path) or source.path.startswith("run:") or source.format == "hub":
            return source.path
        if is_url(source.path):  # s3://, gs://, hf://...: a local copy, fetched again only when it changed
            return local_source(source.path)
        p = Path(source.path).expanduser()
        if not p.is_absolute() and self.config.base_dir and not any(c in source.path for c in "*?["):
            p = Path(self.config.base_dir) / p
        elif not p.is_absolute() and self.config.base_dir:
            return str(Path(self.config.base_dir) / source.path)
        return str(p)

    # ---- run: read this part's slice of every source it overlaps
    def run(self, batches, ctx: PartContext) -> Iterator[pa.Table]:
        plan = read_plan(ctx.artifacts)
        lo, hi = part_range(plan, ctx.part)
        offset = 0
        for i, entry in enumerate(plan["entries"]):
            source = self.config.sources[i]
            for file in located(entry, source):
                start, stop = max(lo, offset), min(hi, offset + file["rows"])
                if start < stop:  # the next slices decode on a helper thread while this one converts
                    given = slice_given(source, file, start - offset, stop - offset) if ctx.columns else ()
                    columns = source_columns(source, ctx.columns, *given)
                    tables = read_slice(source, file, start - offset, stop - offset, self.config, ctx,
                                        columns=columns, piece_bytes=ctx.piece_bytes)
                    scope = entry.get("id_scope", "source")
                    for table in prefetch(tables, depth=1):  # one row group ahead: memory
                        traces = to_traces(table, source, where=file["path"], scope=scope,
                                           trace_ids=ctx.columns is None or "trace_id" in ctx.columns)
                        yield project_columns(traces, ctx.columns)
                offset += file["rows"]


# ---------------------------------------------------------------- the plan, scanning and reading


def read_plan(artifacts: Path) -> dict[str, Any]:
    """The plan `prepare` wrote: total rows, number of parts, and per source its files and rows."""
    return json.loads((artifacts / "plan.json").read_text())


def part_range(plan: dict[str, Any], part: int) -> tuple[int, int]:
    """The rows [lo, hi) of the concatenated sources that `part` holds (parts of equal size but
    the last)."""
    size = math.ceil(plan["total"] / plan["parts"])
    return min(plan["total"], part * size), min(plan["total"], (part + 1) * size)


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


def read_slice(source: Source, file: dict, start: int, stop: int, config, ctx,
               columns: list[str] | None = None, piece_bytes: int | None = None) -> Iterator[pa.Table]:
    path, fmt = Path(file["path"]), file["format"]
    if fmt == "parquet":
        yield from io.read_parquet_range(path, start, stop, columns=columns, piece_bytes=piece_bytes)
    elif fmt == "jsonl":
        log = io.ReadLog()
        yield from io.read_jsonl_range(path, start, stop, file["offsets"], EVERY, config.on_error, log)
        record_bad_lines(log, source, config.on_error, ctx)
    elif fmt == "csv":
        yield io.read_csv(path).slice(start, stop - start)
    else:
        yield whole_table(source, fmt, file["path"]).slice(start, stop - start)


def identity_rows(source: Source, file: dict, problems: bool) -> Iterator[pa.Table]:
    """A whole file's rows for the duplicate-id check; of Parquet, just the columns it reads (the
    ids; with `problems`, their sample numbers and problem texts too)."""
    if file["format"] == "jsonl" and not problems:
        fast = jsonl_ids(file)
        if fast is not None:
            return iter([fast])
    if file["format"] != "parquet":
        return read_slice(source, file, 0, file["rows"], _Quiet(), None)
    wanted = [source.columns.get("id", "id")]
    if problems:
        wanted += [source.columns.get(c, c) for c in ("sample_idx", "problem")] + [source.messages]
    return iter([io.read_parquet_columns(Path(file["path"]), [c for c in wanted if c], stop=file["rows"])])


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
    """The column names of a source's first file (of Parquet, from its schema: no rows decoded)."""
    if file["format"] == "parquet":
        return io.parquet_columns(Path(file["path"]))
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
