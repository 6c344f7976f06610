"""Load a cached kernel without first registering everything numba can compile.

numba's `Cache.load_overload` refreshes the CPU target before it rebuilds a kernel from its disk
cache: the refresh imports and registers every implementation numba has (Python builtins,
arrays, linear algebra, random generators, typed containers, datetime, ...), about 0.2 CPU
seconds, a third of a command's whole numba start-up. A rebuild needs none of that: it
unserialises the kernel's machine code into the JIT and links it against numba's runtime (NRT),
which `rtsys.initialize` sets up. Compiling does need the registries, and numba's compiler
refreshes the target itself before it compiles, so a kernel missing from the cache still
compiles as before.

If the light load fails in any way, numba's own load runs, refresh included.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    """Make numba's cache loads skip the target refresh (idempotent)."""
    from numba.core import caching
    from numba.core.runtime import rtsys

    full = caching.Cache.load_overload
    if getattr(full, "light", False):
        return

    def load_overload(self: Any, sig: Any, target_context: Any) -> Any:
        try:
            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except Exception:  # noqa: BLE001 - numba's own path, with its errors, decides
            return full(self, sig, target_context)

    load_overload.light = True  # type: ignore[attr-defined]
    load_overload.full = full  # type: ignore[attr-defined]
    caching.Cache.load_overload = load_overload
