"""Write the evaluation result: RUN/eval.json, RUN/eval.md (a model-card table), RUN/eval.html.

The Markdown table has one row per model and slice with pass@1, pass@k at the largest k and
maj@k at the largest k (each with its interval), distinct answers, tokens per sample and the
truncation rate; warnings follow as a list. The HTML report has the house look of the run report
(the same header, cards and tables), the same table, the pass@k curves of every model (drawn by
`curate.publish.plots.line_chart`, embedded as PNG) per slice, per benchmark and domain tables,
and the cost of each model.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

SLICES = ("all", "fresh", "clean", "contaminated")


def write_outputs(result: dict[str, Any], run_dir: Path) -> dict[str, Path]:
    from curate.rundir import write_json_atomic

    run_dir = Path(run_dir)
    paths = {"json": run_dir / "eval.json", "md": run_dir / "eval.md", "html": run_dir / "eval.html"}
    write_json_atomic(paths["json"], result)
    paths["md"].write_text(markdown(result), encoding="utf-8")
    paths["html"].write_text(render_html(result), encoding="utf-8")
    return paths


def record_in_training_run(result: dict[str, Any], train: str | Path) -> Path | None:
    """When the training set is a curate run, leave it a summary of this check (its card shows it
    when regenerated): the eval set, how many items its data contains, pass@1 clean vs contaminated."""
    from curate.rundir import RunDir, write_json_atomic

    if not RunDir.is_run(train):
        return None
    contamination = result["contamination"]
    summary = {"eval": result["name"], "eval_set": result["eval_set"], "ngram": contamination["ngram"],
               "contaminated": contamination["contaminated"], "items": sorted(contamination["items"]),
               "pass@1": {name: {part: (res.get(part) or {}).get("pass@k", {}).get("1", {}).get("value")
                                 for part in ("clean", "contaminated")} for name, res in result["results"].items()}}
    path = RunDir(train).eval_checks / f"{result['name']}.json"
    write_json_atomic(path, summary)
    return path


def _ci(est: dict | None) -> str:
    if not est:
        return "–"
    return f"{100 * est['value']:.1f} [{100 * est['low']:.1f}, {100 * est['high']:.1f}]"


def _num(value, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """Model, slice, problems, pass@1, pass@n, maj@n, distinct answers, tokens, truncation."""
    rows = []
    for model, res in result["results"].items():
        for name in SLICES:
            if name not in res:
                continue
            s = res[name]
            k = str(s["n"])
            rows.append([model, name, str(s["problems"]), _ci(s["pass@k"].get("1")), _ci(s["pass@k"].get(k)),
                         _ci(s["maj@k"].get(k)), _num(s["diversity"].get("distinct_answers"), 2),
                         _num(s["tokens_per_sample"]), _num(100 * s["truncation_rate"] if s["truncation_rate"]
                                                            is not None else None)])
    return rows


def table_header(result: dict[str, Any]) -> list[str]:
    n = result["n"]
    return ["model", "slice", "problems", "pass@1 %", f"pass@{n} %", f"maj@{n} %", "distinct answers",
            "tokens/sample", "truncated %"]


def markdown(result: dict[str, Any]) -> str:
    level = int(round(100 * result["settings"]["level"]))
    lines = [f"### Evaluation: {result['name']}", "",
             f"{result['eval_set']['problems']} problems, n = {result['n']} samples per problem; "
             f"[{level}% bootstrap intervals over problems]"
             + (f"; fresh = dated after {result['settings']['after']}" if result["settings"]["after"] else ""),
             "", "| " + " | ".join(table_header(result)) + " |",
             "|" + "---|" * len(table_header(result))]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(result)]
    if result["warnings"]:
        lines += [""] + [f"- **Warning:** {w['message']}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"


def curve_png(result: dict[str, Any], slice_name: str, metric: str = "pass@k") -> bytes | None:
    from curate.publish.plots import line_chart

    series = {}
    for model, res in result["results"].items():
        est = res.get(slice_name, {}).get(metric, {})
        series[model] = [(int(k), e["value"], e["low"], e["high"]) for k, e in est.items()]
    return line_chart(series, title=f"{metric} ({slice_name})", ylabel=metric)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def group_rows(result: dict[str, Any], key: str) -> list[list[str]]:
    rows = []
    for model, res in result["results"].items():
        for group, s in res[f"by_{key}"].items():
            k = str(s["n"])
            rows.append([model, group, str(s["problems"]), _ci(s["pass@k"].get("1")), _ci(s["pass@k"].get(k)),
                         _ci(s["maj@k"].get(k)), _num(s["diversity"].get("distinct_ngrams"), 3),
                         _num(s["diversity"].get("pairwise_similarity"), 3)])
    return rows


def cost_rows(result: dict[str, Any]) -> list[list[str]]:
    return [[m["name"], m["backend"], m.get("cost", {}).get("teacher") or m["model"],
             _num(m["cost"]["engine_seconds"]), _num(m["cost"]["device_seconds"]),
             f"{m['cost']['prompt_tokens']:,}", f"{m['cost']['completion_tokens']:,}"] for m in result["models"]]


def render_html(result: dict[str, Any]) -> str:
    first = next(iter(result["results"].values()))
    curves = "".join(f"<div class='plot'>{_img(curve_png(result, s, m), f'{m} {s}')}</div>"
                     for s in SLICES if s in first for m in ("pass@k", "maj@k"))
    warnings = "".join(f"<div class='warn'>{html.escape(w['message'])}</div>" for w in result["warnings"])
    n = result["n"]
    group_header = ["model", "group", "problems", "pass@1 %", f"pass@{n} %", f"maj@{n} %",
                    "distinct n-grams", "pairwise similarity"]
    sections = [
        ("Side by side", warnings + _table(table_header(result), table_rows(result))),
        ("Curves", curves),
        ("By benchmark", _table(group_header, group_rows(result, "benchmark"))),
        ("By domain", _table(group_header, group_rows(result, "domain"))),
        ("Cost", _table(["model", "backend", "teacher", "engine s", "device s", "prompt tokens",
                         "completion tokens"], cost_rows(result))),
        ("Result JSON", f"<details><summary>eval.json</summary><pre>{html.escape(json.dumps(result, indent=1))}"
                        "</pre></details>"),
    ]
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{c}</section>" for t, c in sections)
    title = f"curate eval: {html.escape(result['name'])}"
    subtitle = html.escape(f"{result['eval_set']['problems']} problems · n = {n} · baseline "
                           f"{result['baseline']} · {len(result['models'])} model(s)")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}</style></head>
<body><header><h1>{title}</h1><p>{subtitle}</p></header><main>{body}</main></body></html>
"""


CSS = """
:root { --ink:#1f2430; --muted:#6b7280; --line:#e5e7eb; --bg:#f7f8fb; --card:#fff; --red:#e8590c; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:linear-gradient(120deg,#364fc7,#4c6ef5 60%,#748ffc); color:#fff; padding:28px 40px 22px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:650; }
header p { margin:0; opacity:.85; }
main { padding:24px 40px; max-width:1200px; }
section { background:var(--card); border:1px solid var(--line); border-radius:10px;
          padding:16px 20px; margin:0 0 20px; }
h2 { margin:0 0 12px; font-size:17px; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:5px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:600; }
.warn { border-left:4px solid var(--red); background:#fff4e6; padding:8px 12px; margin:0 0 12px; }
.plot img { max-width:100%; }
pre { white-space:pre-wrap; font-size:12px; }
"""
