"""`curate status`, `inspect`, `report`, `view` and `push` on a run directory at an s3:// URL,
against a real S3-protocol server (moto, tests/helpers/s3.py) holding the quickstart as
`curate run --run-dir s3://...` wrote it. Each command must show what it shows for the same run
on local disk; the viewer must read parts in place (nothing downloaded); no file the commands
leave behind, nor their output, may hold the store's secret key."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli.group import cli
from tests.helpers.s3 import SECRET, objects, tree

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # the quickstart runs twice (local and on the store)


def curate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess (the environment points at the test server)."""
    done = subprocess.run([sys.executable, "-m", "curate", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert SECRET not in done.stdout + done.stderr
    return done


def no_secret_in(folder: Path) -> None:
    assert folder.exists()
    leaks = [name for name, data in tree(folder).items() if SECRET.encode() in data]
    assert not leaks, f"the secret key was written to {leaks}"


def test_status_of_a_run_on_s3(s3_quickstart, local_quickstart, cache, tmp_path):
    url, _ = s3_quickstart
    done = curate("status", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    local = curate("status", str(local_quickstart), cwd=tmp_path).stdout.splitlines()
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"run {url} (recipe quickstart")
    assert lines[1:-1] == local[1:-1]  # every stage, every part marked, the same counts
    assert "#" in lines[2] and "." not in lines[2].split()[-1]
    assert lines[-1] == f"dataset: {url}/dataset"
    no_secret_in(cache)


def test_status_follows_the_store_after_a_stage_is_dropped(s3_quickstart, cache, tmp_path):
    """The read-only copy mirrors the store: what the store no longer holds leaves it too."""
    from curate.cli.inspect import status_table
    from curate.storage import Store

    url, _ = s3_quickstart
    assert "07-write" in status_table(url)
    store = Store(url)
    held = {rel: store.cat(rel) for rel in store.listing("07-write")}
    store.delete("07-write", recursive=True)
    try:
        table = status_table(url)
        assert "07-write" not in table and "dataset:" not in table
    finally:
        for rel, data in held.items():
            store.fs.pipe_file(store.key(rel), data)
    assert "07-write" in status_table(url)


def test_inspect_a_run_and_an_object_on_s3(s3_quickstart, local_quickstart, cache, tmp_path):
    from curate.cli.inspect import describe

    url, _ = s3_quickstart
    remote, local = describe(url), describe(str(local_quickstart))
    assert remote["path"] == url
    assert {k: v for k, v in remote.items() if k != "path"} == {k: v for k, v in local.items() if k != "path"}
    shard = "dataset/reasoning/train-00000-of-00004.parquet"
    done = curate("inspect", f"{url}/{shard}", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == describe(str(local_quickstart / shard))["rows"]
    no_secret_in(cache)


def test_report_of_a_run_on_s3(s3_quickstart, local_quickstart, cache, tmp_path):
    url, _ = s3_quickstart
    done = curate("report", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"(stored at {url}/reports/report.html)" in done.stdout
    stored = objects(url.split("/")[2], "runs/quickstart")["reports/report.html"].decode()
    local = curate("report", str(local_quickstart), "--output", str(tmp_path / "local.html"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    # the local run's report, but for the run's name and the stages' timings
    timings = re.compile(r'<td class="n">\d+\.\d+</td>')
    expected = (tmp_path / "local.html").read_text().replace("run <code>run</code>", "run <code>quickstart</code>")
    assert timings.sub("", stored) == timings.sub("", expected)
    assert "07-write" in stored and "rows in dataset files" in stored
    no_secret_in(cache)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def test_view_reads_a_run_on_s3_in_place(s3_quickstart, local_quickstart, cache):
    from curate.view.server import Viewer, serve_in_thread

    url, _ = s3_quickstart
    remote, local = Viewer(url), Viewer(str(local_quickstart))
    assert {n: t.rows for n, t in remote.tables.items()} == {n: t.rows for n, t in local.tables.items()}
    servers = [serve_in_thread(v) for v in (remote, local)]
    try:
        (_, there), (_, here) = servers
        base = [address.split("?")[0] for address in (there, here)]
        tokens = [v.token for v in (remote, local)]

        def both(path: str) -> list[dict]:
            return [get(f"{b}{path}{'&' if '?' in path else '?'}token={t}") for b, t in zip(base, tokens)]

        first = both("api/rows?table=everything&limit=20")
        assert first[0] == first[1] and len(first[0]["rows"]) == 20
        sorted_ = both("api/rows?table=06-mix&sort=completion_tokens&desc=1&f.verdict=pass&limit=5")
        assert sorted_[0] == sorted_[1] and sorted_[0]["total"] > 0
        row = both("api/row?table=06-mix&row=3")
        assert row[0] == row[1] and row[0]["html"]["reasoning"]
        published = both("api/row?table=dataset/reasoning&row=2")
        assert published[0] == published[1] and published[0]["messages"]
        trace = row[0]["fields"]["trace_id"]
        path = both(f"api/trace?trace_id={trace}")
        assert path[0] == path[1] and any(step["status"] == "published" for step in path[0])
        found = both("api/rows?table=00-load&q=seedlings&limit=5")
        assert found[0] == found[1] and found[0]["total"] >= 1
    finally:
        for server, _ in servers:
            server.shutdown()
            server.server_close()
    # pages and rows were read from the objects in place: no part came down to this machine
    assert not list(cache.rglob("*.parquet"))
    no_secret_in(cache)


def test_push_a_run_on_s3_to_the_hub_standin(s3_quickstart, local_quickstart, cache, tmp_path, monkeypatch):
    from hub_standin import install

    url, _ = s3_quickstart
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_notARealTokenButSecret123")
    from curate.publish import hub

    monkeypatch.setattr(hub, "make_api", hub.make_api)  # undone after the test: install() replaces it
    standin = install(tmp_path / "hub")
    result = CliRunner().invoke(cli, ["push", url, "me/quick", "--atomic"])
    assert result.exit_code == 0, result.output
    pushed = standin.tree("main")
    dataset = local_quickstart / "dataset"
    assert set(pushed) == {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file()}
    for name, entry in pushed.items():
        if entry.get("sha256"):  # shards and plots: the bytes the run stored, unchanged
            assert entry["sha256"] == hashlib.sha256((dataset / name).read_bytes()).hexdigest()
    assert "hf_notARealTokenButSecret123" not in result.output
    following = CliRunner().invoke(cli, ["push", url, "me/quick", "--follow"])
    assert following.exit_code != 0 and "without --follow" in following.output
    no_secret_in(cache)
