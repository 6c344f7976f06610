"""The figures a dataset card and a run report show, read from a finished run.

Everything comes from the run directory: the manifest's stage summaries (rows in/out/rejected,
counters, prepare stats), the rejected rows' reasons, the stage outputs' annotation columns
(verdict, dup_of, contaminated, pass_rate, problem_stats) and the written dataset. Stages are
found by name, and their counters and stats are read by key, defensively: a stage that is
absent, or reports other keys, leaves its section empty instead of failing the card.
Timing keys are dropped, so the facts of two identical runs are identical, except one measured
section: `cost.compute_cost`, generate's device-hours per thousand accepted traces, read from the
stage's part records (stable when a finished run is re-rendered).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.publish.card_labels import readable_notes
from curate.publish.plots import median
from curate.rundir import RunDir
from curate.text.arrow import arrow_buffers, numbers, numpy_array, true_mask

TIMING_TOKENS = {"second", "seconds", "secs", "elapsed", "timestamp", "eta", "duration", "time", "started",
                 "finished", "wall", "date"}


def is_timing(key: str) -> bool:
    """Keys holding timings or dates (`wall_seconds`, `tokens_per_s`, `gpu_hours`), but not
    look-alikes such as `timeout` or `beta`."""
    key = str(key).lower()
    tokens = set(re.split(r"[^a-z0-9]+", key))
    return bool(tokens & TIMING_TOKENS) or key.endswith("per_s") or "gpu_hours" in key or "per_second" in key


def untimed(value: Any) -> Any:
    """`value` without dict keys that hold timings (the card must not change between reruns)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if not is_timing(k)}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def ordered_stages(manifest: dict) -> list[dict]:
    return [manifest["stages"][k] for k in sorted(manifest.get("stages", {}), key=int)]


def stages_before_write(manifest: dict) -> list[dict]:
    """Stage summaries up to (not including) the first `write`: the card is rendered inside it."""
    out = []
    for stage in ordered_stages(manifest):
        if stage.get("name") == "write":
            break
        out.append(stage)
    return out


def find_stage(stages: list[dict], name: str) -> dict | None:
    """The last stage of that name (stages can repeat: dedup before and after generate)."""
    found = [s for s in stages if s.get("name") == name]
    return found[-1] if found else None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"a.b": scalar}; lists of scalars kept, timing keys dropped."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if not is_timing(key):
                out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif value is not None and prefix:
        out[prefix] = value
    return out


def read_columns(paths: list[Path], columns: list[str]) -> pa.Table | None:
    """The named columns of every existing part (columns a file lacks are skipped)."""
    tables = []
    for path in paths:
        if not path.exists():
            continue
        file = pq.ParquetFile(path)  # not pq.read_table: its dataset layer imports pandas (0.2 s)
        names = set(file.schema_arrow.names)
        tables.append(file.read(columns=[c for c in columns if c in names]))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def stage_parts(run_dir: Path, stage: dict, published: list[Path] = ()) -> list[Path]:
    """A stage's part files. A stage that streamed its rows into the next one without keeping
    parts (load, by default) falls back to `published`: the dataset's shards, the same rows as
    written (training-view columns only)."""
    return RunDir.parts(run_dir / stage["dir"]) or list(published)


# ---------------------------------------------------------------- sections


def funnel(run_dir: Path, stages: list[dict]) -> list[dict]:
    """Per stage: rows in/out/rejected, rejection reasons with counts, counters, prepare stats."""
    rows = []
    for stage in stages:
        reasons = rejected_reasons(run_dir, stage["dir"])
        notes = {k: v for k, v in flatten(stage.get("counters") or {}).items() if k != "rejected"}
        notes.update(flatten(stage.get("prepare_stats") or {}))
        notes = {k: v for k, v in notes.items() if isinstance(v, (int, float, str, bool)) and k.count(".") < 2}
        rows.append({"name": stage["name"], "dir": stage["dir"], "rows_in": stage.get("rows_in", 0),
                     "rows_out": stage.get("rows_out", 0), "rejected": stage.get("rejected", 0),
                     "reasons": reasons, "notes": readable_notes(stage["name"], notes)})
    return rows


def rejected_reasons(run_dir: Path, stage_dir: str) -> dict[str, int]:
    table = read_columns(RunDir(run_dir).rejected_parts(run_dir / stage_dir), ["reject_reason"])
    if table is None or "reject_reason" not in table.column_names:
        return {}
    counts = Counter(table["reject_reason"].to_pylist())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def published_verdicts(published: list[Path]) -> dict[str, dict[str, int]]:
    """domain -> verdict -> rows of the written dataset ({} when it has no verdict column)."""
    table = read_columns(list(published), ["domain", "verdict"])
    if table is None or "verdict" not in table.column_names or "domain" not in table.column_names:
        return {}
    return _count_verdicts(table)


def verdict_bars(verified: dict[str, dict[str, int]], published: dict[str, dict[str, int]]) -> dict:
    """Bars for the verdict chart: each domain's verified traces, and beside them its published
    rows (a dataset that keeps only passing rows must not look like the whole verified pool)."""
    bars = {f"{d}: verified": c for d, c in verified.items()}
    bars.update({f"{d}: published": c for d, c in published.items()})
    return bars


def verdicts(run_dir: Path, stages: list[dict]) -> dict[str, dict[str, int]]:
    """domain -> verdict -> rows, from the verify stage's output (verify annotates every row)."""
    stage = find_stage(stages, "verify")
    if stage is None:
        return {}
    table = read_columns(stage_parts(run_dir, stage), ["domain", "verdict"])
    if table is None or "verdict" not in table.column_names:
        return {}
    return _count_verdicts(table)


def _count_verdicts(table: pa.Table) -> dict[str, dict[str, int]]:
    """Counted over dictionary codes (a Python loop over the rows cost 0.5 s per 200k rows;
    Arrow's group-by would import pandas)."""
    domains, domain_codes = _codes(table["domain"])
    verdicts, verdict_codes = _codes(table["verdict"])
    counts = np.bincount(domain_codes * len(verdicts) + verdict_codes, minlength=len(domains) * len(verdicts))
    counts = counts.reshape(len(domains), len(verdicts))
    out: dict[str, Counter] = {}
    for (d, domain), (v, verdict) in itertools.product(enumerate(domains), enumerate(verdicts)):
        if counts[d, v]:
            out.setdefault(domain or "unknown", Counter())[verdict or "unverified"] += int(counts[d, v])
    return {d: dict(sorted(c.items())) for d, c in sorted(out.items())}


def _codes(column: pa.ChunkedArray) -> tuple[list, np.ndarray]:
    """(distinct values, null included; each row's index into them)."""
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    return encoded.dictionary.to_pylist(), numbers(encoded.indices).astype(np.int64)


def pass_at_k(run_dir: Path, stages: list[dict], published: list[Path] = ()) -> dict[str, dict[str, float]]:
    """domain -> {problems, mean pass rate, mean pass@k for each k found in problem_stats}."""
    stage = find_stage(stages, "verify") or (stages[-1] if stages else None)
    if stage is None:
        return {}
    table = read_columns(stage_parts(run_dir, stage, published), ["id", "domain", "pass_rate", "problem_stats"])
    if table is None or "pass_rate" not in table.column_names:
        return {}
    table = _with_figures(table)
    seen: dict[str, dict[str, list[float]]] = {}
    done: set[str] = set()
    stats_col = table["problem_stats"].to_pylist() if "problem_stats" in table.column_names else [None] * len(table)
    for pid, domain, rate, stats in zip(table["id"].to_pylist(), table["domain"].to_pylist(),
                                        table["pass_rate"].to_pylist(), stats_col):
        if pid in done or (rate is None and not stats):
            continue
        done.add(pid)
        bucket = seen.setdefault(domain or "unknown", {})
        if rate is not None:
            bucket.setdefault("pass rate", []).append(float(rate))
        for key, value in _pass_keys(stats).items():
            bucket.setdefault(key, []).append(value)
    return {d: {"problems": max(len(v) for v in b.values()),
                **{k: round(float(np.mean(v)), 4) for k, v in sorted(b.items(), key=_figure_order)}}
            for d, b in sorted(seen.items()) if b}


def _with_figures(table: pa.Table) -> pa.Table:
    """The rows with a pass rate or problem stats: the others add nothing (and a load -> write
    run has none, so its 200k rows are not walked in Python)."""
    keep = true_mask(pc.is_valid(table["pass_rate"]))
    if "problem_stats" in table.column_names:
        _, offsets, valid = arrow_buffers(table["problem_stats"])
        keep |= valid & (np.diff(offsets) > 0)
    return table if keep.all() else table.take(numpy_array(np.flatnonzero(keep)))


def _figure_order(item: tuple[str, Any]) -> tuple[int, str]:
    """`pass rate` first, then pass@k by the number k (as text, pass@16 would precede pass@2)."""
    key = item[0]
    k = key[5:] if key.lower().startswith("pass@") else ""
    return (int(k) if k.isdigit() else -1, key)


def _pass_keys(stats: str | None) -> dict[str, float]:
    try:
        data = json.loads(stats) if stats else {}
    except ValueError:
        return {}
    found = {}
    for key, value in flatten(data).items():
        leaf = key.split(".")[-1]
        if leaf.lower().startswith("pass@") and isinstance(value, (int, float)):
            found[leaf] = float(value)
    return found


def duplicates(run_dir: Path, stages: list[dict]) -> dict[str, Any]:
    """Rows dedup marked (dup_of set), per domain, and the largest clusters."""
    stage = find_stage(stages, "dedup")
    if stage is None:
        return {}
    table = read_columns(stage_parts(run_dir, stage), ["domain", "dup_of", "trace_id", "id"])
    if table is None or "dup_of" not in table.column_names:
        return {}
    marked = table.filter(pc.is_valid(table["dup_of"]))
    per_domain = Counter(d or "unknown" for d in marked["domain"].to_pylist())
    clusters = Counter(marked["dup_of"].to_pylist())
    return {"marked": marked.num_rows, "per_domain": dict(sorted(per_domain.items())),
            "clusters": len(clusters), "largest": clusters.most_common(10)}


def contamination(run_dir: Path, stages: list[dict]) -> dict[str, Any]:
    """Per benchmark: rows hit and distinct benchmark items; what the decontam stage checked."""
    stage = find_stage(stages, "decontam")
    if stage is None:
        return {}
    table = read_columns(stage_parts(run_dir, stage), ["contaminated"])
    rows: Counter = Counter()
    templates: Counter = Counter()
    items: dict[str, set] = {}
    if table is not None and "contaminated" in table.column_names:
        for hits in table["contaminated"].to_pylist():
            for bench in sorted({h.split(":", 1)[0] for h in hits or []}):
                rows[bench] += 1
            for hit in hits or []:
                items.setdefault(hit.split(":", 1)[0], set()).add(hit.removesuffix(" (template)"))
                templates[hit.split(":", 1)[0]] += hit.endswith(" (template)")
    checked = [b for b in benchmarks_checked(run_dir, stage) if b.get("items") != 0]
    return {"hits": {b: {"rows": rows[b], "distinct": len(items[b]), "templates": templates[b]} for b in sorted(rows)},
            "rows": sum(1 for h in (table["contaminated"].to_pylist() if table is not None and
                                    "contaminated" in table.column_names else []) if h),
            "checked": checked, "items_checked": sum(b.get("items") or 0 for b in checked)}


def benchmarks_checked(run_dir: Path, stage: dict) -> list[dict]:
    """Benchmarks (with revisions where known) from the decontam stats, report or config."""
    sources = [stage.get("prepare_stats") or {}, _read_json(RunDir(run_dir).reports / "decontam.json"),
               stage.get("config") or {}]
    for source in sources:
        found = _benchmark_list(source.get("benchmarks") if isinstance(source, dict) else None)
        if found:
            return found
    return []


def _benchmark_list(value: Any) -> list[dict]:
    if isinstance(value, dict):
        return [{"name": str(k), **({"revision": v.get("revision")} if isinstance(v, dict) else {})}
                for k, v in sorted(value.items())]
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict):
                out.append({"name": str(item.get("name") or item.get("id") or item),
                            "revision": item.get("revision"), "items": item.get("items")})
            else:
                out.append({"name": str(item)})
        return out
    return []


def eval_checks(run_dir: Path) -> list[dict]:
    """Evaluation sets `curate eval --train` checked against this run's data (newest name order)."""
    from curate.rundir import RunDir

    folder = RunDir(run_dir).eval_checks
    return [_read_json(p) for p in sorted(folder.glob("*.json"))] if folder.exists() else []


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def mix(stages: list[dict]) -> dict[str, Any]:
    stage = find_stage(stages, "mix")
    stats = (stage or {}).get("prepare_stats") or {}
    return {"by": stats.get("mix_by"), "groups": stats.get("mix_groups") or {},
            "total": stats.get("mix_total"), "seed": stats.get("mix_seed")} if stats else {}


def generation(run_dir: Path, stages: list[dict], published: list[Path] = (),
               written: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """Teacher(s), sampling parameters and system prompts as the traces record them, plus the
    generate stage's config (model, revision, prompt template, ...) where there is one.

    `written`: the values the write stage counted in the rows it wrote (`written_values`);
    without them, the parts of the last stage before write are read."""
    stage = find_stage(stages, "generate")
    last = stages[-1] if stages else None
    table = None
    if written is None and last:
        table = read_columns(stage_parts(run_dir, last, published), ["teacher", "sampling", "system"])
    config = {k: v for k, v in flatten(untimed((stage or {}).get("config") or {})).items()
              if v not in (None, "", [], {})}

    def top(column: str, limit: int = 3) -> list[tuple[str, int]]:
        if written is not None:
            counts = Counter({k: v for k, v in written.get(column, {}).items() if k})
        elif table is not None and column in table.column_names:
            counts = Counter(v for v in table[column].to_pylist() if v)
        else:
            return []
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    return {"teachers": top("teacher", 10), "sampling": top("sampling"), "system": top("system"),
            "config": config, "generated": (stage or {}).get("rows_out")}


def written_values(run_dir: Path, manifest: dict) -> dict[str, dict[str, int]] | None:
    """The value counts every part of the write stage recorded (None for a run whose write
    stage recorded none, e.g. one written by an older curate)."""
    stage = next((s for s in ordered_stages(manifest) if s.get("name") == "write"), None)
    done = RunDir.markers(run_dir / stage["dir"]) if stage else []
    totals: dict[str, Counter] = {}
    for marker in done:
        values = json.loads(marker.read_text()).get("stats", {}).get("values")
        if values is None:
            return None
        for column, counts in values.items():
            totals.setdefault(column, Counter()).update(counts)
    return {column: dict(counts) for column, counts in totals.items()} if done else None


def token_stats(dataset_dir: Path, files: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    out = {}
    for name, values in token_lengths(dataset_dir, files).items():
        if len(values):
            out[name] = {"rows": len(values), "mean": round(float(values.mean()), 1),
                         "p50": median(values), "p90": int(np.percentile(values, 90)),
                         "p99": int(np.percentile(values, 99)), "max": int(values.max())}
    return out


def token_lengths(dataset_dir: Path, files: dict[str, list[str]]) -> dict[str, np.ndarray]:
    out = {}
    for name, names in files.items():
        table = read_columns([dataset_dir / f for f in names], ["num_tokens"])
        out[name] = (numbers(table["num_tokens"]) if table is not None and table.num_rows
                     else np.zeros(0, np.int64))
    return out
