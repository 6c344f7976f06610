"""Test-format importers (APPS/TACO, LiveCodeBench) and their round trip through the judge."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

from curate.verifiers.formats import import_tests


def test_apps_stdio():
    spec = json.loads(import_tests("apps", json.dumps({"inputs": ["1 2\n", ["3", "4"]], "outputs": ["3\n", ["7"]]})))
    assert spec == {"type": "stdio", "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "3\n4", "output": "7"}]}


def test_apps_call_unwraps_outputs():
    raw = {"fn_name": "add", "inputs": [[1, 2], [[1], [2]]], "outputs": [[3], [[1, 2]]]}
    spec = json.loads(import_tests("apps", raw))
    assert spec["type"] == "call" and spec["fn_name"] == "add"
    assert spec["tests"] == [{"args": [1, 2], "expected": 3}, {"args": [[1], [2]], "expected": [1, 2]}]


def test_livecodebench_stdin_and_functional():
    cases = [{"input": "5\n", "output": "25\n", "testtype": "stdin"}]
    assert json.loads(import_tests("livecodebench", json.dumps(cases)))["type"] == "stdio"
    private = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(
        [{"input": "[1, 2]\n3", "output": "true", "testtype": "functional"}])))).decode()
    value = {"public_test_cases": json.dumps([{"input": "[4]\n1", "output": "false", "testtype": "functional"}]),
             "private_test_cases": private, "metadata": json.dumps({"func_name": "has"})}
    spec = json.loads(import_tests("livecodebench", value))
    assert spec == {"type": "call", "fn_name": "has",
                    "tests": [{"args": [[4], 1], "expected": False}, {"args": [[1, 2], 3], "expected": True}]}


def test_malicious_pickle_is_refused_and_the_row_flagged():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    spec = json.loads(import_tests("livecodebench", {"public_test_cases": blob}))
    assert spec["type"] == "invalid" and "refusing" in spec["error"]


def test_garbage_is_flagged_not_raised():
    assert json.loads(import_tests("apps", "{not json"))["type"] == "invalid"
    assert json.loads(import_tests("apps", {"inputs": [1], "outputs": []}))["type"] == "invalid"
    assert import_tests("apps", None) is None


def test_imported_tests_run_through_the_judge():
    import os
    import shutil

    import pytest

    from curate.verifiers.code import CodeSettings, verify_one
    from curate.verifiers.sandbox import Sandbox

    if not shutil.which("bwrap") and not os.environ.get("CI"):
        pytest.skip("bubblewrap not installed")
    call = import_tests("apps", {"fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [[3], [10]]})
    stdio = import_tests("livecodebench", [{"input": "5\n", "output": "25\n", "testtype": "stdin"}])
    sandbox, settings = Sandbox(), CodeSettings(timeout=4)
    good = {"answer": "```python\ndef add(a, b):\n    return a + b\n```", "reference": call}
    square = {"answer": "```python\nprint(int(input()) ** 2)\n```", "reference": stdio}
    assert verify_one(good, sandbox, settings)[0] == "pass"
    assert verify_one(square, sandbox, settings)[0] == "pass"
    bad = {"answer": "```python\nprint(1)\n```", "reference": import_tests("apps", "{oops")}
    verdict, detail = verify_one(bad, sandbox, settings)
    assert verdict == "bad_reference" and "apps tests not understood" in detail["reason"]
