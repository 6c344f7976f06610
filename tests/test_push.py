"""curate push, at the huggingface_hub boundary: an HfApi-shaped stand-in replaces the Hub (no
network here; HF_HUB_OFFLINE=1 makes any accidental real call fail fast). Checks the repo, the
files, the revision and PR arguments, stale-shard deletion, layout refusal and error hints."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from huggingface_hub.errors import HfHubHTTPError
from publish_helpers import make_run

from curate.cli.group import cli
from curate.publish import hub

SECRET = "hf_notARealTokenButSecret123"


class FakeHub:
    """Records what curate asks of the Hub; behaves like HfApi for the calls curate makes."""

    def __init__(self, remote: list[str] | None = None, fail: int | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.remote = remote or []
        self.fail = fail

    def _record(self, name: str, **kwargs):
        self.calls.append((name, kwargs))
        if self.fail:
            request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
            raise HfHubHTTPError(f"{self.fail} error", response=httpx.Response(self.fail, request=request))

    def create_repo(self, repo_id, **kw):
        self._record("create_repo", repo_id=repo_id, **kw)
        return f"https://huggingface.co/datasets/{repo_id}"

    def create_branch(self, repo_id, **kw):
        self._record("create_branch", repo_id=repo_id, **kw)

    def list_repo_files(self, repo_id, **kw):
        self._record("list_repo_files", repo_id=repo_id, **kw)
        return list(self.remote)

    def upload_folder(self, **kw):
        self._record("upload_folder", **kw)
        return type("CommitInfo", (), {"commit_url": "https://hub/commit/1", "pr_url": None})()

    def preupload_lfs_files(self, repo_id, additions, **kw):
        self._record("preupload_lfs_files", repo_id=repo_id, additions=list(additions), **kw)

    def create_commit(self, repo_id, operations, **kw):
        self._record("create_commit", repo_id=repo_id, operations=list(operations), **kw)
        return type("CommitInfo", (), {"commit_url": "https://hub/commit/2", "pr_url": "https://hub/pr/1"})()

    def named(self, name: str) -> list[dict]:
        return [kw for n, kw in self.calls if n == name]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", SECRET)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("push"))


def use(monkeypatch, fake: FakeHub) -> FakeHub:
    seen = {}

    def make_api(token):
        seen["token"] = token
        return fake

    monkeypatch.setattr(hub, "make_api", make_api)
    fake.seen = seen
    return fake


def local_files(run_dir: Path) -> set[str]:
    folder = run_dir / "dataset"
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def invoke(*args: str):
    return CliRunner().invoke(cli, ["push", *args])


def test_push_creates_the_repo_and_uploads_every_file_readme_last(monkeypatch, run_dir):
    fake = use(monkeypatch, FakeHub())
    result = invoke(str(run_dir), "me/quick", "--private", "--revision", "v1")
    assert result.exit_code == 0, result.output
    assert fake.seen["token"] == SECRET and SECRET not in result.output
    assert fake.named("create_repo") == [
        {"repo_id": "me/quick", "repo_type": "dataset", "private": True, "exist_ok": True}]
    assert fake.named("create_branch")[0]["branch"] == "v1"
    uploads = fake.named("upload_folder")
    assert all(u["repo_id"] == "me/quick" and u["repo_type"] == "dataset" and u["revision"] == "v1" for u in uploads)
    assert all(Path(u["folder_path"]) == run_dir / "dataset" for u in uploads)
    sent = [f for u in uploads for f in u["allow_patterns"]]
    assert set(sent) == local_files(run_dir) and len(sent) == len(set(sent))
    assert uploads[-1]["allow_patterns"] == ["README.md"]
    assert "create_pr" not in uploads[0] or not uploads[0]["create_pr"]


def test_create_pr_makes_one_atomic_commit(monkeypatch, run_dir):
    fake = use(monkeypatch, FakeHub())
    result = invoke(str(run_dir), "org/data", "--create-pr")
    assert result.exit_code == 0, result.output
    assert fake.named("upload_folder") == []
    pre = fake.named("preupload_lfs_files")[0]
    commit = fake.named("create_commit")[0]
    assert pre["create_pr"] is True and commit["create_pr"] is True and commit["revision"] is None
    assert {op.path_in_repo for op in pre["additions"]} == local_files(run_dir)
    assert {op.path_in_repo for op in commit["operations"]} == local_files(run_dir)
    assert "https://hub/pr/1" in result.output


def test_stale_shards_of_our_configs_are_deleted(monkeypatch, run_dir):
    stale = "reasoning/train-00007-of-00009.parquet"
    fake = use(monkeypatch, FakeHub(remote=[".gitattributes", "README.md", stale]))
    assert invoke(str(run_dir), "me/quick").exit_code == 0
    assert fake.named("upload_folder")[-1]["delete_patterns"] == [stale]
    fake = use(monkeypatch, FakeHub(remote=[stale]))
    assert invoke(str(run_dir), "me/quick", "--atomic").exit_code == 0
    operations = fake.named("create_commit")[0]["operations"]
    deletes = [op.path_in_repo for op in operations if type(op).__name__ == "CommitOperationDelete"]
    assert deletes == [stale]


def test_repo_with_another_layout_is_refused(monkeypatch, run_dir):
    fake = use(monkeypatch, FakeHub(remote=["data/train-00000-of-00001.parquet", "README.md"]))
    result = invoke(str(run_dir), "me/other")
    assert result.exit_code != 0
    assert "another layout" in result.output and "data/train-00000-of-00001.parquet" in result.output
    assert "Hint:" in result.output
    assert fake.named("upload_folder") == [] and fake.named("create_commit") == []


def test_dry_run_lists_files_and_card_without_the_hub(monkeypatch, run_dir):
    monkeypatch.setattr(hub, "make_api", lambda token: pytest.fail("a dry run must not talk to the Hub"))
    monkeypatch.delenv("HF_TOKEN")
    result = invoke(str(run_dir), "me/quick", "--dry-run")
    assert result.exit_code == 0, result.output
    for f in local_files(run_dir):
        assert f"+ {f}" in result.output
    assert "config_name: all" in result.output and "--- README.md ---" in result.output


def test_not_logged_in_says_how_to_log_in(monkeypatch, run_dir):
    monkeypatch.setattr(hub, "find_token", lambda: None)
    monkeypatch.setattr(hub, "make_api", lambda token: pytest.fail("no api without a token"))
    result = invoke(str(run_dir), "me/quick")
    assert result.exit_code != 0 and "not logged in" in result.output and "hf auth login" in result.output


@pytest.mark.parametrize("status, words", [(401, "hf auth login"), (403, "write access"), (409, "another repo id")])
def test_hub_errors_say_what_to_do_and_never_show_the_token(monkeypatch, run_dir, status, words):
    use(monkeypatch, FakeHub(fail=status))
    result = invoke(str(run_dir), "me/quick")
    assert result.exit_code != 0 and words in result.output
    assert SECRET not in result.output


def test_a_real_call_fails_fast_offline(run_dir):
    plan = hub.plan_push(run_dir, "me/quick")
    with pytest.raises(Exception) as info:
        hub.push(plan, token=SECRET, log=lambda line: None)
    assert "HF_HUB_OFFLINE" in str(info.value)


def test_push_refuses_a_run_without_dataset(tmp_path):
    result = invoke(str(tmp_path), "me/quick")
    assert result.exit_code != 0 and "nothing to push" in result.output and "curate run" in result.output


def test_the_pushed_card_names_the_repo_in_its_load_snippets(monkeypatch, tmp_path):
    run = make_run(tmp_path)  # its own: the shared run's card was pushed (and so named) already
    assert 'load_dataset("REPO_ID"' in (run / "dataset" / "README.md").read_text()
    dry = invoke(str(run), "me/quick", "--dry-run")
    assert dry.exit_code == 0 and 'load_dataset("REPO_ID"' in (run / "dataset" / "README.md").read_text()
    sent = {}

    class Capturing(FakeHub):
        def upload_folder(self, **kw):
            if "README.md" in kw["allow_patterns"]:
                sent["card"] = (Path(kw["folder_path"]) / "README.md").read_text()
            return super().upload_folder(**kw)

    use(monkeypatch, Capturing())
    assert invoke(str(run), "me/quick").exit_code == 0
    assert "REPO_ID" not in sent["card"] and sent["card"].count('load_dataset("me/quick", "all"') == 2


def test_a_recipe_with_a_push_repo_names_it_in_the_card(tmp_path):
    import yaml
    from publish_helpers import sample_recipe

    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    raw = sample_recipe()
    raw["push"] = {"repo_id": "org/named"}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    run_recipe(load_recipe(path), tmp_path / "run", progress=False)
    card = (tmp_path / "run" / "dataset" / "README.md").read_text()
    assert "REPO_ID" not in card and 'load_dataset("org/named", "all"' in card


# ---------------------------------------------------------------- curate run --push


@pytest.fixture(scope="module")
def push_recipe(tmp_path_factory) -> Path:
    """A recipe with a `push:` section; its run is made once, later `curate run`s resume it."""
    import yaml
    from publish_helpers import sample_recipe

    folder = tmp_path_factory.mktemp("run-push")
    recipe = {**sample_recipe(), "push": {"repo_id": "me/from-recipe", "private": True, "revision": "v2"}}
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def run_cli(recipe: Path, *args: str):
    return CliRunner().invoke(cli, ["run", str(recipe), "--run-dir", str(recipe.parent / "run"),
                                    "--quiet", "--no-report", *args])


def test_run_push_publishes_as_the_recipe_says(monkeypatch, push_recipe):
    fake = use(monkeypatch, FakeHub())
    result = run_cli(push_recipe, "--push")
    assert result.exit_code == 0, result.output
    run_dir = push_recipe.parent / "run"
    assert fake.named("create_repo") == [
        {"repo_id": "me/from-recipe", "repo_type": "dataset", "private": True, "exist_ok": True}]
    assert fake.named("create_branch")[0]["branch"] == "v2"
    uploads = fake.named("upload_folder")
    assert {f for u in uploads for f in u["allow_patterns"]} == local_files(run_dir)
    assert all(u["revision"] == "v2" for u in uploads) and uploads[-1]["allow_patterns"] == ["README.md"]
    assert "Pushed" in result.output and "me/from-recipe" in result.output


def test_run_push_honours_create_pr_and_dry_run(monkeypatch, push_recipe):
    fake = use(monkeypatch, FakeHub())
    result = run_cli(push_recipe, "--push", "--set", "push.create_pr=true", "--set", "push.revision=null")
    assert result.exit_code == 0, result.output
    assert fake.named("upload_folder") == [] and fake.named("create_commit")[0]["create_pr"] is True
    fake = use(monkeypatch, FakeHub())
    result = run_cli(push_recipe, "--push", "--set", "push.dry_run=true")
    assert result.exit_code == 0, result.output
    assert fake.calls == [] and "Would push" in result.output and "--- README.md ---" in result.output


def test_run_without_push_flag_never_touches_the_hub(monkeypatch, push_recipe):
    fake = use(monkeypatch, FakeHub())
    result = run_cli(push_recipe)
    assert result.exit_code == 0, result.output
    assert fake.calls == [] and "Pushed" not in result.output


def test_run_push_without_push_section_fails_before_running(monkeypatch, tmp_path):
    import yaml
    from publish_helpers import sample_recipe

    fake = use(monkeypatch, FakeHub())
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(sample_recipe(), sort_keys=False))
    result = run_cli(recipe, "--push")
    assert result.exit_code != 0
    assert "has no `push:` section" in result.output and "push.repo_id" in result.output
    assert not (tmp_path / "run").exists() and fake.calls == []
