"""Part tasks: one part pushed through a chain of fused streaming stages.

The runner fuses consecutive streaming stages (say `load -> filter -> write`) into one task per
part. Each stage's output streams straight into the next stage in memory, and is also teed into
its own part file, so every stage still has its atomic part file, rejects and done-marker, a
crash resumes from the last finished stage of that part, and `--force`, `status` and `inspect`
see the same run directory. What fusion saves is the read back: the next stage no longer
decompresses the part its parent has just written.

One exception: a stage may decline to keep its parts when it streams into a fused successor
(`Stage.keeps_parts()`; `load` does by default, its parts being a conformed copy of the
sources). Its rejects and done-marker are still written (the marker says `kept: false`); a
resumed task that needs its rows recomputes it from further up the chain. A chain's last stage
always keeps its parts: the next chain reads them.

Parts overlap a little: inside `overlapped_finishing()` (the runner's loop over the parts this
process runs), each step of the chain hands its completion (closing output files a writer
thread is still compressing, then the marker; on object storage their uploads) to a finishing
thread, in order, and the next part starts meanwhile. A part is marked done only once its
files are complete, so a crash still redoes exactly the unmarked parts.

Timings stay per stage: each stage's `seconds` is the time spent in its own code (and in writing
its part), not in the stages upstream of it.

`run_part` is module-level and takes only paths and numbers, so the local pool and Ray run it
alike.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curate.background import Background, prefetch
from curate.errors import disk_error
from curate.fingerprint import digest
from curate.io import PIECE_ROWS, READ_BUFFER
from curate.part_columns import ColumnPlan, column_plan
from curate.recipe import Recipe
from curate.registry import stage_class
from curate.rundir import RunDir
from curate.stages.base import PartContext, Stage, view_tables
from curate.storage.parquet_files import AtomicParquetWriter, RejectedWriter

READ_BATCH_ROWS = 8192


#: set inside `overlapped_finishing()`: the thread that completes parts in this process
_finishing: Background | None = None


@contextmanager
def overlapped_finishing() -> Iterator[None]:
    """Let each part task in this process hand its steps' completions (closing their output
    files, writing their markers) to a helper thread and return, so the next part starts while the
    last one's final row group is still being compressed (or uploaded). At most one completion
    waits. Leaving the block waits for it and raises the first failure.

        with overlapped_finishing():
            for part in parts:
                run_part(run_dir, first, part, num_parts, last)
    """
    global _finishing
    finishing = _finishing = Background(_now, depth=0)
    try:
        yield
    except BaseException:
        with suppress(Exception):  # the failure already raised matters more
            finishing.close()
        raise
    finally:
        _finishing = None
    finishing.close()


def run_part(run_dir: str, index: int, part: int, num_parts: int, through: int | None = None,
             known: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Run stages `index..through` (just `index` by default) on one part; return the last one's stats.

    Stages already done for this part are skipped; the chain starts from the first unfinished
    one, reading its parent's part file. `known`: on object storage, what the driver knows of
    the store for this task (`RunDir.task_state`), which spares reading it again.
    """
    rd = RunDir(run_dir)
    rd.fetch_recipe(known)  # on object storage: this process's working copy may be on another machine
    recipe = rd.recipe()
    entries = recipe.stage_entries()
    last = index if through is None else through
    stages = {k: stage_class(entries[k].use)(entries[k].config) for k in range(index, last + 1)}
    dirs = {k: rd.stage_dir(k, stage_class(entries[k].use).name) for k in range(max(0, index - 1), last + 1)}
    done = rd.open_part_task(list(dirs.values()), part, known)  # the parent's too: its part is read below
    todo = [k for k, stage in stages.items() if rd.stage_dir(k, stage.name) not in done]
    if not todo:
        return rd.part_stats(rd.stage_dir(last, stages[last].name)).get(part, {})
    first = todo[0]
    while first > index and not rd.has_part(rd.stage_dir(first - 1, stages[first - 1].name), part):
        first -= 1  # the parent kept no part file (it streamed into this stage): recompute it too
    plan = column_plan(rd, stages[first], first - 1, part) if 0 < first == last and not stages[first].terminal else None
    if plan is not None:  # the stage rewrites some columns: the others are copied, not re-encoded
        align = plan.encodes_batches()  # row groups made of batches: those keep READ_BATCH_ROWS rows
        rows = READ_BATCH_ROWS if align else plan.edit.batch_rows or READ_BATCH_ROWS
        batches: Iterator[Any] = rebatched(prefetch(plan.tables(), depth=2), rows, align=align)
    else:
        batches = read_part(rd, first - 1, part) if first else iter(())
    step, streams = None, []
    for k in range(first, last + 1):
        keep = k == last or stages[k].keeps_parts()
        step = PartStep(rd, recipe, k, stages[k], part, num_parts, upstream=step, keep=keep, columns=plan)
        defer = _finishing.submit if _finishing is not None else None
        batches = step.stream(batches, defer)
        streams.append(batches)
    try:
        for stream in reversed(streams):  # the last stage first; then whatever a stage left unread
            for _ in stream:
                pass
    except BaseException:
        for stream in streams:  # now, not whenever the traceback is freed: drop temporary files
            stream.close()
        raise
    return step.stats


class PartStep:
    """One stage of one part inside a chain: run it, tee its output to its part file, mark done."""

    def __init__(self, rd: RunDir, recipe: Recipe, index: int, stage: Stage, part: int, num_parts: int,
                 upstream: PartStep | None = None, keep: bool = True, columns: ColumnPlan | None = None):
        self.rd, self.index, self.stage, self.part, self.upstream = rd, index, stage, part, upstream
        self.columns = columns  # set: the part file is spliced from the input's column chunks
        self.keep = keep and not stage.terminal  # terminal stages store their output elsewhere
        self.sdir = rd.stage_dir(index, stage.name)
        self.ctx = PartContext(
            part=part, num_parts=num_parts, seed=recipe.seed, stage_index=index,
            artifacts=rd.artifacts(self.sdir), scratch=rd.scratch(self.sdir, part),
            rng=random.Random(digest(recipe.seed, index, part)), segments=rd.segments(self.sdir, part),
        )
        self.busy = 0.0  # seconds inside this stage and everything upstream of it
        self.finishing = 0.0  # of which completing the part, when that ran on the finishing thread
        self.deferred = False
        self.stats: dict[str, Any] = {}
        self.writer: Any = None
        self.rejects: RejectedWriter | None = None

    def stream(self, batches: Iterable[Any], defer: Callable[[Callable[[], None]], None] | None = None
               ) -> Iterator[pa.Table]:
        """Yield the stage's output tables; when they end, complete the part (files, marker).

        `defer` takes the completion to run later (on the finishing thread) instead of now."""
        self.rows_in = [0]
        source = _count(batches, self.rows_in) if self.index else iter(())
        output = iter(self.stage.run(source, self.ctx))
        path = self.rd.part_path(self.sdir, self.part)
        if not self.keep:
            self.writer = None
        else:
            self.writer = self.columns.writer(path) if self.columns is not None else AtomicParquetWriter(path)
        self.rejects = RejectedWriter(self.rd.rejected_path(self.sdir, self.part), self.stage.name)
        self.ctx.reject_sink = self.rejects.add
        self.rows_out, ended = 0, False
        try:
            while True:
                began = time.perf_counter()
                if self.writer is not None:
                    self.writer.reserve()  # the next table is made once an encoder can take it
                table = next(output, None)
                if table is not None and self.writer is not None:
                    self.writer.write(table)
                self.busy += time.perf_counter() - began
                if table is None:
                    break
                self.rows_out += table.num_rows
                yield table
            ended = True
        except Exception as error:
            raise self.labelled(error)
        finally:
            if not ended:
                self.abort()
        try:
            self.deferred = defer is not None
            (defer or _now)(self.complete)
        except BaseException:  # this part's completion, or an earlier part's on the finishing thread
            self.discard()
            raise

    def complete(self) -> None:
        """Finish the stage's outputs, commit the part file and rejects, then mark the part done."""
        began = time.perf_counter()
        try:
            self.ctx.finish()
            if self.writer is not None:
                self.writer.commit()
            rejected = self.rejects.commit()
        except Exception as error:
            self.abort()
            raise self.labelled(error)
        self.busy += time.perf_counter() - began
        self.finishing = time.perf_counter() - began if self.deferred else 0.0
        self.stats = {
            "part": self.part, "rows_in": self.rows_in[0] if self.index else self.rows_out + rejected,
            "rows_out": self.rows_out, "rejected": rejected, "counters": dict(self.ctx.counters),
            "stats": self.ctx.stats, "seconds": round(self.own_seconds(), 3),
        }
        if not self.keep and not self.stage.terminal:
            self.stats["kept"] = False  # rows streamed on; `status` and `inspect` say so
        try:
            self.rd.mark_done(self.sdir, self.part, self.stats)
            if self.ctx.segments is not None:  # saved progress, redundant once the part is marked
                with suppress(Exception):  # a segment left behind costs only its bytes in the store
                    self.ctx.segments.drop()
        except OSError as error:
            raise self.labelled(error)

    def abort(self) -> None:
        """Drop the temporary part and reject files (no-op after commit)."""
        if self.writer is not None:
            self.writer.abort()
        if self.rejects is not None:
            self.rejects.abort()

    def discard(self) -> None:
        """Leave an uncompleted part behind tidily: no temporary part file, no open outputs (it is
        not marked done, so a rerun redoes it)."""
        self.abort()
        with suppress(Exception):  # the failure being raised matters more
            self.ctx.finish()

    def labelled(self, error: Exception) -> Exception:
        """Name this stage and part on an error raised here; a full or read-only disk becomes a
        `DiskError` saying so (the part's temporary file is gone, finished parts stay)."""
        if hasattr(error, "stage_label"):  # raised upstream: already named
            return error
        disk = disk_error(error, f"writing stage {self.sdir.name} part {self.part}", self.rd.path)
        if disk is not None:
            disk.stage_label = self.sdir.name
            return disk
        error.stage_label = self.sdir.name
        error.add_note(f"(in stage {self.sdir.name}, part {self.part})")
        return error

    def own_seconds(self) -> float:
        """Time in this stage's own code: its busy time minus the upstream stages' busy time
        (less their completions run on the finishing thread, which this stage did not wait for)."""
        return self.busy - (self.upstream.busy - self.upstream.finishing if self.upstream else 0.0)


def read_part(rd: RunDir, index: int, part: int) -> Iterator[pa.RecordBatch | pa.Table]:
    """A finished part's batches, decoded on a helper thread ahead of the stage that reads them.

    A part its stage did not write (a view, `Stage.view_parts`) is recomputed in small pieces
    on a helper thread and gathered into batches of the size a read of its file would give, so
    the stage reading it writes the same bytes, while only the batch the stage asks for next is
    held, not batches decoded ahead. A file is streamed through a small read buffer (not a
    whole row group's compressed bytes at once)."""
    stage_dir = rd.stage_dir_at(index)
    rd.fetch_part(stage_dir, part)  # on object storage: into the working copy, checked against its marker
    path = rd.part_path(stage_dir, part)
    if not rd.has_part(stage_dir, part):
        yield from rebatched(prefetch(view_tables(path), depth=2), READ_BATCH_ROWS)
        return
    source = pq.ParquetFile(path, buffer_size=READ_BUFFER, pre_buffer=False)
    yield from prefetch(source.iter_batches(batch_size=READ_BATCH_ROWS), depth=1)


def rebatched(tables: Iterable[pa.Table], rows: int, *, align: bool = True) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last one shorter) from tables of any size.

    Nothing is copied but the PIECE_ROWS-row units that straddle two input tables: a batch is
    the units it gathered, side by side, and every column's chunks are whole multiples of
    PIECE_ROWS rows, so a part written from it has the pages of one written from single arrays.
    Without `align` (nothing is written from the batches' chunks as they are) the straddling
    units stay two chunks: no copy at all."""
    unit = min(rows, PIECE_ROWS)
    queue: deque[pa.Table] = deque()
    held, batch, size = 0, [], 0
    for table in tables:
        if not table.num_rows:
            continue
        queue.append(table)
        held += table.num_rows
        while held >= unit:
            head = queue[0].num_rows
            n = min(head // unit * unit, rows - size) if head >= unit else unit
            batch.append(_take(queue, n, align))
            held, size = held - n, size + n
            if size == rows:
                yield pa.concat_tables(batch)
                batch, size = [], 0
    if held:
        batch.append(_take(queue, held, align))
    if batch:
        yield pa.concat_tables(batch)


def _take(queue: deque[pa.Table], rows: int, align: bool = True) -> pa.Table:
    """The first `rows` rows of the tables in `queue` (removed from it), one chunk per column
    (with `align`; otherwise the tables' chunks)."""
    taken = []
    while rows:
        head = queue.popleft()
        if head.num_rows > rows:
            queue.appendleft(head.slice(rows))
            head = head.slice(0, rows)
        taken.append(head)
        rows -= head.num_rows
    if len(taken) == 1:
        return taken[0].combine_chunks() if align else taken[0]
    return pa.concat_tables(taken).combine_chunks() if align else pa.concat_tables(taken)


def _now(fn: Callable[[], None]) -> None:
    fn()


def _count(batches: Iterable[Any], counter: list[int]) -> Iterator[Any]:
    for batch in batches:
        counter[0] += batch.num_rows
        yield batch
