"""The Ray executor runs the same parts as the local one and produces the same bytes.

One local Ray instance (2 CPUs) is shared by the module. Test-only stages are defined here and
registered in `curate.registry.STAGES` at runtime; the executor ships the registry to workers,
and this folder is on the workers' PYTHONPATH (set before Ray starts, so the raylet and every
worker it spawns inherit it), so `test_ray:CrashStage` imports there too.
"""

from __future__ import annotations

import json
import operator
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import vllm_fixtures
from vllm_fixtures import engine_options

from curate import registry
from curate.errors import CurateError, InputError, MissingExtra
from curate.executors import TaskSpec
from curate.recipe import load_recipe
from curate.rundir import RunDir
from curate.runner import run_recipe
from curate.stages.base import PartContext, Stage, StageConfig

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")

tiny_model = vllm_fixtures.tiny_model  # the session's tiny model (a fixture)
HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "recipes" / "data"
TEST_STAGES = {
    "ray_crash": f"{__name__}:CrashStage",
    "ray_crash_engine": f"{__name__}:CrashEngineStage",
    "ray_fail": f"{__name__}:FailStage",
    "ray_fail_engine": f"{__name__}:FailEngineStage",
    "ray_placed_engine": f"{__name__}:PlacedEngineStage",
}


# ------------------------------------------------------------------ test-only stages


class CrashConfig(StageConfig):
    crash_part: int = -1
    trigger: str = ""  # a file; the first attempt of `crash_part` that claims it kills its process
    sleep: float = 0.0


class CrashStage(Stage):
    """Pass-through that dies (os._exit, like a killed worker) once, on one part."""

    name = "ray_crash"
    Config = CrashConfig

    def run(self, batches, ctx: PartContext):
        time.sleep(self.config.sleep)
        if ctx.part == self.config.crash_part and _claim(self.config.trigger):
            os._exit(1)
        ctx.stats["pid"] = os.getpid()
        yield from super().run(batches, ctx)


class CrashEngineStage(CrashStage):
    """The same, as a stage that keeps an engine warm: it runs in a pool of Ray actors."""

    name = "ray_crash_engine"
    max_parallel = 1


class PlacedEngineStage(CrashStage):
    """An engine replica in its own placement group (how a multi-node vLLM engine is placed)."""

    name = "ray_placed_engine"
    max_parallel = 1

    def resources(self) -> dict:
        return {"bundles": [{"CPU": 1}], "strategy": "PACK"}

    def run(self, batches, ctx: PartContext):
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            group = sys.modules["ray"].util.get_current_placement_group()
            ctx.stats["placement_group"] = group.id.hex() if group else None
        yield from super().run(batches, ctx)


class FailConfig(StageConfig):
    fail_part: int = 0
    error: str = "value"  # value: a ValueError (retried); input: an InputError (not retried)


class FailStage(Stage):
    """Raises on one part, on every attempt; records each attempt in the part's scratch."""

    name = "ray_fail"
    Config = FailConfig

    def run(self, batches, ctx: PartContext):
        if ctx.part == self.config.fail_part:
            ctx.scratch.mkdir(parents=True, exist_ok=True)
            (ctx.scratch / f"attempt-{time.time_ns()}").touch()
            if self.config.error == "input":
                raise InputError("part has a bad row", "fix the row")
            raise ValueError("boom in the stage")
        yield from super().run(batches, ctx)


class FailEngineStage(FailStage):
    """The same, in an engine actor: the actor survives the exception and takes the retry."""

    name = "ray_fail_engine"
    max_parallel = 1


def _claim(trigger: str) -> bool:
    try:
        os.unlink(trigger)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return True


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance for the module; yields its address."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), saved) if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture(autouse=True)
def registered_test_stages(monkeypatch):
    for name, path in TEST_STAGES.items():
        monkeypatch.setitem(registry.STAGES, name, path)


def corpus(tmp_path: Path) -> list[dict]:
    """The sample corpus when present, else a small synthetic one written under tmp_path."""
    if (SAMPLE / "math.jsonl").exists() and (SAMPLE / "general.jsonl").exists():
        return [
            {"path": str(SAMPLE / "math.jsonl"), "domain": "math", "license": "cc-by-4.0",
             "columns": {"problem": "question", "reference": "gold"}, "trace": "generation"},
            {"path": str(SAMPLE / "general.jsonl"), "domain": "general", "messages": "messages"},
        ]
    rows = [{"q": f"What is {i} + {i % 7}?", "gold": str(i + i % 7),
             "gen": f"<think>\nadd {i} and {i % 7}\n</think>\n\n\\boxed{{{i + i % 7}}}",
             "fr": "length" if i % 11 == 0 else "stop"} for i in range(150)]
    path = tmp_path / "math.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:20]))
    return [{"path": str(path), "domain": "math", "license": "cc-by-4.0", "trace": "gen",
             "columns": {"problem": "q", "reference": "gold", "finish_reason": "fr"}}]


def write_recipe(tmp_path: Path, extra: list[dict] = (), *, rows_per_part: int = 20,
                 dedup: bool = False, limit: int | None = None) -> Path:
    """load, `extra`, filter, (dedup when asked and built), write: 9 parts of the sample corpus."""
    import yaml

    stages = [{"use": "load", "rows_per_part": rows_per_part}, *extra,
              {"use": "filter", "finish_reason": ["stop"], "domains": ["math"]}]
    if dedup and "dedup" in registry.available():
        stages.append({"use": "dedup"})
    stages.append({"use": "write", "configs": {"reasoning": {"domain": ["math"]},
                                               "general": {"domain": ["general"]}},
                   "all_config": "all"})
    sources = [{**s, "limit": limit} if limit else s for s in corpus(tmp_path)]
    recipe = {"name": "raytest", "seed": 7, "sources": sources, "stages": stages}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def dataset_bytes(run_dir: Path) -> dict[str, bytes]:
    """The published files; the card's measured compute cost (engine seconds) is masked, since two
    runs of one recipe take different times while every other byte must agree."""
    import re

    root = run_dir / "dataset"
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    if "README.md" in files:
        files["README.md"] = re.sub(rb"\n\| (CPU|GPU) \| [^\n]*-hours \|[^\n]*", b"\n| (measured cost) |",
                                    files["README.md"])
    assert any(name.endswith(".parquet") for name in files), f"no parquet in {root}"
    return files


def markers(run_dir: Path, stage: str) -> dict[str, dict]:
    sdir = next(d for d in RunDir(run_dir).stage_dirs() if d.name.endswith(stage))
    return {p.name: json.loads(p.read_text()) for p in sorted((sdir / "_done").glob("*.json"))}


def local_reference(recipe: Path, run_dir: Path) -> dict[str, bytes]:
    run_recipe(load_recipe(recipe), run_dir, workers=1, progress=False)
    return dataset_bytes(run_dir)


# ------------------------------------------------------------------ equivalence


def test_cli_ray_run_matches_local_byte_for_byte(cluster, tmp_path):
    recipe = write_recipe(tmp_path, dedup=True)
    reference = local_reference(recipe, tmp_path / "local")
    out = subprocess.run(
        [sys.executable, "-m", "curate", "run", str(recipe), "--run-dir", str(tmp_path / "ray"),
         "--executor", "ray", "--address", cluster, "--quiet"],
        check=False, capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert dataset_bytes(tmp_path / "ray") == reference
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    for stage in manifest["stages"].values():
        assert stage["parts_done"] == stage["parts"] > 1


def test_quickstart_on_ray_matches_local(cluster, tmp_path):
    quickstart = HERE.parent / "recipes" / "quickstart.yaml"
    if not quickstart.exists():
        pytest.skip("recipes/quickstart.yaml is not in this checkout")
    recipe = load_recipe(quickstart)
    run_recipe(recipe, tmp_path / "local", workers=1, progress=False)
    run_recipe(recipe, tmp_path / "ray", executor="ray", progress=False)
    assert dataset_bytes(tmp_path / "ray") == dataset_bytes(tmp_path / "local")


@pytest.mark.parametrize("stage", ["ray_crash", "ray_crash_engine"])
def test_killed_worker_is_retried_and_output_is_identical(cluster, tmp_path, stage):
    trigger = tmp_path / "crash-once"
    recipe = write_recipe(tmp_path, [{"use": stage, "crash_part": 1, "trigger": str(trigger)}])
    reference = local_reference(recipe, tmp_path / "local")
    trigger.touch()
    run_recipe(load_recipe(recipe), tmp_path / "ray", executor="ray", progress=False)
    assert not trigger.exists(), "the crash never happened: the test proves nothing"
    assert dataset_bytes(tmp_path / "ray") == reference
    done = markers(tmp_path / "ray", stage)
    assert len(done) == 9
    if stage == "ray_crash_engine":
        # one actor at a time (max_parallel=1): part 0 ran in the first actor, which died on
        # part 1; its replacement ran every later part, so exactly two processes were used
        pids = [m["stats"]["pid"] for m in done.values()]
        assert len(set(pids)) == 2 and pids[0] != pids[1] == pids[-1]


def test_engine_replica_runs_in_its_placement_group(cluster, tmp_path):
    recipe = write_recipe(tmp_path, [{"use": "ray_placed_engine"}])
    reference = local_reference(recipe, tmp_path / "local")
    run_recipe(load_recipe(recipe), tmp_path / "ray", executor="ray", progress=False)
    assert dataset_bytes(tmp_path / "ray") == reference
    groups = {m["stats"]["placement_group"] for m in markers(tmp_path / "ray", "engine").values()}
    assert len(groups) == 1 and None not in groups  # one replica, inside its group
    table = ray.util.placement_group_table()
    assert table[groups.pop()]["state"] == "REMOVED"  # released with the stage


@pytest.mark.vllm
def test_generation_runs_in_an_engine_actor_and_matches_local(cluster, tiny_model, tmp_path):
    generate = {"use": "generate", "domains": ["math"],
                **engine_options(tiny_model, n=2, max_tokens=8)}
    recipe = write_recipe(tmp_path, [generate], rows_per_part=4, limit=6)
    reference = local_reference(recipe, tmp_path / "local")  # the session's in-process engine
    run_recipe(load_recipe(recipe), tmp_path / "ray", executor="ray", progress=False)
    assert dataset_bytes(tmp_path / "ray") == reference
    done = markers(tmp_path / "ray", "generate")
    assert len(done) == 3 and sum(m["counters"].get("samples", 0) for m in done.values()) == 12


def test_resume_after_driver_is_killed(cluster, tmp_path):
    recipe = write_recipe(tmp_path, [{"use": "ray_crash", "sleep": 0.4}])
    reference = local_reference(recipe, tmp_path / "local")
    run_dir = tmp_path / "ray"
    driver = tmp_path / "driver.py"
    driver.write_text(
        "import sys\nfrom curate import registry\n"
        f"registry.STAGES.update({TEST_STAGES!r})\n"
        "from curate.cli import main\n"
        f"sys.argv = ['curate', 'run', {str(recipe)!r}, '--run-dir', {str(run_dir)!r}, "
        f"'--executor', 'ray', '--address', {cluster!r}, '--quiet']\nmain()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ["PYTHONPATH"]])}
    proc = subprocess.Popen([sys.executable, str(driver)], env=env, stderr=subprocess.PIPE)
    try:
        before = _wait_for_markers(run_dir, "ray_crash", at_least=2, proc=proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(before) < 9, "the driver finished before it was killed: the test proves nothing"
    run_recipe(load_recipe(recipe), run_dir, executor="ray", progress=False)
    after = markers(run_dir, "ray_crash")
    assert len(after) == 9
    assert {name: after[name] for name in before} == before  # finished parts were not redone
    assert dataset_bytes(run_dir) == reference


def _wait_for_markers(run_dir: Path, stage: str, *, at_least: int, proc) -> dict[str, dict]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        try:
            found = markers(run_dir, stage)
        except (StopIteration, FileNotFoundError, json.JSONDecodeError):
            found = {}
        if len(found) >= at_least:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {at_least} finished parts of {stage} within the deadline")


# ------------------------------------------------------------------ failures


@pytest.mark.parametrize("stage", ["ray_fail", "ray_fail_engine"])
def test_failing_part_is_retried_then_reported(cluster, tmp_path, monkeypatch, stage):
    monkeypatch.setenv("CURATE_RAY_MAX_RETRIES", "1")
    recipe = write_recipe(tmp_path, [{"use": stage, "fail_part": 2}])
    with pytest.raises(CurateError) as info:
        run_recipe(load_recipe(recipe), tmp_path / "run", executor="ray", progress=False)
    message = str(info.value)
    assert f"part 2 of stage 01-{stage} failed 2 time(s)" in message
    assert "ValueError: boom in the stage" in message
    assert "rerun the same command" in message
    scratch = tmp_path / "run" / f"01-{stage}" / "scratch" / "part-00002"
    assert len(list(scratch.iterdir())) == 2
    done = markers(tmp_path / "run", stage)
    assert "part-00002.json" not in done and "part-00001.json" in done


def test_curate_error_in_a_part_is_not_retried(cluster, tmp_path):
    recipe = write_recipe(tmp_path, [{"use": "ray_fail", "fail_part": 3, "error": "input"}])
    with pytest.raises(InputError) as info:
        run_recipe(load_recipe(recipe), tmp_path / "run", executor="ray", progress=False)
    assert str(info.value).startswith("part 3 of stage 01-ray_fail: part has a bad row")
    assert info.value.hint == "fix the row"
    scratch = tmp_path / "run" / "01-ray_fail" / "scratch" / "part-00003"
    assert len(list(scratch.iterdir())) == 1


# ------------------------------------------------------------------ fan-out, sizing, storage


def test_prepare_fan_out_yields_every_result(cluster):
    from curate.executors import make_executor

    executor = make_executor("ray", workers=2)
    try:
        got = sorted(executor.run(TaskSpec(operator.mul, [(i, i + 1) for i in range(12)], max_parallel=2)))
        assert got == sorted(i * (i + 1) for i in range(12))
        assert list(executor.map(operator.mul, [])) == []
    finally:
        executor.close()
    assert ray.is_initialized(), "closing must not shut down a Ray instance it did not start"


def test_fan_out_error_names_the_function_and_item(cluster, monkeypatch):
    from curate.executors.ray import RayExecutor

    executor = RayExecutor(max_retries=0)
    with pytest.raises(CurateError) as info:
        list(executor.map(operator.truediv, [(1, 1), (1, 0)]))
    assert "truediv(1, 0) failed 1 time(s)" in str(info.value)
    assert "ZeroDivisionError" in str(info.value)


def test_engine_replicas_follow_the_cluster_gpus():
    from curate.executors.ray_resources import Request, fit

    request = Request.of({"num_gpus": 4, "memory": 2**30, "nvlink": 1})
    assert request.options == {"num_gpus": 4, "memory": 2**30, "num_cpus": 1,
                               "resources": {"nvlink": 1}}
    cluster = {"CPU": 64.0, "GPU": 16.0, "memory": 2.0**36, "nvlink": 3.0}
    assert fit(cluster, request) == 3  # the custom resource is the bottleneck
    assert fit({"CPU": 64.0, "GPU": 3.0}, Request.of({"num_gpus": 4})) == 0
    assert fit({"CPU": 5.0}, Request.of({})) == 5
    # a replica spanning two 8-GPU nodes (tensor parallel 8 x pipeline parallel 2)
    spanning = Request.of({"bundles": [{"GPU": 1, "CPU": 1}] * 16, "strategy": "pack"})
    assert spanning.options == {"num_cpus": 0} and spanning.strategy == "PACK"
    assert fit({"CPU": 96.0, "GPU": 40.0}, spanning) == 2
    with pytest.raises(CurateError, match="not one of"):
        Request.of({"bundles": [{"GPU": 1}], "strategy": "nearby"})


def test_part_invisible_to_the_driver_is_a_storage_error(tmp_path):
    from curate.executors.ray import check_visible

    rd = RunDir(tmp_path)
    spec = TaskSpec(operator.mul, [], label="01-filter", describe=lambda task: f"part {task[2]}",
                    done_marker=lambda task: rd.marker(tmp_path / "01-filter", task[2]))
    with pytest.raises(CurateError, match="not visible from the driver") as info:
        check_visible(spec, (str(tmp_path), 1, 4, 9), "node-b", patience=0.2)
    assert "part 4 of stage 01-filter" in info.value.message
    assert "storage every Ray node mounts" in info.value.hint
    rd.mark_done(tmp_path / "01-filter", 4, {})
    check_visible(spec, (str(tmp_path), 1, 4, 9), "node-b")


def test_unreachable_address_fails_fast_with_a_hint(tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    recipe = write_recipe(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "curate", "run", str(recipe), "--run-dir", str(tmp_path / "run"),
         "--executor", "ray", "--address", f"127.0.0.1:{port}"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 1
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in out.stderr
    assert "ray start --head" in out.stderr


def test_token_auth_cluster_without_the_token_mode_gets_the_fix(cluster, tmp_path):
    if os.environ.get("RAY_AUTH_MODE") != "token":
        pytest.skip("this Ray version started the test cluster without token authentication")
    out = subprocess.run(
        [sys.executable, "-m", "curate", "run", str(write_recipe(tmp_path)), "--run-dir",
         str(tmp_path / "run"), "--executor", "ray", "--address", cluster],
        check=False, capture_output=True, text=True, timeout=120,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_gcs_server_port_wait_time_s": "1"},
    )
    assert out.returncode == 1
    assert "set RAY_AUTH_MODE=token" in out.stderr, out.stderr[-2000:]


def test_without_ray_the_executor_names_the_install_line(monkeypatch):
    from curate.executors import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtra) as info:
        make_executor("ray")
    assert info.value.hint == "pip install 'curate[ray]'"


def test_passthrough_stage_keeps_rows():
    from curate.schema import TRACE_SCHEMA
    from curate.stages.base import run_stage_on

    rows = pa.Table.from_pylist([{"id": "a", "domain": "math", "problem": "p"}], TRACE_SCHEMA)
    out, _ = run_stage_on(CrashStage(), rows)
    assert out.equals(rows)
