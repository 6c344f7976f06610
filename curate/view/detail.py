"""One row in full: its texts as safe HTML, the checker's detail, its siblings, cluster and hits,
and the path of its trace through the run's stages.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import polars as pl

from curate.rundir import RunDir
from curate.text.html import text_html
from curate.view import query
from curate.view.tables import Table

TEXT_FIELDS = ("problem", "reasoning", "answer", "reference", "system")
SMALL_FIELDS = ("id", "trace_id", "sample_idx", "source", "domain", "license", "teacher", "verdict", "pass_rate",
                "finish_reason", "prompt_tokens", "completion_tokens", "num_tokens", "dup_of", "contaminated",
                "reject_stage", "reject_reason")
JSON_FIELDS = ("verify_detail", "problem_stats", "sampling", "extra")


def row_detail(tables: dict[str, Table], name: str, row: int, run: Path | None) -> dict:
    """Everything the row view shows for row `row` of table `name` (texts already escaped HTML)."""
    table = tables[name]
    record = query.fetch(table, [row])[row]
    hits = _hits_of(run, record) if run else []
    out = {"table": name, "row": row, "fields": {k: _plain(record[k]) for k in SMALL_FIELDS if k in record},
           "json": {k: _parsed(record[k]) for k in JSON_FIELDS if record.get(k)},
           "html": {}, "lengths": {}, "hits": [_hit_view(h) for h in hits]}
    for field in TEXT_FIELDS:
        if record.get(field) is not None:
            spans = [span for h in hits if h["field"] == field for span in _row_spans(h)]
            out["html"][field] = text_html(record[field], spans)
            out["lengths"][field] = len(record[field])
    for field, value in record.items():  # another file's columns: long strings as texts
        if field not in out["fields"] and field not in out["json"] and field not in TEXT_FIELDS + ("messages",):
            if isinstance(value, str) and len(value) > 120:
                out["html"][field], out["lengths"][field] = text_html(value), len(value)
            else:
                out["fields"][field] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    if record.get("messages"):
        out["messages"] = [{"role": m.get("role"), "html": text_html(m.get("content"))} for m in record["messages"]]
    out["siblings"] = _siblings(table, record, row)
    out["cluster"] = _cluster(table, record) if "dup_of" in record else []
    return out


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _parsed(text: str):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _siblings(table: Table, record: dict, row: int) -> list[dict]:
    """The other samples of the same problem, with their verdicts and answers (escaped HTML)."""
    if not record.get("id"):
        return []
    others = [r for r in query.find(table, "id", record["id"]) if r[query.ROW] != row]
    answers = query.fetch(table, [r[query.ROW] for r in others], ["answer"])
    for other in others:
        other["answer_html"] = text_html((answers[other[query.ROW]].get("answer") or "")[:4000])
    return others


def _cluster(table: Table, record: dict) -> list[dict]:
    """The rows of the row's dedup cluster: its keeper (`dup_of`) and every row marked with it."""
    keeper = record.get("dup_of") or record.get("id")
    members = query.find(table, "dup_of", keeper)
    if not members:
        return []
    return query.find(table, "id", keeper) + members


def _row_spans(hit: dict) -> list[tuple[int, int]]:
    start = hit.get("excerpt_start", 0)
    return [(start + a, start + b) for a, b in hit.get("excerpt_spans", [])]


def _hit_view(hit: dict) -> dict:
    item = hit.get("item_problem") or ""
    return {"benchmark": hit.get("benchmark"), "item_id": hit.get("item_id"), "field": hit.get("field"),
            "kind": hit.get("kind"), "share": hit.get("share"),
            "item_html": text_html(item, [tuple(s) for s in hit.get("item_spans", [])])}


def _hits_of(run: Path, record: dict) -> list[dict]:
    key = record.get("trace_id") or f"{record.get('id')}#{record.get('sample_idx')}"
    return _hit_index(str(run)).get(key, [])


@lru_cache(maxsize=4)
def _hit_index(run: str) -> dict[str, list[dict]]:
    """Decontam report hits by trace (every `reports/decontam*.json` of the run), read once."""
    index: dict[str, list[dict]] = {}
    for path in sorted(RunDir(run).reports.glob("decontam*.json")):
        try:
            hits = json.loads(path.read_text()).get("hits", [])
        except (OSError, ValueError):
            continue
        for hit in hits:
            key = hit.get("trace_id") or f"{hit.get('row_id')}#{hit.get('sample_idx')}"
            index.setdefault(key, []).append(hit)
    return index


def trace_path(tables: dict[str, Table], trace_id: str) -> list[dict]:
    """Where one trace went: per stage folder kept or rejected (with the reason), and published."""
    steps = []
    for name, table in tables.items():
        if table.role in ("stage", "dropped", "published") and table.kind == "parquet":
            steps += _steps(table, trace_id, name, {"stage": "kept"}.get(table.role, table.role))
    return sorted(steps, key=lambda s: (s["status"] == "published", s["stage"]))


def _steps(table: Table, trace_id: str, name: str, status: str) -> list[dict]:
    frame = query.scan(table)
    schema = query.columns(frame)
    if "trace_id" not in schema:
        return []
    wanted = [c for c in ("verdict", "dup_of", "contaminated", "reject_stage", "reject_reason") if c in schema]
    found = frame.filter(pl.col("trace_id") == trace_id).select([query.ROW] + wanted)
    found = found.collect(engine=query.ENGINE).to_dicts()
    # a reject's stage is the folder it lies in (`reject_stage` holds the stage's name only)
    return [{"stage": Path(query.locate(table, r[query.ROW])[0]).parent.name if status == "dropped" else name,
             "status": status, "table": name, **{k: _plain(v) for k, v in r.items()}} for r in found]
