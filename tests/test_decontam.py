"""The decontam stage in real runs, and the `curate decontaminate` / `curate benchmarks` commands."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli.group import cli
from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.stages.base import PrepareContext, run_stage_on
from curate.stages.decontam import Decontam

SAMPLE = Path(__file__).resolve().parent.parent / "recipes" / "data"
LEAKS = {"m-leak-01": ["mini:mb-02"], "m-leak-02": ["mini:mb-05"], "m-leak-03": ["mini:mb-04"],
         "m-leak-04": ["mini:mb-08"], "m-near-const-01": ["mini:mb-01 (template)"]}  # mb-01, another constant


def make_recipe(folder: Path, write_recipe, *, rows_per_part: int = 40, sub: str = "", keep_templates: bool = False,
                **decontam) -> Path:
    """A recipe in folder/sub naming its benchmark by a path relative to the recipe."""
    (folder / sub / "evals").mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE / "mini_benchmark.jsonl", folder / sub / "evals" / "mini.jsonl")
    return write_recipe({
        "name": "dq", "seed": 3,
        "sources": [{"path": str(SAMPLE / "math.jsonl"), "domain": "math", "trace": "generation",
                     "columns": {"problem": "question", "reference": "gold", "sample_idx": "sample"}}],
        "stages": [{"use": "load", "rows_per_part": rows_per_part},
                   {"use": "decontam", "benchmarks": ["evals/mini.jsonl"], **decontam},
                   {"use": "filter", "drop_contaminated": True, "keep_templates": keep_templates}],
    }, name=str(Path(sub) / "recipe.yaml"))


def stage_rows(run: Path, folder: str = "01-decontam") -> list[dict]:
    table = pa.concat_tables([pq.read_table(p) for p in sorted((run / folder).glob("part-*.parquet"))])
    return table.to_pylist()


def by_uid(rows: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(json.loads(row["extra"])["uid"], row["contaminated"])
    return out


def test_stage_annotates_the_sample_plants_and_writes_the_report(tmp_path, write_recipe):
    manifest = run_recipe(load_recipe(make_recipe(tmp_path, write_recipe)), tmp_path / "run", progress=False)
    flags = by_uid(stage_rows(tmp_path / "run"))
    assert {uid: keys for uid, keys in flags.items() if keys} == LEAKS
    assert manifest["stages"][2]["rejected"] == sum(1 for r in stage_rows(tmp_path / "run") if r["contaminated"])
    report = json.loads((tmp_path / "run" / "reports" / "decontam.json").read_text())
    assert report["pack_version"] and report["benchmarks"][0]["revision"].startswith("sha256:")
    assert {h["item_id"] for h in report["hits"]} == {"mb-01", "mb-02", "mb-04", "mb-05", "mb-08"}
    assert all(h["field"] == "problem" and h["excerpt_spans"] for h in report["hits"])
    for ext in ("md", "html"):
        assert "mb-04" in (tmp_path / "run" / "reports" / f"decontam.{ext}").read_text()
    assert manifest["stages"][1]["prepare_stats"]["items"] == 12


def test_output_and_report_do_not_depend_on_part_count(tmp_path, write_recipe):
    runs = []
    for parts in (17, 500):
        folder = tmp_path / f"p{parts}"
        recipe = make_recipe(tmp_path, write_recipe, rows_per_part=parts, sub=folder.name)
        run_recipe(load_recipe(recipe), folder / "run", progress=False)
        rows = sorted((r["trace_id"], r["contaminated"]) for r in stage_rows(folder / "run"))
        runs.append((rows, (folder / "run" / "reports" / "decontam.json").read_text()))
    assert runs[0][0] == runs[1][0]
    strip = [json.loads(r[1]) for r in runs]
    for r in strip:  # only the benchmark file's path differs (it lives in each tmp folder)
        for b in r["benchmarks"]:
            b.pop("path")
    assert strip[0] == strip[1]


def test_flag_mode_flags_the_same_rows_without_details(tmp_path, write_recipe):
    recipe = make_recipe(tmp_path, write_recipe, mode="flag")
    run_recipe(load_recipe(recipe), tmp_path / "run", progress=False)
    assert {u: k for u, k in by_uid(stage_rows(tmp_path / "run")).items() if k} == LEAKS
    assert json.loads((tmp_path / "run" / "reports" / "decontam.json").read_text())["hits"] == []


def test_stage_on_a_table_merges_earlier_hits(tmp_path):
    stage = Decontam(benchmarks=[str(SAMPLE / "mini_benchmark.jsonl")], fields={"problem": 8, "reasoning": 13})
    stage.prepare(PrepareContext(inputs=[], artifacts=tmp_path))
    table = pa.table({"id": ["a", "b", "c"], "domain": ["math"] * 3,
                      "problem": ["Compute $17 \\cdot 23$.", "What is 2+2?", "Something else entirely here."],
                      "reasoning": [None, None, ("How many positive integers less than 500 are divisible by 3 or "
                                    "by 7, but not by both? I recall this one.")],
                      "contaminated": [None, ["older:x"], None]},
                     schema=pa.schema([("id", pa.string()), ("domain", pa.string()), ("problem", pa.string()),
                                       ("reasoning", pa.string()), ("contaminated", pa.list_(pa.string()))]))
    out, ctx = run_stage_on(stage, table, tmp_path)
    assert out.column("contaminated").to_pylist() == [["mini_benchmark:mb-08"], ["older:x"], ["mini_benchmark:mb-02"]]
    assert ctx.counters["rows_contaminated"] == 3
    assert [h["field"] for h in ctx.stats["decontam_hits"]] == ["problem", "reasoning"]


def test_filter_keeps_template_copies_when_asked(tmp_path, write_recipe):
    run_recipe(load_recipe(make_recipe(tmp_path, write_recipe, keep_templates=True)), tmp_path / "run", progress=False)
    kept = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "run" / "02-filter").glob("part-*.parquet"))])
    flagged = [c for c in kept.column("contaminated").to_pylist() if c]
    assert flagged and all(k.endswith(" (template)") for c in flagged for k in c)


def test_an_empty_benchmark_file_is_an_error_naming_it_and_the_loaded_ones(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "r1", "problem": "What is 2+2?"}) + "\n")
    result = CliRunner().invoke(cli, ["decontaminate", str(src), "-b", f"{SAMPLE / 'mini_benchmark.jsonl'},{empty}",
                                      "--report", str(tmp_path / "r")])
    assert result.exit_code == 3 and not (tmp_path / "r").exists()  # an input error
    assert "empty benchmark 'empty'" in result.output and str(empty) in result.output
    assert "mini_benchmark (12 items)" in result.output


def test_config_refuses_unknown_fields_and_bad_n():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="cannot check field 'question'"):
        Decontam(benchmarks=["aime24"], fields={"question": 8})
    with pytest.raises(ValidationError, match="between 1 and 64"):
        Decontam(benchmarks=["aime24"], fields={"problem": 0})


def test_decontaminate_command_writes_three_reports_and_annotated_output(tmp_path):
    out = tmp_path / "annotated.parquet"
    result = CliRunner().invoke(cli, [
        "decontaminate", str(SAMPLE / "math.jsonl"), "-b", str(SAMPLE / "mini_benchmark.jsonl"),
        "--report", str(tmp_path / "rep"), "--field", "question=8", "--field", "generation=13",
        "--id-column", "uid", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "9 of 136 rows contain benchmark items" in result.output
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["decontam.html", "decontam.json", "decontam.md"]
    report = json.loads((tmp_path / "rep" / "decontam.json").read_text())
    assert {h["row_id"] for h in report["hits"]} == set(LEAKS)
    table = pq.read_table(out)
    assert sum(1 for c in table.column("contaminated").to_pylist() if c) == 9


def test_decontaminate_names_missing_columns(tmp_path):
    result = CliRunner().invoke(cli, ["decontaminate", str(SAMPLE / "math.jsonl"), "-b",
                                      str(SAMPLE / "mini_benchmark.jsonl"), "--report", str(tmp_path)])
    assert result.exit_code == 1
    assert "Columns: uid, question" in result.output and "--field COLUMN=N" in result.output


def test_benchmarks_list_and_show():
    runner = CliRunner()
    listed = runner.invoke(cli, ["benchmarks", "list"])
    assert listed.exit_code == 0
    for name in ("aime24", "aime25", "amc23", "math500", "gpqa_diamond", "livecodebench", "humaneval", "mbpp",
                 "gsm8k", "olympiadbench"):
        assert name in listed.output
    shown = json.loads(runner.invoke(cli, ["benchmarks", "show", "lcb"]).output)
    assert shown["hub_id"] == "livecodebench/code_generation_lite" and "release_v5" in shown["versions"]
    unknown = runner.invoke(cli, ["benchmarks", "show", "math5000"])
    assert unknown.exit_code == 1 and "did you mean 'math500'" in unknown.output


def test_stage_subcommand_runs_from_the_shell(tmp_path):
    rows = [{"id": "r1", "problem": "How many positive integers less than 500 are divisible by 3 or by 7, "
             "but not by both?"}, {"id": "r2", "problem": "An unrelated question about apples."}]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(cli, ["decontam", str(src), str(tmp_path / "out"), "--benchmarks",
                                      str(SAMPLE / "mini_benchmark.jsonl")])
    assert result.exit_code == 0, result.output
    got = {r["id"]: r["contaminated"] for r in stage_rows(tmp_path / "out")}
    assert got == {"in:r1": ["mini_benchmark:mb-02"], "in:r2": []}  # ids scoped by the source name
    assert (tmp_path / "out" / "reports" / "decontam.html").exists()


def test_merged_marks_visit_only_marked_rows_and_equal_the_per_row_merge():
    """`contaminated` after a scan: each row's old keys plus those found, sorted; rows with
    neither (null or empty) get an empty list, as the per-row merge gave."""
    from curate.stages.decontam import list_column, merged_marks

    n = 50
    old = [None if i % 4 else ([] if i % 8 == 0 else [f"old:{i % 3}", "b:2"]) for i in range(n)]
    found = [frozenset()] * n
    for i in (1, 4, 6, 12, 49):
        found[i] = {"b:2", f"a:{i}"} if i % 2 else {"c:1 (template)"}
    existing = pa.chunked_array([pa.array(old[:17], pa.list_(pa.string())), pa.array(old[17:], pa.list_(pa.string()))])
    want = [sorted(set(o or []) | f) for o, f in zip(old, found)]
    got = merged_marks(existing, found)
    assert got == want and list_column(got).equals(list_column(want))
    assert merged_marks(pa.nulls(3, pa.list_(pa.string())), [frozenset()] * 3) == [[], [], []]
