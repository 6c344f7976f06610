"""The stage contract: every hook a stage may implement is declared here, with its default.

A stage is a small class with a `name`, an integer `version`, a nested pydantic `Config` (closed
to unknown keys, every field described: `curate <stage> --help` is generated from it) and:

| hook                      | default                | purpose                                              |
|---------------------------|------------------------|------------------------------------------------------|
| `run(batches, ctx)`       | `process` per domain   | stream one part: Arrow in, Arrow out (TRACE_SCHEMA)  |
| `process(table, ctx)`     | pass rows through      | per-batch work, the easy way to write `run`          |
| `prepare(ctx)`            | nothing                | global pass before the parts (`has_prepare = True`)  |
| `finalize(ctx)`           | nothing                | once after every part (`has_finalize = True`)        |
| `num_parts(ctx)`          | `ctx.num_parts`        | parts the first stage plans (known after `prepare`)  |
| `preview(rows)`           | None: no `--dry-run`   | what the stage would do to the first rows            |
| `resources()`             | `{}`                   | what one part task holds on a cluster                |
| `max_parallel`            | None                   | parts at once; set: an engine stays warm per worker  |
| `fingerprint_extra()`     | `{}`                   | inputs besides config and parts (a benchmark file)   |
| `prepare_reads_inputs()`  | `has_prepare`          | False lets the runner fuse the stage with its parent |
| `keeps_parts()`           | True                   | keep part files when streaming into a fused stage    |
| `view_parts(ctx)`         | None                   | done-markers of parts not written (readers recompute)|
| `prepare_reads_views()`   | False                  | prepare reads inputs via `read_input`/`iter_input`   |
| `view_segments(ctx)`      | None                   | a view part's source row groups (`ViewSegment`)      |
| `column_edit()`           | None                   | `process` only rewrites some columns (`ColumnEdit`)  |
| `check_requirements()`    | nothing                | raise MissingExtra at construction                   |
| `terminal`                | False                  | output lives elsewhere (write: dataset/)             |

Rows a stage drops go through `ctx.reject(rows, reason)`; work that completes a part's outputs
goes through `ctx.finish_later(fn)`. A hook that is not declared here does not exist: the
runner, executors and CLI call nothing else.

A unit test calls `run` on a list of batches with `PartContext.for_test()` (or `run_stage_on`).
Stages may apply only to some domains (`domains: [math, code]`): other rows pass through untouched.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from curate.recipe import StageConfig
from curate.schema import conform, empty_table
from curate.text.arrow import repeated_string, scalar, string_array

if TYPE_CHECKING:
    from curate.rundir import RunDir

__all__ = ["ColumnEdit", "PartContext", "PrepareContext", "Stage", "StageConfig", "ViewSegment", "iter_input",
           "read_input", "run_stage_on", "split_by_domain", "view_segments", "view_tables"]


@dataclass
class PartContext:
    """What a stage's `run` gets for one part."""

    part: int = 0
    num_parts: int = 1
    seed: int = 0
    stage_index: int = 0
    artifacts: Path | None = None  # the stage's prepare output folder (read-only in run)
    scratch: Path | None = None  # private folder of this part (caches); kept across reruns
    counters: Counter = field(default_factory=Counter)
    stats: dict[str, Any] = field(default_factory=dict)
    rejected: list[tuple[pa.Table, str]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    finishing: list[Callable[[], None]] = field(default_factory=list)
    columns: list[str] | None = None  # a reader of a view wants just these trace columns (`read_input`)
    piece_bytes: int | None = None  # ... and its rows in tables of about this many bytes (`view_tables`)
    segments: Any = None  # on object storage: where the part saves progress while it runs (`Segments`)
    reject_sink: Callable[[pa.Table], None] | None = None  # the part task's: rejected rows written as they come

    @classmethod
    def for_test(cls, tmp: Path | None = None, **kw) -> "PartContext":
        return cls(artifacts=tmp, scratch=tmp, **kw)

    def reject(self, rows: pa.Table | pa.RecordBatch, reason: str | list[str]) -> None:
        """Send rows to `rejected/` with a reason (one for all rows, or one per row)."""
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
        if table.num_rows == 0:
            return
        self.counters["rejected"] += table.num_rows
        if self.reject_sink is not None:
            self.reject_sink(_with_reason(table, reason))
        else:
            self.rejected.append((table, reason))

    def finish_later(self, fn: Callable[[], None]) -> None:
        """Register work that completes this part's outputs (e.g. closing files a helper thread
        is still compressing). It runs after `run` ends and before the part is marked done,
        possibly on another thread while the next part starts."""
        self.finishing.append(fn)

    def finish(self) -> None:
        """Run the registered work, all of it even when one fails; raise the first failure."""
        failure = None
        for fn in self.finishing:
            try:
                fn()
            except Exception as error:  # noqa: BLE001 - raised below, after the rest closed
                failure = failure or error
        self.finishing.clear()
        if failure is not None:
            raise failure

    def rejected_table(self) -> pa.Table | None:
        """The rows rejected so far (not those handed to `reject_sink`), with their reasons."""
        if not self.rejected:
            return None
        return pa.concat_tables([_with_reason(table, reasons) for table, reasons in self.rejected])


def _with_reason(table: pa.Table, reasons: str | list[str]) -> pa.Table:
    """Rejected rows in the trace schema, with the `reject_reason` column."""
    column = repeated_string(reasons, table.num_rows) if isinstance(reasons, str) else string_array(reasons)
    return conform(table).append_column("reject_reason", column)


@dataclass(frozen=True)
class ColumnEdit:
    """What a stage's `run` does to a part, when it only rewrites columns (`Stage.column_edit`):
    given tables holding at least the `reads` columns (the others may be nulls), it returns the
    same rows in the same order with only the `writes` columns changed, and rejects none. The
    part task may then copy the other columns' compressed bytes from the input
    (`curate.storage.column_splice`) instead of decoding and re-encoding them. `batch_rows`:
    rows per table it is given then (the part file's row groups follow the input's, whatever
    the tables' size), when the stage wants fewer than a part pass's usual READ_BATCH_ROWS.
    `room_per_row`: bytes a row the fresh columns (`writes`, and those the input lacks) are
    expected to take, encoded, when that is small: every row group's copy may then start at
    once, each leaving that room (`part_columns.ROOM_BASE`); 0 copies row groups one by one."""

    reads: tuple[str, ...]
    writes: tuple[str, ...]
    batch_rows: int | None = None
    room_per_row: int = 0


@dataclass
class ViewSegment:
    """Rows of a view part that sit in one row group of one Parquet file (`Stage.view_segments`).

    `rows` rows from row `start` of row group `group` of `path`; `whole` when that is the whole
    row group. `columns` maps the trace columns whose values are the file's own column values,
    unchanged, to that column's name in the file. `tables(columns)` yields the segment's trace
    rows (just `columns` if given, as `view_tables` would)."""

    path: str
    group: int
    start: int
    rows: int
    whole: bool
    columns: dict[str, str]
    tables: Callable[[list[str] | None], Iterator[pa.Table]]


@dataclass
class PrepareContext:
    """What a stage's `prepare` and `finalize` get: all input parts and a place for artifacts."""

    inputs: list[Path]  # the parent stage's part files, in part order
    artifacts: Path
    seed: int = 0
    num_parts: int = 1
    run_dir: Path | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    executor: Any = None  # lets a prepare phase fan work out (local pool or Ray)
    stage_dir: Path | None = None  # the stage's folder in the run (None outside a run)
    #: set when this process runs the stage's parts: a prepare calls it once the rest of its work
    #: leaves a core idle, and the first part's unchanged columns start copying (`column_edit`)
    start_parts: Callable[[], None] | None = None

    @property
    def rundir(self) -> RunDir | None:
        """The run's layout (reports, markers, the dataset folder); None outside a run."""
        from curate.rundir import RunDir

        return RunDir(self.run_dir) if self.run_dir is not None else None


class Stage:
    """Base class; subclasses set `name`, `version`, `Config`, and override `process` or `run`."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    Config: ClassVar[type[StageConfig]] = StageConfig
    has_prepare: ClassVar[bool] = False
    has_finalize: ClassVar[bool] = False
    #: the stage's output lives elsewhere (write: dataset/): rows are counted, no part file is
    #: stored, and no stage may follow it
    terminal: ClassVar[bool] = False
    #: at most this many parts at once (e.g. one per GPU engine); None means the executor decides
    max_parallel: ClassVar[int | None] = None
    #: the stage keeps every core busy with processes of its own (verify's checkers and sandboxes),
    #: so helper processes of later stages start after it (`runner.start_chart_helper`)
    fills_cores: ClassVar[bool] = False

    def __init__(self, config: StageConfig | dict | None = None, **kwargs):
        if config is None or isinstance(config, dict):
            config = self.Config(**{**(config or {}), **kwargs})
        self.config = config
        self.check_requirements()

    def resources(self) -> dict[str, float]:
        """Resources one part task holds on a cluster, e.g. {"num_gpus": 4} for a TP-4 engine.

        Stages that keep an engine warm across parts (generate) set `max_parallel`; executors run
        them in long-lived workers (Ray actors) so the engine starts once per worker."""
        return {}

    def fingerprint_extra(self) -> dict[str, Any]:
        """What the stage reads besides its config and its input parts (e.g. the content digest
        of a local benchmark file), so that changing it refuses or redoes the stage."""
        return {}

    def prepare_reads_inputs(self) -> bool:
        """Does `prepare` read the input parts? If not, the runner may fuse this stage with its
        parent (one part task, fed from memory)."""
        return self.has_prepare

    def keeps_parts(self) -> bool:
        """Keep this stage's part files when it streams straight into a fused successor? The last
        stage of a chain always keeps them (the next chain reads them)."""
        return True

    def view_parts(self, ctx: PrepareContext) -> list[dict[str, Any]] | None:
        """Done-marker stats per part (rows_in, rows_out, rejected) when this stage's parts need
        not be written at all, because recomputing one from `run` costs about what reading a copy
        would (`load` of Parquet sources: a view of their files). Readers of such a part go
        through `read_input` / `view_tables`. None: run the part tasks and write the parts."""
        return None

    def prepare_reads_views(self) -> bool:
        """Does `prepare` read its input parts only through `read_input`, so the parent's parts
        may be views (`view_parts`)? Stages that open the part files themselves say False."""
        return False

    def view_segments(self, ctx: PartContext) -> list[ViewSegment] | None:
        """A view part's rows (`view_parts`) by the source row groups they sit in, in order, with
        the trace columns copied unchanged from the source files; None when not known."""
        return None

    def column_edit(self) -> ColumnEdit | None:
        """The columns `run` reads and the only ones it changes, when it keeps every row, in
        order, and rejects none (`ColumnEdit`); None otherwise (the default)."""
        return None

    def draws_charts(self) -> bool:
        """Does `finalize` draw charts? The runner then starts the chart helper ahead of it, so
        that matplotlib is imported while earlier stages run (`curate.text.chart_process`)."""
        return False

    def check_requirements(self) -> None:
        """Raise MissingExtra when an optional dependency is absent (called at construction)."""

    def prepare(self, ctx: PrepareContext) -> None:
        """Optional global pass over all input parts."""

    def finalize(self, ctx: PrepareContext) -> None:
        """Optional step after every part is done."""

    def num_parts(self, ctx: PrepareContext) -> int:
        """How many parts the run has; asked of the first stage only, after its `prepare`."""
        return ctx.num_parts

    def preview(self, rows: pa.Table) -> str | None:
        """What the stage would do to `rows` (the first rows of the input), for `--dry-run`.
        None: the stage offers no dry run (the CLI then shows no `--dry-run` option)."""
        return None

    @classmethod
    def has_preview(cls) -> bool:
        return cls.preview is not Stage.preview

    def process(self, table: pa.Table, ctx: PartContext) -> pa.Table:
        """Per-batch work; the default passes rows through. Override this or `run`."""
        return table

    def run(self, batches: Iterable[pa.RecordBatch | pa.Table], ctx: PartContext) -> Iterator[pa.Table]:
        """Stream one part: applies `process` to the rows in `domains`, passes the others."""
        for batch in batches:
            table = conform(batch)
            inside, outside = split_by_domain(table, self.config.domains)
            if inside.num_rows:
                yield conform(self.process(inside, ctx))
            if outside.num_rows:
                yield outside

    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")


def split_by_domain(table: pa.Table, domains: list[str] | None) -> tuple[pa.Table, pa.Table]:
    """Split rows into (in `domains`, the rest); with no domains, everything is inside."""
    if not domains:
        return table, table.slice(0, 0)
    mask = pc.fill_null(pc.is_in(table.column("domain"), string_array(domains)), scalar(False))
    return table.filter(mask), table.filter(pc.invert(mask))


def domain_split(batches: Iterable[pa.RecordBatch | pa.Table], domains: list[str] | None) -> tuple[pa.Table, pa.Table]:
    """A part's batches, conformed and split into (rows in `domains`, the rest)."""
    tables = [conform(b) for b in batches]
    if not tables:
        return empty_table(), empty_table()
    return split_by_domain(pa.concat_tables(tables), domains)


def run_stage_on(stage: Stage, rows: pa.Table, tmp: Path | None = None) -> tuple[pa.Table, PartContext]:
    """Run a stage on an in-memory table (tests, notebooks); returns output and the context."""
    ctx = PartContext.for_test(tmp)
    out = list(stage.run(rows.to_batches() or [rows], ctx))
    ctx.finish()
    table = pa.concat_tables(out) if out else empty_table()
    return table, ctx


# ---------------------------------------------------------------- parts that are views


def read_input(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """The rows of one input part: its file (memory-mapped), or, when the stage that made it
    wrote none (`Stage.view_parts`), the part recomputed by that stage; just `columns` if given."""
    import pyarrow.parquet as pq

    if Path(path).exists():
        source = pq.ParquetFile(path, memory_map=True)
        names = source.schema_arrow.names
        return source.read(columns=[c for c in columns if c in names] if columns else None, use_threads=False)
    tables = list(view_tables(path, columns))
    table = pa.concat_tables(tables) if tables else empty_table()
    return table.select([c for c in columns if c in table.column_names]) if columns else table


def iter_input(path: str | Path, columns: list[str] | None = None, *,
               piece_bytes: int | None = None) -> Iterator[pa.Table]:
    """`read_input`, a row group at a time (a view: as its stage yields it, in pieces of about
    `piece_bytes`, default VIEW_PIECE_BYTES), so a pass over a part holds one or two row groups,
    not the part."""
    import pyarrow.parquet as pq

    if not Path(path).exists():
        yield from view_tables(path, columns, piece_bytes=piece_bytes)
        return
    source = pq.ParquetFile(path, memory_map=True)
    names = source.schema_arrow.names
    for group in range(source.num_row_groups):
        yield source.read_row_group(group, columns=[c for c in columns if c in names] if columns else None,
                                    use_threads=False)


VIEW_PIECE_BYTES = 8 << 20  # a view is recomputed in tables of about this size: memory, not rows


def view_tables(path: str | Path, columns: list[str] | None = None, *,
                piece_bytes: int | None = None) -> Iterator[pa.Table]:
    """A part that was not written (a view), recomputed by its stage's `run` from the run's recipe;
    the stage may give just `columns` (load then reads only the source columns they come from).
    Tables come in pieces of about VIEW_PIECE_BYTES (whole multiples of 1024 rows within a
    source's row group), so a pass over a view of wide rows holds a few MB of it, not row groups.

    Only a stage without input parts (the first) can have views: it needs nothing upstream."""
    stage, ctx = _view_stage(path, columns, piece_bytes or VIEW_PIECE_BYTES)
    yield from stage.run(iter(()), ctx)


def view_segments(path: str | Path) -> list[ViewSegment] | None:
    """The source row groups of a part that was not written (`Stage.view_segments`)."""
    stage, ctx = _view_stage(path, None)
    return stage.view_segments(ctx)


def _view_stage(path: str | Path, columns: list[str] | None,
                piece_bytes: int = VIEW_PIECE_BYTES) -> tuple[Stage, PartContext]:
    """The stage that did not write the part at `path`, and the context to recompute it."""
    from curate.registry import stage_class
    from curate.rundir import RunDir

    path = Path(path)
    rd = RunDir(path.parent.parent)
    index, part = rd.stage_index(path.parent), int(path.stem.split("-")[1])
    if index != 0 or not rd.is_done(path.parent, part):
        raise FileNotFoundError(f"{path}: no such part (it was never written, or was removed)")
    recipe = rd.recipe()
    entry = recipe.stage_entries()[index]
    stage = stage_class(entry.use)(entry.config)
    artifacts = rd.artifacts(path.parent)
    num_parts = stage.num_parts(PrepareContext(inputs=[], artifacts=artifacts, seed=recipe.seed))
    ctx = PartContext(part=part, num_parts=num_parts, seed=recipe.seed, stage_index=index, artifacts=artifacts,
                      columns=columns, piece_bytes=piece_bytes)
    return stage, ctx
