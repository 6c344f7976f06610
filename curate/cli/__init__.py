"""The command line: a thin skin over the library (the group and error boundary in `group`,
generated stage commands in `stages`, hand-written commands beside them)."""

import os
import sys

# Arrow's allocator (mimalloc) keeps freed pages for reuse for a while by default: a command
# streaming wide rows frees tens of MB per batch, and the pages kept counted 120-150 MB of
# peak RSS at 30k R1-length rows (`curate decontam`, docs/performance.md). Returning them after
# 10 ms, not at once: with two hashing threads beside the reader, returning every freed page at
# once had each next piece fault its pages in again (158k minor faults for `curate dedup` at
# 30k rows, 92k after 10 ms), about 0.4-0.5 CPU seconds of page faults, most of it system time,
# for 4-12 MB less peak RSS (30k rows; 1M rows: 451 vs 456 MB). Read when Arrow loads, so set
# before anything imports pyarrow.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "10")
# On Linux, Arrow's jemalloc pool (in the PyPI and conda-forge builds there) instead, its freed
# pages returned after 10 ms as well: it faults far fewer pages back in than mimalloc with the
# same delay. `curate dedup` over 1M R1-length rows: 1.76M -> 0.79M page faults, 21.2 -> 17.8 s;
# at 30k rows 0.93x the wall; `curate decontam` 0.97x at 30k, the same at 1M. One arena for all
# threads (jemalloc's default: four per core, so a page one thread freed waits for that thread's
# next allocation): decontam's scan threads, reader and writer then reuse each other's pages,
# 261 -> 230 MB peak at 1M rows and 214 -> 199 at 30k, dedup 195 -> 185 at 1M, the wall the
# same within 1-4% (docs/performance.md, thirteenth round). ARROW_DEFAULT_MEMORY_POOL=mimalloc
# (or JE_ARROW_MALLOC_CONF) in the environment wins; an Arrow built without jemalloc warns once
# and keeps its default pool, tuned below.
if sys.platform.startswith("linux"):
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    os.environ.setdefault("JE_ARROW_MALLOC_CONF", "dirty_decay_ms:10,muzzy_decay_ms:0,narenas:1")
# mimalloc 3 asks for transparent huge pages on its arena: with pages returned soon (above),
# a freed 2 MB page is faulted in and zeroed whole again for the next few KB. Without them,
# peak RSS at 30k R1-length rows was 38 MB lower for both `curate dedup` and `curate decontam`
# (501 -> 463 MB, 506 -> 468 MB, medians of 3-4 paired runs) for about 3% more CPU time.
os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
# pydantic looks for plugins (observability hooks) in the entry points of every installed
# distribution when it builds its first model: 10-20 ms of a command's start-up here (295
# distributions), more in a large environment, for plugins curate's config models do not use.
# PYDANTIC_DISABLE_PLUGINS="" (or a list of names) in the environment brings them back.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# numpy's OpenBLAS starts a thread per core when numpy is imported, and each spins about 0.1 CPU
# seconds before it sleeps: on two cores, a tenth of a second of the other core in every curate
# process and in every worker a pool spawns. curate calls no BLAS routine (torch, for generate,
# has its own). OPENBLAS_NUM_THREADS in the environment brings the threads back.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")



def _limit_malloc_arenas() -> None:
    """At most one glibc malloc arena per core (glibc's default: 8 per core).

    Every new thread may get an arena of its own, and a command makes new threads for every
    part (readers, writers, hashers): `curate dedup` at 1M rows (20 parts) grew 35 MB of
    anonymous memory over its signature pass in arenas left behind, which malloc_trim does not
    give back, and peaked at 439 MB against 408 MB with one arena per core; 30k rows and CPU
    time unchanged. MALLOC_ARENA_MAX in the environment (read by glibc at start) wins."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        cores = len(os.sched_getaffinity(0))
        libc.mallopt(-8, max(2, cores))  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to limit
        pass


_limit_malloc_arenas()

from curate.cli.group import cli, main  # noqa: E402

__all__ = ["cli", "main"]
