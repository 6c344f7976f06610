"""The generate stage on the real vLLM engine (CPU build) and the tiny model."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import vllm_fixtures
from click.testing import CliRunner
from vllm_fixtures import MAX_MODEL_LEN, engine_options, need_vllm

from curate.fingerprint import digest
from curate.schema import from_rows
from curate.stages.base import run_stage_on
from curate.stages.generate import Generate

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model  # the session's tiny model (a fixture)


def problems(count: int, *, domain: str = "math") -> list[dict]:
    return [{"id": f"p{i}", "problem": f"What is {i} + {i}?", "domain": domain, "source": "t",
             "reference": str(2 * i), "extra": json.dumps({"level": i})} for i in range(count)]


def test_n4_keeps_every_sample_with_ids_and_token_counts(tiny_model, tmp_path):
    stage = Generate(**engine_options(tiny_model, n=4, max_tokens=12, prefill="<think>\n",
                                      user_template="Level {level}: {problem} Answer in \\boxed{}."))
    out, ctx = run_stage_on(stage, from_rows(problems(5)), tmp_path)
    rows = out.to_pylist()
    assert len(rows) == 20
    assert [(r["id"], r["sample_idx"]) for r in rows] == [(f"p{i}", s) for i in range(5) for s in range(4)]
    sampling = json.loads(rows[0]["sampling"])
    assert sampling["n"] == 4 and sampling["max_tokens"] == 12
    for r in rows:
        assert r["trace_id"] == digest(r["id"], r["sample_idx"], r["teacher"], r["sampling"], length=32)
        assert r["teacher"].startswith("tiny-llama@local-")
        assert r["finish_reason"] in ("stop", "length")
        assert 1 <= r["completion_tokens"] <= 12
        assert (r["completion_tokens"] == 12) == (r["finish_reason"] == "length")
        assert r["reference"] is not None and json.loads(r["extra"]) == {"level": int(r["id"][1:])}
    assert len({r["trace_id"] for r in rows}) == 20
    # prompt tokens are exactly the rendered template's tokens
    tokenizer = stage_tokenizer(stage)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Level 1: What is 1 + 1? Answer in \\boxed{}."}],
                                         tokenize=False, add_generation_prompt=True) + "<think>\n"
    assert rows[4]["prompt_tokens"] == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert ctx.counters["samples"] == 20 and ctx.counters["requests_sent"] == 5
    assert ctx.counters["output_tokens"] == sum(r["completion_tokens"] for r in rows)
    assert ctx.stats["truncation_rate"] == pytest.approx(
        sum(r["finish_reason"] == "length" for r in rows) / 20)


def stage_tokenizer(stage: Generate):
    from curate.teachers import make_teacher

    return make_teacher(stage.config).tokenizer()


def test_rerun_replays_the_cache_and_new_sampling_is_not_reused(tiny_model, tmp_path):
    rows = from_rows(problems(3))
    stage = Generate(**engine_options(tiny_model, n=2, max_tokens=8))
    first, ctx1 = run_stage_on(stage, rows, tmp_path)
    again, ctx2 = run_stage_on(stage, rows, tmp_path)
    assert ctx1.counters["requests_sent"] == 3
    assert ctx2.counters["requests_sent"] == 0 and ctx2.counters["requests_cached"] == 3
    assert again.equals(first)
    hotter = Generate(**engine_options(tiny_model, n=2, max_tokens=8, temperature=1.0))
    changed, ctx3 = run_stage_on(hotter, rows, tmp_path)
    assert ctx3.counters["requests_sent"] == 3
    assert set(changed["trace_id"].to_pylist()).isdisjoint(first["trace_id"].to_pylist())


def test_prompt_longer_than_context_is_recorded_per_row(tiny_model, tmp_path):
    rows = problems(3)
    rows[1]["problem"] = "What is 1 + 1? " * 200
    stage = Generate(**engine_options(tiny_model, n=2, max_tokens=8))
    out, ctx = run_stage_on(stage, from_rows(rows), tmp_path)
    by_id = {}
    for r in out.to_pylist():
        by_id.setdefault(r["id"], []).append(r)
    assert [len(v) for v in by_id.values()] == [2, 2, 2]
    for r in by_id["p1"]:
        assert r["finish_reason"] == "prompt_too_long" and r["answer"] is None and r["verdict"] is None
        assert r["prompt_tokens"] > MAX_MODEL_LEN
        assert f"max_model_len is {MAX_MODEL_LEN}" in json.loads(r["extra"])["generate_error"]
    assert all(r["finish_reason"] in ("stop", "length") for r in by_id["p0"] + by_id["p2"])
    assert ctx.counters["finish_reason: prompt_too_long"] == 2


def test_rows_outside_domains_pass_through(tiny_model, tmp_path):
    rows = problems(2) + [{"id": "g0", "problem": "hi", "answer": "hello", "domain": "general"}]
    stage = Generate(**engine_options(tiny_model, n=3, max_tokens=4, domains=["math"]))
    out, _ = run_stage_on(stage, from_rows(rows), tmp_path)
    general = [r for r in out.to_pylist() if r["domain"] == "general"]
    assert len(out) == 7 and general[0]["answer"] == "hello" and general[0]["teacher"] is None


def test_cli_generate_and_dry_run(tiny_model, tmp_path):
    from curate.cli.group import cli

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"problem": p["problem"]}) + "\n" for p in problems(4)))
    options = engine_options(tiny_model, n=2, max_tokens=6)
    args = ["generate", str(source), str(tmp_path / "out"), "--model", str(tiny_model),
            "--n", "2", "--max-tokens", "6", "--enforce-eager", "--gpu-memory-utilization", "0.3",
            "--max-model-len", str(MAX_MODEL_LEN), "--cpu-kv-cache-gb", "1",
            "--engine-kwargs", json.dumps(options["engine_kwargs"]), "--system-prompt", "Be brief."]
    preview = CliRunner().invoke(cli, args + ["--dry-run"])
    assert preview.exit_code == 0, preview.output
    assert "<|system|>\nBe brief.<|end|>\n<|user|>\nWhat is 0 + 0?" in preview.output
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out" / "01-generate" / "part-00000.parquet")
    assert table.num_rows == 8 and set(table["system"].to_pylist()) == {"Be brief."}
    stats = json.loads((tmp_path / "out" / "01-generate" / "_done" / "part-00000.json").read_text())
    assert stats["counters"]["samples"] == 8
    assert {"output_tokens_per_s", "truncation_rate", "gpu_hours"} <= set(stats["stats"])


def test_missing_model_path_says_what_to_do(tmp_path):
    need_vllm()
    from curate.errors import CurateError

    stage = Generate(**engine_options(tmp_path / "nope", n=1))
    with pytest.raises(CurateError, match="does not exist") as info:
        run_stage_on(stage, from_rows(problems(1)), tmp_path)
    assert "build_tiny_model" in info.value.hint


def test_quickstart_generate_recipe_runs_on_the_session_engine(tiny_model, tmp_path):
    """The CPU recipe end to end; engine settings overridden to share the session's engine."""
    from pathlib import Path

    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    recipe_path = Path(__file__).resolve().parent.parent / "recipes" / "quickstart-generate.yaml"
    load_recipe(recipe_path)  # valid as shipped
    shared = engine_options(tiny_model, n=4, max_tokens=8)
    overrides = [f"stages.generate.{key}={json.dumps(value)}" for key, value in shared.items()
                 if key not in ("teacher", "n")]
    overrides += ["stages.generate.build_tiny_model=false", "stages.load.rows_per_part=200"]
    manifest = run_recipe(load_recipe(recipe_path, overrides), tmp_path / "run", progress=False)
    stages = {s["name"]: s for s in manifest["stages"].values()}
    generated = stages["generate"]
    assert generated["rows_out"] == 4 * generated["rows_in"] > 0
    assert generated["counters"]["samples"] == generated["rows_out"]
    assert stages["write"]["rows_out"] == generated["rows_out"]
    check_compute_cost(tmp_path / "run", generated, accepted=stages["write"]["rows_out"])


def check_compute_cost(run_dir, generated: dict, *, accepted: int) -> None:
    """The card and report show CPU-hours per 1k accepted traces, from generate's part records."""
    from curate.publish.card import number
    from curate.publish.cost import compute_cost
    from curate.publish.report import write_report

    markers = sorted((run_dir / generated["dir"] / "_done").glob("part-*.json"))
    records = [json.loads(p.read_text())["stats"] for p in markers]
    assert records and all(r["device"] == "cpu" and r["devices"] >= 1 and r["engine_seconds"] > 0 for r in records)
    hours = sum(r["engine_seconds"] * r["devices"] for r in records) / 3600
    [cost] = compute_cost(run_dir, [generated], accepted)
    assert cost["device"] == "CPU" and cost["hours"] == pytest.approx(hours, rel=5e-3)
    assert cost["per_thousand"] == pytest.approx(hours * 1000 / accepted, rel=5e-3)
    card = (run_dir / "dataset" / "README.md").read_text()
    assert f"| CPU | {number(cost['hours'])} CPU-hours | {number(cost['per_thousand'])} |" in card
    assert "GPU-hours" not in card.replace("not GPU-hours", "")
    html = write_report(run_dir).read_text()
    assert "CPU-hours per 1k accepted traces" in html and f"{cost['per_thousand']:g}" in html


def test_tiny_model_is_built_once_and_never_over_a_foreign_folder(tmp_path):
    from curate.errors import CurateError
    from curate.teachers.tiny_model import MARKER, ensure_tiny_model

    need_vllm()
    built = ensure_tiny_model(tmp_path / "tiny")
    assert (built / "config.json").exists() and (built / MARKER).exists()
    stamp = (built / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(built) == built and (built / "model.safetensors").stat().st_mtime_ns == stamp
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(CurateError, match="not a curate tiny model"):
        ensure_tiny_model(foreign)
    config = json.loads((built / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["num_key_value_heads"],
            config["head_dim"], config["num_hidden_layers"]) == (128, 2, 1, 64, 2)


def test_engine_startup_failure_shows_the_engines_reason(tiny_model, tmp_path):
    """In a subprocess, so the session's engine stays up: the CLI prints vLLM's own message."""
    import subprocess
    import sys

    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"problem": "1+1?"}) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "curate", "generate", str(source), str(tmp_path / "out"), "--model",
         str(tiny_model), "--max-model-len", "100000", "--enforce-eager", "--cpu-kv-cache-gb", "1",
         "--gpu-memory-utilization", "0.3"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert "Error: the vLLM engine failed to start" in result.stderr
    assert "max_model_len" in result.stderr.split("Error:")[-1]  # the engine's reason, not a bare exit
    assert "Hint:" in result.stderr


BROKEN_TORCHVISION = 'raise RuntimeError("operator torchvision::nms does not exist")\n'


def test_vllm_that_cannot_import_is_an_error_with_the_command_to_run(tiny_model, tmp_path):
    """The index's torchvision beside the CPU torch breaks `from vllm import LLM` (through
    transformers): a `curate run` says so in two lines, with the uninstall line, no traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(BROKEN_TORCHVISION)
    (tmp_path / "p.jsonl").write_text(json.dumps({"problem": "What is 1 + 1?", "reference": "2"}) + "\n")
    (tmp_path / "r.yaml").write_text(
        "name: t\nsources: [{path: p.jsonl, domain: math}]\n"
        f"stages: [{{use: generate, teacher: vllm, model: {tiny_model}}}]\n")
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(repo)])}
    result = subprocess.run([sys.executable, "-m", "curate", "run", str(tmp_path / "r.yaml"),
                             "--run-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, env=env, timeout=600, check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in out, out[-3000:]
    assert "Error: vLLM cannot be imported: torchvision" in out
    assert "operator torchvision::nms does not exist" in out
    assert "Hint: Remove them, then run again: pip uninstall -y torchvision torchaudio torchcodec" in out
    shown = [line.rsplit("\r", 1)[-1] for line in result.stderr.splitlines()]  # as a terminal shows it
    assert any(line.startswith("Error: vLLM cannot be imported") for line in shown), shown


ENGINE_LOG_CHILD = """
import logging, multiprocessing as mp, sys
from curate.teachers.vllm import import_vllm

def child():  # what vLLM's engine-core process does: configure logging from the environment
    from vllm.config.logging import LoggingConfig
    from vllm.logger import configure_logging
    configure_logging(LoggingConfig())
    logging.getLogger("vllm.engine").warning("from the engine process")

if __name__ == "__main__":
    import_vllm()
    logging.getLogger("vllm.config").warning("from the driver")
    proc = mp.get_context("spawn").Process(target=child)
    proc.start()
    proc.join()
    sys.exit(proc.exitcode)
"""


def test_engine_logs_go_to_the_run_log_file_in_driver_and_engine_processes(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    need_vllm()
    log = tmp_path / "logs" / "engine.log"
    script = tmp_path / "child.py"
    script.write_text(ENGINE_LOG_CHILD)
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo), "CURATE_ENGINE_LOG": str(log)}
    env.pop("VLLM_LOGGING_CONFIG_PATH", None)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    text = log.read_text()
    assert "from the driver" in text and "from the engine process" in text
    assert "from the driver" not in result.stdout + result.stderr
    assert "from the engine process" not in result.stdout + result.stderr


def test_run_routes_engine_logs_unless_verbose(tmp_path, monkeypatch, write_jsonl, write_recipe):
    import os

    from curate.cli import cli

    monkeypatch.delenv("CURATE_ENGINE_LOG", raising=False)
    write_jsonl("m.jsonl", [{"problem": "1 + 1?"}])
    recipe = write_recipe({"name": "v", "sources": [{"path": "m.jsonl", "domain": "math"}],
                           "stages": [{"use": "write"}]})
    result = CliRunner().invoke(cli, ["run", str(recipe), "--run-dir", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert os.environ["CURATE_ENGINE_LOG"] == str((tmp_path / "run" / "logs" / "engine.log").resolve())
    monkeypatch.delenv("CURATE_ENGINE_LOG")
    result = CliRunner().invoke(cli, ["run", str(recipe), "--run-dir", str(tmp_path / "run"), "--quiet", "-v"])
    assert result.exit_code == 0, result.output
    assert "CURATE_ENGINE_LOG" not in os.environ
