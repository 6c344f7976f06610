"""A generation killed mid-part (SIGKILL) resumes: only the missing requests are sent, same rows."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import vllm_fixtures
from click.testing import CliRunner
from vllm_fixtures import engine_options

from curate.schema import from_rows
from curate.stages.base import run_stage_on
from curate.stages.generate import Generate

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model

PROBLEMS = 40


# `curate` with a pause after each cache commit: the engine (its own process) keeps finishing
# requests while we record them slowly, so the kill reliably lands mid-part with requests in
# flight, however fast the machine is.
SLOW_CURATE = """
import sys
import time

from curate.teachers.cache import RequestCache

commit = RequestCache.commit


def slow_commit(self):
    commit(self)
    time.sleep(0.2)


RequestCache.commit = slow_commit

if __name__ == "__main__":
    from curate.cli.group import main

    sys.argv[0] = "curate"
    main()
"""


def cli_args(source: Path, out: Path, model: Path) -> list[str]:
    options = engine_options(model, n=2, max_tokens=64)
    return ["generate", str(source), str(out), "--model", str(model), "--n", "2",
            "--max-tokens", "64", "--enforce-eager", "--gpu-memory-utilization", "0.3",
            "--max-model-len", str(options["max_model_len"]), "--cpu-kv-cache-gb", "1",
            "--engine-kwargs", json.dumps(options["engine_kwargs"])]


def cached(db: Path) -> dict[str, str]:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        try:
            return dict(conn.execute("SELECT key, response FROM responses").fetchall())
        except sqlite3.OperationalError:  # table not created yet
            return {}


def kill_when_cached(proc: subprocess.Popen, db: Path, *, at_least: int, timeout: float = 600) -> None:
    """SIGKILL the whole process group as soon as the cache holds `at_least` responses."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if len(cached(db)) >= at_least:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    pytest.fail(f"the generation ended before {at_least} cached responses (exit {proc.returncode})")


def warm_engine(model: Path) -> None:
    from curate.teachers import make_teacher

    make_teacher(Generate(**engine_options(model, n=2, max_tokens=64)).config).start()


def test_killed_run_resumes_sending_only_missing_requests(tiny_model, tmp_path):
    from curate.cli.group import cli

    source = tmp_path / "in.jsonl"
    rows = [{"id": f"q{i:02d}", "problem": f"Compute {i} * {i + 3}."} for i in range(PROBLEMS)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    stage_dir = out / "01-generate"
    db = stage_dir / "scratch" / "part-00000" / "requests.sqlite"
    log = open(tmp_path / "killed.log", "w")  # noqa: SIM115
    script = tmp_path / "slow_curate.py"
    script.write_text(SLOW_CURATE)
    proc = subprocess.Popen([sys.executable, str(script), *cli_args(source, out, tiny_model)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    warm_engine(tiny_model)  # this process's engine starts while the other one works
    kill_when_cached(proc, db, at_least=3)
    before = cached(db)
    assert 3 <= len(before) < PROBLEMS, "kill the run mid-part"
    assert not (stage_dir / "part-00000.parquet").exists()
    assert not (stage_dir / "_done" / "part-00000.json").exists()

    result = CliRunner().invoke(cli, cli_args(source, out, tiny_model))
    assert result.exit_code == 0, result.output
    counters = json.loads((stage_dir / "_done" / "part-00000.json").read_text())["counters"]
    assert counters["requests_cached"] == len(before)
    assert counters["requests_sent"] == PROBLEMS - len(before)
    after = cached(db)
    assert {k: after[k] for k in before} == before  # replayed, not regenerated
    table = pq.read_table(stage_dir / "part-00000.parquet")
    assert table.num_rows == 2 * PROBLEMS
    assert len(set(table["trace_id"].to_pylist())) == 2 * PROBLEMS

    # the same rows as a run that was never interrupted (per-request seeds make samples reproducible)
    fresh = Generate(**engine_options(tiny_model, n=2, max_tokens=64))
    loaded = pq.read_table(out / "00-load" / "part-00000.parquet")
    reference, _ = run_stage_on(fresh, loaded, tmp_path / "fresh")
    assert reference.equals(table)


def test_sampling_rows_do_not_depend_on_part_boundaries(tiny_model, tmp_path):
    rows = from_rows([{"id": f"r{i}", "problem": f"{i} + {i}?"} for i in range(6)])
    stage = Generate(**engine_options(tiny_model, n=2, max_tokens=16))
    whole, _ = run_stage_on(stage, rows, tmp_path / "whole")
    first, _ = run_stage_on(stage, rows.slice(0, 2), tmp_path / "a")
    second, _ = run_stage_on(stage, rows.slice(2), tmp_path / "b")
    import pyarrow as pa

    assert pa.concat_tables([first, second]).equals(whole)
