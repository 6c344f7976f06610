"""A first quickstart run compiles no numba kernel (they run as Python twins, `curate.text.small`),
does not even import numba (`curate.text.jit`), and writes the same rows as a run that compiles
every kernel."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent

# Runs the quickstart in a fresh interpreter, then prints every curate kernel compiled in it and
# whether numba was imported at all.
# "compiled" makes every call site take the compiled kernel, as before curate.text.small.
SCRIPT = """
import json, sys
import curate.text.small as small
if sys.argv[2] == "compiled":
    small.pick = lambda kernel, units, cost=0.0: kernel
from curate.recipe import load_recipe
from curate.runner import run_recipe
run_recipe(load_recipe(sys.argv[3]), sys.argv[1], force=tuple(sys.argv[4:]), progress=False)
compiled = sorted({f"{k.py_func.__module__}.{k.__name__}" for m in list(sys.modules.values())
                   if getattr(m, "__name__", "").startswith("curate")
                   for k in vars(m).values() if hasattr(k, "py_func") and getattr(k, "signatures", None)})
print(json.dumps({"compiled": compiled, "numba imported": "numba" in sys.modules}))
"""


def run_quickstart(run_dir: Path, mode: str, cache: Path | None, *force: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if cache is not None:  # else numba's usual cache (warm after other tests): the compiled run
        env["NUMBA_CACHE_DIR"] = str(cache)
    recipe = ROOT / "recipes" / "quickstart.yaml"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), mode, str(recipe), *force],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_first_run_compiles_nothing_and_matches_the_compiled_run(tmp_path):
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    assert run_quickstart(tmp_path / "small", "small", cache) == {"compiled": [], "numba imported": False}
    assert not [p for p in cache.rglob("*") if p.is_file()]  # nothing compiled, nothing cached
    # the same run from dedup on (verify's timeouts may differ on a loaded machine), compiled
    shutil.copytree(tmp_path / "small", tmp_path / "compiled")
    compiled = run_quickstart(tmp_path / "compiled", "compiled", None, "dedup")["compiled"]
    assert "curate.dedup.kernels._minhash_kernel" in compiled and "curate.decontam.kernels.scan_bytes" in compiled
    ours = sorted(p.relative_to(tmp_path / "small") for p in (tmp_path / "small").rglob("*.parquet"))
    theirs = sorted(p.relative_to(tmp_path / "compiled") for p in (tmp_path / "compiled").rglob("*.parquet"))
    assert ours == theirs and len(ours) > 10
    for relative in ours:
        ours_table, theirs_table = (pq.read_table(tmp_path / side / relative) for side in ("small", "compiled"))
        assert ours_table.equals(theirs_table), relative


def test_numba_cache_is_keyed_by_every_source(tmp_path):
    """A kernel compiles in the kernels it calls from other files, and numba checks a cached
    kernel only against its own file: the cache folder is named by a hash of all sources, so a
    change to a callee's file alone starts a fresh cache instead of loading stale code."""
    from curate.text.jit import source_key

    tree = tmp_path / "pkg"
    (tree / "sub").mkdir(parents=True)
    (tree / "kernels.py").write_text("def caller(): return callee()\n")
    (tree / "sub" / "words.py").write_text("def callee(): return 1\n")
    before = source_key(tree)
    assert source_key(tree) == before
    (tree / "sub" / "words.py").write_text("def callee(): return 2\n")
    assert source_key(tree) != before

    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(CURATE_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    code = ("import os\nfrom curate.text.jit import load_numba\nnumba = load_numba()\n"
            "print(os.environ['NUMBA_CACHE_DIR']); print(numba.config.CACHE_DIR)")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    chosen, used = done.stdout.split()
    assert chosen == used and Path(chosen).parent == tmp_path / "cache" / "numba"
    assert Path(chosen).name == source_key(ROOT / "curate")
