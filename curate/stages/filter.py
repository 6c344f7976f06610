"""`filter`: declarative keep rules; every dropped row goes to `rejected/` with its reason.

Rules apply in order, and a row is rejected by the first rule it fails, so each rejected row
carries exactly one reason. Rejection sampling is configuration: keep verdict `pass`, then keep
at most `max_per_problem` samples per problem chosen by `keep` (all, first, shortest, random),
and drop problems outside a pass-rate window (too easy when every sample solves them).
Samples of one problem live in one part (generate expands rows in place), so per-problem rules
need no global pass.
"""

from __future__ import annotations

from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curate.stages.base import PartContext, Stage, StageConfig


class FilterConfig(StageConfig):
    verdict: list[str] | None = Field(None, description="Keep only rows whose verdict is one of these.")
    finish_reason: list[str] | None = Field(
        None, description="Keep only these finish reasons (e.g. [stop] drops truncated traces).")
    min_completion_tokens: int | None = Field(None, description="Drop traces with fewer completion tokens.")
    max_completion_tokens: int | None = Field(None, description="Drop traces with more completion tokens.")
    min_chars: int | None = Field(None, description="Drop rows whose reasoning+answer is shorter.")
    max_chars: int | None = Field(None, description="Drop rows whose reasoning+answer is longer.")
    min_pass_rate: float | None = Field(None, description="Drop problems solved by fewer samples (0..1).")
    max_pass_rate: float | None = Field(
        None, description="Drop problems solved by more samples, e.g. 0.99 drops the ones every sample solves.")
    drop_duplicates: bool = Field(False, description="Drop rows that dedup marked (dup_of is set).")
    drop_contaminated: bool = Field(False, description="Drop rows that decontam marked.")
    where: dict[str, list[str]] = Field(
        default_factory=dict, description="Keep only rows whose column is one of the values, e.g. {source: [a, b]}.")
    max_per_problem: int | None = Field(None, ge=1, description="Keep at most this many samples per problem.")
    keep: Literal["all", "first", "shortest", "random"] = Field(
        "all", description="Which samples max_per_problem keeps: first (by sample_idx), shortest, random.")


class Filter(Stage):
    name = "filter"
    version = 1
    Config = FilterConfig

    def process(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        for reason, keep in self.row_rules(table):
            table = self._apply(table, keep, reason, ctx)
        if self.config.max_per_problem:
            table = self._cap_per_problem(table, ctx)
        return table

    def row_rules(self, table: pa.Table):
        """Yield (reason, keep-mask function) pairs, evaluated lazily on the surviving rows."""
        c = self.config
        if c.drop_duplicates:
            yield "duplicate (dup_of is set)", lambda t: pc.is_null(t["dup_of"])
        if c.drop_contaminated:
            yield "contaminated", lambda t: pc.fill_null(pc.equal(pc.list_value_length(t["contaminated"]), 0), True)
        if c.verdict is not None:
            yield f"verdict not in {c.verdict}", lambda t: _isin(t["verdict"], c.verdict)
        if c.finish_reason is not None:
            yield f"finish_reason not in {c.finish_reason}", lambda t: _isin(t["finish_reason"], c.finish_reason)
        for column, values in c.where.items():
            yield f"{column} not in {values}", lambda t, col=column, v=values: _isin(t[col], v)
        yield from _bounds("completion_tokens", lambda t: t["completion_tokens"],
                           c.min_completion_tokens, c.max_completion_tokens)
        yield from _bounds("chars", _chars, c.min_chars, c.max_chars)
        yield from _bounds("pass_rate", lambda t: t["pass_rate"], c.min_pass_rate, c.max_pass_rate)

    def _apply(self, table: pa.Table, rule, reason: str, ctx: PartContext) -> pa.Table:
        keep = pc.fill_null(rule(table), False)
        dropped = table.filter(pc.invert(keep))
        ctx.reject(dropped, reason)
        ctx.counters[f"rejected: {reason}"] += dropped.num_rows
        return table.filter(keep)

    def _cap_per_problem(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        rows = table.select(["id", "sample_idx", "trace_id", "reasoning", "answer"]).to_pylist()
        by_problem: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            by_problem.setdefault(row["id"], []).append(i)
        keep = [False] * len(rows)
        for indices in by_problem.values():
            for i in self._choose(indices, rows, ctx)[: self.config.max_per_problem]:
                keep[i] = True
        mask = pa.array(keep)
        reason = f"more than {self.config.max_per_problem} samples of the problem (keep={self.config.keep})"
        ctx.reject(table.filter(pc.invert(mask)), reason)
        return table.filter(mask)

    def _choose(self, indices: list[int], rows: list[dict], ctx: PartContext) -> list[int]:
        keep = self.config.keep
        if keep == "shortest":
            return sorted(indices, key=lambda i: (_length(rows[i]), rows[i]["sample_idx"] or 0, rows[i]["trace_id"]))
        if keep == "random":
            from curate.fingerprint import digest

            # A seeded hash of the trace id: the choice ignores row order and part count.
            return sorted(indices, key=lambda i: digest(ctx.seed, rows[i]["trace_id"] or ""))
        return sorted(indices, key=lambda i: (rows[i]["sample_idx"] or 0, rows[i]["trace_id"] or ""))


def _isin(column, values: list[str]):
    return pc.is_in(column, pa.array(values, column.type if not pa.types.is_null(column.type) else pa.string()))


def _chars(table: pa.Table):
    reasoning = pc.fill_null(pc.utf8_length(table["reasoning"]), 0)
    answer = pc.fill_null(pc.utf8_length(table["answer"]), 0)
    return pc.add(reasoning, answer)


def _bounds(label: str, values, low, high):
    # An unknown value (null) is not out of bounds: general chat rows have no pass rate.
    if low is not None:
        yield f"{label} below {low}", lambda t: pc.fill_null(pc.greater_equal(values(t), low), True)
    if high is not None:
        yield f"{label} above {high}", lambda t: pc.fill_null(pc.less_equal(values(t), high), True)


def _length(row: dict) -> int:
    return len(row["reasoning"] or "") + len(row["answer"] or "")
