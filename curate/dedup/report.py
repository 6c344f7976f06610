"""The dedup report: RUN/reports/dedup.md and dedup.json (`curate report` draws its cluster sizes).

It shows the parameters (including the bands x rows chosen), how many units and rows were
marked and why (exact or near), the cluster-size histogram, removals per source, and the
largest clusters with their members side by side (the kept one first), so a reviewer can see
at a glance whether the threshold is right. No timings go into it: it may be published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

TEXT_CHARS = 400
MEMBERS_SHOWN = 4


def report_paths(ctx: Any) -> tuple[Path, str]:
    """(folder, base name): reports/dedup, or reports/NN-dedup when an earlier dedup ran
    (`RunDir.report_target`); outside a run, the stage's artifacts."""
    if ctx.run_dir is None:
        return ctx.artifacts / "report", "dedup"
    target = ctx.rundir.report_target(ctx.stage_dir, "dedup")
    return target.parent, target.name


def histogram(members: pl.DataFrame) -> dict[int, int]:
    """Cluster size -> number of clusters."""
    sizes = members.group_by("cluster").len()["len"].value_counts().sort("len")
    return {int(size): int(count) for size, count in sizes.iter_rows()}


def per_source(seen: pl.DataFrame, members: pl.DataFrame) -> list[dict[str, Any]]:
    """Units and rows seen and marked per source (`seen`: source, units, rows of the current units)."""
    removed = members.lazy().filter(~pl.col("keeper") & ~pl.col("prior")).group_by("source").agg(
        removed_units=pl.len(), removed_rows=pl.col("rows").sum()).collect()  # lazy: the 4 columns used
    table = seen.join(removed, on="source", how="left").fill_null(0).sort("source", nulls_last=True)
    return table.to_dicts()


def largest(members: pl.DataFrame, top: int) -> list[pl.DataFrame]:
    """The `top` largest clusters (ties: by keeper key), keeper first, then by key."""
    sizes = members.group_by("cluster").len().sort(["len", "cluster"], descending=[True, False]).head(top)
    return [members.filter(pl.col("cluster") == c).sort(["keeper", "prior", "key"], descending=[True, True, False])
            for c in sizes["cluster"]]


def fetch_texts(clusters: list[pl.DataFrame], sig_files: list[Path]) -> dict[tuple[bool, str], str]:
    """(prior, key) -> the kept beginning of the text of every member shown."""
    from curate.dedup.units import unit_heads

    shown = pl.concat([c.head(MEMBERS_SHOWN) for c in clusters]) if clusters else None
    texts: dict[tuple[bool, str], str] = {}
    if shown is None:
        return texts
    kinds = {(Path(f).name.startswith("against-"), int(Path(f).stem.split("-")[-1])): f for f in sig_files}
    for (prior, part), group in shown.group_by(["prior", "part"], maintain_order=True):
        heads = unit_heads(kinds[(bool(prior), int(part))], group["pos"].to_list())
        texts.update(zip([(bool(prior), key) for key in group["key"].to_list()], heads))
    return texts


def write_report(ctx: Any, seen: pl.DataFrame, members: pl.DataFrame, stats: dict[str, Any], *,
                 sig_files: list[Path], top: int) -> Path:
    """Write the Markdown and JSON report; return the Markdown path."""
    folder, base = report_paths(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    clusters = largest(members, top)
    texts = fetch_texts(clusters, sig_files)
    columns = ["key", "prior", "keeper", "source", "length", "passes", "rows"]
    shown = [[{**m, "text": texts.get((m["prior"], m["key"]), "")[:TEXT_CHARS]}
              for m in c.head(MEMBERS_SHOWN).select(columns).to_dicts()] for c in clusters]
    public = {k: v for k, v in stats.items() if "second" not in k}
    data = {"stats": public, "cluster_sizes": histogram(members), "per_source": per_source(seen, members),
            "largest_clusters": [{"size": c.height, "kept": c["cluster"][0], "members": m}
                                 for c, m in zip(clusters, shown)]}
    (folder / f"{base}.json").write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    (folder / f"{base}.md").write_text(markdown(data))
    return folder / f"{base}.md"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def markdown(data: dict[str, Any]) -> str:
    s = data["stats"]
    lines = [
        "# Dedup report", "",
        (f"Field `{s['field']}` ({s['level']} level), {s['shingle']} {s['ngram']}-gram shingles, "
         f"Jaccard threshold {s['threshold']}, {s['num_perm']} permutations as {s['bands']} bands x "
         f"{s['rows']} rows."), "",
        "| | count |", "|---|---|",
        f"| units compared | {s['units']} |", f"| rows seen | {s['rows_seen']} |",
        f"| units in the earlier release (`against`) | {s['against_units']} |",
        f"| empty texts (not compared) | {s['empty_units']} |",
        f"| exact-duplicate units | {s['exact_duplicate_units']} |",
        f"| LSH candidate pairs | {s['candidate_pairs']} |", f"| near-duplicate pairs kept | {s['near_pairs']} |",
        f"| clusters | {s['clusters']} |", f"| units marked (`dup_of`) | {s['removed_units']} |",
        f"| rows marked (`dup_of`) | {s['removed_rows']} |", "",
        "## Cluster sizes", "",
    ]
    lines += ["| size | clusters |", "|---|---|"] + [f"| {k} | {v} |" for k, v in data["cluster_sizes"].items()]
    lines += ["", "## Per source", "", "| source | units | rows | units marked | rows marked |",
              "|---|---|---|---|---|"]
    lines += [f"| {_cell(r['source'])} | {r['units']} | {r['rows']} | {r['removed_units']} | {r['removed_rows']} |"
              for r in data["per_source"]]
    lines += ["", "## Largest clusters", ""]
    for i, cluster in enumerate(data["largest_clusters"], 1):
        members = cluster["members"]
        lines += [f"### {i}. {cluster['size']} units, kept `{_cell(cluster['kept'])}`", ""]
        lines.append("| " + " | ".join(_label(m) for m in members) + " |")
        lines.append("|" + "---|" * len(members))
        lines.append("| " + " | ".join(_cell(m["text"]) for m in members) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _label(member: dict[str, Any]) -> str:
    role = "kept" if member["keeper"] else ("earlier release" if member["prior"] else "marked")
    return f"`{_cell(member['key'])}` ({role}, {_cell(member['source'])}, {member['passes']} pass)"
