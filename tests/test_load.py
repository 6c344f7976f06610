"""load: formats, column mapping, ids, and every bad-input error the foundation promises."""

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from curate.errors import InputError
from curate.recipe import validate_recipe
from curate.runner import run_recipe

ROWS = [{"question": f"What is {i} + {i}?", "gold": str(2 * i), "topic": "add"} for i in range(10)]


def run(tmp_path, sources, load=None, stages=()):
    raw = {"name": "t", "sources": sources, "stages": [{"use": "load", **(load or {})}, *stages],
           "base_dir": str(tmp_path)}
    manifest = run_recipe(validate_recipe(raw), tmp_path / "run", progress=False)
    parts = sorted((tmp_path / "run" / "00-load").glob("part-*.parquet"))
    return manifest, pa.concat_tables([pq.read_table(p) for p in parts])


def test_jsonl_mapping_extra_and_stable_ids(tmp_path, write_jsonl):
    write_jsonl("m.jsonl", ROWS)
    src = [{"path": "m.jsonl", "domain": "math", "license": "mit",
            "columns": {"problem": "question", "reference": "gold"}}]
    manifest, table = run(tmp_path, src, {"rows_per_part": 3})
    assert manifest["num_parts"] == 4 and table.num_rows == 10
    row = table.to_pylist()[1]
    assert row["problem"] == "What is 1 + 1?" and row["reference"] == "2"
    assert (row["domain"], row["license"], row["source"]) == ("math", "mit", "m")
    assert json.loads(row["extra"]) == {"topic": "add"}
    _, again = run(tmp_path / "again", [{**src[0], "path": str(tmp_path / "m.jsonl")}])
    assert again["id"].to_pylist() == table["id"].to_pylist()  # independent of part count


def test_parquet_csv_and_datasets_folder(tmp_path):
    table = pa.Table.from_pylist(ROWS)
    pq.write_table(table, tmp_path / "m.parquet")
    import pyarrow.csv as pacsv

    pacsv.write_csv(table, tmp_path / "m.csv")
    datasets.Dataset(table).save_to_disk(str(tmp_path / "ds"))
    mapping = {"problem": "question", "reference": "gold"}
    for path in ("m.parquet", "m.csv", "ds"):
        _, out = run(tmp_path / path.replace(".", "_"), [{"path": str(tmp_path / path), "columns": mapping}])
        assert out["problem"].to_pylist() == [r["question"] for r in ROWS], path


def test_generation_is_split_and_chats_are_read(tmp_path, write_jsonl):
    write_jsonl("t.jsonl", [{"q": "1+1?", "gen": "<think>\nadd\n</think>\n\nIt is \\boxed{2}."},
                            {"q": "2+2?", "gen": "<think>\nstill going"}])
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"}, {"role": "user", "content": "bye"},
            {"role": "assistant", "content": "ciao"}]
    write_jsonl("c.jsonl", [{"messages": chat}])
    _, out = run(tmp_path, [{"path": "t.jsonl", "columns": {"problem": "q"}, "trace": "gen"},
                            {"path": "c.jsonl", "messages": "messages", "domain": "general"}])
    rows = out.to_pylist()
    assert (rows[0]["reasoning"], rows[0]["answer"]) == ("add", "It is \\boxed{2}.")
    assert (rows[1]["reasoning"], rows[1]["answer"]) == ("still going", None)
    assert (rows[2]["system"], rows[2]["problem"], rows[2]["answer"]) == ("Be brief.", "bye", "ciao")
    assert json.loads(rows[2]["extra"])["history"] == chat[1:3]


def test_another_run_as_source(tmp_path, write_jsonl):
    write_jsonl("m.jsonl", ROWS)
    _, first = run(tmp_path / "a", [{"path": str(tmp_path / "m.jsonl"), "columns": {"problem": "question"}}])
    _, second = run(tmp_path / "b", [{"path": f"run:{tmp_path / 'a' / 'run'}"}])
    assert second["id"].to_pylist() == first["id"].to_pylist()


def test_missing_column_lists_available_and_shows_mapping(tmp_path, write_jsonl):
    write_jsonl("m.jsonl", ROWS)
    with pytest.raises(InputError) as info:
        run(tmp_path, [{"path": "m.jsonl", "columns": {"problem": "prompt"}}])
    assert "['prompt'] not found" in info.value.message
    assert "question, gold, topic" in info.value.message
    assert "columns:" in info.value.hint and "problem: prompt" in info.value.hint


def test_no_problem_column_at_all(tmp_path, write_jsonl):
    write_jsonl("m.jsonl", ROWS)
    with pytest.raises(InputError, match="no `problem` column") as info:
        run(tmp_path, [{"path": "m.jsonl", "columns": {"reference": "gold"}}])
    assert "problem: question" in info.value.hint
    # the example is YAML a user can paste under the recipe's top level: it parses to a mapping
    example = yaml.safe_load(info.value.hint.split("e.g.\n", 1)[1])
    assert example == {"sources": [{"path": "m.jsonl", "columns": {"problem": "question", "reference": "gold"}}]}


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_parquet_names_the_file(tmp_path, damage):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not parquet at all" * 10)
    with pytest.raises(InputError, match="bad.parquet") as info:
        run(tmp_path, [{"path": "bad.parquet", "columns": {"problem": "question"}}])
    assert "corrupt or truncated" in info.value.hint


def _bad_jsonl(tmp_path):
    lines = [json.dumps(r) for r in ROWS[:3]] + ['{"question": "broken'] + [json.dumps(r) for r in ROWS[3:5]]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")


def test_bad_jsonl_line_fails_with_line_number(tmp_path):
    _bad_jsonl(tmp_path)
    with pytest.raises(InputError, match=r"m.jsonl:4: bad JSON line") as info:
        run(tmp_path, [{"path": "m.jsonl", "columns": {"problem": "question"}}])
    assert "on_error" in info.value.hint


def test_bad_jsonl_line_skip_counts_it(tmp_path):
    _bad_jsonl(tmp_path)
    manifest, out = run(tmp_path, [{"path": "m.jsonl", "columns": {"problem": "question"}}], {"on_error": "skip"})
    assert out.num_rows == 5
    assert manifest["stages"][0]["counters"]["bad_lines"] == 1
    assert not (tmp_path / "run" / "rejected").exists()


def test_bad_jsonl_line_record_keeps_it_in_rejected(tmp_path):
    _bad_jsonl(tmp_path)
    manifest, out = run(tmp_path, [{"path": "m.jsonl", "columns": {"problem": "question"}}], {"on_error": "record"})
    rejected = pq.read_table(next((tmp_path / "run" / "rejected").rglob("*.parquet"))).to_pylist()
    assert out.num_rows == 5 and len(rejected) == 1
    assert rejected[0]["reject_reason"].startswith(f"bad JSON at {tmp_path / 'm.jsonl'}:4")
    assert json.loads(rejected[0]["extra"])["raw_line"] == '{"question": "broken'
    assert manifest["stages"][0]["rows_in"] == 6  # every input line is accounted for


def test_empty_input_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match="hold no rows"):
        run(tmp_path, [{"path": "empty.jsonl"}])


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        run(tmp_path, [{"path": "nope.jsonl"}])


def test_trace_ids_from_buffers_equal_the_digest_of_the_strings():
    """load hashes reasoning, answer and extra straight from Arrow buffers; the ids must not change."""
    import random

    from curate.fingerprint import digest
    from curate.schema import conform
    from curate.stages.load import trace_digests

    rng = random.Random(7)
    alphabet = ["a", "é", "∑", "😀", " ", "\n", "x" * 50]
    rows = [{"id": f"p{i}", "sample_idx": i % 3, "teacher": rng.choice([None, "t@rev"]),
             "reasoning": rng.choice([None, "", "".join(rng.choices(alphabet, k=rng.randrange(0, 40)))]),
             "answer": rng.choice([None, "", "\\boxed{4}", "".join(rng.choices(alphabet, k=5))]),
             "extra": rng.choice([None, None, "", '{"sample":1}']),
             "trace_id": "given" if i % 11 == 0 else None} for i in range(300)]
    table = conform(pa.Table.from_pylist(rows)).slice(7)  # a sliced table: offsets start mid-buffer
    rows = rows[7:]
    got = trace_digests(table).to_pylist()
    want = [r["trace_id"]
            or digest(r["id"], r["sample_idx"], r["teacher"] or "", r["reasoning"] or "", r["answer"] or "",
                      *([] if r["extra"] is None else [r["extra"]]))
            for r in rows]
    assert got == want


def test_a_run_source_reads_the_last_stage_that_kept_parts(tmp_path, write_jsonl):
    write_jsonl("m.jsonl", ROWS)
    source = {"path": str(tmp_path / "m.jsonl"), "columns": {"problem": "question", "answer": "gold"}}
    first = tmp_path / "first"
    stages = [{"use": "load"}, {"use": "filter", "min_chars": 2}, {"use": "write"}]  # answers 10, 12, ...
    run_recipe(validate_recipe({"name": "a", "sources": [source], "stages": stages}), first, progress=False)
    kept = pq.read_table(first / "01-filter" / "part-00000.parquet")
    assert 0 < kept.num_rows < len(ROWS)
    _, second = run(tmp_path / "b", [{"path": f"run:{first}"}])
    assert second["id"].to_pylist() == kept["id"].to_pylist()
    bare = tmp_path / "bare"
    run_recipe(validate_recipe({"name": "c", "sources": [source], "stages": [{"use": "load"}, {"use": "write"}]}),
               bare, progress=False)
    with pytest.raises(InputError, match="no stage of this run kept part files") as info:
        run(tmp_path / "d", [{"path": f"run:{bare}"}])
    assert "keep_parts: true" in info.value.hint


@pytest.mark.parametrize("typo", ["data/math.jsonll", "data/maht.jsonl", "data/math"])
def test_mistyped_local_path_is_a_local_error_naming_the_nearest_file(tmp_path, write_jsonl, typo):
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "math.jsonl", ROWS)
    with pytest.raises(InputError) as info:
        run(tmp_path, [{"path": typo, "columns": {"problem": "question"}}])
    assert "no such file" in info.value.message and "Hub" not in info.value.message
    assert "network" not in (info.value.hint or "")
    assert f"did you mean {tmp_path / 'data' / 'math.jsonl'}?" in info.value.hint


def test_only_an_org_slash_name_without_a_local_look_is_taken_for_a_hub_id(tmp_path, monkeypatch):
    from curate.io import detect_format

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    assert detect_format("AI-MO/NuminaMath-1.5") == "hub"
    assert detect_format("hub:org/name") == "hub"
    for local in ("data/math.jsonll", "org/name.jsonll", "./org/name", "/abs/org/name", "a/b/c"):
        with pytest.raises(InputError, match="no such file"):
            detect_format(local)
