"""The problem's code context for functional tests (`"context": "problem"`, the HumanEval convention).

A HumanEval prompt is Python: imports, helper functions with bodies (`poly`, `encode_cyclic`) and
the stub the candidate must complete (a signature with only a docstring). Under the benchmark's own
rule the prompt's definitions are in scope for both the candidate and the tests. Here:

- the candidate runs with the whole prompt executed first, then its own program in the same
  namespace (so a program that only defines `find_zero` may call `poly`);
- the tests run beside the prompt's helpers, executed from the trusted problem text, never the
  candidate's copies; stubs and the entry point are left *open*: a test that calls them reaches
  the candidate through the recording proxy, like any other name the candidate defines.
"""

from __future__ import annotations

import ast
import re

from curate.text.pyast import parse

_PY_FENCE = re.compile(r"^[ \t]*```[ \t]*(?:python3?|py3?)?[ \t]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
CONTEXTS = ("problem",)


def problem_context(problem: str | None, entry_point: str) -> tuple[str, list[str]]:
    """(code, open names) of a problem text; ValueError when it holds no Python to run.

    The text is taken whole when it parses (a HumanEval prompt), else its fenced Python blocks."""
    if not problem or not problem.strip():
        raise ValueError("context: problem, but the row has no problem text")
    tree, code = _parse(problem)
    if tree is None:
        blocks = _PY_FENCE.findall(problem)
        tree, code = _parse("\n\n".join(blocks)) if blocks else (None, "")
    if tree is None:
        raise ValueError("context: problem, but the problem text is neither Python nor holds a ```python block")
    return code, sorted({entry_point, *_stub_names(tree)})


def with_context(program: str, context: str) -> str:
    """A body-only completion (the raw HumanEval format) continues the prompt; a whole program stays."""
    if _parse(program)[0] is None and _parse(context + program)[0] is not None:
        return context + program
    return program


def _parse(code: str) -> tuple[ast.Module | None, str]:
    try:
        return parse(code), code
    except (SyntaxError, ValueError):
        return None, code


def _stub_names(tree: ast.Module) -> list[str]:
    """Top-level functions whose body is only a docstring, `pass` or `...`: the candidate's to write."""
    return [node.name for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and all(map(_is_filler, node.body))]


def _is_filler(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Pass):
        return True
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and (
        isinstance(statement.value.value, str) or statement.value.value is Ellipsis)
