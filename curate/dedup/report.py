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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.text.arrow import bool_array, numbers, one_chunk, string_array, true_mask, valid_mask

TEXT_CHARS = 400
MEMBERS_SHOWN = 4


def report_paths(ctx: Any) -> tuple[Path, str]:
    """(folder, base name): reports/dedup, or reports/NN-dedup when an earlier dedup ran
    (`RunDir.report_target`); outside a run, the stage's artifacts."""
    if ctx.run_dir is None:
        return ctx.artifacts / "report", "dedup"
    target = ctx.rundir.report_target(ctx.stage_dir, "dedup")
    return target.parent, target.name


def cluster_sizes(members: pa.Table) -> pa.Table:
    """(cluster, count): members per cluster key. A hash count, not Arrow's group_by: that runs
    on Acero, whose import (pyarrow.dataset) imports pandas."""
    counted = pc.value_counts(members["cluster"])
    return pa.table({"cluster": counted.field("values"), "count": counted.field("counts")})


def histogram(members: pa.Table) -> dict[int, int]:
    """Cluster size -> number of clusters, by size."""
    sizes, counts = np.unique(numbers(cluster_sizes(members)["count"]), return_counts=True)
    return {int(size): int(count) for size, count in zip(sizes, counts)}


def per_source(seen: pa.Table, members: pa.Table) -> list[dict[str, Any]]:
    """Units and rows seen and marked per source (`seen`: source, units, rows of the current units),
    by source (units without a source last, as one row whose source is null)."""
    from curate.dedup.cluster import removed_mask

    gone = members.filter(bool_array(removed_mask(members)))
    rows = numbers(gone["rows"]).astype(np.int64)
    table = []
    for row in seen.to_pylist():  # a row a source: a few
        mine = ~valid_mask(one_chunk(gone["source"])) if row["source"] is None else true_mask(
            pc.equal(gone["source"], string_array([row["source"]])[0]))
        table.append({**row, "removed_units": int(mine.sum()), "removed_rows": int(rows[mine].sum())})
    return sorted(table, key=lambda r: (r["source"] is None, r["source"] or ""))


def largest(members: pa.Table, top: int) -> list[pa.Table]:
    """The `top` largest clusters (ties: by keeper key), keeper first, then by key."""
    sizes = cluster_sizes(members)
    sizes = sizes.take(pc.sort_indices(sizes, sort_keys=[("count", "descending"), ("cluster", "ascending")]))
    order = [("keeper", "descending"), ("prior", "descending"), ("key", "ascending")]
    clusters = []
    for name in sizes["cluster"].to_pylist()[:top]:
        chosen = members.filter(pc.equal(members["cluster"], string_array([name])[0]))
        clusters.append(chosen.take(pc.sort_indices(chosen, sort_keys=order)))
    return clusters


def fetch_texts(clusters: list[pa.Table], sig_files: list[Path]) -> dict[tuple[bool, str], str]:
    """(prior, key) -> the kept beginning of the text of every member shown."""
    from curate.dedup.units import unit_heads

    kinds = {(Path(f).name.startswith("against-"), int(Path(f).stem.split("-")[-1])): f for f in sig_files}
    wanted: dict[tuple[bool, int], list[tuple[str, int]]] = {}
    for cluster in clusters:
        for m in cluster.slice(0, MEMBERS_SHOWN).select(["prior", "part", "key", "pos"]).to_pylist():
            wanted.setdefault((bool(m["prior"]), int(m["part"])), []).append((m["key"], m["pos"]))
    texts: dict[tuple[bool, str], str] = {}
    for (prior, part), shown in wanted.items():
        heads = unit_heads(kinds[(prior, part)], [pos for _, pos in shown])
        texts.update(zip([(prior, key) for key, _ in shown], heads))
    return texts


def write_report(ctx: Any, seen: pa.Table, members: pa.Table, stats: dict[str, Any], *,
                 sig_files: list[Path], top: int) -> Path:
    """Write the Markdown and JSON report; return the Markdown path."""
    folder, base = report_paths(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    clusters = largest(members, top)
    texts = fetch_texts(clusters, sig_files)
    columns = ["key", "prior", "keeper", "source", "length", "passes", "rows"]
    shown = [[{**m, "text": texts.get((m["prior"], m["key"]), "")[:TEXT_CHARS]}
              for m in c.slice(0, MEMBERS_SHOWN).select(columns).to_pylist()] for c in clusters]
    public = {k: v for k, v in stats.items() if "second" not in k}
    data = {"stats": public, "cluster_sizes": histogram(members), "per_source": per_source(seen, members),
            "largest_clusters": [{"size": c.num_rows, "kept": c["cluster"][0].as_py(), "members": m}
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
         f"Jaccard threshold {s['threshold']}, {_signature(s)} as {s['bands']} bands x "
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


def _signature(settings: dict[str, Any]) -> str:
    """How the signatures were made, for the report's first line."""
    if settings.get("hashing") == "one-permutation":
        return f"{settings['num_perm']} bins of one permutation"
    return f"{settings['num_perm']} permutations"
