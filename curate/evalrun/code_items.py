"""Eval-set rows of the pack's code benchmarks: the problem a model sees, curate's test JSON, a date.

Each benchmark's own tests become the `reference` the code verifier runs
(`curate.verifiers.formats`):

- `humaneval`: the prompt (a Python stub) is the problem; `check(candidate)` with the entry point
  is a functional spec whose code context is the prompt. Dated by the pack's release date.
- `livecodebench`: the question, followed by the starter code in a ```python block when there is
  one (LeetCode problems: the model must know the class and method to write); the public and
  private tests (stdin/stdout or functional calls; private ones are base64 of zlib of a pickled
  JSON string, read by an unpickler that accepts plain strings only). Dated by `contest_date`.
- `mbpp`: the task text followed by its asserts (the benchmark's own prompt shape: they name the
  function to write); the asserts become a functional spec. Dated by the pack's release date.

An item whose tests cannot be converted (unknown shape, an unsafe or damaged pickle) is refused
with a `CurateError` naming it: a benchmark row that is not what the pack expects is a broken or
tampered download, not a row to skip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from curate.decontam.pack import BenchmarkSpec
from curate.decontam.select import Selection
from curate.errors import CurateError

Row = dict[str, Any]


def humaneval_item(row: Row) -> tuple[str, str, Any]:
    """(problem, importer kind, importer value) of one HumanEval row."""
    return row["prompt"], "humaneval", {"test": row["test"], "entry_point": row["entry_point"]}


def livecodebench_item(row: Row) -> tuple[str, str, Any]:
    problem = row["question_content"].rstrip()
    starter = (row.get("starter_code") or "").strip("\n")
    if starter.strip():
        problem += f"\n\n```python\n{starter}\n```"
    tests = {k: row.get(k) for k in ("public_test_cases", "private_test_cases", "metadata")}
    return problem, "livecodebench", tests


def mbpp_item(row: Row) -> tuple[str, str, Any]:
    tests = list(row["test_list"])
    problem = row["text"].rstrip() + "\n\nYour code should pass these tests:\n" + "\n".join(tests)
    return problem, "mbpp", {"test_list": tests, "test_setup_code": row.get("test_setup_code") or "",
                             "code": row.get("code") or ""}


#: pack benchmarks whose reference is code: name -> (row -> problem, importer kind, tests)
CODE_PACK: dict[str, Callable[[Row], tuple[str, str, Any]]] = {
    "humaneval": humaneval_item, "livecodebench": livecodebench_item, "mbpp": mbpp_item}


def code_rows(selection: Selection, cache_dir: str | None = None) -> list[Row]:
    """Rows of the eval set for a pack code benchmark (`id`, problem, reference, domain, date)."""
    from curate.decontam.loaders import hub_rows, spec_items
    from curate.verifiers.formats import import_tests

    spec: BenchmarkSpec = selection.spec
    raw = hub_rows(selection, cache_dir=cache_dir, all_columns=True)
    items = spec_items(spec, raw)
    convert = CODE_PACK[spec.name]
    out = []
    for item, row in zip(items, raw):
        try:
            problem, kind, tests = convert(row)
        except (KeyError, TypeError, AttributeError) as exc:
            raise _refused(spec, item.key, f"a field is missing or has the wrong type ({type(exc).__name__}: "
                                           f"{exc})") from None
        reference = import_tests(kind, tests)
        error = json.loads(reference).get("error") if reference else "no tests"
        if error:
            raise _refused(spec, item.key, error)
        out.append({"id": item.key, "problem": problem, "reference": reference, "domain": "code",
                    "benchmark": spec.name, "date": item_date(spec, row)})
    return out


def item_date(spec: BenchmarkSpec, row: Row) -> str | None:
    """The item's own date (LiveCodeBench's contest date, day precision), else the pack's release date."""
    if spec.date_field:
        value = row.get(spec.date_field)
        return str(value)[:10] if value not in (None, "") else None
    return spec.release_date


def _refused(spec: BenchmarkSpec, key: str, why: str) -> CurateError:
    return CurateError(f"{key}: its tests cannot be used ({why})",
                       f"The {spec.hub_id} data is not in the shape the pack expects (revision "
                       f"{spec.revision}): clear its `datasets` cache and load it again, or evaluate "
                       "the other items from a local file (`dataset: {path: ..., domain: code}`).")
