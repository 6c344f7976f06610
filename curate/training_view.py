"""The published training view: `messages` and `num_tokens`, the shape TRL and open-r1 read.

The assistant turn is `<think>\\n{reasoning}\\n</think>\\n\\n{answer}` (just the answer when there is
no reasoning). A system prompt and earlier chat turns (`extra.history`) come first. Built with
Arrow kernels and numpy index arithmetic, not a Python object per row; rows with chat history
take a slower per-row path.

The common path is one compiled pass (numba) over the Arrow buffers of `system`, `problem`,
`reasoning` and `answer`: it writes each message's bytes once, straight into the `content`
buffer of the result, and sums each row's bytes for the `num_tokens` estimate on the way.

`num_tokens` is prompt_tokens + completion_tokens when the teacher reported both, otherwise an
estimate: UTF-8 bytes of the conversation / 4, rounded up (stated in the dataset card).
"""

from __future__ import annotations

import json

import numba
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.text import arrow_buffers

MESSAGE_TYPE = pa.struct([pa.field("content", pa.string()), pa.field("role", pa.string())])
MESSAGES_TYPE = pa.list_(MESSAGE_TYPE)
ROLES = pa.array(["system", "user", "assistant"], pa.string())


def assistant_text(table: pa.Table) -> pa.ChunkedArray:
    answer = pc.fill_null(table["answer"], "")
    thought = pc.binary_join_element_wise("<think>\n", table["reasoning"], "\n</think>\n\n", answer, "")
    return pc.coalesce(thought, answer)


_OPEN = np.frombuffer(b"<think>\n", dtype=np.uint8)
_CLOSE = np.frombuffer(b"\n</think>\n\n", dtype=np.uint8)


def messages_column(table: pa.Table) -> pa.Array:
    """list<struct<content, role>> per row."""
    return _messages_and_bytes(table, np.arange(table.num_rows, dtype=np.int64))[0]


def _messages_and_bytes(table: pa.Table, rows: np.ndarray) -> tuple[pa.Array, np.ndarray | None]:
    """(messages of `rows`, UTF-8 bytes of each one's messages, or None on the per-row path).

    The compiled pass gathers the selected rows' texts itself, so routing rows to configs
    never copies the (large) reasoning column first.
    """
    if _has_history(table):
        picked = table.take(rows)
        return _messages_slow(picked, assistant_text(picked).combine_chunks()), None
    buffers = [b for name in ("system", "problem", "reasoning", "answer") for b in arrow_buffers(table[name])]
    sizes = _sizes(rows, *buffers, len(_OPEN) + len(_CLOSE))
    messages, size = sizes
    data = np.empty(size, np.uint8)  # numpy, not numba: large arrays get huge pages (far fewer page faults)
    offsets, valid, roles, lists, row_bytes = _fill(rows, *buffers, _OPEN, _CLOSE, messages, data)
    if offsets[-1] >= 2**31:
        raise ValueError("a batch's messages exceed 2 GB; write smaller batches")
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    content = pa.StringArray.from_buffers(len(valid), pa.py_buffer(offsets.astype(np.int32)),
                                          pa.py_buffer(data), bitmap)
    struct = pa.StructArray.from_arrays([content, ROLES.take(pa.array(roles))], fields=list(MESSAGE_TYPE))
    return pa.ListArray.from_arrays(pa.array(lists.astype(np.int32)), struct, type=MESSAGES_TYPE), row_bytes


@numba.njit(cache=True, nogil=True)
def _length(offsets, valid, i):
    return offsets[i + 1] - offsets[i] if valid[i] else 0


@numba.njit(cache=True, nogil=True)
def _sizes(rows, sd, so, sv, pd, po, pv, rd, ro, rv, ad, ao, av, tags):
    """(messages, bytes) of the selected rows."""
    messages, size = 0, 0
    for i in rows:
        messages += 2 + (1 if sv[i] else 0)
        size += _length(so, sv, i) + _length(po, pv, i) + _length(ao, av, i)
        if rv[i]:
            size += _length(ro, rv, i) + tags
    return messages, size


@numba.njit(cache=True, nogil=True)
def _copy(out, at, data, offsets, i):
    length = offsets[i + 1] - offsets[i]
    out[at:at + length] = data[offsets[i]:offsets[i + 1]]
    return at + length


@numba.njit(cache=True, nogil=True)
def _fill(rows, sd, so, sv, pd, po, pv, rd, ro, rv, ad, ao, av, open_tag, close_tag, messages, data):
    n = len(rows)
    offsets = np.zeros(messages + 1, np.int64)
    valid = np.ones(messages, np.bool_)
    roles = np.empty(messages, np.int64)
    lists = np.zeros(n + 1, np.int64)
    row_bytes = np.zeros(n, np.int64)
    at, m = 0, 0
    for k in range(n):
        i = rows[k]
        start = at
        if sv[i]:
            at = _copy(data, at, sd, so, i)
            roles[m] = 0
            m += 1
            offsets[m] = at
        if pv[i]:
            at = _copy(data, at, pd, po, i)
        else:
            valid[m] = False
        roles[m] = 1
        m += 1
        offsets[m] = at
        if rv[i]:
            at = _copy(data, at, open_tag, np.array([0, len(open_tag)]), 0)
            at = _copy(data, at, rd, ro, i)
            at = _copy(data, at, close_tag, np.array([0, len(close_tag)]), 0)
        if av[i]:
            at = _copy(data, at, ad, ao, i)
        roles[m] = 2
        m += 1
        offsets[m] = at
        lists[k + 1] = m
        row_bytes[k] = at - start
    return offsets, valid, roles, lists, row_bytes


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
    estimate = pa.array((sums + 3) // 4, pa.int64())
    return pc.coalesce(reported, estimate).combine_chunks() if isinstance(reported, pa.ChunkedArray) \
        else pc.coalesce(reported, estimate)


def _row_bytes(messages: pa.Array) -> np.ndarray:
    content = pc.list_flatten(messages).field("content")
    byte_lengths = pc.fill_null(pc.binary_length(content), 0).cast(pa.int64()).to_numpy(zero_copy_only=False)
    offsets = messages.offsets.to_numpy()
    sums = np.add.reduceat(byte_lengths, offsets[:-1]) if len(byte_lengths) else np.zeros(len(messages), np.int64)
    sums[offsets[:-1] == offsets[1:]] = 0
    return sums


def training_view(table: pa.Table, columns: list[str], rows: np.ndarray | None = None) -> pa.Table:
    """messages + num_tokens + the chosen metadata columns, of `rows` (indices; all if None)."""
    picked = table.select(list(dict.fromkeys(["prompt_tokens", "completion_tokens", *columns])))
    if rows is None:
        rows = np.arange(table.num_rows, dtype=np.int64)
    else:
        picked = picked.take(rows)
    messages, row_bytes = _messages_and_bytes(table, rows)
    arrays = {"messages": messages, "num_tokens": num_tokens_column(picked, messages, row_bytes)}
    for name in columns:
        arrays[name] = picked[name]
    return pa.table(arrays)
