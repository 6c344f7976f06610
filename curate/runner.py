"""The stage loop: fingerprint checks, prepare phases, part tasks, finalize, manifest.

A run is resumable by construction: every finished part has a marker, and a rerun skips marked
parts. A stage's fingerprint chains its name, version, config and its parent's fingerprint; a
run directory holding a different fingerprint is refused with the config diff and a `--force`
hint, never mixed silently. `--force STAGE` clears that stage and every stage after it.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curate.errors import CurateError, RecipeError, ResumeConflict
from curate.fingerprint import config_diff, digest, stage_fingerprint
from curate.recipe import Recipe, load_recipe
from curate.registry import stage_class
from curate.rundir import RunDir, write_json_atomic, write_parquet_atomic, write_rejected
from curate.stages.base import PartContext, PrepareContext, Stage

READ_BATCH_ROWS = 8192


def build_stages(recipe: Recipe) -> list[Stage]:
    return [stage_class(e.use)(e.config) for e in recipe.stage_entries()]


def fingerprinted_config(recipe: Recipe, stage: Stage) -> dict[str, Any]:
    """The config a stage's fingerprint covers; load's includes the sources it reads."""
    config = stage.config_dict()
    config.pop("base_dir", None)  # where the recipe lives is not what it computes
    extra = stage.fingerprint_extra()
    return {**config, "reads": extra} if extra else config


def fingerprints(recipe: Recipe, stages: list[Stage]) -> list[str]:
    parent = digest("seed", recipe.seed)
    out = []
    for stage in stages:
        parent = stage_fingerprint(stage.name, stage.version, fingerprinted_config(recipe, stage), parent)
        out.append(parent)
    return out


def run_recipe(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    force: tuple[str, ...] = (),
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run (or resume) every stage of `recipe` in `run_dir`; return the manifest."""
    from curate.executors import make_executor

    rd = RunDir(run_dir)
    stages = build_stages(recipe)
    fps = fingerprints(recipe, stages)
    check_resume(rd, recipe, stages, fps, force)
    rd.path.mkdir(parents=True, exist_ok=True)
    resolved = rd.path / "recipe.resolved.yaml"
    if not resolved.exists() or resolved.read_text() != recipe.to_yaml():
        resolved.write_text(recipe.to_yaml())
    manifest = start_manifest(rd, recipe)
    pool = make_executor(executor, workers=workers, address=address)
    try:
        num_parts = 0
        for index, (stage, fp) in enumerate(zip(stages, fps)):
            started = time.time()
            saved = {"fingerprint": fp, "stage": stage.name, "version": stage.version,
                     "config": fingerprinted_config(recipe, stage), "recipe": recipe.name}
            fp_path = rd.stage_dir(index, stage.name) / "_fingerprint.json"
            if not fp_path.exists() or _read_json(fp_path) != saved:
                write_json_atomic(fp_path, saved)
            num_parts, worked = run_stage(rd, index, stage, num_parts, recipe.seed, pool, progress)
            summary = stage_summary(rd, index, stage, fp, num_parts, started)
            previous = manifest["stages"].get(index, {})
            if not worked and previous.get("fingerprint") == fp:  # a no-op rerun keeps the real timing
                summary["wall_seconds"] = previous.get("wall_seconds", summary["wall_seconds"])
            manifest["stages"][index] = summary
            manifest["num_parts"] = num_parts
            rd.write_manifest(manifest)
    finally:
        pool.close()
    return manifest


def check_resume(rd: RunDir, recipe: Recipe, stages: list[Stage], fps: list[str], force) -> None:
    """Refuse a run directory made with another config, unless forced; clear forced stages."""
    names = [s.name for s in stages]
    unknown = [f for f in force if f not in names]
    if unknown:
        raise RecipeError(f"--force {unknown[0]}: no such stage in this recipe", f"stages: {names}")
    forced_from = min((names.index(f) for f in force), default=None)
    on_disk = {int(d.name[:2]): d for d in rd.stage_dirs()}
    for index, (stage, fp) in enumerate(zip(stages, fps)):
        if forced_from is not None and index >= forced_from:
            break
        sdir = on_disk.get(index)
        if sdir is None:
            continue
        saved_path = sdir / "_fingerprint.json"
        saved = _read_json(saved_path) if saved_path.exists() else {}
        if sdir.name != rd.stage_dir(index, stage.name).name or saved.get("fingerprint") != fp:
            raise ResumeConflict(resume_message(rd, index, stage, saved, recipe), f"--force {stage.name}")
    if forced_from is not None:
        rd.clear_from(forced_from)


def resume_message(rd: RunDir, index: int, stage: Stage, saved: dict, recipe: Recipe) -> str:
    old = saved.get("config", {})
    new = fingerprinted_config(recipe, stage)
    if saved.get("stage", stage.name) != stage.name:
        old, new = {"stage": saved.get("stage")}, {"stage": stage.name}
    diff = config_diff(old, new) or ["(an upstream stage, the seed, or the stage version changed)"]
    made_by = saved.get("recipe", "another recipe")
    return (
        f"{rd.path} was made by recipe '{made_by}' with a different config for stage "
        f"{index:02d}-{stage.name}:\n  " + "\n  ".join(diff) +
        f"\nRefusing to mix results. Rerun with --force {stage.name} to recompute it and every "
        "stage after it, or choose another --run-dir."
    )


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def start_manifest(rd: RunDir, recipe: Recipe) -> dict[str, Any]:
    manifest = rd.read_manifest()
    manifest.update({"recipe": recipe.name, "seed": recipe.seed})
    manifest.setdefault("stages", {})
    manifest["stages"] = {int(k): v for k, v in manifest["stages"].items()}
    return manifest


def run_stage(rd: RunDir, index, stage: Stage, num_parts, seed, pool, progress) -> tuple[int, bool]:
    """Prepare, run the unfinished parts, finalize; return (parts, whether any work was done)."""
    sdir = rd.stage_dir(index, stage.name)
    inputs = [] if index == 0 else part_paths(rd, index - 1, num_parts)
    ctx = PrepareContext(inputs=inputs, artifacts=sdir / "artifacts", seed=seed,
                         num_parts=num_parts, run_dir=rd.path, executor=pool)
    worked = False
    if stage.has_prepare and not rd.flag(sdir, "prepared").exists():
        worked = True
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
        stage.prepare(ctx)
        stats_path = ctx.artifacts / "stats.json"
        if ctx.stats and not stats_path.exists():
            write_json_atomic(stats_path, ctx.stats)
        rd.flag(sdir, "prepared").touch()
    if index == 0:
        num_parts = stage.num_parts(ctx)
    todo = [p for p in range(num_parts) if not rd.is_done(sdir, p)]
    worked = worked or bool(todo)
    remove_stale_temporaries(rd, sdir)
    tasks = [(str(rd.path), index, p, num_parts) for p in todo]
    bar = _progress(len(todo), f"{index:02d}-{stage.name}", progress)
    for _ in pool.map(run_part, tasks, max_parallel=stage.max_parallel):
        bar.update(1)
    bar.close()
    if stage.has_finalize and not rd.flag(sdir, "finalized").exists():
        ctx.inputs = part_paths(rd, index, num_parts)
        ctx.num_parts = num_parts
        stage.finalize(ctx)
        rd.flag(sdir, "finalized").touch()
        worked = True
    return num_parts, worked


def remove_stale_temporaries(rd: RunDir, sdir: Path) -> None:
    """Half-written files of a crashed earlier attempt (no task of this run is running yet)."""
    for folder in (sdir, sdir / "_done", rd.path / "rejected" / sdir.name):
        for tmp in folder.glob(".*.tmp-*") if folder.exists() else ():
            tmp.unlink(missing_ok=True)


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="part", disable=not enabled or total == 0, leave=False)


def part_paths(rd: RunDir, index: int, num_parts: int) -> list[Path]:
    sdir = next(d for d in rd.stage_dirs() if int(d.name[:2]) == index)
    return [rd.part_path(sdir, p) for p in range(num_parts)]


def load_recipe_from_run(rd: RunDir) -> Recipe:
    path = rd.path / "recipe.resolved.yaml"
    if not path.exists():
        raise CurateError(f"{rd.path} is not a curate run directory (no recipe.resolved.yaml).")
    return load_recipe(path)


# ---------------------------------------------------------------- part tasks


def run_part(run_dir: str, index: int, part: int, num_parts: int) -> dict[str, Any]:
    """One part of one stage: read the parent's part, run the stage, write atomically, mark done.

    Module-level and path-only, so the local pool and Ray can both run it.
    """
    rd = RunDir(run_dir)
    recipe = load_recipe_from_run(rd)
    entry = recipe.stage_entries()[index]
    stage = stage_class(entry.use)(entry.config)
    sdir = rd.stage_dir(index, stage.name)
    ctx = PartContext(
        part=part, num_parts=num_parts, seed=recipe.seed, stage_index=index,
        artifacts=sdir / "artifacts", scratch=rd.scratch(sdir, part),
        rng=random.Random(digest(recipe.seed, index, part)),
    )
    started = time.time()
    rows_in = [0]
    batches = _count(read_part(rd, index - 1, part), rows_in) if index else iter(())
    if stage.terminal:
        rows_out = sum(table.num_rows for table in stage.run(batches, ctx))
    else:
        rows_out = write_parquet_atomic(rd.part_path(sdir, part), stage.run(batches, ctx))
    rejected = write_rejected(rd.rejected_path(sdir, part), ctx.rejected_table(), stage.name)
    stats = {
        "part": part, "rows_in": rows_in[0] if index else rows_out + rejected,
        "rows_out": rows_out, "rejected": rejected, "counters": dict(ctx.counters),
        "stats": ctx.stats, "seconds": round(time.time() - started, 3),
    }
    rd.mark_done(sdir, part, stats)
    return stats


def read_part(rd: RunDir, index: int, part: int) -> Iterator[pa.RecordBatch]:
    sdir = next(d for d in rd.stage_dirs() if int(d.name[:2]) == index)
    path = rd.part_path(sdir, part)
    yield from pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH_ROWS)


def _count(batches, counter: list[int]):
    for batch in batches:
        counter[0] += batch.num_rows
        yield batch


# ---------------------------------------------------------------- summaries


def stage_summary(rd: RunDir, index: int, stage: Stage, fp: str, num_parts: int, started) -> dict:
    sdir = rd.stage_dir(index, stage.name)
    parts = rd.part_stats(sdir)
    counters: dict[str, int] = {}
    for p in parts.values():
        for key, value in p.get("counters", {}).items():
            if isinstance(value, (int, float)):
                counters[key] = counters.get(key, 0) + value
    stats_path = sdir / "artifacts" / "stats.json"
    return {
        "name": stage.name, "dir": sdir.name, "version": stage.version, "fingerprint": fp,
        "config": stage.config_dict(), "parts": num_parts, "parts_done": len(parts),
        "rows_in": sum(p["rows_in"] for p in parts.values()),
        "rows_out": sum(p["rows_out"] for p in parts.values()),
        "rejected": sum(p["rejected"] for p in parts.values()),
        "counters": counters,
        "prepare_stats": _read_json(stats_path) if stats_path.exists() else {},
        "part_seconds": round(sum(p.get("seconds", 0) for p in parts.values()), 3),
        "wall_seconds": round(time.time() - started, 3),
    }
