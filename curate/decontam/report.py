"""The decontamination report: JSON for machines, Markdown, and one self-contained HTML page.

`build_report` turns hit records (from `curate.decontam.match.hit_record`) and the index's
benchmark descriptions into one dict: the pack version and every benchmark's revision, the
settings, per benchmark how many rows hit how many items, and every hit (row id, field, item,
share of the item's n-grams matched, matched spans). Hits are sorted, and the report holds no
timestamps, so the same data gives the same bytes. The HTML page inlines its CSS and uses no
script, fonts or images, so it renders offline; matched spans are `<mark>`ed in both the
training text excerpt and the benchmark item.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from curate.decontam.pack import PACK_VERSION

SORT_KEY = ("verdict", "benchmark", "item_id", "row_id", "trace_id", "field")


def build_report(index, settings: dict[str, Any], hits: list[dict], *, counters: dict[str, int],
                 items_hit: set[str] | None = None, hits_not_listed: int = 0) -> dict[str, Any]:
    """The report as one JSON-able dict."""
    hits = sorted(hits, key=lambda h: tuple(str(h.get(k)) for k in SORT_KEY))
    leaks = [h for h in hits if h.get("verdict", "leak") == "leak"]
    items_hit = set(items_hit or ()) | {f"{h['benchmark']}:{h['item_id']}" for h in leaks}
    per_bench = []
    for bench in index.benchmarks:
        name = bench["name"]
        rows = {h["row_id"] for h in leaks if h["benchmark"] == name}
        per_bench.append({**bench, "items_hit": sum(1 for k in items_hit if k.split(":", 1)[0] == name),
                          "rows_hit": counters.get(f"rows_contaminated:{name}", len(rows)),
                          "hits_listed": sum(1 for h in leaks if h["benchmark"] == name),
                          "near_listed": sum(1 for h in hits if h["benchmark"] == name and h not in leaks)})
    return {
        "report": "decontam", "pack_version": PACK_VERSION,
        "settings": {k: v for k, v in settings.items() if k not in ("base_dir", "cache_dir")},
        "summary": {"rows_checked": counters.get("rows_checked", 0),
                    "rows_contaminated": counters.get("rows_contaminated", 0),
                    "items_hit": len(items_hit), "hits_listed": len(leaks), "near_listed": len(hits) - len(leaks),
                    "templates_listed": sum(1 for h in leaks if h.get("kind") == "template"),
                    "hits_not_listed": hits_not_listed},
        "benchmarks": per_bench, "hits": hits,
    }


def write_reports(report: dict[str, Any], folder: Path, *, name: str = "decontam") -> list[Path]:
    """Write NAME.json, NAME.md and NAME.html into `folder`; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in ("json", "md", "html")]
    paths[0].write_text(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    paths[1].write_text(to_markdown(report), encoding="utf-8")
    paths[2].write_text(to_html(report), encoding="utf-8")
    return paths


# ---------------------------------------------------------------- Markdown


def _marked(text: str, spans: list[list[int]], open_: str, close: str, escape=lambda s: s) -> str:
    out, last = [], 0
    for a, b in sorted(spans):
        a = max(a, last)
        if b <= a:
            continue
        out += [escape(text[last:a]), open_, escape(text[a:b]), close]
        last = b
    out.append(escape(text[last:]))
    return "".join(out)


def to_markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    lines = [
        "# Decontamination report", "",
        f"Benchmark pack {report['pack_version']}. Rows checked: {s['rows_checked']}; contaminated rows: "
        f"{s['rows_contaminated']}; benchmark items hit: {s['items_hit']}; hits listed: {s['hits_listed']}"
        + (f" ({s['hits_not_listed']} more not listed)" if s["hits_not_listed"] else "") + ".", "",
        "| benchmark | revision | items | items hit | rows hit |", "| --- | --- | ---: | ---: | ---: |",
    ]
    for b in report["benchmarks"]:
        lines.append(f"| {b['name']} | `{b.get('revision', '')}` | {b.get('items', '')} "
                     f"| {b['items_hit']} | {b['rows_hit']} |")
    fields = report["settings"].get("fields", {})
    lines += ["", "Settings: " + ", ".join(f"{k} n={v}" for k, v in fields.items()) +
              f"; allowlist_min_items={report['settings'].get('allowlist_min_items')}", ""]
    if report["hits"]:
        lines += ["## Hits", "", "Matched text is marked ⟦like this⟧.", ""]
    for h in report["hits"]:
        lines += [f"### {h.get('verdict', 'leak')}: {h['benchmark']}:{h['item_id']} in row `{h['row_id']}` "
                  f"({h['field']})", "", "- " + _evidence(h), "",
                  "> " + _marked(h["excerpt"], h["excerpt_spans"], "⟦", "⟧").replace("\n", "\n> "), "",
                  "Benchmark item:", "",
                  "> " + _marked(h["item_problem"], h["item_spans"], "⟦", "⟧").replace("\n", "\n> "), ""]
    return "\n".join(lines) + "\n"


def _evidence(h: dict[str, Any]) -> str:
    """One line: kind, score, words and n-grams matched, changed numbers."""
    text = (f"{h['kind']} match, n={h['n']}, score {h.get('score', h['share']):.2f} (information-weighted share "
            f"of the item covered), {h.get('words', 0)} item words and {h.get('grams', 0)} distinct n-grams "
            f"matched, n-gram share {h['share']:.2f}")
    changed = h.get("changed_numbers") or []
    if changed:
        text += "; changed numbers: " + ", ".join(f"{a} -> {b}" for a, b in changed)
    return text


# ---------------------------------------------------------------- HTML

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:70em;\
color:#1d1d1f;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}td.n{text-align:right}
.hit{border:1px solid #ddd;border-radius:6px;margin:1em 0;padding:.6em 1em}
.hit h3{font-size:1em;margin:.2em 0}.meta{color:#555}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;border:1px solid #eee;padding:.6em;margin:.4em 0}
mark{background:#ffe066;padding:0 1px}.none{color:#2b8a3e;font-weight:600}code{font-size:.95em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def to_html(report: dict[str, Any]) -> str:
    s = report["summary"]
    rows = "".join(
        f"<tr><td>{_e(b['name'])}</td><td>{_e(b.get('hub_id') or b.get('path', ''))}</td>"
        f"<td><code>{_e(b.get('revision', ''))}</code></td><td class=n>{_e(b.get('items', ''))}</td>"
        f"<td class=n>{b['items_hit']}</td><td class=n>{b['rows_hit']}</td></tr>" for b in report["benchmarks"])
    more = f" ({s['hits_not_listed']} more not listed)" if s["hits_not_listed"] else ""
    head = (f"<h1>Decontamination report</h1><p>Benchmark pack <b>{_e(report['pack_version'])}</b>. "
            f"Rows checked: <b>{s['rows_checked']}</b>; contaminated rows: <b id=rows-contaminated>"
            f"{s['rows_contaminated']}</b>; benchmark items hit: <b>{s['items_hit']}</b>; hits listed: "
            f"<b>{s['hits_listed']}</b>{more}.</p>"
            "<table><tr><th>benchmark</th><th>source</th><th>revision</th><th>items</th><th>items hit</th>"
            f"<th>rows hit</th></tr>{rows}</table>"
            f"<p class=meta>Settings: <code>{_e(json.dumps(report['settings'], sort_keys=True))}</code></p>")
    body = "".join(_hit_html(h) for h in report["hits"]) or "<p class=none>No benchmark item was found.</p>"
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Decontamination report</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{CSS}</style></head><body>"
            f"{head}<h2>Hits</h2>{body}</body></html>\n")


def _hit_html(h: dict[str, Any]) -> str:
    extra = "".join(f" · {k} {_e(h[k])}" for k in ("trace_id", "sample_idx", "source") if h.get(k) is not None)
    return (f"<div class=hit data-benchmark='{_e(h['benchmark'])}' data-item='{_e(h['item_id'])}'>"
            f"<h3>{_e(h['benchmark'])}:{_e(h['item_id'])} in row <code>{_e(h['row_id'])}</code> "
            f"({_e(h['field'])}) · {_e(h.get('verdict', 'leak'))}</h3><div class=meta>{_e(_evidence(h))}{extra}</div>"
            f"<pre class=excerpt>{_marked(h['excerpt'], h['excerpt_spans'], '<mark>', '</mark>', _e)}</pre>"
            f"<div class=meta>Benchmark item</div>"
            f"<pre class=item>{_marked(h['item_problem'], h['item_spans'], '<mark>', '</mark>', _e)}</pre></div>")


# ---------------------------------------------------------------- the stage's stats behind the report


def merge_hit_stats(into: dict[str, Any], batch: dict[str, Any], max_report_hits: int) -> None:
    """Add one batch's report records to a part's, with `scan_table`'s list limits (a batch that
    dropped a record had at least as many listed itself, so the part would have dropped it too)."""
    records = into.setdefault("decontam_hits", [])
    dropped = batch.get("hits_not_listed", 0)
    for record in batch.get("decontam_hits", []):
        if len(records) >= (max_report_hits if record["verdict"] == "leak" else max_report_hits // 2):
            dropped += 1
        else:
            records.append(record)
    if dropped:
        into["hits_not_listed"] = into.get("hits_not_listed", 0) + dropped
    if "items_hit" in batch or "items_hit" in into:
        into["items_hit"] = sorted(set(into.get("items_hit", [])) | set(batch.get("items_hit", [])))


def prepare_stats(index) -> dict[str, Any]:
    """What the manifest shows for the stage's prepare phase."""
    return {"pack_version": PACK_VERSION, "items": len(index.items),
            "benchmarks": [{k: b.get(k) for k in ("name", "revision", "items", "version")} for b in index.benchmarks],
            "allowlisted_ngrams": {str(n): ix.allowlisted for n, ix in index.by_n.items()}}


def collect_part_stats(markers: list[Path]) -> tuple[list[dict], dict[str, int], set[str], int]:
    """(hit records, summed counters, item keys hit, hits not listed) from the part markers."""
    hits: list[dict] = []
    counters: dict[str, int] = {}
    items_hit: set[str] = set()
    dropped = 0
    for marker in markers:
        data = json.loads(marker.read_text())
        stats = data.get("stats", {})
        hits.extend(stats.get("decontam_hits", []))
        items_hit.update(stats.get("items_hit", []))
        dropped += stats.get("hits_not_listed", 0)
        for key, value in data.get("counters", {}).items():
            counters[key] = counters.get(key, 0) + value
    return hits, counters, items_hit, dropped
