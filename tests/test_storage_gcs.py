"""A run directory on gs://, against a real GCS-protocol server on 127.0.0.1 (gcp-storage-emulator,
tests/helpers/gcs.py): the quickstart gives the bytes of the local run, and `curate status`
reads it back. The same storage layer as s3:// (tests/test_storage.py), another fsspec backend."""

from __future__ import annotations

import importlib.util
import os

import pytest

from curate.recipe import load_recipe
from curate.runner import run_recipe
from tests.helpers.s3 import QUICKSTART, tree

if importlib.util.find_spec("gcsfs") is None:
    pytest.skip("gcsfs is not installed (curate[gcs])", allow_module_level=True)
pytest.importorskip("gcp_storage_emulator")
# read when gcsfs is imported (tests/helpers/gcs.py says why): set for the session, harmless elsewhere
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@pytest.fixture(scope="module")
def gcs():
    from tests.helpers.gcs import gcs_server

    with gcs_server() as endpoint:
        yield endpoint


@pytest.mark.slow
def test_quickstart_on_gcs_gives_the_local_bytes(gcs, cache, local_quickstart):
    from curate.cli.inspect import status_table
    from tests.helpers.gcs import fresh_bucket, objects

    bucket = fresh_bucket()
    url = f"gs://{bucket}/runs/quickstart"
    run_recipe(load_recipe(QUICKSTART), url, progress=False)
    stored = objects(bucket, "runs/quickstart")
    dataset = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("dataset/")}
    assert dataset == tree(local_quickstart / "dataset")
    parts = {k: v for k, v in stored.items() if k[:2].isdigit() and k.count("/") == 1 and k.endswith(".parquet")}
    assert parts and all(v == (local_quickstart / k).read_bytes() for k, v in parts.items())
    table = status_table(url)
    assert table.splitlines()[0].startswith(f"run {url}") and f"dataset: {url}/dataset" in table
    # the viewer reads the parts in place through gcsfs, as through s3fs
    from curate.view import query
    from curate.view.server import Viewer

    remote, local = Viewer(url), Viewer(str(local_quickstart))
    assert {n: t.rows for n, t in remote.tables.items()} == {n: t.rows for n, t in local.tables.items()}
    for name in ("everything", "dataset/reasoning"):
        assert query.page(remote.tables[name], limit=15) == query.page(local.tables[name], limit=15)
    assert (cache / "read").is_dir() and not list((cache / "read").rglob("*.parquet"))  # nothing came down
