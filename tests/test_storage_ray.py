"""Ray without a shared filesystem: a local Ray cluster (a head and a second node, started with
`ray start`) whose nodes each have their own working-copy folder, a driver with a third, and
the run directory on a real S3-protocol server. Parts travel only through the store, and the
result is byte-identical to a local run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from curate.recipe import load_recipe
from curate.runner import run_recipe
from tests.helpers.s3 import fresh_bucket, objects, s3_server, tree
from tests.test_storage import slow_recipe

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parent.parent


def ray_node(args: list[str], cache: Path) -> subprocess.Popen:
    """`ray start --block` in a session of its own (so the test stops exactly its own processes),
    with its own working-copy folder."""
    env = {**os.environ, "CURATE_CACHE": str(cache), "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "disabled"}  # a cluster on 127.0.0.1 of this test only
    return subprocess.Popen([sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--num-cpus=1",
                             "--node-ip-address=127.0.0.1", "--disable-usage-stats", *args], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_nodes(address: str, count: int) -> None:
    deadline = time.time() + 180
    while time.time() < deadline:
        probe = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={address!r}, "
                                "logging_level='error'); print(len([n for n in ray.nodes() if n['Alive']]))"],
                               capture_output=True, text=True, timeout=120,
                               env={**os.environ, "RAY_AUTH_MODE": "disabled"})
        if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(2)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes")


def stop(node: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(node.pid, sig)
        except ProcessLookupError:
            return
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The S3 server, then a two-node Ray cluster whose nodes see it (and not each other's files)."""
    tmp = tmp_path_factory.mktemp("ray-s3")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"127.0.0.1:{port}"
    with s3_server():
        nodes = [ray_node(["--head", f"--port={port}", "--include-dashboard=false",
                           f"--temp-dir=/tmp/ray-s3-{os.getpid()}"], tmp / "head-cache")]
        try:
            wait_for_nodes(address, 1)
            nodes.append(ray_node([f"--address={address}"], tmp / "node-cache"))
            wait_for_nodes(address, 2)
            yield address, tmp
        finally:
            for node in reversed(nodes):
                stop(node)


@pytest.mark.slow
def test_ray_workers_use_their_own_working_copies(cluster, tmp_path, monkeypatch):
    from tests.helpers.slow_stage import register

    address, tmp = cluster
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    register()
    recipe = slow_recipe(tmp_path)
    reference = tmp_path / "reference"
    run_recipe(load_recipe(recipe), reference, progress=False)

    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "driver-cache"))
    bucket = fresh_bucket()
    # the source on the store too: each node downloads its own copy
    boto3.client("s3").upload_file(str(tmp_path / "m.jsonl"), bucket, "corpus/m.jsonl")
    recipe.write_text(recipe.read_text().replace("path: m.jsonl", f"path: s3://{bucket}/corpus/m.jsonl"))
    assert "s3://" in recipe.read_text()
    run_recipe(load_recipe(recipe), f"s3://{bucket}/run", executor="ray", address=address, workers=2,
               progress=False)
    stored = objects(bucket, "run")
    dataset = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("dataset/")}
    local = tree(reference / "dataset")
    # the card's source table names the source as the recipe wrote it
    assert dataset.pop("README.md").replace(f"s3://{bucket}/corpus/".encode(), b"") == local.pop("README.md")
    assert dataset == local
    for key in [k for k in stored if k.startswith("01-slow/part-")]:
        assert stored[key] == (reference / key).read_bytes()
    # the parts were computed in the nodes' own working copies; the driver fetched them (and the
    # rejects the card counts) from the store for write's finalize, so the card above matches too
    on_nodes = [p for cache in (tmp / "head-cache", tmp / "node-cache") for p in cache.rglob("01-slow/part-*.parquet")]
    assert len(on_nodes) >= 12
    assert [p for cache in (tmp / "head-cache", tmp / "node-cache") for p in cache.rglob("sources/*/m.jsonl")]
