"""`mix`: exact per-group counts or ratios, seeded and independent of row order and part count.

Groups are the values of one column (`by`: source, domain, or any column). Targets are exact
counts (`counts: {math: 400000, code: 200000, general: 200000}`) or `ratios` with a `total`
(shares are turned into counts by the largest-remainder rule, so they add up to `total`).

Algorithm. Every row gets a seeded 64-bit hash of its key (`trace_id`; `id:sample_idx` when
that is null). `prepare` reads only the group and key columns of every input part (fanned out
over the executor), and per group finds the hash of the k-th lowest row: a threshold. `run`
then keeps, part by part, the rows at or below their group's threshold. The kept set depends
only on the keys and the seed, never on row order or how rows were split into parts. Ties on
the 64-bit threshold hash (practically never) are settled by the sorted key text, recorded in
the plan; a key that is not unique at the boundary is an error, since no order-free rule could
split it.

Up-sampling happens only where `repeat` allows it: a target k over N available rows keeps every
row k // N times and the k % N lowest-hashed rows once more. Copy c >= 1 of a row gets the trace
id `<trace_id>#mix<c>` and `"mix_copy": c` in `extra`, so trained-on rows stay distinguishable.
Rows not kept go to `rejected/` ("not selected by mix (group X: kept k of N)"); rows of groups
without a target are dropped too (`others: drop`, the default, so the total is what the targets
say) or kept whole (`others: keep`). The realised counts per group are the prepare stats, which
the manifest and the dataset card show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curate.errors import CurateError
from curate.schema import COLUMNS, conform
from curate.stages.base import PartContext, PrepareContext, Stage, StageConfig, read_input, split_by_domain
from curate.text.arrow import bool_array, numbers, scalar, string_array, true_mask

PLAN = "mix_plan.json"
NULL_GROUP = "(null)"


class MixConfig(StageConfig):
    by: str = Field("source", description="Column whose values are the groups: source, domain, or any column.")
    counts: dict[str, int] = Field(
        default_factory=dict, description="Exact rows per group, e.g. {math: 400000, code: 200000, general: 200000}.")
    ratios: dict[str, float] = Field(
        default_factory=dict, description="Share per group (normalised to sum 1), used with `total`.")
    total: int | None = Field(None, ge=0, description="Total rows when mixing by ratios.")
    repeat: bool | list[str] = Field(
        False, description="Allow up-sampling (repeated rows get new trace ids): true for every group, "
        "or a list of groups. Without it, a target above what exists is an error.")
    others: Literal["drop", "keep"] = Field(
        "drop", description="Rows of groups without a target: drop them (to rejected/) or keep them all.")
    key: str = Field("trace_id", description="Unique column ranked by the seeded hash (null: id:sample_idx).")
    seed: int | None = Field(None, description="Seed of the choice (default: the recipe seed).")

    @model_validator(mode="after")
    def _check(self) -> MixConfig:
        for name in (self.by, self.key):
            if name not in COLUMNS:
                raise ValueError(f"'{name}' is not a trace column; choose one of {', '.join(COLUMNS)}")
        if bool(self.counts) == bool(self.ratios):
            raise ValueError("give exactly one of `counts` (exact rows per group) or `ratios` (with `total`)")
        if self.ratios and self.total is None:
            raise ValueError("`ratios` need a `total` (rows in the mix)")
        if self.counts and self.total is not None:
            raise ValueError("`total` goes with `ratios`; with `counts` the total is their sum")
        if any(v < 0 for v in self.counts.values()) or any(v <= 0 for v in self.ratios.values()):
            raise ValueError("counts must be >= 0 and ratios > 0")
        return self

    def targets(self) -> dict[str, int]:
        """Exact rows per group (ratios resolved by the largest-remainder rule)."""
        if self.counts:
            return dict(self.counts)
        return largest_remainder(self.ratios, self.total or 0)

    def may_repeat(self, group: str) -> bool:
        return self.repeat is True or (isinstance(self.repeat, list) and group in self.repeat)


def largest_remainder(ratios: dict[str, float], total: int) -> dict[str, int]:
    """Integer shares of `total` proportional to `ratios`, summing exactly to `total`.

    >>> largest_remainder({"a": 1, "b": 1, "c": 1}, 10)
    {'a': 4, 'b': 3, 'c': 3}
    """
    weight = sum(ratios.values())
    raw = {g: total * w / weight for g, w in ratios.items()}
    counts = {g: int(v) for g, v in raw.items()}
    by_remainder = sorted(raw, key=lambda g: (-(raw[g] - counts[g]), g))
    for g in by_remainder[: total - sum(counts.values())]:
        counts[g] += 1
    return counts


class Mix(Stage):
    name = "mix"
    version = 1
    Config = MixConfig
    has_prepare = True

    def prepare_reads_views(self) -> bool:
        return True  # prepare reads its inputs through `read_input`: load needs to write no copy

    # ---- prepare: thresholds from all parts
    def prepare(self, ctx: PrepareContext) -> None:
        c = self.config
        seed = ctx.seed if c.seed is None else c.seed
        items = [(str(p), c.by, c.key, c.domains, seed) for p in ctx.inputs]
        results = ctx.executor.map(scan_part, items) if ctx.executor else (scan_part(*a) for a in items)
        hashes: dict[str, list[np.ndarray]] = {}
        for part in results:
            for group, values in part.items():
                hashes.setdefault(group, []).append(values)
        merged = {g: np.concatenate(v) for g, v in sorted(hashes.items())}
        try:
            plan = build_plan(c, merged, seed, ctx.inputs)
        except CurateError as exc:
            raise with_verify_reasons(exc, ctx.run_dir) from None
        ctx.artifacts.mkdir(parents=True, exist_ok=True)
        (ctx.artifacts / PLAN).write_text(json.dumps(plan, indent=1, sort_keys=True))
        ctx.stats.update(plan_stats(plan))
        (ctx.artifacts / "stats.json").write_text(json.dumps(ctx.stats, indent=1, sort_keys=True))

    # ---- run: keep rows under their group's threshold
    def run(self, batches, ctx: PartContext) -> Iterator[pa.Table]:
        plan = json.loads((Path(ctx.artifacts) / PLAN).read_text())
        for batch in batches:
            table = conform(batch)
            inside, outside = split_by_domain(table, self.config.domains)
            if outside.num_rows:
                yield outside
            if inside.num_rows:
                yield from self._select(inside, plan, ctx)

    def _select(self, table: pa.Table, plan: dict, ctx: PartContext) -> Iterator[pa.Table]:
        """The batch's kept rows, group by group (in label order, each in row order).

        Rows are taken from the batch once, by masks over it: no copy of a group's rows to
        select from, and the batch itself when a mask keeps all of it.
        """
        labels, codes = group_codes(table, plan["by"])
        hashes = key_hashes(table, plan["seed"], plan["key"])
        for code, group in enumerate(labels):
            in_group = codes == code
            entry = plan["groups"].get(group)
            if entry is None or entry.get("target") is None:
                rows = _rows(table, in_group)
                if plan["others"] == "keep":
                    ctx.counters[f"kept: {group}"] += rows.num_rows
                    yield rows
                else:
                    ctx.counters[f"dropped (no target): {group}"] += rows.num_rows
                    ctx.reject(rows, f"group {group} has no mix target (by {plan['by']})")
                continue
            chosen = selected(table, in_group, hashes, entry, plan["key"])
            copies = entry["copies"]
            if copies == 0:
                ctx.reject(_rows(table, in_group & ~chosen),
                           f"not selected by mix (group {group}: kept {entry['target']} of {entry['available']})")
            whole = [_rows(table, in_group)] * copies
            pieces = [with_copy(t, i, plan["key"]) for i, t in enumerate(whole + [_rows(table, chosen)])]
            out = pa.concat_tables(pieces)
            ctx.counters[f"kept: {group}"] += out.num_rows
            if out.num_rows:
                yield out

    def preview(self, table: pa.Table) -> str:
        """What the targets mean on the first rows (no thresholds: those need every part)."""
        labels, codes = group_codes(conform(table), self.config.by)
        seen = dict(zip(labels, np.bincount(codes, minlength=len(labels)).tolist()))
        return (f"mix by {self.config.by}: targets {self.config.targets()}\n"
                f"groups in the first {table.num_rows} rows: {seen}")


# ---------------------------------------------------------------- helpers (module level: pools)


def row_keys(table: pa.Table, key: str) -> pa.Array:
    """The ranking key: the `key` column, or `id:sample_idx` where it is null."""
    sample_idx = table["sample_idx"]
    fallback = pc.binary_join_element_wise(
        table["id"], pc.cast(pc.fill_null(sample_idx, scalar(-1, sample_idx.type)), pa.string()), scalar(":"))
    column = table[key] if pa.types.is_string(table.schema.field(key).type) else pc.cast(table[key], pa.string())
    return pc.coalesce(column, fallback).combine_chunks() if table.num_rows else string_array([])


def key_hashes(table: pa.Table, seed: int, key: str = "trace_id") -> np.ndarray:
    from curate.stages.mix_hash import seeded_hashes

    return seeded_hashes(row_keys(table, key), seed)


def group_codes(table: pa.Table, by: str) -> tuple[list[str], np.ndarray]:
    """The sorted group labels of the rows (null reads "(null)") and each row's index into them.

    Dictionary-encoded in Arrow (`unique` + `index_in`): no Python object per row, and no
    `fill_null` with a Python value (pyarrow would import pandas to convert it).
    """
    column = table[by]
    if not pa.types.is_string(column.type):
        column = pc.cast(column, pa.string())
    distinct = pc.unique(column)
    names = [NULL_GROUP if v is None else v for v in distinct.to_pylist()]
    labels = sorted(set(names))  # a null and a literal "(null)" are one group
    relabel = np.array([labels.index(n) for n in names], np.int32)
    return labels, relabel[numbers(pc.index_in(column, value_set=distinct))]


def group_hashes(labels: list[str], codes: np.ndarray, hashes: np.ndarray) -> dict[str, np.ndarray]:
    """Group label -> the hashes of its rows, in row order (one stable sort, not a mask a group)."""
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(labels)))
    return dict(zip(labels, np.split(hashes[order], ends[:-1])))


def scan_part(path: str, by: str, key: str, domains: list[str] | None, seed: int) -> dict[str, np.ndarray]:
    """Group -> key hashes of one input part (reads only the columns it needs)."""
    columns = sorted({by, key, "id", "sample_idx", "domain"})
    table = conform(read_input(path, columns))
    table, _ = split_by_domain(table, domains)
    labels, codes = group_codes(table, by)
    return group_hashes(labels, codes, key_hashes(table, seed, key))


def build_plan(config: MixConfig, hashes: dict[str, np.ndarray], seed: int, inputs: list[Path]) -> dict:
    """Per group: available rows, target, whole copies and the threshold of the remainder."""
    targets = config.targets()
    short = {g: k for g, k in targets.items()
             if k > len(hashes.get(g, ())) and not (config.may_repeat(g) and len(hashes.get(g, ())))}
    if short:
        raise shortage_error(config, targets, short, hashes)
    groups: dict[str, dict] = {}
    for group in sorted(set(hashes) | set(targets)):
        values = hashes.get(group, np.zeros(0, np.uint64))
        target = targets.get(group)
        entry = {"available": len(values), "target": target, "copies": 0, "threshold": None, "ties": None}
        if target is not None and len(values):
            copies, rest = divmod(target, len(values)) if config.may_repeat(group) else (0, target)
            entry["copies"] = copies
            entry.update(threshold_for(values, rest, group, config, seed, inputs))
        groups[group] = entry
    return {"by": config.by, "key": config.key, "seed": seed, "others": config.others, "groups": groups}


def threshold_for(values: np.ndarray, k: int, group: str, config: MixConfig, seed: int, inputs) -> dict:
    """The hash at or below which exactly k rows of the group lie (ties settled by key text)."""
    if k == 0:
        return {"threshold": None, "ties": None}
    kth = np.partition(values, k - 1)[k - 1]
    below = int((values < kth).sum())
    at = int((values == kth).sum())
    if below + at == k:
        return {"threshold": str(int(kth)), "ties": None}
    keys = sorted(tie_keys(inputs, config, seed, group, kth))
    need = k - below
    if len(set(keys[:need + 1])) != len(keys[:need + 1]):
        raise CurateError(f"mix: key column '{config.key}' is not unique in group {group}; "
                          "rows sharing a key cannot be split in an order-free way.",
                          "Set `key:` to a unique column (trace_id is unique after load).")
    return {"threshold": str(int(kth)), "ties": keys[:need]}


def tie_keys(inputs, config: MixConfig, seed: int, group: str, kth) -> list[str]:
    out = []
    for path in inputs:
        table = conform(read_input(path, sorted({config.by, config.key, "id", "sample_idx", "domain"})))
        table, _ = split_by_domain(table, config.domains)
        labels, codes = group_codes(table, config.by)
        code = labels.index(group) if group in labels else -1
        mask = (codes == code) & (key_hashes(table, seed, config.key) == kth)
        out += row_keys(table.filter(bool_array(mask)), config.key).to_pylist()
    return out


def selected(table: pa.Table, in_group: np.ndarray, hashes: np.ndarray, entry: dict, key: str) -> np.ndarray:
    """Mask of the group's rows (`in_group`) at or below its threshold: the remainder beyond
    whole copies."""
    if entry["threshold"] is None:
        return np.zeros(table.num_rows, dtype=bool)
    threshold = np.uint64(int(entry["threshold"]))
    below = in_group & (hashes < threshold)
    at = in_group & (hashes == threshold)
    if entry["ties"] is None:
        return below | at
    listed = true_mask(pc.is_in(row_keys(table, key), string_array(entry["ties"])))
    return below | (at & listed)


def _rows(table: pa.Table, mask: np.ndarray) -> pa.Table:
    """The rows of `mask`; the table itself when that is all of them (no copy)."""
    return table if mask.all() else table.filter(bool_array(mask))


def with_copy(table: pa.Table, copy: int, key: str = "trace_id") -> pa.Table:
    """Copy 0 is the row itself; copy c gets trace id `<id>#mix<c>` and `mix_copy` in extra."""
    if copy == 0 or table.num_rows == 0:
        return table
    tid = pc.binary_join_element_wise(row_keys(table, key), scalar(f"#mix{copy}"), scalar(""))
    extras = [json.loads(e) if e else {} for e in table["extra"].to_pylist()]
    extra = string_array([json.dumps({**e, "mix_copy": copy}, sort_keys=True, ensure_ascii=False) for e in extras])
    table = table.set_column(table.schema.get_field_index("trace_id"), "trace_id", tid)
    return table.set_column(table.schema.get_field_index("extra"), "extra", extra)


def plan_stats(plan: dict) -> dict:
    """The realised mix, as the manifest and the card show it."""
    groups = {}
    for group, e in plan["groups"].items():
        kept = e["target"] if e["target"] is not None else (e["available"] if plan["others"] == "keep" else 0)
        groups[group] = {"available": e["available"], "target": e["target"], "kept": kept,
                         "repeated": max(0, kept - e["available"])}
    return {"mix_by": plan["by"], "mix_seed": plan["seed"], "mix_groups": groups,
            "mix_total": sum(g["kept"] for g in groups.values())}


def shortage_error(config: MixConfig, targets, short: dict[str, int], hashes) -> CurateError:
    asks = "; ".join(f"{g} wants {k} but has {len(hashes.get(g, ()))}" for g, k in sorted(short.items()))
    have = ", ".join(f"{g}={len(v)}" for g, v in sorted(hashes.items())) or "none"
    return CurateError(
        f"mix: targets ask for more rows than exist (by {config.by}): {asks}.",
        f"Rows per {config.by}: {have}. Lower the targets, or allow up-sampling of a group "
        f"with `repeat: [{', '.join(sorted(short))}]`.")


def with_verify_reasons(error: CurateError, run_dir) -> CurateError:
    """Add why upstream rows did not pass (the verify report's top reasons) to a shortage error."""
    from curate.verifiers.report import upstream_summary

    why = upstream_summary(run_dir)
    if not why:
        return error
    return CurateError(f"{error.message} Verify did not pass these rows: {why}.",
                       f"{error.hint} If answers were not found, try `extract: standard` or `lenient` in the verify "
                       "stage, or ask for the final answer in `\\boxed{}` in the prompt.")
