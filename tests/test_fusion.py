"""Stage fusion and the local executor: fused streaming stages give the same bytes as stages run
one by one, still leave every stage's parts and markers, and `--workers N` puts this process to
work beside N - 1 helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate import runner
from curate.executors import TaskSpec
from curate.executors.local import LocalExecutor
from curate.recipe import load_recipe
from curate.runner import build_stages, chains, run_recipe


def make_recipe(write_jsonl, write_recipe, stages: list[dict]) -> Path:
    write_jsonl("m.jsonl", [{"question": f"Q{i}: what is {i} * 3?", "answer": "x" * (i % 17)} for i in range(80)])
    return write_recipe({"name": "fusion", "seed": 5, "stages": stages,
                         "sources": [{"path": "m.jsonl", "domain": "math", "columns": {"problem": "question"}}]})


STREAMING = [{"use": "load", "rows_per_part": 20}, {"use": "filter", "max_chars": 12}, {"use": "write"}]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix == ".parquet" or p.name == "README.md"}


def test_streaming_stages_fuse_and_global_passes_break_the_chain(write_jsonl, write_recipe):
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, [
        {"use": "load"}, {"use": "filter", "max_chars": 40}, {"use": "dedup"},
        {"use": "filter", "keep": "shortest"}, {"use": "write"}]))
    # dedup's prepare reads every part; a per-problem cap reads them too; write then joins that filter
    assert chains(build_stages(recipe)) == [[0, 1], [2], [3, 4]]


def test_fused_run_matches_the_stage_by_stage_run_byte_for_byte(tmp_path, write_jsonl, write_recipe, monkeypatch):
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, STREAMING))
    fused = run_recipe(recipe, tmp_path / "fused", progress=False)
    assert fused["stages"][0]["fused_with"] == ["filter", "write"]
    monkeypatch.setattr(runner, "fusable", lambda parent, child: False)
    apart = run_recipe(recipe, tmp_path / "apart", progress=False)
    assert "fused_with" not in apart["stages"][0]
    for key in ("rows_in", "rows_out", "rejected", "counters"):
        assert [s[key] for s in fused["stages"].values()] == [s[key] for s in apart["stages"].values()], key
    fused_tree, apart_tree = tree_bytes(tmp_path / "fused"), tree_bytes(tmp_path / "apart")
    load_parts = {k for k in apart_tree if k.startswith("00-load/part-")}
    assert len(load_parts) == 4 and not load_parts & set(fused_tree), "fused load keeps no copy of the sources"
    assert fused_tree == {k: v for k, v in apart_tree.items() if k not in load_parts}
    marker = json.loads((tmp_path / "fused" / "00-load" / "_done" / "part-00000.json").read_text())
    assert marker["kept"] is False and marker["rows_out"] == 20
    # every other stage of the chain still has its parts (inspect, resume, later stages read them)
    assert len(list((tmp_path / "fused" / "01-filter").glob("part-*.parquet"))) == 4
    assert fused["stages"][1]["rejected"] > 0
    assert pq.read_table(tmp_path / "fused" / "rejected" / "01-filter").num_rows == fused["stages"][1]["rejected"]


def test_load_keeps_its_parts_when_asked(tmp_path, write_jsonl, write_recipe, monkeypatch):
    kept = [{**STREAMING[0], "keep_parts": True}, *STREAMING[1:]]
    run_recipe(load_recipe(make_recipe(write_jsonl, write_recipe, kept)), tmp_path / "kept", progress=False)
    monkeypatch.setattr(runner, "fusable", lambda parent, child: False)
    run_recipe(load_recipe(make_recipe(write_jsonl, write_recipe, STREAMING)), tmp_path / "apart", progress=False)
    assert tree_bytes(tmp_path / "kept") == tree_bytes(tmp_path / "apart")


def test_a_resumed_part_recomputes_a_parent_that_kept_no_part(tmp_path, write_jsonl, write_recipe):
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, STREAMING))
    run = tmp_path / "run"
    run_recipe(recipe, run, progress=False)
    before = tree_bytes(run)
    (run / "01-filter" / "_done" / "part-00002.json").unlink()  # as if killed between the two stages
    (run / "01-filter" / "part-00002.parquet").unlink()
    (run / "02-write" / "_done" / "part-00002.json").unlink()
    (run / "02-write" / "_finalized").unlink()  # the crash came before finalize
    manifest = run_recipe(recipe, run, progress=False)
    assert tree_bytes(run) == before
    assert [manifest["stages"][i]["parts_done"] for i in range(3)] == [4, 4, 4]


def test_a_chain_resumes_from_the_last_finished_stage_of_a_part(tmp_path, write_jsonl, write_recipe):
    stages = [{**STREAMING[0], "keep_parts": True}, STREAMING[1]]
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, stages))
    run = tmp_path / "run"
    run_recipe(recipe, run, progress=False)
    before = tree_bytes(run)
    load_marker = run / "00-load" / "_done" / "part-00002.json"
    stamp = load_marker.stat().st_mtime_ns
    (run / "01-filter" / "_done" / "part-00002.json").unlink()  # as if killed between the two stages
    (run / "01-filter" / "part-00002.parquet").unlink()
    manifest = run_recipe(recipe, run, progress=False)
    assert load_marker.stat().st_mtime_ns == stamp, "load's finished part is read, not recomputed"
    assert tree_bytes(run) == before
    assert manifest["stages"][1]["parts_done"] == 4


def test_stage_seconds_are_each_stages_own(tmp_path, write_jsonl, write_recipe):
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, STREAMING))
    run_recipe(recipe, tmp_path / "run", progress=False)
    for stage in ("00-load", "01-filter"):
        for marker in (tmp_path / "run" / stage / "_done").glob("*.json"):
            assert json.loads(marker.read_text())["seconds"] >= 0


def test_a_failure_inside_a_chain_names_its_stage_and_leaves_no_half_parts(tmp_path, write_jsonl, write_recipe):
    from tests.helpers.slow_stage import register_boom

    register_boom()
    trigger = tmp_path / "fail-now"
    trigger.touch()
    stages = [STREAMING[0], {"use": "boom", "fail_part": 2, "trigger": str(trigger)}, *STREAMING[1:]]
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, stages))
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="boom halfway") as info:
        run_recipe(recipe, run, progress=False)
    assert info.value.stage_label == "01-boom"
    assert not list(run.rglob(".*.tmp-*")), "temporary part files of every stage in the chain are gone"
    load_marker = run / "00-load" / "_done" / "part-00002.json"
    assert not load_marker.exists() or json.loads(load_marker.read_text())["kept"] is False
    assert not (run / "01-boom" / "_done" / "part-00002.json").exists()
    trigger.unlink()
    run_recipe(recipe, run, progress=False)
    reference = tmp_path / "reference"
    run_recipe(recipe, reference, progress=False)
    assert tree_bytes(run) == tree_bytes(reference)


def test_a_failure_while_a_part_completes_on_the_finishing_thread(tmp_path, write_jsonl, write_recipe):
    """The chain's last step completes on a helper thread while the next part starts; a failure
    there still names its stage, marks nothing done and resumes to the same bytes."""
    from tests.helpers.slow_stage import register_boom

    register_boom()
    trigger = tmp_path / "fail-now"
    trigger.touch()
    stages = [STREAMING[0], {"use": "boom", "fail_part": 1, "trigger": str(trigger), "late": True}]
    recipe = load_recipe(make_recipe(write_jsonl, write_recipe, stages))
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="boom while completing") as info:
        run_recipe(recipe, run, progress=False)
    assert info.value.stage_label == "01-boom"
    assert not (run / "01-boom" / "_done" / "part-00001.json").exists()
    assert not (run / "01-boom" / "part-00001.parquet").exists()
    assert not list(run.rglob(".*.tmp-*"))
    trigger.unlink()
    run_recipe(recipe, run, progress=False)
    reference = tmp_path / "reference"
    run_recipe(recipe, reference, progress=False)
    assert tree_bytes(run) == tree_bytes(reference)


def _pid(seconds: float) -> int:
    import time

    time.sleep(seconds)
    return os.getpid()


def test_workers_put_this_process_to_work_beside_the_helpers():
    executor = LocalExecutor(workers=2)
    try:
        pids = list(executor.map(_pid, [(0.2,)] * 6))
    finally:
        executor.close()
    assert len(pids) == 6
    assert os.getpid() in pids, "this process takes tasks while the helper is busy"
    assert len(set(pids)) == 2


def test_engine_stages_run_only_in_helpers():
    executor = LocalExecutor(workers=2)
    try:
        pids = list(executor.run(TaskSpec(_pid, [(0.05,)] * 4, max_parallel=2, warm=True)))
    finally:
        executor.close()
    assert len(pids) == 4 and os.getpid() not in pids
