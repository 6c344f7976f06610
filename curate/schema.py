"""The one record schema every stage reads and writes.

One row per (problem, sample). A missing value is a null, never a missing column; fields a source
has beyond these ride in `extra`, a JSON string, so the schema never drifts between parts or runs.
Only plain `string`/`list` Arrow types are used (never `large_*`): Hub mixtures concatenate
datasets, and mixed string widths refuse to concatenate.

The reasoning/answer split lives here too, since it decides what the `reasoning` and `answer`
columns hold. split a generation into reasoning and answer, across the variants teachers produce.

- `<think>R</think>A`            -> (R, A)
- `R</think>A` (the chat template prefilled `<think>`, so the output lacks the opening tag) -> (R, A)
- `<think>R` with no closing tag (truncated)      -> (R, None): no answer
- `R` with no tags, but the prompt prefilled `<think>` (truncated) -> (R, None)
- no tags at all                                   -> (None, text)
- `<think></think>A` (the model chose not to think) -> ("", A)
- text before `<think>` (a preamble)               -> kept, in front of the reasoning
- a separate reasoning field from the server (`reasoning_content`, or `reasoning` since vLLM
  0.10): `split_response` uses it, and still splits the content if the server's parser was off

Other tag pairs are configurable (`open_tag`, `close_tag`, e.g. `<|begin_of_thought|>`).
The LAST closing tag wins, since reasoning can quote the tag itself; surrounding whitespace is
stripped. Nothing is ever dropped: every character of the input ends in reasoning or answer,
except the tags and the whitespace around them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Iterable, Iterator

import pyarrow as pa

from curate.errors import InputError

VERDICTS = ("pass", "fail", "no_answer", "bad_reference", "timeout", "error", "unverified",
            "judge_pass", "judge_fail")  # judge_*: an LLM judge's opinion, never a proof

TRACE_SCHEMA = pa.schema(
    [
        # identity
        pa.field("id", pa.string(), nullable=False),  # stable hash of source + normalised problem
        pa.field("sample_idx", pa.int32()),
        pa.field("trace_id", pa.string()),
        # provenance
        pa.field("source", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("license", pa.string()),
        # task
        pa.field("problem", pa.string()),
        pa.field("reference", pa.string()),  # gold answer (math) or JSON test spec (code)
        pa.field("system", pa.string()),
        # teacher output
        pa.field("teacher", pa.string()),
        pa.field("reasoning", pa.string()),
        pa.field("answer", pa.string()),
        pa.field("finish_reason", pa.string()),
        pa.field("prompt_tokens", pa.int32()),
        pa.field("completion_tokens", pa.int32()),
        pa.field("sampling", pa.string()),  # JSON of the sampling parameters
        # annotations
        pa.field("verdict", pa.string()),
        pa.field("verify_detail", pa.string()),  # JSON
        pa.field("pass_rate", pa.float64()),
        pa.field("problem_stats", pa.string()),  # JSON: pass@k, diversity per problem
        pa.field("dup_of", pa.string()),
        pa.field("contaminated", pa.list_(pa.string())),
        # per-token log-probabilities (generate `logprobs: K`, then `score`): ids int32, sampled and
        # scored log-probs float32, top-K alternatives float16 (LOGPROB_STORAGE records the choice)
        pa.field("tokenizer", pa.string()),  # JSON: name, revision, vocab_size, vocab_hash
        pa.field("token_ids", pa.list_(pa.int32())),  # the completion's token ids
        pa.field("token_logprobs", pa.list_(pa.float32())),  # each under the sampling model
        pa.field("top_ids", pa.list_(pa.list_(pa.int32()))),  # per token: the model's top-K ids
        pa.field("top_logprobs", pa.list_(pa.list_(pa.float16()))),
        pa.field("teacher_logprobs", pa.list_(pa.float32())),  # each token under the scorer
        pa.field("advantages", pa.list_(pa.float32())),  # teacher minus student, per token
        pa.field("teacher_top_ids", pa.list_(pa.list_(pa.int32()))),
        pa.field("teacher_top_logprobs", pa.list_(pa.list_(pa.float16()))),
        pa.field("reverse_kl", pa.float64()),  # sum over tokens of student - teacher log-prob
        pa.field("score_detail", pa.string()),  # JSON: scorer, token count, means, storage
        # everything else the source had
        pa.field("extra", pa.string()),  # JSON object
    ]
)

COLUMNS: tuple[str, ...] = tuple(TRACE_SCHEMA.names)
NESTED = frozenset(f.name for f in TRACE_SCHEMA if pa.types.is_nested(f.type))
JSON_COLUMNS = ("sampling", "verify_detail", "problem_stats", "tokenizer", "score_detail", "extra")
TOKEN_COLUMNS = ("token_ids", "token_logprobs", "top_ids", "top_logprobs", "teacher_logprobs",
                 "advantages", "teacher_top_ids", "teacher_top_logprobs")
#: how the log-probability columns are stored (recorded in `sampling` and `score_detail`)
LOGPROB_STORAGE = {"ids": "int32", "logprobs": "float32", "top_logprobs": "float16"}

REJECTED_SCHEMA = TRACE_SCHEMA.append(pa.field("reject_stage", pa.string())).append(
    pa.field("reject_reason", pa.string())
)


@dataclass
class Trace:
    """A Python view of one row; handy in tests and per-row stage helpers.

    >>> t = Trace(id="abc", problem="1+1?", answer="2")
    >>> Trace.from_dict(t.to_dict()) == t
    True
    """

    id: str
    sample_idx: int | None = None
    trace_id: str | None = None
    source: str | None = None
    domain: str | None = None
    license: str | None = None
    problem: str | None = None
    reference: str | None = None
    system: str | None = None
    teacher: str | None = None
    reasoning: str | None = None
    answer: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    sampling: str | None = None
    verdict: str | None = None
    verify_detail: str | None = None
    pass_rate: float | None = None
    problem_stats: str | None = None
    dup_of: str | None = None
    contaminated: list[str] | None = None
    tokenizer: str | None = None
    token_ids: list[int] | None = None
    token_logprobs: list[float] | None = None
    top_ids: list[list[int]] | None = None
    top_logprobs: list[list[float]] | None = None
    teacher_logprobs: list[float] | None = None
    advantages: list[float] | None = None
    teacher_top_ids: list[list[int]] | None = None
    teacher_top_logprobs: list[list[float]] | None = None
    reverse_kl: float | None = None
    score_detail: str | None = None
    extra: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Trace":
        return cls(**{name: row.get(name) for name in COLUMNS})

    def extra_dict(self) -> dict[str, Any]:
        return json.loads(self.extra) if self.extra else {}


assert tuple(f.name for f in fields(Trace)) == COLUMNS, "Trace and TRACE_SCHEMA disagree"


def empty_table(schema: pa.Schema = TRACE_SCHEMA) -> pa.Table:
    """`schema.empty_table()` without its import of pandas (0.3 s of a small command's start-up)."""
    return pa.Table.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def conform(data: pa.Table | pa.RecordBatch, *, where: str = "input") -> pa.Table:
    """Return `data` with exactly TRACE_SCHEMA's columns, order and types.

    Absent columns become nulls; present ones are cast (e.g. large_string to string). Extra
    columns are an error here: sources fold them into `extra` before this point.
    Raises InputError naming the offending column when a cast is impossible.
    """
    table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    names = table.column_names  # a new list on every call: asked once, not once per column
    unknown = [c for c in names if c not in COLUMNS]
    if unknown:
        raise InputError(
            f"{where}: column(s) {unknown} are not in the trace schema.",
            "Map them with the source's `columns:` setting, or let `load` fold them into `extra`.",
        )
    present = set(names)
    arrays = []
    for field in TRACE_SCHEMA:
        if field.name not in present:
            arrays.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        try:
            # str() also compares list item names: Parquet reads `element` where Arrow builds
            # `item`, and the name is stored in each written file's schema.
            same = column.type == field.type and (field.name not in NESTED or str(column.type) == str(field.type))
            arrays.append(column if same else column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(
                f"{where}: column '{field.name}' has type {column.type}, expected {field.type}.",
                f"Convert '{field.name}' to {field.type} in the source, or map another column.",
            ) from exc
    return pa.Table.from_arrays(arrays, schema=TRACE_SCHEMA)


def validate(table: pa.Table, schema: pa.Schema = TRACE_SCHEMA, *, where: str = "table") -> None:
    """Check `table` against `schema`; raise InputError naming the first offending column."""
    for field in schema:
        if field.name not in table.column_names:
            raise InputError(f"{where}: missing column '{field.name}'.", "Run it through conform().")
        actual = table.schema.field(field.name).type
        if actual != field.type:
            raise InputError(
                f"{where}: column '{field.name}' is {actual}, expected {field.type}.",
                "Cast it, or rebuild the table with curate.schema.conform().",
            )
        if not field.nullable and table.column(field.name).null_count:
            raise InputError(f"{where}: column '{field.name}' has nulls but may not.")
    extra = [c for c in table.column_names if c not in schema.names]
    if extra:
        raise InputError(f"{where}: unexpected column(s) {extra}.")


def from_rows(rows: Iterable[dict[str, Any] | Trace], schema: pa.Schema = TRACE_SCHEMA) -> pa.Table:
    """Build a schema-conforming table from dicts or Trace objects (missing keys are nulls)."""
    dicts = [r.to_dict() if isinstance(r, Trace) else r for r in rows]
    return pa.Table.from_pylist([{n: d.get(n) for n in schema.names} for d in dicts], schema=schema)


def to_rows(data: pa.Table | pa.RecordBatch) -> list[dict[str, Any]]:
    return data.to_pylist()


def iter_traces(data: pa.Table | pa.RecordBatch) -> Iterator[Trace]:
    for row in data.to_pylist():
        yield Trace.from_dict(row)


def dumps(obj: Any) -> str:
    """Canonical JSON for the JSON columns: sorted keys, no spaces, unicode kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# --- reasoning and answer: how a generation's text becomes the two columns ---

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_reasoning(
    text: str | None, *, open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE,
    prefilled: bool = False,
) -> tuple[str | None, str | None]:
    """Return (reasoning, answer); either may be None.

    `prefilled` says the prompt ended with `open_tag`, so text without any tag is unfinished
    reasoning rather than an answer.

    >>> split_reasoning("<think>\\n2+2=4\\n</think>\\n\\nThe answer is 4.")
    ('2+2=4', 'The answer is 4.')
    >>> split_reasoning("<think>still thinking")
    ('still thinking', None)
    >>> split_reasoning("2+2=4</think>4")
    ('2+2=4', '4')
    """
    if text is None:
        return None, None
    end = text.rfind(close_tag)
    if end >= 0:
        head, answer = text[:end], text[end + len(close_tag):]
        return _strip_open(head, open_tag).strip(), answer.strip()
    start = text.find(open_tag)
    if start >= 0 or prefilled:
        return _strip_open(text, open_tag).strip(), None
    return None, text.strip()


def _strip_open(head: str, open_tag: str) -> str:
    """Remove the first opening tag; a non-blank preamble before it stays in front."""
    start = head.find(open_tag)
    if start < 0:
        return head
    preamble, rest = head[:start].strip(), head[start + len(open_tag):]
    return f"{preamble}\n{rest.strip()}" if preamble else rest


def split_response(
    content: str | None, reasoning_field: str | None, *, open_tag: str = THINK_OPEN,
    close_tag: str = THINK_CLOSE, prefilled: bool = False,
) -> tuple[str | None, str | None]:
    """(reasoning, answer) from a server message with an optional separate reasoning field.

    With a non-empty reasoning field the content is the answer (None when the model was cut
    off while reasoning); tags left in the content (a parser that only strips some) are split
    off and their reasoning appended. Without the field, `split_reasoning` handles the content.

    >>> split_response("4", "2+2=4")
    ('2+2=4', '4')
    >>> split_response(None, "2+2=")
    ('2+2=', None)
    """
    if not reasoning_field:
        return split_reasoning(content, open_tag=open_tag, close_tag=close_tag, prefilled=prefilled)
    reasoning = reasoning_field.strip()
    if content is None:
        return reasoning, None
    if open_tag in content or close_tag in content:
        more, answer = split_reasoning(content, open_tag=open_tag, close_tag=close_tag)
        reasoning = "\n".join(part for part in (reasoning, more) if part)
        return reasoning, answer
    answer = content.strip()
    return reasoning, answer if answer else None


def join_reasoning(reasoning: str | None, answer: str | None) -> str:
    """The assistant turn of the training view: `<think>\\n…\\n</think>\\n\\n` + answer."""
    if reasoning is None:
        return answer or ""
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{answer or ''}"
