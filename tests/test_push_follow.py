"""`curate push --follow` against a Hub stand-in kept in a folder (tests/hub_standin.py), with
real `curate run` and `curate push` subprocesses: shards go up while the run writes, a push
killed mid-upload resumes without sending a finished blob again, a failing run ends the follow
naming its stage, and a repo that holds the dataset gets nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hub_standin import BlobHub
from publish_helpers import make_run, sample_recipe

from curate.cli.group import cli
from curate.publish import hub
from curate.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent
STANDIN = Path(__file__).resolve().parent / "hub_standin.py"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", "hf_standin")


def launch(state: Path, *args: str, delay: float = 0.0) -> subprocess.Popen:
    """`curate ARGS` in a subprocess that talks to the stand-in in `state`."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "STANDIN_DELAY": str(delay)}
    return subprocess.Popen([sys.executable, str(STANDIN), str(state), *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = proc.communicate(timeout=timeout)
    return out


def dataset_blobs(run: Path) -> dict[str, str]:
    """Final path in the repo -> sha256, of every LFS file of RUN/dataset/."""
    folder = RunDir(run).dataset
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and p.name != "README.md"}


def follow_in_process(monkeypatch, standin: BlobHub, run: Path, *args: str):
    monkeypatch.setattr(hub, "make_api", lambda token: standin)
    return CliRunner().invoke(cli, ["push", str(run), "me/follow", "--follow", "--poll", "0.1", *args])


def test_follow_uploads_shards_while_the_run_writes_then_commits_once(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(sample_recipe(), sort_keys=False))
    run, state = tmp_path / "run", tmp_path / "hub"
    follower = launch(state, "push", str(run), "me/follow", "--follow", "--poll", "0.1", "--revision", "v1")
    # the run's write stage holds part 1 until the stand-in has a finished upload (hub_standin.gate_write)
    runner = launch(state, "run", str(recipe), "--run-dir", str(run), "--quiet", "--no-report", "--workers", "1")
    run_out, follow_out = finish(runner), finish(follower)
    assert runner.returncode == 0, run_out
    assert follower.returncode == 0, follow_out
    standin, rd = BlobHub(state), RunDir(run)
    write_dir = rd.stage_dirs_named("write")[0]
    last_marked = max(p.stat().st_mtime for p in rd.markers(write_dir))
    shards = [e for e in standin.events() if e["event"] == "done"]
    assert shards and shards[0]["t"] < last_marked  # uploaded before the run's last part was written
    assert len(standin.done()) == len(set(standin.done()))  # each blob once
    [commit] = standin.commits()
    blobs = dataset_blobs(run)
    assert commit["revision"] == "v1" and not commit["pr"]
    assert {p: f["sha256"] for p, f in commit["added"].items() if "sha256" in f} == blobs
    assert "README.md" in commit["added"] and set(standin.done()) == set(blobs.values())
    assert all(e["via"] == "preupload" for e in shards)  # the commit itself moved no blob
    assert "https://hub/commit/1" in follow_out


def test_a_killed_push_resumes_without_sending_a_finished_blob_again(monkeypatch, tmp_path):
    run, state = make_run(tmp_path), tmp_path / "hub"
    standin = BlobHub(state)
    pusher = launch(state, "push", str(run), "me/follow", "--follow", "--poll", "0.1", delay=0.7)
    deadline = time.monotonic() + 120
    while not (len(standin.done()) >= 2 and standin.events()[-1]["event"] == "start"):
        assert pusher.poll() is None and time.monotonic() < deadline, finish(pusher)
        time.sleep(0.02)
    pusher.send_signal(signal.SIGKILL)  # mid-upload: one blob started, not finished
    finish(pusher)
    in_flight = standin.events()[-1]["sha256"]
    before = standin.done()
    assert standin.commits() == [] and in_flight not in before
    result = follow_in_process(monkeypatch, standin, run)
    assert result.exit_code == 0, result.output
    after = standin.done()
    assert after[:len(before)] == before and len(after) == len(set(after))  # nothing finished was re-sent
    assert in_flight in after[len(before):]
    [commit] = standin.commits()
    assert {p: f["sha256"] for p, f in commit["added"].items() if "sha256" in f} == dataset_blobs(run)


def test_an_interrupted_push_says_how_to_resume(monkeypatch, tmp_path):
    run, state = make_run(tmp_path), tmp_path / "hub"
    standin = BlobHub(state)
    pusher = launch(state, "push", str(run), "me/follow", "--follow", "--poll", "0.1", delay=0.7)
    seen = ""
    while "uploaded " not in seen:  # said once the blob is in the push record
        line = pusher.stdout.readline()
        assert line, seen + finish(pusher)
        seen += line
    pusher.send_signal(signal.SIGINT)
    out = seen + finish(pusher)
    assert pusher.returncode != 0 and "interrupted" in out and "again: it uploads only what is missing" in out, out
    sent = standin.done()
    result = follow_in_process(monkeypatch, standin, run)
    assert result.exit_code == 0, result.output
    assert not set(sent) & set(standin.done()[len(sent):])


def test_a_run_that_fails_while_followed_ends_the_follow_naming_the_stage(tmp_path):
    from curate.recipe import load_recipe
    from curate.runner import run_recipe
    from tests.helpers.slow_stage import register_boom

    register_boom()
    trigger = tmp_path / "fail"
    trigger.write_text("")
    raw = sample_recipe()
    raw["stages"].insert(3, {"use": "boom", "fail_part": 1, "trigger": str(trigger)})
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    run, state = tmp_path / "run", tmp_path / "hub"
    follower = launch(state, "push", str(run), "me/follow", "--follow", "--poll", "0.1")
    first = follower.stdout.readline()  # it is watching before the run starts
    assert "waiting for a run to start" in first, first + finish(follower)
    with pytest.raises(ValueError, match="boom"):
        run_recipe(load_recipe(recipe), run, progress=False)
    out = finish(follower, timeout=120)
    assert follower.returncode != 0, out
    assert "failed in stage 03-boom" in out and "boom halfway" in out and "Hint:" in out
    assert BlobHub(state).commits() == []


def test_a_repo_that_holds_the_dataset_gets_nothing(monkeypatch, tmp_path):
    run = make_run(tmp_path)
    standin = BlobHub(tmp_path / "hub")
    assert follow_in_process(monkeypatch, standin, run).exit_code == 0
    sent, commits = standin.done(), standin.commits()
    (RunDir(run).push_record("me/follow")).unlink()  # forget what was sent: the repo's tree must suffice
    result = follow_in_process(monkeypatch, standin, run)
    assert result.exit_code == 0, result.output
    assert standin.done() == sent and standin.commits() == commits
    assert "already holds this dataset" in result.output


def test_follow_refuses_dry_run(tmp_path):
    result = CliRunner().invoke(cli, ["push", str(tmp_path), "me/x", "--follow", "--dry-run"])
    assert result.exit_code != 0 and "cannot follow" in result.output


def test_create_pr_streams_then_opens_one_pull_request(monkeypatch, tmp_path):
    run = make_run(tmp_path)
    standin = BlobHub(tmp_path / "hub")
    result = follow_in_process(monkeypatch, standin, run, "--create-pr")
    assert result.exit_code == 0, result.output
    [commit] = standin.commits()
    assert commit["pr"] and "https://hub/pr/1" in result.output
    assert set(standin.done()) == set(dataset_blobs(run).values())


def test_a_run_killed_while_followed_ends_the_follow(tmp_path):
    raw = sample_recipe()
    raw["stages"].insert(3, {"use": "slow", "seconds": 1.0})  # fused with write: parts finish one by one
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    run, state = tmp_path / "run", tmp_path / "hub"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runner = subprocess.Popen([sys.executable, "-m", "tests.helpers.slow_stage", str(recipe), str(run)],
                              cwd=ROOT, env=env)
    follower = launch(state, "push", str(run), "me/follow", "--follow", "--poll", "0.1")
    standin, deadline = BlobHub(state), time.monotonic() + 120
    while not standin.done():  # the follower has seen the run at work and uploaded a shard
        assert runner.poll() is None and time.monotonic() < deadline, "the run ended before a shard went up"
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    out = finish(follower, timeout=120)
    assert follower.returncode != 0, out
    assert "stopped in stage 02-mix, 03-slow, 04-write" in out and "killed?" in out and "Hint:" in out
    assert standin.commits() == []


def test_follow_refuses_a_dataset_folder(tmp_path):
    (tmp_path / "README.md").write_text("---\n---\n")
    result = CliRunner().invoke(cli, ["push", str(tmp_path), "me/x", "--follow"])
    assert result.exit_code != 0 and "not a run directory" in result.output and "curate push" in result.output


def test_a_run_without_write_stage_is_refused(monkeypatch, tmp_path):
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    raw = sample_recipe()
    raw["stages"] = raw["stages"][:2]
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    run_recipe(load_recipe(recipe), tmp_path / "run", progress=False)
    result = follow_in_process(monkeypatch, BlobHub(tmp_path / "hub"), tmp_path / "run")
    assert result.exit_code != 0 and "no `write` stage" in result.output and "Hint:" in result.output


def test_ctrl_c_of_the_run_is_recorded_with_its_stage(tmp_path):
    raw = sample_recipe()
    raw["stages"].insert(3, {"use": "slow", "seconds": 1.0})
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = tmp_path / "run"
    runner = subprocess.Popen([sys.executable, "-m", "tests.helpers.slow_stage", str(recipe), str(run)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL)
    rd, deadline = RunDir(run), time.monotonic() + 120
    while "03-slow" not in (rd.read_run_state().get("stage") or ""):
        assert runner.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=60) != 0
    state = rd.read_run_state()
    assert state["state"] == "interrupted" and "03-slow" in state["stage"] and state["pid"] == runner.pid
