"""Math-Verify's own equivalence cases, read from its sdist (never committed here).

`tests/install_test_deps.sh` downloads the sdist into `~/.cache/curate-test-data`; the cases
are the literal `(gold, pred, expected)` tables of its `@pytest.mark.parametrize` decorators,
read with `ast` (nothing of it is imported or executed).
"""

from __future__ import annotations

import ast
import os
import tarfile
from pathlib import Path

CACHE = Path(os.environ.get("CURATE_TEST_DATA", Path.home() / ".cache" / "curate-test-data"))


def sdist() -> Path | None:
    found = sorted(CACHE.glob("math_verify-*.tar.gz"))
    return found[-1] if found else None


def load_cases(path: Path | None = None) -> list[tuple[str, str, bool, str]]:
    """(gold, pred, expected, test name) for every literal case in the sdist's tests."""
    path = path or sdist()
    if path is None:
        return []
    cases = []
    with tarfile.open(path) as tar:
        for member in tar.getmembers():
            if "/tests/test_" in member.name and member.name.endswith(".py"):
                source = tar.extractfile(member).read().decode()
                cases += _cases(ast.parse(source), Path(member.name).stem)
    return cases


def _cases(tree: ast.AST, file: str) -> list[tuple[str, str, bool, str]]:
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                continue
            names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
            if names[:3] != ["gold", "pred", "expected"]:
                continue
            try:
                rows = ast.literal_eval(dec.args[1])
            except ValueError:
                continue
            extra = names[3:]
            for row in rows:
                if extra:  # precision / set-relation flags: the default-setting cases only
                    continue
                gold, pred, expected = row[:3]
                out.append((gold, pred, bool(expected), f"{file}::{node.name}"))
    return out
