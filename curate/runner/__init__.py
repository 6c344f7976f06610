"""The stage loop: fingerprint checks, prepare phases, part tasks, finalize, manifest.

A run is resumable by construction: every finished part has a marker, and a rerun skips marked
parts; `resume` refuses a run directory made with another config. `state` records the run's
state for `curate push --follow`.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

from curate.errors import disk_error
from curate.executors import TaskSpec
from curate.part_columns import drop_early, start_early
from curate.part_task import overlapped_finishing, run_part
from curate.recipe import Recipe
from curate.registry import stage_class
from curate.rundir import RunDir, write_json_atomic
from curate.runner.resume import (  # noqa: F401 (fingerprinted_config: re-exported)
    check_resume,
    fingerprinted_config,
    fingerprints,
    read_json,
    save_fingerprint,
)
from curate.runner.state import RunState
from curate.stages.base import PrepareContext, Stage


def build_stages(recipe: Recipe) -> list[Stage]:
    return [stage_class(e.use)(e.config) for e in recipe.stage_entries()]


def run_recipe(
    recipe: Recipe,
    run_dir: str | Path,
    *,
    force: tuple[str, ...] = (),
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: bool = True,
    clean: bool = False,
    chart_helper: bool = False,
    charts_after: bool = False,
) -> dict[str, Any]:
    """Run (or resume) every stage of `recipe` in `run_dir`; return the manifest.

    `clean`: for a run directory on object storage, delete the local working copy once the run
    has finished (`RunDir.drop_working_copy`); a failed run keeps it, so its resume reads less.
    `chart_helper`: start the chart helper process when charts are to be drawn (`curate run`
    does; a library caller need not: a spawned process imports the caller's main script again,
    which must then guard its work with `if __name__ == "__main__":`). `charts_after`: the
    caller draws charts when the run is done (`curate run`'s report)."""
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
            if chart_helper:
                start_chart_helper(rd, stages, chain[0], charts_after)
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
    if clean:
        rd.drop_working_copy()
    return manifest


def start_chart_helper(rd: RunDir, stages: list[Stage], first: int, charts_after: bool) -> None:
    """Before the chain starting at `first`: start the chart helper if charts are still to be
    drawn (a stage's finalize, or `charts_after` the run) and no stage before them fills the
    cores (engines, verify's checkers). It then imports matplotlib on a core the lighter stages
    leave idle (`curate.text.chart_process`)."""
    from curate.text import chart_process

    for index in range(first, len(stages)):
        stage = stages[index]
        if stage.fills_cores or stage.max_parallel is not None:
            return
        if stage.draws_charts() and not rd.has_flag(rd.stage_dir(index, stage.name), "finalized"):
            break
    else:
        if not charts_after:
            return
    chart_process.start()


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
    for index in chain:  # half-written files of a crashed attempt (no task of this run is running yet)
        rd.remove_temporaries(rd.stage_dir(index, stages[index].name))
    for index in chain:
        began = time.time()
        ctx = stage_context(rd, index, stages[index], num_parts, seed, pool, inputs=index == first)
        if len(chain) == 1 and index and getattr(pool, "inline", False) and rd.store is None:
            ctx.start_parts = functools.partial(start_first_part, rd, index, stages[index], num_parts)
        worked = prepare(rd, index, stages[index], ctx) or worked
        if index == 0:
            num_parts = stages[0].num_parts(ctx)
        walls[index] += time.time() - began
    last_dir = rd.stage_dir(last, stages[last].name)
    todo = unfinished_parts(rd, last_dir, num_parts)
    worked = worked or bool(todo)
    if todo and mark_views(rd, chain, stages, todo, stage_context(rd, first, stages[first], num_parts, seed, pool,
                                                                 inputs=False)):
        return num_parts, worked, walls
    for index in chain if todo else ():  # on object storage: unmarked leftovers of killed attempts
        rd.remove_unmarked(rd.stage_dir(index, stages[index].name), num_parts)
    dirs = [rd.stage_dir(k, stages[k].name) for k in range(max(0, first - 1), last + 1)]
    tasks = [(rd.location, first, p, num_parts, last, rd.task_state(dirs, p)) for p in todo]
    label = "+".join(f"{i:02d}-{stages[i].name}" for i in chain)
    began = time.time()
    bar = _progress(len(todo), label, progress)
    spec = part_tasks(rd, tasks, label, stages[first], last_dir)
    try:
        with overlapped_finishing():  # this process's parts: the next starts while the last is written
            for _ in pool.run(spec):
                bar.update(1)
    finally:
        drop_early()  # a part copy started during prepare that no task took
    bar.close()
    for index in chain if not getattr(pool, "same_machine", False) else ():
        rd.pull_markers(rd.stage_dir(index, stages[index].name))  # markers other machines wrote (Ray)
    share_part_wall(rd, chain, stages, time.time() - began, walls)
    return num_parts, worked, walls


def start_first_part(rd: RunDir, index: int, stage: Stage, num_parts: int) -> None:
    """`PrepareContext.start_parts`: the first unfinished part's column copy starts now."""
    todo = unfinished_parts(rd, rd.stage_dir(index, stage.name), num_parts)
    if todo and not stage.terminal:
        start_early(rd, stage, index, todo[0])


def unfinished_parts(rd: RunDir, stage_dir: Path, num_parts: int) -> list[int]:
    """The parts of a stage without a done marker, in order."""
    done = rd.done_parts(stage_dir, num_parts)
    return [p for p in range(num_parts) if p not in done]


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
    rd.mark_many(sdir, {part: {**views[part], "kept": False, "view": True} for part in todo})
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
    try:
        stage.prepare(ctx)
    except BaseException:
        drop_early()  # a part copy it started (`start_parts`): no part task will take it
        raise
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
        "prepare_stats": read_json(stats_path) if stats_path.exists() else {},
        "part_seconds": round(sum(p.get("seconds", 0) for p in parts.values()), 3),
        "wall_seconds": round(wall, 3),
    }
