"""The C kernels (curate/dedup/_native.c) give bit-identical results to the numba kernels they stand in for."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curate.dedup import cluster, jaccard_kernels, kernels, native
from curate.dedup.hashing import order_for
from curate.dedup.minhash import permutations, text_buffers
from curate.text.small import load_extension, pick


def test_the_extension_is_built():
    """The package builds the C kernels on install (`pip install -e .` needs a C compiler); a
    missing build would run numba's kernels silently, so the suite says so."""
    assert native.available(), "curate.dedup._native is not built or is older than _native.c: run `pip install -e .`"


def _texts(rng: np.random.Generator, count: int) -> list:
    words = ["the", "Cat", "SAT", "on", "a", "mat", "x1", "éte", "naïve", "42", "don't", "λx", "a-b", "Z"]
    out = []
    for _ in range(count):
        kind = rng.integers(0, 10)
        if kind == 0:
            out.append(None)
        elif kind == 1:
            out.append(rng.choice(["", "  ", "!!", "a", "a b"]))
        else:
            n = int(rng.integers(1, 400))
            seps = rng.choice([" ", "  ", ", ", "\n", "-", ".", "\t"], n)
            out.append("".join(str(w) + str(s) for w, s in zip(rng.choice(words, n), seps)))
    return out


@pytest.mark.parametrize("shingle,ngram", [("word", 5), ("word", 1), ("word", 3), ("char", 5), ("char", 2)])
@pytest.mark.parametrize("keep,bands,rows", [(True, 16, 8), (False, 16, 8), (False, 0, 0), (True, 5, 11)])
@pytest.mark.parametrize("hashing", ["permutations", "one-permutation"])
def test_minhash_matches_numba(shingle, ngram, keep, bands, rows, hashing):
    rng = np.random.default_rng(hash((shingle, ngram, keep, bands)) % 2**32)
    data, offsets, valid = text_buffers(pa.array(_texts(rng, 300)))
    offsets, valid = offsets[7:], valid[7:]  # a run of rows that does not start at byte 0
    a, b = permutations(128, 3)
    order = order_for(hashing, 128, 3)
    for kept in (np.empty(0, np.uint32), np.empty(40, np.uint32)):  # allocated, then grown from too small
        args = (data, offsets, valid, ngram, shingle == "char", a, b, order, keep, bands, rows,
                kernels.BAND_MULTIPLIERS)
        ours = native.minhash_kernel(*args, kept.copy())
        theirs = kernels._minhash_kernel(*args, kept.copy())
        sig, keys, exact, counts, kept_offsets, values, used = ours
        assert used == theirs[6]
        if bands == 0:
            np.testing.assert_array_equal(sig, theirs[0])
        for mine, reference in zip((keys, exact, counts, kept_offsets), theirs[1:5]):
            np.testing.assert_array_equal(mine, reference)
        np.testing.assert_array_equal(values[:used], theirs[5][:used])


def test_bag_jaccard_matches_numba():
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 60, 200)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.integers(0, 40, offsets[-1]).astype(np.uint32)  # small range: repeats and overlaps
    left, right = rng.integers(0, 200, 500), rng.integers(0, 200, 500)
    np.testing.assert_array_equal(native.bag_jaccard_kernel(offsets, values, left, right),
                                  jaccard_kernels._bag_jaccard_kernel(offsets, values, left, right))


@pytest.mark.parametrize("units", [5, 3000, 40000])
def test_bucket_edges_match_numba(units):
    rng = np.random.default_rng(units)
    keys = rng.integers(0, 2**64, units // 3 + 1, dtype=np.uint64)[rng.integers(0, units // 3 + 1, units)]
    ids = np.sort(rng.choice(units * 4, units, replace=False)).astype(np.int64)
    ours = native.bucket_edges(keys, ids, np.empty((2, units + 9), np.uint64))
    theirs = cluster._bucket_edges(keys, ids, np.empty((2, units + 9), np.uint64))
    assert len(ours[0]) > 0
    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine, reference)


def test_union_find_matches_numba():
    rng = np.random.default_rng(9)
    left, right = rng.integers(0, 5000, 3000), rng.integers(0, 5000, 3000)
    roots = native.union_find(5000, left, right)
    np.testing.assert_array_equal(roots, cluster._union_find(5000, left, right))
    assert (roots <= np.arange(5000)).all()


def test_read_slices_matches_the_python_loop(tmp_path, monkeypatch):
    """The C preads of cluster._read_slices fill the same values as its Python loop, and both
    name the slice a truncated file ends in."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 2**32, 5000, dtype=np.uint32)
    path = tmp_path / "v.npy"
    np.save(path, values)
    starts = np.sort(rng.choice(4900, 60, replace=False)).astype(np.int64)
    stops = starts + rng.integers(0, 90, 60)
    stops = np.minimum(stops, 5000)
    order = rng.permutation(60)  # slices asked for out of file order
    starts, stops = starts[order], stops[order]
    targets = np.r_[0, np.cumsum(stops - starts)[:-1]].astype(np.int64)
    expected = np.concatenate([values[a:b] for a, b in zip(starts, stops)])
    filled = {}
    for name, built in (("c", True), ("python", False)):
        monkeypatch.setattr(native, "available", lambda built=built: built)
        out = np.zeros(len(expected), np.uint32)
        cluster._read_slices(path, starts, stops, out, targets)
        filled[name] = out
    assert np.array_equal(filled["c"], expected) and np.array_equal(filled["python"], expected)
    cut = tmp_path / "cut.npy"
    cut.write_bytes(path.read_bytes()[:128 + 4 * 2500])
    for built in (True, False):
        monkeypatch.setattr(native, "available", lambda built=built: built)
        with pytest.raises(OSError, match="short read"):
            cluster._read_slices(cut, np.array([10, 3000]), np.array([20, 3010]), np.zeros(20, np.uint32),
                                 np.array([0, 10]))


def test_pick_hands_out_the_c_kernels():
    for kernel, wrapper in ((kernels._minhash_kernel, native.minhash_kernel),
                            (jaccard_kernels._bag_jaccard_kernel, native.bag_jaccard_kernel),
                            (cluster._bucket_edges, native.bucket_edges), (cluster._union_find, native.union_find)):
        assert pick(kernel, 10**9) is wrapper


def test_a_large_dedup_command_imports_no_numba(tmp_path):
    """A `curate dedup` of a few MB (past the size the Python twins take) loads no numba."""
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(5000)]
    rows = [{"id": f"r{i}", "problem": " ".join(rng.choice(vocab, 700)), "answer": "1"} for i in range(600)]
    rows += [dict(r, id=r["id"] + "-copy") for r in rows[:50]]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["dedup", {str(source)!r}, {str(tmp_path / 'run')!r}, "--threshold", "0.8"], standalone_mode=False)
finally:
    print("numba" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != "CURATE_NATIVE"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
    stats = json.loads((tmp_path / "run" / "01-dedup" / "artifacts" / "stats.json").read_text())
    assert stats["removed_units"] == 50, stats


def test_an_extension_older_than_its_c_sources_is_not_used(tmp_path, monkeypatch):
    """`load_extension`'s rules, on a module that is surely importable (json): used when its C
    sources are older than its file, not when one of them (a header too) is newer, nor with
    CURATE_NATIVE=0."""

    built = Path(json.__file__).stat().st_mtime
    for name in ("_native.c", "_native.h"):
        (tmp_path / name).write_text("/* */")
        os.utime(tmp_path / name, (built - 10, built - 10))
    monkeypatch.delenv("CURATE_NATIVE", raising=False)
    assert load_extension("json", tmp_path) is json
    os.utime(tmp_path / "_native.h", (built + 10, built + 10))
    assert load_extension("json", tmp_path) is None
    os.utime(tmp_path / "_native.h", (built - 10, built - 10))
    monkeypatch.setenv("CURATE_NATIVE", "0")
    assert load_extension("json", tmp_path) is None
