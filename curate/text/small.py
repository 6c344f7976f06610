"""Small inputs run the compiled kernels as plain Python, so a small run compiles nothing.

Compiling a numba kernel costs 0.1-1.5 CPU seconds the first time a machine runs it (before its
on-disk cache exists), and a run of the quickstart's size would pay about 20 s of compilation
for well under a second of work. So a caller hands `pick` the kernel and the size of its input
(bytes of text, words or items) with the twin's cost per unit: while the kernel is neither
compiled in this process nor in numba's cache on disk, and its twin's estimated work in this
process stays under BUDGET, `pick` returns the kernel's Python twin, run over the same NumPy
arrays; otherwise the compiled kernel. A large input compiles at its first call; a run of the
quickstart's size compiles nothing.

A kernel's twin is its own source run as Python: `interpreted` rebinds every kernel it calls
(a numba dispatcher among its globals) to that kernel's twin, and NumPy scalars wrap around on
overflow as numba's integers do (NumPy's warnings for that are silenced). The few kernels whose
element-by-element Python would be slow have NumPy twins over whole arrays instead, registered
with `numpy_twin` (`curate.text.words`, `curate.dedup.twins`). tests/test_small_kernels.py checks
that both paths give bit-identical results.
"""

from __future__ import annotations

import functools
import importlib
import os
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np

# A kernel runs as Python until its twin's estimated work in this process would pass BUDGET
# seconds, then it is compiled. Compiling one costs 0.1-1.5 s on a machine's first run, so this
# bounds what a kernel spends as Python to about what its compilation costs (the ski-rental
# rule: never more than about twice the better choice made in hindsight), and a large input
# compiles at its first call.
BUDGET = 0.25
PYTHON = 3e-6  # seconds per unit (byte, word, item) of a kernel run element by element as Python

_twins: dict[Any, Callable] = {}
_copies: dict[Callable, Callable] = {}  # a kernel's Python function -> its twin
_spent: dict[Any, float] = {}  # estimated seconds each kernel has run as Python in this process
_native: dict[Callable, Callable] = {}  # a kernel's Python function -> its C build (see register_native)
_ready: set[Any] = set()  # kernels compiled in this process or cached on disk: asked once, since
# a dispatcher's `signatures` costs ~20 us (it hashes every type) and decontam picks once per judged pair


def pick(kernel: Any, units: int, cost: float = PYTHON) -> Callable:
    """`kernel`'s C build when one is registered (`register_native`); else `kernel`, or its
    Python twin while the kernel is neither compiled in this process nor in numba's cache on
    disk and its twin's work (`units` times `cost` seconds, summed over this process's calls)
    stays under BUDGET."""
    native = _native.get(getattr(kernel, "py_func", None))
    if native is not None:
        return native
    if kernel in _ready:
        return kernel
    if kernel.signatures or _cached(kernel):
        _ready.add(kernel)
        return kernel
    spent = _spent.get(kernel, 0.0) + units * cost
    if spent > BUDGET:
        return kernel
    _spent[kernel] = spent
    return interpreted(kernel)


@functools.lru_cache(maxsize=None)
def _cached(kernel: Any) -> bool:
    """Whether numba's cache on disk holds the kernel (then loading it costs milliseconds)."""
    try:
        return os.path.exists(kernel._cache._cache_file._index_path)
    except AttributeError:  # another numba's internals: assume not cached
        return False


def interpreted(kernel: Any) -> Callable:
    """The kernel's Python function with the kernels it calls rebound to their Python twins; it
    silences NumPy's overflow warnings (wrapping integers are the kernels' arithmetic)."""
    twin = _twins.get(kernel)
    if twin is None:
        body = _rebind(kernel.py_func)

        @functools.wraps(kernel.py_func)
        def twin(*args):
            with np.errstate(over="ignore"):
                return body(*args)

        _twins[kernel] = twin
    return twin


def is_twin(fn: Callable) -> bool:
    """Whether `fn`, which `pick` handed out, is a kernel's Python twin (not compiled code:
    numba's kernel or its C build)."""
    return any(fn is twin for twin in _twins.values())


def register_native(kernel: Any, fn: Callable) -> None:
    """Have `pick` return `fn`, a C build of `kernel` with its arguments and results (e.g.
    `curate.dedup.native`), in place of both the kernel and its twin: it costs no compile and no
    numba import, at any input size."""
    _native[kernel.py_func] = fn


def load_extension(name: str, folder: Path) -> Any:
    """The built C extension module `name` (built from `folder`'s `_native*` C sources and
    headers), or None: not built, switched off (CURATE_NATIVE=0 in the environment), or older
    than one of its sources (a checkout whose C changed since `pip install -e .` built it:
    numba's kernels run until it is rebuilt)."""
    if os.environ.get("CURATE_NATIVE", "1") == "0":
        return None
    try:
        module = importlib.import_module(name)
    except ImportError:
        return None
    built = Path(module.__file__).stat().st_mtime
    if any(source.stat().st_mtime > built for source in folder.glob("_native*.[ch]")):
        return None
    return module


def numpy_twin(kernel: Any) -> Callable:
    """Register the decorated function as `kernel`'s twin in place of its Python function: for
    an inner kernel whose element-by-element Python would be slow, a NumPy version over whole
    arrays (its equality with the kernel is tested like the rest)."""
    def register(fn: Callable) -> Callable:
        _copies[kernel.py_func] = fn
        return fn

    return register


def _rebind(fn: types.FunctionType) -> Callable:
    copy = _copies.get(fn)
    if copy is not None:
        return copy
    scope = dict(fn.__globals__)
    copy = _copies[fn] = types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__, fn.__closure__)
    for name in set(_names(fn.__code__)):  # the copy is cached before its callees are rebound: recursion terminates
        value = scope.get(name)
        if _is_kernel(value):
            scope[name] = _rebind(value.py_func)
    return copy


def _names(code: types.CodeType):
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _is_kernel(value: Any) -> bool:
    return hasattr(value, "py_func") and hasattr(value, "signatures")
