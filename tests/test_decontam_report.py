"""The report: three formats with every hit; the HTML renders offline in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli.group import cli

SAMPLE = Path(__file__).resolve().parent.parent / "recipes" / "data"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    result = CliRunner().invoke(cli, [
        "decontaminate", str(SAMPLE / "math.jsonl"), "-b", str(SAMPLE / "mini_benchmark.jsonl"),
        "--report", str(out), "--field", "question=8", "--field", "generation=13", "--id-column", "uid"])
    assert result.exit_code == 0, result.output
    return out


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return path


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          check=False, capture_output=True, text=True, timeout=120)


def test_json_lists_every_hit_with_spans_and_revisions(report_dir):
    report = json.loads((report_dir / "decontam.json").read_text())
    # the 8 planted leak rows, and m-near-const-01: mb-01 with another constant, a template copy
    assert report["summary"]["rows_contaminated"] == 9 and report["summary"]["items_hit"] == 5
    (template,) = [h for h in report["hits"] if h["kind"] == "template"]
    assert template["row_id"] == "m-near-const-01" and template["changed_numbers"] == [["144", "176"]]
    assert report["benchmarks"][0]["revision"].startswith("sha256:") and report["pack_version"]
    for hit in report["hits"]:
        marked = " ".join(hit["excerpt"][a:b] for a, b in hit["excerpt_spans"])
        item = " ".join(hit["item_problem"][a:b] for a, b in hit["item_spans"])
        assert marked and item and 0 < hit["share"] <= 1


def test_markdown_marks_the_matched_spans(report_dir):
    text = (report_dir / "decontam.md").read_text()
    assert "| mini_benchmark |" in text
    assert "⟦How many positive integers less than 500 are divisible by 3 or by 7, but not by both⟧" in text
    assert text.count("### leak: mini_benchmark:") == 9 and "changed numbers: 144 -> 176" in text


def test_html_is_self_contained(report_dir):
    page = (report_dir / "decontam.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert page.count("<mark>") >= 16  # a span in the excerpt and one in the item per hit


def test_html_renders_in_headless_chromium_and_shows_the_hits(report_dir, tmp_path):
    page = (report_dir / "decontam.html").resolve().as_uri()
    dom = run_chromium(["--dump-dom", page], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="rows-contaminated">9<' in dom.stdout
    assert dom.stdout.count('class="hit"') == 9
    for item in ("mb-01", "mb-02", "mb-04", "mb-05", "mb-08"):
        assert f'data-item="{item}"' in dom.stdout
    assert "<mark>A jar holds 4 red, 5 green, and 6 yellow candies." in dom.stdout
    shot = tmp_path / "report.png"
    result = run_chromium([f"--screenshot={shot}", "--window-size=1200,900", page], tmp_path / "profile-shot")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one


def test_report_with_no_hits_says_so(tmp_path):
    src = tmp_path / "clean.jsonl"
    src.write_text(json.dumps({"id": "x", "problem": "Nothing from any benchmark lives in this sentence."}) + "\n")
    result = CliRunner().invoke(cli, ["decontaminate", str(src), "-b", str(SAMPLE / "mini_benchmark.jsonl"),
                                      "--report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "No benchmark item was found." in (tmp_path / "r" / "decontam.html").read_text()
    assert json.loads((tmp_path / "r" / "decontam.json").read_text())["hits"] == []
