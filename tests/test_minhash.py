"""MinHash signatures, LSH parameters, shingle sets and exact Jaccard (curate.dedup.minhash)."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from datasketch.lsh import _optimal_param

from curate.dedup import minhash as mh
from curate.dedup.synth import planted_corpus
from curate.text.words import words


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.1, 0.9), (0.05, 0.95)])
def test_lsh_params_agree_with_datasketch(threshold, weights):
    ours = mh.lsh_params(threshold, 128, fp_weight=weights[0], fn_weight=weights[1])
    assert ours == _optimal_param(threshold, 128, *weights)


@pytest.mark.parametrize("num_perm, fn_weight", sorted(mh._CHOSEN))
def test_lsh_params_table_is_what_the_search_finds(num_perm, fn_weight):
    for threshold, chosen in mh._CHOSEN[num_perm, fn_weight].items():
        assert chosen == mh._minimise(threshold, num_perm, 1 - fn_weight, fn_weight), threshold
        mh.lsh_params.cache_clear()
        assert mh.lsh_params(threshold, num_perm, fp_weight=1 - fn_weight, fn_weight=fn_weight) == chosen


def test_lsh_params_off_the_table_searches():
    mh.lsh_params.cache_clear()
    assert (0.82, 128) not in [(t, n) for (n, _), row in mh._CHOSEN.items() for t in row]
    assert mh.lsh_params(0.82, 128, fp_weight=0.05, fn_weight=0.95) == mh._minimise(0.82, 128, 0.05, 0.95)
    # a weighting near the table's but not 1 - fn_weight exactly is searched too
    assert mh.lsh_params(0.8, 128, fp_weight=0.05, fn_weight=0.95) == _optimal_param(0.8, 128, 0.05, 0.95)


def test_recall_weighting_raises_collision_probability_at_threshold():
    default = mh.lsh_params(0.8, 128)
    recall = mh.lsh_params(0.8, 128, fp_weight=0.05, fn_weight=0.95)
    assert default == (9, 13)
    assert mh.collision_probability(0.8, *recall) > 0.9 > mh.collision_probability(0.8, *default)


def _python_jaccard(a: str, b: str, n: int) -> float:
    def grams(text):
        w = words(text)
        return {tuple(w[i:i + n]) for i in range(max(len(w) - n + 1, 1))} if w else set()

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def test_exact_jaccard_matches_python_sets():
    texts = ["the quick brown fox jumps over the lazy dog again and again",
             "The quick brown fox jumps over the LAZY cat again, and again!",
             "a b c", "a b c d e f g", "completely different words here now today"]
    offsets, values = mh.shingle_sets(texts, ngram=3)
    pairs = list(itertools.combinations(range(len(texts)), 2))
    got = mh.jaccard_pairs(offsets, values, [p[0] for p in pairs], [p[1] for p in pairs])
    want = [_python_jaccard(texts[a], texts[b], 3) for a, b in pairs]
    assert np.allclose(got, want)


@pytest.mark.parametrize("hashing,words", [("permutations", 150), ("one-permutation", 150),
                                           ("one-permutation", 30)])  # 30 words: most bins densified
def test_signature_estimates_jaccard_without_bias(hashing, words):
    corpus = planted_corpus(400, words=words, planted=0.5, low=0.3, high=1.0, seed=3)
    sig, _, _ = mh.signatures(corpus.texts, num_perm=256, hashing=hashing)
    left, right = corpus.pairs[:, 0], corpus.pairs[:, 1]
    estimate = (sig[left] == sig[right]).mean(axis=1)
    error = estimate - corpus.similarity
    expected_sd = np.sqrt(np.mean(corpus.similarity * (1 - corpus.similarity)) / 256)
    assert abs(error.mean()) < 0.01
    assert error.std() < 1.3 * expected_sd


def test_exact_hash_ignores_case_spacing_and_punctuation_but_not_numbers():
    texts = ["Compute  \\frac{1}{2} + X!", "compute \\frac {1} {2} +x", "compute frac 1 3 x"]
    _, exact, counts = mh.signatures(texts, ngram=2)
    assert exact[0] == exact[1] != exact[2]
    assert counts.tolist() == [4, 4, 4]


def test_short_and_empty_texts():
    sig, exact, counts = mh.signatures(pa.array(["two words", None, "", "  ...  ", "Two   WORDS"]))
    assert counts.tolist() == [1, 0, 0, 0, 1]
    assert (sig[0] == sig[4]).all() and exact[0] == exact[4]
    assert exact[1] == exact[2] == 0


def test_char_shingles_see_normalised_text():
    sig, exact, _ = mh.signatures(["Hello,   World", "hello world", "hello worle"], shingle="char", ngram=4)
    assert (sig[0] == sig[1]).all() and exact[0] == exact[1]
    assert 0.4 < mh.estimate_jaccard(sig[1], sig[2]) < 1.0


def test_signatures_do_not_depend_on_batch_composition():
    corpus = planted_corpus(50, words=40, seed=1)
    whole, _, _ = mh.signatures(corpus.texts)
    sliced = pa.array(corpus.texts).slice(10, 20)
    part, _, _ = mh.signatures(sliced)
    assert (whole[10:30] == part).all()


def test_band_keys_shape_and_equality():
    sig, _, _ = mh.signatures(["a b c d e f g", "a b c d e f g", "x y z w v u t"])
    keys = mh.band_keys(sig, 16, 8)
    assert keys.shape == (3, 16)
    assert (keys[0] == keys[1]).all() and not (keys[0] == keys[2]).any()
    with pytest.raises(ValueError):
        mh.band_keys(sig, 20, 8)
