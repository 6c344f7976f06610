"""`decontam`: mark rows that contain benchmark items (problem, reasoning and answer text).

`prepare` loads the selected benchmarks (pack names or local files, see `curate.decontam.pack`),
builds the hashed n-gram index once (`curate.decontam.index`) and writes it to the stage's
artifacts; it is small, so every part task loads the whole of it. `run` tokenises each checked
field once per batch and scans it against the index (n = 8 for `problem`, 13 for `reasoning`
and `answer` by default: long texts share short n-grams by accident); each row's `contaminated`
column lists its `benchmark:item_id` leaks, `benchmark:item_id (template)` for a copy with other
constants (merged with earlier decontam stages); a match too weak to be a leak (`min_score`,
`min_words`, `min_grams`: see `curate.decontam.match`) is only reported, as `near`. Nothing is
dropped here: `filter` with `drop_contaminated: true` removes them. `finalize` writes the
report (RUN/reports/decontam.{json,md,html}) with every hit, its field, verdict, kind and score,
and the matched spans.

In `mode: flag` a row stops being checked at its first contaminated field (fields are checked in
the order given), and no per-hit details are kept: cheaper when only the flag is wanted.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Iterator, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from curate.decontam.report import build_report, collect_part_stats, merge_hit_stats, prepare_stats, write_reports
from curate.errors import CurateError
from curate.recipe.lazy import LazyModel
from curate.stages.base import ColumnEdit, PartContext, PrepareContext, Stage, StageConfig

if TYPE_CHECKING:
    import numpy as np

TEXT_FIELDS = ("problem", "reasoning", "answer", "reference", "system")
PARAPHRASE = LazyModel("curate.stages.judging", "ParaphraseConfig")  # the judge's models, only when given


class DecontamConfig(StageConfig):
    benchmarks: list[str] = Field(
        default_factory=list, min_length=1,
        description="Benchmarks to check against: pack names (curate benchmarks list), "
        "e.g. aime24, livecodebench:release_v5, or local .jsonl/.parquet files (fields id, problem, answer; "
        "map others with file.jsonl#problem=question,id=uid).")
    fields: dict[str, int] = Field(
        default_factory=lambda: {"problem": 8, "reasoning": 13, "answer": 13},
        description="Row fields to check and the n-gram size for each, checked in this order.")
    allowlist: list[str] = Field(
        default_factory=list, description="Phrases to ignore: n-grams containing (or inside) them never match.")
    allowlist_min_items: int = Field(
        5, ge=0, description="Ignore n-grams found in at least this many benchmark items (boilerplate); 0 = off.")
    min_exact_words: int = Field(
        3, ge=1, description="Items shorter than n are matched by exact containment if they have this many words.")
    min_score: float = Field(
        0.3, ge=0.0, le=1.0, description="A leak covers at least this information-weighted share of an item "
        "(rare words count most, numbers little) and shows the item's own content: the whole item up to its "
        "constants, or a 16-word run of it (a shared stem is not enough); weaker matches are reported as near "
        "and not flagged. 0: every shared n-gram.")
    min_words: int = Field(
        20, ge=1, description="Also a leak: at least this many distinct item words (numbers aside) repeated, with a "
        "score of min_score/2 (a long quote from a long item).")
    min_grams: int = Field(
        30, ge=1, description="Also a leak: at least this many of the item's n-grams repeated word for word (a long "
        "verbatim run).")
    renamed_fields: list[str] = Field(
        default_factory=lambda: ["problem", "answer"], description="Fields also searched for code copies whose "
        "function and parameter names were changed (a second pass over the words outside names: about a third "
        "of the scan's cost; long reasoning traces rarely restate a renamed signature).")
    pool_min_problems: int = Field(
        10, ge=0, description="Pool rarity: an n-gram matched in at least this many distinct problems of one batch "
        "is the pool's boilerplate; a hit found mostly through such n-grams is near unless it covers half the item. "
        "0 = off.")
    report_near: bool = Field(True, description="List near matches (below the thresholds) in the report.")
    mode: Literal["report", "flag"] = Field(
        "report", description="report: check every field, keep every hit for the report; flag: stop at a "
        "row's first contaminated field.")
    max_report_hits: int = Field(
        5000, ge=0, description="Hits kept for the report per part (all hits are still counted and flagged).")
    cache_dir: str | None = Field(None, description="datasets cache folder for Hub benchmarks (default: HF's).")
    base_dir: str | None = Field(None, description="Folder relative benchmark paths resolve from.")
    paraphrase: Annotated[Any, PARAPHRASE] = Field(
        None, description="Optional second look: rows with no n-gram hit and their most similar benchmark "
        "items go to an LLM judge ('same problem, rephrased?'); a teacher block (docs: stages, decontam).")

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, int]) -> dict[str, int]:
        for name, n in value.items():
            if name not in TEXT_FIELDS:
                raise ValueError(f"cannot check field '{name}'; choose from {', '.join(TEXT_FIELDS)}")
            if not 1 <= n <= 64:
                raise ValueError(f"n for '{name}' must be between 1 and 64, got {n}")
        if not value:
            raise ValueError("give at least one field to check, e.g. {problem: 8}")
        return value

    @field_validator("paraphrase")
    @classmethod
    def _paraphrase(cls, value: Any):  # a ParaphraseConfig or None
        return PARAPHRASE.validate(value)

    @field_validator("renamed_fields")
    @classmethod
    def _known_renamed(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in TEXT_FIELDS]
        if unknown:
            raise ValueError(f"cannot search field(s) {', '.join(unknown)}; choose from {', '.join(TEXT_FIELDS)}")
        return value


class Decontam(Stage):
    """Annotate `contaminated` with the benchmark items each row contains."""

    name = "decontam"
    version = 5  # 4: a leak must show the item's own content (evidence.py); 5: issue 17 recall (docs/stages.md)
    Config = DecontamConfig
    has_prepare = True
    has_finalize = True

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        if self.config.paraphrase is not None:
            from curate.stages.judging import judge_max_parallel

            self.max_parallel = judge_max_parallel(self.config.paraphrase)  # an in-process judge engine

    def prepare_reads_views(self) -> bool:
        return True  # prepare builds the index from the benchmarks: it reads no input part

    def fingerprint_extra(self) -> dict[str, Any]:
        """Content digests of local benchmark files: an edited eval file redoes the stage."""
        from curate.decontam.select import LocalSpec, file_revision, parse_selections

        base = self.config.base_dir
        return {s.spec.path: file_revision(s.spec.path) for s in parse_selections(self.config.benchmarks, base_dir=base)
                if isinstance(s.spec, LocalSpec)}

    # ------------------------------------------------------------ prepare

    def prepare(self, ctx: PrepareContext) -> None:
        """Load the benchmarks and write the index into the artifacts."""
        from curate.decontam.index_cache import index_for
        from curate.decontam.loaders import resolve_selections

        c = self.config
        items, described = resolve_selections(c.benchmarks, base_dir=self.base_dir(ctx), cache_dir=c.cache_dir)
        index = index_for(items, described, set(c.fields.values()), allowlist=c.allowlist,
                          allowlist_min_items=c.allowlist_min_items, min_exact_words=c.min_exact_words)
        index.save(ctx.artifacts)
        stats = prepare_stats(index)
        (ctx.artifacts / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True))
        ctx.stats.update(stats)

    def base_dir(self, ctx: PrepareContext) -> Path:
        """Where relative benchmark paths resolve: config, the run's recipe folder, or cwd."""
        if self.config.base_dir:
            return Path(self.config.base_dir)
        base = ctx.rundir.recipe_data().get("base_dir") if ctx.run_dir else None
        return Path(base) if base else Path.cwd()

    # ------------------------------------------------------------ run

    def process(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        from curate.decontam.index import load_index

        if ctx.artifacts is None or not (ctx.artifacts / "index.npz").exists():
            raise CurateError("decontam: no benchmark index in the artifacts.",
                              "Run the stage through a recipe (prepare builds the index), or call prepare first.")
        index = load_index(ctx.artifacts)
        found = annotate(index, table, self.config, ctx)
        if self.config.paraphrase is not None:
            from curate.stages.judging import judge_paraphrases

            found = judge_paraphrases(index, table, found, self.config, ctx)
        merged = merged_marks(table.column("contaminated"), found)
        hits = [m for m in found if m]  # most rows have none
        ctx.counters["rows_checked"] += table.num_rows
        ctx.counters["rows_contaminated"] += sum(1 for m in merged if m)
        for bench in sorted({k.split(":", 1)[0] for m in hits for k in m}):
            prefix = bench + ":"
            ctx.counters[f"rows_contaminated:{bench}"] += sum(1 for m in hits if any(k.startswith(prefix) for k in m))
        return table.set_column(table.column_names.index("contaminated"), "contaminated", list_column(merged))

    def column_edit(self) -> ColumnEdit | None:
        """Both modes only mark `contaminated` and drop nothing. Not with `domains` (rows outside
        them follow the others), nor with a paraphrase judge (it reads more of each row)."""
        if self.config.domains or self.config.paraphrase is not None:
            return None
        scanned = tuple(self.config.fields)  # the texts, then what hit records and pool rarity read
        # batches of one scan's rows: the same scans as in larger batches (SCAN_ROWS at a time
        # from the part's first row), but a quarter of the texts in flight on the threads (about
        # 50 MB less peak RSS at 5 KB rows). Not in flag mode over several fields: there a later
        # field scans the rows left, SCAN_ROWS of them at a time within a batch
        same_scans = self.config.mode == "report" or len(scanned) == 1
        return ColumnEdit(reads=scanned + ("id", "trace_id", "sample_idx", "source", "problem", "contaminated"),
                          writes=("contaminated",), batch_rows=SCAN_ROWS if same_scans else None)

    def run(self, batches: Iterable[pa.RecordBatch | pa.Table], ctx: PartContext) -> Iterator[pa.Table]:
        """`process` on up to `threads_per_part()` batches at once (the tokeniser and scan kernels
        release the GIL), each with its own context merged into `ctx` in batch order, so the
        rows, counters and report records are those of one batch after the other. With a
        paraphrase judge, one at a time (its engine and cache are not shared across threads)."""
        threads = threads_per_part()
        if threads == 1 or self.config.paraphrase is not None:
            yield from super().run(batches, ctx)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        def one(batch, sub: PartContext) -> list[pa.Table]:
            return list(Stage.run(self, [batch], sub))

        with ThreadPoolExecutor(threads) as pool:
            pending: deque = deque()
            for batch in batches:
                sub = PartContext(part=ctx.part, num_parts=ctx.num_parts, seed=ctx.seed, stage_index=ctx.stage_index,
                                  artifacts=ctx.artifacts, scratch=ctx.scratch)
                pending.append((pool.submit(one, batch, sub), sub))
                if len(pending) >= threads:
                    yield from self._merged(ctx, *pending.popleft())
            while pending:
                yield from self._merged(ctx, *pending.popleft())

    def _merged(self, ctx: PartContext, future, sub: PartContext) -> list[pa.Table]:
        """A batch's tables; its counters and report records join `ctx` as if it ran there."""
        tables = future.result()
        ctx.counters.update(sub.counters)
        merge_hit_stats(ctx.stats, sub.stats, self.config.max_report_hits)
        return tables

    # ------------------------------------------------------------ finalize

    def finalize(self, ctx: PrepareContext) -> None:
        """Collect the parts' hits and write RUN/reports/decontam.{json,md,html}."""
        from curate.decontam.index import load_index

        rd = ctx.rundir
        if rd is None:  # outside a run: no part markers to collect, nowhere to report
            return
        hits, counters, items_hit, dropped = collect_part_stats(rd.markers(ctx.stage_dir))
        report = build_report(load_index(ctx.artifacts), self.config_dict(), hits, counters=counters,
                              items_hit=items_hit, hits_not_listed=dropped)
        target = rd.report_target(ctx.stage_dir, "decontam", number="every")
        write_reports(report, target.parent, name=target.name)


def merged_marks(existing: pa.Array | pa.ChunkedArray, found: list) -> list[list[str]]:
    """Each row's `contaminated`: the keys it held plus those `found`, sorted. Only the rows with
    either are visited (most rows have neither: a set and a sort per row cost 17 ms of Python per
    8192-row batch, holding the GIL the other scan thread wants)."""
    import numpy as np
    import pyarrow.compute as pc

    from curate.text.arrow import numbers, numpy_array

    zero = numpy_array(np.zeros(1, np.int32))[0]  # not pa.scalar(0): it imports pandas
    held = np.flatnonzero(numbers(pc.fill_null(pc.list_value_length(existing), zero)) > 0)
    old = dict(zip(held.tolist(), existing.take(numpy_array(held)).to_pylist())) if len(held) else {}
    marks: list[list[str]] = [[]] * len(found)  # the empty rows share one list: nothing mutates it
    for i in sorted(old.keys() | {i for i, new in enumerate(found) if new}):
        marks[i] = sorted(set(old.get(i, ())) | found[i])
    return marks


def list_column(rows: list[list[str]]) -> pa.ListArray:
    """`pa.array(rows, pa.list_(pa.string()))` built from buffers: `pa.array` imports pandas."""
    import numpy as np

    from curate.text.arrow import numpy_array, string_array

    offsets = np.zeros(len(rows) + 1, np.int32)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    return pa.ListArray.from_arrays(numpy_array(offsets), string_array([k for r in rows for k in r]))


def _indices(rows: list[int]) -> pa.Array:
    import numpy as np

    from curate.text.arrow import numpy_array

    return numpy_array(np.array(rows, np.int64))


def annotate(index, table: pa.Table, config: DecontamConfig, ctx: PartContext | None) -> list[set[str]]:
    """Scan the configured fields of `table`; return each row's hit keys (records go to ctx.stats)."""
    c = config
    return scan_table(index, table, fields=c.fields, mode=c.mode, min_score=c.min_score, min_words=c.min_words,
                      min_grams=c.min_grams, report_near=c.report_near, max_report_hits=c.max_report_hits,
                      pool_min=c.pool_min_problems, renamed_fields=c.renamed_fields,
                      stats=ctx.stats if ctx is not None else {})


def scan_table(index, table: pa.Table, *, fields: dict[str, int], mode: str = "report", min_score: float = 0.3,
               min_words: int = 20, min_grams: int = 30, report_near: bool = True, max_report_hits: int = 5000,
               id_column: str = "id", pool_min: int = 10, renamed_fields: Iterable[str] = ("problem", "answer"),
               stats: dict[str, Any]) -> list[set[str] | frozenset[str]]:
    """Each row's `benchmark:item` leaks over `fields` (column -> n) of any table; a template
    copy (the item with other numbers) reads `benchmark:item (template)`.

    Report records (leaks, and near matches unless `report_near` is off) accumulate in
    stats["decontam_hits"] (at most `max_report_hits`), the keys of items leaked in
    stats["items_hit"], the records left out in stats["hits_not_listed"]. Pool rarity
    (`pool_min`) counts the distinct problems of each SCAN_ROWS rows (`problem_groups`)."""
    from functools import partial

    from curate.decontam.match import LazyGroups, hit_record, scan_texts

    found: dict[int, set[str]] = {}  # only rows with hits: most rows have none
    ids = table.column(id_column) if id_column in table.column_names else None  # read per hit: most rows have none
    extras = {c: table.column(c) for c in ("trace_id", "sample_idx", "source") if c in table.column_names}
    records = stats.setdefault("decontam_hits", [])
    items_hit: set[str] = set(stats.get("items_hit", []))
    problems = table.column("problem") if "problem" in table.column_names else None
    for field_name, n in fields.items():
        if field_name not in table.column_names:
            continue
        todo = [i for i in range(table.num_rows) if i not in found] if mode == "flag" else None
        column = table.column(field_name)
        column = column.take(_indices(todo)) if todo is not None else column
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        near = report_near and mode != "flag"

        def scan(texts, start, n=n, near=near, todo=todo, renamed=field_name in renamed_fields):
            rows = None if todo is None else todo[start:start + len(texts)]
            groups = LazyGroups(partial(scanned_groups, problems, start, len(texts), rows)) if pool_min else None
            return scan_texts(index, texts, n, min_score=min_score, min_words=min_words, min_grams=min_grams,
                              near=near, groups=groups, pool_min=pool_min, renamed=renamed)

        for hit, text in _scanned(column, scan):
            row = todo[hit.row] if todo is not None else hit.row
            key = index.items[hit.item].key
            if hit.verdict == "leak":
                found.setdefault(row, set()).add(key + " (template)" if hit.kind == "template" else key)
                items_hit.add(key)
            if mode == "flag":
                continue
            # near matches may fill half the list at most: they never crowd out the leaks
            if len(records) >= (max_report_hits if hit.verdict == "leak" else max_report_hits // 2):
                stats["hits_not_listed"] = stats.get("hits_not_listed", 0) + 1
                continue
            extra = {k: v[row].as_py() for k, v in extras.items()}
            records.append(hit_record(index, hit, text, field=field_name,
                                      row_id=ids[row].as_py() if ids is not None else row, extra=extra))
    stats["items_hit"] = sorted(items_hit)
    empty: frozenset[str] = frozenset()
    return [found.get(i, empty) for i in range(table.num_rows)]


SCAN_ROWS = 2048  # rows tokenised and scanned at once: their word hashes take 16 bytes a word


def _scanned(column: pa.Array | pa.ChunkedArray, scan) -> Iterator[tuple[Any, str]]:
    """(hit, its row's text) of `scan(texts, start)` over `column`, SCAN_ROWS rows at a time (hits
    in row order, rows numbered in `column`), so the word hashes of a whole batch are never held.
    Pool rarity therefore counts the distinct problems of each SCAN_ROWS rows."""
    for start in range(0, len(column), SCAN_ROWS):
        texts = column.slice(start, SCAN_ROWS)
        for hit in scan(texts, start):
            yield dataclasses.replace(hit, row=hit.row + start), texts[hit.row].as_py()


def scanned_groups(problems: pa.ChunkedArray | None, start: int, count: int,
                   rows: list[int] | None) -> np.ndarray:
    """`problem_groups` of the rows one scan reads (`count` rows from `start`, or `rows`): pool
    rarity counts distinct problems within a scan, so only the rows of that scan are encoded,
    not a whole batch's problem texts at once (a copy of every text as the dictionary)."""
    import numpy as np

    from curate.decontam.match import problem_groups

    if problems is None:
        return np.arange(count)
    part = problems.take(_indices(rows)) if rows is not None else problems.slice(start, count)
    return problem_groups(pa.table({"problem": part}))


def threads_per_part() -> int:
    """Batches of a part scanned at once: the machine's cores (`--workers` still counts processes)."""
    from curate.background import usable_cores

    return usable_cores()
