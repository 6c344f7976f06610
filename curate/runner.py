"""The stage loop: fingerprint checks, prepare phases, part tasks, finalize, manifest.

A run is resumable by construction: every finished part has a marker, and a rerun skips marked
parts. A stage's fingerprint chains its name, version, config and its parent's fingerprint; a
run directory holding a different fingerprint is refused with the config diff and a `--force`
hint, never mixed silently. `--force STAGE` clears that stage and every stage after it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from curate.errors import RecipeError, ResumeConflict, disk_error
from curate.executors import TaskSpec
from curate.fingerprint import config_diff, digest, stage_fingerprint
from curate.part_task import overlapped_finishing, run_part
from curate.recipe import Recipe
from curate.registry import stage_class
from curate.rundir import RunDir, write_json_atomic
from curate.stages.base import PrepareContext, Stage


def build_stages(recipe: Recipe) -> list[Stage]:
    return [stage_class(e.use)(e.config) for e in recipe.stage_entries()]


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
    from curate import registry
    from curate.executors import make_executor

    rd = RunDir(run_dir)
    stages = build_stages(recipe)
    fps = fingerprints(recipe, stages)
    rd.pull()  # a run on object storage: its state into the local working copy
    check_resume(rd, recipe, stages, fps, force)
    rd.ensure_writable()
    resolved = rd.recipe_path
    if not resolved.exists() or resolved.read_text() != recipe.to_yaml():
        resolved.write_text(recipe.to_yaml())
        rd.publish(resolved)
    manifest = start_manifest(rd, recipe)
    state = RunState(rd)
    pool = make_executor(executor, workers=workers, address=address, warm_up=registry.warm_up())
    try:
        num_parts = 0
        for chain in chains(stages):
            names = ", ".join(rd.stage_dir(i, stages[i].name).name for i in chain)
            state.record("running", stage=names)
            try:
                for index in chain:
                    save_fingerprint(rd, recipe, index, stages[index], fps[index])
                num_parts, worked, walls = run_chain_parts(rd, chain, stages, num_parts, recipe.seed, pool, progress)
                record_chain(rd, manifest, chain, stages, fps, num_parts, walls, worked)  # finalize reads it
                if finalize_chain(rd, chain, stages, num_parts, recipe.seed, pool, walls):
                    record_chain(rd, manifest, chain, stages, fps, num_parts, walls, True)
            except OSError as error:  # prepare, finalize, the manifest (part tasks translate their own)
                raise disk_error(error, f"running stage {names}", rd.path) or error
        state.record("finished")
    except BaseException as error:
        state.failed(error)
        raise
    finally:
        pool.close()
    return manifest


class RunState:
    """The run's state in the run directory (`RunDir.write_run_state`), for whoever follows the
    run from another process (`curate push --follow`): running (with the pid, host and the chain
    of stages at work), finished, failed or interrupted (naming the stage)."""

    def __init__(self, rd: RunDir):
        import os
        import socket

        self.rd, self.stage = rd, None
        self.attempt = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}

    def record(self, state: str, stage: str | None = None, **extra: Any) -> None:
        """Best effort: a state that cannot be written (a full disk) must not fail the run; a
        follower then sees the process gone and stops."""
        self.stage = stage or self.stage
        try:
            self.rd.write_run_state({"state": state, "stage": self.stage, **self.attempt, **extra})
        except OSError:
            pass

    def failed(self, error: BaseException) -> None:
        """Record a failure, naming the stage the error came from (else the chain at work)."""
        kind = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        self.record(kind, stage=getattr(error, "stage_label", None), error=message[:2000])


def record_chain(rd: RunDir, manifest: dict, chain: list[int], stages: list[Stage], fps: list[str],
                 num_parts: int, walls: dict[int, float], worked: bool) -> None:
    """Write the chain's stage summaries into the manifest."""
    for index in chain:
        summary = stage_summary(rd, index, stages[index], fps[index], num_parts, walls[index])
        if len(chain) > 1:
            summary["fused_with"] = [stages[i].name for i in chain if i != index]
        previous = manifest["stages"].get(index, {})
        if not worked and previous.get("fingerprint") == fps[index]:  # a no-op rerun keeps the real timing
            summary["wall_seconds"] = previous.get("wall_seconds", summary["wall_seconds"])
        summary["recomputed"] = worked  # by this invocation (False: reused from an earlier one)
        manifest["stages"][index] = summary
    manifest["num_parts"] = num_parts
    rd.write_manifest(manifest)


def save_fingerprint(rd: RunDir, recipe: Recipe, index: int, stage: Stage, fp: str) -> None:
    saved = {"fingerprint": fp, "stage": stage.name, "version": stage.version,
             "config": fingerprinted_config(recipe, stage), "recipe": recipe.name, "seed": recipe.seed}
    fp_path = rd.fingerprint_path(rd.stage_dir(index, stage.name))
    if not fp_path.exists() or _read_json(fp_path) != saved:
        write_json_atomic(fp_path, saved)
        rd.publish(fp_path)


def chains(stages: list[Stage]) -> list[list[int]]:
    """Group stage indices into runs of fusable streaming stages, e.g. [[0, 1], [2], [3, 4]]."""
    out: list[list[int]] = []
    for index, stage in enumerate(stages):
        if out and fusable(stages[out[-1][-1]], stage):
            out[-1].append(index)
        else:
            out.append([index])
    return out


def fusable(parent: Stage, child: Stage) -> bool:
    """May `child` run in the same part task as `parent`, fed from memory?

    Not when the parent has a finalize step (it must see every part first), when the child's
    prepare reads its input parts (they do not exist until the parts run), or when either needs
    devices or a warm engine (their executors place them apart).
    """
    plain = all(s.max_parallel is None and not s.resources() for s in (parent, child))
    return plain and not parent.terminal and not parent.has_finalize and not child.prepare_reads_inputs()


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
        saved = _read_json(saved_path) if saved_path.exists() else {}
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


def _read_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


def start_manifest(rd: RunDir, recipe: Recipe) -> dict[str, Any]:
    manifest = rd.read_manifest()
    manifest.update({"recipe": recipe.name, "seed": recipe.seed})
    manifest.setdefault("stages", {})
    manifest["stages"] = {int(k): v for k, v in manifest["stages"].items()}
    return manifest


def run_chain_parts(rd: RunDir, chain: list[int], stages: list[Stage], num_parts: int, seed: int, pool,
                    progress: bool) -> tuple[int, bool, dict[int, float]]:
    """Prepare, then run the unfinished parts of a chain of fused stages.

    Returns (parts, whether any work was done, wall seconds per stage so far: its own prepare
    plus its share of the part phase, in proportion to its part seconds).
    """
    first, last = chain[0], chain[-1]
    walls = {index: 0.0 for index in chain}
    worked = False
    for index in chain:
        began = time.time()
        ctx = stage_context(rd, index, stages[index], num_parts, seed, pool, inputs=index == first)
        worked = prepare(rd, index, stages[index], ctx) or worked
        if index == 0:
            num_parts = stages[0].num_parts(ctx)
        walls[index] += time.time() - began
    last_dir = rd.stage_dir(last, stages[last].name)
    done = rd.done_parts(last_dir, num_parts)
    todo = [p for p in range(num_parts) if p not in done]
    worked = worked or bool(todo)
    if todo and mark_views(rd, chain, stages, todo, stage_context(rd, first, stages[first], num_parts, seed, pool,
                                                                 inputs=False)):
        return num_parts, worked, walls
    for index in chain:  # half-written files of a crashed attempt (no task of this run is running yet)
        rd.remove_temporaries(rd.stage_dir(index, stages[index].name))
        if todo:  # on object storage: unmarked leftovers of killed attempts
            rd.remove_unmarked(rd.stage_dir(index, stages[index].name), num_parts)
    tasks = [(rd.location, first, p, num_parts, last) for p in todo]
    label = "+".join(f"{i:02d}-{stages[i].name}" for i in chain)
    began = time.time()
    bar = _progress(len(todo), label, progress)
    spec = part_tasks(rd, tasks, label, stages[first], last_dir)
    with overlapped_finishing():  # this process's parts: the next starts while the last is written
        for _ in pool.run(spec):
            bar.update(1)
    bar.close()
    for index in chain:  # markers other machines wrote (Ray workers with their own working copies)
        rd.pull_markers(rd.stage_dir(index, stages[index].name))
    share_part_wall(rd, chain, stages, time.time() - began, walls)
    return num_parts, worked, walls


def mark_views(rd: RunDir, chain: list[int], stages: list[Stage], todo: list[int], ctx: PrepareContext) -> bool:
    """Mark a lone stage's parts done without running them when they are views of its sources
    (`Stage.view_parts`) and whatever reads them next recomputes them (`read_input`, `read_part`);
    True when it did. Only the first stage, when a next stage exists and does not open its input
    part files itself."""
    head = stages[chain[0]]
    after = stages[chain[0] + 1] if chain[0] + 1 < len(stages) else None
    if chain[0] != 0 or len(chain) > 1 or after is None:
        return False
    if after.prepare_reads_inputs() and not after.prepare_reads_views():
        return False
    views = head.view_parts(ctx)
    if views is None:
        return False
    sdir = rd.stage_dir(chain[0], head.name)
    for part in todo:
        rd.mark_done(sdir, part, {**views[part], "kept": False, "view": True})
    return True


def part_tasks(rd: RunDir, tasks: list[tuple], label: str, head: Stage, last_dir: Path) -> TaskSpec:
    """What the executor needs to place a chain's part tasks; it never sees the stages."""
    return TaskSpec(run_part, tasks, label=label, resources=dict(head.resources()),
                    max_parallel=head.max_parallel, warm=head.max_parallel is not None,
                    describe=lambda task: f"part {task[2]}",
                    done_marker=None if rd.store else lambda task: rd.marker(last_dir, task[2]))


def finalize_chain(rd: RunDir, chain: list[int], stages: list[Stage], num_parts: int, seed: int, pool,
                   walls: dict[int, float]) -> bool:
    """Run each chain stage's finalize once (a flag marks it done); True when any ran now."""
    worked = False
    for index in chain:
        stage = stages[index]
        sdir = rd.stage_dir(index, stage.name)
        if stage.has_finalize and not rd.has_flag(sdir, "finalized"):
            began = time.time()
            ctx = stage_context(rd, index, stage, num_parts, seed, pool, inputs=False)
            ctx.inputs = part_paths(rd, index, num_parts)
            for earlier in (range(index + 1) if stage.terminal else [index]):  # on object storage: what it
                rd.fetch_stage(rd.stage_dir_at(earlier), num_parts)  # reads (write's card reads every stage)
            stage.finalize(ctx)
            rd.set_flag(sdir, "finalized", began)
            walls[index] += time.time() - began
            worked = True
    return worked


def stage_context(rd: RunDir, index: int, stage: Stage, num_parts: int, seed: int, pool, *,
                  inputs: bool) -> PrepareContext:
    """The prepare/finalize context; `inputs`: the parent's part files (only a chain's head has them)."""
    parents = part_paths(rd, index - 1, num_parts) if inputs and index else []
    sdir = rd.stage_dir(index, stage.name)
    return PrepareContext(inputs=parents, artifacts=rd.artifacts(sdir), seed=seed, num_parts=num_parts,
                          run_dir=rd.path, stage_dir=sdir, executor=prepare_pool(rd, pool))


def prepare_pool(rd: RunDir, pool):
    """The executor a prepare phase may fan work out to: none (inline) when its tasks would read
    the driver's working copy of a run on object storage from other machines."""
    return pool if rd.store is None or getattr(pool, "same_machine", False) else None


def prepare(rd: RunDir, index: int, stage: Stage, ctx: PrepareContext) -> bool:
    """Run the stage's prepare once (a flag marks it done); True when it ran now."""
    sdir = rd.stage_dir(index, stage.name)
    if not stage.has_prepare or rd.has_flag(sdir, "prepared"):
        return False
    began = time.time()
    ctx.artifacts.mkdir(parents=True, exist_ok=True)
    if ctx.inputs and index:  # on object storage: the parent's parts it reads
        rd.fetch_stage(rd.stage_dir_at(index - 1), len(ctx.inputs))
    stage.prepare(ctx)
    stats_path = ctx.artifacts / "stats.json"
    if ctx.stats and not stats_path.exists():
        write_json_atomic(stats_path, ctx.stats)
    rd.set_flag(sdir, "prepared", began)
    return True


def share_part_wall(rd: RunDir, chain: list[int], stages: list[Stage], wall: float, walls: dict) -> None:
    """Split a chain's part-phase wall time between its stages by their part seconds."""
    seconds = {i: sum(p.get("seconds", 0) for p in rd.part_stats(rd.stage_dir(i, stages[i].name)).values())
               for i in chain}
    total = sum(seconds.values())
    for index in chain:
        walls[index] += wall * (seconds[index] / total if total else 1 / len(chain))


class _NoBar:
    """The progress bar of a run that shows none."""

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, enabled: bool):
    if not enabled or total == 0:  # a disabled tqdm still costs its import and a monitor thread
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="part", leave=False)


def part_paths(rd: RunDir, index: int, num_parts: int) -> list[Path]:
    sdir = rd.stage_dir_at(index)
    return [rd.part_path(sdir, p) for p in range(num_parts)]


# ---------------------------------------------------------------- summaries


def stage_summary(rd: RunDir, index: int, stage: Stage, fp: str, num_parts: int, wall: float) -> dict:
    sdir = rd.stage_dir(index, stage.name)
    parts = rd.part_stats(sdir)
    counters: dict[str, int] = {}
    for p in parts.values():
        for key, value in p.get("counters", {}).items():
            if isinstance(value, (int, float)):
                counters[key] = counters.get(key, 0) + value
    stats_path = rd.artifacts(sdir) / "stats.json"
    return {
        "name": stage.name, "dir": sdir.name, "version": stage.version, "fingerprint": fp,
        "config": stage.config_dict(), "parts": num_parts, "parts_done": len(parts),
        "rows_in": sum(p["rows_in"] for p in parts.values()),
        "rows_out": sum(p["rows_out"] for p in parts.values()),
        "rejected": sum(p["rejected"] for p in parts.values()),
        "counters": counters,
        "prepare_stats": _read_json(stats_path) if stats_path.exists() else {},
        "part_seconds": round(sum(p.get("seconds", 0) for p in parts.values()), 3),
        "wall_seconds": round(wall, 3),
    }
