"""The CLI skin: error boundary, stage subcommands, inspect and status."""

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import cli

ROWS = [{"question": f"Q{i}?", "finish_reason": "stop" if i % 2 else "length", "answer": f"A{i}"}
        for i in range(6)]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_errors_become_error_and_hint_lines_with_an_exit_code(tmp_path):
    (tmp_path / "r.yaml").write_text("name: x\nsources:\n  - path: a.jsonl\n    domian: math\n")
    result = invoke("recipe", "validate", tmp_path / "r.yaml")
    assert result.exit_code == 2
    assert "Error: " in result.output and "sources[0].domian: unknown field" in result.output
    assert "Hint: did you mean 'domain'?" in result.output
    assert "Traceback" not in result.output


def test_stage_subcommand_reads_a_file_with_just_the_columns_it_needs(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [{"problem": r["question"], "finish_reason": r["finish_reason"],
                                     "answer": r["answer"]} for r in ROWS])
    result = invoke("filter", path, tmp_path / "out", "--finish-reason", "stop")
    assert result.exit_code == 0, result.output
    kept = pq.read_table(tmp_path / "out" / "01-filter" / "part-00000.parquet")
    assert kept["answer"].to_pylist() == ["A1", "A3", "A5"]
    rejected = pq.read_table(next((tmp_path / "out" / "rejected").rglob("*.parquet")))
    assert set(rejected["reject_reason"].to_pylist()) == {"finish_reason not in ['stop']"}
    # chaining: the next command reads the previous run directory
    again = invoke("filter", tmp_path / "out", tmp_path / "out2", "--max-chars", "1")
    assert again.exit_code == 0, again.output
    assert pq.read_table(tmp_path / "out2" / "01-filter" / "part-00000.parquet").num_rows == 0


def test_stage_subcommand_refuses_changed_options_without_force(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [{"problem": r["question"], "answer": r["answer"]} for r in ROWS])
    assert invoke("filter", path, tmp_path / "out", "--max-chars", "5").exit_code == 0
    refused = invoke("filter", path, tmp_path / "out", "--max-chars", "9")
    assert refused.exit_code == 4 and "max_chars: 5 -> 9" in refused.output
    assert invoke("filter", path, tmp_path / "out", "--max-chars", "9", "--force").exit_code == 0


def test_run_inspect_and_status(tmp_path, write_jsonl, write_recipe):
    write_jsonl("m.jsonl", ROWS)
    recipe = write_recipe({"name": "cli", "sources": [{"path": "m.jsonl", "domain": "math",
                                                       "columns": {"problem": "question"}}],
                           "stages": [{"use": "load", "rows_per_part": 2}, {"use": "write"}]})
    result = invoke("run", recipe, "--run-dir", tmp_path / "run", "--quiet")
    assert result.exit_code == 0, result.output
    assert "00-load" in result.output and "Dataset:" in result.output
    status = invoke("status", tmp_path / "run")
    assert "00-load" in status.output and "3/3" in status.output and "###" in status.output
    streamed = invoke("inspect", tmp_path / "run" / "00-load")
    assert streamed.exit_code != 0 and "holds no part files" in streamed.output and "keep_parts" in streamed.output
    kept = invoke("run", recipe, "--run-dir", tmp_path / "kept", "--quiet", "--set", "stages.load.keep_parts=true")
    assert kept.exit_code == 0, kept.output
    info = json.loads(invoke("inspect", tmp_path / "kept" / "00-load", "--json").output)
    assert info["rows"] == 6 and info["counts"]["domain"] == {"math": 6}
    assert info["schema"]["problem"] == "string"
    text = invoke("inspect", tmp_path / "m.jsonl").output
    assert "6 rows" in text and "question" in text


def test_status_of_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("status", tmp_path)
    assert result.exit_code == 3 and "not a curate run directory" in result.output


def test_recipe_show_fills_defaults(tmp_path, write_jsonl, write_recipe):
    write_jsonl("m.jsonl", ROWS)
    recipe = write_recipe({"name": "show", "sources": [{"path": "m.jsonl"}], "stages": [{"use": "filter"}]})
    out = invoke("recipe", "show", recipe, "--set", "seed=9").output
    assert "seed: 9" in out and "max_per_problem: null" in out and "keep: all" in out


def test_rerun_that_recomputes_nothing_says_so_and_marks_every_stage_reused(tmp_path, write_jsonl,
                                                                          write_recipe):
    write_jsonl("m.jsonl", ROWS)
    recipe = write_recipe({"name": "cli", "sources": [{"path": "m.jsonl", "domain": "math",
                                                       "columns": {"problem": "question"}}],
                           "stages": [{"use": "load", "rows_per_part": 2}, {"use": "filter"},
                                      {"use": "write"}]})

    def table(output: str) -> dict[str, str]:
        rows = [line.split() for line in output.splitlines() if line[:3] in ("00-", "01-", "02-")]
        return {row[0]: row[-1] for row in rows}

    first = invoke("run", recipe, "--run-dir", tmp_path / "run", "--quiet")
    assert first.exit_code == 0, first.output
    assert "Up to date" not in first.output
    assert set(table(first.output).values()) == {"computed"}
    again = invoke("run", recipe, "--run-dir", tmp_path / "run", "--quiet")
    assert again.exit_code == 0, again.output
    assert f"Up to date, nothing recomputed: all 3 stages reused from {tmp_path / 'run'}" in again.output
    assert table(again.output) == {"00-load": "reused", "01-filter": "reused", "02-write": "reused"}
    forced = invoke("run", recipe, "--run-dir", tmp_path / "run", "--quiet", "--force", "filter")
    assert "Up to date" not in forced.output
    assert table(forced.output)["01-filter"] == "computed"


def test_the_exit_after_a_command_skips_the_final_garbage_collection():
    """`curate` freezes the garbage collector when its command is done, so the interpreter's exit
    does not walk every object pyarrow, pandas and pydantic made (over a second under load)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import atexit, gc, sys\n"
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
            "from curate.cli import main\nsys.argv = ['curate', 'stages']\nmain()\n")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "verify" in done.stdout and done.stdout.strip().splitlines()[-1] == "frozen True"


def test_inspect_of_jsonl_reads_it_as_load_does(tmp_path):
    """Mixed types in a column (an int here, a string there) are shown as JSON text, not a
    pyarrow traceback, and a key the first line lacks is a column too."""
    data = tmp_path / "mixed.jsonl"
    data.write_text('{"a": 1, "b": "x"}\n{"a": "one", "b": null, "c": [1, 2]}\n')
    result = invoke("inspect", data, "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["rows"] == 2 and set(info["schema"]) == {"a", "b", "c"}


def test_version_says_which_kernels_run(monkeypatch):
    """`curate --version` names the version and, per command, the C build or numba (with where
    to read why), so a silent fallback to numba can be seen."""
    from curate import __version__
    from curate.decontam import native as decontam_native
    from curate.dedup import native as dedup_native

    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output == f"curate, version {__version__}\nkernels: dedup C, decontam C\n"
    monkeypatch.setattr(decontam_native, "_native", None)
    result = invoke("--version")
    assert "kernels: dedup C, decontam numba (no C build: see docs/getting-started.md#install)" in result.output
    assert dedup_native.available()
