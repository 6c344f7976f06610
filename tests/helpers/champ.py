"""Real model answers with gold answers: the CHAMP competition-math set (`champ-dataset` on PyPI).

270 problems, each answered zero-shot by GPT-3.5, GPT-4, GPT-4 Turbo and PaLM 2 Medium: 1,080
real answers in plain prose, read from the installed package (nothing of it is committed here).
`LABELS` (tests/helpers/champ_labels.json) holds our own hand labels for a seeded sample.
"""

from __future__ import annotations

import json
from pathlib import Path

MODELS = ("GPT-3.5", "GPT-4", "GPT-4 Turbo", "PaLM 2 Medium")
LABELS = Path(__file__).with_name("champ_labels.json")


def load_rows() -> list[dict]:
    """One row per (problem, model): the model's first reply (its solution) and the gold answer."""
    import champ_dataset

    path = Path(champ_dataset.__file__).parent / "dataset_files" / "v0.json"
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
