"""Importers: real datasets' test formats -> curate's `reference` JSON (see `curate.verifiers.code`).

- `apps` (APPS, TACO): the `input_output` field, `{"inputs": [...], "outputs": [...], "fn_name"?}`.
  With `fn_name` the tests are calls: inputs are argument lists and each output is the return
  value wrapped in a one-element list (the APPS convention, unwrapped here). Without it they are
  stdin/stdout pairs (lists of lines are joined with newlines).
- `livecodebench`: a list of `{"input", "output", "testtype": "stdin" | "functional"}`, or a
  mapping with `public_test_cases`, `private_test_cases` (possibly base64+zlib+pickle of a JSON
  string, decoded with an unpickler that accepts plain strings only) and `metadata.func_name`.
  Functional inputs are one JSON value per line (the arguments); outputs are JSON.

- `humaneval` (HumanEval, and files in its shape): `{"test": "def check(candidate): ...",
  "entry_point": "f"}` (load builds it from the `test` and `entry_point` columns) becomes a
  functional spec with `"context": "problem"`: the prompt's helpers are in scope for the candidate
  and the tests, as the benchmark runs them (see `curate.verifiers.code_context`).
- `mbpp` (MBPP): `{"test_list": ["assert f(1) == 2", ...], "test_setup_code": "...", "code"?}`
  becomes a functional spec whose `check` runs the asserts (they call the function by its own name,
  which reaches the candidate through the recording); the entry point is the function the asserts
  call (one the reference `code` defines, when given).

A value that cannot be converted becomes `{"type": "invalid", "error": ...}`, so the row is kept
and `verify` flags it `bad_reference` instead of `load` failing on one bad row.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from typing import Any, Literal

from curate.schema import dumps

#: LiveCodeBench's largest private tests decompress to a few hundred MB; more is refused, not expanded
MAX_TESTS_BYTES = 1 << 30


def import_tests(kind: Literal["apps", "livecodebench", "humaneval", "mbpp"], value: Any) -> str | None:
    """Convert one dataset value to a curate test spec (JSON text); None stays None."""
    if value is None:
        return None
    try:
        spec = {"apps": _apps, "livecodebench": _livecodebench, "humaneval": _humaneval, "mbpp": _mbpp}[kind](value)
    except (ValueError, TypeError, KeyError, IndexError, SyntaxError, zlib.error, pickle.UnpicklingError,
            EOFError) as exc:
        spec = {"type": "invalid", "error": f"{kind} tests not understood: {type(exc).__name__}: {exc}"[:300]}
    return dumps(spec)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _text(value: Any) -> str:
    return "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _apps(value: Any) -> dict[str, Any]:
    data = _load(value)
    inputs, outputs = data["inputs"], data["outputs"]
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    if data.get("fn_name"):
        tests = [{"args": list(i) if isinstance(i, list) else [i], "expected": _unwrap(o)}
                 for i, o in zip(inputs, outputs)]
        return {"type": "call", "fn_name": data["fn_name"], "tests": tests}
    return {"type": "stdio", "tests": [{"input": _text(i), "output": _text(o)} for i, o in zip(inputs, outputs)]}


def _unwrap(output: Any) -> Any:
    return output[0] if isinstance(output, list) and len(output) == 1 else output


def _humaneval(value: Any) -> dict[str, Any]:
    data = _load(value)
    if not isinstance(data, dict):
        raise TypeError(f"expected {{test, entry_point}}, got {type(data).__name__}")
    test, entry_point = data.get("test"), data.get("entry_point")
    if not isinstance(test, str) or "def check(" not in test:
        raise ValueError("`test` defines no check(candidate)")
    if not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise ValueError(f"entry_point {entry_point!r} is not a function name")
    return {"type": "functional", "entry_point": entry_point, "test": test, "context": "problem"}


def _mbpp(value: Any) -> dict[str, Any]:
    data = _load(value)
    asserts = [t for t in data["test_list"] if isinstance(t, str) and t.strip()]
    if not asserts:
        raise ValueError("no tests in test_list")
    entry_point = _called_function(asserts, data.get("code") or "")
    body = "".join(f"    {line}\n" for t in asserts for line in t.strip().splitlines())
    setup = (data.get("test_setup_code") or "").strip()
    return {"type": "functional", "entry_point": entry_point,
            "test": (setup + "\n\n" if setup else "") + "def check(candidate):\n" + body}


def _called_function(asserts: list[str], code: str) -> str:
    """The function the asserts call: the first one `code` defines, else the first that is no builtin."""
    import ast
    import builtins

    from curate.text.pyast import parse

    called = [node.func.id for t in asserts for node in ast.walk(parse(t))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    defined = {n.name for n in parse(code).body if isinstance(n, ast.FunctionDef)} if code else set()
    for name in called:
        if name in defined or (not defined and not hasattr(builtins, name)):
            return name
    raise ValueError(f"the tests call no function {'the reference code defines' if defined else 'but builtins'}")


def _livecodebench(value: Any) -> dict[str, Any]:
    data = _load(value)
    fn_name = None
    if isinstance(data, dict):
        fn_name = (_load(data.get("metadata") or "{}") or {}).get("func_name")
        cases = _cases(data.get("public_test_cases")) + _cases(data.get("private_test_cases"))
    else:
        cases = _cases(data)
    if not cases:
        raise ValueError("no test cases")
    if all(c.get("testtype", "stdin") == "stdin" for c in cases):
        return {"type": "stdio", "tests": [{"input": c["input"], "output": c["output"]} for c in cases]}
    if not fn_name:
        raise ValueError("functional tests need metadata.func_name")
    tests = [{"args": [json.loads(line) for line in c["input"].splitlines() if line.strip()],
              "expected": json.loads(c["output"])} for c in cases]
    return {"type": "call", "fn_name": fn_name, "tests": tests}


def _cases(value: Any) -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = json.loads(_unpickle_text(_inflate(base64.b64decode(value, validate=True))))
    return list(value)


def _inflate(blob: bytes) -> bytes:
    """zlib-decompress, refusing output beyond MAX_TESTS_BYTES (a small blob can expand without bound)."""
    inflater = zlib.decompressobj()
    data = inflater.decompress(blob, MAX_TESTS_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError(f"private tests expand beyond {MAX_TESTS_BYTES >> 20} MB")
    return data


class _TextOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain strings are accepted")


def _unpickle_text(blob: bytes) -> str:
    """LiveCodeBench's private tests are a pickled JSON string; load strings and nothing else."""
    text = _TextOnly(io.BytesIO(blob)).load()
    if not isinstance(text, str):
        raise pickle.UnpicklingError("expected a pickled string")
    return text
