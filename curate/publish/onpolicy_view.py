"""Exports in the shapes on-policy distillation trainers read, and their card facts.

A `write` config may take one of these shapes (`shapes: {NAME: SHAPE}`) instead of the
`messages` training view:

- `prompts`: one row per problem (the first row of each id in a part): `prompt`, the
  conversation up to the assistant turn (`list<struct<content, role>>`, TRL's conversational
  prompt), with `id`, `source`, `domain`, `reference` and `teacher_id` (the teacher that scored
  or wrote the row, for several-teacher setups). For online trainers (TRL's GKD / on-policy
  distillation trainers) that sample the student themselves.
- `rollouts`: scored student samples for offline on-policy updates: `prompt`, `completion`
  (the assistant turn as a one-message list), `token_ids` (int32), `token_logprobs` (the
  student's, float32), `teacher_logprobs`, `advantages` (float32), `reverse_kl` (float64),
  `verdict`, `id`, `sample_idx`, `tokenizer` (JSON identity), `teacher_id` (the scorer) and
  `student` (the model that sampled).
- `targets`: teacher top-K targets for offline logit distillation: `prompt`, `completion`,
  `token_ids`, `teacher_top_ids` (`list<list<int32>>`), `teacher_top_logprobs`
  (`list<list<float16>>`), `teacher_logprobs`, `id`, `sample_idx`, `tokenizer`, `teacher_id`,
  `student`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.publish.training_view import MESSAGES_TYPE, messages_column
from curate.storage.parquet_files import read_parquet
from curate.text.arrow import numpy_array

SHAPES = ("messages", "prompts", "rollouts", "targets")
COLUMNS = {
    "prompts": ["id", "source", "domain", "reference", "teacher_id"],
    "rollouts": ["token_ids", "token_logprobs", "teacher_logprobs", "advantages", "reverse_kl",
                 "verdict", "id", "sample_idx", "tokenizer", "teacher_id", "student"],
    "targets": ["token_ids", "teacher_top_ids", "teacher_top_logprobs", "teacher_logprobs", "id",
                "sample_idx", "tokenizer", "teacher_id", "student"],
}


def shaped_view(table: pa.Table, shape: str, rows: np.ndarray | None = None) -> pa.Table:
    """The `shape` export of `rows` of a trace table (indices; all if None)."""
    if rows is not None:
        table = table.take(numpy_array(rows))
    if shape == "prompts":
        table = _first_per_id(table)
    conversation = messages_column(table).to_pylist()
    arrays: dict[str, Any] = {"prompt": pa.array([m[:-1] for m in conversation], MESSAGES_TYPE)}
    if shape != "prompts":
        arrays["completion"] = pa.array([m[-1:] for m in conversation], MESSAGES_TYPE)
    for name in COLUMNS[shape]:
        if name == "teacher_id":
            arrays[name] = _teacher_ids(table)
        else:
            arrays[name] = table["teacher" if name == "student" else name]
    return pa.table(arrays)


def _first_per_id(table: pa.Table) -> pa.Table:
    ids = table["id"].to_pylist()
    seen: dict[str, int] = {}
    for i, key in enumerate(ids):
        seen.setdefault(key, i)
    return table.take(pa.array(sorted(seen.values()), pa.int64()))


def _teacher_ids(table: pa.Table) -> pa.Array:
    """The scorer named in `score_detail`, else the `teacher` column."""
    details = table["score_detail"].to_pylist()
    teachers = table["teacher"].to_pylist()
    return pa.array([json.loads(d).get("scorer") if d else t for d, t in zip(details, teachers)],
                    pa.string())


def _distinct(table: pa.Table, column: str) -> list[str]:
    if column not in table.column_names:
        return []
    return sorted(pc.unique(pc.drop_null(table[column])).to_pylist())


def onpolicy_facts(dataset_dir: Path, files: dict[str, list[str]], shapes: dict[str, str]) -> list[dict]:
    """Per shaped config: tokenizer(s), teacher(s), student(s), rows, tokens and bytes per
    token (Parquet file bytes over completion tokens)."""
    facts = []
    for name, shape in shapes.items():
        if shape == "messages" or not files.get(name):
            continue
        paths = [dataset_dir / f for f in files[name]]
        table = pa.concat_tables(read_parquet(p) for p in paths)
        size = sum(p.stat().st_size for p in paths)
        tokens = int(pc.sum(pc.list_value_length(table["token_ids"])).as_py() or 0) \
            if "token_ids" in table.column_names else 0
        tokenizers = sorted({json.dumps(json.loads(t), sort_keys=True) for t in
                             pc.unique(pc.drop_null(table["tokenizer"])).to_pylist()}) \
            if "tokenizer" in table.column_names else []
        facts.append({"config": name, "shape": shape, "rows": table.num_rows, "tokens": tokens,
                      "bytes": size, "bytes_per_token": round(size / tokens, 2) if tokens else None,
                      "tokenizers": tokenizers, "teachers": _distinct(table, "teacher_id"),
                      "students": _distinct(table, "student")})
    return facts
