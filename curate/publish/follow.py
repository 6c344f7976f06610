"""`curate push --follow`: publish a run's dataset while the run is still writing it.

How a shard becomes trustworthy: the `write` stage closes each part's shards on its finishing
thread and only then marks the part done; the marker's `stats.shards` (`config/NNNNN.parquet` ->
bytes) is the part's completion record. A follower uploads a shard only when its part is marked
and the file has the recorded size (a part being redone after a crash is left alone).

Why the bytes can move before the names are known: `write` numbers the shards of a config
globally (`train-00003-of-00012.parquet`) only at its finalize, but the Hub's LFS storage is
addressed by content (sha256). So each complete shard is pre-uploaded
(`HfApi.preupload_lfs_files`, one shard per call) the moment it is marked, and the run's end
costs one `create_commit` naming the final paths (one pull request with `--create-pr`). The
final files are hard links of the shards (same bytes), so nothing is uploaded twice.

Resume: every blob uploaded is written to the push record (`RunDir.push_record(repo_id)`) right
after its upload, with the sha256 of each file read (by file identity, so a hard link is not
hashed again). A push killed or interrupted mid-upload resumes by uploading only blobs not in the
record; blobs the repository already holds at its revision (`list_repo_tree`: LFS sha256) are
never uploaded, and final files whose path already holds the same content are left out of the
commit. A stale record is harmless: the commit itself uploads any blob the Hub lacks.

The run's state (`RunDir.read_run_state`, written by the runner) says running, finished, failed
or interrupted. A failure of the run being followed ends the follow with a `CurateError`
naming the stage; a failure recorded before the follow began means: wait for `curate run` to
resume it.
"""

from __future__ import annotations

import copy
import hashlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import CurateError
from curate.publish import hub
from curate.rundir import RunDir, write_json_atomic


@dataclass(frozen=True)
class PushOptions:
    """Where and how to publish: the repo and the options of `curate push`."""

    repo_id: str
    revision: str | None = None
    private: bool = False
    create_pr: bool = False


@dataclass(frozen=True)
class Shard:
    """A complete dataset shard in the run: part, name inside the part (`config/NNNNN.parquet`)."""

    part: int
    name: str
    path: Path
    size: int


class RunWatch:
    """What a run offers a follower, read through `RunDir` only: its state and complete shards."""

    def __init__(self, rd: RunDir):
        self.rd = rd
        self.initial = _attempt(rd.read_run_state())
        self.followed: tuple | None = None  # the attempt seen running
        self.waiting_said = ""
        self.stages: list = []  # the recipe's stages, once the run has written its recipe
        self.fetched: dict[int, str] = {}  # a run at a URL: part -> the marker its shards were fetched for

    def write_stage(self) -> Path | None:
        """The folder of the recipe's (last) write stage, None before the run has started."""
        self.stages = self.stages or self.rd.recipe_data().get("stages", [])  # parsed once, not per poll
        stages = self.stages
        writes = [i for i, s in enumerate(stages) if isinstance(s, dict) and s.get("use") == "write"]
        if not stages:
            return None
        if not writes:
            raise CurateError(f"the recipe of {self.rd.path} has no `write` stage: it makes no dataset to push.",
                              "Add a `write` stage to the recipe (see docs: stages, write).")
        on_disk = self.rd.stage_dirs_named("write")
        return on_disk[-1] if on_disk else self.rd.stage_dir(writes[-1], "write")

    def config_names(self) -> list[str]:
        """The dataset configs the write stage makes (its shards' top folders)."""
        write = [s for s in self.stages if isinstance(s, dict) and s.get("use") == "write"][-1]
        return sorted(write.get("configs") or {"default": {}})

    def shards(self) -> list[Shard]:
        """The shards of every part the write stage has marked done, in part order."""
        sdir = self.write_stage()
        if sdir is None or not sdir.exists():
            return []
        out = []
        for part, marker in sorted(self.rd.part_stats(sdir).items()):
            if self.rd.store and self.fetched.get(part) != repr(marker):  # a run at a URL: its shards
                self.rd.fetch_scratch(sdir, part)
                self.fetched[part] = repr(marker)
            for name, size in sorted(((marker.get("stats") or {}).get("shards") or {}).items()):
                out.append(Shard(part, name, self.rd.scratch(sdir, part) / name, int(size)))
        return out

    def status(self, log: Callable[[str], None]) -> str:
        """`waiting` (not started, or an earlier attempt ended), `running` or `finished`; raises
        a `CurateError` when the attempt being followed failed, was interrupted or vanished."""
        state = self.rd.read_run_state()
        kind, attempt = state.get("state"), _attempt(state)
        ours = attempt == self.followed or (attempt != self.initial and attempt is not None)
        if kind == "finished" or (kind is None and self.rd.dataset_location()):
            return "finished"
        if kind == "running" and _alive(state):
            self.followed = attempt
            return "running"
        if kind is not None and ours:
            raise run_ended_error(self.rd, state, kind)
        self._say_waiting(state, kind, log)
        return "waiting"

    def _say_waiting(self, state: dict, kind: str | None, log: Callable[[str], None]) -> None:
        if kind is None:
            where = self.rd.location
            said = f"waiting for a run to start in {where} (`curate run RECIPE --run-dir {where}`)"
        else:
            what = "stopped" if kind == "running" else kind
            said = (f"the run in {self.rd.location} {what} earlier (stage {state.get('stage') or '?'}); "
                    "waiting for `curate run` to resume it")
        if said != self.waiting_said:
            log(said)
            self.waiting_said = said


def _attempt(state: dict) -> tuple | None:
    return (state.get("pid"), state.get("host"), state.get("started")) if state else None


def _alive(state: dict) -> bool:
    """Is the run's process alive? Only checkable on its own host; elsewhere assume so."""
    if state.get("host") != socket.gethostname() or not state.get("pid"):
        return True
    try:
        os.kill(int(state["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_ended_error(rd: RunDir, state: dict, kind: str) -> CurateError:
    """The follow ends: the followed run failed, was interrupted, or its process vanished."""
    stage = state.get("stage") or "?"
    if kind == "running":
        message = (f"the run in {rd.path} stopped in stage {stage} without recording why "
                   f"(process {state.get('pid')} is gone: killed?); nothing was committed.")
    else:
        verb = "was interrupted" if kind == "interrupted" else kind
        message = (f"the run in {rd.path} {verb} in stage {stage}"
                   f"{': ' + state['error'] if state.get('error') else ''}; nothing was committed.")
    return CurateError(message, "Fix the cause and resume the run (`curate run` with the same recipe and "
                                "--run-dir), then run this push again: shards already uploaded are skipped.")


class PushRecord:
    """The blobs a streaming push has uploaded to one repo, and the sha256 of the files it read."""

    def __init__(self, path: Path):
        import json

        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        self.uploaded: dict[str, int] = data.get("uploaded", {})  # sha256 -> bytes
        self.hashes: dict[str, str] = data.get("hashes", {})  # file identity -> sha256

    def save(self) -> None:
        write_json_atomic(self.path, {"uploaded": self.uploaded, "hashes": self.hashes})


def file_identity(path: Path) -> str:
    """Device, inode, size and mtime: equal for hard links of one file, new when it is rewritten."""
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class Uploader:
    """Pre-upload blobs once each: skip those the repo holds or the record lists; record each."""

    def __init__(self, api: Any, options: PushOptions, record: PushRecord, log: Callable[[str], None]):
        self.api, self.options, self.record, self.log = api, options, record, log
        self.held: set[str] = set()  # LFS sha256 of the files the repo holds at its revision
        self.ops: dict[str, Any] = {}  # sha256 -> the operation that uploaded it (this process)
        self.seen: dict[str, str] = {}  # file identity -> sha256, of files handled this process
        self.sent = 0

    def ensure(self, path: Path, path_in_repo: str, label: str = "") -> str:
        """Make sure the blob of `path` is in the repo's storage; return its sha256. Before the
        run ends a shard's final name is unknown: `path_in_repo` is then a provisional one (the
        Hub picks the upload mode by path; the blob itself is stored by content)."""
        from huggingface_hub import CommitOperationAdd

        ident = file_identity(path)
        sha = self.seen.get(ident) or self.record.hashes.get(ident)
        if sha and (sha in self.record.uploaded or sha in self.held):
            self.seen[ident] = sha
            return sha
        op = CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=str(path))  # hashes the file
        sha = op.upload_info.sha256.hex()
        self.record.hashes[ident] = self.seen[ident] = sha
        if sha not in self.record.uploaded and sha not in self.held:
            self.api.preupload_lfs_files(self.options.repo_id, additions=[op], repo_type="dataset",
                                         revision=self.options.revision, create_pr=self.options.create_pr)
            self.record.uploaded[sha] = op.upload_info.size
            self.ops[sha] = op
            self.sent += 1
            self.record.save()  # right after the upload: a kill from here on costs no re-upload
            self.log(f"uploaded {label or path_in_repo} ({hub.size_text(op.upload_info.size)})")
        else:
            self.record.save()
        return sha

    def addition(self, path: Path, path_in_repo: str) -> Any:
        """The commit's operation for `path` at its final name: a copy of the one that uploaded
        its blob in this process (already uploaded, not hashed again), else a new one."""
        from huggingface_hub import CommitOperationAdd

        sha = self.seen.get(file_identity(path))
        if sha in self.ops:
            op = copy.copy(self.ops[sha])
            op.path_in_repo = path_in_repo
            return op
        return CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=str(path))


def follow_push(run_dir: str | Path, options: PushOptions, *, api: Any = None, poll: float = 10.0,
                log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep) -> str:
    """Follow the run in `run_dir`: upload each shard once complete, commit once it is finished.

    Returns the commit (or pull request) URL, "" when the repo already held the dataset."""
    from curate.storage import is_url

    folder = Path(run_dir)
    if not is_url(run_dir) and (folder / "README.md").exists() and not RunDir.is_run(folder):
        raise CurateError(f"{folder} is a dataset folder, not a run directory: there is no run to follow.",
                          f"Push it as it is: curate push {folder} {options.repo_id}")
    api = api or hub.connect()
    # a run at a URL is followed through a read-only copy, refreshed at each poll
    rd = RunDir.for_reading(run_dir) if is_url(run_dir) else RunDir(run_dir)
    try:
        return _follow(api, rd, options, poll, log, sleep)
    except CurateError:
        raise
    except Exception as exc:  # huggingface_hub raises many kinds; translate the ones users can fix
        plan = hub.PushPlan(repo_id=options.repo_id, folder=Path(run_dir), files=[], revision=options.revision)
        raise hub.translate(exc, plan) from exc


def _follow(api: Any, rd: RunDir, options: PushOptions, poll: float, log, sleep) -> str:
    api.create_repo(options.repo_id, repo_type="dataset", private=options.private, exist_ok=True)
    if options.revision:
        api.create_branch(options.repo_id, branch=options.revision, repo_type="dataset", exist_ok=True)
    watch = RunWatch(rd)
    uploader = Uploader(api, options, PushRecord(rd.push_record(options.repo_id)), log)
    checked = False
    while True:
        if rd.store:
            rd.refresh()
        status = watch.status(log)
        if not checked and watch.write_stage() is not None:
            tree = remote_tree(api, options)
            refuse_foreign(options, tree, watch.config_names())
            uploader.held = {e.lfs.sha256 for e in tree.values() if getattr(e, "lfs", None)}
            checked = True
        for shard in watch.shards():
            if shard.path.exists() and shard.path.stat().st_size == shard.size:  # else: being redone
                config, _, file = shard.name.rpartition("/")
                uploader.ensure(shard.path, f"{config}/shard-{shard.part:05d}-{file}",
                                label=f"part {shard.part} {shard.name}")
        if status == "finished":
            return commit_run(api, rd, options, uploader, log)
        sleep(poll)


def remote_tree(api: Any, options: PushOptions) -> dict[str, Any]:
    """The repo's files at the revision (path -> RepoFile, with `lfs.sha256` for LFS files)."""
    from huggingface_hub.errors import EntryNotFoundError

    try:
        entries = api.list_repo_tree(options.repo_id, repo_type="dataset", revision=options.revision,
                                     recursive=True)
        return {e.path: e for e in entries if hasattr(e, "blob_id")}  # files, not folders
    except EntryNotFoundError:  # an empty repo
        return {}


def refuse_foreign(options: PushOptions, tree: dict[str, Any], configs: list[str]) -> None:
    """Refuse a repo holding data in another layout before uploading anything to it."""
    plan = hub.PushPlan(repo_id=options.repo_id, folder=Path("."), files=[], configs=configs)
    hub.check_remote(plan, list(tree))


def commit_run(api: Any, rd: RunDir, options: PushOptions, uploader: Uploader, log) -> str:
    """The run is finished: upload what is missing of dataset/, then one commit at the final names."""
    if rd.store:  # its dataset/ into the read-only copy (blobs already sent are not sent again)
        rd.refresh()  # again: the state said finished, so the flag naming dataset/ is stored by now
        rd.fetch_dataset()
    plan = hub.plan_push(rd.path, options.repo_id, revision=options.revision, private=options.private,
                         create_pr=options.create_pr, atomic=True)
    hub.name_repo_in_card(plan.folder, options.repo_id)
    tree = remote_tree(api, options)
    hub.check_remote(plan, list(tree))
    additions = []
    for name in plan.files:
        path = plan.folder / name
        if name != "README.md":
            sha = uploader.ensure(path, name)
            remote = tree.get(name)
            if remote is not None and getattr(remote, "lfs", None) and remote.lfs.sha256 == sha:
                continue  # the repo holds this content at this path already
        elif _same_regular(tree.get(name), path):
            continue
        additions.append(uploader.addition(path, name))
    from huggingface_hub import CommitOperationDelete

    deletions = [CommitOperationDelete(path_in_repo=f) for f in plan.stale]
    log(f"uploaded {uploader.sent} blob(s) in this push; committing {len(additions)} file(s)"
        + (f", deleting {len(deletions)} stale" if deletions else ""))
    if not additions and not deletions:
        log(f"{options.repo_id} already holds this dataset: nothing to commit")
        return ""
    info = api.create_commit(options.repo_id, operations=additions + deletions, repo_type="dataset",
                             revision=options.revision, create_pr=options.create_pr,
                             commit_message="Upload dataset with curate (streamed)")
    return hub.commit_url(info)


def _same_regular(remote: Any, path: Path) -> bool:
    """Does the repo hold `path`'s bytes as a regular (git) file? Compared by git blob id."""
    if remote is None or getattr(remote, "lfs", None):
        return False
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == remote.blob_id
