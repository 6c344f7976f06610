"""Give the C heap's free pages back to the system between dedup's phases.

glibc's malloc serves numpy arrays of a few MB from its heaps once a larger block has been
freed (its mmap threshold rises to the largest freed block), and keeps the pages of freed
arrays: each phase of dedup (a part's band keys in the signature pass, the sorts of the
clustering) then left its arrays' pages in the resident set, and the peak grew with rows
(+130 MB after the signature pass at 1M rows, 20 parts). `malloc_trim(0)` hands every free page
back (milliseconds); elsewhere than glibc it is a no-op.

Arrow's allocator (mimalloc in the wheels) keeps freed pages the same way: load's duplicate-id
check left about 100 MB of them before dedup's prepare at 1M rows, so its pool is asked to hand
its unused pages back too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _libc_trim():
    """glibc's malloc_trim, or None (musl, macOS, Windows)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def return_free_memory() -> None:
    """Release the C heap's and Arrow's pool's free pages to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _libc_trim()
    if trim is not None:
        trim(0)
