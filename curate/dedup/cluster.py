"""The global dedup pass: candidate pairs from band keys, exact check, union-find, keep rule.

Input: the signature files (one per part, plus the earlier release's when deduplicating
`against:` it), through `curate.dedup.index.UnitIndex`. Memory is linear in units with a small
constant (integers only: no keys, no Arrow table, until the clusters are known) and never
holds text:

1. Units: a number per unit in (prior first, then key) order, so everything below is
   independent of row order and part count; exact hash, usable flag and first occurrence.
2. Exact groups: units with equal normalised-text hashes are joined to the smallest index of
   their group; only one representative per group enters LSH (templates cost nothing extra).
3. LSH, one band at a time: the band's keys are read from all signature files (one
   contiguous slice of each band-major `bands.npy`, read rather than memory-mapped) and
   bucketed in one compiled pass with a hash table over the units in index order; each bucket
   yields edges from its first member and from the previous member to each member (2(m-1)
   edges for m members, not m^2), exactly the edges a sort by (key, index) would give.
   Per-band memory is a few arrays of length units.
4. Optional exact check, a chunk of candidate pairs at a time: the shingle values the
   signature pass kept for each unit are read (memory-mapped, only the involved units of the
   chunk, so memory does not grow with the corpus) and hashed per pair; pairs below the threshold
   are dropped, so LSH can be tuned for recall without paying in precision.
5. Union-find over exact and near edges; only then are the members of clusters of two or more
   read back with their keys and attributes, and per cluster the keeper is the first member by
   (prior release first, then the configured preferences, then smallest index = smallest key).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.dedup.graph_kernels import _bucket_edges, _union_find
from curate.dedup.index import UnitIndex
from curate.dedup.minhash import bag_jaccard
from curate.rundir import part_file_name
from curate.schema import empty_table
from curate.text.arrow import bool_array, numbers, numpy_array, true_mask
from curate.text.small import pick
from curate.text.sorted_sets import sorted_union, sorted_unique


def unique_edges(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated undirected edges with left < right, sorted."""
    lo, hi = np.minimum(left, right).astype(np.int64), np.maximum(left, right).astype(np.int64)
    keep = lo != hi
    if not keep.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    width = np.int64(hi[keep].max()) + 1
    packed = sorted_unique(lo[keep] * width + hi[keep]) if width < 2**31 else None
    if packed is None:
        pairs = np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0)
        return pairs[:, 0], pairs[:, 1]
    return packed // width, packed % width


def exact_edges(exact: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, lone): edges from each unit of an exact group to the group's smallest index,
    and whether each unit is the smallest of its group (the one unit LSH sees of it)."""
    order = np.flatnonzero(usable)
    order = order[np.argsort(exact[order], kind="stable")]  # by hash, then index
    lone = np.ones(len(exact), bool)
    if len(order):
        sorted_exact = exact[order]
        starts = np.r_[True, sorted_exact[1:] != sorted_exact[:-1]]
        del sorted_exact
        group_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        moved = group_first != order
        lone[order[moved]] = False
        left, right = order[moved], group_first[moved]
        back = np.argsort(left, kind="stable")  # by unit, as before
        return left[back], right[back], lone
    return np.zeros(0, np.int64), np.zeros(0, np.int64), lone


def band_edges(index: UnitIndex, lone: np.ndarray, bands: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs: units sharing a band key (usable exact-group representatives only).

    One band at a time: each file's band is read into a buffer of one file's rows (a memory
    map would keep every band read resident until unmapped: 8 bytes a unit for each band) and
    its representatives' keys gathered from it, so no array spans every row. Memory: 36 bytes a
    representative (unit numbers and rows as uint32 while they fit) and the edges found.
    """
    from curate.dedup.units import companion

    narrow = np.uint32 if len(index.uidx) < 2**32 else np.int64
    ids = _where(lone & index.usable, narrow)  # ascending
    rows = index.first[ids].astype(narrow)
    by_row = np.argsort(rows, kind="stable").astype(narrow)  # representatives file by file
    rows = rows[by_row]
    bounds = np.searchsorted(rows, index.starts)
    buffer = np.empty(int(np.diff(index.starts).max(initial=0)), np.uint64)  # one file's band
    scratch = np.empty((2, len(ids)), dtype=np.uint64)  # reused by every band
    keys = np.empty(len(ids), np.uint64)
    width = index.units  # an edge (l, r) as l * width + r: sorted codes are sorted pairs
    packable = width < 2**31
    codes, lefts, rights = np.zeros(0, np.int64), [], []
    for band in range(bands):
        for f, path in enumerate(index.sig_files):
            start, size = int(index.starts[f]), int(index.starts[f + 1] - index.starts[f])
            read_row(companion(path, "bands"), band, buffer[:size])
            lo, hi = bounds[f], bounds[f + 1]
            keys[by_row[lo:hi]] = buffer[rows[lo:hi] - start]
        left, right = pick(_bucket_edges, len(keys), 2e-5)(keys, ids, scratch)
        if packable:  # deduplicated band by band: a close pair recurs in most bands (1M edges at 1M rows)
            codes = sorted_union(codes, left * np.int64(width) + right)
        else:
            lefts.append(left.copy())  # not a view: the kernel's buffers have room to spare
            rights.append(right.copy())
        del left, right
    if packable:
        return codes // width, codes % width
    if not lefts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return unique_edges(np.concatenate(lefts), np.concatenate(rights))


def _where(mask: np.ndarray, dtype) -> np.ndarray:
    """np.flatnonzero(mask) as `dtype`, a slice at a time (no int64 array of every hit)."""
    step = 1 << 20
    return np.concatenate([np.flatnonzero(mask[at:at + step]).astype(dtype) + dtype(at)
                           for at in range(0, len(mask), step)] or [np.zeros(0, dtype)])


def read_row(path: Path, row: int, out: np.ndarray) -> None:
    """out[:] = one row of a 2-d C-order .npy file, read (not memory-mapped)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                 else np.lib.format.read_array_header_2_0(f))
        assert not fortran and len(shape) == 2 and shape[1] == len(out) and dtype == out.dtype
        f.seek(row * shape[1] * dtype.itemsize, 1)
        if len(out) and f.readinto(memoryview(out).cast("B")) != out.nbytes:
            raise OSError(f"{path}: short read of band {row}")


VERIFY_PAIRS = 4_096  # candidate pairs checked at once: at most 2x that many units' shingles in memory
# (about 3 KB each at R1 length: 25 MB, not the 100 MB of 16k pairs, which set the peak at 300k rows)


def verify_edges(left: np.ndarray, right: np.ndarray, index: UnitIndex, threshold: float,
                 threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep candidate pairs whose exact shingle-set Jaccard is >= threshold; return (l, r, J).

    The shingles come from the signature pass's files (only the involved units' slices are
    read), so no text is read or tokenised again. Chunks of pairs run on `threads` threads (the
    reads and the kernel release the GIL), VERIFY_PAIRS pairs in flight in all.
    """
    if len(left) == 0:
        return left, right, np.zeros(0)
    similarity = np.empty(len(left), np.float64)
    chunks = threads * -(-len(left) // VERIFY_PAIRS)  # rounds of `threads` equal chunks
    step = -(-len(left) // chunks)

    def check(lo: int) -> None:
        chunk_left, chunk_right = left[lo:lo + step], right[lo:lo + step]
        involved = sorted_unique(np.concatenate([chunk_left, chunk_right]))
        offsets, values = gather_shingles(index, involved)
        similarity[lo:lo + len(chunk_left)] = bag_jaccard(
            offsets, values, np.searchsorted(involved, chunk_left), np.searchsorted(involved, chunk_right))

    starts = range(0, len(left), step)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(threads, thread_name_prefix="curate-verify") as pool:
            list(pool.map(check, starts))
    else:
        for lo in starts:
            check(lo)
    keep = similarity >= threshold - 1e-9
    return left[keep], right[keep], similarity[keep]


def gather_shingles(index: UnitIndex, involved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values): the shingle values of units `involved` (ascending), in that order."""
    from curate.dedup.units import companion

    files, positions = index.locate(involved)
    lengths = np.zeros(len(involved), np.int64)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, Path]] = []
    for f in sorted_unique(files):
        path = index.sig_files[f]
        offs = np.load(companion(path, "shingle_offsets"), mmap_mode="r")
        slots = np.flatnonzero(files == f)
        pos = positions[slots]
        starts, stops = np.asarray(offs[pos]), np.asarray(offs[pos + 1])
        del offs
        lengths[slots] = stops - starts
        pieces.append((slots, starts, stops, companion(path, "shingle_values")))
    out_offsets = np.zeros(len(involved) + 1, np.int64)
    np.cumsum(lengths, out=out_offsets[1:])
    out_values = np.empty(int(out_offsets[-1]), np.uint32)
    for slots, starts, stops, path in pieces:
        _read_slices(path, starts, stops, out_values, out_offsets[slots])
    return out_offsets, out_values


def _read_slices(path: Path, starts: np.ndarray, stops: np.ndarray, out: np.ndarray, targets: np.ndarray) -> None:
    """out[targets[i]:...] = values[starts[i]:stops[i]] of a 1-d uint32 .npy file, read with
    pread: a memory map would count every page the kernel maps around each slice (most of a
    part's shingles) as resident memory of the process, for a few KB of each unit. The C build's
    loop holds no GIL, so chunks of pairs gather on threads at once."""
    import os

    from curate.dedup import native

    order = np.argsort(starts, kind="stable")  # in file order
    with open(path, "rb") as f:
        if np.lib.format.read_magic(f) == (1, 0):
            np.lib.format.read_array_header_1_0(f)
        else:
            np.lib.format.read_array_header_2_0(f)
        base = f.tell()
        if native.available():
            short = native.read_slices(f.fileno(), base, starts[order], stops[order], targets[order], out)
            if short >= 0:
                raise OSError(f"{path}: short read at value {starts[order[short]]}")
            return
        fd, view = f.fileno(), memoryview(out).cast("B")
        for i in order:
            start, size, target = int(starts[i]) * 4, int(stops[i] - starts[i]) * 4, int(targets[i]) * 4
            if size and os.preadv(fd, [view[target:target + size]], base + start) != size:
                raise OSError(f"{path}: short read at value {starts[i]}")


def clusters(n: int, edges: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Connected components: the root (smallest index) of each unit's cluster."""
    left = np.concatenate([e[0] for e in edges] or [np.zeros(0, np.int64)]).astype(np.int64)
    right = np.concatenate([e[1] for e in edges] or [np.zeros(0, np.int64)]).astype(np.int64)
    return pick(_union_find, n + len(left))(n, left, right)


def cluster_members(root: np.ndarray) -> np.ndarray:
    """The units (ascending) in clusters of two or more."""
    size = np.bincount(root, minlength=len(root))
    return np.flatnonzero(size[root] > 1)


def choose_keepers(members: pa.Table, root: np.ndarray, keep: list[str]) -> np.ndarray:
    """The keeper's index for each member's cluster under the keep rule (`root`: the members' roots;
    every cluster is whole among the members, its root included)."""
    uidx = numbers(members["uidx"]).astype(np.int64)
    if len(uidx) == 0:
        return uidx
    sort_keys: list[np.ndarray] = [uidx]
    length = numbers(members["length"]).astype(np.int64)
    for rule in reversed(keep):
        if rule == "verified":
            sort_keys.append(-(numbers(members["passes"]) > 0).astype(np.int64))
        elif rule == "shortest":
            sort_keys.append(length)
        elif rule == "longest":
            sort_keys.append(-length)
    sort_keys += [-true_mask(members["prior"]).astype(np.int64), root]
    order = np.lexsort(sort_keys)
    first = np.r_[True, root[order][1:] != root[order][:-1]]
    slot = np.searchsorted(uidx, root)  # a root is the smallest member of its cluster
    keeper_of_slot = np.empty(len(uidx), np.int64)
    keeper_of_slot[slot[order][first]] = uidx[order][first]
    return keeper_of_slot[slot]


def decide(members: pa.Table, root: np.ndarray, keeper: np.ndarray) -> pa.Table:
    """Cluster membership of every unit in a cluster of two or more (`members`: their rows), in
    one chunk a column, so clusters.parquet's layout depends on the rows alone, not on how the
    members were read (or on a machine's thread count)."""
    _, inverse, counts = np.unique(root, return_inverse=True, return_counts=True)
    uidx = numbers(members["uidx"]).astype(np.int64)
    cluster = members["key"].take(numpy_array(np.searchsorted(uidx, keeper).astype(np.int64)))
    size = numpy_array(counts[inverse].astype(np.int64))
    return (members.append_column("cluster", cluster).append_column("size", size)
            .append_column("keeper", bool_array(keeper == uidx)).combine_chunks())


DECISIONS = pa.schema([("key", pa.large_string()), ("dup_of", pa.large_string())])


def write_decisions(occ: pa.Table, members: pa.Table, out_dir: Path, num_parts: int) -> dict[str, Any]:
    """artifacts/decisions/part-XXXXX.parquet: (key, dup_of) for the removed units of each part,
    sorted by key. `members` is sorted by `uidx`, so each occurrence finds its unit by a search."""
    out_dir.mkdir(parents=True, exist_ok=True)
    gone = removed_mask(members)
    uidx = numbers(members["uidx"])[gone]
    dup_of = members["cluster"].filter(bool_array(gone))
    mine = numbers(occ["uidx"])
    slot = np.minimum(np.searchsorted(uidx, mine), max(len(uidx) - 1, 0))
    hit = (uidx[slot] == mine if len(uidx) else np.zeros(len(mine), bool)) & ~true_mask(occ["prior"])
    rows = pa.table({"part": occ["part"].filter(bool_array(hit)), "key": occ["key"].filter(bool_array(hit)),
                     "dup_of": dup_of.take(numpy_array(slot[hit].astype(np.int64)))})
    rows = rows.take(pc.sort_indices(rows, sort_keys=[("part", "ascending"), ("key", "ascending")]))
    bounds = np.searchsorted(numbers(rows["part"]), np.arange(num_parts + 1))
    for part in range(num_parts):
        chunk = rows.slice(bounds[part], bounds[part + 1] - bounds[part]).select(["key", "dup_of"])
        write_table(chunk.cast(DECISIONS) if chunk.num_rows else empty_table(DECISIONS), out_dir / part_file_name(part))
    removed_rows = int(numbers(members["rows"])[gone].sum()) if len(uidx) else 0
    return {"removed_units": int(gone.sum()), "removed_rows": removed_rows}


def removed_mask(members: pa.Table) -> np.ndarray:
    """Which members are marked: neither their cluster's keeper nor the earlier release's."""
    return ~true_mask(members["keeper"]) & ~true_mask(members["prior"])


def write_table(table: pa.Table, path: Path) -> None:
    """A dedup artifact as Parquet: zstd, one row group per million rows, the same bytes run to run."""
    pq.write_table(table, path, compression="zstd")
