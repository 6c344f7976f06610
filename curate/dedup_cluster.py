"""The global dedup pass: candidate pairs from band keys, exact check, union-find, keep rule.

Input: the signature files (one per part, plus the earlier release's when deduplicating
`against:` it). Memory is linear in units with a small constant and never holds text:

1. Unit table: key, exact hash, length, pass count, source, prior flag for every unit. Units
   get an index in (prior first, then key) order, so everything below is independent of row
   order and part count.
2. Exact groups: units with equal normalised-text hashes are joined to the smallest index of
   their group; only one representative per group enters LSH (templates cost nothing extra).
3. LSH, one band at a time: the band's key column is read from all signature files (Parquet
   reads just that column), sorted by (key, index), and each run of equal keys yields edges
   from its first member and from the previous member to each member (2(m-1) edges for m
   members, not m^2). Per-band memory is two arrays of length units.
4. Optional exact check: shingle sets of the units in candidate pairs are recomputed from the
   parts (in parallel tasks) and pairs below the threshold are dropped, so LSH can be tuned
   for recall without paying in precision.
5. Union-find over exact and near edges; per cluster the keeper is the first unit by
   (prior release first, then the configured preferences, then smallest index = smallest key).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
import polars as pl
import pyarrow.parquet as pq

from curate.minhash import jaccard_pairs

ATTRS = ["key", "part", "exact", "shingles", "length", "rows", "passes", "source"]


def load_units(sig_files: list[Path], prior: list[bool]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(occurrences, units): one row per (file, unit) in file order, and one row per unit.

    `occurrences` has the unit index `uidx` of each row of the concatenated signature files;
    `units` is sorted by `uidx` (prior units first, then by key).
    """
    frames = [pl.scan_parquet(str(f)).select(ATTRS).with_columns(pl.lit(p).alias("prior"))
              for f, p in zip(sig_files, prior)]
    occ = pl.concat(frames).collect() if frames else pl.DataFrame(schema={**{a: pl.Utf8 for a in ATTRS}})
    index = (occ.select("prior", "key").unique().sort(["prior", "key"], descending=[True, False])
             .with_row_index("uidx"))
    occ = occ.join(index, on=["prior", "key"], how="left", maintain_order="left")
    units = (occ.group_by("uidx").agg(
        pl.col("key").first(), pl.col("prior").first(), pl.col("exact").min(), pl.col("shingles").max(),
        pl.col("length").min(), pl.col("rows").sum(), pl.col("passes").sum(), pl.col("source").min(),
        pl.col("part").min()).sort("uidx"))
    return occ, units


@numba.njit(cache=True)
def _run_edges(keys, ids, order):
    """Edges (first, member) and (previous, member) within each run of equal keys."""
    n = len(order)
    left = np.empty(2 * n, dtype=np.int64)
    right = np.empty(2 * n, dtype=np.int64)
    k = 0
    start = 0
    for i in range(1, n + 1):
        if i == n or keys[order[i]] != keys[order[start]]:
            first = ids[order[start]]
            for j in range(start + 1, i):
                member, previous = ids[order[j]], ids[order[j - 1]]
                if member != first:
                    left[k], right[k] = first, member
                    k += 1
                if previous != first and previous != member:
                    left[k], right[k] = previous, member
                    k += 1
            start = i
    return left[:k], right[:k]


def unique_edges(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated undirected edges with left < right, sorted."""
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    keep = lo != hi
    pairs = np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0) if keep.any() else np.zeros((0, 2), np.int64)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def exact_edges(units: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, representative): edges to each exact group's smallest index."""
    uidx = units["uidx"].to_numpy().astype(np.int64)
    exact = units["exact"].to_numpy()
    usable = units["shingles"].to_numpy() > 0
    rep = uidx.copy()
    order = np.lexsort((uidx, exact))
    order = order[usable[order]]
    if len(order):
        starts = np.r_[True, exact[order][1:] != exact[order][:-1]]
        group_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        rep[order] = uidx[group_first]
    moved = rep != uidx
    return uidx[moved], rep[moved], rep


def band_edges(sig_files: list[Path], occ: pl.DataFrame, rep: np.ndarray, usable: np.ndarray,
               bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs: units sharing a band key (exact-group representatives only)."""
    row_uidx = occ["uidx"].to_numpy().astype(np.int64)
    first_seen = np.zeros(len(row_uidx), dtype=bool)
    _, first = np.unique(row_uidx, return_index=True)
    first_seen[first] = True
    rows = first_seen & usable[row_uidx] & (rep[row_uidx] == row_uidx)
    ids = row_uidx[rows]
    lefts, rights = [], []
    for band in range(bands):
        column = f"band_{band}"
        keys = np.concatenate([pq.read_table(f, columns=[column])[column].to_numpy() for f in sig_files])[rows]
        order = np.lexsort((ids, keys))
        left, right = _run_edges(keys, ids, order)
        left, right = unique_edges(left, right)
        lefts.append(left)
        rights.append(right)
        del keys, order
    if not lefts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return unique_edges(np.concatenate(lefts), np.concatenate(rights))


def verify_edges(left: np.ndarray, right: np.ndarray, units: pl.DataFrame, threshold: float,
                 fetch_sets: Callable[[pl.DataFrame], tuple[list[str], np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep candidate pairs whose exact shingle-set Jaccard is >= threshold; return (l, r, J)."""
    if len(left) == 0:
        return left, right, np.zeros(0)
    involved = np.unique(np.concatenate([left, right]))
    keys, offsets, values = fetch_sets(units.filter(pl.col("uidx").is_in(pl.Series(involved).implode())))
    position = dict(zip(keys, range(len(keys))))
    unit_keys = units["key"].to_list()
    slot = np.full(len(units), -1, np.int64)
    for u in involved:
        slot[u] = position.get(unit_keys[u], -1)
    found = (slot[left] >= 0) & (slot[right] >= 0)
    left, right = left[found], right[found]
    similarity = jaccard_pairs(offsets, values, slot[left], slot[right])
    keep = similarity >= threshold - 1e-9
    return left[keep], right[keep], similarity[keep]


@numba.njit(cache=True)
def _union_find(n, left, right):
    parent = np.arange(n)
    for e in range(len(left)):
        a, b = left[e], right[e]
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        if a != b:
            if a < b:
                parent[b] = a
            else:
                parent[a] = b
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        parent[i] = r
    return parent


def clusters(n: int, edges: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Connected components: the root (smallest index) of each unit's cluster."""
    left = np.concatenate([e[0] for e in edges] or [np.zeros(0, np.int64)]).astype(np.int64)
    right = np.concatenate([e[1] for e in edges] or [np.zeros(0, np.int64)]).astype(np.int64)
    return _union_find(n, left, right)


def choose_keepers(units: pl.DataFrame, root: np.ndarray, keep: list[str]) -> np.ndarray:
    """The keeper's index for every unit's cluster under the keep rule."""
    uidx = units["uidx"].to_numpy().astype(np.int64)
    if len(uidx) == 0:
        return uidx
    sort_keys: list[np.ndarray] = [uidx]
    for rule in reversed(keep):
        if rule == "verified":
            sort_keys.append(-(units["passes"].to_numpy() > 0).astype(np.int64))
        elif rule == "shortest":
            sort_keys.append(units["length"].to_numpy().astype(np.int64))
        elif rule == "longest":
            sort_keys.append(-units["length"].to_numpy().astype(np.int64))
    sort_keys += [-units["prior"].to_numpy().astype(np.int64), root]
    order = np.lexsort(sort_keys)
    first = np.r_[True, root[order][1:] != root[order][:-1]]
    keeper_of_root = np.empty(len(uidx), np.int64)
    keeper_of_root[root[order][first]] = uidx[order][first]
    return keeper_of_root[root]


def decide(units: pl.DataFrame, root: np.ndarray, keeper: np.ndarray) -> pl.DataFrame:
    """Cluster membership of every unit in a cluster of two or more."""
    size = np.bincount(root, minlength=len(root))[root]
    table = units.with_columns(
        units["key"].gather(keeper).alias("cluster"), pl.Series("size", size, dtype=pl.Int64),
        pl.Series("keeper", keeper == units["uidx"].to_numpy()))
    return table.filter(pl.col("size") > 1)


def write_decisions(occ: pl.DataFrame, members: pl.DataFrame, out_dir: Path, num_parts: int) -> dict[str, Any]:
    """artifacts/decisions/part-XXXXX.parquet: (key, dup_of) for the removed units of each part."""
    out_dir.mkdir(parents=True, exist_ok=True)
    removed = members.filter(~pl.col("keeper") & ~pl.col("prior")).select("uidx", pl.col("cluster").alias("dup_of"))
    rows = occ.filter(~pl.col("prior")).join(removed, on="uidx", how="inner").select("part", "key", "dup_of")
    for part in range(num_parts):
        chunk = rows.filter(pl.col("part") == part).select("key", "dup_of").sort("key")
        chunk.write_parquet(out_dir / f"part-{part:05d}.parquet")
    return {"removed_units": removed.height, "removed_rows": int(
        members.filter(~pl.col("keeper") & ~pl.col("prior"))["rows"].sum() or 0)}
