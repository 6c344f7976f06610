"""The command line tunes the allocators: one glibc malloc arena per core
(`curate.cli._limit_malloc_arenas`), Arrow's jemalloc pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = """
import ctypes, os, sys, tempfile, threading
if sys.argv[1] == "cli":
    import curate.cli  # noqa: F401
libc = ctypes.CDLL("libc.so.6")
ready, hold = threading.Barrier(9), threading.Event()
def allocate():
    blocks = [ctypes.create_string_buffer(2048) for _ in range(200)]  # from this thread's arena
    ready.wait()
    hold.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
ready.wait()
with tempfile.TemporaryFile() as f:
    libc.fdopen.restype = ctypes.c_void_p  # a FILE*: 64 bits, not the default int
    stream = ctypes.c_void_p(libc.fdopen(os.dup(f.fileno()), b"w"))
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    f.seek(0)
    print(f.read().count(b"<heap nr="))
hold.set()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_threads_share_one_arena_per_core():
    def arenas(mode: str) -> int:
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        out = subprocess.run([sys.executable, "-c", CODE, mode], env=env, capture_output=True, text=True, check=True)
        return int(out.stdout.split()[-1])

    cores = max(2, len(os.sched_getaffinity(0)))
    assert arenas("cli") <= cores
    assert arenas("plain") > cores  # without the limit, the 8 threads spread over more arenas


POOL = """
import curate.cli  # noqa: F401
import pyarrow as pa
print(pa.default_memory_pool().backend_name)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Arrow's Linux builds carry jemalloc")
def test_commands_allocate_arrow_memory_from_jemalloc_unless_told_otherwise():
    """jemalloc with a 10 ms decay faults fewer pages back in than mimalloc (docs/performance.md)."""
    def pool(**env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "JE_ARROW_MALLOC_CONF")}
        out = subprocess.run([sys.executable, "-c", POOL], env={**clean, **env}, capture_output=True, text=True,
                             check=True)
        return out.stdout.split()[-1]

    assert pool() == "jemalloc"
    assert pool(ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"
