"""`dedup`: exact and MinHash-LSH near-duplicate marking, at the problem or the row level.

prepare (global, talks through files under the stage's artifacts so Ray can run it as tasks):
  1. `signatures/part-XXXXX.parquet`: one task per input part (`ctx.executor.map`) hashes the
     normalised field (exact key) and computes MinHash band keys in one compiled pass; beside
     it, numpy files of band keys and shingle values and an Arrow file of text beginnings
     (deleted at the end of prepare: together about the size of the text).
  2. Grouping and clustering (`curate.dedup.cluster`): exact groups, band-by-band candidate
     pairs, an optional exact Jaccard check, union-find, a keep rule per cluster.
  3. `decisions/part-XXXXX.parquet` (unit key -> dup_of), `clusters.parquet`, `stats.json`,
     and the report in RUN/reports/dedup.md (+ .json, + a cluster-size histogram SVG).
run (per part, streaming): fills `dup_of` on the rows of removed units. Nothing is dropped
here: `filter` with `drop_duplicates: true` sends them to rejected/.

The default field is `problem`: a unit is a problem (all samples with one `id`), so samples of
one problem are never each other's duplicates, and every row of a removed problem is marked.
`reasoning` or `answer` dedup individual rows.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curate.schema import empty_table
from curate.stages.base import ColumnEdit, PartContext, PrepareContext, Stage, StageConfig

# A view's pieces in the signature pass (4 columns, nothing written). Small: each piece's text is
# decoded into fresh buffers that Parquet's decoder grows as it goes, and pages freed more than
# 10 ms ago are faulted in again (docs/performance.md, tenth round). At 5 KB rows, 1024-row pieces
# (the least a piece holds) against 3072: 135k -> 81k page faults, 1.87 -> 1.59 CPU s and
# 203 -> 166 MB at 30k rows; 3.5M -> 2.0M faults and 228 -> 199 MB at 1M rows.
SIGNATURE_PIECE_BYTES = 4 << 20
# What a row's fresh columns take in a part file, encoded: `dup_of` (null, or a kept row's id),
# and the ids load derives (`<source>:p<n>`, compressed) when the input has none. With that
# room after each row group, the part's whole copy starts while prepare's single-threaded tail
# runs (ColumnEdit.room_per_row); a row group whose fresh columns outgrow it is copied again.
ROOM_PER_ROW = 32
SAMPLED_PARTS = 4  # parts whose footers `hashing: auto` reads
KeepRule = Literal["verified", "shortest", "longest"]


class DedupConfig(StageConfig):
    field: Literal["problem", "reasoning", "answer"] = Field(
        "problem", description="Text compared. problem: one unit per problem id (samples of one problem "
        "are not each other's duplicates); reasoning/answer: one unit per row.")
    exact: bool = Field(True, description="Mark exact duplicates (same text after normalising case, "
                        "spacing and punctuation); with near on, they are marked either way.")
    near: bool = Field(True, description="Mark near-duplicates with MinHash LSH.")
    threshold: float = Field(0.8, gt=0.0, lt=1.0, description="Jaccard similarity of shingle sets at "
                             "or above which two texts are near-duplicates.")
    num_perm: int = Field(128, ge=8, le=1024, description="MinHash permutations (signature length).")
    hashing: Literal["auto", "permutations", "one-permutation"] = Field(
        "auto", description="MinHash scheme: num_perm permutations, or one permutation hashing (one hash a "
        "shingle into num_perm bins: faster on long texts, slower on short ones); auto: one permutation "
        "when the texts average 256 shingles or more.")
    shingle: Literal["word", "char"] = Field("word", description="Shingles: word n-grams or character n-grams.")
    ngram: int = Field(5, ge=1, le=64, description="Shingle size n (words or characters).")
    recall_weight: float = Field(
        0.95, gt=0.0, lt=1.0, description="Weight of missed pairs vs false candidates when choosing "
        "bands x rows (0.5 = datasketch's default; higher favours recall).")
    bands: int | None = Field(None, ge=1, description="LSH bands (set with rows to override the choice).")
    rows: int | None = Field(None, ge=1, description="Signature values per band.")
    verify_pairs: bool = Field(True, description="Check each candidate pair's exact Jaccard, so only "
                               "pairs at or above the threshold are joined (precision).")
    keep: list[KeepRule] = Field(
        default_factory=lambda: ["verified", "shortest"], description="Which unit of a cluster stays, "
        "in order of preference: verified (a sample passed), shortest, longest; ties: smallest id.")
    against: str | None = Field(None, description="An earlier release (path, run directory or Hub id): "
                                "rows duplicating it are marked; it is never modified.")
    against_split: str = Field("train", description="Split of a Hub `against` dataset.")
    seed: int = Field(1, description="Seed of the MinHash permutations.")
    report_clusters: int = Field(10, ge=0, description="Largest clusters shown in the report.")

    @model_validator(mode="after")
    def _check_shape(self) -> DedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class Dedup(Stage):
    """Mark exact and near-duplicate problems (or rows) with `dup_of`."""

    name = "dedup"
    version = 1
    Config = DedupConfig
    has_prepare = True

    def prepare_reads_views(self) -> bool:
        return True  # the signature pass reads its inputs through `read_input`

    def lsh_shape(self) -> tuple[int, int]:
        from curate.dedup.minhash import lsh_params

        c = self.config
        if c.bands:
            return c.bands, c.rows
        return lsh_params(c.threshold, c.num_perm, fp_weight=1 - c.recall_weight, fn_weight=c.recall_weight)

    def options(self, files: list[str] | None = None) -> dict[str, Any]:
        """The signature pass's settings; `auto` hashing resolved by the texts of `files` (none:
        permutations)."""
        from curate.dedup import hashing

        c = self.config
        bands, rows = self.lsh_shape()
        mean = mean_text_bytes(files[:SAMPLED_PARTS], c.field) if files and c.hashing == "auto" else None
        scheme = hashing.choose(c.hashing, mean, c.shingle)
        return {"field": c.field, "level": "problem" if c.field == "problem" else "row",
                "ngram": c.ngram, "shingle": c.shingle, "num_perm": c.num_perm, "seed": c.seed, "hashing": scheme,
                "bands": bands, "rows": rows, "domains": c.domains, "verify": c.near and c.verify_pairs}

    # ---------------------------------------------------------------- prepare
    def prepare(self, ctx: PrepareContext) -> None:
        from curate.dedup import cluster as dc
        from curate.dedup.index import build_index
        from curate.dedup.report import write_report
        from curate.dedup.trim import return_free_memory
        from curate.dedup.units import materialise_against, remove_companions

        return_free_memory()  # what earlier stages' prepares freed (load's id check: 100 MB at 1M rows)
        files = [str(p) for p in ctx.inputs]
        started, options, art = time.time(), self.options(files), ctx.artifacts
        prior_files = []
        if self.config.against:
            prior_files = [str(p) for p in materialise_against(
                self.config.against, art / "against", field=self.config.field, split=self.config.against_split)]
        sig_files, part_stats = self.signature_pass(ctx, files, prior_files, options)
        signed = time.time()
        if ctx.start_parts is not None:  # from here on one core: the first part's copy takes the other
            ctx.start_parts()
        return_free_memory()  # the signature pass's freed buffers, before the index's arrays
        index = build_index(sig_files, [False] * len(files) + [True] * len(prior_files))
        stats: dict[str, Any] = {"candidate_pairs": 0, "near_pairs": 0}
        ex_left, occ, members = self.cluster(index, options, stats)
        dc.write_table(members, art / "clusters.parquet")
        stats.update(dc.write_decisions(occ, members, art / "decisions", len(files)))
        del occ
        stats.update(self.summary(options, part_stats, index, ex_left, members))
        (art / "stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True))  # no timings: reproducible
        ctx.stats.update(stats)
        ctx.stats.update(signature_seconds=round(signed - started, 3), prepare_seconds=round(time.time() - started, 3))
        write_report(ctx, index.seen, members, stats, sig_files=sig_files, top=self.config.report_clusters)
        remove_companions(sig_files)
        del index, members
        return_free_memory()  # before the part pass, which runs in this process

    def cluster(self, index, options, stats):
        """(exact-duplicate units, member occurrences, member table) of the indexed units. Each
        phase's arrays are freed (and their heap pages returned) before the next one's."""
        from curate.dedup import cluster as dc
        from curate.dedup.index import member_frames
        from curate.dedup.trim import return_free_memory

        ex_left, ex_right, lone = dc.exact_edges(index.exact, index.usable)
        index.exact = None  # integers per unit from here on; strings only for cluster members
        return_free_memory()
        # Identical normalised texts are also near-duplicates (J = 1); LSH sees one per group.
        edges = [(ex_left, ex_right)] if self.config.exact or self.config.near else []
        if self.config.near and index.units:
            edges.append(self.near_pairs(index, lone, options, stats))
        del lone
        return_free_memory()
        root = dc.clusters(index.units, edges)
        del edges
        chosen = dc.cluster_members(root)
        occ, members = member_frames(index, chosen)
        index.drop_rows()
        keeper = dc.choose_keepers(members, root[chosen], self.config.keep)
        members = dc.decide(members, root[chosen], keeper)
        del root, chosen, keeper
        return_free_memory()
        return ex_left, occ, members

    def signature_pass(self, ctx, files, prior_files, options) -> tuple[list[Path], list[dict]]:
        from curate.dedup.units import drop_scratch, signature_task
        from curate.rundir import part_file_name
        from curate.stages.base import iter_input, read_input

        out = ctx.artifacts / "signatures"
        tables = functools.partial(iter_input, piece_bytes=SIGNATURE_PIECE_BYTES)
        options = {**options, "threads": threads_per_task(ctx), "tables": tables}
        tasks = [(f, str(out / part_file_name(i)), i, {**options, "read": read_input}) for i, f in enumerate(files)]
        current = {task[1] for task in tasks}  # the run's own parts; the `against` files follow
        tasks += [(f, str(out / f"against-{i:05d}.parquet"), i, {**options, "domains": None})
                  for i, f in enumerate(prior_files)]
        results = [r for r in _map(ctx, signature_task, tasks) if r["out"] in current]
        drop_scratch()  # this process's buffers (the tasks ran here); a pool's workers keep theirs
        return [Path(t[1]) for t in tasks], sorted(results, key=lambda r: r["part"])

    def near_pairs(self, index, lone, options, stats):
        from curate.dedup import cluster as dc

        left, right = dc.band_edges(index, lone, options["bands"])
        stats["candidate_pairs"] = len(left)
        if self.config.verify_pairs and len(left):
            from curate.background import usable_cores

            left, right, similarity = dc.verify_edges(left, right, index, self.config.threshold, usable_cores())
            stats["near_pair_jaccard_min"] = round(float(similarity.min()), 4) if len(similarity) else None
        stats["near_pairs"] = len(left)
        return left, right

    def summary(self, options, part_stats, index, ex_left, members) -> dict[str, Any]:
        from curate.text.arrow import true_mask

        return {
            "field": options["field"], "level": options["level"], "threshold": self.config.threshold,
            "num_perm": options["num_perm"], "hashing": options["hashing"], "bands": options["bands"],
            "rows": options["rows"],
            "shingle": options["shingle"], "ngram": options["ngram"],
            "units": index.units - index.prior_units, "rows_seen": index.rows_seen,
            "empty_units": int((~index.usable).sum()), "exact_duplicate_units": len(ex_left),
            "bytes": int(sum(s.get("bytes", 0) for s in part_stats)),
            "clusters": int(true_mask(members["keeper"]).sum()),
            "against_units": index.prior_units,
        }

    # ---------------------------------------------------------------- run
    def column_edit(self) -> ColumnEdit | None:
        """`process` fills `dup_of` from the unit keys and drops nothing; with `domains`, `run`
        puts a batch's rows outside them after the others, so rows move: no column edit."""
        if self.config.domains:
            return None
        keys = ("id",) if self.config.field == "problem" else ("id", "sample_idx", "trace_id")
        return ColumnEdit(reads=keys + ("dup_of",), writes=("dup_of",), room_per_row=ROOM_PER_ROW)

    def process(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        keys, dup_of = self._decisions(ctx)
        if not len(keys):
            return table
        marks = dup_of.take(pc.index_in(self._unit_keys(table), value_set=keys))
        ctx.counters["marked_duplicate"] += len(marks) - marks.null_count
        column = pc.coalesce(marks, table["dup_of"].cast(pa.string()))
        return table.set_column(table.schema.get_field_index("dup_of"), "dup_of", column)

    def _unit_keys(self, table: pa.Table) -> pa.Array | pa.ChunkedArray:
        from curate.dedup.units import arrow_unit_keys

        level = "problem" if self.config.field == "problem" else "row"
        if level == "problem":
            return table["id"]
        return arrow_unit_keys(table["id"], table["trace_id"], table["sample_idx"], level)

    def _decisions(self, ctx: PartContext) -> tuple[pa.Array, pa.Array]:
        """(unit keys, dup_of) of this part's removed units, read once per part."""
        import pyarrow.parquet as pq

        from curate.rundir import part_file_name

        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == ctx.part:
            return cached[1]
        path = Path(ctx.artifacts or ".") / "decisions" / part_file_name(ctx.part)
        schema = pa.schema([("key", pa.string()), ("dup_of", pa.string())])
        table = pq.ParquetFile(path).read() if path.exists() else empty_table(schema)
        self._cache = (ctx.part, (table["key"].combine_chunks().cast(pa.string()),
                                  table["dup_of"].combine_chunks().cast(pa.string())))
        return self._cache[1]


def mean_text_bytes(paths: list[str], field: str) -> float | None:
    """Mean bytes of `field` a row in these parts (files or views), by their Parquet footers;
    None when a footer cannot tell (a computed column, a source that is not Parquet or cannot be
    opened here): the choice it informs is about speed, so it never fails a run."""
    try:
        return _mean_text_bytes(paths, field)
    except Exception:  # noqa: BLE001 - any reader's error: no guess (the signature pass reports real ones)
        return None


def _mean_text_bytes(paths: list[str], field: str) -> float | None:
    import pyarrow.parquet as pq

    from curate.stages.base import view_segments

    size = rows = 0.0
    for path in paths:
        if Path(path).exists():  # a written part: all its row groups, every column its own
            segments = [(path, None, {field: field})]
        else:
            views = view_segments(path)
            if views is None:
                return None
            segments = [(s.path, (s.group, s.rows), s.columns) for s in views]
        for file, where, columns in segments:
            meta = pq.ParquetFile(file).metadata
            groups = [where] if where else [(g, meta.row_group(g).num_rows) for g in range(meta.num_row_groups)]
            for group, count in groups:
                chunk = _chunk(meta.row_group(group), columns.get(field))
                if chunk is None:
                    return None
                size += chunk.total_uncompressed_size * count / max(1, meta.row_group(group).num_rows)
                rows += count
    return max(0.0, size / rows - 4) if rows else None  # 4: the length before each value


def _chunk(group, column: str | None):
    """The column chunk of `column` in a row group's footer, or None."""
    return next((group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == column), None)


def threads_per_task(ctx: PrepareContext) -> int:
    """Threads for one signature task: the machine's cores shared by the executor's processes
    (`--workers` still counts processes; with one, the one process uses every core)."""
    from curate.background import usable_cores

    cores = usable_cores()
    return max(1, cores // max(1, getattr(ctx.executor, "workers", 1)))


def _map(ctx: PrepareContext, fn, items: list[tuple]):
    """Fan tasks out through the run's executor; inline when there is none (tests, notebooks)."""
    if ctx.executor is None:
        return (fn(*item) for item in items)
    return ctx.executor.map(fn, items)
