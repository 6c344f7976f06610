"""The run report: one self-contained HTML page (no network) with the funnel, plots, samples per
verdict, rejected examples with reasons, contamination hits and dedup clusters; it renders in
headless Chromium and shows the funnel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from publish_helpers import make_run

from curate.cli.group import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = make_run(tmp_path_factory.mktemp("report"))
    reports = run / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "decontam.json").write_text(json.dumps({"benchmarks": [{"name": "aime24", "rows_hit": 1}],
                                                       "hits": [{"benchmark": "aime24", "item_id": "3"}]}))
    return run


@pytest.fixture(scope="module")
def html(run_dir) -> str:
    result = CliRunner().invoke(cli, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    return (run_dir / "reports" / "report.html").read_text()


def test_page_is_self_contained(html):
    external = re.findall(r'(?:src|href)\s*=\s*"((?:https?:)?//[^"]*)"', html)
    assert external == []
    assert "<link" not in html and "<script" not in html and "@import" not in html
    assert html.count('<svg class="chart"') == 3  # the funnel, tokens and verdicts, inline


def test_page_shows_funnel_reasons_samples_and_reports(html, run_dir):
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for stage in manifest["stages"].values():
        assert f'id="funnel-stage-{stage["dir"]}"' in html
    assert "finish_reason not in [&#39;stop&#39;]" in html  # the filter's reason, escaped
    assert "not selected by mix (group math: kept 90 of" in html
    assert 'id="samples"' in html and "&lt;think&gt;" not in html.split('id="samples"')[0]
    assert "reports/decontam.json" in html and "aime24" in html


def chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (tests/install_test_deps.sh installs it)")
        pytest.skip("chromium is not installed")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           *args]
    return subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)


def test_chromium_renders_the_funnel(html, run_dir, tmp_path):
    page = (run_dir / "reports" / "report.html").as_uri()
    dom = chromium("--dump-dom", page, tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert '<section id="funnel">' in dom.stdout and 'data-chart="funnel"' in dom.stdout
    assert len(re.findall(r'id="funnel-stage-', dom.stdout)) == 4
    shot = tmp_path / "shot.png"
    result = chromium("--window-size=1200,900", f"--screenshot={shot}", page, tmp=tmp_path)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # a rendered page, not a blank one
    funnel_blue = sum(n for n, (r, g, b) in colours if abs(r - 0x4C) < 12 and abs(g - 0x6E) < 12 and abs(b - 0xF5) < 12)
    assert funnel_blue > 2000  # the funnel bars are on the first screen


def test_report_of_a_folder_without_manifest_says_what_to_do(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "curate run" in result.output


def test_samples_of_a_load_that_kept_no_parts_come_from_the_dataset(tmp_path, write_jsonl, write_recipe):
    """load -> write: the samples are read from dataset/ and get reasoning and answer back from
    the assistant turn."""
    from curate.publish.report import gather
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    write_jsonl("t.jsonl", [{"question": f"Q{i}", "generation": f"<think>step {i}</think>It is {i}."}
                            for i in range(6)])
    recipe = write_recipe({"name": "traces", "stages": [{"use": "load"}, {"use": "write"}],
                           "sources": [{"path": "t.jsonl", "domain": "math", "columns": {"problem": "question"},
                                        "trace": "generation"}]})
    run = tmp_path / "run"
    manifest = run_recipe(load_recipe(recipe), run, progress=False)
    samples = gather(run, manifest, samples=2)["verdict_samples"]["not verified"]
    assert [(s["problem"], s["reasoning"], s["answer"]) for s in samples] == [
        ("Q0", "step 0", "It is 0."), ("Q1", "step 1", "It is 1.")]


def test_charts_render_800_px_wide_with_12_px_text_in_the_badge_colours(html, run_dir, tmp_path):
    """At 100% zoom in a 1200 px window: every chart at least 800 px wide, every chart text at
    least 12 px, and the verdict chips in the palette the charts and the viewer use."""
    from test_view import CHROMIUM_FLAGS, chromedriver

    from curate.text.palette import VERDICTS

    webdriver, binary, driver_path = chromedriver()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS[:-1] + ["--window-size=1200,900", f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get((run_dir / "reports" / "report.html").as_uri())
        charts = driver.execute_script("""
            return [...document.querySelectorAll('svg.chart')].map((svg) => {
              const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
              const sizes = [...svg.querySelectorAll('text')].map(
                  (t) => parseFloat(getComputedStyle(t).fontSize) * scale);
              return {name: svg.dataset.chart, width: svg.getBoundingClientRect().width,
                      smallest: Math.min(...sizes), texts: sizes.length};
            });""")
        chips = driver.execute_script("""
            return Object.fromEntries(arguments[0].map((v) => {
              const chip = document.createElement('span'); chip.className = 'chip ' + v;
              document.body.append(chip); return [v, getComputedStyle(chip).backgroundColor]; }));""",
                                      ["pass", "fail"])
    finally:
        driver.quit()
    assert sorted(c["name"] for c in charts) == ["funnel", "tokens", "verdicts"]
    for chart in charts:
        assert chart["width"] >= 800 and chart["texts"] > 5, chart
        assert chart["smallest"] >= 12, chart
    for verdict, shown in chips.items():
        fill = VERDICTS[verdict].fill
        assert shown == "rgb({}, {}, {})".format(*(int(fill[i:i + 2], 16) for i in (1, 3, 5)))
