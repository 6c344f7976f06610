"""Which words of a benchmark item are names a copy may rename: the function, its parameters.

A code item copied with its names changed (`def largest_divisor(n)` -> `def fn0(x)`, and the
docstring's `n` with it) keeps everything else: the prose of its docstring, its examples, the
shape of its signature. In a short item the names recur every few words, so no n-gram of it
survives a renaming. The index therefore also keeps each item's n-grams over its words with
the names left out (`curate.decontam.kernels`: the scan skips a text's words that the benchmark
never uses outside a name, and probes the windows that closed over such a gap). A word that
any item uses as a name is left out everywhere, on both sides, so a copy renamed to a common
kind of name (`s`, `arr`) is found too; one renamed to words the benchmark's prose uses is not.

Names come from parsing the item as Python (`ast`; a HumanEval prompt ends in a docstring, so a
`pass` body is added when the prompt alone does not parse): every function's name and
parameters. Each name is marked at every whole-word occurrence in the item (`\\bname\\b`, as a
rename would replace it), in word positions of `curate.text.words`. Items that do not parse
(math, prose) have no names.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from curate.decontam.kernels import all_windows
from curate.text.pyast import parse
from curate.text.small import pick
from curate.text.words import word_hashes

MAX_NAMES = 32  # more names than that is not a signature a copy would rename


def item_names(text: str) -> list[str]:
    """Names of the functions a code item defines and of their parameters ([] if not Python)."""
    tree = None
    for suffix in ("", "\n    pass\n", "\n        pass\n"):
        try:
            tree = parse(text + suffix)
            break
        except (SyntaxError, ValueError):
            continue
    if tree is None:
        return []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            names.add(node.name)
            names.update(a.arg for a in params if a is not None and a.arg not in ("self", "cls"))
    return sorted(names)[:MAX_NAMES]


def name_mask(text: str, spans: list[tuple[int, int]]) -> np.ndarray:
    """Per word of `text` (its character `spans`, `index.token_spans`): is it part of a name."""
    mask = np.zeros(len(spans), bool)
    names = item_names(text)
    if not names or not spans:
        return mask
    starts = np.array([a for a, _ in spans])
    ends = np.array([b for _, b in spans])
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")\b")
    for m in pattern.finditer(text):
        mask[(starts >= m.start()) & (ends <= m.end())] = True
    return mask


def name_words(items_text: list[str], masked: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Per item word: is it left out of the name-free n-grams. That is every word of a name
    where it stands, and, wherever they stand, the one-word names any item uses (`s`, `text`,
    `numbers`), so a copy renamed to another item's kind of name (`s`, `arr`, `lst`) is found as
    well as one renamed to new words. Parts of longer names (`greatest` in
    `greatest_common_divisor`) stay elsewhere: they are prose words too."""
    if not names.any():
        return names
    single = sorted({n for text in items_text for n in item_names(text) if n.isalnum() and n.isascii()})
    return names | np.isin(masked, word_hashes(single)[1] if single else np.zeros(0, np.uint64))


def vocabulary(masked: np.ndarray, left_out: np.ndarray) -> np.ndarray:
    """The (number-masked) words the name-free n-grams are made of (`left_out` from
    `name_words`), sorted: the scan's second pass skips every text word not among them."""
    return np.unique(masked[~left_out]) if left_out.any() else np.zeros(0, np.uint64)


def skip_windows(doc: np.ndarray, masked: np.ndarray, left_out: np.ndarray, n: int):
    """The n-word windows over each item's words without those `left_out` (`name_words`) that
    close over a gap (spanning more than n words, at most 2n): (item, start in the item, key);
    and the same windows' (offsets, words, start) in the name-free streams, for the allowlist."""
    keep = ~left_out
    kept_at = np.flatnonzero(keep)
    owner = np.repeat(np.arange(len(doc) - 1), np.diff(doc))
    c_doc = np.r_[0, np.cumsum(np.bincount(owner[keep], minlength=len(doc) - 1))].astype(np.int64)
    c_words = masked[keep]
    item, c_pos, keys = pick(all_windows, len(c_words) * n)(c_doc, c_words, n)
    first = kept_at[c_doc[item] + c_pos]
    span = kept_at[c_doc[item] + c_pos + n - 1] - first + 1
    sel = (span > n) & (span <= 2 * n)
    return (item[sel], first[sel] - doc[item[sel]], keys[sel]), (c_doc, c_words, c_pos[sel])
