"""The run directory: where every stage's parts, markers, rejects and reports live.

    RUN/recipe.resolved.yaml     the recipe as run (overrides applied)
    RUN/manifest.json            per stage: fingerprint, parts, counts, timings
    RUN/NN-stage/part-XXXXX.parquet     output parts (TRACE_SCHEMA)
    RUN/NN-stage/_done/part-XXXXX.json  completion marker with the part's counts
    RUN/NN-stage/_fingerprint.json      the stage's fingerprint and config
    RUN/NN-stage/artifacts/             prepare-phase output (MinHash clusters, indexes)
    RUN/NN-stage/scratch/part-XXXXX/    per-part caches (the generation request cache)
    RUN/rejected/NN-stage/part-XXXXX.parquet   dropped rows with stage and reason
    RUN/reports/                 human-readable reports
    RUN/dataset/                 the publishable Hub folder

A part file is written under a temporary name, renamed into place, and only then marked done,
so a crash leaves either nothing or a complete part; an unmarked part is simply redone.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from curate.schema import REJECTED_SCHEMA, TRACE_SCHEMA


def part_name(part: int) -> str:
    return f"part-{part:05d}"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ---- layout
    def stage_dir(self, index: int, name: str) -> Path:
        return self.path / f"{index:02d}-{name}"

    def part_path(self, stage_dir: Path, part: int) -> Path:
        return stage_dir / f"{part_name(part)}.parquet"

    def rejected_path(self, stage_dir: Path, part: int) -> Path:
        return self.path / "rejected" / stage_dir.name / f"{part_name(part)}.parquet"

    def marker(self, stage_dir: Path, part: int) -> Path:
        return stage_dir / "_done" / f"{part_name(part)}.json"

    def scratch(self, stage_dir: Path, part: int) -> Path:
        return stage_dir / "scratch" / part_name(part)

    @property
    def reports(self) -> Path:
        return self.path / "reports"

    @property
    def dataset(self) -> Path:
        return self.path / "dataset"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def recipe_path(self) -> Path:
        return self.path / "recipe.resolved.yaml"

    def recipe(self):
        """The recipe as run (overrides applied), from `recipe.resolved.yaml`."""
        from curate.errors import CurateError
        from curate.recipe import load_recipe

        if not self.recipe_path.exists():
            raise CurateError(f"{self.path} is not a curate run directory (no recipe.resolved.yaml).")
        return load_recipe(self.recipe_path)

    def ensure_writable(self) -> None:
        """Create the run directory and prove it takes a file, before any work starts; a
        read-only or unwritable one is a `DiskError` naming it."""
        from curate.errors import disk_error

        probe = self.path / f".write-probe-{os.getpid()}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise disk_error(error, None, self.path) or error

    def stage_dirs(self) -> list[Path]:
        if not self.path.exists():
            return []
        return sorted(p for p in self.path.iterdir() if p.is_dir() and p.name[:2].isdigit())

    # ---- markers
    def is_done(self, stage_dir: Path, part: int) -> bool:
        return self.marker(stage_dir, part).exists()

    def mark_done(self, stage_dir: Path, part: int, stats: dict[str, Any]) -> None:
        write_json_atomic(self.marker(stage_dir, part), stats)

    def part_stats(self, stage_dir: Path) -> dict[int, dict]:
        done = stage_dir / "_done"
        if not done.exists():
            return {}
        return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in sorted(done.glob("*.json"))}

    def flag(self, stage_dir: Path, name: str) -> Path:
        return stage_dir / f"_{name}"

    # ---- manifest
    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)

    def clear_from(self, stage_index: int) -> list[str]:
        """Delete stage folders (and their rejects) from `stage_index` on; return their names."""
        removed = []
        for d in self.stage_dirs():
            if int(d.name[:2]) >= stage_index:
                shutil.rmtree(d)
                shutil.rmtree(self.path / "rejected" / d.name, ignore_errors=True)
                removed.append(d.name)
        if removed:
            shutil.rmtree(self.dataset, ignore_errors=True)
        return removed


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    except OSError:  # a full disk: leave no half-written temporary behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


class AtomicParquetWriter:
    """Stream tables into `path` through a temporary file; `commit` renames it into place.

    Tables are encoded and compressed on a helper thread (`curate.background`), so the stage
    that produces them keeps computing meanwhile. Parts are transient (the next stage reads them
    once): zstd level 1 favours speed over size.
    """

    def __init__(self, path: Path, schema: pa.Schema = TRACE_SCHEMA, **options):
        from curate.background import Background

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.schema, self.rows = path, schema, 0
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        options.setdefault("compression", "zstd")
        options.setdefault("compression_level", 1)
        self.writer: pq.ParquetWriter | None = pq.ParquetWriter(self.tmp, schema, **options)
        self.background = Background(self.writer.write_table)

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.background.submit(table.cast(self.schema) if table.schema != self.schema else table)
            self.rows += table.num_rows

    def commit(self) -> int:
        self.background.close()
        self.writer.close()
        self.writer = None
        os.replace(self.tmp, self.path)
        return self.rows

    def abort(self) -> None:
        """Drop the temporary file (no-op after commit)."""
        if self.writer is not None:
            try:
                self.background.close()
            except Exception:  # noqa: BLE001 - already failing; the temporary file goes anyway
                pass
            try:
                self.writer.close()
            except OSError:  # e.g. the disk is full: the temporary file goes anyway
                pass
            self.writer = None
        self.tmp.unlink(missing_ok=True)


def write_parquet_atomic(
    path: Path, tables: Iterable[pa.Table], schema: pa.Schema = TRACE_SCHEMA, **options
) -> int:
    """Stream tables into `path` via a temporary file and an atomic rename; return the row count."""
    writer = AtomicParquetWriter(path, schema, **options)
    try:
        for table in tables:
            writer.write(table)
        return writer.commit()
    finally:
        writer.abort()


def write_rejected(path: Path, table: pa.Table | None, stage: str) -> int:
    """Write a part's rejected rows (with `reject_stage`) atomically; remove stale files if none."""
    if table is None or table.num_rows == 0:
        path.unlink(missing_ok=True)
        return 0
    table = table.append_column("reject_stage", pa.array([stage] * table.num_rows, pa.string()))
    table = table.select(REJECTED_SCHEMA.names)
    return write_parquet_atomic(path, [table], REJECTED_SCHEMA)
