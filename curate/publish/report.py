"""`curate report RUN`: one self-contained HTML page about a run.

The page needs no network: CSS is inline and the charts (matplotlib, imported only here) are
inline SVG. It shows the stage funnel (rows in and out per stage, and the reasons rows left),
token-length and verdict plots, sample traces per verdict, rejected examples per reason,
contamination hits and dedup clusters (from the stage outputs' `contaminated` / `dup_of`
columns, plus RUN/reports/decontam.json and dedup.json when those stages wrote them).

Samples are picked in two passes, so a large run is never read whole: a first pass reads one
small column to choose rows, a second reads only the files that hold them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.publish import card_facts as cf
from curate.publish.cost import compute_cost
from curate.publish.plots import cluster_chart, funnel_chart
from curate.rundir import RunDir
from curate.storage.parquet_files import read_parquet
from curate.text.chart_process import draw

TEMPLATE = Path(__file__).with_name("report.html.j2")
TEXT_COLUMNS = ["trace_id", "id", "source", "domain", "problem", "reasoning", "answer", "verdict",
                "verify_detail", "finish_reason", "completion_tokens", "dup_of", "contaminated", "reference"]


def write_report(run_dir: Path, *, output: Path | None = None, samples: int = 2, viewer: str | None = None) -> Path:
    """Render RUN/reports/report.html (or `output`); returns the path."""
    html = render_report(run_dir, samples=samples, viewer=viewer)
    path = output or RunDir(run_dir).reports / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def render_report(run_dir: Path, *, samples: int = 2, viewer: str | None = None) -> str:
    """The page; `viewer` (the address of a running `curate view RUN`) links each sample to its row."""
    import jinja2
    from markupsafe import Markup

    from curate.text.html import pygments_css, text_html
    from curate.text.palette import verdict_css

    rd = RunDir(run_dir)
    manifest = rd.read_manifest()
    if not manifest.get("stages"):
        from curate.errors import CurateError

        raise CurateError(f"{run_dir} has no manifest with finished stages.",
                          "Run a recipe first: curate run RECIPE --run-dir RUN.")
    context = gather(run_dir, manifest, samples)
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v
    env.filters["short"] = lambda v, n=400: (v if len(v) <= n else v[: n - 1] + "…") if isinstance(v, str) else v
    # model output: escaped, code highlighted, math as MathML (the page carries no script)
    env.filters["rich"] = lambda v: Markup(text_html(v, math=True)) if isinstance(v, str) else v
    context["code_css"] = Markup(pygments_css())
    context["verdict_css"] = Markup(verdict_css(".chip"))
    env.filters["viewer_link"] = lambda trace_id: viewer_link(viewer, trace_id)
    context["viewer"] = viewer
    context["funnel_svg"] = Markup(context["funnel_svg"] or "")
    context["clusters_svg"] = Markup(context["clusters_svg"] or "")
    for plot in context["plots"]:
        plot["svg"] = Markup(plot["svg"])
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(**context)


def viewer_link(viewer: str, trace_id: str) -> str:
    """The viewer's deep link to a trace's row. A token in `viewer` (the URL `curate view` printed)
    is kept: a page opened from a file is another site to the viewer, so its SameSite cookie does
    not travel with the click, and without the token the viewer answers 403."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(viewer)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k == "token"]
    query += [("table", "everything"), ("trace", trace_id)]
    return urlunsplit((parts.scheme, parts.netloc, "/", urlencode(query), ""))


def gather(run_dir: Path, manifest: dict, samples: int) -> dict[str, Any]:
    """Everything the page shows."""
    stages = cf.ordered_stages(manifest)
    before = cf.stages_before_write(manifest)
    funnel = cf.funnel(run_dir, stages)
    for row, stage in zip(funnel, stages):
        row["seconds"] = stage.get("wall_seconds")
    rd = RunDir(run_dir)
    rejected = rd.rejected_parts()
    dataset = rd.dataset
    files = dataset_files(dataset)
    published = [dataset / f for names in files.values() for f in names]
    last_parts = cf.stage_parts(run_dir, before[-1], published) if before else []
    # the charts first: in the chart helper (when one runs) they are drawn while the rest is gathered
    lengths = cf.token_lengths(dataset, files) if files else None
    bars = cf.verdict_bars(cf.verdicts(run_dir, before), cf.published_verdicts(published))
    drawings = [(title, draw(fn, *args, **kwargs)) for title, fn, args, kwargs in
                chart_calls(run_dir, funnel, lengths, bars)]
    charts = {"funnel_svg": drawings[0][1], "clusters_svg": drawings[1][1], "plots": drawings[2:]}
    context = {
        "recipe": manifest.get("recipe", run_dir.name), "seed": manifest.get("seed"),
        "run_name": run_dir.name, "funnel": funnel,
        "kpis": kpis(funnel, files, dataset) + cost_kpis(run_dir, before, files, dataset),
        "verdict_samples": by_key(last_parts + rejected, "verdict", samples),
        "rejected_samples": rejected_samples(rejected, samples),
        "contamination": contamination_rows(run_dir, before), "decontam_report": report_json(run_dir, "decontam"),
        "clusters": dedup_clusters(run_dir, before), "dedup_report": report_json(run_dir, "dedup"),
        "mix": cf.mix(before), "verdicts": cf.verdicts(run_dir, before),
        "pass_at_k": cf.pass_at_k(run_dir, before, published),
        "tokens": cf.token_stats(dataset, files) if files else {},
    }
    return {**context, "funnel_svg": charts["funnel_svg"].result(), "clusters_svg": charts["clusters_svg"].result(),
            "plots": [{"title": t, "svg": svg} for t, drawing in charts["plots"] if (svg := drawing.result())]}


def kpis(funnel: list[dict], files: dict, dataset: Path) -> list[tuple[str, str]]:
    rows = sum(pq.ParquetFile(dataset / f).metadata.num_rows for names in files.values() for f in names)
    first = funnel[0]["rows_out"] if funnel else 0
    return [("rows loaded", f"{first:,}"), ("rows rejected", f"{sum(s['rejected'] for s in funnel):,}"),
            ("stages", str(len(funnel))), ("dataset files", str(sum(len(v) for v in files.values()))),
            ("rows in dataset files", f"{rows:,}")]


def cost_kpis(run_dir: Path, stages: list[dict], files: dict, dataset: Path) -> list[tuple[str, str]]:
    """Device-hours of generate per thousand accepted traces (rows in dataset/), GPU or CPU."""
    rows = sum(pq.ParquetFile(dataset / f).metadata.num_rows for names in files.values() for f in names)
    out = []
    for c in compute_cost(run_dir, stages, rows):
        out.append((f"{c['device']}-hours of generate", f"{c['hours']:g}"))
        if c["per_thousand"] is not None:
            out.append((f"{c['device']}-hours per 1k accepted traces", f"{c['per_thousand']:g}"))
    return out


def dataset_files(dataset: Path) -> dict[str, list[str]]:
    """{config: its Parquet files under dataset/, relative}."""
    if not dataset.exists():
        return {}
    return {p.name: sorted(f"{p.name}/{f.name}" for f in p.glob("*.parquet"))
            for p in sorted(dataset.iterdir()) if p.is_dir() and any(p.glob("*.parquet"))}


def chart_calls(run_dir: Path, funnel: list[dict], lengths: dict | None, bars: dict) -> list[tuple]:
    """The page's charts as [(title, fn, args, kwargs)]: the funnel, dedup's clusters, the
    token lengths (None: no dataset files) and the verdict bars, as inline SVG. The funnel chart
    gets only what it draws, so a stage's timing (the last stage's changes after its finalize)
    is no input."""
    from curate.publish.plots import token_histogram, verdict_chart

    rows = [{"dir": s["dir"], "rows_out": s.get("rows_out", 0), "rejected": s.get("rejected", 0)} for s in funnel]
    calls = [("funnel", funnel_chart, (rows,), {}),
             ("clusters", cluster_chart, ((read_report(run_dir, "dedup") or {}).get("cluster_sizes"),), {})]
    if lengths is not None:
        calls.append(("Tokens per row, by config", token_histogram, (lengths,), {"fmt": "svg"}))
    calls.append(("Verdicts: verified traces and published rows", verdict_chart, (bars,),
                  {"title": "Verdicts by domain", "fmt": "svg"}))
    return calls


def draw_ahead(run_dir: Path, lengths: dict | None, verified: dict, published: dict) -> None:
    """Start the page's charts in the chart helper now, if one runs. The card calls this when
    the run's last stage is done, with what it read of the dataset it is writing (token
    lengths, None without files; verify's and the dataset's verdict counts), so nothing is read
    twice and `curate run`'s report finds its charts drawn or on the way (`chart_process.ahead`).
    A chart whose inputs differ when the report asks is drawn again."""
    from curate.text import chart_process

    if not chart_process.started():
        return
    stages = cf.ordered_stages(RunDir(run_dir).read_manifest())  # the funnel chart's rows, as `cf.funnel` has them
    for _, fn, args, kwargs in chart_calls(run_dir, stages, lengths, cf.verdict_bars(verified, published)):
        chart_process.ahead(fn, *args, **kwargs)


# ---------------------------------------------------------------- row samples


def by_key(paths: list[Path], column: str, n: int, extra: list[str] = ()) -> dict[str, list[dict]]:
    """Up to n rows per value of `column` over the files, in file order (two passes)."""
    picks: dict[str, list[tuple[Path, int]]] = {}
    for path in paths:
        schema = pq.read_schema(path)
        if column not in schema.names:
            continue
        values = read_parquet(path, columns=[column])[column].to_pylist()
        for i, value in enumerate(values):
            key = value if isinstance(value, str) else ("not verified" if value is None else json.dumps(value))
            if key and len(picks.setdefault(key, [])) < n:
                picks[key].append((path, i))
    wanted = [c for c in TEXT_COLUMNS + list(extra)]
    out: dict[str, list[dict]] = {}
    cache: dict[Path, pa.Table] = {}
    for key, spots in sorted(picks.items()):
        for path, i in spots:
            if path not in cache:
                names = pq.read_schema(path).names
                cache[path] = read_parquet(path, columns=[c for c in wanted + ["messages"] if c in names])
            row = _with_turns(cache[path].slice(i, 1).to_pylist()[0])
            row["origin"] = path.parent.name
            out.setdefault(key, []).append(row)
    return out


def _with_turns(row: dict) -> dict:
    """A published row (training view) gets its reasoning and answer back from the assistant
    turn, so samples read from dataset/ show the same fields as samples from a stage's parts."""
    messages = row.pop("messages", None)
    if messages and "reasoning" not in row:
        from curate.schema import split_reasoning

        reply = next((m["content"] for m in reversed(messages) if m["role"] == "assistant"), None)
        row["reasoning"], row["answer"] = split_reasoning(reply)
    return row


def rejected_samples(paths: list[Path], n: int) -> list[dict]:
    """Per stage and reason: count and up to n example rows."""
    out = []
    for stage_dir in sorted({p.parent for p in paths}):
        files = RunDir.parts(stage_dir)
        counts = Counter()
        for f in files:
            counts.update(read_parquet(f, columns=["reject_reason"])["reject_reason"].to_pylist())
        examples = by_key(files, "reject_reason", n)
        for reason, count in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))):
            out.append({"stage": stage_dir.name, "reason": reason, "count": count, "rows": examples.get(reason, [])})
    return out


def contamination_rows(run_dir: Path, stages: list[dict], limit: int = 50) -> list[dict]:
    stage = cf.find_stage(stages, "decontam")
    if stage is None:
        return []
    rows = []
    for path in cf.stage_parts(run_dir, stage):
        table = read_parquet(path, columns=["trace_id", "domain", "problem", "contaminated"])
        hit = table.filter(pc.fill_null(pc.greater(pc.list_value_length(table["contaminated"]), 0), False))
        rows += hit.to_pylist()
        if len(rows) >= limit:
            break
    return rows[:limit]


def dedup_clusters(run_dir: Path, stages: list[dict], limit: int = 20) -> list[dict]:
    """The largest clusters: the kept row's problem and its duplicates' problems."""
    stage = cf.find_stage(stages, "dedup")
    if stage is None:
        return []
    parts = cf.stage_parts(run_dir, stage)
    table = cf.read_columns(parts, ["id", "trace_id", "problem", "dup_of", "domain"])
    if table is None or "dup_of" not in table.column_names:
        return []
    dups = table.filter(pc.is_valid(table["dup_of"])).to_pylist()
    groups: dict[str, list[dict]] = {}
    for row in dups:
        groups.setdefault(row["dup_of"], []).append(row)
    problems = {}
    for row in table.select(["id", "trace_id", "problem"]).to_pylist():
        problems.setdefault(row["trace_id"], row["problem"])
        problems.setdefault(row["id"], row["problem"])
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
    return [{"keeper": k, "keeper_problem": problems.get(k), "members": v} for k, v in ranked]


INVALID: dict[str, Any] = {}  # read_report's answer for a file that is not JSON


def read_report(run_dir: Path, name: str) -> dict[str, Any] | None:
    """RUN/reports/NAME.json as written (None when absent, INVALID when not JSON)."""
    path = RunDir(run_dir).reports / f"{name}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return INVALID


def report_json(run_dir: Path, name: str) -> dict[str, Any] | None:
    """A stage's JSON report, summarised: scalar top-level entries and a pretty-printed excerpt."""
    data = read_report(run_dir, name)
    if data is None:
        return None
    if data is INVALID:
        return {"summary": {}, "excerpt": f"{name}.json is not valid JSON"}
    summary = {k: v for k, v in cf.flatten(data).items() if isinstance(v, (int, float, str)) and k.count(".") < 2}
    excerpt = json.dumps(data, indent=1, ensure_ascii=False, default=str)
    return {"summary": dict(list(summary.items())[:40]),
            "excerpt": excerpt if len(excerpt) < 20000 else excerpt[:20000] + "\n…"}
