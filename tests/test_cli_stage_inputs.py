"""Single-stage commands read input like a recipe source: every column kept (unknown ones in
`extra`), `--domain` and `--columns`, and no silent `unverified` for rows without a domain."""

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import cli

HISTORY = [{"role": "user", "content": "Hi, can you help with sums?"}, {"role": "assistant", "content": "Sure."}]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def rows_of(folder):
    return [r for p in sorted(folder.glob("part-*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_unknown_columns_ride_in_extra_and_history_comes_back_in_the_published_messages(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [
        {"problem": "What is 1+1?", "answer": "2", "difficulty": "easy", "tags": ["add"],
         "extra": json.dumps({"history": HISTORY})},
        {"problem": "Name a colour.", "answer": "Blue", "difficulty": "hard", "url": "https://x"},  # new key
    ])
    result = invoke("verify", path, tmp_path / "v", "--domain", "general")
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "v" / "01-verify")
    assert [json.loads(r["extra"]) for r in rows] == [
        {"history": HISTORY, "difficulty": "easy", "tags": ["add"], "url": None},
        {"difficulty": "hard", "tags": None, "url": "https://x"}]
    assert [r["verdict"] for r in rows] == ["unverified", "unverified"]  # general: no checker, by choice

    result = invoke("write", tmp_path / "v", tmp_path / "w")
    assert result.exit_code == 0, result.output
    published = pq.read_table(next((tmp_path / "w" / "dataset").rglob("*.parquet"))).to_pylist()
    assert [m["content"] for m in published[0]["messages"]] == [
        HISTORY[0]["content"], "Sure.", "What is 1+1?", "2"]


def test_domain_and_columns_map_the_input_like_a_recipe_source(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [{"question": "What is 6*7?", "output": "It is \\boxed{42}.", "gold": "42",
                                     "level": 1},
                                    {"question": "What is 2^10?", "output": "\\boxed{1000}", "gold": "1024",
                                     "level": 2}])
    result = invoke("verify", path, tmp_path / "v", "--domain", "math", "--checkers", "1",
                    "--columns", "problem=question,answer=output,reference=gold")
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "v" / "01-verify")
    assert [(r["domain"], r["verdict"]) for r in rows] == [("math", "pass"), ("math", "fail")]
    assert [json.loads(r["extra"]) for r in rows] == [{"level": 1}, {"level": 2}]


def test_verify_refuses_rows_without_a_domain_and_lists_what_it_can_verify(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [{"problem": "What is 1+1?", "answer": "\\boxed{2}", "reference": "2"}])
    result = invoke("verify", path, tmp_path / "v")
    assert result.exit_code == 3
    assert "Error: 1 of 1 rows have no domain" in result.output
    assert "It verifies: math (math), code (code)." in result.output and "--domain math" in result.output
    assert not list((tmp_path / "v").glob("01-verify/part-*.parquet"))
    # the same run directory, now with a domain: --force redoes load, whose source changed
    again = invoke("verify", path, tmp_path / "v", "--domain", "math", "--checkers", "1")
    assert again.exit_code == 4 and "Hint: Add --force" in again.output
    forced = invoke("verify", path, tmp_path / "v", "--domain", "math", "--checkers", "1", "--force")
    assert forced.exit_code == 0, forced.output
    assert [r["verdict"] for r in rows_of(tmp_path / "v" / "01-verify")] == ["pass"]


def test_a_domain_column_is_kept_and_the_option_fills_only_its_gaps(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [{"problem": "Say hi.", "answer": "hi", "domain": "general"},
                                    {"problem": "What is 1+1?", "answer": "\\boxed{2}", "reference": "2"}])
    result = invoke("verify", path, tmp_path / "v", "--domain", "math", "--checkers", "1")
    assert result.exit_code == 0, result.output
    rows = rows_of(tmp_path / "v" / "01-verify")
    assert [(r["domain"], r["verdict"]) for r in rows] == [("general", "unverified"), ("math", "pass")]


def test_write_keeps_its_own_columns_option_and_maps_with_source_columns(tmp_path, write_jsonl):
    path = write_jsonl("in.jsonl", [{"q": "What is 1+1?", "answer": "2"}])
    result = invoke("write", path, tmp_path / "w", "--source-columns", "problem=q", "--columns", "id,problem")
    assert result.exit_code == 0, result.output
    published = pq.read_table(next((tmp_path / "w" / "dataset").rglob("*.parquet")))
    assert published.column_names == ["messages", "num_tokens", "id", "problem"]
    assert published["problem"].to_pylist() == ["What is 1+1?"]
