"""A run directory on gs://, against a real GCS-protocol server on 127.0.0.1 (gcp-storage-emulator,
tests/helpers/gcs.py): the quickstart stores exactly the files of its working copy (parts, marked;
the dataset), and `curate status` and `curate view` read it back. The same storage layer as s3://
(tests/test_storage.py, which also checks the bytes equal a run on local disk), another fsspec
backend."""

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
def test_quickstart_on_gcs(gcs, cache):
    from curate.cli.inspect import status_table
    from curate.rundir import RunDir
    from curate.view import query
    from curate.view.server import Viewer
    from tests.helpers.gcs import fresh_bucket, objects

    bucket = fresh_bucket()
    url = f"gs://{bucket}/runs/quickstart"
    run_recipe(load_recipe(QUICKSTART), url, progress=False)
    copy = RunDir(url).path  # the run's working copy: what it computed, on local disk
    stored = objects(bucket, "runs/quickstart")
    dataset = {k.split("/", 1)[1]: v for k, v in stored.items() if k.startswith("dataset/")}
    assert dataset == tree(copy / "dataset") and "README.md" in dataset
    parts = {k: v for k, v in stored.items() if k[:2].isdigit() and k.count("/") == 1 and k.endswith(".parquet")}
    assert len(parts) >= 20 and all(v == (copy / k).read_bytes() for k, v in parts.items())
    assert all(k.replace(".parquet", ".json").replace("/part-", "/_done/part-") in stored for k in parts)
    table = status_table(url)
    assert table.splitlines()[0].startswith(f"run {url}") and f"dataset: {url}/dataset" in table
    # the viewer reads the parts in place through gcsfs, as through s3fs
    remote, local = Viewer(url), Viewer(str(copy))
    assert {n: t.rows for n, t in remote.tables.items()} == {n: t.rows for n, t in local.tables.items()}
    for name in ("everything", "dataset/reasoning"):
        assert query.page(remote.tables[name], limit=15) == query.page(local.tables[name], limit=15)
    assert (cache / "read").is_dir() and not list((cache / "read").rglob("*.parquet"))  # nothing came down
