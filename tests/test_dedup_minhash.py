"""The one-pass kernel dedup uses: band keys and kept shingles agree with the reference paths."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curate.dedup import minhash as mh
from curate.dedup.synth import planted_corpus

TEXTS = ["The cat  sat on the mat today", "the CAT sat on the mat today!", "", None, "a", "a b",
         "ünïcödé wörds and 123 numbers x1y2 " * 3, "x" * 50 + " " + "y" * 3, "\\frac {1}{2} + X!"]


@pytest.mark.parametrize("shingle,ngram", [("word", 1), ("word", 3), ("word", 5), ("char", 4)])
def test_band_keys_in_one_pass_equal_band_keys_of_the_signatures(shingle, ngram):
    texts = TEXTS + planted_corpus(60, words=40, seed=4).texts
    sig, exact, counts = mh.signatures(texts, ngram=ngram, shingle=shingle)
    keys, exact2, counts2, offsets, values = mh.band_keys_and_shingles(
        texts, bands=16, rows=8, ngram=ngram, shingle=shingle)
    assert (keys == mh.band_keys(sig, 16, 8)).all()
    assert (exact == exact2).all() and (counts == counts2).all() and (np.diff(offsets) == counts).all()
    set_offsets, set_values = mh.shingle_sets(texts, ngram=ngram, shingle=shingle)
    for i in range(len(texts)):
        kept = np.unique(values[offsets[i]:offsets[i + 1]])
        assert (kept == set_values[set_offsets[i]:set_offsets[i + 1]]).all()


def test_bag_jaccard_equals_jaccard_of_the_sorted_sets():
    corpus = planted_corpus(400, words=50, planted=0.3, seed=5)
    _, _, _, offsets, values = mh.band_keys_and_shingles(corpus.texts, bands=16, rows=8)
    set_offsets, set_values = mh.shingle_sets(corpus.texts)
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, 400, 2000), rng.integers(0, 400, 2000)
    left, right = np.r_[left, corpus.pairs[:, 0]], np.r_[right, corpus.pairs[:, 1]]
    got = mh.bag_jaccard(offsets, values, left, right)
    assert np.array_equal(got, mh.jaccard_pairs(set_offsets, set_values, left, right))
    assert got[-len(corpus.pairs):].min() >= 0.5 - 0.05  # the planted pairs are near-duplicates


def test_band_keys_are_contiguous_per_band_and_the_shape_is_checked():
    keys, *_ = mh.band_keys_and_shingles(pa.array(["a b c d e f", "x y z"]), bands=4, rows=8)
    assert keys.shape == (2, 4) and keys.T.flags["C_CONTIGUOUS"]
    with pytest.raises(ValueError):
        mh.band_keys_and_shingles(["a"], bands=20, rows=8)


def test_a_lent_scratch_buffer_gives_the_same_results_and_is_reused():
    first, second = planted_corpus(50, words=30, seed=1).texts, planted_corpus(80, words=60, seed=2).texts
    scratch: list[np.ndarray] = []
    for texts in (first, second, first):
        *_, offsets, values = mh.band_keys_and_shingles(texts, bands=16, rows=8, scratch=scratch)
        *_, ref_offsets, ref_values = mh.band_keys_and_shingles(texts, bands=16, rows=8)
        assert np.array_equal(offsets, ref_offsets) and np.array_equal(values, ref_values)
        assert np.shares_memory(values, scratch[0])


def test_numba_blas_probe_deferred_without_changing_numba():
    """dedup's kernels load without importing scipy.linalg; numba code using BLAS still compiles.
    (An input large enough to be hashed compiled: a small one runs as Python and imports no numba.)"""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("scipy") is None:
        pytest.skip("without scipy numba has no BLAS to probe")
    code = (
        "import sys, numpy as np, numba, pyarrow as pa\n"
        "from curate.dedup import minhash as mh\n"
        "mh.signatures(pa.array(['a b c d e f'] * 50000))\n"
        "print('numba.np.arraymath' in sys.modules)\n"
        "print('scipy.linalg' in sys.modules)\n"
        "import numba.np.arraymath as am\n"
        "print(am._HAVE_BLAS)\n"
        "f = numba.njit(lambda a, b: np.dot(a, b))\n"
        "print(f(np.ones(3), np.ones(3)))\n"
    )
    env = dict(os.environ, CURATE_NATIVE="0")  # numba's kernels, not their C build
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env).stdout.split()
    assert out == ["True", "False", "True", "3.0"]


def test_threads_give_the_same_keys_and_shingles_as_one():
    corpus = planted_corpus(3000, words=40, planted=0.2, seed=5)
    one = mh.band_keys_and_shingles(corpus.texts, bands=16, rows=8)
    scratch: list[np.ndarray] = []
    for _ in range(2):  # the second call reuses the lent buffers
        two = mh.band_keys_and_shingles(corpus.texts, bands=16, rows=8, threads=2, scratch=scratch)
        assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_chunks_are_hashed_apart_with_the_same_results():
    corpus = planted_corpus(2000, words=40, planted=0.2, seed=6)
    one = mh.band_keys_and_shingles(pa.array(corpus.texts), bands=16, rows=8)
    chunked = pa.chunked_array([pa.array(corpus.texts[:700]), pa.array(corpus.texts[700:701]),
                                pa.array([], pa.string()), pa.array(corpus.texts[701:])])
    for threads in (1, 2):
        got = mh.band_keys_and_shingles(chunked, bands=16, rows=8, threads=threads)
        assert all(np.array_equal(a, b) for a, b in zip(one, got))
    *_, pieces = mh.band_keys_and_shingles(chunked, bands=16, rows=8, threads=2, join=False)
    assert len(pieces) == 3 and np.array_equal(np.concatenate(pieces), one[4])
