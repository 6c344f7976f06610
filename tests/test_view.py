"""`curate view` on a real quickstart run: the API, its guards, and the page in headless Chromium."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import cli
from curate.recipe import load_recipe
from curate.runner import run_recipe
from curate.schema import from_rows
from curate.text.palette import VERDICTS
from curate.view.server import Viewer, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = ('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
           ' and <b>bold</b> text')
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("view") / "run"
    run_recipe(load_recipe(ROOT / "recipes" / "quickstart.yaml"), path, progress=False)
    return path


@pytest.fixture(scope="module")
def served(run_dir):
    viewer = Viewer(run_dir)
    server, url = serve_in_thread(viewer)
    yield viewer, url
    server.shutdown()
    server.server_close()


def request(url: str, path: str, *, token: str | None = None, method: str = "GET", host: str | None = None):
    """One raw HTTP request (the path sent exactly as given: no client-side normalisation)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    if token:
        path += ("&" if "?" in path else "?") + f"token={token}"
    conn.putrequest(method, path, skip_host=host is not None)
    if host is not None:
        conn.putheader("Host", host)
    conn.endheaders()
    response = conn.getresponse()
    return response.status, response.read()


def api(served, path: str):
    viewer, url = served
    status, body = request(url, path, token=viewer.token)
    assert status == 200, body
    return json.loads(body)


def test_tables_of_a_run(served):
    tables = {t["name"]: t for t in api(served, "/api/tables")["tables"]}
    assert {"everything", "01-verify", "rejected", "dataset/reasoning"} <= set(tables)
    # every row once: where it ended (the last kept stage) or in rejected/
    assert tables["everything"]["rows"] == tables["00-load"]["rows"]


def test_filter_sort_and_search_agree_with_the_parts(served, run_dir):
    everything = pa.concat_tables([pq.read_table(p, columns=["verdict"]) for p in
                                   sorted((run_dir / "03-decontam").glob("part-*.parquet"))])
    fails = everything.column("verdict").to_pylist().count("fail")
    page = api(served, "/api/rows?table=03-decontam&f.verdict=fail&sort=pass_rate&desc=1")
    assert page["total"] == fails > 0
    assert {r["verdict"] for r in page["rows"]} == {"fail"}
    rates = [r["pass_rate"] for r in page["rows"]]
    assert rates == sorted(rates, reverse=True)
    found = api(served, "/api/rows?table=03-decontam&q=PALINDROME")
    assert found["total"] >= 1 and all("palindrome" in r["problem"].lower() for r in found["rows"])


def test_row_detail_has_hits_siblings_and_the_trace_path(served):
    page = api(served, "/api/rows?table=everything&f.contaminated=yes")
    assert page["total"] > 0
    detail = api(served, f"/api/row?table=everything&row={page['rows'][0]['_row']}")
    assert detail["hits"] and '<mark class="hit">' in "".join(detail["html"].values())
    steps = api(served, f"/api/trace?trace_id={detail['fields']['trace_id']}")
    assert [s["status"] for s in steps][-1] == "dropped"
    assert steps[-1]["reject_reason"] and steps[-1]["stage"].endswith("-filter")
    multi = api(served, "/api/rows?table=01-verify&f.pass_rate=0.4..0.6")
    row = api(served, f"/api/row?table=01-verify&row={multi['rows'][0]['_row']}")
    assert row["siblings"] and all(s["id"] == row["fields"]["id"] for s in row["siblings"])


def test_a_dataset_folder_shows_its_configs_and_chat_turns(run_dir):
    viewer = Viewer(run_dir / "dataset")
    server, url = serve_in_thread(viewer)
    try:
        tables = {t["name"] for t in api((viewer, url), "/api/tables")["tables"]}
        assert tables == {p.name for p in (run_dir / "dataset").iterdir() if p.is_dir() and any(p.glob("*.parquet"))}
        found = api((viewer, url), "/api/rows?table=general&q=manager")
        assert found["total"] >= 1
        row = api((viewer, url), f"/api/row?table=general&row={found['rows'][0]['_row']}")
        assert [m["role"] for m in row["messages"]][:2] == ["user", "assistant"]
        assert any("manager" in m["html"].lower() for m in row["messages"])
    finally:
        server.shutdown()
        server.server_close()


def test_requests_without_the_token_or_outside_the_assets_are_refused(served):
    viewer, url = served
    assert request(url, "/")[0] == 403
    assert request(url, "/api/tables", token="not-the-token")[0] == 403
    assert request(url, "/", token=viewer.token, host="evil.example:80")[0] == 403
    for path in ["/static/../server.py", "/static/..%2fserver.py", "/mathjax/../../../../../etc/passwd",
                 "/mathjax/%2e%2e/%2e%2e/%2e%2e/__init__.py", "/../../etc/passwd", "/etc/passwd"]:
        status, body = request(url, path, token=viewer.token)
        assert status == 404, (path, status)
        assert b"root:" not in body and b"import" not in body
    assert request(url, "/api/tables", token=viewer.token, method="POST")[0] == 405
    assert request(url, "/api/rows?table=nope", token=viewer.token)[0] == 400


def test_view_command_refuses_a_missing_path_and_a_broken_file(tmp_path):
    result = CliRunner().invoke(cli, ["view", str(tmp_path / "nothing")])
    assert result.exit_code != 0
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    result = CliRunner().invoke(cli, ["view", str(broken)])
    assert result.exit_code == 3 and "broken.parquet: not a readable Parquet file" in result.output


def test_view_command_serves_until_stopped(run_dir):
    """The real command in a subprocess: prints a tokened URL on 127.0.0.1, serves, stops on a signal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "curate", "view", str(run_dir / "03-decontam")],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        url = lines[1].split()[-1]
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        token = url.split("=", 1)[1]
        status, body = request(url, "/api/rows?limit=3", token=token)
        assert status == 200 and len(json.loads(body)["rows"]) == 3
        assert request(url, "/api/rows")[0] == 403
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_a_jsonl_file_pages_searches_and_opens(tmp_path):
    source = ROOT / "recipes" / "data" / "math.jsonl"
    viewer = Viewer(source)
    server, url = serve_in_thread(viewer)
    try:
        lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
        page = api((viewer, url), "/api/rows?limit=5")
        assert page["total"] == len(lines) and len(page["rows"]) == 5
        word = lines[7]["question"].split()[-1].strip("?.")
        expected = sum(1 for r in lines if word.lower() in json.dumps(r).lower())
        found = api((viewer, url), f"/api/rows?q={word}")
        assert 1 <= found["total"] <= expected
        row = api((viewer, url), "/api/row?row=7")
        assert row["fields"] == {} or row is not None
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- the page in a real browser


def chromedriver():
    if os.environ.get("CI"):  # the dev extra brings selenium: CI must not skip the browser tests
        import selenium.webdriver as webdriver
    else:
        webdriver = pytest.importorskip("selenium.webdriver")
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(binary).exists() and Path(driver_path).exists()):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required in CI (apt-get install chromium chromium-driver)")
        pytest.skip("chromium is not installed")
    return webdriver, binary, driver_path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver, binary, driver_path = chromedriver()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def reload_table(driver, action):
    """Do `action` and wait until the table has been loaded again."""
    before = driver.execute_script("return document.body.dataset.loaded || ''")
    action()
    wait(driver, lambda d: d.execute_script("return document.body.dataset.loaded || ''") != before)


def set_input(driver, element, value):
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('change'));", element, value)


def test_page_filters_searches_and_renders_a_row(served, browser, tmp_path):
    from PIL import Image
    from selenium.webdriver.common.by import By

    viewer, url = served
    browser.get(url)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#rows tbody tr"))
    assert "token" not in browser.current_url  # kept in the cookie, not in the history

    verdict = browser.find_element(By.CSS_SELECTOR, "#filters input[data-column=verdict]")
    reload_table(browser, lambda: set_input(browser, verdict, "fail"))
    badges = browser.find_elements(By.CSS_SELECTOR, "#rows tbody .badge")
    assert badges and {b.text for b in badges} == {"fail"}
    fail = VERDICTS["fail"].fill  # the report's chips and the charts use the same palette
    assert badges[0].value_of_css_property("background-color") == \
        "rgba({}, {}, {}, 1)".format(*(int(fail[i:i + 2], 16) for i in (1, 3, 5)))

    reload_table(browser, lambda: browser.find_element(By.ID, "clear").click())
    search = browser.find_element(By.ID, "search")
    reload_table(browser, lambda: set_input(browser, search, "palindrome"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
    assert rows and all("palindrome" in r.text.lower() for r in rows)
    rows[0].click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail .text[data-field=answer] .highlight"))
    keyword = browser.find_elements(By.CSS_SELECTOR, "#detail .highlight .k")  # Pygments: `def`, `return`
    assert keyword and "def" in {k.text for k in keyword}

    reload_table(browser, lambda: set_input(browser, search, ""))
    flag = browser.find_element(By.CSS_SELECTOR, "#filters input[data-column=contaminated]")
    reload_table(browser, lambda: set_input(browser, flag, "yes"))
    browser.find_element(By.CSS_SELECTOR, "#rows tbody tr").click()
    mark = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail .text[data-field=problem] mark.hit"))
    assert "divisible by 3 or by 7" in mark[0].text or mark[0].text
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail mjx-container svg"))  # typeset math

    # a deep link (what the report links to) opens the trace's row; the cookie stands for the token
    trace_id = api(served, "/api/rows?table=everything&f.contaminated=yes")["rows"][1]["trace_id"]
    browser.get(url.split("?")[0] + f"?table=everything&trace={trace_id}")
    wait(browser, lambda d: trace_id in d.find_element(By.ID, "detail").text)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 1

    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png()))
    assert shot.size[0] >= 1000 and shot.size[1] >= 700
    assert len(shot.convert("RGB").getcolors(1 << 20) or ()) > 50  # a rendered page, not a blank one
    shot.save(tmp_path / "view.png")


def test_hostile_traces_render_as_text(browser, tmp_path):
    from selenium.webdriver.common.by import By

    data = tmp_path / "hostile.parquet"
    rows = [{"id": "h1", "trace_id": "t1", "problem": HOSTILE, "reasoning": HOSTILE,
             "answer": f"```html\n{HOSTILE}\n```\n{HOSTILE}", "verdict": "pass", "source": HOSTILE}]
    pq.write_table(from_rows(rows), data)
    viewer = Viewer(data)
    server, url = serve_in_thread(viewer)
    try:
        browser.get(url)
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#rows tbody tr"))
        browser.find_element(By.CSS_SELECTOR, "#rows tbody tr").click()
        problem = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail .text[data-field=problem]"))
        browser.find_element(By.CSS_SELECTOR, "#detail details summary").click()
        wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#detail .text[data-field=reasoning]"))
        assert "<script>window.__pwned = 1</script>" in problem[0].text
        assert 'onerror="window.__pwned = 2"' in problem[0].text
        assert browser.execute_script("return window.__pwned === undefined")
        assert not browser.find_elements(By.CSS_SELECTOR, "#detail img, #detail b, #detail script, #rows img")
    finally:
        server.shutdown()
        server.server_close()


def test_report_links_open_the_row_in_a_browser_without_the_cookie(served, run_dir, browser, tmp_path):
    """The run report, opened from a file, links each sample to its row: the link carries the
    printed URL's token, so it works in a browser that never opened the viewer (no cookie)."""
    from selenium.webdriver.common.by import By

    from curate.publish.report import write_report

    viewer, url = served
    origin = url.split("?")[0]
    browser.get(origin)  # 403 without the token: just to be on the viewer's origin
    browser.delete_all_cookies()
    report = write_report(run_dir, output=tmp_path / "report.html", viewer=url)
    browser.get(report.as_uri())
    links = browser.find_elements(By.CSS_SELECTOR, "#samples a.viewer")
    assert links
    trace_id = links[0].get_attribute("href").rsplit("trace=", 1)[1]
    links[0].click()
    wait(browser, lambda d: trace_id in d.find_element(By.ID, "detail").text)
    assert "token" not in browser.current_url and len(browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 1
