"""The quickstart recipe end to end on the sample corpus: a publishable folder that loads."""

from pathlib import Path

import datasets
import polars as pl
import pytest
import yaml

from curate.recipe import load_recipe
from curate.runner import run_recipe

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("quickstart") / "run"
    manifest = run_recipe(load_recipe(ROOT / "recipes" / "quickstart.yaml"), run_dir, progress=False)
    return run_dir, manifest


def card_configs(dataset: Path) -> list[dict]:
    text = (dataset / "README.md").read_text()
    return yaml.safe_load(text.split("---\n")[1])["configs"]


def test_every_config_loads_with_datasets_and_polars(quickstart):
    run_dir, _ = quickstart
    dataset = run_dir / "dataset"
    configs = card_configs(dataset)
    assert sum(1 for c in configs if c.get("default")) == 1
    for config in configs:
        for entry in config["data_files"]:
            ds = datasets.load_dataset(str(dataset), config["config_name"], split=entry["split"])
            assert len(ds) > 0
            assert ds.features["messages"] == datasets.List(
                {"content": datasets.Value("string"), "role": datasets.Value("string")})
            paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
            frame = pl.concat([pl.read_parquet(str(dataset / p)) for p in paths])
            assert frame.height == len(ds)
            assert frame["messages"].dtype == pl.List(pl.Struct({"content": pl.String, "role": pl.String}))


def test_rows_are_accounted_for(quickstart):
    """Every loaded row is in the dataset or in rejected/ (nothing is lost)."""
    import pyarrow.parquet as pq

    run_dir, manifest = quickstart
    loaded = manifest["stages"][0]["rows_out"]
    rejected = sum(pq.read_metadata(p).num_rows for p in (run_dir / "rejected").rglob("*.parquet"))
    published = sum(pq.read_metadata(p).num_rows for p in (run_dir / "dataset").rglob("*.parquet")
                    if p.parent.name != "all")
    mixed_out = sum(s.get("rows_out", 0) for s in manifest["stages"].values() if s["name"] == "write")
    assert published == mixed_out
    assert loaded == published + rejected


def test_rerun_does_no_work_and_changes_no_byte(quickstart):
    run_dir, _ = quickstart
    before = {p: p.read_bytes() for p in (run_dir / "dataset").rglob("*") if p.is_file()}
    manifest = run_recipe(load_recipe(ROOT / "recipes" / "quickstart.yaml"), run_dir, progress=False)
    after = {p: p.read_bytes() for p in (run_dir / "dataset").rglob("*") if p.is_file()}
    assert after == before
    assert all(s["parts_done"] == s["parts"] for s in manifest["stages"].values())


def test_the_planted_infinite_loop_is_the_one_timeout(quickstart):
    """The quickstart's short `code_timeout` (1 s, so a first run is quick) still catches the
    sample's planted infinite loop as a `timeout`, and times out no other program: the sample's
    tests run in milliseconds (0.65 s was the slowest seen at a load average of 11 on 2 cores).
    Math rows are not counted: their deadline (2 s an answer) is another setting."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.publish.report import write_report
    from curate.rundir import RunDir

    run_dir, manifest = quickstart
    assert load_recipe(ROOT / "recipes" / "quickstart.yaml").stages[1].config["code_timeout"] == 1
    rd = RunDir(run_dir)
    verify = next(i for i, s in manifest["stages"].items() if s["name"] == "verify")
    table = pa.concat_tables([pq.read_table(rd.part_path(rd.stage_dir_at(verify), p))
                              for p in range(manifest["num_parts"])])
    code = [r for r in table.select(["domain", "problem", "answer", "verdict"]).to_pylist() if r["domain"] == "code"]
    timeouts = [r for r in code if r["verdict"] == "timeout"]
    assert len(timeouts) == 1 and "digit_sum" in timeouts[0]["problem"], timeouts
    assert "while True" in timeouts[0]["answer"]
    assert sum(r["verdict"] == "pass" for r in code) >= len(code) // 2  # the correct programs pass
    assert 'class="chip timeout">timeout' in write_report(run_dir).read_text()  # shown in the run report
