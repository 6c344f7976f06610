"""Small inputs run the compiled kernels as Python (`curate.text.small`): both paths must give
bit-identical results, on random texts (unicode, nulls, empty strings) and random arrays."""

from contextlib import contextmanager
from dataclasses import astuple, is_dataclass

import numba
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.decontam import idents, index_build, match, verdict
from curate.decontam import index as bench_index
from curate.decontam.select import BenchItem
from curate.dedup import cluster, minhash
from curate.stages import mix_hash
from curate.text import small, words
from curate.text.small import interpreted, pick

MODULES = [words, mix_hash, minhash, cluster, bench_index, index_build, idents, match, verdict]
CHARS = (st.sampled_from(list("abcXYZ 0123456789 .,;:-+=\\{}()[]\n\téßÄ中文😀\x00"))
         | st.characters(exclude_categories=["Cs"]))  # Arrow text is UTF-8: no lone surrogates
TEXT = st.text(CHARS, max_size=120)
TEXTS = st.lists(st.one_of(st.none(), TEXT), max_size=12)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def path(kind: str):
    """Every `pick` in curate chooses the compiled kernel, or its Python twin."""
    def chosen(kernel, units, cost=0.0):
        return kernel if kind == "compiled" else interpreted(kernel)

    with pytest.MonkeyPatch.context() as patch:
        for module in MODULES:
            patch.setattr(module, "pick", chosen)
        yield


def check_paths_agree(fn, *args, **kwargs):
    """Run `fn` with every kernel as its Python twin, then compiled; assert both give the same."""
    with path("python"):
        twin = fn(*args, **kwargs)
    with path("compiled"):
        compiled = fn(*args, **kwargs)
    assert_same(twin, compiled)
    return compiled


def assert_same(a, b):
    """Equal values and equal dtypes, through tuples, lists and dataclasses."""
    if is_dataclass(a):
        a, b = astuple(a), astuple(b)
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b and np.asarray(a).dtype.kind == np.asarray(b).dtype.kind


@SLOW
@given(TEXTS, st.integers(1, 9), st.integers(0, 2**64 - 1))
def test_words_and_ngrams(texts, n, number):
    check_paths_agree(words.word_hashes, texts)
    check_paths_agree(words.word_hashes_masked, texts, number)
    check_paths_agree(words.ngram_hashes, texts, n)


@SLOW
@given(TEXTS, st.integers(0, 2**32))
def test_seeded_hashes(texts, seed):
    """The NumPy loop over byte positions (short keys) gives the compiled kernel's hashes, and so
    do the kernel's Python twin and the kernel itself (long keys)."""
    keys = [t or "" for t in texts]
    from curate.text.arrow import arrow_buffers, string_array

    data, offsets, _ = arrow_buffers(string_array(keys or [""]))
    data = data if len(data) else np.zeros(1, np.uint8)
    start = np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    assert_same(mix_hash._hash_strings_numpy(data, offsets, start), mix_hash._hash_strings(data, offsets, start))
    check_paths_agree(mix_hash.seeded_hashes, [k * 20 for k in keys], seed)  # > NUMPY_KEY_BYTES: the kernel


@SLOW
@given(TEXTS, st.integers(1, 6), st.sampled_from(["word", "char"]), st.sampled_from([(4, 4), (16, 8)]),
       st.booleans(), st.sampled_from(["permutations", "one-permutation"]))
def test_minhash_band_keys_and_shingles(texts, ngram, shingle, shape, keep, hashing):
    bands, rows = shape
    sig, _, _ = check_paths_agree(minhash.signatures, texts, num_perm=128, ngram=ngram, shingle=shingle,
                                  hashing=hashing)
    check_paths_agree(minhash.band_keys, sig, bands, rows)
    out = check_paths_agree(minhash.band_keys_and_shingles, texts, bands=bands, rows=rows, ngram=ngram, shingle=shingle,
                            keep=keep, hashing=hashing)
    offsets, values = check_paths_agree(minhash.shingle_sets, texts, ngram=ngram, shingle=shingle)
    pairs = np.array([(i, j) for i in range(len(texts)) for j in range(i, len(texts))], np.int64).reshape(-1, 2)
    check_paths_agree(minhash.jaccard_pairs, offsets, values, pairs[:, 0], pairs[:, 1])
    if keep:
        check_paths_agree(minhash.bag_jaccard, out[3], out[4], pairs[:, 0], pairs[:, 1])


KEYS = st.lists(st.integers(0, 7) | st.integers(0, 2**64 - 1), max_size=300)


@SLOW
@given(KEYS, st.integers(1, 40))
def test_bucket_edges_and_union_find(keys, units):
    keys = np.array(keys, np.uint64)
    ids = np.arange(len(keys), dtype=np.int64) * 3
    edges = cluster._bucket_edges(keys, ids, np.empty((2, len(keys)), np.uint64))
    assert_same(interpreted(cluster._bucket_edges)(keys, ids, np.empty((2, len(keys)), np.uint64)), edges)
    left, right = (e % units for e in edges)
    check_paths_agree(cluster.clusters, units, [(left, right)])


BENCH = ["Compute the sum of 1, 2, 3 and 4 and report it as a fraction.",
         "def add(a, b): return a + b  # add two numbers 17 and 25",
         "Let x be a real number such that x^2 = 49. Find every possible value of x.",
         "Short item", "Find 12 + 30", "Écrivez la somme de 2 et 3 en français, s'il vous plaît."]


@SLOW
@given(st.lists(TEXT | st.sampled_from(BENCH), max_size=8), st.lists(st.sampled_from(BENCH), max_size=4),
       st.sampled_from([3, 5, 8]))
def test_decontam_index_and_scan(pool, planted, n):
    texts = pool + [" ".join(planted), " then ".join(b.replace("2", "7") for b in planted)]
    items = [BenchItem("mini", str(i), problem) for i, problem in enumerate(BENCH)]
    results = []
    for kind in ("python", "compiled"):
        with path(kind):
            index = index_build.build_index(items, [{"name": "mini"}], [n], allowlist_min_items=0)
            grams = index.by_n[n]
            arrays = [getattr(grams, name) for name in grams.ARRAYS] + list(grams.tables())
            results.append((arrays, match.scan_texts(index, pa.array(texts, pa.string()), n)))
    assert_same(*results)


def _tiny(x):
    return x + 1


def test_pick_runs_python_until_the_budget_then_compiles(monkeypatch):
    kernel = numba.njit(_tiny)
    monkeypatch.setattr(small, "_spent", {})
    assert pick(kernel, 10) is not kernel  # small: the Python twin, nothing compiled
    assert pick(kernel, 10)(1) == 2 and not kernel.signatures
    assert pick(kernel, int(small.BUDGET / small.PYTHON) + 1) is kernel  # too much work for Python
    other = numba.njit(_tiny)
    other(1)  # compiled in this process: always the compiled kernel
    assert pick(other, 1) is other


@SLOW
@given(st.lists(TEXT | st.sampled_from(BENCH), max_size=8), st.lists(st.sampled_from(BENCH), max_size=4),
       st.sampled_from([3, 5, 8]), st.booleans())
def test_one_pass_scan_matches_tokens_then_scan(pool, planted, n, renamed):
    """`kernels.scan_bytes` (tokenise and scan per text, words kept for matched texts only),
    compiled and as its Python twin, gives the matches of `weights.tokens` then `scan_words`, and
    each matched text's words; texts without a match keep none."""
    from curate.decontam.kernels import scan_bytes
    from curate.decontam.weights import tokens
    from curate.text.arrow import arrow_buffers

    texts = pa.array(pool + [" ".join(planted), None, ""], pa.string())
    items = [BenchItem("mini", str(i), problem) for i, problem in enumerate(BENCH)]
    grams = index_build.build_index(items, [{"name": "mini"}], [n], allowlist_min_items=0).by_n[n]
    doc, words_, masked = tokens(texts)
    want = grams.scan(doc, words_, masked, renamed=renamed)
    for kernel in (scan_bytes, interpreted(scan_bytes)):
        (d, w, m), got = match.scan_buffers(grams, *arrow_buffers(texts), kernel, renamed=renamed)
        assert_same(got, want)
        matched = np.zeros(len(texts), bool)
        matched[got[0]] = True
        for row in range(len(texts)):
            mine = slice(d[row], d[row + 1])
            theirs = slice(doc[row], doc[row + 1]) if matched[row] else slice(0, 0)
            assert_same((w[mine], m[mine]), (words_[theirs], masked[theirs]))


def test_one_pass_scan_reruns_when_the_match_buffers_overflow():
    """More matches than `scan_buffers` first makes room for (1024): the rerun finds them all."""
    from curate.decontam.kernels import scan_bytes
    from curate.decontam.weights import tokens
    from curate.text.arrow import arrow_buffers

    texts = pa.array([" ".join(BENCH)] * 200, pa.string())
    items = [BenchItem("mini", str(i), problem) for i, problem in enumerate(BENCH)]
    grams = index_build.build_index(items, [{"name": "mini"}], [3], allowlist_min_items=0).by_n[3]
    want = grams.scan(*tokens(texts))
    (_, w, _), got = match.scan_buffers(grams, *arrow_buffers(texts), scan_bytes)
    assert len(got[0]) > 2000 and len(w) == len(tokens(texts)[1])
    assert_same(got, want)


def test_scan_over_chunks_gives_the_scan_of_their_rows_in_one_array():
    """A window of a batch spans the batch's pieces: scanned chunk by chunk in place, the texts give
    the words, matches (rows numbered across chunks) and hits (with the constants of template
    copies) of one array holding them all, also when a later chunk overflows the first buffers."""
    from curate.decontam.evidence import TextConstants
    from curate.decontam.kernels import scan_bytes, word_digits
    from curate.text.arrow import arrow_buffers

    copies = [BENCH[0].replace("3", "7"), BENCH[4].replace("12", "19"), "plain words", None, "", BENCH[2]]
    whole = pa.array(copies + [" ".join(BENCH)] * 150 + copies, pa.string())
    chunked = pa.chunked_array([whole.slice(0, 9), whole.slice(9, 0), whole.slice(9, 100), whole.slice(109)])
    items = [BenchItem("mini", str(i), problem) for i, problem in enumerate(BENCH)]
    index = index_build.build_index(items, [{"name": "mini"}], [3], allowlist_min_items=0)
    one = match.scan_buffers(index.by_n[3], *arrow_buffers(whole), scan_bytes)
    parts = match.scan_chunks(index.by_n[3], [arrow_buffers(c) for c in match.text_chunks(chunked)], scan_bytes)
    assert len(one[1][0]) > 2000 and set(one[1][0].tolist()) >= {0, 5, 100, len(whole) - 1}
    assert_same(parts, one)
    hits = match.scan_texts(index, whole, 3)
    assert any(hit.kind == "template" for hit in hits) and hits[-1].row == len(whole) - 1
    assert [repr(hit) for hit in match.scan_texts(index, chunked, 3)] == [repr(hit) for hit in hits]
    in_one, in_chunks = TextConstants(whole), TextConstants(chunked)
    for row in range(len(whole)):  # each row's constants, read from its own chunk
        raw = np.frombuffer((whole[row].as_py() or "").encode(), np.uint8)
        numbers = np.zeros(len(word_digits(raw)), np.bool_)
        assert_same(in_chunks.of(row, numbers), in_one.of(row, numbers))


@SLOW
@given(st.lists(TEXT, min_size=1, max_size=6), st.integers(-1, 12))
def test_word_bounds_numpy_twin(texts, limit):
    """Reports' word spans (`token_bounds`, over `kernels.word_bounds` or its NumPy twin)."""
    for text in texts + ["".join(texts), " ".join(texts) + " end"]:
        check_paths_agree(bench_index.token_bounds, text, limit=None if limit < 0 else limit)


@SLOW
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 2)), max_size=60), st.data())
def test_anchor_facts_numpy_twin(matches, data):
    """Per pair of a scan: exact path, direct, distinct n-gram and match positions; the NumPy
    twin against the kernel, with positions ascending within a pair (as scans give) or not."""
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(matches) - 1)), max_size=8))) if len(matches) > 1 else []
    starts = np.array([0, *cuts, len(matches)], np.int64)
    ipos = np.array([m[0] for m in matches], np.int64)
    if data.draw(st.booleans()):
        for a, b in zip(starts[:-1], starts[1:]):
            ipos[a:b] = np.sort(ipos[a:b])
    kinds = np.array([m[1] for m in matches], np.int8)
    assert_same(interpreted(verdict.anchor_facts)(ipos, kinds, starts), verdict.anchor_facts(ipos, kinds, starts))
