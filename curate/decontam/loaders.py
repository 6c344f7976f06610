"""Load benchmark items from the Hub (through `datasets`, cached) or from local files.

Hub datasets go through `datasets.load_dataset` with the spec's pinned revision, so the second
load reads the local cache; with `HF_HUB_OFFLINE=1` no network is touched at all. LiveCodeBench
is read from its JSONL release files (`test.jsonl` ... `test6.jsonl`, cumulative per release),
which avoids its loading script, then filtered by contest date. Local files are JSONL (optionally
gzipped) or Parquet; a field mapping says which columns hold id, problem and answer.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from curate.decontam.pack import BenchmarkSpec
from curate.decontam.select import BenchItem, LocalSpec, Selection, parse_selections
from curate.errors import CurateError, InputError
from curate.storage.parquet_files import read_parquet


def load_items(sel: Selection, *, cache_dir: str | None = None) -> list[BenchItem]:
    """The items of one selection, in the benchmark's own order."""
    if isinstance(sel.spec, LocalSpec):
        return local_items(sel.spec)
    rows = hub_rows(sel, cache_dir=cache_dir)
    return spec_items(sel.spec, rows)


def spec_items(spec: BenchmarkSpec, rows: Iterable[dict[str, Any]]) -> list[BenchItem]:
    """Map raw rows to items with the spec's problem/answer/id fields."""
    out = []
    for index, row in enumerate(rows):
        missing = [f for f in spec.problem_fields if f not in row]
        if len(missing) == len(spec.problem_fields):
            raise InputError(f"{spec.name}: none of the problem fields {list(spec.problem_fields)} is in the data "
                             f"(columns: {sorted(row)}).", "The Hub dataset changed: pin another revision.")
        problem = "\n".join(_text(row.get(f)) for f in spec.problem_fields if _text(row.get(f)))
        item_id = _text(row.get(spec.id_field)) if spec.id_field and row.get(spec.id_field) is not None else ""
        answer = _text(row.get(spec.answer_field)) if spec.answer_field else None
        out.append(BenchItem(spec.name, item_id or f"{spec.split}-{index}", problem, answer or None))
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(_text(v) for v in value)
    return str(value)


def hub_rows(sel: Selection, *, cache_dir: str | None = None, all_columns: bool = False) -> list[dict[str, Any]]:
    """Rows of a pack benchmark from the Hub or the `datasets` cache.

    A versioned benchmark keeps only its problem, id and date columns unless `all_columns` (eval
    needs LiveCodeBench's tests, which are most of its bytes)."""
    from curate.errors import MissingExtra

    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise MissingExtra("datasets", "hub", "loading benchmarks from the Hub") from exc
    spec = sel.spec
    try:
        if spec.versions:
            rows = _versioned_rows(datasets, sel, cache_dir, all_columns)
        else:
            ds = datasets.load_dataset(spec.hub_id, spec.config, split=spec.split,
                                       revision=spec.revision, cache_dir=cache_dir)
            rows = ds.to_list()
    except CurateError:
        raise
    except Exception as exc:  # network, gating, missing cache: one actionable message
        raise CurateError(
            f"cannot load benchmark '{spec.name}' ({spec.hub_id}@{spec.revision}): {type(exc).__name__}: {exc}",
            "Check the network (or run once online to fill the cache; HF_HUB_OFFLINE=1 then reads it), "
            f"log in for gated datasets, or pass a local file instead. {spec.notes}".strip(),
        ) from exc
    return rows


def _versioned_rows(datasets, sel: Selection, cache_dir: str | None, all_columns: bool) -> list[dict[str, Any]]:
    spec = sel.spec
    version = sel.version or spec.default_version
    files = [f"hf://datasets/{spec.hub_id}@{spec.revision}/{name}" for name in spec.versions[version]]
    ds = datasets.load_dataset("json", data_files=files, split="train", cache_dir=cache_dir)
    if not all_columns:
        ds = ds.select_columns([c for c in (*spec.problem_fields, spec.id_field, spec.date_field)
                                if c in ds.column_names])
    return filter_dates(ds.to_list(), spec.date_field, sel.date_from, sel.date_to)


def filter_dates(rows: list[dict], date_field: str | None, date_from: str | None, date_to: str | None) -> list[dict]:
    """Keep rows whose date (ISO text, compared on its first 10 characters) is in [from, to]."""
    if not date_field or not (date_from or date_to):
        return rows
    kept = []
    for row in rows:
        day = str(row.get(date_field) or "")[:10]
        if day and (not date_from or day >= date_from) and (not date_to or day <= date_to):
            kept.append(row)
    return kept


def local_items(spec: LocalSpec) -> list[BenchItem]:
    """Items of a local JSONL/Parquet file under its field mapping."""
    path = Path(spec.path)
    if not path.exists():
        raise InputError(f"benchmark file not found: {path}", "Check the path (relative paths resolve from the "
                         "recipe's folder, or the current directory on the command line).")
    rows = _read_rows(path)
    fields = spec.fields
    out = []
    for index, row in enumerate(rows, 1):
        if fields["problem"] not in row:
            raise InputError(f"{path}: row {index} has no '{fields['problem']}' field (fields: {sorted(row)}).",
                             f"Map the problem field: {path.name}#problem=<field>")
        item_id = row.get(fields["id"])
        out.append(BenchItem(spec.name, _text(item_id) if item_id is not None else str(index - 1),
                             _text(row[fields["problem"]]), _text(row.get(fields["answer"])) or None))
    return out


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":

        try:
            return read_parquet(path).to_pylist()
        except Exception as exc:  # truncated or not Parquet at all
            raise InputError(f"{path}: cannot read the benchmark file ({type(exc).__name__}: {exc}).",
                             "Rewrite the file, or give a JSONL file instead.") from None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        return _json_lines(path, opener)
    except (OSError, UnicodeDecodeError, EOFError) as exc:  # a bad gzip, binary data, a directory
        raise InputError(f"{path}: cannot read the benchmark file ({type(exc).__name__}: {exc}).",
                         "Give a UTF-8 JSONL file (optionally .jsonl.gz) or a Parquet file.") from None


def _json_lines(path: Path, opener) -> list[dict[str, Any]]:
    rows = []
    with opener(path, "rt", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise InputError(f"{path}:{number}: bad JSON line ({exc}).", "Fix or remove that line.") from None
    return rows


def resolve_selections(names: list[str] | str, *, base_dir: str | Path | None = None,
                       cache_dir: str | None = None) -> tuple[list[BenchItem], list[dict[str, Any]]]:
    """Load every selected benchmark: (items, one description per benchmark with its item count)."""
    items: list[BenchItem] = []
    described: list[dict[str, Any]] = []
    empty: list[tuple[Selection, int]] = []
    for sel in parse_selections(names, base_dir=base_dir):
        loaded = load_items(sel, cache_dir=cache_dir)
        if not any(i.problem.strip() for i in loaded):
            empty.append((sel, len(loaded)))
            continue
        items.extend(loaded)
        described.append({**sel.describe(), "items": len(loaded)})
    if empty:
        raise _empty(empty, described)
    return items, described


def _empty(empty: list[tuple[Selection, int]], described: list[dict[str, Any]]) -> CurateError:
    """The error for benchmarks with no problem text: nothing would be checked against them."""
    bad = []
    for sel, count in empty:
        where = sel.spec.path if isinstance(sel.spec, LocalSpec) else f"{sel.spec.hub_id}@{sel.spec.revision}"
        bad.append(f"'{sel.name}' ({where}: " + (f"{count} items, all with empty problems)" if count else "no items)"))
    loaded = ", ".join(f"{d['name']} ({d['items']} items)" for d in described) or "none"
    return InputError(f"empty benchmark {'; '.join(bad)}: decontamination against it would check nothing. "
                      f"Benchmarks that loaded: {loaded}.",
                      "Check the file (or the version and date window) and its field mapping "
                      "(file.jsonl#problem=<field>), or leave the benchmark out of the selection.")
