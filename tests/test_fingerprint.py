"""Fingerprints cover what a stage reads besides its config: edited inputs are not reused silently."""

import pytest

from curate.errors import ResumeConflict
from curate.fingerprint import config_diff, digest, file_fingerprint
from curate.recipe import load_recipe
from curate.runner import run_recipe


def test_digest_and_diff_are_stable():
    assert digest("a", {"x": 1, "y": 2}) == digest("a", {"y": 2, "x": 1})
    assert config_diff({"a": {"b": 1}}, {"a": {"b": 2}, "c": 3}) == ["a.b: 1 -> 2", 'c: "<unset>" -> 3']


def test_file_fingerprint_sees_edits_anywhere_near_the_ends(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text("x" * 300_000)
    before = file_fingerprint([path])
    path.write_text("x" * 299_999 + "y")
    assert file_fingerprint([path]) != before


def test_an_edited_source_file_is_refused(tmp_path, write_jsonl, write_recipe):
    write_jsonl("m.jsonl", [{"problem": f"p{i}"} for i in range(4)])
    recipe = write_recipe({"name": "fp", "sources": [{"path": "m.jsonl"}], "stages": [{"use": "write"}]})
    run_recipe(load_recipe(recipe), tmp_path / "run", progress=False)
    write_jsonl("m.jsonl", [{"problem": f"p{i}"} for i in range(5)])
    with pytest.raises(ResumeConflict, match="00-load"):
        run_recipe(load_recipe(recipe), tmp_path / "run", progress=False)
