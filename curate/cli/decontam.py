"""`curate decontaminate` (a standalone report on any dataset) and `curate benchmarks`.

`curate decontaminate IN --benchmarks aime24,math500,./my_eval.jsonl --report DIR` reads IN (a
Parquet or JSONL file or folder, or a run directory), checks the chosen columns against the
benchmarks with the same index and matching as the `decontam` stage, and writes
DIR/decontam.{json,md,html}; `--output FILE.parquet` also writes IN with a `contaminated` column.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from curate.errors import CurateError

DEFAULT_FIELDS = {"problem": 8, "reasoning": 13, "answer": 13}
BATCH_ROWS = 8192


def parse_fields(values: tuple[str, ...]) -> dict[str, int]:
    """`--field question=8 --field generation=13` -> {"question": 8, "generation": 13}."""
    out: dict[str, int] = {}
    for value in values:
        name, sep, n = value.partition("=")
        if not sep or not n.strip().isdigit() or not 1 <= int(n) <= 64:
            raise CurateError(f"bad --field '{value}'", "Write COLUMN=N with N from 1 to 64, e.g. --field problem=8.")
        out[name.strip()] = int(n)
    return out


@click.command()
@click.argument("in_path", type=click.Path(exists=True))
@click.option("--benchmarks", "-b", required=True, metavar="A,B,...",
              help="Pack names (curate benchmarks list) and/or local .jsonl/.parquet files "
                   "(file.jsonl#problem=question,id=uid maps fields).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for decontam.json, decontam.md and decontam.html.")
@click.option("--field", "fields", multiple=True, metavar="COLUMN=N",
              help="Column to check and its n-gram size (repeatable). [default: problem=8 reasoning=13 answer=13, "
                   "those present]")
@click.option("--id-column", default="id", show_default=True,
              help="Column naming rows in the report (else row number).")
@click.option("--allowlist", multiple=True, metavar="PHRASE", help="Phrase whose n-grams never match (repeatable).")
@click.option("--allowlist-min-items", type=int, default=5, show_default=True,
              help="Ignore n-grams found in at least this many benchmark items; 0 = off.")
@click.option("--min-exact-words", type=int, default=3, show_default=True,
              help="Items shorter than n match by exact containment if they have this many words.")
@click.option("--min-score", type=float, default=0.3, show_default=True,
              help="A leak covers at least this information-weighted share of an item, and the whole item up to "
                   "its constants or a 16-word run of it; weaker matches are near.")
@click.option("--min-words", type=int, default=20, show_default=True,
              help="Also a leak: this many distinct item words (numbers aside) repeated, with a score of at least "
                   "min-score/2.")
@click.option("--min-grams", type=int, default=30, show_default=True,
              help="Also a leak: this many of the item's n-grams repeated word for word.")
@click.option("--near/--no-near", "report_near", default=True, show_default=True,
              help="List near matches (below the thresholds, not flagged) in the report.")
@click.option("--max-report-hits", type=int, default=100_000, show_default=True, help="Hits listed in the report.")
@click.option("--output", type=click.Path(dir_okay=False), help="Also write IN with a `contaminated` column (Parquet).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="datasets cache folder for Hub benchmarks.")
def decontaminate(in_path, benchmarks, report_dir, fields, id_column, allowlist, allowlist_min_items,
                  min_exact_words, min_score, min_words, min_grams, report_near, max_report_hits, output, cache_dir):
    """Report which rows of IN contain benchmark items, with every hit and its matched span."""
    from curate.cli.inspect import read_any
    from curate.decontam.index_build import build_index
    from curate.decontam.loaders import resolve_selections
    from curate.decontam.report import build_report, write_reports
    from curate.stages.decontam import scan_table

    table = read_any(in_path)
    chosen = parse_fields(fields) if fields else {k: v for k, v in DEFAULT_FIELDS.items() if k in table.column_names}
    missing = [c for c in chosen if c not in table.column_names]
    if missing or not chosen:
        raise CurateError(f"{in_path}: no column {missing or list(DEFAULT_FIELDS)} to check",
                          f"Columns: {', '.join(table.column_names)}. Choose with --field COLUMN=N.")
    items, described = resolve_selections(benchmarks, base_dir=Path.cwd(), cache_dir=cache_dir)
    index = build_index(items, described, set(chosen.values()), allowlist=list(allowlist),
                        allowlist_min_items=allowlist_min_items, min_exact_words=min_exact_words)
    stats: dict = {}
    found: list[set[str]] = []
    for start in range(0, table.num_rows, BATCH_ROWS):
        found += scan_table(index, table.slice(start, BATCH_ROWS), fields=chosen, min_score=min_score,
                            min_words=min_words, min_grams=min_grams, report_near=report_near,
                            max_report_hits=max_report_hits, id_column=id_column, stats=stats)
    counters = count_rows(found)
    settings = {"fields": chosen, "benchmarks": benchmarks.split(","), "allowlist": list(allowlist),
                "allowlist_min_items": allowlist_min_items, "min_exact_words": min_exact_words,
                "min_score": min_score, "min_words": min_words, "min_grams": min_grams,
                "report_near": report_near}
    report = build_report(index, settings, stats.get("decontam_hits", []), counters=counters,
                          items_hit=set(stats.get("items_hit", [])), hits_not_listed=stats.get("hits_not_listed", 0))
    paths = write_reports(report, Path(report_dir))
    if output:
        _write_annotated(table, found, Path(output))
    click.echo(summary_text(report))
    click.echo("Report: " + ", ".join(str(p) for p in paths))


def count_rows(found: list[set[str]]) -> dict[str, int]:
    """rows_checked, rows_contaminated and rows_contaminated:<benchmark> counters."""
    counters = Counter({"rows_checked": len(found), "rows_contaminated": sum(1 for f in found if f)})
    for keys in found:
        for bench in {k.split(":", 1)[0] for k in keys}:
            counters[f"rows_contaminated:{bench}"] += 1
    return dict(counters)


def summary_text(report: dict) -> str:
    s = report["summary"]
    lines = [(f"{s['rows_contaminated']} of {s['rows_checked']} rows contain benchmark items "
             f"({s['items_hit']} items hit, {s.get('templates_listed', 0)} template copies listed; "
             f"{s.get('near_listed', 0)} near matches listed, not flagged; pack {report['pack_version']})")]
    for b in report["benchmarks"]:
        lines.append(f"  {b['name']:<16} {b['rows_hit']:>7} rows hit {b['items_hit']:>5} of {b.get('items', '?')} items"
                     f"  revision {b.get('revision', '?')}")
    return "\n".join(lines)


def _write_annotated(table, found: list[set[str]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = pa.array([sorted(f) for f in found], pa.list_(pa.string()))
    if "contaminated" in table.column_names:
        table = table.drop_columns(["contaminated"])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.append_column("contaminated", column), path)


@click.group()
def benchmarks():
    """The benchmark pack decontamination checks against."""


@benchmarks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_benchmarks(as_json):
    """List the pack's benchmarks with their Hub ids and pinned revisions."""
    from curate.decontam.pack import PACK, PACK_VERSION

    if as_json:
        click.echo(json.dumps({"pack_version": PACK_VERSION, "benchmarks": [s.describe() for s in PACK.values()]},
                              indent=2))
        return
    click.echo(f"benchmark pack {PACK_VERSION}")
    click.echo(f"{'name':<15}{'hub dataset':<38}{'split':<7}{'revision':<14}{'released':<10}license")
    for s in PACK.values():
        click.echo(f"{s.name:<15}{s.hub_id:<38}{s.split:<7}{s.revision[:12]:<14}{s.release_date:<10}{s.license}")
    click.echo("\nAlso accepted: local .jsonl/.parquet files (fields id, problem, answer; map with "
               "file.jsonl#problem=question).")


@benchmarks.command("show")
@click.argument("name")
def show_benchmark(name):
    """Show one benchmark's spec: Hub id, config, split, revision, fields, license, versions."""
    from curate.decontam.pack import PACK_VERSION
    from curate.decontam.select import lookup as get_spec

    spec = get_spec(name)
    click.echo(json.dumps({"pack_version": PACK_VERSION, **spec.describe()}, indent=2))


@benchmarks.command("fetch")
@click.argument("names")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="datasets cache folder.")
def fetch_benchmarks(names, cache_dir):
    """Download NAMES (comma-separated) into the datasets cache, so later runs work offline."""
    from curate.decontam.loaders import resolve_selections

    _, described = resolve_selections(names, cache_dir=cache_dir)
    for b in described:
        click.echo(f"{b['name']:<16} {b['items']:>6} items  revision {b.get('revision')}")
