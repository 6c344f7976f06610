"""Code answers: extract the program, run its tests in the sandbox, judge here, outside it.

Test formats (the `reference` column, JSON):

- `{"type": "functional", "entry_point": "f", "test": "def check(candidate): ..."}` (HumanEval,
  MBPP): record/replay. Sandbox 1 runs the candidate under `check` through a proxy that records
  each call's arguments and plain return value; sandbox 2 runs `check` again with NO candidate
  code, answering calls from the recording, so the asserts run only beside trusted code.
- `{"type": "stdio", "tests": [{"input": "...", "output": "..."}], "case_insensitive": false,
  "float_tol": null}`: one sandbox per test; stdout compared token by token (case folding and float
  tolerance only when the spec says so); missing or extra tokens fail; the exit status must be 0.
- `{"type": "call", "fn_name": "f", "tests": [{"args": [...], "expected": ...}]}`: the sandbox
  gets the arguments only (never the expected values) and reports return values; compared here
  with exact types (True is not 1; tuples compare as JSON lists).

Limits of the functional design: a candidate that deliberately walks the harness's memory (gc,
frames) can forge its own recorded return values, but it never sees a verdict to forge and the
asserts are replayed elsewhere; tests whose calls depend on randomness the candidate consumes are
reported as not replayable (`error`).
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from curate.verifiers import harness, harness_wire
from curate.verifiers.code_context import CONTEXTS, problem_context, with_context
from curate.verifiers.math_rows import final_text
from curate.verifiers.sandbox import Limits, RunResult, Sandbox

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)
PYTHON_TAGS = {"", "python", "py", "python3", "py3"}
Result = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class CodeSettings:
    sandbox: Literal["bwrap", "none"] = "bwrap"
    timeout: float = 5.0
    memory_mb: int = 1024
    max_output: int = 64 << 20
    max_tests: int | None = None
    python: str | None = None

    def limits(self) -> Limits:
        return Limits(timeout=self.timeout, memory_mb=self.memory_mb, max_output=self.max_output)


@cache
def harness_source() -> str:
    """The script the sandbox runs: the codec (`harness_wire`), then the harness, which imports
    the codec only where curate is importable (not in the sandbox)."""
    return Path(harness_wire.__file__).read_text() + "\n\n" + Path(harness.__file__).read_text()


def extract_program(text: str | None) -> tuple[str | None, str]:
    """(program, why not): the last fenced block, if it is Python."""
    if not text:
        return None, "empty answer"
    blocks = _FENCE.findall(text)
    if not blocks:
        return None, "unterminated code block" if "```" in text else "no fenced code block"
    language, body = blocks[-1]
    if language.lower() not in PYTHON_TAGS:
        return None, f"last code block is {language}, not Python"
    return body, ""


def parse_reference(reference: str | None) -> dict[str, Any]:
    """The test spec, or ValueError naming what is wrong with it."""
    if not reference:
        raise ValueError("no test spec in `reference`")
    spec = json.loads(reference)
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "invalid":
        raise ValueError(spec.get("error", "the importer could not convert the tests"))
    required = {"functional": ("entry_point", "test"), "stdio": ("tests",), "call": ("fn_name", "tests")}
    if kind not in required:
        raise ValueError(f"unknown test type {kind!r}; expected one of {sorted(required)}")
    missing = [k for k in required[kind] if k not in spec]
    if missing:
        raise ValueError(f"{kind} test spec lacks {missing}")
    return spec


def verify_code_rows(rows: list[dict[str, Any]], settings: CodeSettings, *, workers: int = 1,
                     counters: Counter | None = None) -> list[Result]:
    """One (verdict, detail) per row; rows run in parallel, each test in its own sandbox."""
    sandbox = Sandbox(kind=settings.sandbox, python=settings.python)
    check_sandbox(sandbox)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda row: _guarded(row, sandbox, settings), rows))
    if counters is not None:
        counters["sandbox runs"] += sum(r[1].get("runs", 0) for r in results)
    return results


def _guarded(row: dict[str, Any], sandbox: Sandbox, settings: CodeSettings) -> Result:
    """verify_one, with an unexpected failure recorded as the row's `error` outcome."""
    try:
        return verify_one(row, sandbox, settings)
    except (OSError, ValueError, KeyError, TypeError, UnicodeError) as exc:
        return "error", {"verifier": "code", "reason": f"{type(exc).__name__}: {str(exc)[:200]}"}


@cache
def _probe(kind: str, python: str) -> str:
    """'' when a trivial program runs in this sandbox, else what went wrong."""
    if not Path(python).exists():
        return f"the interpreter {python} does not exist"
    files = {"harness.py": harness_source(), "program.py": "print('ok')\n"}  # the real harness: its exec
    run = Sandbox(kind=kind, python=python).run(files, ["stdio"], limits=Limits(timeout=30))  # filter too
    if run.stdout.strip() == b"ok":
        return ""
    return (run.stderr.decode(errors="replace").strip() or f"exit status {run.returncode}")[:500]


def check_sandbox(sandbox: Sandbox) -> None:
    """Fail once, clearly, when the sandbox cannot run anything here (rather than per row)."""
    from curate.errors import CurateError

    problem = _probe(sandbox.kind, sandbox.python)
    if problem:
        raise CurateError(
            f"the code sandbox does not work here: {problem}",
            "bubblewrap needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; "
            "on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0). Set `python:` to an "
            "interpreter outside private folders, or `sandbox: none` for trusted code only.")


def verify_one(row: dict[str, Any], sandbox: Sandbox, settings: CodeSettings) -> Result:
    try:
        spec = parse_reference(row.get("reference"))
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        return "bad_reference", {"verifier": "code", "reason": f"test spec unusable: {exc}"}
    text, why = final_text(row)
    program, why_not = extract_program(text) if text else (None, why or "")
    if program is None:
        return "no_answer", {"verifier": "code", "reason": why_not}
    if spec["type"] == "functional" and spec.get("context"):
        try:
            program, spec = _in_context(program, spec, row.get("problem"))
        except ValueError as exc:
            return "bad_reference", {"verifier": "code", "reason": str(exc)}
    runner = {"functional": judge_functional, "stdio": judge_stdio, "call": judge_call}[spec["type"]]
    verdict, detail = runner(program, spec, sandbox, settings)
    return verdict, {"verifier": "code", "test_type": spec["type"], **detail}


def _in_context(program: str, spec: dict, problem: str | None) -> tuple[str, dict]:
    """The program and the record spec with the problem's code context resolved (see code_context)."""
    if spec["context"] not in CONTEXTS:
        raise ValueError(f"unknown test context {spec['context']!r}; expected one of {list(CONTEXTS)}")
    code, open_names = problem_context(problem, spec["entry_point"])
    return with_context(program, code), {**spec, "context_code": code, "open": open_names}


def _run(sandbox: Sandbox, mode: str, files: dict[str, str], settings: CodeSettings, *, stdin: bytes = b"",
         spec: dict | None = None) -> tuple[RunResult, str]:
    """One sandboxed harness run; `spec` goes in on stdin with a fresh nonce (returned)."""
    nonce = secrets.token_hex(16)
    if spec is not None:
        stdin = json.dumps({"spec": spec, "nonce": nonce}).encode()
    run = sandbox.run({"harness.py": harness_source(), **files}, [mode], stdin=stdin, limits=settings.limits())
    return run, nonce


def _run_failure(run: RunResult, what: str) -> Result | None:
    """The verdict when a run did not finish normally, else None."""
    if run.setup_failed:
        return "error", {"reason": "sandbox failed to start: " + run.stderr.decode(errors="replace")[:300]}
    if run.timed_out:
        return "timeout", {"reason": f"{what}: no result within the wall-clock limit"}
    if run.output_capped:
        return "fail", {"reason": f"{what}: output exceeded the cap ({run.output_capped})"}
    return None


def _report(run: RunResult, nonce: str) -> dict[str, Any] | None:
    """The harness's report: the last JSON line signed with this run's nonce, if any."""
    for line in reversed(run.stdout.decode(errors="replace").splitlines()):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and data.get("nonce") == nonce:
            return data
    return None


def _exited_early(run: RunResult, what: str) -> Result:
    tail = run.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return "fail", {"reason": f"{what}: the program ended before the tests finished (exit {run.returncode}) "
                              f"{tail[0][:200]}".strip()}


# ---------------------------------------------------------------- the three formats


def judge_functional(program: str, spec: dict, sandbox: Sandbox, settings: CodeSettings) -> Result:
    record_spec = {"entry_point": spec["entry_point"], "test": spec["test"],
                   "context": spec.get("context_code", ""), "open": spec.get("open", [])}
    run, nonce = _run(sandbox, "record", {"program.py": program}, settings, spec=record_spec)
    failure = _run_failure(run, "recording")
    if failure:
        return failure[0], {**failure[1], "runs": 1}
    data = _report(run, nonce)
    if not data or not data.get("done"):
        return _exited_early(run, "recording")[0], {**_exited_early(run, "recording")[1], "runs": 1}
    if "setup_error" in data:
        return "fail", {"reason": data["setup_error"], "runs": 1}
    replay, nonce = _run(sandbox, "replay", {}, settings, spec={**record_spec, "calls": data["calls"],
                                                                      "names": _names(data)})
    failure = _run_failure(replay, "replaying the tests")
    if failure:
        return failure[0], {**failure[1], "runs": 2}
    verdict = _report(replay, nonce) or {}
    if verdict.get("passed") is True and verdict.get("calls", 0) > 0:
        return "pass", {"reason": f"check() passed on {verdict['calls']} recorded calls", "runs": 2}
    error = verdict.get("error", "no verdict from the replay")
    if "not replayable" in error:
        return "error", {"reason": error, "runs": 2}
    return "fail", {"reason": f"check() failed: {error}", "runs": 2}


def _names(data: dict) -> list[str]:
    """The candidate names the tests called (the replay proxies only those its own tests leave undefined)."""
    names = data.get("names")
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def judge_stdio(program: str, spec: dict, sandbox: Sandbox, settings: CodeSettings) -> Result:
    tests = spec["tests"][: settings.max_tests]
    for i, test in enumerate(tests):
        run, _ = _run(sandbox, "stdio", {"program.py": program}, settings, stdin=str(test.get("input", "")).encode())
        failure = _run_failure(run, f"test {i}")
        if failure:
            return failure[0], {**failure[1], "runs": i + 1}
        if run.returncode != 0:
            tail = run.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            return "fail", {"reason": f"test {i}: exit status {run.returncode} {tail[0][:200]}".strip(), "runs": i + 1}
        why = compare_stdout(run.stdout.decode(errors="replace"), str(test.get("output", "")),
                             case_insensitive=bool(spec.get("case_insensitive")), float_tol=spec.get("float_tol"))
        if why:
            return "fail", {"reason": f"test {i}: {why}", "runs": i + 1}
    if not tests:
        return "bad_reference", {"reason": "stdio spec has no tests", "runs": 0}
    return "pass", {"reason": f"{len(tests)} stdio tests passed", "runs": len(tests)}


def compare_stdout(got: str, expected: str, *, case_insensitive: bool = False, float_tol: float | None = None) -> str:
    """Token-wise comparison; '' when equal, else the first difference."""
    a, b = got.split(), expected.split()
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y or (case_insensitive and x.casefold() == y.casefold()):
            continue
        if float_tol is not None and _floats_close(x, y, float(float_tol)):
            continue
        return f"token {i}: got {x[:40]!r}, expected {y[:40]!r}"
    if len(a) != len(b):
        return f"{len(a)} output tokens, expected {len(b)}"
    return ""


def _floats_close(x: str, y: str, tol: float) -> bool:
    try:
        fx, fy = float(x), float(y)
    except ValueError:
        return False
    return abs(fx - fy) <= tol * max(1.0, abs(fy))


def judge_call(program: str, spec: dict, sandbox: Sandbox, settings: CodeSettings) -> Result:
    tests = spec["tests"][: settings.max_tests]
    if not tests:
        return "bad_reference", {"reason": "call spec has no tests", "runs": 0}
    args_only = {"fn_name": spec["fn_name"],
                 "tests": [{"args": json.loads(harness_wire.enc(list(t.get("args", []))))} for t in tests]}
    run, nonce = _run(sandbox, "call", {"program.py": program}, settings, spec=args_only)
    failure = _run_failure(run, "calls")
    if failure:
        return failure[0], {**failure[1], "runs": 1}
    data = _report(run, nonce)
    if not data or not (data.get("done") or "setup_error" in data):
        return _exited_early(run, "calls")[0], {**_exited_early(run, "calls")[1], "runs": 1}
    if "setup_error" in data:
        return "fail", {"reason": data["setup_error"], "runs": 1}
    for i, (test, got) in enumerate(zip(tests, data["results"])):
        if "v" not in got:
            what = f"raised {got['raised']}" if "raised" in got else f"returned a non-plain {got.get('unserialisable')}"
            return "fail", {"reason": f"test {i}: {what}", "runs": 1}
        value = harness_wire.dec(json.loads(got["v"]))
        if not same_value(value, test.get("expected"), spec.get("float_tol")):
            return "fail", {"reason": f"test {i}: got {repr(value)[:80]}, expected {repr(test.get('expected'))[:80]}",
                            "runs": 1}
    if len(data["results"]) != len(tests):
        return "fail", {"reason": "not every test produced a result", "runs": 1}
    return "pass", {"reason": f"{len(tests)} call tests passed", "runs": 1}


def same_value(got: Any, expected: Any, float_tol: float | None = None) -> bool:
    """Plain-data equality with exact kinds: bools are not ints; tuples equal JSON lists."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, (int, float)) and type(got) in (int, float):
        if float_tol is not None:
            return abs(got - expected) <= float(float_tol) * max(1.0, abs(expected))
        return got == expected
    if isinstance(expected, list) and type(got) in (list, tuple):
        return len(got) == len(expected) and all(same_value(g, e, float_tol) for g, e in zip(got, expected))
    if isinstance(expected, dict) and type(got) is dict:
        keys = {str(k): v for k, v in got.items()}
        return keys.keys() == expected.keys() and all(same_value(keys[k], expected[k], float_tol) for k in expected)
    return type(got) is type(expected) and got == expected
