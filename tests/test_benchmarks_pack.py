"""The benchmark pack: complete specs, selection strings, and loaders (local files, `datasets`)."""

from __future__ import annotations

import gzip
import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.decontam.loaders import filter_dates, hub_rows, load_items, resolve_selections, spec_items
from curate.decontam.pack import PACK, PACK_VERSION, BenchmarkSpec
from curate.decontam.select import LocalSpec, Selection, parse_selection, parse_selections
from curate.decontam.select import lookup as get_spec
from curate.errors import CurateError

REQUIRED = {"aime24", "aime25", "amc23", "math500", "gpqa_diamond", "livecodebench", "humaneval", "mbpp",
            "gsm8k", "olympiadbench"}


def test_pack_has_every_required_benchmark_with_complete_specs():
    assert REQUIRED <= set(PACK) and PACK_VERSION
    for spec in PACK.values():
        assert spec.hub_id.count("/") == 1 and spec.split and spec.problem_fields and spec.license
        assert re.fullmatch(r"\d{4}-\d{2}.*", spec.release_date)
        # a real 40-hex commit, or `main` with a note saying it is not a pin
        assert re.fullmatch(r"[0-9a-f]{40}", spec.revision) or (spec.revision == "main" and spec.revision_note)


def test_names_and_aliases_resolve():
    assert get_spec("AIME_2024").name == "aime24" and get_spec("math-500").name == "math500"
    assert get_spec("lcb").name == "livecodebench"
    with pytest.raises(CurateError, match="unknown benchmark 'aime2026'") as err:
        get_spec("aime2026")
    assert "aime24" in err.value.hint


def test_livecodebench_version_and_date_window():
    sel = parse_selection("livecodebench:release_v5:2024-08-01..2025-02-01")
    assert (sel.version, sel.date_from, sel.date_to) == ("release_v5", "2024-08-01", "2025-02-01")
    assert sel.spec.versions["release_v5"][-1] == "test5.jsonl" and len(sel.spec.versions["release_v5"]) == 5
    assert parse_selection("lcb:2024-10-01..").date_to is None
    assert sel.describe()["version"] == "release_v5"
    with pytest.raises(CurateError, match="unknown option 'v9'"):
        parse_selection("livecodebench:v9")
    with pytest.raises(CurateError, match="has no versions"):
        parse_selection("math500:release_v1")


def test_filter_dates_keeps_the_window():
    rows = [{"d": "2024-07-31T10:00:00"}, {"d": "2024-08-01T00:00:00"}, {"d": "2025-01-15"}, {"d": None}]
    assert filter_dates(rows, "d", "2024-08-01", None) == rows[1:3]
    assert filter_dates(rows, "d", None, "2024-08-01") == rows[:2]
    assert filter_dates(rows, "d", None, None) == rows


def test_local_jsonl_parquet_and_gzip_with_field_mapping(tmp_path):
    rows = [{"uid": "q1", "question": "What is one plus one?", "gold": "2"}, {"uid": "q2", "question": "Name a prime."}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "b.parquet")
    with gzip.open(tmp_path / "c.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in rows))
    names = ",".join(f"{n}#problem=question,answer=gold,id=uid" for n in ("a.jsonl", "b.parquet", "c.jsonl.gz"))
    items, described = resolve_selections(names, base_dir=tmp_path)
    assert [i.key for i in items] == ["a:q1", "a:q2", "b:q1", "b:q2", "c:q1", "c:q2"]
    assert items[0].answer == "2" and items[1].answer is None
    assert all(d["revision"].startswith("sha256:") and d["items"] == 2 for d in described)


def test_local_file_default_fields_and_errors(tmp_path):
    (tmp_path / "e.jsonl").write_text(json.dumps({"id": 7, "problem": "p", "answer": "a"}) + "\n")
    (item,) = load_items(parse_selection(str(tmp_path / "e.jsonl")))
    assert (item.id, item.problem, item.answer) == ("7", "p", "a")
    with pytest.raises(CurateError, match="has no 'question' field"):
        load_items(parse_selection(f"{tmp_path / 'e.jsonl'}#problem=question"))
    with pytest.raises(CurateError, match="not found"):
        load_items(parse_selection(str(tmp_path / "missing.jsonl")))
    with pytest.raises(CurateError, match="selected twice"):
        parse_selections(["aime24", "aime_2024"])


def test_spec_items_map_fields_and_number_rows_without_ids():
    spec = PACK["olympiadbench"]
    rows = [{"id": 3, "context": "A sequence is given.", "question": "Find its limit.", "final_answer": ["0"]}]
    (item,) = spec_items(spec, rows)
    assert (item.key, item.problem, item.answer) == ("olympiadbench:3", "A sequence is given.\nFind its limit.", "0")
    (g,) = spec_items(PACK["gsm8k"], [{"question": "q?", "answer": "... #### 4"}])
    assert g.id == "test-0"


def test_hub_loader_goes_through_datasets_with_the_pinned_split(tmp_path):
    """A real `datasets.load_dataset` on a local folder standing in for the Hub repository."""
    folder = tmp_path / "fake_hub_repo"
    folder.mkdir()
    pq.write_table(pa.table({"unique_id": ["u1", "u2"], "problem": ["P one", "P two"], "answer": ["1", "2"]}),
                   folder / "test.parquet")
    spec = BenchmarkSpec(name="local500", title="t", hub_id=str(folder), split="test", problem_fields=("problem",),
                         answer_field="answer", id_field="unique_id", license="mit", release_date="2024-01",
                         revision=None)
    rows = hub_rows(Selection(spec), cache_dir=str(tmp_path / "cache"))
    assert [i.key for i in spec_items(spec, rows)] == ["local500:u1", "local500:u2"]


def test_hub_failure_says_what_to_do(tmp_path):
    spec = BenchmarkSpec(name="nowhere", title="t", hub_id=str(tmp_path / "absent"), split="test",
                         problem_fields=("problem",), answer_field=None, id_field=None, license="x",
                         release_date="2024-01")
    with pytest.raises(CurateError, match="cannot load benchmark 'nowhere'") as err:
        hub_rows(Selection(spec), cache_dir=str(tmp_path / "cache"))
    assert "HF_HUB_OFFLINE" in err.value.hint and "local file" in err.value.hint


def test_local_spec_is_not_confused_with_pack_names(tmp_path):
    assert isinstance(parse_selection("./aime24.jsonl").spec, LocalSpec)
    assert isinstance(parse_selection("aime24").spec, BenchmarkSpec)
