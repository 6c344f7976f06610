"""The lean paths of dedup's clustering give what the plain ones gave."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from curate.dedup import cluster as dc
from curate.dedup.index import _key_suffixes


def _ranks(keys) -> list[int]:
    return pc.rank(keys, sort_keys="ascending", tiebreaker="dense").to_pylist()


def test_keys_without_their_common_prefix_rank_as_the_whole_keys(tmp_path):
    # "é" and "è" share their first UTF-8 byte: a prefix cut by bytes would count one code point
    # too many and make "xa", "xaé" and "xaè" all empty (equal).
    files = [["xaé", "xa", "xaè", "xab"], ["xaè", "xaz", "xa\x00"], []]
    paths = []
    for i, keys in enumerate(files):
        paths.append(tmp_path / f"part-{i}.parquet")
        pl.DataFrame({"key": pl.Series(keys, dtype=pl.Utf8)}).write_parquet(paths[-1])
    whole = pa.chunked_array([pa.array(k, pa.string()) for k in files], pa.string())
    suffixes = _key_suffixes(paths, [0, 1, 2])
    assert suffixes.to_pylist()[:3] == ["é", "", "è"]
    assert _ranks(suffixes) == _ranks(whole)


def test_keys_with_nothing_in_common_are_kept_whole(tmp_path):
    path = tmp_path / "part-0.parquet"
    pl.DataFrame({"key": ["b1", "a2", "b1"]}).write_parquet(path)
    assert _key_suffixes([path], [0]).to_pylist() == ["b1", "a2", "b1"]


def test_where_lists_hits_across_slices():
    mask = np.zeros((1 << 20) + 5, bool)
    mask[[0, 7, (1 << 20) - 1, 1 << 20, (1 << 20) + 4]] = True
    hits = dc._where(mask, np.uint32)
    assert hits.dtype == np.uint32 and hits.tolist() == np.flatnonzero(mask).tolist()
    assert dc._where(np.zeros(0, bool), np.uint32).tolist() == []


def test_bucket_edges_grow_their_room_past_the_first_guess():
    # 100k units in pairs over ~64 partitions: the room starts near 4 x 1.6k + 1k edges, 50k are found
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**63, 50_000, dtype=np.uint64)
    keys = rng.permutation(np.repeat(values, 2))
    ids = np.arange(len(keys), dtype=np.uint32)
    left, right = dc._bucket_edges(keys, ids, np.empty((2, len(keys)), np.uint64))
    order = np.lexsort((ids, keys))
    expected = set(zip(ids[order][0::2].tolist(), ids[order][1::2].tolist()))
    assert len(left) == 50_000 and set(zip(left.tolist(), right.tolist())) == expected
