"""The published training view: `messages` and `num_tokens`, the shape TRL and open-r1 read.

The assistant turn is `<think>\\n{reasoning}\\n</think>\\n\\n{answer}` (just the answer when there is
no reasoning). A system prompt and earlier chat turns (`extra.history`) come first. Built with
Arrow kernels and numpy index arithmetic, not a Python object per row; rows with chat history
take a slower per-row path.

The common path is Arrow kernels and numpy index arithmetic: join each row's whole
conversation into one string (system + problem + `<think>\n` + reasoning + `\n</think>\n\n` +
answer, the tags only where there is reasoning; one copy of the texts), then cut it into its
messages: `content` is a string array over the joined bytes whose offsets are the message
boundaries, read from the system prompt and problem lengths. A config that takes every row copies
no text again; a config of some rows copies its rows' conversations once (`take`). The texts are
joined once per table and shared by every config. (A `take` from `[system | problem | thought |
answer]` as a chunked array did the same in two more copies, and pyarrow's chunked `take` of
strings is slow on small batches.) No numba: the view is on the critical path of every `write`,
and loading compiled code cost ~0.3 s per process for no speed gained.

`num_tokens` is prompt_tokens + completion_tokens when the teacher reported both, otherwise an
estimate: UTF-8 bytes of the conversation / 4, rounded up (stated in the dataset card).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.text.arrow import arrow_buffers, numpy_array, string_array, valid_mask

MESSAGE_TYPE = pa.struct([pa.field("content", pa.string()), pa.field("role", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)
ROLES = string_array(["system", "user", "assistant"])


#: "", "<think>\n" and "\n</think>\n\n" as Arrow scalars (a Python str argument would make pyarrow
#: import pandas, 0.2 s, to convert it)
_EMPTY, _OPEN, _CLOSE = string_array(["", "<think>\n", "\n</think>\n\n"])
TAG_BYTES = len("<think>\n\n</think>\n\n")


def assistant_text(table: pa.Table) -> pa.ChunkedArray:
    answer = pc.fill_null(table["answer"], _EMPTY)
    thought = pc.binary_join_element_wise(_OPEN, table["reasoning"], _CLOSE, answer, _EMPTY)
    return pc.coalesce(thought, answer)


def messages_column(table: pa.Table) -> pa.Array:
    """list<struct<content, role>> per row."""
    return _messages_and_bytes(table, None)[0]


class MessageTexts(NamedTuple):
    """A table's message texts, built once per table and gathered once per config."""

    history: bool  # some row has earlier chat turns: the per-row path builds its messages
    joined: pa.Array | None = None  # per row: system + problem + assistant turn, one string
    system_bytes: np.ndarray | None = None  # UTF-8 bytes of each row's system prompt (0: none)
    problem_bytes: np.ndarray | None = None
    has_system: np.ndarray | None = None
    has_problem: np.ndarray | None = None


def message_texts(table: pa.Table) -> MessageTexts:
    """The texts every config's messages are cut from: each row's conversation joined into one
    string (the only copy of the reasoning), the system prompt and problem lengths marking where
    its messages start. The thought's tags are there only where there is reasoning."""
    if _has_history(table):
        return MessageTexts(history=True)
    system, problem = _one_chunk(table["system"]), _one_chunk(table["problem"])
    reasoning, answer = _one_chunk(table["reasoning"]), _one_chunk(table["answer"])
    system_bytes, problem_bytes = _byte_lengths(system), _byte_lengths(problem)
    thinks = pc.is_valid(reasoning)
    total = (int(system_bytes.sum()) + int(problem_bytes.sum()) + int(_byte_lengths(reasoning).sum())
             + int(_byte_lengths(answer).sum()) + TAG_BYTES * (len(reasoning) - reasoning.null_count))
    if total >= 2**31:
        raise ValueError("a batch's messages exceed 2 GB; write smaller batches")
    joined = pc.binary_join_element_wise(
        system, problem, pc.if_else(thinks, _OPEN, _EMPTY), reasoning, pc.if_else(thinks, _CLOSE, _EMPTY),
        answer, _EMPTY, null_handling="replace", null_replacement="")
    return MessageTexts(history=False, joined=joined, system_bytes=system_bytes, problem_bytes=problem_bytes,
                        has_system=valid_mask(system), has_problem=valid_mask(problem))


def _messages_and_bytes(table: pa.Table, rows: np.ndarray | None, texts: MessageTexts | None = None
                        ) -> tuple[pa.Array, np.ndarray | None]:
    """(messages of `rows` (all if None), UTF-8 bytes of each one's messages, or None on the
    per-row path).

    A row's messages are consecutive pieces of its joined conversation, so their `content` is a
    string array over the joined texts' bytes with new offsets: no text is copied when a config
    takes every row, and routed rows copy just their own conversations (one `take`).
    """
    texts = texts or message_texts(table)
    if texts.history:
        picked = table if rows is None else table.take(numpy_array(rows))
        return _messages_slow(picked, assistant_text(picked).combine_chunks()), None
    joined = texts.joined if rows is None else texts.joined.take(numpy_array(rows))
    pick = slice(None) if rows is None else rows
    has_system, system_bytes = texts.has_system[pick], texts.system_bytes[pick]
    _, ends, _ = arrow_buffers(joined)
    lists = np.zeros(len(joined) + 1, np.int64)
    np.cumsum(2 + has_system.astype(np.int64), out=lists[1:])
    user_at = lists[:-1] + has_system
    bounds = np.empty(lists[-1] + 1, np.int64)  # where each message starts in the joined bytes
    bounds[lists[:-1][has_system]] = ends[:-1][has_system]
    bounds[user_at] = ends[:-1] + system_bytes
    bounds[user_at + 1] = bounds[user_at] + texts.problem_bytes[pick]
    bounds[-1] = ends[-1]
    valid = np.ones(lists[-1], np.bool_)
    valid[user_at] = texts.has_problem[pick]
    content = _strings_over(joined, bounds, valid)
    roles = np.zeros(lists[-1], np.int8)
    roles[user_at], roles[user_at + 1] = 1, 2
    struct = pa.StructArray.from_arrays([content, ROLES.take(numpy_array(roles))], fields=list(MESSAGE_TYPE))
    return pa.ListArray.from_arrays(numpy_array(lists.astype(np.int32)), struct, type=MESSAGES_TYPE), np.diff(ends)


def _strings_over(texts: pa.Array, bounds: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A string array whose entries are the pieces of `texts`' bytes between consecutive
    `bounds` (null where not `valid`), sharing its data buffer.

    It always has a validity bitmap, even without nulls, as the chunked `take` it replaced gave:
    the bitmap counts in a table's `nbytes`, which sizes the written row groups, so without it
    row groups would end a few rows elsewhere and the files would change."""
    nulls = len(valid) - int(valid.sum())
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    offsets = pa.py_buffer(bounds.astype(np.int32))
    data = texts.buffers()[2] or pa.py_buffer(b"")
    # null_count -1 (counted on demand): with 0, from_buffers would drop the bitmap
    return pa.Array.from_buffers(pa.string(), len(valid), [bitmap, offsets, data], null_count=nulls or -1)


def _one_chunk(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(array, pa.ChunkedArray):
        return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def _byte_lengths(texts: pa.Array) -> np.ndarray:
    """UTF-8 bytes of each text (0 for nulls), from the offsets: no per-row work."""
    _, offsets, valid = arrow_buffers(texts)
    return np.where(valid, np.diff(offsets), 0)


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


def num_tokens_column(table: pa.Table, messages: pa.Array, row_bytes: np.ndarray | None = None) -> pa.Array:
    reported = pc.add(table["prompt_tokens"].cast(pa.int64()), table["completion_tokens"].cast(pa.int64()))
    sums = row_bytes if row_bytes is not None else _row_bytes(messages)
    estimate = numpy_array(((sums + 3) // 4).astype(np.int64))
    return pc.coalesce(reported, estimate).combine_chunks() if isinstance(reported, pa.ChunkedArray) \
        else pc.coalesce(reported, estimate)


def _row_bytes(messages: pa.Array) -> np.ndarray:
    content = pc.list_flatten(messages).field("content")
    byte_lengths = pc.fill_null(pc.binary_length(content), 0).cast(pa.int64()).to_numpy(zero_copy_only=False)
    offsets = messages.offsets.to_numpy()
    sums = np.add.reduceat(byte_lengths, offsets[:-1]) if len(byte_lengths) else np.zeros(len(messages), np.int64)
    sums[offsets[:-1] == offsets[1:]] = 0
    return sums


def training_view(table: pa.Table, columns: list[str], rows: np.ndarray | None = None,
                  texts: MessageTexts | None = None) -> pa.Table:
    """messages + num_tokens + the chosen metadata columns, of `rows` (indices; all if None).

    `texts` (from `message_texts(table)`) lets several configs share one join of the texts."""
    picked = table.select(list(dict.fromkeys(["prompt_tokens", "completion_tokens", *columns])))
    if rows is not None:
        picked = picked.take(numpy_array(rows))
    messages, row_bytes = _messages_and_bytes(table, rows, texts)
    arrays = {"messages": messages, "num_tokens": num_tokens_column(picked, messages, row_bytes)}
    for name in columns:
        arrays[name] = picked[name]
    return pa.table(arrays)
