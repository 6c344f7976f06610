"""`curate inspect` and `curate status`: what is in a file, a folder or a run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa

from curate.errors import InputError
from curate.storage.parquet_files import read_parquet

COUNT_BY = ("domain", "source", "verdict", "finish_reason")


def read_any(path: str) -> pa.Table:
    """A Parquet/JSONL file or folder, a run directory (last stage), or a dataset/ folder; local
    or at a URL."""
    from curate import io
    from curate.rundir import RunDir

    path = local_copy(path)
    p = Path(path)
    if RunDir.is_stage_dir(p) and not RunDir.parts(p):
        views = [m for m in RunDir.markers(p) if json.loads(m.read_text()).get("view")]
        if views:  # load's parts are views of Parquet sources: read them as the next stage did
            from curate.stages.base import read_input

            return pa.concat_tables([read_input(RunDir(p.parent).part_path(p, int(m.stem.split("-")[1])))
                                     for m in views])
        raise InputError(f"{p} holds no part files: the stage streamed its rows straight into the next one.",
                         "Inspect the next stage's folder or RUN/dataset, or rerun with `keep_parts: true` "
                         "on this stage (then `--force` it) to keep its parts.")
    fmt = io.detect_format(path)
    if fmt == "run":
        files = io.run_output_files(path)
        return pa.concat_tables([read_parquet(f) for f in files]) if files else pa.table({})
    if fmt == "parquet":
        tables = [read_parquet(f) for f in io.expand_files(path, (".parquet",))]
        return pa.concat_tables(tables, promote_options="default")
    if fmt == "jsonl":
        rows = []
        for f in io.expand_files(path, (".jsonl", ".json", ".ndjson")):
            with open(f, encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except ValueError as exc:
                            raise InputError(f"{f}:{number}: bad JSON line ({exc}).") from None
        return io.rows_to_table(rows, path)  # as load reads it: every key a column, mixed types as JSON text
    raise InputError(f"{p}: cannot inspect format '{fmt}'.", "Give a Parquet or JSONL file or folder, or a run.")


def local_copy(path: str) -> str:
    """`path` itself, or for a URL a local copy of what inspect reads: of a run, its read-only
    copy with the parts of its last stage that kept any; of a file or prefix, the objects."""
    from curate.rundir import RunDir
    from curate.storage import is_url, local_source

    if not is_url(path):
        return path
    if not RunDir.is_run(path):
        return local_source(path)
    rd = RunDir.for_reading(path)
    kept = [d for d in rd.stage_dirs() if rd.remote_parts(d)]
    rd.fetch_parts(kept[-1:])
    return str(rd.path)


def describe(path: str, *, sample_rows: int = 3) -> dict[str, Any]:
    table = read_any(path)
    info: dict[str, Any] = {
        "path": str(path), "rows": table.num_rows,
        "schema": {f.name: str(f.type) for f in table.schema},
        "counts": {c: dict(Counter(table[c].to_pylist()).most_common())
                   for c in COUNT_BY if c in table.column_names},
        "sample": [_short(r) for r in table.slice(0, sample_rows).to_pylist()],
    }
    return info


def _short(row: dict, width: int = 160) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, str) and len(value) > width:
            value = value[:width] + f"… (+{len(value) - width} chars)"
        out[key] = value
    return out


def render(info: dict[str, Any]) -> str:
    lines = [f"{info['path']}: {info['rows']} rows", "", "schema:"]
    lines += [f"  {name}: {kind}" for name, kind in info["schema"].items()]
    for column, counts in info["counts"].items():
        lines += ["", f"by {column}:"] + [f"  {k}: {v}" for k, v in counts.items()]
    for i, row in enumerate(info["sample"]):
        lines += ["", f"row {i}:"] + [f"  {k}: {v}" for k, v in row.items() if v is not None]
    return "\n".join(lines)


def status_table(run_dir: str) -> str:
    from curate.rundir import RunDir

    rd = RunDir.for_reading(run_dir)
    if not rd.recipe_path.exists():
        raise InputError(f"{run_dir} is not a curate run directory.",
                         "Give the folder (or URL) of `curate run --run-dir`.")
    manifest = rd.read_manifest()
    total = manifest.get("num_parts", 0)
    lines = [f"run {rd.location} (recipe {manifest.get('recipe', '?')}, {total} part(s))",
             f"{'stage':<16}{'done':>10}{'rows in':>10}{'rows out':>10}{'rejected':>10}  parts"]
    for sdir in rd.stage_dirs():
        stats = rd.part_stats(sdir)
        marks = "".join("#" if p in stats else "." for p in range(total))
        lines.append(f"{sdir.name:<16}{len(stats):>5}/{total:<4}{sum(s['rows_in'] for s in stats.values()):>10}"
                     f"{sum(s['rows_out'] for s in stats.values()):>10}"
                     f"{sum(s['rejected'] for s in stats.values()):>10}  {marks}")
    if rd.dataset_location():
        lines.append(f"\ndataset: {rd.dataset_location()}")
    return "\n".join(lines)

def summary_table(manifest: dict, run_dir=None) -> str:
    """The end-of-run table; stages this invocation did not recompute say so, with the timing
    of the run that made them, and a rerun that recomputed nothing says it is up to date."""
    stages = [manifest["stages"][key] for key in sorted(manifest.get("stages", {}), key=int)]
    reused = [s for s in stages if s.get("recomputed") is False]
    lines = []
    if stages and len(reused) == len(stages):
        lines.append(f"Up to date, nothing recomputed: all {len(stages)} stages reused from "
                     f"{run_dir or 'the run directory'} (seconds: the run that made them).\n")
    lines.append(f"{'stage':<16}{'in':>10}{'out':>10}{'rejected':>10}{'seconds':>10}  this run")
    for s in stages:
        lines.append(f"{s['dir']:<16}{s['rows_in']:>10}{s['rows_out']:>10}{s['rejected']:>10}"
                     f"{s['wall_seconds']:>10.1f}  {'reused' if s in reused else 'computed'}")
    return "\n".join(lines)
