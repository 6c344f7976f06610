"""A Hub stand-in that keeps its state in a folder, so several processes (a push that is killed,
the push that resumes it, the test) share one repository, and that records every upload per blob.

It replaces HfApi at the library boundary (`curate.publish.hub.make_api`) and answers the calls a
push makes: create_repo, create_branch, list_repo_files, list_repo_tree (real `RepoFile`s, LFS
sha256 included), preupload_lfs_files and create_commit. Like the Hub, it decides the upload mode
per file (text -> regular, in the commit; anything else -> LFS, by sha256) and refuses a commit
naming an LFS blob it does not hold.

Stricter than the Hub: every blob handed to `preupload_lfs_files` counts as sent, even one the
store already holds (the Hub would answer that it has it), so a test sees exactly what the
client asked to send. `events.jsonl` holds one line per blob upload, `start` and `done`, with the
time; `commits.jsonl` one line per commit.

Run as a script, it is a launcher for subprocesses:

    python tests/hub_standin.py STATE_DIR push RUN REPO --follow ...   # curate push, on the stand-in
    python tests/hub_standin.py STATE_DIR run RECIPE --run-dir RUN ... # curate run, gated: write's
        # part 1 waits until a shard has been uploaded (so a follower provably uploads mid-run)

`STANDIN_DELAY` (seconds per LFS upload) makes uploads slow enough to kill one in flight;
`STANDIN_MBPS` adds a simulated uplink (seconds per upload: bytes / MB/s) for benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

TEXT_SUFFIXES = (".md", ".json", ".yaml", ".yml", ".txt")


class CommitInfo:
    def __init__(self, number: int, pr: bool):
        self.commit_url = f"https://hub/commit/{number}"
        self.pr_url = f"https://hub/pr/{number}" if pr else None


class BlobHub:
    """An HfApi-shaped repository kept in `folder`; see the module docstring."""

    def __init__(self, folder: Path, delay: float = 0.0, mbps: float = 0.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.delay, self.mbps = delay, mbps

    # ---- the state, in append-only files
    def _append(self, name: str, entry: dict) -> None:
        with open(self.folder / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def _lines(self, name: str) -> list[dict]:
        path = self.folder / name
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def events(self) -> list[dict]:
        return self._lines("events.jsonl")

    def commits(self) -> list[dict]:
        return self._lines("commits.jsonl")

    def calls(self) -> list[dict]:
        return self._lines("calls.jsonl")

    def done(self) -> list[str]:
        """The sha256 of every finished blob upload, in order (a blob twice: uploaded twice)."""
        return [e["sha256"] for e in self.events() if e["event"] == "done"]

    def stored(self) -> set[str]:
        return set(self.done()) | {f["sha256"] for f in self.tree("main").values() if f.get("sha256")}

    def tree(self, revision: str | None) -> dict[str, dict]:
        """path -> {size, sha256 (LFS) or blob_id (regular)} after replaying the commits."""
        files: dict[str, dict] = {}
        for commit in self.commits():
            if commit["revision"] == (revision or "main") and not commit["pr"]:
                for path in commit["deleted"]:
                    files.pop(path, None)
                files.update(commit["added"])
        return files

    # ---- the HfApi calls a push makes
    def create_repo(self, repo_id, **kw):
        self._append("calls.jsonl", {"call": "create_repo", "repo_id": repo_id, **kw})
        return f"https://huggingface.co/datasets/{repo_id}"

    def create_branch(self, repo_id, branch, **kw):
        self._append("calls.jsonl", {"call": "create_branch", "repo_id": repo_id, "branch": branch})

    def list_repo_files(self, repo_id, revision=None, **kw):
        return sorted(self.tree(revision))

    def list_repo_tree(self, repo_id, revision=None, recursive=False, **kw):
        from huggingface_hub.hf_api import RepoFile

        for path, f in sorted(self.tree(revision).items()):
            lfs = {"size": f["size"], "oid": f["sha256"], "pointerSize": 134} if f.get("sha256") else None
            yield RepoFile(path=path, size=f["size"], oid=f.get("blob_id") or "0" * 40, lfs=lfs)

    def preupload_lfs_files(self, repo_id, additions, repo_type=None, revision=None, create_pr=False, **kw):
        for op in additions:
            if op._is_uploaded:
                continue
            op._upload_mode = _mode(op.path_in_repo)
            if op._upload_mode == "lfs":
                self._upload(op, via="preupload")
                op._is_uploaded = True

    def create_commit(self, repo_id, operations, repo_type=None, revision=None, create_pr=False,
                      commit_message="", **kw):
        added, deleted = {}, []
        for op in operations:
            if type(op).__name__ == "CommitOperationDelete":
                deleted.append(op.path_in_repo)
                continue
            mode = op._upload_mode or _mode(op.path_in_repo)
            sha = op.upload_info.sha256.hex()
            if mode == "lfs":
                if op._is_uploaded and sha not in self.stored():
                    raise RuntimeError(f"LFS object {sha} of {op.path_in_repo} is not in the store")
                if not op._is_uploaded and sha not in self.stored():  # the client uploads it now
                    self._upload(op, via="commit")
                added[op.path_in_repo] = {"size": op.upload_info.size, "sha256": sha}
            else:
                with op.as_file() as f:
                    data = f.read()
                blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                added[op.path_in_repo] = {"size": len(data), "blob_id": blob}
        number = len(self.commits()) + 1
        self._append("commits.jsonl", {"revision": revision or "main", "pr": bool(create_pr), "added": added,
                                       "deleted": deleted, "message": commit_message, "t": time.time()})
        return CommitInfo(number, bool(create_pr))

    def _upload(self, op, via: str) -> None:
        sha = op.upload_info.sha256.hex()
        self._append("events.jsonl", {"event": "start", "sha256": sha, "path": op.path_in_repo, "t": time.time()})
        time.sleep(self.delay + (op.upload_info.size / (self.mbps * 1e6) if self.mbps else 0.0))
        self._append("events.jsonl", {"event": "done", "sha256": sha, "path": op.path_in_repo, "via": via,
                                      "t": time.time()})


def _mode(path: str) -> str:
    return "regular" if path.endswith(TEXT_SUFFIXES) else "lfs"


def install(folder: Path, delay: float = 0.0, mbps: float = 0.0) -> BlobHub:
    """Make `curate push` talk to a BlobHub in `folder` (this process only)."""
    from curate.publish import hub

    standin = BlobHub(folder, delay, mbps)
    hub.make_api = lambda token: standin
    return standin


def gate_write(folder: Path, timeout: float = 120.0) -> None:
    """Hold write's parts after the first until the stand-in has a finished upload."""
    from curate.stages import write

    plain = write.Write.run
    standin = BlobHub(folder)

    def gated(self, batches, ctx):
        if ctx.part >= 1:
            waited = time.monotonic()
            while not standin.done():
                if time.monotonic() - waited > timeout:
                    raise RuntimeError("no shard was uploaded while the run was writing")
                time.sleep(0.05)
        yield from plain(self, batches, ctx)

    write.Write.run = gated


def hub_files(folder: Path) -> type:
    """An fsspec filesystem for `hf://` URLs (in place of HfFileSystem, what curate reads
    `hf://datasets/...` sources with) that reads repositories from `folder`
    (`folder/datasets/ORG/NAME/...`); register it as fsspec's "hf" implementation.

    What it stands in for, at the fsspec boundary: listing (`find`, `info`) and downloads
    (`get_file`), with the entries HfFileSystem gives (size, type, the git `blob_id`; no mtime).
    What it does not: revisions (`@rev`), authentication, the Hub's API. A real Hub is not
    reachable from these tests."""
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    class HubFiles(DirFileSystem):
        protocol = "hf"

        def __init__(self, **options):
            super().__init__(path=str(folder), fs=LocalFileSystem())

        @staticmethod
        def _entry(entry: dict) -> dict:
            out = {k: v for k, v in entry.items() if k in ("name", "size", "type")}
            if out.get("type") == "file":
                data = Path(folder, entry["name"]).read_bytes()
                out["blob_id"] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            return out

        def info(self, path, **kwargs):
            return self._entry(super().info(path, **kwargs))

        def find(self, path, maxdepth=None, withdirs=False, detail=False, **kwargs):
            found = super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=True, **kwargs)
            found = {name: self._entry(entry) for name, entry in found.items()}
            return found if detail else sorted(found)

    return HubFiles


if __name__ == "__main__":
    state, command, *args = sys.argv[1:]
    os.environ.setdefault("HF_TOKEN", "hf_standin")
    if command == "push":
        install(Path(state), float(os.environ.get("STANDIN_DELAY", "0")), float(os.environ.get("STANDIN_MBPS", "0")))
    else:
        gate_write(Path(state))
    from curate.cli.group import cli

    cli([command, *args])
