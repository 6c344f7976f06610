"""Resume: a stage's fingerprint, and refusing a run directory made with another config.

A stage's fingerprint chains its name, version, config and its parent's fingerprint; a run
directory holding a different fingerprint is refused with the config diff and a `--force` hint,
never mixed silently (a stage that failed before producing anything takes a new config
unforced). `--force STAGE` clears that stage and every stage after it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.errors import RecipeError, ResumeConflict
from curate.fingerprint import config_diff, digest, stage_fingerprint
from curate.recipe import Recipe
from curate.rundir import RunDir, write_json_atomic
from curate.stages.base import Stage


def fingerprinted_config(recipe: Recipe, stage: Stage) -> dict[str, Any]:
    """The config a stage's fingerprint covers; load's includes the sources it reads."""
    config = stage.config_dict()
    config.pop("base_dir", None)  # where the recipe lives is not what it computes
    config.pop("keep_parts", None)  # nor whether intermediate copies of the rows stay on disk
    extra = stage.fingerprint_extra()
    return {**config, "reads": extra} if extra else config


def fingerprints(recipe: Recipe, stages: list[Stage]) -> list[str]:
    parent = digest("seed", recipe.seed)
    out = []
    for stage in stages:
        parent = stage_fingerprint(stage.name, stage.version, fingerprinted_config(recipe, stage), parent)
        out.append(parent)
    return out


def save_fingerprint(rd: RunDir, recipe: Recipe, index: int, stage: Stage, fp: str) -> None:
    saved = {"fingerprint": fp, "stage": stage.name, "version": stage.version,
             "config": fingerprinted_config(recipe, stage), "recipe": recipe.name, "seed": recipe.seed}
    fp_path = rd.fingerprint_path(rd.stage_dir(index, stage.name))
    if not fp_path.exists() or read_json(fp_path) != saved:
        write_json_atomic(fp_path, saved)
        rd.publish(fp_path)


def check_resume(rd: RunDir, recipe: Recipe, stages: list[Stage], fps: list[str], force) -> None:
    """Refuse a run directory made with another config, unless forced; clear forced stages."""
    names = [s.name for s in stages]
    unknown = [f for f in force if f not in names]
    if unknown:
        raise RecipeError(f"--force {unknown[0]}: no such stage in this recipe", f"stages: {names}")
    forced_from = min((names.index(f) for f in force), default=None)
    on_disk = {rd.stage_index(d): d for d in rd.stage_dirs()}
    for index, (stage, fp) in enumerate(zip(stages, fps)):
        if forced_from is not None and index >= forced_from:
            break
        sdir = on_disk.get(index)
        if sdir is None:
            continue
        saved_path = rd.fingerprint_path(sdir)
        saved = read_json(saved_path) if saved_path.exists() else {}
        if sdir.name != rd.stage_dir(index, stage.name).name or saved.get("fingerprint") != fp:
            if not any(produced(rd, d) for i, d in on_disk.items() if i >= index):
                forced_from = index  # it failed before producing anything: nothing to mix with
                break
            raise ResumeConflict(resume_message(rd, index, stage, saved, recipe), f"--force {stage.name}")
    if forced_from is not None:
        rd.clear_from(forced_from)


def produced(rd: RunDir, sdir: Path) -> bool:
    """Did the stage keep any result: a finished prepare, part, finalize, or cached work?

    Only its fingerprint and the leftovers of a prepare that failed (artifacts without the
    `_prepared` flag) mean no: a stage that failed that early can take a new config unforced.
    """
    prepared, artifacts = rd.has_flag(sdir, "prepared"), rd.artifacts(sdir)
    for path in sdir.rglob("*"):
        if not path.is_file() or path == rd.fingerprint_path(sdir):
            continue
        if not prepared and path.is_relative_to(artifacts):
            continue
        return True
    return False


def resume_message(rd: RunDir, index: int, stage: Stage, saved: dict, recipe: Recipe) -> str:
    old = saved.get("config", {})
    new = fingerprinted_config(recipe, stage)
    if saved.get("stage", stage.name) != stage.name:
        old, new = {"stage": saved.get("stage")}, {"stage": stage.name}
    diff = config_diff(old, new)
    seed = saved.get("seed", rd.read_manifest().get("seed"))  # runs before the seed was saved here
    if seed is not None and seed != recipe.seed:
        diff.append(f"seed (recipe): {seed} -> {recipe.seed}")
    if saved.get("version", stage.version) != stage.version:
        diff.append(f"version of stage {stage.name}: {saved['version']} -> {stage.version} (curate was upgraded)")
    diff = diff or ["(an upstream stage changed)"]
    made_by = saved.get("recipe", "another recipe")
    return (
        f"{rd.path} was made by recipe '{made_by}' with a different config for stage "
        f"{index:02d}-{stage.name}:\n  " + "\n  ".join(diff) +
        f"\nRefusing to mix results. Rerun with --force {stage.name} to recompute it and every "
        "stage after it, or choose another --run-dir."
    )


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
