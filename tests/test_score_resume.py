"""A scoring run killed mid-part (SIGKILL) resumes: only the missing sequences are scored."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import vllm_fixtures
from click.testing import CliRunner
from test_generate_resume import cached, kill_when_cached
from test_score import teacher_model  # noqa: F401 (the session's teacher, a fixture)
from vllm_fixtures import engine_options

from curate.part_task import read_part
from curate.rundir import RunDir
from curate.schema import from_rows
from curate.stages.base import run_stage_on
from curate.stages.score import Score

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model
ROWS = 40
# curate with each scored sequence handed over 0.2 s after the last (the cache is written on a
# helper thread, so slowing its commits would not slow the part), to kill it mid-part
SLOW_CURATE = """
import sys
import time

from curate.teachers.scoring import VllmScorer

to_response = VllmScorer.to_response


def slow_to_response(self, output, request):
    time.sleep(0.2)
    return to_response(self, output, request)


VllmScorer.to_response = slow_to_response

if __name__ == "__main__":
    from curate.cli.group import main

    sys.argv[0] = "curate"
    main()
"""


def student_rows(model) -> list[dict]:
    """Completions of random token ids, as generate with `logprobs` records them."""
    from transformers import AutoTokenizer

    from curate.teachers.tokenizer_id import identity, identity_json

    tokenizer = AutoTokenizer.from_pretrained(model)
    ident = identity_json(identity(tokenizer, name="student", revision=None))
    rng = random.Random(1)
    return [{"id": f"q{i:02d}", "sample_idx": 0, "trace_id": f"t{i:02d}", "problem": f"Compute {i} * 3.",
             "tokenizer": ident, "token_ids": [rng.randrange(10, len(tokenizer)) for _ in range(48)],
             "token_logprobs": [-2.0] * 48} for i in range(ROWS)]


def cli_args(source, out, model) -> list[str]:
    options = engine_options(model, logprobs=3)
    return ["score", str(source), str(out), "--model", str(model), "--logprobs", "3", "--enforce-eager",
            "--gpu-memory-utilization", "0.3", "--max-model-len", str(options["max_model_len"]),
            "--cpu-kv-cache-gb", "1", "--engine-kwargs", json.dumps(options["engine_kwargs"])]


def test_killed_scoring_resumes_scoring_only_what_is_missing(teacher_model, tmp_path):  # noqa: F811
    from curate.cli.group import cli

    source = tmp_path / "rollouts.parquet"
    pq.write_table(from_rows(student_rows(teacher_model)), source)
    out = tmp_path / "run"
    stage_dir = out / "01-score"
    db = stage_dir / "scratch" / "part-00000" / "requests.sqlite"
    script = tmp_path / "slow_curate.py"
    script.write_text(SLOW_CURATE)
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen([sys.executable, str(script), *cli_args(source, out, teacher_model)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
        kill_when_cached(proc, db, at_least=3)
    before = cached(db)
    assert 3 <= len(before) < ROWS, "kill the run mid-part"
    assert not (stage_dir / "part-00000.parquet").exists()

    result = CliRunner().invoke(cli, cli_args(source, out, teacher_model))
    assert result.exit_code == 0, result.output
    counters = json.loads((stage_dir / "_done" / "part-00000.json").read_text())["counters"]
    assert counters["sequences_cached"] == len(before)
    assert counters["sequences_sent"] == ROWS - len(before)
    after = cached(db)
    assert {k: after[k] for k in before} == before  # replayed, not rescored
    table = pq.read_table(stage_dir / "part-00000.parquet")
    assert table.num_rows == ROWS and table["teacher_logprobs"].null_count == 0

    # the same scores as a run that was never interrupted
    fresh = Score(**engine_options(teacher_model, logprobs=3))
    loaded = pa.concat_tables(pa.table(b) for b in read_part(RunDir(out), 0, 0))  # load's part (a view: tables)
    reference, _ = run_stage_on(fresh, loaded, tmp_path / "f")
    for column in ("teacher_logprobs", "advantages", "teacher_top_ids"):
        assert reference[column].to_pylist() == table[column].to_pylist()
