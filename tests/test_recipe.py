import pytest

from curate.errors import RecipeError
from curate.recipe import apply_override, load_recipe

BASE = """\
name: demo
seed: 1
sources:
  - path: data.jsonl
    domain: math
stages:
  - use: filter
    verdict: [pass]
  - use: write
"""


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_valid_recipe_loads_and_prepends_load(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE))
    assert [e.use for e in recipe.stage_entries()] == ["load", "filter", "write"]
    assert recipe.stage_entries()[0].config["sources"][0]["path"] == "data.jsonl"


def test_malformed_yaml_names_the_line(tmp_path):
    with pytest.raises(RecipeError, match=r"r.yaml:3:\d+: invalid YAML: mapping values"):
        load_recipe(write(tmp_path, "name: x\nseed: 1\nsources: a: b\n"))


def test_unknown_stage_key_names_path_line_and_nearest_key(tmp_path):
    text = BASE.replace("verdict: [pass]", "verdcit: [pass]")
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text))
    assert "r.yaml:8: stages[0] (filter).verdcit: unknown field" in info.value.message
    assert info.value.hint == "did you mean 'verdict'?"


def test_unknown_top_level_key_suggests(tmp_path):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, BASE.replace("seed: 1", "sead: 1")))
    assert "r.yaml:2: sead: unknown field" in info.value.message
    assert "seed" in info.value.hint


def test_unknown_source_key_suggests(tmp_path):
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, BASE.replace("domain: math", "domian: math")))
    assert "sources[0].domian" in info.value.message and "r.yaml:5" in info.value.message
    assert "domain" in info.value.hint


def test_unknown_stage_name(tmp_path):
    with pytest.raises(RecipeError, match="unknown stage 'filtr'") as info:
        load_recipe(write(tmp_path, BASE.replace("use: filter", "use: filtr")))
    assert "filter" in info.value.hint


def test_wrong_type_names_the_field(tmp_path):
    with pytest.raises(RecipeError, match=r"stages\[0\] \(filter\)\.max_per_problem"):
        load_recipe(write(tmp_path, BASE.replace("verdict: [pass]", "max_per_problem: lots")))


def test_set_overrides_by_index_and_by_name(tmp_path):
    path = write(tmp_path, BASE)
    recipe = load_recipe(path, ["seed=7", "stages.filter.verdict=[pass, fail]", "stages.1.split=test"])
    assert recipe.seed == 7
    assert recipe.stages[0].config["verdict"] == ["pass", "fail"]
    assert recipe.stages[1].config["split"] == "test"


def test_set_override_errors_are_clear():
    raw = {"stages": [{"use": "filter"}]}
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        apply_override(raw, "seed")
    with pytest.raises(RecipeError, match="no item named 'dedup'"):
        apply_override(raw, "stages.dedup.threshold=0.9")
    with pytest.raises(RecipeError, match="out of range"):
        apply_override(raw, "stages.5.x=1")


def test_set_override_is_validated(tmp_path):
    with pytest.raises(RecipeError, match="unknown field"):
        load_recipe(write(tmp_path, BASE), ["stages.filter.nonsense=1"])


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_set_override_by_an_ambiguous_stage_name_lists_the_indexes():
    """The README's `--set stages.filter.finish_reason=...` on a recipe with two filters."""
    raw = {"stages": [{"use": "load"}, {"use": "filter"}, {"use": "dedup"}, {"use": "filter"}]}
    with pytest.raises(RecipeError, match=r"'filter' is ambiguous: items \[1, 3\]") as info:
        apply_override(raw, "stages.filter.finish_reason=[stop, length]")
    assert "stages.1.finish_reason or stages.3.finish_reason" in info.value.hint
    assert raw["stages"][1] == {"use": "filter"} and raw["stages"][3] == {"use": "filter"}
    apply_override(raw, "stages.3.finish_reason=[stop, length]")
    assert raw["stages"][3]["finish_reason"] == ["stop", "length"]
    apply_override(raw, "stages.dedup.threshold=0.9")
    assert raw["stages"][2]["threshold"] == 0.9


def test_every_typo_is_reported_at_once_with_its_line(tmp_path):
    text = (BASE.replace("seed: 1", "sead: 1").replace("domain: math", "domian: math")
            .replace("verdict: [pass]", "verdcit: [pass]\n    finish_reasn: [stop]")
            + "  - use: dedpu\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text))
    lines = info.value.message.splitlines()
    assert lines[0].startswith("5 problems in ") and lines[0].endswith("r.yaml:"), lines
    expected = ["r.yaml:2: sead: unknown field (did you mean 'seed'?)",
                "r.yaml:5: sources[0].domian: unknown field (did you mean 'domain'?)",
                "r.yaml:8: stages[0] (filter).verdcit: unknown field (did you mean 'verdict'?)",
                "r.yaml:9: stages[0] (filter).finish_reasn: unknown field (did you mean 'finish_reason'?)",
                "r.yaml:11: stages[2]: unknown stage 'dedpu'"]
    for want in expected:
        assert any(want in line for line in lines[1:]), (want, lines)
    assert "more problem" not in info.value.message


def test_a_lazily_imported_block_validates_and_hints_only_when_given(tmp_path):
    """decontam's `paraphrase` model (the judge's) is imported only when a recipe gives the block;
    given, it validates as a nested model: its errors keep their place, unknown keys their hint."""
    import subprocess
    import sys

    code = ("import sys\nfrom curate.stages.decontam import Decontam\n"
            "Decontam(benchmarks=['b.jsonl'])\nprint('curate.stages.judging' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
    from curate.stages.decontam import Decontam
    from curate.stages.judging import ParaphraseConfig

    stage = Decontam(benchmarks=["b.jsonl"], paraphrase={"teacher": "vllm", "model": "m", "top_k": 2})
    assert isinstance(stage.config.paraphrase, ParaphraseConfig) and stage.config.paraphrase.top_k == 2
    assert stage.max_parallel == 1 and stage.config_dict()["paraphrase"]["top_k"] == 2
    text = ("name: x\nsources:\n  - path: a.jsonl\nstages:\n  - use: decontam\n    benchmarks: [b.jsonl]\n"
            "    paraphrase:\n      teacher: openai\n      model: m\n      top_kk: 2\n")
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text))
    assert "r.yaml:10: stages[0] (decontam).paraphrase.top_kk: unknown field" in info.value.message
    assert info.value.hint == "did you mean 'top_k'?"
