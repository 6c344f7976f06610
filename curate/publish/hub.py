"""Publish `RUN/dataset/` to a dataset repo on the Hugging Face Hub.

Plan first, then upload. The plan lists the local files (config shards, plots, README.md last),
the remote files that would go stale (shards of our configs that this upload does not contain,
e.g. `train-00002-of-00003.parquet` after a re-run with two shards: the config globs would still
match them) and refuses a repo that holds data files in another layout, since the Hub would then
serve two datasets mixed.

Two modes:
- default (resumable): one commit per batch of files, README and deletions in the last one.
  Files already on the Hub with the same content are skipped by huggingface_hub, so rerunning
  after a crash only uploads what is missing; until the last commit the old card still points at
  the old files.
- atomic (`--atomic`, implied by `--create-pr`): pre-upload every LFS file, then one commit
  with all additions and deletions (one PR with `--create-pr`).

The token comes from HF_TOKEN or the login cache (huggingface_hub.get_token) and is never
printed. Errors name the next step: log in, use a write token, choose another repo.
Tests inject an HfApi-shaped stand-in through `make_api`. `curate push --follow`, which uploads
shards while the run is still writing them, lives in `curate.publish.follow`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from curate.errors import CurateError

DATA_SUFFIXES = (".parquet", ".arrow", ".jsonl", ".json.gz", ".jsonl.gz", ".csv", ".tsv", ".txt.gz")
FILES_PER_COMMIT = 50


def make_api(token: str | None):
    """The HfApi the push talks to (tests replace this function with a stand-in)."""
    from huggingface_hub import HfApi

    return HfApi(token=token)


def find_token() -> str | None:
    """HF_TOKEN, or the token `hf auth login` cached; None when neither exists."""
    from huggingface_hub import get_token

    return get_token()


def connect(token: str | None = None):
    """The HfApi to push with, logged in; a `CurateError` saying how to log in without a token."""
    token = token or find_token()
    if not token:
        raise CurateError("not logged in to the Hugging Face Hub (no HF_TOKEN, no cached login).",
                          "Run `hf auth login` (or set HF_TOKEN to a token with write access), then retry.")
    return make_api(token)


@dataclass
class PushPlan:
    """What a push would do; `describe()` is the dry-run listing."""

    repo_id: str
    folder: Path
    files: list[str]
    revision: str | None = None
    private: bool = False
    create_pr: bool = False
    atomic: bool = False
    configs: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    remote_checked: bool = False

    def batches(self) -> list[list[str]]:
        """Upload order: data files in batches, plots, then README.md alone at the end."""
        if self.atomic:
            return [self.files]
        body = [f for f in self.files if f != "README.md"]
        chunks = [body[i:i + FILES_PER_COMMIT] for i in range(0, len(body), FILES_PER_COMMIT)]
        return chunks + [["README.md"]]

    def total_bytes(self) -> int:
        return sum((self.folder / f).stat().st_size for f in self.files)

    def describe(self) -> str:
        target = f"{self.repo_id} (dataset{', private' if self.private else ''})"
        where = f"branch {self.revision}" if self.revision else "main"
        mode = "one commit" if self.atomic else f"{len(self.batches())} commit(s), resumable"
        lines = [f"Would push {len(self.files)} file(s), {size_text(self.total_bytes())}, to {target}",
                 f"  on {where}{' as a pull request' if self.create_pr else ''}; {mode}."]
        for f in self.files:
            lines.append(f"  + {f:<60} {size_text((self.folder / f).stat().st_size):>10}")
        for f in self.stale:
            lines.append(f"  - {f:<60} (stale shard, deleted)")
        if not self.remote_checked:
            lines.append("  (remote not checked in a dry run: stale shards on the Hub are found at push time)")
        return "\n".join(lines)


def size_text(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def dataset_folder(run_or_folder: str | Path) -> Path:
    """RUN/dataset/, or the folder itself when it already is one (holds README.md)."""
    from curate.rundir import RunDir

    path = Path(run_or_folder)
    folder = path if (path / "README.md").exists() and not RunDir.is_run(path) else RunDir(path).dataset
    if not (folder / "README.md").exists():
        raise CurateError(f"{folder} holds no dataset card (README.md): nothing to push.",
                          "Finish the run first (`curate run RECIPE` with a `write` stage), then "
                          "`curate push RUN REPO_ID`.")
    return folder


def config_names(folder: Path) -> list[str]:
    """Config folders named in the card's `configs:` block (they hold our shards)."""
    import yaml

    text = (folder / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---", 2)[1]) if text.startswith("---") else {}
    names = set()
    for entry in (meta or {}).get("configs", []):
        for item in entry.get("data_files", []):
            paths = item.get("path") if isinstance(item, dict) else item
            for p in [paths] if isinstance(paths, str) else paths or []:
                if "/" in p:
                    names.add(p.split("/", 1)[0])
    return sorted(names)


def plan_push(run_or_folder: str | Path, repo_id: str, *, revision: str | None = None,
              private: bool = False, create_pr: bool = False, atomic: bool = False) -> PushPlan:
    folder = dataset_folder(run_or_folder)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    files = [f for f in files if f != "README.md"] + ["README.md"]
    return PushPlan(repo_id=repo_id, folder=folder, files=files, revision=revision, private=private,
                    create_pr=create_pr, atomic=atomic or create_pr, configs=config_names(folder))


def check_remote(plan: PushPlan, remote: list[str]) -> None:
    """Fill `plan.stale`; refuse data files outside our config folders (another layout)."""
    ours = set(plan.files)
    foreign, stale = [], []
    for path in remote:
        if path in ours or not path.endswith(DATA_SUFFIXES):
            continue
        top = path.split("/", 1)[0] if "/" in path else ""
        if top in plan.configs or fnmatch(path, "plots/*"):
            stale.append(path)
        else:
            foreign.append(path)
    if foreign:
        raise CurateError(
            f"{plan.repo_id} already holds data files in another layout ({', '.join(foreign[:3])}"
            f"{' …' if len(foreign) > 3 else ''}); pushing would mix two datasets.",
            "Push to a new repo id, or delete those files on the Hub first "
            "(huggingface_hub: HfApi().delete_folder / delete_file), then push again.")
    plan.stale = sorted(stale)
    plan.remote_checked = True


def push(plan: PushPlan, *, api: Any = None, token: str | None = None, log=print) -> str:
    """Create the repo if needed, upload per the plan; return the commit or PR URL."""
    api = api or connect(token)
    try:
        return _push(api, plan, log)
    except CurateError:
        raise
    except Exception as exc:  # huggingface_hub raises many kinds; translate the ones users can fix
        raise translate(exc, plan) from exc


def _push(api, plan: PushPlan, log) -> str:
    api.create_repo(plan.repo_id, repo_type="dataset", private=plan.private, exist_ok=True)
    if plan.revision:
        api.create_branch(plan.repo_id, branch=plan.revision, repo_type="dataset", exist_ok=True)
    check_remote(plan, api.list_repo_files(plan.repo_id, repo_type="dataset", revision=plan.revision))
    name_repo_in_card(plan.folder, plan.repo_id)
    if plan.atomic:
        return _push_atomic(api, plan, log)
    url = ""
    batches = plan.batches()
    for i, batch in enumerate(batches, 1):
        last = i == len(batches)
        log(f"commit {i}/{len(batches)}: {len(batch)} file(s)")
        info = api.upload_folder(
            repo_id=plan.repo_id, repo_type="dataset", folder_path=str(plan.folder),
            allow_patterns=batch, delete_patterns=plan.stale if last and plan.stale else None,
            revision=plan.revision, commit_message=_message(plan, i, len(batches)))
        url = commit_url(info) or url
    return url


def name_repo_in_card(folder: Path, repo_id: str) -> None:
    """Put the repo id into the card's load snippets (`load_dataset("REPO_ID", ...)` until now), in
    the local card too: it then documents where the dataset lives."""
    from curate.publish.card import REPO_PLACEHOLDER

    path = folder / "README.md"
    text = path.read_text(encoding="utf-8")
    named = text.replace(f'load_dataset("{REPO_PLACEHOLDER}"', f'load_dataset("{repo_id}"')
    if named != text:
        tmp = path.with_name(".README.md.tmp")
        tmp.write_text(named, encoding="utf-8")
        os.replace(tmp, path)


def _push_atomic(api, plan: PushPlan, log) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    additions = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(plan.folder / f)) for f in plan.files]
    log(f"pre-uploading {len(additions)} file(s)")
    api.preupload_lfs_files(plan.repo_id, additions=additions, repo_type="dataset",
                            revision=plan.revision, create_pr=plan.create_pr)
    deletions = [CommitOperationDelete(path_in_repo=f) for f in plan.stale]
    info = api.create_commit(plan.repo_id, operations=additions + deletions, repo_type="dataset",
                             revision=plan.revision, create_pr=plan.create_pr,
                             commit_message=_message(plan, 1, 1))
    return commit_url(info)


def _message(plan: PushPlan, i: int, n: int) -> str:
    part = f" ({i}/{n})" if n > 1 else ""
    return f"Upload dataset with curate{part}"


def commit_url(info: Any) -> str:
    return str(getattr(info, "pr_url", None) or getattr(info, "commit_url", None) or "")


def translate(exc: Exception, plan: PushPlan) -> Exception:
    """A CurateError with the next step for the Hub failures users can fix; others unchanged."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    kind = type(exc).__name__
    if kind == "OfflineModeIsEnabled" or "offline" in str(exc).lower() and "HF_HUB_OFFLINE" in str(exc):
        return CurateError("HF_HUB_OFFLINE is set, so nothing can be pushed.",
                           "Unset HF_HUB_OFFLINE (or use --dry-run to see what would be uploaded).")
    if status == 401:
        return CurateError("the Hub refused the token (401: invalid or expired).",
                           "Run `hf auth login` again or set HF_TOKEN to a valid token.")
    if status == 403:
        return CurateError(f"no write access to {plan.repo_id} (403).",
                           "Use a token with write access to that namespace (a fine-grained token needs "
                           "'write' on it), or push to your own namespace: curate push RUN you/name.")
    if status == 404 or kind in ("RepositoryNotFoundError", "RevisionNotFoundError"):
        return CurateError(f"{plan.repo_id}{'@' + plan.revision if plan.revision else ''} was not found.",
                           "Check the repo id (owner/name) and --revision.")
    if status == 409:
        return CurateError(f"{plan.repo_id} exists but could not be used as a dataset repo (409).",
                           "It may be a model or Space repo of the same name: choose another repo id.")
    return exc
