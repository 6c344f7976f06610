"""`write`: the publishable Hub folder, `RUN/dataset/`.

    dataset/README.md                                  card with a `configs:` block, one default
    dataset/<config>/<split>-00000-of-0000N.parquet    the training view of each config

Each part writes its config shards into its scratch folder (rolling to a new file at
`max_shard_bytes`); `finalize` numbers them globally, links them into a fresh folder, renders
the card and swaps the folder into place. Parquet: zstd, content-defined chunking (so re-uploads
of an edited dataset move only changed pages), a page index, row groups of at most
`max_row_group_bytes`. Only plain string/list types, so Hub mixtures can concatenate.
Rows that match no config go to `rejected/`. `write` is terminal: its output is `dataset/`, so it
stores no trace part of its own (the previous stage's parts hold the same rows).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from curate.errors import CurateError
from curate.schema import conform
from curate.stages.base import PartContext, PrepareContext, Stage, StageConfig
from curate.text.arrow import numpy_array, scalar, string_array, true_mask

MB = 1 << 20
DEFAULT_COLUMNS = ["id", "trace_id", "sample_idx", "source", "domain", "license", "problem", "reference",
                   "teacher", "finish_reason", "prompt_tokens", "completion_tokens", "verdict",
                   "pass_rate", "contaminated"]


class WriteConfig(StageConfig):
    configs: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description="Config name -> row filter, e.g. {reasoning: {domain: [math, code]}, "
        "general: {domain: [general]}}. Empty: one config 'default' with every row.")
    all_config: str | None = Field(
        None, description="Also offer a config of this name listing every other config's files (stored once).")
    default_config: str | None = Field(None, description="The default config (first one if unset).")
    split: str = Field("train", description="Split name of the written files.")
    columns: list[str] = Field(default_factory=lambda: list(DEFAULT_COLUMNS),
                               description="Metadata columns written beside messages and num_tokens.")
    shapes: dict[str, Literal["messages", "prompts", "rollouts", "targets"]] = Field(
        default_factory=dict, description="Config name -> export shape: messages (the training view, "
        "default), prompts (a conversational `prompt` per problem, for online distillation), "
        "rollouts (scored student samples with token arrays), targets (teacher top-K per token).")
    max_shard_bytes: int = Field(500 * MB, description="Start a new shard file past this many bytes.")
    max_row_group_bytes: int = Field(100 * MB, description="Row groups hold at most this many bytes.")
    compression_level: int | None = Field(None, description="zstd level (pyarrow's default if unset).")
    content_defined_chunking: bool = Field(True, description="Write content-defined data pages (Xet dedup).")
    dataset_info: bool = Field(
        True, description="Put `dataset_info` (features, row counts) in the card, generated from the written schema.")
    plots: bool = Field(True, description="Draw token-length plots (PNG) next to the card.")


#: pyarrow's content-defined chunking parameters, spelled out so the files can record them
CDC_OPTIONS = {"min_chunk_size": 256 * 1024, "max_chunk_size": 1024 * 1024, "norm_level": 0}
#: file key-value metadata naming the chunking (pyarrow itself records nothing about it)
CDC_METADATA_KEY = "curate.content_defined_chunking"


def parquet_options(config: WriteConfig) -> dict:
    """ParquetWriter options of every published file: zstd, CDC pages, page index, statistics."""
    return {"compression": "zstd", "compression_level": config.compression_level,
            "use_content_defined_chunking": dict(CDC_OPTIONS) if config.content_defined_chunking else False,
            "write_page_index": True, "write_statistics": True}


def file_metadata(config: WriteConfig) -> dict[str, str]:
    """Key-value metadata stamped into each file's footer (constant: no times, no paths)."""
    import json

    cdc = {"enabled": True, **CDC_OPTIONS} if config.content_defined_chunking else {"enabled": False}
    return {CDC_METADATA_KEY: json.dumps(cdc, sort_keys=True)}


class Write(Stage):
    name = "write"
    version = 1
    Config = WriteConfig
    has_finalize = True
    terminal = True

    def config_filters(self) -> dict[str, dict[str, list[str]]]:
        return self.config.configs or {"default": {}}

    def draws_charts(self) -> bool:
        return self.config.plots

    def run(self, batches, ctx: PartContext) -> Iterator[pa.Table]:
        from curate.publish.training_view import message_texts

        out_dir = ctx.scratch
        shutil.rmtree(out_dir, ignore_errors=True)  # a half-written earlier attempt
        out_dir.mkdir(parents=True, exist_ok=True)
        writers = {name: ShardWriter(out_dir / name, self.config) for name in self.config_filters()}
        trace_ids: dict[str, list] = {name: [] for name in writers}
        try:  # on success the shards are closed later (ctx.finish), while the next part starts
            for batch in batches:
                table = conform(batch)
                matched, texts = None, message_texts(table)  # joined once, gathered per config
                for name, where in self.config_filters().items():
                    mask = row_mask(table, where)
                    matched = mask if matched is None else pc.or_(matched, mask)
                    rows = selected_rows(mask)
                    count = table.num_rows if rows is None else len(rows)
                    if count:
                        writers[name].write(self.view(name, table, rows, texts))
                        ids = table["trace_id"] if rows is None else table["trace_id"].take(numpy_array(rows))
                        trace_ids[name].extend(ids.chunks)
                        ctx.counters[f"rows: {name}"] += count
                count_values(table, GENERATION_COLUMNS, ctx.stats.setdefault("values", {}))
                unrouted = pc.invert(matched)
                if pc.any(unrouted).as_py():
                    ctx.reject(table.filter(unrouted), "matches no dataset config")
                yield select(table, matched)  # terminal: the runner only counts these rows
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        save_trace_ids(out_dir, trace_ids)
        for writer in writers.values():
            ctx.finish_later(writer.close)
        ctx.finish_later(lambda: record_shards(out_dir, ctx.stats))

    def view(self, name: str, table: pa.Table, rows, texts) -> pa.Table:
        """The rows of config `name` in its shape (the training view unless `shapes` says)."""
        from curate.publish.training_view import training_view

        shape = self.config.shapes.get(name, "messages")
        if shape == "messages":
            return training_view(table, self.config.columns, rows, texts)
        from curate.publish.onpolicy_view import shaped_view

        return shaped_view(table, shape, rows)

    def finalize(self, ctx: PrepareContext) -> None:
        from curate.publish.card import write_card

        rd = ctx.rundir
        dataset, staging = rd.dataset, rd.dataset_staging
        shutil.rmtree(staging, ignore_errors=True)
        files = {}
        check_unique_trace_ids(rd, ctx.stage_dir, list(self.config_filters()), self.config.all_config)
        for name in self.config_filters():
            shards = rd.scratch_files(ctx.stage_dir, f"{name}/*.parquet")
            files[name] = link_shards(shards, staging / name, self.config.split)
        write_card(Path(ctx.run_dir), staging, self, files)
        shutil.rmtree(dataset, ignore_errors=True)
        os.replace(staging, dataset)

    def configs_block(self, files: dict[str, list[str]]) -> list[dict]:
        """The card's `configs:` list: one per config, plus the optional `all`, one default."""
        names = [n for n in self.config_filters() if files.get(n)]
        default = self.config.default_config or (names[0] if names else None)
        block = []
        for name in names:
            entry = {"config_name": name, "data_files": [{"split": self.config.split,
                                                          "path": f"{name}/{self.config.split}-*"}]}
            block.append(entry)
        if self.config.all_config and names:
            paths = [f"{n}/{self.config.split}-*" for n in names]
            block.append({"config_name": self.config.all_config,
                          "data_files": [{"split": self.config.split, "path": paths}]})
        for entry in block:
            if entry["config_name"] == default:
                entry["default"] = True
        return block


#: columns whose values each part counts for the card ("how the traces were made")
GENERATION_COLUMNS = ("teacher", "sampling", "system")
MAX_VALUES = 50


def count_values(table: pa.Table, columns: tuple[str, ...], counts: dict[str, dict[str, int]]) -> None:
    """Add the non-null values of `columns` and their counts to `counts` (at most MAX_VALUES
    distinct values per column are kept: the card shows the most common few)."""
    for column in columns:
        seen = counts.setdefault(column, {})
        for entry in pc.value_counts(pc.drop_null(table[column])).to_pylist():
            if entry["values"] in seen or len(seen) < MAX_VALUES:
                seen[entry["values"]] = seen.get(entry["values"], 0) + entry["counts"]


def select(table: pa.Table, mask: pa.Array) -> pa.Table:
    """`table.filter(mask)` without copying when every row (or none) is selected."""
    kept = pc.sum(mask).as_py() or 0
    if kept == table.num_rows:
        return table
    return table.slice(0, 0) if kept == 0 else table.filter(mask)


def selected_rows(mask: pa.Array) -> np.ndarray | None:
    """Indices of the rows the mask selects, or None when it selects every row."""
    picked = np.flatnonzero(true_mask(mask))
    return None if len(picked) == len(mask) else picked


_FALSE = scalar(False)  # a Python `False` argument would make pyarrow import pandas


def row_mask(table: pa.Table, where: dict[str, list[str]]) -> pa.Array:
    """Rows whose columns hold one of the listed values (a list column: is non-empty)."""
    mask = pc.is_valid(table["id"])  # id is never null: every row
    for column, values in where.items():
        col = table[column]
        hit = pc.is_in(col, string_array(values).cast(col.type)) if not pa.types.is_list(col.type) else \
            pc.greater(pc.list_value_length(col), 0)
        mask = pc.and_(mask, pc.fill_null(hit, _FALSE))
    return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask


class ShardWriter:
    """Write training-view tables into numbered files, rolling over at max_shard_bytes.

    Batches are buffered (zero-copy) until a row group's worth of bytes, so row groups are few
    and large (better compression, less per-group overhead) and memory stays bounded by two row
    groups per config: the one being gathered and the one a helper thread encodes and
    compresses meanwhile (`curate.background`).
    """

    def __init__(self, folder: Path, config: WriteConfig):
        from curate.background import Background

        self.folder, self.config = folder, config
        self.writer: pq.ParquetWriter | None = None
        self.index = 0
        self.bytes = 0
        self.pending: list[pa.Table] = []
        self.pending_bytes = 0
        self.background = Background(self._write_group, depth=0)

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_bytes += table.nbytes
        if self.pending_bytes >= self.config.max_row_group_bytes:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.background.submit(self.pending)
            self.pending, self.pending_bytes = [], 0

    def _write_group(self, tables: list[pa.Table]) -> None:
        table = pa.concat_tables(tables)
        if self.writer is None or self.bytes >= self.config.max_shard_bytes:
            self.close_file()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{self.index:05d}.parquet"
            self.writer = pq.ParquetWriter(path, table.schema, **parquet_options(self.config))
            self.index += 1
            self.bytes = 0
        per_row = max(1, table.nbytes // max(1, table.num_rows))
        self.writer.write_table(table, row_group_size=max(1, self.config.max_row_group_bytes // per_row))
        self.bytes += table.nbytes

    def close_file(self) -> None:
        if self.writer is not None:
            self.writer.add_key_value_metadata(file_metadata(self.config))
            self.writer.close()
            self.writer = None

    def close(self) -> None:
        self.flush()
        self.background.close()
        self.close_file()

    def abort(self) -> None:
        """Stop after a failure: wait for the writer thread (ignoring its error), close the file."""
        self.pending = []
        with suppress(Exception):  # the failure being raised matters more
            self.background.close()
        self.close_file()


def record_shards(out_dir: Path, stats: dict) -> None:
    """The part's completion record: its closed shards (`config/NNNNN.parquet` -> bytes) in the
    stats of its done-marker, so a follower (`curate push --follow`) uploads exactly these files
    once the part is marked, while later parts are still being written."""
    stats["shards"] = {p.relative_to(out_dir).as_posix(): p.stat().st_size
                       for p in sorted(out_dir.glob("*/*.parquet")) if not p.parent.name.startswith("_")}


TRACE_IDS = "_trace_ids"  # per part: the trace ids each config received (beside, not among, its shards)


def save_trace_ids(out_dir: Path, trace_ids: dict[str, list]) -> None:
    """Keep the part's trace ids per config, for the finalize check whatever columns are written."""
    folder = out_dir / TRACE_IDS
    folder.mkdir(exist_ok=True)
    for name, arrays in trace_ids.items():
        pq.write_table(pa.table({"trace_id": pa.chunked_array(arrays, pa.string())}), folder / f"{name}.parquet")


def check_unique_trace_ids(rd, stage_dir: Path, configs: list[str], all_config: str | None) -> None:
    """The invariant of a published dataset: no config (nor the `all` config) holds a trace twice."""
    groups = {name: [name] for name in configs}
    if all_config:
        groups[all_config] = configs
    for label, names in groups.items():
        files = [f for name in names for f in rd.scratch_files(stage_dir, f"{TRACE_IDS}/{name}.parquet")]
        if not files:
            continue
        # ParquetFile, not read_table: read_table imports pandas
        ids = pa.concat_tables([pq.ParquetFile(f).read() for f in files])["trace_id"].drop_null()
        counts = pc.value_counts(ids)
        repeated = counts.filter(pc.greater(counts.field("counts"), scalar(1)))
        if len(repeated):
            first = repeated[0]
            raise CurateError(
                f"dataset config '{label}' would hold {len(repeated)} trace_id(s) more than once "
                f"({pc.sum(repeated.field('counts')).as_py()} rows), e.g. {first['values']} "
                f"x{first['counts']}; nothing was published.",
                "A published row is one trace. Look for the copies with `curate inspect` on the stages "
                "before write: a source with several rows per problem needs its `sample_idx` (or trace) "
                "column mapped, and duplicate problem rows need a `filter` with `max_per_problem` or "
                "`dedup` before `generate`.")


def link_shards(shards: list[Path], folder: Path, split: str) -> list[str]:
    """Hard-link (or copy) shards as <split>-XXXXX-of-YYYYY.parquet; return the relative names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, shard in enumerate(shards):
        name = f"{split}-{i:05d}-of-{len(shards):05d}.parquet"
        target = folder / name
        try:
            os.link(shard, target)
        except OSError:
            shutil.copyfile(shard, target)
        names.append(f"{folder.name}/{name}")
    return names
