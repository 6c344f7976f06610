"""Sources at `hf://datasets/ORG/NAME/...` (fsspec URLs of files in a Hub dataset repository), and
`hub:`/`hf:` ids beside them. The Hub is not reachable here: the test goes through the Hub
stand-in at the fsspec boundary (`hub_standin.hub_files`, in place of HfFileSystem), so what it
checks is curate's side: the URL is read as files (not handed to `datasets.load_dataset`), they
are downloaded once into the source cache and again only when they change, the card names the
repository, and the token reaches neither the run directory nor the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from fsspec.registry import _registry
from hub_standin import hub_files

from curate import io
from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.storage import local_source, store
from tests.helpers.s3 import QUICKSTART, tree

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_notARealTokenButSecret456"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A Hub repository `me/pool` holding the sample corpus under data/, behind hf://."""
    folder = tmp_path / "hub"
    shutil.copytree(ROOT / "recipes" / "data", folder / "datasets" / "me" / "pool" / "data")
    monkeypatch.setitem(_registry, "hf", hub_files(folder))
    monkeypatch.setattr(store, "_FILESYSTEMS", {})  # none made with the real HfFileSystem
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    return folder / "datasets" / "me" / "pool"


def test_hf_urls_are_files_and_hf_ids_are_datasets():
    assert io.detect_format("hf:me/pool") == io.detect_format("hub:me/pool") == "hub"
    assert io.is_hub_shorthand("hf:me/pool") and not io.is_hub_shorthand("hf://datasets/me/pool/a.parquet")
    assert io.hub_id("hf://datasets/me/pool@v1/data/a.parquet") == io.hub_id("hub:me/pool") == "me/pool"
    assert io.hub_id("hf://models/me/m/a.bin") is None and io.hub_id("data/a.parquet") is None


def test_an_hf_source_is_downloaded_once_and_again_when_it_changes(hub):
    url = "hf://datasets/me/pool/data/math.jsonl"
    local = Path(local_source(url))
    assert local.read_bytes() == (hub / "data" / "math.jsonl").read_bytes()
    stamp = local.stat().st_mtime_ns
    assert Path(local_source(url)).stat().st_mtime_ns == stamp  # unchanged: not fetched again
    (hub / "data" / "math.jsonl").write_bytes(b'{"question": "1+1?", "gold": "2"}\n'.ljust(local.stat().st_size))
    assert Path(local_source(url)).read_bytes() == (hub / "data" / "math.jsonl").read_bytes()
    folder = Path(local_source("hf://datasets/me/pool/data"))
    assert sorted(p.name for p in folder.glob("*.jsonl")) == sorted(p.name for p in (hub / "data").glob("*.jsonl"))


@pytest.mark.slow
def test_quickstart_from_hf_sources(hub, tmp_path, local_quickstart):
    recipe = yaml.safe_load(QUICKSTART.read_text())
    for source in recipe["sources"]:
        source["path"] = f"hf://datasets/me/pool/data/{Path(source['path']).name}"
    recipe["base_dir"] = str(ROOT / "recipes")  # the benchmark file stays local
    path = tmp_path / "quickstart-hf.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    run_dir = tmp_path / "run"
    run_recipe(load_recipe(path), run_dir, progress=False)
    dataset, local = tree(run_dir / "dataset"), tree(local_quickstart / "dataset")
    card = dataset.pop("README.md").decode()
    local.pop("README.md")
    assert dataset == local
    assert "- me/pool" in card.split("---")[1]  # the card's source_datasets name the repository
    for folder in (run_dir, tmp_path / "cache"):
        assert not [name for name, data in tree(folder).items() if TOKEN.encode() in data]
