"""`curate eval` on the real vLLM engine (CPU build, tiny model): generation, caching, resume, report.

The tiny model writes noise, so the figures are not checked here (tests/test_eval.py checks them
against a scripted server); what is checked is the machinery: an `eval` recipe run by `curate
run`, one run folder per model, cost from the engine, and a resumed part answered from the
request cache with the same result.
"""

from __future__ import annotations

import json

import pytest
import vllm_fixtures
import yaml
from click.testing import CliRunner
from vllm_fixtures import engine_options

from curate.cli import cli
from curate.rundir import RunDir

pytestmark = pytest.mark.vllm
tiny_model = vllm_fixtures.tiny_model


def write_recipe(tmp_path, model) -> str:
    rows = [{"id": f"q{i}", "problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(6)]
    (tmp_path / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    models = [{"name": "cool", **engine_options(model, max_tokens=8, temperature=0.6)},
              {"name": "hot", **engine_options(model, max_tokens=8, temperature=1.0)}]
    recipe = {"kind": "eval", "name": "tiny", "benchmark": "set.jsonl", "n": 2, "rows_per_part": 3,
              "models": models, "verify": {"checkers": 1}, "bootstrap": 100}
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def run(recipe, run_dir):
    result = CliRunner().invoke(cli, ["run", recipe, "--run-dir", str(run_dir), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((run_dir / "eval.json").read_text())


def test_eval_recipe_generates_caches_and_resumes(tiny_model, tmp_path):
    recipe, run_dir = write_recipe(tmp_path, tiny_model), tmp_path / "run"
    first = run(recipe, run_dir)
    assert [m["name"] for m in first["models"]] == ["cool", "hot"]
    for model in first["models"]:
        assert model["cost"]["device"] == "cpu" and model["cost"]["engine_seconds"] > 0
        assert 0 < model["cost"]["completion_tokens"] <= 6 * 2 * 8
        summary = first["results"][model["name"]]["all"]
        assert summary["samples"] == 12 and set(summary["pass@k"]) == {"1", "2"}
        assert 0 < summary["tokens_per_sample"] <= 8
    # lose part 1 of one model's generate (as a crash would): only it is redone, from the cache
    rd = RunDir(run_dir / "models" / "hot")
    generate = rd.stage_dirs_named("generate")[0]
    rd.marker(generate, 1).unlink()
    again = run(recipe, run_dir)
    marker = json.loads(rd.marker(generate, 1).read_text())
    assert marker["counters"]["requests_cached"] == 3 and marker["counters"].get("requests_sent", 0) == 0
    assert again["results"] == first["results"]
    assert (run_dir / "eval.html").exists() and "| hot | all | 6 |" in (run_dir / "eval.md").read_text()
