"""Where curate keeps its caches on this machine (working copies of remote files, compiled
kernels): one small module, so the kernel plumbing can ask without importing `storage`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$CURATE_CACHE, else ~/.cache/curate."""
    return Path(os.environ.get("CURATE_CACHE") or Path.home() / ".cache" / "curate")
