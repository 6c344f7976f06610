"""A full disk or a read-only run directory is a DiskError naming the stage and part, never a
traceback; finished parts are kept and a rerun after freeing space is byte-identical.

The disks are real: a small tmpfs (root only; skipped elsewhere), filled by the run itself."""

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from curate.errors import DiskError, disk_errno
from curate.recipe import validate_recipe
from curate.runner import run_recipe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tmpfs of the given size; returns (path, remount(options))."""
    mounted = []

    def mount(size: str) -> Path:
        path = tmp_path / "disk"
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True)
        if done.returncode:
            if os.environ.get("CI"):  # CI runs as root: a disk test that cannot mount must not pass
                pytest.fail(f"cannot mount a tmpfs in CI: {done.stderr.decode().strip()}")
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
        mounted.append(path)
        return path

    yield mount, lambda options: subprocess.run(["mount", "-o", f"remount,{options}", str(mounted[0])], check=True)
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def write_input(path: Path, rows: int = 20_000) -> Path:
    """Problems of random letters: they compress poorly, so each part takes ~0.5 MB on disk."""
    rng = random.Random(0)
    with open(path, "w") as fh:
        for i in range(rows):
            text = "".join(rng.choice("abcdefghij ") for _ in range(200))
            fh.write(json.dumps({"problem": f"Q{i} {text}", "answer": str(i)}) + "\n")
    return path


def filter_recipe(source: Path):
    return validate_recipe({"name": "disk", "sources": [{"path": str(source)}],
                            "stages": [{"use": "load", "rows_per_part": 4000}, {"use": "filter"}]})


def parts(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "01-filter").glob("part-*.parquet"))}


def test_full_disk_is_an_error_and_the_rerun_after_freeing_space_is_byte_identical(tmp_path, tmpfs):
    mount, remount = tmpfs
    source = write_input(tmp_path / "in.jsonl")
    reference = tmp_path / "reference"
    run_recipe(filter_recipe(source), reference, progress=False)

    disk = mount("2m")
    run = disk / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "curate", "filter", str(source), str(run), "--rows-per-part", "4000"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == DiskError.exit_code, done.stderr
    assert "Traceback" not in done.stderr
    # the fused chain's part fills the disk in whichever of its stages writes last (the filter's
    # part, or load's done-marker after it)
    assert re.search(r"Error: no space left on device while writing stage 0[01]-(load|filter) part \d", done.stderr)
    assert " MB free in " in done.stderr and "finished parts are kept" in done.stderr
    finished = sorted(p.stem for p in (run / "01-filter" / "_done").glob("*.json"))
    assert finished and len(finished) < 5  # some parts finished before the disk filled up
    assert sorted(p.stem for p in (run / "01-filter").glob("part-*.parquet")) == finished
    assert not list(run.rglob(".*tmp*"))  # the unfinished part left no temporary file

    remount("size=20m")  # free space
    run_recipe(filter_recipe(source), run, progress=False)
    assert parts(run) == parts(reference) and len(parts(run)) == 5


def test_read_only_run_directory_is_refused_before_any_work(tmp_path, tmpfs):
    mount, remount = tmpfs
    source = write_input(tmp_path / "in.jsonl", rows=100)
    disk = mount("4m")
    run_recipe(filter_recipe(source), disk / "done", progress=False)
    remount("ro")
    with pytest.raises(DiskError) as info:
        run_recipe(filter_recipe(source), disk / "new", progress=False)
    assert info.value.message == f"run directory {disk / 'new'} is not writable (read-only file system)."
    with pytest.raises(DiskError, match="is not writable"):  # resuming one that exists
        run_recipe(filter_recipe(source), disk / "done", progress=False)


def test_disk_errors_are_recognised_by_errno_or_by_message():
    assert disk_errno(OSError(28, "No space left on device")) == 28
    assert disk_errno(OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")) == 28
    assert disk_errno(OSError(30, "Read-only file system")) == 30
    assert disk_errno(OSError(2, "No such file or directory")) is None
    assert disk_errno(ValueError("No space left on device")) is None
