"""Math verification: answer extraction, equivalence table, outcome classes, the deadline path."""

from __future__ import annotations

import pytest

from curate.verifiers.math import extract_answer, is_wordy, split_top_level, wrap
from curate.verifiers.math_rows import prepare_row
from curate.verifiers.pool import WorkerPool

EXTRACT = [
    ("The answer is $\\boxed{220}$.", "220"),
    ("First \\boxed{1}, then corrected: \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("nested \\boxed{\\frac{a}{\\sqrt{b}}} done", "\\frac{a}{\\sqrt{b}}"),
    ("The final answer is 12.", "12"),
    ("Answer: $x = 3$", "3"),  # the value; the whole equation is tried too
    ("So the answer is $\\frac{3}{4}$.\nThanks", "\\frac{3}{4}"),
    ("We get 2 + 2 = 4 and then 7.", "4"),  # standard: the value after the sentence's last "="
    ("", None),
    ("\\boxed{unclosed", None),
    ("so $\\boxed 5$.", "5"),
]


@pytest.mark.parametrize("text,expected", EXTRACT)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_helpers():
    assert wrap("\\tfrac83") == "$\\tfrac83$" and wrap("$3$") == "$3$"
    assert split_top_level("1, (2,3), [4,5)") == ["1", "(2,3)", "[4,5)"]
    assert is_wordy("see solution") and not is_wordy("x^2+2x+1") and not is_wordy("\\sqrt{2}\\pi")


ROWS = [
    ({"reference": "3", "answer": None, "reasoning": "thinking...", "finish_reason": "length"}, "no_answer"),
    ({"reference": "3", "answer": None, "reasoning": "thinking..."}, "no_answer"),
    ({"reference": "3", "answer": "I am not sure how to finish."}, "no_answer"),
    ({"reference": None, "answer": "\\boxed{3}"}, "bad_reference"),
    ({"reference": "3", "answer": "<think>x</think> \\boxed{3}"}, None),
]


@pytest.mark.parametrize("row,verdict", ROWS)
def test_prepare_row(row, verdict):
    prepared, final = prepare_row(row)
    assert (final or {}).get("verdict") == verdict
    assert (prepared is not None and prepared[0] == "3") == (verdict is None)


# gold, prediction, per-source options, expected verdict
TABLE = [
    ("220", "220", {}, "pass"),
    ("220", "230", {}, "fail"),
    ("\\tfrac83", "\\frac{8}{3}", {}, "pass"),  # bare gold, parses only when wrapped
    ("\\tfrac83", "2\\frac{2}{3}", {}, "pass"),
    ("\\tfrac83", "\\frac{3}{8}", {}, "fail"),
    ("[2,5)", "[2, 5)", {}, "pass"),
    ("[2,5)", "(2,5]", {}, "fail"),
    ("x^2+2x+1", "(x+1)^2", {}, "pass"),
    ("x^2+2x+1", "(x-1)^2", {}, "fail"),
    ("\\frac{1}{2}", "0.5", {}, "pass"),
    ("6", "x=6", {}, "pass"),
    ("1,2,3", "1, 2, 3", {}, "pass"),
    ("1,2,3", "3,2,1", {}, "fail"),  # strict: ordered lists
    ("1,2,3", "3,2,1", {"lists": "unordered"}, "pass"),
    ("50", "50\\%", {}, "pass"),  # default: the percent sign is notation
    ("0.5", "50\\%", {}, "fail"),
    ("50", "50\\%", {"percent": "fraction"}, "fail"),  # fraction: 50% means 0.5 only
    ("0.5", "50\\%", {"percent": "fraction"}, "pass"),
    ("50", "50\\%", {"percent": "either"}, "pass"),
    ("0.5", "50\\%", {"percent": "either"}, "pass"),
    ("3.14", "3.14159", {}, "fail"),
    ("3.14", "3.14159", {"rel_tol": 1e-3}, "pass"),
    ("5", "5\\text{ cm}", {}, "pass"),  # match (default): a unit the gold lacks is dropped
    ("5\\text{ m}", "5\\text{ cm}", {}, "fail"),  # ... but two units must agree
    ("5", "5\\text{ cm}", {"units": "strict"}, "fail"),  # strict: units are part of the answer
    ("5", "5\\text{ cm}", {"units": "strip"}, "pass"),
    ("B", "(B)", {"multiple_choice": True}, "pass"),
    ("B", "C", {"multiple_choice": True}, "fail"),
    ("Yes", "yes", {"text_answers": True}, "pass"),
    ("see solution", "108", {}, "bad_reference"),
    ("B", "B", {"multiple_choice": False, "text_answers": False}, "pass"),
    ("1000", "1,000", {}, "pass"),  # thousands separators
    ("1000", "1 000", {}, "pass"),
    ("2.74", "2,74", {}, "pass"),  # auto: a decimal comma where unambiguous
    ("2.5", "2,5", {"locale": "eu"}, "pass"),
    ("1000", "1.000", {"locale": "eu"}, "pass"),
    ("1.5", "1,5", {"locale": "en"}, "fail"),  # en: never a decimal comma
    ("C(10, 5), or equivalently 252", "252", {}, "pass"),  # alternatives in the gold
    ("x=2, y=1", "(2, 1)", {}, "pass"),  # named values and the tuple they name
    ("(1,2),(3,4)", "(3,4),(1,2)", {}, "pass"),  # a list of tuples is a solution set
    ("3", "9^{9^{9}}", {}, "timeout"),  # a pathological answer costs its deadline, not the run
    ("3", "3", {}, "pass"),  # ... and the worker that replaced the stuck one carries on
]


@pytest.fixture(scope="module")
def pool():
    # a deadline that a loaded 2-core CI machine cannot hit on an ordinary item, only a runaway one
    with WorkerPool("curate.verifiers.math", workers=2, deadline=5.0, memory_mb=2048) as p:
        yield p


def test_equivalence_table(pool):
    jobs = [((gold, options), [pred]) for gold, pred, options, _ in TABLE]
    got = [out[0] for out in pool.run(jobs)]
    verdicts = ["bad_reference" if kind == "bad_header" else kind for kind, _ in got]
    expected = [row[3] for row in TABLE]
    wrong = [(row[:3], v) for row, v in zip(TABLE, verdicts) if v != row[3]]
    assert verdicts == expected, wrong
    assert pool.stats.timeouts >= 1 and pool.stats.restarts >= 1


def test_timeout_mid_job_keeps_the_rest(pool):
    """Items after a stuck one in the same job are still judged by a fresh worker."""
    out = pool.run([(("3", {}), ["3", "9^{9^{9}}", "4", "3.0"])])[0]
    assert [kind for kind, _ in out] == ["pass", "timeout", "fail", "pass"]


def test_checker_error_is_an_outcome(pool):
    out = pool.run([(("3", {}), [None, "3"])])[0]
    assert [kind for kind, _ in out] == ["error", "pass"]
    assert "TypeError" in out[0][1]["reason"] or "AttributeError" in out[0][1]["reason"]


# Checks one answer with the pool the verify stage uses, prints the forkserver's pid, exits.
FORKSERVER_SCRIPT = """
from multiprocessing import forkserver
from curate.verifiers.math_rows import verify_math_rows
rows = [{"id": "p", "reference": "1/2", "answer": "\\\\boxed{0.5}", "source": "s", "finish_reason": "stop"}]
print(verify_math_rows(rows, lambda source: {}, workers=1, deadline=5.0, memory_mb=2048)[0][0])
print(forkserver._forkserver._forkserver_pid, flush=True)
"""


def test_the_forkserver_is_gone_when_the_process_exits():
    """Left alone, the forkserver (sympy imported) outlives the process by up to a second while
    it tears down, holding the caller's stdout and stderr open (`curate run | tee` waits)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen([sys.executable, "-c", FORKSERVER_SCRIPT], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(root)})
    verdict, pid = child.stdout.readline().strip(), int(child.stdout.readline())
    assert child.wait(timeout=300) == 0 and verdict == "pass"
    with pytest.raises(ProcessLookupError):  # killed and reaped before the process exited
        os.kill(pid, 0)
    child.stdout.close()
