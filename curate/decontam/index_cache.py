"""Benchmark indexes kept between runs, so a run against the same benchmarks does not build again.

Building the index of a benchmark file is a fixed cost of every `curate decontam`: for a
10-row input it was most of the command, and the first compiled kernel of the build imported
numba (about 0.7 CPU s) when scanning the rows needed none. `index_for` keeps each index it
builds under $CURATE_CACHE/decontam-index/<key> (default ~/.cache/curate), the key a hash of
everything the build reads: the items, the benchmarks' descriptions, the n-gram sizes, the
allowlist settings and every curate source file (as numba's cache, `curate.text.jit`), so an
edit to curate builds afresh. A later run loads the index the build made, as the stage's
parts already do from the artifacts. The newest KEEP indexes stay; a cache that cannot be
written or read is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from curate.cache_dir import cache_root
from curate.decontam.index import BenchIndex
from curate.decontam.index_build import build_index, index_settings
from curate.decontam.select import BenchItem
from curate.text.jit import source_key

KEEP = 8


def index_for(items: list[BenchItem], benchmarks: list[dict[str, Any]], ns: set[int] | list[int], *,
              allowlist: list[str] = (), allowlist_min_items: int = 5, min_exact_words: int = 3) -> BenchIndex:
    """`build_index(...)` of these arguments: loaded from the cache, else built and stored there."""
    settings = index_settings(ns, allowlist, allowlist_min_items, min_exact_words)
    folder = cache_folder() / key(items, benchmarks, settings)
    if (folder / "index.npz").exists():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            index = BenchIndex.load(folder)
            index.by_n = {n: index.by_n[n] for n in settings["ns"]}  # the order the build made (JSON sorts "13" < "8")
            os.utime(folder)  # recently used: kept by `_prune`
            return index
    index = build_index(items, benchmarks, ns, allowlist=allowlist, allowlist_min_items=allowlist_min_items,
                        min_exact_words=min_exact_words)
    _store(index, folder)
    return index


def cache_folder() -> Path:
    return cache_root() / "decontam-index"


def key(items: list[BenchItem], benchmarks: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """A hash of what the index is built from, and of curate's sources (the code building it)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(source_key(Path(__file__).resolve().parents[1]).encode())
    rows = [[i.benchmark, i.id, i.problem, i.answer] for i in items]
    digest.update(json.dumps([rows, benchmarks, settings], ensure_ascii=False, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _store(index: BenchIndex, folder: Path) -> None:
    """Save the index as `folder` (complete or not at all), then drop all but the KEEP newest."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    try:
        index.save(tmp)
        os.replace(tmp, folder)
    except OSError:  # a read-only cache, or another process stored the same index first
        shutil.rmtree(tmp, ignore_errors=True)
        return
    _prune(folder.parent)


def _prune(root: Path) -> None:
    entries = sorted((p for p in root.iterdir() if ".tmp-" not in p.name), key=_mtime, reverse=True)
    for old in entries[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
