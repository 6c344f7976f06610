"""The run directory: where every stage's parts, markers, rejects and reports live.

    RUN/recipe.resolved.yaml     the recipe as run (overrides applied)
    RUN/manifest.json            per stage: fingerprint, parts, counts, timings
    RUN/NN-stage/part-XXXXX.parquet     output parts (TRACE_SCHEMA)
    RUN/NN-stage/_done/part-XXXXX.json  completion marker with the part's counts
    RUN/NN-stage/_fingerprint.json      the stage's fingerprint and config
    RUN/NN-stage/_prepared, _finalized  the stage's prepare / finalize ran (empty flag files)
    RUN/NN-stage/artifacts/             prepare-phase output (MinHash clusters, indexes)
    RUN/NN-stage/scratch/part-XXXXX/    per-part caches (the generation request cache)
    RUN/NN-stage/_segments/part-XXXXX/  on object storage: what a running part saved so far
    RUN/rejected/NN-stage/part-XXXXX.parquet   dropped rows with stage and reason
    RUN/reports/                 human-readable reports (KIND.*, or numbered: `report_target`)
    RUN/dataset/                 the publishable Hub folder (assembled in RUN/.dataset.tmp/)
    RUN/_run.json                the run's state: running (pid, host, stage), finished, failed
    RUN/push/OWNER--NAME.json    `curate push --follow`'s record of blobs uploaded to a repo

Nothing else in curate spells these names (tests/test_rundir_layout.py holds it so): a module
that needs a path inside a run asks `RunDir`, and per-part files a stage keeps in its own
artifacts are named by `part_file_name`.

A part file is written under a temporary name, renamed into place, and only then marked done,
so a crash leaves either nothing or a complete part; an unmarked part is simply redone.

A run directory may also be a URL (`s3://bucket/run`, any fsspec store: `curate.storage`). Work
then happens in a local working copy (`path`), and `RunDir` moves files at fixed points: a
finished part's files are uploaded, then its marker, which names each file's size and sha256
(`mark_done`); prepare and finalize outputs likewise before their flag (`set_flag`); readers
fetch only what a marker or flag names (`fetch_part`, `fetch_flagged`, `pull`). See docs/storage.md.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

from curate.storage import WorkingCopy
from curate.storage.read_copy import ReadCopy
from curate.storage.working_copy import write_json_atomic  # noqa: F401 (re-exported)


def part_name(part: int) -> str:
    return f"part-{part:05d}"


def part_file_name(part: int) -> str:
    """`part-XXXXX.parquet`: a part's file name, also for per-part files in a stage's artifacts."""
    return f"{part_name(part)}.parquet"


_PARTS = "part-*.parquet"
_TEMPORARIES = ".*.tmp-*"  # what write_json_atomic and storage.parquet_files leave when killed


class RunDir(WorkingCopy, ReadCopy):
    """The paths of one run directory; every module asks here instead of building them."""

    def __init__(self, path: str | Path):
        from curate.storage import Store, is_url

        self.store: Store | None = Store(str(path)) if is_url(path) else None
        self.path = self.store.cache_dir() if self.store else Path(path)

    @property
    def location(self) -> str:
        """What another process opens this run by: its URL on object storage, else its path."""
        return self.store.url if self.store else str(self.path)

    # ---- recognising folders (a path given by the user: a run, a stage folder, a dataset)
    @staticmethod
    def is_run(path: str | Path) -> bool:
        """Is `path` a run directory (it holds a manifest)?"""
        from curate.storage import Store, is_url

        if is_url(path):
            return Store(str(path)).exists("manifest.json")
        return (Path(path) / "manifest.json").exists()

    @staticmethod
    def is_stage_dir(path: str | Path) -> bool:
        """Is `path` a stage folder of a run (it holds done-markers, whether or not it kept parts)?"""
        return (Path(path) / "_done").is_dir()

    @staticmethod
    def stage_index(stage_dir: Path) -> int:
        """The position of a stage folder (`NN-name`) in its recipe."""
        return int(stage_dir.name[:2])

    @staticmethod
    def parts(folder: Path) -> list[Path]:
        """The part files in a folder (a stage's parts, or one stage's rejects), in part order."""
        return sorted(Path(folder).glob(_PARTS))

    # ---- stage folders
    def stage_dir(self, index: int, name: str) -> Path:
        return self.path / f"{index:02d}-{name}"

    def stage_dirs(self) -> list[Path]:
        if not self.path.exists():
            return []
        return sorted(p for p in self.path.iterdir() if p.is_dir() and p.name[:2].isdigit())

    def stage_dir_at(self, index: int) -> Path:
        """The folder of stage `index` on disk, whatever its stage is called."""
        return next(d for d in self.stage_dirs() if self.stage_index(d) == index)

    def stage_dirs_named(self, name: str) -> list[Path]:
        """Folders of the stages called `name` (`NN-name`), in recipe order."""
        if not self.path.exists():
            return []
        return sorted(d for d in self.path.iterdir() if d.is_dir() and d.name.endswith(f"-{name}"))

    # ---- inside a stage folder
    def part_path(self, stage_dir: Path, part: int) -> Path:
        return stage_dir / part_file_name(part)

    def marker(self, stage_dir: Path, part: int) -> Path:
        return stage_dir / "_done" / f"{part_name(part)}.json"

    @staticmethod
    def markers(stage_dir: Path) -> list[Path]:
        """The stage's done-markers (one JSON per finished part, with its counts), in part order."""
        return sorted((stage_dir / "_done").glob("part-*.json"))

    @staticmethod
    def artifacts(stage_dir: Path) -> Path:
        """The stage's prepare output (MinHash clusters, indexes, stats.json)."""
        return stage_dir / "artifacts"

    def scratch(self, stage_dir: Path, part: int) -> Path:
        return stage_dir / "scratch" / part_name(part)

    def segments(self, stage_dir: Path, part: int):
        """Where a running part saves progress on object storage (`curate.storage.segments`);
        None for a local run, whose scratch folder keeps it."""
        from curate.storage.segments import Segments

        return Segments(self.store, self.rel(stage_dir / "_segments" / part_name(part))) if self.store else None

    @staticmethod
    def scratch_files(stage_dir: Path, pattern: str) -> list[Path]:
        """Files matching `pattern` in every part's scratch folder, in part order."""
        return sorted(stage_dir.glob(f"scratch/part-*/{pattern}"))

    @staticmethod
    def fingerprint_path(stage_dir: Path) -> Path:
        """The stage's fingerprint and the config it covers (`_fingerprint.json`)."""
        return stage_dir / "_fingerprint.json"

    def flag(self, stage_dir: Path, name: str) -> Path:
        """A phase marker of the stage (`_prepared`, `_finalized`)."""
        return stage_dir / f"_{name}"

    def remove_temporaries(self, stage_dir: Path) -> None:
        """Delete half-written files a crashed attempt left in the stage's folders."""
        for folder in (stage_dir, stage_dir / "_done", self.rejected_dir(stage_dir)):
            for tmp in folder.glob(_TEMPORARIES) if folder.exists() else ():
                tmp.unlink(missing_ok=True)

    # ---- rejects
    def rejected_dir(self, stage_dir: Path) -> Path:
        return self.path / "rejected" / stage_dir.name

    def rejected_path(self, stage_dir: Path, part: int) -> Path:
        return self.rejected_dir(stage_dir) / part_file_name(part)

    def rejected_parts(self, stage_dir: Path | None = None) -> list[Path]:
        """The reject files of one stage, or of every stage (by stage, then part)."""
        if stage_dir is not None:
            return self.parts(self.rejected_dir(stage_dir))
        return sorted((self.path / "rejected").glob(f"*/{_PARTS}"))

    # ---- reports, the dataset, the recipe and the manifest
    @property
    def reports(self) -> Path:
        return self.path / "reports"

    @property
    def eval_checks(self) -> Path:
        """Where `curate eval --train RUN` records which evaluation items RUN's data contains."""
        return self.path / "reports" / "eval_checks"

    def report_target(self, stage_dir: Path, kind: str, *, number: Literal["later", "every"] = "later") -> Path:
        """Where a stage writes its report of `kind` (the caller adds `.json`, `.md`, ...).

        `reports/KIND` when the run has one such stage. With several, `number="later"` (dedup)
        keeps `reports/KIND` for the first and gives each later one `reports/NN-KIND`;
        `number="every"` (decontam) gives each one `reports/KIND-NN`, counting the stages both on
        disk and in the recipe.
        """
        if number == "every":
            uses = [s for s in self.recipe_data().get("stages", []) if isinstance(s, dict) and s.get("use") == kind]
            several = max(len(self.stage_dirs_named(kind)), len(uses)) > 1
            return self.reports / (f"{kind}-{stage_dir.name[:2]}" if several else kind)
        earlier = [d for d in self.stage_dirs() if d.name.endswith(f"-{kind}") and d.name < stage_dir.name]
        return self.reports / (stage_dir.name if earlier else kind)

    @property
    def dataset(self) -> Path:
        return self.path / "dataset"

    @property
    def dataset_staging(self) -> Path:
        """Where `write` assembles the next `dataset/` before renaming it into place."""
        return self.path / ".dataset.tmp"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def engine_log(self) -> Path:
        """Where the engine's (vLLM's) log lines go unless `curate run -v`."""
        return self.path / "logs" / "engine.log"

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

    def recipe_data(self) -> dict[str, Any]:
        """The resolved recipe as plain YAML data, unvalidated ({} when there is none)."""
        if not self.recipe_path.exists():
            return {}
        import yaml

        return yaml.safe_load(self.recipe_path.read_text()) or {}

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
        if self.store:  # fail now, clearly, on credentials, the bucket or permissions
            if self.listed is None:  # a pull's listing has shown the bucket is there
                self.store.check_bucket()
            probe.write_bytes(b"")
            self.store.put(probe, probe.name)
            probe.unlink()
            self.store.delete(probe.name)

    # ---- the run's state and the push record (read by `curate push --follow`)
    @property
    def run_state_path(self) -> Path:
        return self.path / "_run.json"

    def read_run_state(self) -> dict[str, Any]:
        """The last state the runner recorded ({} for a run made before states were recorded)."""
        try:
            return json.loads(self.run_state_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def write_run_state(self, state: dict[str, Any]) -> None:
        """Record the run's state; on a store, upload it too (`curate push --follow` reads it there)."""
        from curate.errors import CurateError

        write_json_atomic(self.run_state_path, state)
        try:
            self.publish(self.run_state_path)
        except CurateError:  # advisory: a store that fails fails the run at its next upload anyway
            pass

    @property
    def push_dir(self) -> Path:
        return self.path / "push"

    def push_record(self, repo_id: str) -> Path:
        """Where a streaming push to `repo_id` records the blobs it has uploaded (and their hashes)."""
        return self.push_dir / f"{repo_id.replace('/', '--')}.json"

    # ---- markers
    def part_files(self, stage_dir: Path, part: int) -> list[Path]:
        """What a part consists of: its part file, its rejects and its scratch files (write's shards)."""
        scratch = self.scratch(stage_dir, part)
        kept = sorted(f for f in scratch.rglob("*") if f.is_file() and not f.name.startswith(".")) \
            if scratch.exists() else []
        return [self.part_path(stage_dir, part), self.rejected_path(stage_dir, part), *kept]

    def part_stats(self, stage_dir: Path) -> dict[int, dict]:
        return {int(p.stem.split("-")[1]): json.loads(p.read_text()) for p in self.markers(stage_dir)}

    # ---- manifest
    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.manifest_path, manifest)
        self.publish(self.manifest_path)

    def clear_from(self, stage_index: int) -> list[str]:
        """Delete stage folders (and their rejects) from `stage_index` on; return their names."""
        removed = []
        for d in self.stage_dirs():
            if self.stage_index(d) >= stage_index:
                shutil.rmtree(d)
                shutil.rmtree(self.rejected_dir(d), ignore_errors=True)
                removed.append(d.name)
        if removed:
            shutil.rmtree(self.dataset, ignore_errors=True)
        if removed and self.store:
            prefixes = [*removed, *(self.rel(self.rejected_dir(self.path / name)) for name in removed),
                        self.rel(self.dataset)]
            for prefix in prefixes:
                self.store.delete(prefix, recursive=True)
            self.forget(prefixes, prefix=True)
        return removed
