"""Benchmark indexes kept between runs (curate.decontam.index_cache) and saved with their lookup
tables: what a later run loads is what the build made."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.decontam import index_cache
from curate.decontam.index import BenchIndex
from curate.decontam.index_build import build_index
from curate.decontam.select import BenchItem

ITEMS = [BenchItem("b", str(i), f"Problem {i}: find every prime p below {10 * i + 7} such that p + 2 is prime too "
                   f"and p squared minus one is divisible by {i + 3}, then report their sum.", str(i))
         for i in range(12)]
BENCHMARKS = [{"name": "b", "items": len(ITEMS), "revision": "r1"}]
OPTIONS = {"allowlist": ["find every prime"], "allowlist_min_items": 5, "min_exact_words": 3}


def _saved(index: BenchIndex, folder) -> tuple[str, dict[str, np.ndarray]]:
    index.save(folder)
    with np.load(folder / "index.npz") as data:
        return (folder / "index.json").read_text(), {k: data[k] for k in data.files}


def _same(a, b) -> None:
    assert a[0] == b[0]
    assert list(a[1]) == list(b[1])  # the arrays, in the same order
    for name in a[1]:
        assert a[1][name].dtype == b[1][name].dtype and np.array_equal(a[1][name], b[1][name]), name


def test_a_second_run_loads_what_the_first_built(cache, tmp_path, monkeypatch):
    built = index_cache.index_for(ITEMS, BENCHMARKS, {8, 13}, **OPTIONS)
    assert len(list(index_cache.cache_folder().iterdir())) == 1
    monkeypatch.setattr(index_cache, "build_index", lambda *a, **k: pytest.fail("built again"))
    loaded = index_cache.index_for(ITEMS, BENCHMARKS, {13, 8}, **OPTIONS)
    assert list(loaded.by_n) == list(built.by_n) == [8, 13]
    _same(_saved(loaded, tmp_path / "loaded"), _saved(built, tmp_path / "built"))
    fresh = build_index(ITEMS, BENCHMARKS, {8, 13}, **OPTIONS)
    _same(_saved(fresh, tmp_path / "fresh"), _saved(built, tmp_path / "built2"))


@pytest.mark.parametrize("change", ["items", "benchmarks", "ns", "allowlist", "min_items", "min_exact"])
def test_anything_the_build_reads_changes_the_key(change):
    settings = {"ns": [8], "allowlist": [], "allowlist_min_items": 5, "min_exact_words": 3}
    base = index_cache.key(ITEMS, BENCHMARKS, settings)
    items, benchmarks, other = list(ITEMS), json.loads(json.dumps(BENCHMARKS)), dict(settings)
    if change == "items":
        items[3] = BenchItem("b", "3", ITEMS[3].problem + " Again.", "3")
    elif change == "benchmarks":
        benchmarks[0]["revision"] = "r2"
    else:
        field = {"ns": "ns", "allowlist": "allowlist", "min_items": "allowlist_min_items",
                 "min_exact": "min_exact_words"}[change]
        other[field] = {"ns": [8, 13], "allowlist": ["x y z"], "allowlist_min_items": 0, "min_exact_words": 4}[field]
    assert index_cache.key(items, benchmarks, other) != base


def test_saved_tables_are_the_built_ones_and_old_indexes_still_load(tmp_path):
    index = build_index(ITEMS, BENCHMARKS, {8}, **OPTIONS)
    index.save(tmp_path / "new")
    loaded = BenchIndex.load(tmp_path / "new")
    for mine, theirs in zip(loaded.by_n[8]._tables, index.by_n[8].tables(), strict=True):
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs)
    with np.load(tmp_path / "new" / "index.npz") as data:  # an index saved before the tables were
        np.savez(tmp_path / "new" / "index.npz", **{k: data[k] for k in data.files if "_table_" not in k})
    old = BenchIndex.load(tmp_path / "new")
    assert old.by_n[8]._tables is None
    assert all(np.array_equal(a, b) for a, b in zip(old.by_n[8].tables(), index.by_n[8].tables(), strict=True))


def test_an_unwritable_cache_is_skipped(cache, monkeypatch):
    cache.mkdir(parents=True)
    (cache / "decontam-index").write_text("not a folder")
    index = index_cache.index_for(ITEMS, BENCHMARKS, {8}, **OPTIONS)
    assert list(index.by_n) == [8]


def test_only_the_newest_indexes_stay(cache, monkeypatch):
    monkeypatch.setattr(index_cache, "KEEP", 2)
    for n in (6, 7, 8):
        index_cache.index_for(ITEMS, BENCHMARKS, {n}, **OPTIONS)
    assert len(list(index_cache.cache_folder().iterdir())) == 2
