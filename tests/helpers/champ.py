"""Real model answers with gold answers: the CHAMP competition-math set (`champ-dataset` on PyPI).

270 problems, each answered zero-shot by GPT-3.5, GPT-4, GPT-4 Turbo and PaLM 2 Medium: 1,080
real answers in plain prose, read from the installed package (nothing of it is committed here).
`LABELS` (tests/helpers/champ_labels.json) holds our own hand labels (is the reply's final answer
right?) for a seeded random sample of 120 rows (`SAMPLE_SEED`) and for every row on which curate
and stock math-verify disagreed when they were written (an audit: on the rows where both
checkers agree, both are right or both wrong, so the disagreements alone decide which has more
false accepts and false rejects over all 1,080 rows).
"""

from __future__ import annotations

import json
from pathlib import Path

MODELS = ("GPT-3.5", "GPT-4", "GPT-4 Turbo", "PaLM 2 Medium")
LABELS = Path(__file__).with_name("champ_labels.json")
SAMPLE_SEED, SAMPLE_SIZE = 16, 120


def load_rows() -> list[dict]:
    """One row per (problem, model): the model's first reply (its solution) and the gold answer."""
    import importlib.util

    spec = importlib.util.find_spec("champ_dataset")  # its data file only; nothing of it runs
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("champ_dataset: pip install champ-dataset (in the dev extra)")
    path = Path(spec.origin).parent / "dataset_files" / "v0.json"
    problems = json.loads(path.read_text())["problems"]
    rows = []
    for pid, problem in sorted(problems.items()):
        for model in MODELS:
            messages = problem["conversations"][f"{model}|0-Shot"]["messages"]
            reply = next(m for m in messages if m["role"].startswith("Model."))
            rows.append({"id": pid, "trace_id": f"{pid}|{model}", "source": "champ", "domain": "math",
                         "reference": problem["_answer"], "answer": reply["text"] or "", "reasoning": None,
                         "problem": problem["_text"], "model": model})
    return rows


def labels() -> dict[str, bool]:
    """trace_id -> is the answer correct (our own reading of the reply's final answer vs the gold)."""
    return json.loads(LABELS.read_text()) if LABELS.exists() else {}


def random_sample(rows: list[dict]) -> set[str]:
    """Trace ids of the seeded random sample (the rows whose labels estimate accuracy)."""
    import random

    shuffled = list(rows)
    random.Random(SAMPLE_SEED).shuffle(shuffled)
    return {r["trace_id"] for r in shuffled[:SAMPLE_SIZE]}
