"""The command line keeps numpy's OpenBLAS to one thread (`curate.cli`): its threads spin about
0.1 CPU seconds after numpy's import, in every process, and curate calls no BLAS routine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CODE = """
import os, sys
if sys.argv[1] == "cli":
    import curate.cli  # noqa: F401
import numpy  # noqa: F401  # OpenBLAS starts its threads here
print(len(os.listdir("/proc/self/task")))
"""


def threads(mode: str, **env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", CODE, mode], env={**clean, **env}, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads counted in /proc")
def test_the_cli_starts_no_blas_threads_unless_asked():
    cores = len(os.sched_getaffinity(0))
    assert threads("cli") == 1
    assert threads("cli", OPENBLAS_NUM_THREADS="2") == 2  # the user's setting wins
    assert threads("plain") == min(cores, 64)  # without it: one per core, counting the main thread
