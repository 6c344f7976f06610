"""The evaluation set: a pack benchmark or a local file written as one JSONL source, or a source as given.

A `benchmark` (pack name or `file.jsonl#problem=q,...`) is loaded with the decontamination
pack's loaders and written to RUN/eval_set.jsonl with one row per item: `id` (benchmark:item,
so every model's rows share ids), `problem`, `reference`, `domain`, and, kept by load in
`extra`, the `benchmark` name and the item's `date` (a pack benchmark's release date, or the item's
own date where the pack has one: LiveCodeBench's contest date). Code benchmarks (HumanEval,
LiveCodeBench, MBPP) carry their own tests as the code verifier's test JSON (`code_items`). The file
is rewritten only when its content changes, so load's fingerprint (which covers its bytes) stays
put and a rerun resumes. A `dataset` source is handed to load as it is; its `date_column` is read
from `extra` afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.evalrun.config import EvalConfig

#: pack benchmarks with a gold answer curate's math verifier can judge
MATH_PACK = {"aime24", "aime25", "amc23", "math500", "olympiadbench", "gsm8k"}


def eval_source(config: EvalConfig, run_dir: Path) -> tuple[dict[str, Any], str | None]:
    """The load source of the eval set, and the `extra` key that holds item dates."""
    if config.dataset is not None:
        return config.dataset.model_dump(mode="json", exclude_none=True), config.date_column
    rows = benchmark_rows(config)
    path = run_dir / "eval_set.jsonl"
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    # the rows' ids are already `benchmark:id`: no second prefix
    return {"path": str(path), "name": rows[0]["benchmark"], "format": "jsonl", "id_scope": "global"}, "date"


def benchmark_rows(config: EvalConfig) -> list[dict[str, Any]]:
    """Rows of the eval set for a `benchmark` selection."""
    from curate.decontam.loaders import load_items
    from curate.decontam.select import LocalSpec, parse_selection
    from curate.evalrun.code_items import CODE_PACK, code_rows

    selection = parse_selection(config.benchmark, base_dir=config.base_dir)
    local = isinstance(selection.spec, LocalSpec)
    if not local and selection.name in CODE_PACK:
        return _nonempty(code_rows(selection), config)
    if not local and selection.name not in MATH_PACK:
        supported = ", ".join(sorted(MATH_PACK | set(CODE_PACK)))
        raise CurateError(f"pack benchmark '{selection.name}' has no answers curate can verify (its "
                          f"reference is free text); eval supports {supported}", "Evaluate it from a local "
                          "file whose `answer` curate can judge, or a `dataset:` with a `reference` column.")
    items = _nonempty(load_items(selection), config)
    dates = local_dates(selection.spec.path, config.date_column, len(items)) if local else None
    out = []
    for index, item in enumerate(items):
        date = dates[index] if dates else (None if local else selection.spec.release_date)
        out.append({"id": item.key, "problem": item.problem, "reference": item.answer,
                    "domain": config.domain if local else "math", "benchmark": item.benchmark, "date": date})
    return out


def _nonempty(items: list, config: EvalConfig) -> list:
    if not items:
        raise CurateError(f"benchmark '{config.benchmark}' has no items", "Check the file or the selection "
                          "(a LiveCodeBench date window may select none).")
    return items


def local_dates(path: str, column: str | None, count: int) -> list[str | None] | None:
    """The `column` of a local benchmark file, row by row (None without a column)."""
    if not column:
        return None
    from curate.decontam.loaders import _read_rows

    values = [row.get(column) for row in _read_rows(Path(path))]
    if len(values) != count:  # pragma: no cover - the loader reads the same rows
        raise CurateError(f"{path}: {len(values)} dates for {count} items", "Report this as a bug.")
    return [str(v)[:10] if v not in (None, "") else None for v in values]
