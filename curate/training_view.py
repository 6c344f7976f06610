"""The published training view: `messages` and `num_tokens`, the shape TRL and open-r1 read.

The assistant turn is `<think>\\n{reasoning}\\n</think>\\n\\n{answer}` (just the answer when there is
no reasoning). A system prompt and earlier chat turns (`extra.history`) come first. Built with
Arrow kernels and numpy index arithmetic, not a Python object per row; rows with chat history
take a slower per-row path.

`num_tokens` is prompt_tokens + completion_tokens when the teacher reported both, otherwise an
estimate: UTF-8 bytes of the conversation / 4, rounded up (stated in the dataset card).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MESSAGE_TYPE = pa.struct([pa.field("content", pa.string()), pa.field("role", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)
ROLES = pa.array(["system", "user", "assistant"], pa.string())


def assistant_text(table: pa.Table) -> pa.ChunkedArray:
    answer = pc.fill_null(table["answer"], "")
    thought = pc.binary_join_element_wise("<think>\n", table["reasoning"], "\n</think>\n\n", answer, "")
    return pc.coalesce(thought, answer)


def messages_column(table: pa.Table) -> pa.Array:
    """list<struct<content, role>> per row."""
    assistant = assistant_text(table).combine_chunks()
    if _has_history(table):
        return _messages_slow(table, assistant)
    n = table.num_rows
    system = table["system"].combine_chunks()
    has_system = np.asarray(pc.is_valid(system).to_numpy(zero_copy_only=False), dtype=bool)
    counts = 2 + has_system.astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    starts, rows = offsets[:-1], np.arange(n, dtype=np.int64)
    content_idx = np.empty(offsets[-1], dtype=np.int64)
    role_idx = np.empty(offsets[-1], dtype=np.int64)
    content_idx[starts[has_system]], role_idx[starts[has_system]] = rows[has_system], 0
    user = starts + has_system
    content_idx[user], role_idx[user] = n + rows, 1
    content_idx[user + 1], role_idx[user + 1] = 2 * n + rows, 2
    contents = pa.concat_arrays([system, table["problem"].combine_chunks(), assistant])
    struct = pa.StructArray.from_arrays(
        [contents.take(pa.array(content_idx)), ROLES.take(pa.array(role_idx))], fields=list(MESSAGE_TYPE)
    )
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), struct, type=MESSAGES_TYPE)


def _has_history(table: pa.Table) -> bool:
    extra = table["extra"]
    if extra.null_count == len(extra):
        return False
    return pc.any(pc.fill_null(pc.match_substring(extra, '"history"'), False)).as_py() or False


def _messages_slow(table: pa.Table, assistant: pa.Array) -> pa.Array:
    rows = table.select(["system", "problem", "extra"]).to_pylist()
    out = []
    for row, reply in zip(rows, assistant.to_pylist()):
        history = (json.loads(row["extra"]) if row["extra"] else {}).get("history") or []
        chat = [{"content": row["system"], "role": "system"}] if row["system"] is not None else []
        chat += [{"content": m.get("content"), "role": m.get("role")} for m in history]
        chat += [{"content": row["problem"], "role": "user"}, {"content": reply, "role": "assistant"}]
        out.append(chat)
    return pa.array(out, MESSAGES_TYPE)


def num_tokens_column(table: pa.Table, messages: pa.Array) -> pa.Array:
    reported = pc.add(table["prompt_tokens"].cast(pa.int64()), table["completion_tokens"].cast(pa.int64()))
    content = pc.list_flatten(messages).field("content")
    byte_lengths = pc.fill_null(pc.binary_length(content), 0).cast(pa.int64()).to_numpy(zero_copy_only=False)
    offsets = messages.offsets.to_numpy()
    sums = np.add.reduceat(byte_lengths, offsets[:-1]) if len(byte_lengths) else np.zeros(len(messages), np.int64)
    sums[offsets[:-1] == offsets[1:]] = 0
    estimate = pa.array((sums + 3) // 4, pa.int64())
    return pc.coalesce(reported, estimate).combine_chunks() if isinstance(reported, pa.ChunkedArray) \
        else pc.coalesce(reported, estimate)


def training_view(table: pa.Table, columns: list[str]) -> pa.Table:
    """messages + num_tokens + the chosen metadata columns."""
    messages = messages_column(table)
    arrays = {"messages": messages, "num_tokens": num_tokens_column(table, messages)}
    for name in columns:
        arrays[name] = table[name]
    return pa.table(arrays)
