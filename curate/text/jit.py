"""`njit`: numba's decorator, deferred until a kernel is first run compiled.

Importing numba (with the array implementations its first compile or cache load needs) costs
about 0.5 CPU seconds per process. A run of small inputs runs every kernel as Python
(`curate.text.small`) and never needs it, so the kernel modules decorate with this `njit`: until
some kernel is called compiled, each is a `LazyKernel` holding its Python function, and numba is
not imported. The first compiled call imports numba, makes every lazy kernel a numba dispatcher
(nothing is compiled yet: numba compiles, or loads from its disk cache, per kernel on first
call, as before) and puts the dispatchers in place of the lazy kernels in every curate module
that holds one, since numba finds a kernel's callees in its module's globals. Once numba is
imported, `njit` decorates at once. numba's disk cache is keyed by a hash of curate's sources
(`_key_cache_by_sources`), since numba checks a kernel only against its own file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from curate.cache_dir import cache_root

_numba: Any = None  # the numba module, once a kernel was called compiled in this process
_lazy: list[LazyKernel] = []
_lock = threading.Lock()


class LazyKernel:
    """A kernel not yet handed to numba: its Python function and numba's options."""

    def __init__(self, fn: Callable, options: dict[str, Any]):
        self.py_func, self.options = fn, options
        self.dispatcher: Any = None
        functools.update_wrapper(self, fn)

    @property
    def signatures(self) -> list:
        return self.dispatcher.signatures if self.dispatcher is not None else []

    def __call__(self, *args):
        if self.dispatcher is None:
            load_numba()
        return self.dispatcher(*args)


def njit(**options: Any) -> Callable[[Callable], Any]:
    """`numba.njit(**options)`, deferred while numba is not imported (see the module docstring)."""
    def decorate(fn: Callable) -> Any:
        if _numba is not None:
            return _numba.njit(**options)(fn)
        kernel = LazyKernel(fn, options)
        _lazy.append(kernel)
        return kernel

    return decorate


def load_numba() -> Any:
    """Import numba and turn every lazy kernel into a numba dispatcher, in every curate module."""
    global _numba
    with _lock:
        if _numba is None:
            _key_cache_by_sources()
            import numba

            from curate.text import numba_cache_load

            numba_cache_load.install()  # cached kernels load without numba's 0.2 s target refresh
            _defer_numba_blas_probe()
            for kernel in _lazy:
                kernel.dispatcher = numba.njit(**kernel.options)(kernel.py_func)
            for module in list(sys.modules.values()):
                if getattr(module, "__name__", "").startswith("curate"):
                    namespace = vars(module)
                    for name, value in list(namespace.items()):
                        if isinstance(value, LazyKernel):
                            namespace[name] = value.dispatcher
            _numba = numba
    return _numba


def _key_cache_by_sources() -> None:
    """Point numba's disk cache at a folder named by a hash of curate's sources, unless the user
    chose one (NUMBA_CACHE_DIR) or numba is already imported.

    numba checks a cached kernel against its own file only, while a kernel compiles in the
    kernels it calls from other files (`decontam.kernels.scan_bytes` holds
    `text.words.text_words_masked`): in a checkout where only the callee's file changed, the
    cache would hand back the old code compiled in, and results would silently differ. Keyed by
    every source, any change to curate starts a fresh cache (one compile per kernel, as after an
    install). Hashing the ~150 files costs ~20 ms, paid only when numba is loaded."""
    if os.environ.get("NUMBA_CACHE_DIR") or "numba" in sys.modules:
        return
    os.environ["NUMBA_CACHE_DIR"] = str(cache_root() / "numba" / source_key(Path(__file__).resolve().parents[1]))


def source_key(root: Path) -> str:
    """A hash of every Python file under `root`, names and contents."""
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _defer_numba_blas_probe() -> None:
    """Import numba's array implementations without the scipy import they make to probe BLAS.

    numba's first compile or cache load in a process imports `numba.np.arraymath`, which
    imports scipy.linalg (0.24 s here, a tenth of deduplicating 280 MB) only to set a flag
    that np.correlate/np.convolve read; everything that really uses BLAS imports scipy itself
    when it is compiled. So: import arraymath with scipy hidden, then set the flag to what the
    probe would have found. Nothing changes but when (and whether) scipy is imported.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    sys.modules["scipy.linalg"] = None  # type: ignore[assignment]  # `import scipy.linalg...` fails fast
    try:
        arraymath = importlib.import_module("numba.np.arraymath")
    finally:
        if sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
    scipy = importlib.util.find_spec("scipy")  # numba itself imports the top-level package
    folders = (scipy.submodule_search_locations or []) if scipy else []
    arraymath._HAVE_BLAS = any(any((Path(f) / "linalg").glob("cython_blas*")) for f in folders)
