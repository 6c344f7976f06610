"""`filter`: declarative keep rules; every dropped row goes to `rejected/` with its reason.

Rules apply in order, and a row is rejected by the first rule it fails, so each rejected row
carries exactly one reason. Rejection sampling is configuration: keep verdict `pass`, then keep
at most `max_per_problem` samples per problem chosen by `keep` (all, first, shortest, random;
`keep` other than all alone means one per problem), and drop problems outside a pass-rate window
(too easy when every sample solves them, hopeless when none does).

Typical policies: keep all correct (`verdict: [pass]`), first correct (`verdict: [pass], keep:
first`), shortest correct (`keep: shortest`), random correct (`keep: random`, seeded by trace id).
Per-problem choices are global: `prepare` finds problems whose samples straddle parts (load cuts
by row count) and chooses their samples once, so the result does not depend on the part count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from curate.schema import VERDICTS, conform
from curate.stages.base import PartContext, PrepareContext, Stage, StageConfig, read_input, split_by_domain
from curate.text.arrow import bool_array, numbers, one_chunk, scalar, string_array, true_mask

SPLIT_FILE = "split_problems.json"


class FilterConfig(StageConfig):
    verdict: list[str] | None = Field(
        None, description="Keep only rows whose verdict is one of these, e.g. [pass]. An LLM judge's "
        "verdicts are kept only when listed too: [pass, judge_pass].")
    extraction: list[str] | None = Field(
        None, description="Keep only math rows whose answer verify extracted by one of these rules (boxed, "
        "phrase, last_expression, last_expression_paragraph), e.g. [boxed]; rows without an extraction record "
        "(other domains) are kept.")
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
    keep_templates: bool = Field(
        False, description="With drop_contaminated: keep rows whose only hits are template copies (the item with "
        "other numbers).")
    where: dict[str, list[str]] = Field(
        default_factory=dict, description="Keep only rows whose column is one of the values, e.g. {source: [a, b]}.")
    max_per_problem: int | None = Field(None, ge=1, description="Keep at most this many samples per problem.")
    keep: Literal["all", "first", "shortest", "random"] = Field(
        "all", description="Which samples max_per_problem keeps: first (by sample_idx), shortest, random "
        "(seeded). Without max_per_problem, first/shortest/random keep one sample per problem.")


    @field_validator("verdict")
    @classmethod
    def _known_verdicts(cls, value: list[str] | None) -> list[str] | None:
        unknown = [v for v in value or [] if v not in VERDICTS]
        if unknown:
            raise ValueError(f"unknown verdict {', '.join(map(repr, unknown))}; verdicts are {', '.join(VERDICTS)}")
        return value


class Filter(Stage):
    name = "filter"
    version = 3  # 3: straddling problems keep rows by (part, trace id, occurrence); the extraction rule
    Config = FilterConfig
    has_prepare = True

    @property
    def cap(self) -> int | None:
        """Samples kept per problem (None: no cap)."""
        if self.config.max_per_problem:
            return self.config.max_per_problem
        return 1 if self.config.keep != "all" else None

    def prepare_reads_inputs(self) -> bool:
        return bool(self.cap)  # without a cap, filter streams and fuses with its parent

    def prepare_reads_views(self) -> bool:
        return True  # through `read_input`: load need not write a copy of Parquet sources

    def prepare(self, ctx: PrepareContext) -> None:
        """Choose the kept samples of problems that straddle parts, over all their rows.

        A kept row is named by (part, trace_id, occurrence): rows can share a trace id (a source
        whose rows differ only in unmapped columns), so the trace id alone would keep them all.
        """
        if not self.cap:
            return
        from curate.verifiers.split import split_ids

        split = split_ids(read_input(path, ["id"])["id"] for path in ctx.inputs)
        kept: list[str] = []
        if split:
            wanted = string_array(sorted(split))
            probe = PartContext(seed=ctx.seed)
            tables, keys = [], []
            for part, path in enumerate(ctx.inputs):
                table = read_input(path)
                rows, _ = split_by_domain(conform(table.filter(pc.is_in(table["id"], wanted))), self.config.domains)
                rows = self._apply_row_rules(rows, probe)
                tables.append(rows)
                keys += _row_keys(part, rows["trace_id"].to_pylist())
            chosen = self._chosen(pa.concat_tables(tables), probe, {}, [])
            kept = sorted(keys[i] for i, keep in enumerate(chosen) if keep)
        ctx.stats["split_problems"] = len(split)
        (ctx.artifacts / SPLIT_FILE).write_text(json.dumps({"ids": sorted(split), "kept": kept}))

    def run(self, batches, ctx: PartContext):
        """Stream row rules batch by batch; with a per-problem cap, see the whole part at once."""
        if not self.cap:
            yield from super().run(batches, ctx)
            return
        tables = [conform(b) for b in batches]
        if tables:
            yield from super().run([pa.concat_tables(tables)], ctx)

    def process(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        table = self._apply_row_rules(table, ctx)
        if self.cap:
            table = self._cap_per_problem(table, ctx, _read_split(ctx.artifacts))
        return table

    def row_rules(self, table: pa.Table):
        """Yield (reason, keep-mask function) pairs; each function reads the whole batch."""
        c = self.config
        if c.drop_duplicates:
            yield "duplicate (dup_of is set)", lambda t: pc.is_null(t["dup_of"])
        if c.drop_contaminated and c.keep_templates:
            yield "contaminated", lambda t: _only_templates(t["contaminated"])
        elif c.drop_contaminated:
            yield "contaminated", lambda t: pc.fill_null(pc.equal(pc.list_value_length(t["contaminated"]), _ZERO),
                                                         _TRUE)
        if c.verdict is not None:
            yield f"verdict not in {c.verdict}", lambda t: _isin(t["verdict"], c.verdict)
        if c.extraction is not None:
            yield f"extraction not in {c.extraction}", lambda t: _extraction_in(t["verify_detail"], c.extraction)
        if c.finish_reason is not None:
            yield f"finish_reason not in {c.finish_reason}", lambda t: _isin(t["finish_reason"], c.finish_reason)
        for column, values in c.where.items():
            yield f"{column} not in {values}", lambda t, col=column, v=values: _isin(t[col], v)
        yield from _bounds("completion_tokens", lambda t: t["completion_tokens"],
                           c.min_completion_tokens, c.max_completion_tokens)
        yield from _bounds("chars", _chars, c.min_chars, c.max_chars)
        yield from _bounds("pass_rate", lambda t: t["pass_rate"], c.min_pass_rate, c.max_pass_rate)

    def _apply_row_rules(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        """The rows every rule keeps (a null verdict of a rule drops the row); each dropped row is
        rejected with the first rule it fails.

        Every rule reads the whole batch and the kept rows are copied once at the end, not once a
        rule: a copy of R1-length rows is most of a filter's time, in page faults and memmove.
        """
        alive = np.ones(table.num_rows, np.bool_)
        for reason, rule in self.row_rules(table):
            dropped = alive & ~true_mask(rule(table))
            if dropped.any():
                ctx.reject(table.filter(bool_array(dropped)), reason)
            ctx.counters[f"rejected: {reason}"] += int(dropped.sum())
            alive &= ~dropped
        return table if alive.all() else table.filter(bool_array(alive))

    def _cap_per_problem(self, table: pa.Table, ctx: PartContext, split: dict) -> pa.Table:
        split_ids = set(split.get("ids", ()))
        ids, trace_ids = table["id"].to_pylist(), table["trace_id"].to_pylist()
        split_rows = [i for i, problem in enumerate(ids) if problem in split_ids]
        keys = dict(zip(split_rows, _row_keys(ctx.part, [trace_ids[i] for i in split_rows])))
        mask = bool_array(self._chosen(table, ctx, split, keys))
        reason = f"more than {self.cap} samples of the problem (keep={self.config.keep})"
        ctx.reject(table.filter(pc.invert(mask)), reason)
        return table.filter(mask)

    def _chosen(self, table: pa.Table, ctx: PartContext, split: dict, keys) -> list[bool]:
        """Per row: kept by the cap? Problems in `split` take the choice made in prepare."""
        rows = table.select(["id", "sample_idx", "trace_id", "reasoning", "answer"]).to_pylist()
        by_problem: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            by_problem.setdefault(row["id"], []).append(i)
        keep = [False] * len(rows)
        split_ids, split_kept = set(split.get("ids", ())), set(split.get("kept", ()))
        for problem, indices in by_problem.items():
            if problem in split_ids:  # chosen over all its parts in prepare
                for i in indices:
                    keep[i] = keys[i] in split_kept
                continue
            for i in self._choose(indices, rows, ctx)[: self.cap]:
                keep[i] = True
        return keep

    def _choose(self, indices: list[int], rows: list[dict], ctx: PartContext) -> list[int]:
        keep = self.config.keep
        if keep == "shortest":
            return sorted(indices, key=lambda i: (_length(rows[i]), rows[i]["sample_idx"] or 0, rows[i]["trace_id"]))
        if keep == "random":
            from curate.fingerprint import digest

            # A seeded hash of the trace id: the choice ignores row order and part count.
            return sorted(indices, key=lambda i: digest(ctx.seed, rows[i]["trace_id"] or ""))
        return sorted(indices, key=lambda i: (rows[i]["sample_idx"] or 0, rows[i]["trace_id"] or ""))


# Arrow scalars, not Python values: converting a Python value makes pyarrow import pandas (0.2 s)
_TRUE, _ZERO = scalar(True), scalar(0)
_ZERO32 = _ZERO.cast(pa.int32())


def _row_keys(part: int, trace_ids: list[str | None]) -> list[str]:
    """`part:trace_id:n` for the n-th row with that trace id in the part (in row order)."""
    seen: dict[str | None, int] = {}
    out = []
    for trace_id in trace_ids:
        n = seen[trace_id] = seen.get(trace_id, -1) + 1
        out.append(f"{part}:{trace_id}:{n}")
    return out


def _read_split(artifacts: Path | None) -> dict:
    path = Path(artifacts) / SPLIT_FILE if artifacts else None
    return json.loads(path.read_text()) if path and path.exists() else {}


def _isin(column, values: list[str]):
    wanted = string_array(values)
    return pc.is_in(column, wanted if pa.types.is_null(column.type) else wanted.cast(column.type))


def _extraction_in(details, rules: list[str]):
    """Per row: its verify_detail's `extraction` rule is one of `rules` (no record: kept)."""
    keep = []
    for detail in details.to_pylist():
        rule = json.loads(detail).get("extraction") if detail else None
        keep.append(rule is None or rule in rules)
    return bool_array(keep)


def _chars(table: pa.Table):
    reasoning = pc.fill_null(pc.utf8_length(table["reasoning"]), _ZERO32)
    answer = pc.fill_null(pc.utf8_length(table["answer"]), _ZERO32)
    return pc.add(reasoning, answer)


def _bounds(label: str, values, low, high):
    # An unknown value (null) is not out of bounds: general chat rows have no pass rate.
    if low is not None:
        yield f"{label} below {low}", lambda t: pc.fill_null(pc.greater_equal(values(t), scalar(low)), _TRUE)
    if high is not None:
        yield f"{label} above {high}", lambda t: pc.fill_null(pc.less_equal(values(t), scalar(high)), _TRUE)


def _length(row: dict) -> int:
    return len(row["reasoning"] or "") + len(row["answer"] or "")


def _only_templates(column) -> pa.Array:
    """True where no `contaminated` entry is a leak (template copies end in ' (template)')."""
    column = one_chunk(column)
    leak = true_mask(pc.invert(pc.ends_with(pc.list_flatten(column), " (template)")))
    parents = numbers(pc.list_parent_indices(column))
    return bool_array(np.bincount(parents[leak], minlength=len(column)) == 0)
