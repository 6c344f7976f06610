"""Shared fixtures: paths to the sample corpus and a helper to run recipes in tmp folders."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
SAMPLE = RECIPES / "data"


@pytest.fixture
def write_jsonl(tmp_path):
    """Write rows (dicts) to a JSONL file under tmp_path; returns its path."""

    def write(name: str, rows: list[dict]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    return write


@pytest.fixture
def write_recipe(tmp_path):
    """Write a recipe dict as YAML next to the data; returns its path."""
    import yaml

    def write(recipe: dict, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        return path

    return write


@pytest.fixture(autouse=True)
def _restore_stage_registry():
    """Test-only stages (slow, boom) registered by one test must not leak into the CLI that later
    tests (the README reference, help texts) generate."""
    from curate import registry

    saved = dict(registry.STAGES)
    yield
    registry.STAGES.clear()
    registry.STAGES.update(saved)


# ---------------------------------------------------------------- object storage (tests/helpers/s3.py)


@pytest.fixture(scope="module")
def s3():
    """A real S3-protocol server on 127.0.0.1 (moto), the AWS environment pointed at it, with
    SECRET as the secret key (so tests can look for it where it must not be)."""
    from tests.helpers.s3 import SECRET, s3_server

    with s3_server() as endpoint:
        os.environ["AWS_SECRET_ACCESS_KEY"] = SECRET  # restored by s3_server
        yield endpoint


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh local working-copy root for this test."""
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def local_quickstart(tmp_path_factory):
    """The quickstart run on local disk (the reference for runs on a store)."""
    from curate.recipe import load_recipe
    from curate.runner import run_recipe
    from tests.helpers.s3 import QUICKSTART

    run_dir = tmp_path_factory.mktemp("local") / "run"
    run_recipe(load_recipe(QUICKSTART), run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def s3_quickstart(s3, tmp_path_factory):
    """The quickstart run with its run directory on the S3 server: (its URL, the working-copy root
    the run used, the run's working copy: the same run on local disk, to compare commands with).
    Commands that read it get a fresh CURATE_CACHE from `cache`."""
    from curate.recipe import load_recipe
    from curate.rundir import RunDir
    from curate.runner import run_recipe
    from tests.helpers.s3 import QUICKSTART, fresh_bucket

    url = f"s3://{fresh_bucket()}/runs/quickstart"
    writer_cache = tmp_path_factory.mktemp("writer-cache")
    saved = os.environ.get("CURATE_CACHE")
    os.environ["CURATE_CACHE"] = str(writer_cache)
    try:
        run_recipe(load_recipe(QUICKSTART), url, progress=False)
        working_copy = RunDir(url).path
    finally:
        os.environ.pop("CURATE_CACHE") if saved is None else os.environ.__setitem__("CURATE_CACHE", saved)
    return url, writer_cache, working_copy
