"""The dataset card: valid Hub metadata (parsed back with huggingface_hub's DatasetCard), one
default config, dataset_info generated from the written schema, stage numbers equal to the
manifest's, plots next to it, nothing time-dependent, and every section read defensively from
whatever the verify/dedup/decontam stages recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from publish_helpers import make_run

from curate.cli.group import cli
from curate.publish import card_facts
from curate.publish.card import render_body
from curate.publish.cost import compute_cost
from curate.recipe import validate_recipe
from curate.schema import from_rows
from curate.stages.write import Write


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def card(run_dir):
    from huggingface_hub import DatasetCard

    return DatasetCard.load(run_dir / "dataset" / "README.md")


def test_metadata_parses_with_one_default(card):
    data = card.data.to_dict()
    for key in ("license", "language", "task_categories", "size_categories", "tags", "pretty_name",
                "source_datasets", "configs"):
        assert data.get(key), key
    assert data["license"] == "cc-by-4.0" and data["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in data["configs"]] == ["reasoning", "general", "all"]
    assert [c["config_name"] for c in data["configs"] if c.get("default")] == ["all"]
    assert data["configs"][2]["data_files"][0]["path"] == ["reasoning/train-*", "general/train-*"]


def test_dataset_info_comes_from_the_written_schema(card, run_dir):
    from datasets import Features

    infos = {i["config_name"]: i for i in card.data.to_dict()["dataset_info"]}
    for name, rows in {"reasoning": 110, "general": 30, "all": 140}.items():
        assert infos[name]["splits"][0]["num_examples"] == rows
    schema = pq.read_schema(next((run_dir / "dataset" / "general").glob("*.parquet")))
    assert Features._from_yaml_list(infos["general"]["features"]) == Features.from_arrow_schema(schema)


def table_rows(text: str, heading: str) -> list[list[str]]:
    """The first Markdown table after `heading`, without its header rows."""
    lines = text.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([c.strip() for c in line.strip().strip("|").split("|")])
    return table[2:]


def test_stage_numbers_match_the_manifest(card, run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    rows = table_rows(card.text, "### Stages")
    expected = [s for s in card_facts.ordered_stages(manifest) if s["name"] != "write"]
    assert [r[0] for r in rows] == [s["dir"] for s in expected]
    for row, stage in zip(rows, expected):
        assert [int(v.replace(",", "")) for v in row[1:4]] == [stage["rows_in"], stage["rows_out"], stage["rejected"]]
    assert "finish_reason not in ['stop']: 12" in card.text


def test_mix_table_matches_the_prepare_stats(card, run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    groups = manifest["stages"]["2"]["prepare_stats"]["mix_groups"]
    rows = {r[0]: r for r in table_rows(card.text, "### Mix")}
    for group, g in groups.items():
        assert rows[group][1:4] == [str(g["available"]), str(g["target"]), str(g["kept"])]
    assert rows["**total**"][3] == "**140**"


def test_plots_sit_next_to_the_card(card, run_dir):
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card.text)
    assert "plots/token_lengths.png" in links
    for link in links:
        assert (run_dir / "dataset" / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_has_no_timings_and_the_command_reproduces_it(card, run_dir):
    text = (run_dir / "dataset" / "README.md").read_text()
    assert "second" not in text.lower() and "elapsed" not in text.lower()
    plot = (run_dir / "dataset" / "plots" / "token_lengths.png").read_bytes()
    result = CliRunner().invoke(cli, ["card", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (run_dir / "dataset" / "README.md").read_text() == text
    assert (run_dir / "dataset" / "plots" / "token_lengths.png").read_bytes() == plot


def test_card_command_explains_a_run_without_dataset(tmp_path):
    (tmp_path / "recipe.resolved.yaml").write_text("name: x\nsources: [{path: a.jsonl}]\n")
    result = CliRunner().invoke(cli, ["card", str(tmp_path)])
    assert result.exit_code != 0 and "no written dataset" in result.output and "Hint:" in result.output


# ---------------------------------------------------------------- sections from other stages


def fake_run(tmp_path: Path) -> tuple[Path, dict]:
    """A run directory whose verify/dedup/decontam outputs and stats are written by hand."""
    rows = []
    planted = {(1, 0): ["aime24:7"], (1, 1): ["math500:3", "aime24:9"]}
    for p in range(3):
        for s in range(4):
            rows.append({"id": f"p{p}", "sample_idx": s, "trace_id": f"p{p}-{s}", "domain": "math",
                         "problem": f"problem {p}", "verdict": "pass" if s <= p else "fail",
                         "pass_rate": (p + 1) / 4,
                         "problem_stats": json.dumps({"pass@1": (p + 1) / 4, "pass@4": 1.0}),
                         "dup_of": "p0" if p == 2 else None,
                         "contaminated": planted.get((p, s), [])})
    table = from_rows(rows)
    stages = {}
    for i, name in enumerate(["load", "verify", "dedup", "decontam"]):
        folder = tmp_path / f"{i:02d}-{name}"
        folder.mkdir()
        pq.write_table(table, folder / "part-00000.parquet")
        stages[str(i)] = {"name": name, "dir": folder.name, "rows_in": 12, "rows_out": 12, "rejected": 0,
                          "counters": {"verdict: pass": 6, "wall_seconds": 3.2} if name == "verify" else {},
                          "prepare_stats": {"benchmarks": [{"name": "aime24", "revision": "abc123", "items": 30},
                                                           {"name": "math500", "revision": "def456", "items": 500}]}
                          if name == "decontam" else {}, "config": {}}
    manifest = {"stages": stages}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path, manifest


def test_sections_read_defensively_from_other_stages(tmp_path):
    run, manifest = fake_run(tmp_path)
    stages = card_facts.stages_before_write(manifest)
    assert card_facts.verdicts(run, stages) == {"math": {"fail": 6, "pass": 6}}
    passk = card_facts.pass_at_k(run, stages)["math"]
    assert passk["problems"] == 3 and passk["pass@4"] == 1.0 and passk["pass@1"] == pytest.approx(0.5)
    assert card_facts.duplicates(run, stages)["marked"] == 4
    hits = card_facts.contamination(run, stages)
    assert hits["rows"] == 2
    assert hits["hits"] == {"aime24": {"rows": 2, "distinct": 2, "templates": 0},
                            "math500": {"rows": 1, "distinct": 1, "templates": 0}}
    assert hits["checked"][0] == {"name": "aime24", "revision": "abc123", "items": 30}
    assert hits["items_checked"] == 530
    recipe = validate_recipe({"name": "fake", "sources": [{"path": "x.jsonl", "domain": "math"}]})
    facts = {"stages": card_facts.funnel(run, stages), "generation": {}, "verdicts": card_facts.verdicts(run, stages),
             "pass_at_k": card_facts.pass_at_k(run, stages), "duplicates": card_facts.duplicates(run, stages),
             "contamination": hits, "mix": {}, "tokens": {}, "rows": {"default": 12}, "total_rows": 12}
    body = render_body(recipe, facts, Write(), {"default": ["default/train-0.parquet"]}, [], "r1_mix.md.j2")
    assert "aime24 (revision `abc123`), 30 items; math500 (revision `def456`), 500 items (530 benchmark" in body
    assert "| aime24 | 2 | 2 | 0 |" in body and "decontaminated" in body and "| math | 3 | 0.5 |" in body
    assert "4 rows were marked as near-duplicates" in body
    assert "wall_seconds" not in body and "| verdict: pass | 6 |" in body


def test_a_decontam_stage_that_recorded_no_benchmark_is_not_called_decontamination(tmp_path):
    run, manifest = fake_run(tmp_path)
    manifest["stages"]["3"]["prepare_stats"] = {"benchmarks": [{"name": "empty", "items": 0}]}
    stages = card_facts.stages_before_write(manifest)
    hits = card_facts.contamination(run, stages)
    assert hits["checked"] == [] and hits["items_checked"] == 0
    recipe = validate_recipe({"name": "fake", "sources": [{"path": "x.jsonl", "domain": "math"}]})
    facts = {"stages": [], "generation": {}, "verdicts": {}, "pass_at_k": {}, "duplicates": {}, "contamination": hits,
             "mix": {}, "tokens": {}, "rows": {"default": 12}, "total_rows": 12}
    body = render_body(recipe, facts, Write(), {"default": ["default/train-0.parquet"]}, [], "r1_mix.md.j2")
    assert "decontaminated" not in body and "treat the data as NOT checked" in body


def test_missing_stages_leave_sections_out(tmp_path):
    empty = {"stages": {}}
    assert card_facts.verdicts(tmp_path, []) == {} and card_facts.contamination(tmp_path, []) == {}
    assert card_facts.mix([]) == {} and card_facts.stages_before_write(empty) == []


@pytest.mark.parametrize("key, timing", [("wall_seconds", True), ("tokens_per_s", True), ("gpu_hours", True),
                                         ("started_at", True), ("verdict: timeout", False), ("beta", False),
                                         ("metadata", False), ("rows", False)])
def test_timing_keys_are_told_from_look_alikes(key, timing):
    assert card_facts.is_timing(key) is timing


def test_card_features_spell_types_as_datasets_does():
    """The card's feature YAML is built without importing datasets; it must match datasets'."""
    import pyarrow as pa
    from datasets import Features

    from curate.publish.card_features import features

    schema = pa.schema([
        ("messages", pa.list_(pa.struct([("content", pa.string()), ("role", pa.string())]))),
        ("tags", pa.list_(pa.string())), ("grid", pa.list_(pa.list_(pa.int64()))),
        ("meta", pa.struct([("n", pa.int32()), ("items", pa.list_(pa.struct([("w", pa.float32())])))])),
        ("flag", pa.bool_()), ("score", pa.float64()), ("blob", pa.binary()), ("big", pa.large_string()),
        ("small", pa.int8()), ("count", pa.uint32()),
    ])
    assert features(schema) == Features.from_arrow_schema(schema)._to_yaml_list()
    assert features(pa.schema([("when", pa.timestamp("s"))])) is None  # left to datasets


def test_a_load_that_kept_no_parts_still_names_the_teacher(tmp_path, write_jsonl, write_recipe):
    """load -> write: load streams into write without keeping parts; the card reads the teacher
    (and pass rates) from the published shards instead."""
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    write_jsonl("t.jsonl", [{"question": f"Q{i}", "answer": str(i), "teacher": "big-teacher-v2", "pass_rate": 0.5,
                             "system": "Think step by step.", "sampling": '{"temperature": 0.6}'}
                            for i in range(12)])
    recipe = write_recipe({"name": "traces", "stages": [{"use": "load", "rows_per_part": 5}, {"use": "write"}],
                           "sources": [{"path": "t.jsonl", "domain": "math", "columns": {"problem": "question"}}]})
    run = tmp_path / "run"
    run_recipe(load_recipe(recipe), run, progress=False)
    assert not list((run / "00-load").glob("part-*.parquet"))
    text = (run / "dataset" / "README.md").read_text()
    assert "big-teacher-v2" in text
    # sampling and system prompt are not published columns: write counted them as it wrote
    assert "Think step by step." in text and "temperature" in text


def test_pass_at_k_figures_are_in_numeric_order(tmp_path):
    """pass@2 before pass@16 (as text, pass@16 came second), after the pass rate."""
    folder = tmp_path / "01-verify"
    folder.mkdir()
    rows = [{"id": "p0", "sample_idx": s, "trace_id": f"t{s}", "domain": "math", "pass_rate": 0.5,
             "problem_stats": json.dumps({"pass@16": 1.0, "pass@1": 0.5, "pass@2": 0.75})} for s in range(2)]
    pq.write_table(from_rows(rows), folder / "part-00000.parquet")
    stages = [{"name": "verify", "dir": folder.name}]
    assert list(card_facts.pass_at_k(tmp_path, stages)["math"]) == ["problems", "pass rate", "pass@1", "pass@2",
                                                                     "pass@16"]


def test_the_schema_block_is_written_once_for_configs_that_share_it(run_dir, card):
    """Three configs with one schema: one features block (a YAML anchor), three dataset_info entries."""
    text = (run_dir / "dataset" / "README.md").read_text()
    assert text.count("- name: messages") == 1 and text.count("features: *features") == 2
    infos = card.data.to_dict()["dataset_info"]
    assert [i["config_name"] for i in infos] == ["reasoning", "general", "all"]
    assert infos[0]["features"] == infos[1]["features"] == infos[2]["features"]
    assert infos[0]["features"][0]["name"] == "messages"


def test_stage_counters_have_readable_names(tmp_path):
    """dedup's `rows: 3` is the rows per LSH band, beside `rows_seen: 208`; verify's totals repeat
    its verdict counters."""
    from curate.publish.card_labels import readable_notes

    notes = readable_notes("dedup", {"rows": 3, "rows_seen": 208, "num_perm": 128, "new_counter": 1})
    assert notes == {"MinHash rows per LSH band": 3, "rows compared": 208, "MinHash permutations": 128,
                     "new counter": 1}
    assert readable_notes("load", {"rows": 208}) == {"rows in the sources": 208}
    assert readable_notes("verify", {"verdict: pass": 6, "totals.pass": 6}) == {"verdict: pass": 6}
    run, manifest = fake_run(tmp_path)
    manifest["stages"]["2"]["prepare_stats"] = {"rows": 3, "rows_seen": 12}
    rows = card_facts.funnel(run, card_facts.stages_before_write(manifest))
    assert rows[2]["notes"] == {"MinHash rows per LSH band": 3, "rows compared": 12}


def test_the_verdict_plot_shows_the_published_rows_beside_the_verified_ones(tmp_path):
    """A dataset of passing rows only must not be pictured by the verdicts of every verified trace."""
    from curate.publish.card import draw_plots

    run, manifest = fake_run(tmp_path)
    stages = card_facts.stages_before_write(manifest)
    dataset = tmp_path / "dataset"
    (dataset / "default").mkdir(parents=True)
    rows = [r for r in pq.read_table(run / "01-verify" / "part-00000.parquet").to_pylist() if r["verdict"] == "pass"]
    pq.write_table(from_rows(rows).select(["domain", "verdict"]), dataset / "default" / "train-0.parquet")
    published = card_facts.published_verdicts([dataset / "default" / "train-0.parquet"])
    assert published == {"math": {"pass": 6}}
    bars = card_facts.verdict_bars(card_facts.verdicts(run, stages), published)
    assert bars == {"math: verified": {"fail": 6, "pass": 6}, "math: published": {"pass": 6}}
    facts = {"verdicts": card_facts.verdicts(run, stages), "published_verdicts": published}
    plots = draw_plots(dataset, {"default": []}, facts)
    assert [p["file"] for p in plots] == ["plots/verdicts.png"] and "published" in plots[0]["title"]


# ---------------------------------------------------------------- compute cost


def cost_run(tmp_path: Path, parts: list[dict]) -> list[dict]:
    """A generate stage whose part markers record these stats (as generate writes them)."""
    done = tmp_path / "01-generate" / "_done"
    done.mkdir(parents=True)
    for i, stats in enumerate(parts):
        (done / f"part-{i:05d}.json").write_text(json.dumps({"rows_in": 1, "rows_out": 1, "stats": stats}))
    return [{"name": "load", "dir": "00-load"}, {"name": "generate", "dir": "01-generate"}]


def test_device_hours_per_thousand_accepted_traces(tmp_path):
    parts = [{"engine_seconds": 1800.0, "device": "gpu", "devices": 4},   # 2 GPU-hours
             {"engine_seconds": 900.0, "device": "gpu", "devices": 4},    # 1 GPU-hour
             {"engine_seconds": 0.0, "device": "gpu", "devices": 4},      # replayed from the cache
             {"engine_seconds": 50.0, "device": "server", "devices": 0},  # a remote server: not ours
             {"elapsed_seconds": 9.0}]                                    # an older curate: no record
    stages = cost_run(tmp_path, parts)
    cost = compute_cost(tmp_path, stages, 1500)
    assert cost == [{"device": "GPU", "hours": 3.0, "accepted": 1500, "per_thousand": 2.0}]
    assert compute_cost(tmp_path, stages, 0)[0]["per_thousand"] is None
    assert compute_cost(tmp_path, stages[:1], 1500) == []


def test_cpu_runs_report_cpu_hours_labelled_as_such(tmp_path):
    stages = cost_run(tmp_path, [{"engine_seconds": 36.0, "device": "cpu", "devices": 2}])
    cost = compute_cost(tmp_path, stages, 40)
    assert cost == [{"device": "CPU", "hours": 0.02, "accepted": 40, "per_thousand": 0.5}]
    recipe = validate_recipe({"name": "fake", "sources": [{"path": "x.jsonl", "domain": "math"}]})
    facts = {"stages": [], "generation": {}, "verdicts": {}, "pass_at_k": {}, "duplicates": {},
             "contamination": {}, "mix": {}, "tokens": {}, "rows": {"default": 40}, "total_rows": 40, "cost": cost}
    body = render_body(recipe, facts, Write(), {"default": ["default/train-0.parquet"]}, [], "r1_mix.md.j2")
    assert "| CPU | 0.02 CPU-hours | 0.5 |" in body and "not GPU-hours" in body and "GPU |" not in body


def test_verdict_counts_agree_with_counting_row_by_row():
    """The vectorised count gives what counting each row would: a missing or empty domain is
    `unknown`, a missing or empty verdict `unverified`, over columns of several chunks."""
    import random
    from collections import Counter

    import pyarrow as pa

    rng = random.Random(5)
    rows = [{"domain": rng.choice([None, "", "math", "code", "unknown"]),
             "verdict": rng.choice([None, "", "pass", "fail", "unverified"])} for _ in range(300)]
    table = pa.Table.from_pylist(rows)
    table = pa.concat_tables([table.slice(0, 120), table.slice(120)])
    expected: dict[str, Counter] = {}
    for row in rows:
        expected.setdefault(row["domain"] or "unknown", Counter())[row["verdict"] or "unverified"] += 1
    counted = card_facts._count_verdicts(table)
    assert counted == {d: dict(c) for d, c in expected.items()}
    assert list(counted) == sorted(expected) and all(list(c) == sorted(c) for c in counted.values())
