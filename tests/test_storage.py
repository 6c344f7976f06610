"""Runs, sources and datasets on object storage, against a real S3-protocol server (moto's server
on 127.0.0.1): the quickstart gives the same bytes as on local disk, a run killed mid-stage
resumes byte-identically from the store alone, unmarked leftovers are ignored and replaced, and
the failures a user can fix are explained."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.storage import StorageError, Store
from tests.helpers.s3 import QUICKSTART, SECRET, fresh_bucket, objects, tree, upload_folder

ROOT = Path(__file__).resolve().parent.parent
# fixtures `s3`, `cache`, `local_quickstart` and `s3_quickstart`: tests/conftest.py


@pytest.mark.slow
def test_quickstart_on_s3_gives_the_local_bytes(s3_quickstart, local_quickstart):
    url, cache, _ = s3_quickstart
    bucket = url.split("/")[2]
    stored = objects(bucket, "runs/quickstart")
    dataset = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("dataset/")}
    assert dataset == tree(local_quickstart / "dataset")
    assert len(dataset) >= 4
    parts = {k: v for k, v in stored.items() if k[:2].isdigit() and k.count("/") == 1 and k.endswith(".parquet")}
    assert parts and all(v == (local_quickstart / k).read_bytes() for k, v in parts.items())
    # every part object is named, with its size and hash, by the marker written after it
    for key, data in parts.items():
        stage, name = key.split("/")
        marker = json.loads(stored[f"{stage}/_done/{name.replace('.parquet', '.json')}"])
        assert marker["files"][key]["size"] == len(data)
    assert not any(SECRET.encode() in data for data in stored.values())
    assert not any(SECRET.encode() in data for data in tree(cache).values())


@pytest.mark.slow
def test_sources_on_s3(s3, cache, local_quickstart, tmp_path):
    bucket = fresh_bucket()
    data = upload_folder(ROOT / "recipes" / "data", bucket, "corpus")
    recipe = yaml.safe_load(QUICKSTART.read_text())
    for source in recipe["sources"]:
        source["path"] = f"{data}/{Path(source['path']).name}"
    recipe["base_dir"] = str(ROOT / "recipes")  # the benchmark file stays local
    path = tmp_path / "quickstart-s3.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run_recipe(load_recipe(path), f"s3://{bucket}/runs/q", progress=False)
    dataset = {k.split("/", 1)[1]: v for k, v in objects(bucket, "runs/q").items() if k.startswith("dataset/")}
    local = tree(local_quickstart / "dataset")
    # the card's source table names each source as the recipe wrote it
    assert dataset.pop("README.md").replace(f"`{data}/".encode(), b"`data/") == local.pop("README.md")
    assert dataset == local


# ---------------------------------------------------------------- kill, resume, leftovers


def slow_recipe(tmp_path: Path, slow: float | None = 0.3) -> Path:
    rows = [{"question": f"Q{i}: {i} * 3?", "answer": "x" * i} for i in range(60)]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = {"name": "resume", "seed": 3, "stages": [
        {"use": "load", "rows_per_part": 5}, *([{"use": "slow", "seconds": slow}] if slow else []),
        {"use": "filter", "max_chars": 40}, {"use": "write"}],  # rejects: the card counts them
        "sources": [{"path": "m.jsonl", "domain": "math", "columns": {"problem": "question"}}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow
def test_sigkill_then_resume_from_the_store_alone_is_byte_identical(s3, cache, tmp_path):
    from tests.helpers.slow_stage import register

    register()
    recipe = slow_recipe(tmp_path)
    reference = tmp_path / "reference"
    run_recipe(load_recipe(recipe), reference, progress=False)

    bucket = fresh_bucket()
    url = f"s3://{bucket}/run"
    env = {**os.environ, "CURATE_CACHE": str(tmp_path / "killed-cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.slow_stage", str(recipe), url], cwd=ROOT, env=env)
    store = Store(url)
    deadline = time.time() + 120
    while time.time() < deadline and len(store.listing("01-slow/_done")) < 4 and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = store.listing("01-slow/_done")
    assert 4 <= len(done) < 12, "the kill must land mid-stage"

    # an unmarked leftover: half an upload of a part that has no marker
    leftover = "01-slow/part-00011.parquet"
    assert "01-slow/_done/part-00011.json" not in done
    store.fs.pipe_file(store.key(leftover), b"PAR1 half an upload")

    run_recipe(load_recipe(recipe), url, progress=False)  # a fresh working copy (`cache`): only the store
    stored = objects(bucket, "run")
    assert {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("dataset/")} == \
        tree(reference / "dataset")
    assert stored[leftover] == (reference / leftover).read_bytes()
    for key in [k for k in stored if k.startswith("01-slow/part-")]:
        assert stored[key] == (reference / key).read_bytes()


def test_readers_ignore_unmarked_parts_and_refuse_a_changed_one(s3, cache, tmp_path, monkeypatch):
    from curate.rundir import RunDir

    bucket = fresh_bucket()
    rd = RunDir(f"s3://{bucket}/r")
    sdir = rd.stage_dir(0, "load")
    rd.part_path(sdir, 0).parent.mkdir(parents=True)
    rd.part_path(sdir, 0).write_bytes(b"part zero")
    assert not rd.is_done(sdir, 0)
    rd.mark_done(sdir, 0, {"rows_out": 1})
    assert rd.is_done(sdir, 0) and rd.has_part(sdir, 0)

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "other"))  # another machine: its own working copy
    other = RunDir(f"s3://{bucket}/r")
    other.fetch_part(other.stage_dir(0, "load"), 0)
    assert other.part_path(other.stage_dir(0, "load"), 0).read_bytes() == b"part zero"
    assert not other.is_done(other.stage_dir(0, "load"), 1)

    rd.store.fs.pipe_file(rd.store.key(rd.rel(rd.part_path(sdir, 0))), b"edited!!!")  # same size, other bytes
    other.part_path(other.stage_dir(0, "load"), 0).unlink()
    with pytest.raises(Exception, match="does not match its marker"):
        other.fetch_part(other.stage_dir(0, "load"), 0)


def test_a_failed_run_keeps_its_working_copy_a_finished_one_drops_it(s3, cache, tmp_path):
    from curate.rundir import RunDir
    from tests.helpers.slow_stage import register_boom

    register_boom()
    trigger = tmp_path / "fail-now"
    trigger.touch()
    data = yaml.safe_load(slow_recipe(tmp_path, slow=None).read_text())
    data["stages"].insert(1, {"use": "boom", "fail_part": 7, "trigger": str(trigger)})
    (tmp_path / "boom.yaml").write_text(yaml.safe_dump(data))
    recipe = load_recipe(tmp_path / "boom.yaml")
    url = f"s3://{fresh_bucket()}/run"
    working = RunDir(url).path
    with pytest.raises(ValueError, match="boom"):
        run_recipe(recipe, url, progress=False, clean=True)
    kept = RunDir.parts(RunDir(url).stage_dir(1, "boom"))
    assert kept and working.is_dir(), "a failed run keeps its parts locally for the resume"

    trigger.unlink()
    run_recipe(recipe, url, progress=False, clean=True)
    assert not working.exists()
    assert Store(url).exists("dataset/README.md")
    assert RunDir(url).read_run_state() == {}  # nothing local is left to read

    run_recipe(recipe, url, progress=False)  # a rerun pulls only the state: nothing to redo
    assert RunDir(url).read_manifest()["stages"]["1"]["recomputed"] is False


def test_a_rerun_finalize_deletes_what_the_new_dataset_lacks(s3, cache, tmp_path):
    recipe = load_recipe(slow_recipe(tmp_path, slow=None))
    url = f"s3://{fresh_bucket()}/run"
    run_recipe(recipe, url, progress=False)
    store = Store(url)
    first = {k for k in store.listing("dataset")}
    flag = next(k for k in store.listing() if k.endswith("-write/_finalized"))
    store.delete(flag)  # as if killed while finalizing, after a dataset with one more file
    store.fs.pipe_file(store.key("dataset/data/old-config.parquet"), b"from an older write")
    run_recipe(recipe, url, progress=False)
    assert set(store.listing("dataset")) == first
    assert store.exists(flag)


def test_a_part_task_reads_only_what_the_driver_does_not_settle(s3, cache, tmp_path, monkeypatch):
    """`task_state` from a driver that pulled: a task whose working copy holds the same bytes reads
    nothing; one holding other bytes (a stale copy) reads the store's; an absent marker is absent."""
    from curate.rundir import RunDir

    url = f"s3://{fresh_bucket()}/r"
    driver = RunDir(url)
    sdir = driver.stage_dir(0, "load")
    driver.part_path(sdir, 0).parent.mkdir(parents=True)
    driver.part_path(sdir, 0).write_bytes(b"part zero")
    driver.mark_done(sdir, 0, {"rows_out": 1})
    driver.pull()
    known = {**driver.task_state([sdir], 0), **driver.task_state([sdir], 1)}
    assert known[driver.rel(driver.marker(sdir, 1))] is None

    reads = []
    monkeypatch.setattr(driver.store, "cat_many", lambda rels: reads.extend(rels) or {})
    assert driver.open_part_task([sdir], 0, known) == {sdir} and reads == []

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "worker"))  # another machine, a stale copy
    worker = RunDir(url)
    wdir = worker.stage_dir(0, "load")
    worker.marker(wdir, 0).parent.mkdir(parents=True)
    for part in (0, 1):
        worker.marker(wdir, part).write_text('{"rows_out": 99}')
    assert worker.open_part_task([wdir], 0, known) == {wdir}
    assert json.loads(worker.marker(wdir, 0).read_text())["rows_out"] == 1  # the store's, not the stale one
    assert worker.open_part_task([wdir], 1, known) == set()
    assert not worker.marker(wdir, 1).exists()


# ---------------------------------------------------------------- errors a user can fix


def test_missing_bucket_is_named(s3, cache):
    with pytest.raises(StorageError, match=r"s3://no-such-bucket-here.*bucket does not exist") as error:
        run_recipe(load_recipe(QUICKSTART), "s3://no-such-bucket-here/run", progress=False)
    assert "Create the bucket" in error.value.hint


def test_missing_credentials_are_named(s3, cache, tmp_path, monkeypatch):
    bucket = fresh_bucket()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(StorageError, match=rf"no valid credentials for s3://{bucket}/run") as error:
        run_recipe(load_recipe(QUICKSTART), f"s3://{bucket}/run", progress=False)
    assert "AWS_ACCESS_KEY_ID" in error.value.hint


class Flaky:
    """The fsspec boundary: raise what s3fs raises for a service error `code`, `times` times."""

    def __init__(self, code: str, times: int, status: int):
        self.code, self.times, self.status, self.calls = code, times, status, 0

    def put_file(self, local, key):
        from botocore.exceptions import ClientError
        from s3fs.errors import translate_boto_error

        self.calls += 1
        if self.calls <= self.times:
            response = {"Error": {"Code": self.code, "Message": f"{self.code} from the test"},
                        "ResponseMetadata": {"HTTPStatusCode": self.status}}
            raise translate_boto_error(ClientError(response, "PutObject"))


@pytest.fixture
def quick_backoff(monkeypatch):
    from curate.storage import store

    monkeypatch.setattr(store, "BACKOFF", 0.001)


def test_throttling_is_retried_with_backoff(quick_backoff, tmp_path):
    store = Store("s3://bucket/run")
    store._fs = Flaky("SlowDown", times=3, status=503)
    store.put(tmp_path, "part")
    assert store._fs.calls == 4


def test_throttling_that_persists_is_explained(quick_backoff, tmp_path):
    store = Store("s3://bucket/run")
    store._fs = Flaky("SlowDown", times=100, status=503)
    with pytest.raises(StorageError, match=r"throttling requests while uploading to s3://bucket/run/part") as error:
        store.put(tmp_path, "part")
    assert "fewer --workers" in error.value.hint
    assert store._fs.calls > 3


def test_permission_denied_is_explained_and_not_retried(quick_backoff, tmp_path):
    store = Store("s3://bucket/run")
    store._fs = Flaky("AccessDenied", times=100, status=403)
    with pytest.raises(StorageError, match=r"permission denied uploading to s3://bucket/run/part") as error:
        store.put(tmp_path, "part")
    assert "s3:PutObject" in error.value.hint
    assert store._fs.calls == 1


def test_a_missing_extra_names_the_install_line(monkeypatch):
    from curate.errors import MissingExtra
    from curate.storage import store

    monkeypatch.setattr(store, "_FILESYSTEMS", {})  # none made yet in this process
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what an environment without the extra imports
    with pytest.raises(MissingExtra, match="s3fs") as error:
        Store("s3://bucket/run").fs
    assert error.value.hint == "pip install 'curate[s3]'"


def test_an_unreachable_endpoint_is_retried_then_explained(s3, cache, quick_backoff, monkeypatch):
    """A real transient failure: connections refused (a closed port), retried, then named."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again once the probe goes
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries off: ours are under test
    store = Store("s3://bucket/run")
    calls = []
    real = store.fs.exists

    def counted(key):
        calls.append(key)
        return real(key)

    store._fs = type("Counted", (), {"exists": staticmethod(counted)})()
    with pytest.raises(StorageError, match=r"did not answer while checking s3://bucket/run/x") as error:
        store.exists("x")
    assert len(calls) > 1
    assert "AWS_ENDPOINT_URL" in error.value.hint


def test_the_cli_runs_on_s3_and_explains_a_missing_bucket(s3, cache, tmp_path):
    recipe = slow_recipe(tmp_path, slow=None)
    bucket = fresh_bucket()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "curate", "run", str(recipe), "--quiet", "--run-dir"]
    ok = subprocess.run([*command, f"s3://{bucket}/cli"], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert f"Dataset: s3://{bucket}/cli/dataset" in ok.stdout
    assert f"Report:  s3://{bucket}/cli/reports/report.html" in ok.stdout
    assert Store(f"s3://{bucket}/cli").exists("dataset/README.md")
    assert Store(f"s3://{bucket}/cli").exists("reports/report.html")
    assert (tmp_path / "cache" / "runs").is_dir()
    assert not list((tmp_path / "cache" / "runs").glob("*")), "a finished run's working copy is dropped"
    bad = subprocess.run([*command, "s3://no-such-bucket-cli/r"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert bad.returncode == StorageError.exit_code
    assert "s3://no-such-bucket-cli" in bad.stderr and "Hint: Create the bucket" in bad.stderr
