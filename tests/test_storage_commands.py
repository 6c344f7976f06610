"""`curate status`, `inspect`, `report`, `view` and `push` on a run directory at an s3:// URL,
against a real S3-protocol server (moto, tests/helpers/s3.py) holding the quickstart as
`curate run --run-dir s3://...` wrote it. Each command must show what it shows for the same run
on local disk (the working copy the run wrote, which holds the same files: comparing with a
second run would also compare the verifier's timeouts on a loaded machine); the viewer must read
parts in place (nothing downloaded); no file the commands leave behind, nor their output, may
hold the store's secret key."""

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


def test_status_of_a_run_on_s3(s3_quickstart, cache, tmp_path):
    url, _, working_copy = s3_quickstart
    done = curate("status", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    local = curate("status", str(working_copy), cwd=tmp_path).stdout.splitlines()
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"run {url} (recipe quickstart")
    assert lines[1:-1] == local[1:-1]  # every stage, every part marked, the same counts
    assert "#" in lines[2] and "." not in lines[2].split()[-1]
    assert lines[-1] == f"dataset: {url}/dataset"
    no_secret_in(cache)


def test_status_follows_the_store(s3_quickstart, cache, monkeypatch):
    """The read-only copy mirrors the store: it reads again only objects whose version changed
    (a rewritten marker of the same size included), and what the store no longer holds leaves it."""
    from curate.cli.inspect import status_table
    from curate.storage import Store

    url = s3_quickstart[0]
    assert "07-write" in status_table(url)
    reads, real = [], Store.cat_many
    monkeypatch.setattr(Store, "cat_many", lambda self, rels: reads.append(list(rels)) or real(self, rels))
    before = status_table(url)
    assert reads == [[]]  # nothing changed: nothing read again
    store = Store(url)
    rel = "06-mix/_done/part-00000.json"
    marker = json.loads(store.cat(rel))
    rows = str(marker["rows_out"])
    marker["rows_out"] = int(("1" if rows[0] == "9" else "9") * len(rows))  # as many digits: as many bytes
    store.fs.pipe_file(store.key(rel), (json.dumps(marker, indent=2, sort_keys=True) + "\n").encode())
    try:
        changed = status_table(url)
        assert reads[-1] == [rel] and changed != before
    finally:
        store.delete(rel)
        held = {r: store.cat(r) for r in store.listing("07-write")}
        store.delete("07-write", recursive=True)
    try:
        table = status_table(url)
        assert "07-write" not in table and "dataset:" not in table and f"{'06-mix':<16}{3:>5}/4" in table
    finally:
        for r, data in held.items():
            store.fs.pipe_file(store.key(r), data)
        store.put(s3_quickstart[2] / rel, rel)  # the working copy holds the marker as the run wrote it
    assert status_table(url) == before


def test_a_missing_bucket_or_run_is_named(s3, cache, tmp_path):
    from tests.helpers.s3 import fresh_bucket

    bad = curate("status", "s3://no-such-bucket-status/run", cwd=tmp_path)
    assert bad.returncode != 0 and "Error: s3://no-such-bucket-status/run" in bad.stderr, bad.stderr
    assert "Hint: Create the bucket" in bad.stderr
    empty = curate("view", f"s3://{fresh_bucket()}/nothing-here", cwd=tmp_path)
    assert empty.returncode != 0 and "no such object or prefix" in empty.stderr, empty.stderr
    missing = curate("status", f"s3://{fresh_bucket()}/not-a-run", cwd=tmp_path)
    assert missing.returncode != 0 and "is not a curate run directory" in missing.stderr, missing.stderr


def test_inspect_a_run_and_an_object_on_s3(s3_quickstart, cache, tmp_path):
    from curate.cli.inspect import describe

    url, _, working_copy = s3_quickstart
    remote, local = describe(url), describe(str(working_copy))
    assert remote["path"] == url
    assert {k: v for k, v in remote.items() if k != "path"} == {k: v for k, v in local.items() if k != "path"}
    shard = "dataset/reasoning/train-00000-of-00004.parquet"
    done = curate("inspect", f"{url}/{shard}", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == describe(str(working_copy / shard))["rows"]
    no_secret_in(cache)


def test_report_of_a_run_on_s3(s3_quickstart, cache, tmp_path):
    url, _, working_copy = s3_quickstart
    done = curate("report", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"(stored at {url}/reports/report.html)" in done.stdout
    stored = objects(url.split("/")[2], "runs/quickstart")["reports/report.html"].decode()
    assert SECRET not in stored
    local = curate("report", str(working_copy), "--output", str(tmp_path / "local.html"), cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    # the local run's report, but for the run's name and the stages' timings
    timings = re.compile(r'<td class="n">\d+\.\d+</td>')
    expected = (tmp_path / "local.html").read_text().replace(f"run <code>{working_copy.name}</code>",
                                                             "run <code>quickstart</code>")
    assert timings.sub("", stored) == timings.sub("", expected)
    assert "07-write" in stored and "rows in dataset files" in stored
    no_secret_in(cache)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def test_view_reads_a_run_on_s3_in_place(s3_quickstart, cache, monkeypatch):
    from curate.view import query, tables
    from curate.view.server import Viewer, serve_in_thread

    url, _, working_copy = s3_quickstart
    remote, local = Viewer(url), Viewer(str(working_copy))
    assert {n: t.rows for n, t in remote.tables.items()} == {n: t.rows for n, t in local.tables.items()}
    # a first page opens the first objects (and a few read ahead), not every part of the table
    everything = remote.tables["everything"]
    opened, real = [], tables.parquet_file
    with monkeypatch.context() as patch:
        patch.setattr(tables, "parquet_file", lambda path, **kw: opened.append(path) or real(path, **kw))
        assert query.page(everything, limit=10)["rows"]
    assert everything.counts[0] >= 10 and len(set(opened)) < len(everything.files), opened
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


def test_view_reads_a_large_object_a_few_row_groups_at_a_time(s3, cache, monkeypatch):
    """A first page, a sorted page and one row of a 50-row-group Parquet object at a URL read a
    few of its row groups (and only the columns shown), not the object."""
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.view import query, tables
    from curate.view.server import Viewer
    from tests.helpers.s3 import fresh_bucket

    rows = 5000
    data = pa.table({"id": [f"r{i}" for i in range(rows)], "verdict": ["pass", "fail"] * (rows // 2),
                     "completion_tokens": list(range(rows)), "problem": ["x" * 2000] * rows})
    sink = pa.BufferOutputStream()
    pq.write_table(data, sink, row_group_size=100)
    bucket = fresh_bucket()
    boto3.client("s3").put_object(Bucket=bucket, Key="big/data.parquet", Body=sink.getvalue().to_pybytes())
    viewer = Viewer(f"s3://{bucket}/big/data.parquet")
    [table] = viewer.tables.values()
    assert table.rows == rows
    reads: list[tuple[int, tuple]] = []
    real = tables.parquet_file

    class Counted:
        def __init__(self, parquet):
            self.parquet = parquet

        def __getattr__(self, name):
            return getattr(self.parquet, name)

        def read_row_group(self, group, columns=None, **kw):
            reads.append((group, tuple(columns or ())))
            return self.parquet.read_row_group(group, columns=columns, **kw)

    monkeypatch.setattr(tables, "parquet_file", lambda path, **kw: Counted(real(path, **kw)))
    monkeypatch.setattr(query, "parquet_file", lambda path, **kw: Counted(real(path, **kw)))
    first = query.page(table, limit=20)
    assert [r["id"] for r in first["rows"]] == [f"r{i}" for i in range(20)]
    *scans, previews = reads
    assert previews == (0, ("problem",))  # the page's previews: one row group, one column
    # the page's columns from the first row groups (and a few polars reads ahead), of 50
    assert 1 <= len(scans) <= 10 and {cols for _, cols in scans} == {("id", "verdict", "completion_tokens")}
    reads.clear()
    assert query.fetch(table, [4321])[4321]["completion_tokens"] == 4321
    assert [group for group, _ in reads] == [43]


def test_push_a_run_on_s3_to_the_hub_standin(s3_quickstart, cache, tmp_path, monkeypatch):
    from hub_standin import install

    url, _, working_copy = s3_quickstart
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_notARealTokenButSecret123")
    from curate.publish import hub

    monkeypatch.setattr(hub, "make_api", hub.make_api)  # undone after the test: install() replaces it
    standin = install(tmp_path / "hub")
    result = CliRunner().invoke(cli, ["push", url, "me/quick", "--atomic"])
    assert result.exit_code == 0, result.output
    pushed = standin.tree("main")
    dataset = working_copy / "dataset"
    assert set(pushed) == {p.relative_to(dataset).as_posix() for p in dataset.rglob("*") if p.is_file()}
    for name, entry in pushed.items():
        if entry.get("sha256"):  # shards and plots: the bytes the run stored, unchanged
            assert entry["sha256"] == hashlib.sha256((dataset / name).read_bytes()).hexdigest()
    assert "hf_notARealTokenButSecret123" not in result.output
    no_secret_in(cache)


def test_push_follow_streams_a_run_that_writes_to_s3(s3, tmp_path, monkeypatch):
    """`curate run --run-dir s3://...` and `curate push s3://... --follow` in two processes with
    their own caches (two machines, as far as files go): shards go up while the run writes (the
    run's write stage waits for the first upload: hub_standin.gate_write), then one commit."""
    import yaml
    from hub_standin import BlobHub
    from publish_helpers import sample_recipe

    from tests.helpers.s3 import fresh_bucket
    from tests.test_push_follow import finish, launch

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(sample_recipe(), sort_keys=False))
    bucket, state = fresh_bucket(), tmp_path / "hub"
    url = f"s3://{bucket}/follow"
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "follower-cache"))
    follower = launch(state, "push", url, "me/follow", "--follow", "--poll", "0.1")
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "runner-cache"))
    runner = launch(state, "run", str(recipe), "--run-dir", url, "--quiet", "--no-report")
    run_out, follow_out = finish(runner), finish(follower)
    assert runner.returncode == 0, run_out
    assert follower.returncode == 0, follow_out
    assert f"waiting for a run to start in {url}" in follow_out
    standin = BlobHub(state)
    done = standin.done()
    assert done and len(done) == len(set(done))  # each blob once
    assert all(e["via"] == "preupload" for e in standin.events() if e["event"] == "done")
    [commit] = standin.commits()
    stored = objects(bucket, "follow")
    blobs = {k.split("/", 1)[1]: hashlib.sha256(v).hexdigest() for k, v in stored.items()
             if k.startswith("dataset/") and not k.endswith("README.md")}
    assert {p: f["sha256"] for p, f in commit["added"].items() if "sha256" in f} == blobs
    assert set(done) == set(blobs.values()) and "README.md" in commit["added"]
    no_secret_in(tmp_path / "follower-cache")
