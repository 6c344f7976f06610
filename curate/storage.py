"""Object storage: run directories and sources at any fsspec URL (s3://, gs://, hf://, memory://).

curate computes on local files; a run directory at a URL is worked on in a local working copy
(`cache_dir`), and `RunDir` moves files between the two at fixed points (see docs/storage.md).
This module is the thin layer underneath: a `Store` rooted at a URL that uploads, downloads,
lists and deletes objects through fsspec, retries what is transient (throttling, dropped
connections, 5xx) with exponential backoff, and turns what is not (no credentials, no bucket,
permission denied) into a `StorageError` naming the URL and the next step.

Object stores have no atomic rename, so nothing here pretends to: an upload may leave a
half-written or stale object, and what makes a part exist is a marker object, written last, that
names each file's size and sha256 (`digest`). Readers trust only what a marker names.

Credentials come only from each store's standard environment and config files (for S3: the
AWS_* variables, ~/.aws, an instance role; AWS_ENDPOINT_URL for an S3-compatible server); curate
never reads, logs or stores them.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from curate.errors import CurateError, require

T = TypeVar("T")

#: the fsspec backend each protocol needs, and the extra that installs it
BACKENDS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}
RETRIES = int(os.environ.get("CURATE_STORAGE_RETRIES", "6"))
BACKOFF = float(os.environ.get("CURATE_STORAGE_BACKOFF", "0.2"))  # seconds, doubled per attempt
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://")
_FILESYSTEMS: dict[tuple[str, int, str], Any] = {}


class StorageError(CurateError):
    """Object storage refused or failed: credentials, bucket, permission, throttling."""

    exit_code = 7


def is_url(path: Any) -> bool:
    """Is `path` an object-store URL (`s3://...`), not a local path (`file://` counts as local)?"""
    match = _URL.match(str(path)) if isinstance(path, (str, os.PathLike)) else None
    return bool(match) and match.group(1) not in ("file", "local")


def cache_root() -> Path:
    """Where local working copies live: $CURATE_CACHE, else ~/.cache/curate."""
    return Path(os.environ.get("CURATE_CACHE") or Path.home() / ".cache" / "curate")


def digest(path: Path) -> dict[str, Any]:
    """A file's size and sha256: what a marker says the file must be."""
    with open(path, "rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"size": path.stat().st_size, "sha256": sha}


def matches(path: Path, want: dict[str, Any]) -> bool:
    """Does the local file exist with the size and sha256 a marker names?"""
    try:
        return path.stat().st_size == want["size"] and digest(path)["sha256"] == want["sha256"]
    except FileNotFoundError:
        return False


class Store:
    """Objects under one URL prefix; every call is retried and its errors explained."""

    def __init__(self, url: str):
        self.url = str(url).rstrip("/")
        self.protocol = _URL.match(self.url).group(1)
        self.root = self.url.split("://", 1)[1]
        self._fs = None

    @property
    def fs(self):
        """The protocol's fsspec filesystem: one per process and store settings in the environment
        (a client costs a second to make), without listing caches (another process may have
        written since)."""
        if self._fs is None:
            settings = sorted((k, v) for k, v in os.environ.items() if k.startswith(("AWS_", "GOOGLE_", "HF_")))
            key = (self.protocol, os.getpid(), hashlib.sha256(repr(settings).encode()).hexdigest())
            if key not in _FILESYSTEMS:
                fsspec = require("fsspec", BACKENDS.get(self.protocol, ("", "s3"))[1], f"the storage URL {self.url}")
                # hf:// comes with huggingface_hub (a dependency); memory:// and others with fsspec
                module, extra = BACKENDS.get(self.protocol, (None, None))
                if module:
                    require(module, extra, f"the storage URL {self.url}")
                options = {"use_listings_cache": False, "skip_instance_cache": True} if module == "s3fs" else {}
                _FILESYSTEMS[key] = fsspec.filesystem(self.protocol, **options)
            self._fs = _FILESYSTEMS[key]
        return self._fs

    def cache_dir(self, kind: str = "runs") -> Path:
        """The local working copy of this prefix (stable per URL, so processes share it)."""
        tail = re.sub(r"[^A-Za-z0-9._-]+", "-", self.root)[-40:].strip("-")
        return cache_root() / kind / f"{tail}-{hashlib.sha256(self.url.encode()).hexdigest()[:12]}"

    def key(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def url_of(self, rel: str) -> str:
        return f"{self.protocol}://{self.key(rel)}"

    # ---- operations
    def put(self, local: Path, rel: str) -> None:
        self.call("uploading to", rel, lambda: self.fs.put_file(str(local), self.key(rel)))

    def put_many(self, pairs: list[tuple[Path, str]]) -> None:
        """Upload several files concurrently (one round trip's wait instead of one per file)."""
        if len(pairs) == 1:
            self.put(*pairs[0])
        elif pairs:
            locals_, keys = [str(p) for p, _ in pairs], [self.key(r) for _, r in pairs]
            self.call("uploading to", pairs[0][1], lambda: self.fs.put(locals_, keys))

    def cat_many(self, rels: list[str]) -> dict[str, bytes]:
        """Several objects at once, concurrently; the missing ones are left out."""
        if not rels:
            return {}
        found = self.call("reading", rels[0], lambda: self.fs.cat([self.key(r) for r in rels], on_error="omit"))
        start = len(self.root) + 1
        return {name[start:]: data for name, data in found.items() if isinstance(data, bytes)}

    def get(self, rel: str, local: Path) -> None:
        """Download to a temporary name beside `local`, then rename: readers never see half a file."""
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.tmp-{os.getpid()}")
        try:
            self.call("downloading", rel, lambda: self.fs.get_file(self.key(rel), str(tmp)))
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)

    def cat(self, rel: str) -> bytes | None:
        """An object's bytes, or None when there is no such object."""
        try:
            return self.call("reading", rel, lambda: self.fs.cat_file(self.key(rel)), missing_ok=True)
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        return bool(self.call("checking", rel, lambda: self.fs.exists(self.key(rel))))

    def listing(self, rel: str = "") -> dict[str, int]:
        """Every object under `rel` (recursively) -> its size, by path relative to the store root."""
        found = self.call("listing", rel, lambda: self.fs.find(self.key(rel), detail=True), missing_ok=True)
        start = len(self.root) + 1
        return {name[start:]: info.get("size", 0) for name, info in (found or {}).items()
                if info.get("type") != "directory"}

    def delete_many(self, rels: list[str]) -> None:
        if rels:
            self.call("deleting", rels[0], lambda: self.fs.rm([self.key(r) for r in rels]), missing_ok=True)

    def delete(self, rel: str, recursive: bool = False) -> None:
        """Delete an object (or everything under a prefix); a missing one is not an error."""
        try:
            self.call("deleting", rel, lambda: self.fs.rm(self.key(rel), recursive=recursive), missing_ok=True)
        except FileNotFoundError:
            pass

    def check_bucket(self) -> None:
        """Fail early, with a clear error, when the bucket (or the store) cannot be reached."""
        bucket = self.root.split("/", 1)[0]
        if not self.call("opening", "", lambda: self.fs.exists(bucket)):
            raise StorageError(f"{self.protocol}://{bucket}: no such bucket (for {self.url}).",
                               "Create the bucket, or fix the name in the URL (and the endpoint: AWS_ENDPOINT_URL).")

    # ---- retries and errors
    def call(self, doing: str, rel: str, fn: Callable[[], T], missing_ok: bool = False) -> T:
        """`fn()`, retried with exponential backoff while the failure is transient."""
        for attempt in range(RETRIES + 1):
            try:
                return fn()
            except Exception as error:  # noqa: BLE001 - classified below, re-raised or explained
                if isinstance(error, FileNotFoundError) and missing_ok and not _no_bucket(error):
                    raise
                if transient(error) and attempt < RETRIES:
                    time.sleep(BACKOFF * 2 ** attempt)
                    continue
                explained = explain(error, doing, self.url_of(rel), attempts=attempt + 1)
                if explained is error:
                    raise
                raise explained from error
        raise AssertionError("unreachable")


def _code(error: BaseException) -> str:
    """The service's error code behind an exception (e.g. `SlowDown`, `AccessDenied`), or ''."""
    seen = error
    for _ in range(4):
        response = getattr(seen, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            return str(response["Error"]["Code"])
        if seen.__cause__ is None:
            break
        seen = seen.__cause__
    return ""


THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
             "RequestThrottled", "503", "429"}
TRANSIENT = {"InternalError", "ServiceUnavailable", "RequestTimeout", "500", "502", "504"}


def throttled(error: BaseException) -> bool:
    return _code(error) in THROTTLED or "SlowDown" in str(error) or "Please reduce your request rate" in str(error)


def transient(error: BaseException) -> bool:
    """Worth retrying: throttling, a server hiccup, a dropped or timed-out connection."""
    if throttled(error) or _code(error) in TRANSIENT:
        return True
    names = {type(e).__name__ for e in (error, error.__cause__) if e is not None}
    if names & {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError",
                "ClientConnectorError", "ServerDisconnectedError", "ClientPayloadError", "IncompleteReadError"}:
        return True
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    return isinstance(error, OSError) and error.errno in (errno.EBUSY, getattr(errno, "EREMOTEIO", 121))


def _no_bucket(error: BaseException) -> bool:
    return _code(error) == "NoSuchBucket" or "bucket does not exist" in str(error)


def explain(error: BaseException, doing: str, url: str, attempts: int = 1) -> BaseException:
    """A `StorageError` naming the URL and what to do, for the failures a user can fix."""
    names = {type(e).__name__ for e in (error, error.__cause__) if e is not None}
    if isinstance(error, CurateError):
        return error
    if names & {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"} or \
            _code(error) in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"):
        return StorageError(f"no valid credentials for {url} (while {doing} it): {error}",
                            "Set them the store's standard way (for S3: AWS_ACCESS_KEY_ID and "
                            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or ~/.aws/credentials), then rerun.")
    if _no_bucket(error):
        return StorageError(f"{url}: the bucket does not exist (while {doing} it).",
                            "Create the bucket, or fix its name in the URL (and the endpoint: AWS_ENDPOINT_URL).")
    if isinstance(error, PermissionError) or _code(error) in ("AccessDenied", "AllAccessDisabled", "403"):
        return StorageError(f"permission denied {doing} {url}: {error}",
                            "Grant these credentials read and write access to that prefix "
                            "(s3:GetObject, s3:PutObject, s3:ListBucket, s3:DeleteObject), or use another URL.")
    if throttled(error):
        return StorageError(f"the store kept throttling requests while {doing} {url} ({attempts} attempts).",
                            "Rerun later (finished parts are kept), use fewer --workers, or raise "
                            "CURATE_STORAGE_RETRIES / CURATE_STORAGE_BACKOFF.")
    if transient(error):
        return StorageError(f"the store did not answer while {doing} {url} ({attempts} attempts): {error}",
                            "Check the network and the endpoint (AWS_ENDPOINT_URL), then rerun: "
                            "finished parts are kept.")
    return error


# ---------------------------------------------------------------- a run directory's working copy

FLAGS = ("prepared", "finalized")


class WorkingCopy:
    """What `RunDir` does with a store: its local working copy and the files moved to and from
    the store. Every method is a no-op for a local run (`store` is None)."""

    store: Store | None
    path: Path

    def rel(self, path: Path) -> str:
        return Path(path).relative_to(self.path).as_posix()

    def publish(self, *paths: Path) -> None:
        """Upload small state files as they are (the recipe, the manifest, fingerprints, markers)."""
        for path in paths if self.store else ():
            self.store.put(path, self.rel(path))

    def upload(self, files: Iterable[Path]) -> dict[str, dict]:
        """Upload the files that exist; return what a marker names: path -> size and sha256."""
        present = [path for path in files if path.exists()]
        listed = {self.rel(path): digest(path) for path in present}
        self.store.put_many([(path, self.rel(path)) for path in present])
        return listed

    def remove_unmarked(self, stage_dir: Path, num_parts: int) -> None:
        """Delete what earlier, killed attempts left in the store for parts without a marker (their
        part files and rejects), with one listing and one bulk delete; readers ignore such objects
        anyway, and a rerun of the part overwrites what it writes again."""
        if not self.store:
            return
        held = self.store.listing(self.rel(stage_dir)) | self.store.listing(self.rel(self.rejected_dir(stage_dir)))
        files = (self.part_path, self.rejected_path)
        stale = [self.rel(f(stage_dir, p)) for p in range(num_parts) if self.rel(self.marker(stage_dir, p)) not in held
                 for f in files if self.rel(f(stage_dir, p)) in held]
        self.store.delete_many(stale)

    def done_parts(self, stage_dir: Path, num_parts: int) -> set[int]:
        """The parts whose markers exist (on a store: one listing, not a request per part)."""
        if not self.store:
            return {p for p in range(num_parts) if self.marker(stage_dir, p).exists()}
        listed = self.store.listing(self.rel(self.marker(stage_dir, 0).parent))
        return {p for p in range(num_parts) if self.rel(self.marker(stage_dir, p)) in listed}

    def fetch(self, listed: dict[str, dict]) -> None:
        """Make the working copy hold exactly the files a marker or flag names (downloading only
        those whose local copy is missing or differs), or fail if the store's copy differs too."""
        for rel, want in listed.items():
            local = self.path / rel
            if not matches(local, want):
                self.store.get(rel, local)
                if not matches(local, want):
                    raise CurateError(f"{self.store.url_of(rel)} does not match its marker (size/sha256).",
                                      "Another run is writing this run directory, or the object was edited: "
                                      "rerun with --force on that stage.")

    def read_marker(self, path: Path) -> dict | None:
        """A marker or flag from the store, saved into the working copy (None when absent)."""
        data = self.store.cat(self.rel(path))
        if data is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return json.loads(data) if data.strip() else {}

    def fetch_part(self, stage_dir: Path, part: int) -> None:
        """Bring a finished part's files (and marker) into the working copy."""
        if self.store:
            marker = self.marker(stage_dir, part)
            if marker in getattr(self, "fresh", ()):  # read from the store by this task already
                stats = json.loads(marker.read_text()) if marker.exists() else {}
            else:
                stats = self.read_marker(marker)
            self.fetch((stats or {}).get("files", {}))

    def fetch_stage(self, stage_dir: Path, num_parts: int) -> None:
        """Bring every finished part of a stage into the working copy (markers read at once)."""
        if not self.store:
            return
        markers = {self.rel(self.marker(stage_dir, p)): self.marker(stage_dir, p) for p in range(num_parts)}
        for rel, data in self.store.cat_many(list(markers)).items():
            markers[rel].parent.mkdir(parents=True, exist_ok=True)
            markers[rel].write_bytes(data)
            self.fetch(json.loads(data).get("files", {}))

    def has_part(self, stage_dir: Path, part: int) -> bool:
        """Did the stage keep this part's file (a view or a part streamed on has none)?"""
        if self.store:
            marker = self.marker(stage_dir, part)
            stats = json.loads(marker.read_text()) if marker.exists() else self.read_marker(marker) or {}
            return self.rel(self.part_path(stage_dir, part)) in stats.get("files", {})
        return self.part_path(stage_dir, part).exists()

    def has_flag(self, stage_dir: Path, name: str) -> bool:
        return self.flag(stage_dir, name).exists()

    def set_flag(self, stage_dir: Path, name: str, since: float) -> None:
        """Raise a phase flag. On a store, first upload what the phase wrote (the stage's artifacts,
        reports, the dataset: files changed since `since`) and name them in the flag."""
        flag = self.flag(stage_dir, name)
        if not self.store:
            flag.touch()
            return
        changed = [f for d in (self.artifacts(stage_dir), self.reports) if d.exists() for f in sorted(d.rglob("*"))
                   if f.is_file() and f.stat().st_mtime >= since - 1]
        replaced = self.dataset.exists() and self.dataset.stat().st_mtime >= since - 1  # write made dataset/
        shards = sorted(f for f in self.dataset.rglob("*") if f.is_file()) if replaced else []
        listed = self.upload(changed + shards)  # shards are links to older files: their mtime says nothing
        if replaced:
            here = {self.rel(f) for f in shards}
            for rel in set(self.store.listing(self.rel(self.dataset))) - here:
                self.store.delete(rel)
        _write_json(flag, {"files": listed})
        self.publish(flag)

    def fetch_flagged(self, stage_dir: Path, name: str = "prepared") -> None:
        """Bring what a phase wrote (artifacts) into the working copy, unless it is there already."""
        if not self.store:
            return
        flag = self.flag(stage_dir, name)
        held = flag.read_bytes() if flag.exists() else None
        data = self.store.cat(self.rel(flag))
        if data is not None and data != held:
            self.fetch(json.loads(data).get("files", {}) if data.strip() else {})
            flag.parent.mkdir(parents=True, exist_ok=True)
            flag.write_bytes(data)

    def pull(self) -> None:
        """Mirror the store's state into the working copy before a run: the recipe, the manifest,
        each stage's fingerprint, flags (and what they name) and markers. Local markers and flags
        the store lacks go: only what the store holds counts."""
        if not self.store:
            return
        listing = self.store.listing()
        for rel in sorted(listing):
            pieces = rel.split("/")
            local = self.path / rel
            stage_dir = self.path / pieces[0]
            if local in (self.recipe_path, self.manifest_path, self.fingerprint_path(stage_dir)):
                self.store.get(rel, local)
            elif local.parent == self.marker(stage_dir, 0).parent and not local.exists():
                self.store.get(rel, local)
            elif local == self.flag(stage_dir, "prepared"):
                self.fetch_flagged(stage_dir, "prepared")
            elif local == self.flag(stage_dir, "finalized"):  # what it names (the dataset) stays remote
                self.store.get(rel, local)
        for stage_dir in self.stage_dirs():
            held = [*(self.flag(stage_dir, name) for name in FLAGS), *self.markers(stage_dir),
                    self.fingerprint_path(stage_dir)]
            for path in held:
                if path.exists() and self.rel(path) not in listing:
                    path.unlink()

    def fetch_recipe(self) -> None:
        if self.store:
            self.store.get(self.rel(self.recipe_path), self.recipe_path)

    def open_part_task(self, stage_dirs: list[Path], part: int) -> set[Path]:
        """Ready the working copy for a task on `part` of these stages (a chain and its parent):
        their folders, what their prepare wrote, their markers of `part`, all read at once (the
        files a flag names are fetched only when it changed). Returns the folders whose `part`
        is done."""
        if not self.store:
            return {d for d in stage_dirs if self.marker(d, part).exists()}
        flags = {self.rel(self.flag(d, "prepared")): self.flag(d, "prepared") for d in stage_dirs}
        markers = {self.rel(self.marker(d, part)): self.marker(d, part) for d in stage_dirs}
        found = self.store.cat_many([*flags, *markers])
        for stage_dir in stage_dirs:
            stage_dir.mkdir(parents=True, exist_ok=True)
        for rel, flag in flags.items():
            data = found.get(rel)
            if data is not None and (not flag.exists() or flag.read_bytes() != data):
                self.fetch(json.loads(data).get("files", {}) if data.strip() else {})
                flag.write_bytes(data)
        for rel, marker in markers.items():
            if rel in found:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_bytes(found[rel])
            else:  # only the store's markers count
                marker.unlink(missing_ok=True)
        self.fresh = set(markers.values())
        return {d for d in stage_dirs if self.rel(self.marker(d, part)) in found}

    def pull_markers(self, stage_dir: Path) -> None:
        """Download the stage's markers written by other machines (Ray workers)."""
        for rel in self.store.listing(self.rel(self.marker(stage_dir, 0).parent)) if self.store else ():
            if not (self.path / rel).exists():
                self.store.get(rel, self.path / rel)


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- sources at a URL


def local_source(url: str) -> str:
    """A source at a URL as a local path with the same shape (a file, or a folder of files): the
    objects are downloaded once into the cache and fetched again only when their size or ETag
    changed, so readers, globbing and fingerprints work on local files."""
    store = Store(url)
    listing = store.call("listing", "", lambda: store.fs.find(store.root, detail=True, withdirs=False))
    if not listing and any(ch in url for ch in "*?["):
        listing = store.call("listing", "", lambda: {p: store.fs.info(p) for p in store.fs.glob(store.root)})
    if not listing:
        raise StorageError(f"{url}: no such object or prefix.", "Check the URL (and that the upload finished).")
    base = store.cache_dir("sources")
    single = list(listing) == [store.root]
    for name, info in sorted(listing.items()):
        rel = Path(name).name if single else name[len(_prefix(store.root)):].lstrip("/")
        _fetch_source_object(store, name, info, base / rel)
    return str(base / Path(store.root).name) if single else str(base)


def _prefix(root: str) -> str:
    """The fixed part of a key pattern (before any glob character), up to its last `/`."""
    head = re.split(r"[*?[]", root, maxsplit=1)[0]
    return head.rsplit("/", 1)[0] if "/" in head and head != root else root


def _fetch_source_object(store: Store, name: str, info: dict, local: Path) -> None:
    stamp = local.with_name(f".{local.name}.etag")
    tag = f"{info.get('size')}:{info.get('ETag') or info.get('etag') or info.get('mtime')}"
    if local.exists() and stamp.exists() and stamp.read_text() == tag:
        return
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.tmp-{os.getpid()}")
    try:
        store.call("downloading", name, lambda: store.fs.get_file(name, str(tmp)))
        os.replace(tmp, local)
    finally:
        tmp.unlink(missing_ok=True)
    stamp.write_text(tag)
