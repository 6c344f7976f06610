"""Shared normalisation and hashed n-grams (curate.text.words): the public API decontam relies on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.text.words import ngram_hashes, normalize, word_hashes, words


def test_normalize_drops_case_spacing_punctuation_and_latex_syntax():
    assert normalize("Compute  \\frac {1}{2} + X!") == "compute frac 1 2 x"
    assert normalize("\\frac{1}{2}") == normalize("\\frac {1} {2}")
    assert words("Ünïcode stays, ASCII lowers") == ["ünïcode", "stays", "ascii", "lowers"]


def test_word_hashes_follow_normalised_words():
    offsets, hashes = word_hashes(["A b, c", "a B c", "", None, "d"])
    assert offsets.tolist() == [0, 3, 6, 6, 6, 7]
    assert (hashes[0:3] == hashes[3:6]).all()
    assert len(set(hashes[:3].tolist())) == 3


def test_ngram_hashes_short_and_empty_texts():
    offs, h, short = ngram_hashes(["a b c d", "A  b, C d", "x", "", None], 3)
    assert (h[offs[0]:offs[1]] == h[offs[1]:offs[2]]).all()
    assert np.diff(offs).tolist() == [2, 2, 1, 0, 0]
    assert short.tolist() == [False, False, True, False, False]


def test_ngram_order_matters():
    _, h, _ = ngram_hashes(["a b c", "c b a"], 3)
    assert h[0] != h[1]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="ab cD1.\n", max_size=30), min_size=1, max_size=6), st.integers(1, 4))
def test_ngram_hashes_agree_with_python_words(texts, n):
    offs, h, _ = ngram_hashes(pa.array(texts), n)
    for i, text in enumerate(texts):
        w = words(text)
        expected = max(len(w) - n + 1, 1) if w else 0
        assert offs[i + 1] - offs[i] == expected
        grams = [tuple(w[j:j + n]) for j in range(expected)] if len(w) >= n else ([tuple(w)] if w else [])
        got = h[offs[i]:offs[i + 1]]
        for a in range(len(grams)):
            for b in range(len(grams)):
                assert (grams[a] == grams[b]) == (got[a] == got[b])
