"""Resumable runs: crash safety, refusal of changed configs, --force, and no-op reruns."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curate.errors import ResumeConflict
from curate.recipe import load_recipe
from curate.rundir import RunDir
from curate.runner import run_recipe
from tests.helpers.slow_stage import register

ROOT = Path(__file__).resolve().parent.parent


def make_recipe(tmp_path, write_jsonl, write_recipe, *, slow=0.0, verdict=None, keep_load=False):
    write_jsonl("m.jsonl", [{"question": f"Q{i}: {i} * 3?", "answer": "x" * i} for i in range(60)])
    stages = [{"use": "load", "rows_per_part": 5, "keep_parts": keep_load}]
    if slow:
        stages.append({"use": "slow", "seconds": slow})
    stages += [{"use": "filter", "max_chars": 10_000, **({"verdict": verdict} if verdict else {})},
               {"use": "write"}]
    return write_recipe({"name": "resume", "seed": 3, "stages": stages,
                         "sources": [{"path": "m.jsonl", "domain": "math", "columns": {"problem": "question"}}]})


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def part_outputs(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.glob("0*/part-*.parquet"))}


def test_sigkill_mid_stage_then_rerun_is_byte_identical(tmp_path, write_jsonl, write_recipe):
    register()
    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe, slow=0.15)
    reference = tmp_path / "reference"
    run_recipe(load_recipe(recipe_path), reference, progress=False)

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.slow_stage", str(recipe_path), str(crashed)],
                            cwd=ROOT)
    done = crashed / "01-slow" / "_done"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(done.glob("*.json"))) < 4:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(done.glob("*.json")))
    assert 4 <= finished < 12, "the kill must land in the middle of the stage"

    manifest = run_recipe(load_recipe(recipe_path), crashed, progress=False)
    slow = manifest["stages"][1]
    assert slow["parts_done"] == 12 and slow["rows_out"] == 60
    assert tree_bytes(crashed / "dataset") == tree_bytes(reference / "dataset")
    assert part_outputs(crashed) == part_outputs(reference)
    assert not list(crashed.rglob(".*.tmp-*")), "no temporary files are left behind"


def test_rerun_of_finished_run_does_no_work_and_changes_nothing(tmp_path, write_jsonl, write_recipe):
    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe)
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    attempt = RunDir(run_dir).run_state_path  # records each attempt (pid, start), like the manifest
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run_dir.rglob("*")
              if p.is_file() and p.name != "manifest.json" and p.name != "recipe.resolved.yaml" and p != attempt}
    run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before}
    assert after == before


def test_changed_config_is_refused_with_diff_and_force_hint(tmp_path, write_jsonl, write_recipe):
    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe)
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    changed = load_recipe(recipe_path, ["stages.filter.max_chars=50"])
    with pytest.raises(ResumeConflict) as info:
        run_recipe(changed, run_dir, progress=False)
    assert "01-filter" in info.value.message and "max_chars: 10000 -> 50" in info.value.message
    assert info.value.hint == "--force filter"


@pytest.mark.parametrize("keep_load", [True, False])
def test_force_recomputes_that_stage_and_everything_after(tmp_path, write_jsonl, write_recipe, keep_load):
    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe, keep_load=keep_load)
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    load_marker = run_dir / "00-load" / "_done" / "part-00000.json"
    load_mtime = load_marker.stat().st_mtime_ns
    manifest = run_recipe(load_recipe(recipe_path, ["stages.filter.max_chars=12"]), run_dir,
                          force=("filter",), progress=False)
    # a kept load part is read again; a streamed one is recomputed from the sources
    assert (load_marker.stat().st_mtime_ns == load_mtime) == keep_load
    assert manifest["stages"][1]["rows_out"] == 13 and manifest["stages"][2]["rows_in"] == 13
    import pyarrow.parquet as pq

    rows = sum(pq.read_metadata(p).num_rows for p in (run_dir / "dataset").rglob("*.parquet"))
    assert rows == manifest["stages"][1]["rows_out"]


def test_run_dir_of_a_different_recipe_is_refused(tmp_path, write_jsonl, write_recipe):
    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe)
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    other = load_recipe(recipe_path, ["name=other", "sources.0.domain=code"])
    with pytest.raises(ResumeConflict, match="made by recipe 'resume'.*00-load"):
        run_recipe(other, run_dir, progress=False)


def test_changed_seed_is_refused_with_the_seed_in_the_diff(tmp_path, write_jsonl, write_recipe):
    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe)
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    with pytest.raises(ResumeConflict) as info:
        run_recipe(load_recipe(recipe_path, ["seed=4"]), run_dir, progress=False)
    assert "00-load" in info.value.message and "seed (recipe): 3 -> 4" in info.value.message
    assert "upstream" not in info.value.message


def test_a_stage_that_failed_before_producing_anything_takes_a_new_config(tmp_path, write_jsonl, write_recipe):
    """mix asked for more rows than there are: fix its counts and rerun, no --force needed."""
    from curate.errors import CurateError

    recipe_path = make_recipe(tmp_path, write_jsonl, write_recipe)
    raw = yaml.safe_load(recipe_path.read_text())
    raw["stages"].insert(2, {"use": "mix", "by": "domain", "counts": {"math": 500}})
    recipe_path.write_text(yaml.safe_dump(raw))
    run_dir = tmp_path / "run"
    with pytest.raises(CurateError, match="mix"):
        run_recipe(load_recipe(recipe_path), run_dir, progress=False)
    assert (run_dir / "02-mix").exists()
    manifest = run_recipe(load_recipe(recipe_path, ["stages.mix.counts={math: 40}"]), run_dir, progress=False)
    assert manifest["stages"][2]["rows_out"] == 40
    # once it produced its parts, a change is refused again
    with pytest.raises(ResumeConflict, match="02-mix"):
        run_recipe(load_recipe(recipe_path, ["stages.mix.counts={math: 30}"]), run_dir, progress=False)
