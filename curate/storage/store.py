"""A store at an fsspec URL: uploads, downloads, listings and deletes, retried while the failure is
transient, explained (a `StorageError` naming the URL and the next step) when it is not."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

from curate.cache_dir import cache_root  # noqa: F401 - where working copies live; re-exported
from curate.errors import CurateError, require

T = TypeVar("T")

#: the fsspec backend each protocol needs, and the extra that installs it
BACKENDS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs")}
RETRIES = int(os.environ.get("CURATE_STORAGE_RETRIES", "6"))
BACKOFF = float(os.environ.get("CURATE_STORAGE_BACKOFF", "0.2"))  # seconds, doubled per attempt
_URL = re.compile(r"^([a-z][a-z0-9+.-]*)://")
_FILESYSTEMS: dict[tuple[str, int, str], Any] = {}
_DIGESTS: dict[tuple[str, int, int, int], str] = {}  # (path, inode, size, mtime_ns) -> sha256
#: requests in flight at once for a batch (uploads, reads, copies), and the S3 connection pool's
#: size (botocore's default, 10, made a stage's ~20 artifacts go up in three waves)
BATCH = 32
#: S3 copies a single request can make (larger objects are copied in parts, after a size lookup)
COPY_LIMIT = 5 * 2**30


class StorageError(CurateError):
    """Object storage refused or failed: credentials, bucket, permission, throttling."""

    exit_code = 7


def is_url(path: Any) -> bool:
    """Is `path` an object-store URL (`s3://...`), not a local path (`file://` counts as local)?"""
    match = _URL.match(str(path)) if isinstance(path, (str, os.PathLike)) else None
    return bool(match) and match.group(1) not in ("file", "local")


def digest(path: Path) -> dict[str, Any]:
    """A file's size and sha256: what a marker says the file must be. Remembered per process by
    the file's inode, size and mtime, so a file hashed for its marker is not read again when
    the same run checks it (a rewritten file has a new inode or mtime)."""
    stat = os.stat(path)
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        with open(path, "rb") as fh:
            sha = hashlib.file_digest(fh, "sha256").hexdigest()
        if len(_DIGESTS) > 100_000:
            _DIGESTS.clear()
        _DIGESTS[key] = sha
    return {"size": stat.st_size, "sha256": _DIGESTS[key]}


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
            settings = sorted((k, v) for k, v in os.environ.items()
                              if k.startswith(("AWS_", "GOOGLE_", "HF_", "GCSFS_", "STORAGE_EMULATOR_HOST")))
            key = (self.protocol, os.getpid(), hashlib.sha256(repr(settings).encode()).hexdigest())
            if key not in _FILESYSTEMS:
                fsspec = require("fsspec", BACKENDS.get(self.protocol, ("", "s3"))[1], f"the storage URL {self.url}")
                # hf:// comes with huggingface_hub (a dependency); memory:// and others with fsspec
                module, extra = BACKENDS.get(self.protocol, (None, None))
                if module:
                    require(module, extra, f"the storage URL {self.url}")
                options: dict = {}
                if module in ("s3fs", "gcsfs"):  # no listing cache: another process may have written
                    options = {"use_listings_cache": False, "skip_instance_cache": True}
                if module == "s3fs":
                    options["config_kwargs"] = {"max_pool_connections": BATCH}
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

    def pipe(self, rel: str, data: bytes) -> None:
        """Write `data` as the object `rel`."""
        self.call("uploading to", rel, lambda: self.fs.pipe_file(self.key(rel), data))

    def put_many(self, pairs: list[tuple[Path, str]]) -> None:
        """Upload several files concurrently (one round trip's wait instead of one per file)."""
        if len(pairs) == 1:
            self.put(*pairs[0])
        elif pairs:
            calls = [((str(path), self.key(rel)), {}) for path, rel in pairs]
            self.call("uploading to", pairs[0][1], lambda: _raise_first(self.each("put_file", calls)))

    def copy_many(self, pairs: list[tuple[str, str, int]]) -> None:
        """Copy objects inside the store (no data through this machine), concurrently; each
        pair comes with the object's size (known from its marker), which spares S3 a lookup."""
        if not pairs:
            return
        calls = [((self.key(a), self.key(b)), {}) for a, b, _ in pairs]
        small = self.protocol in ("s3", "s3a") and all(size <= COPY_LIMIT for *_, size in pairs)
        method = "copy_basic" if small and hasattr(self.fs, "_copy_basic") else "cp_file"
        self.call("copying", pairs[0][1], lambda: _raise_first(self.each(method, calls)))

    def cat_many(self, rels: list[str]) -> dict[str, bytes]:
        """Several objects at once, concurrently (one GET each); the missing ones are left out."""
        if not rels:
            return {}
        calls = [((self.key(rel),), self.small_read) for rel in rels]

        def read() -> list[Any]:
            found = self.each("cat_file", calls)
            _raise_first([f for f in found if not isinstance(f, FileNotFoundError)])
            return found

        found = self.call("reading", rels[0], read)
        return {rel: data for rel, data in zip(rels, found) if isinstance(data, bytes)}

    def each(self, method: str, calls: list[tuple[tuple, dict]]) -> list[Any]:
        """`fs.method(*args, **kwargs)` for every call, in order, the outcome or the exception of
        each; on an async filesystem (s3fs, gcsfs) concurrently, `BATCH` at a time, without the
        listings and lookups fsspec's bulk methods add to expand paths."""
        fs = self.fs
        if not getattr(fs, "async_impl", False):
            return [_outcome(getattr(fs, method), args, kwargs) for args, kwargs in calls]
        import asyncio

        from fsspec.asyn import sync

        fn = getattr(fs, f"_{method}")

        async def gather() -> list[Any]:
            out: list[Any] = []
            for start in range(0, len(calls), BATCH):
                chunk = calls[start:start + BATCH]
                out += await asyncio.gather(*(fn(*a, **kw) for a, kw in chunk), return_exceptions=True)
            return out

        return sync(fs.loop, gather)

    @property
    def small_read(self) -> dict[str, Any]:
        """What makes s3fs read a small object with one GET (by default it asks its size first)."""
        return {"max_concurrency": 1} if self.protocol in ("s3", "s3a") else {}

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
            return self.call("reading", rel, lambda: self.fs.cat_file(self.key(rel), **self.small_read),
                             missing_ok=True)
        except FileNotFoundError:
            return None

    def exists(self, rel: str) -> bool:
        return bool(self.call("checking", rel, lambda: self.fs.exists(self.key(rel))))

    def listing(self, rel: str = "") -> dict[str, int]:
        """Every object under `rel` (recursively) -> its size, by path relative to the store root."""
        key = self.key(rel)
        if self.protocol in ("s3", "s3a") and "/" in key:  # one request even when there is nothing:
            parent, name = key.rsplit("/", 1)  # s3fs asks an empty prefix whether it is an object
            found = self.call("listing", rel, lambda: self.fs.find(parent, prefix=f"{name}/", detail=True),
                              missing_ok=True)
        else:
            found = self.call("listing", rel, lambda: self.fs.find(key, detail=True), missing_ok=True)
        start = len(self.root) + 1
        return {name[start:]: info.get("size", 0) for name, info in (found or {}).items()
                if info.get("type") != "directory"}

    def versions(self, rel: str = "") -> dict[str, str]:
        """Like `listing`, with what tells a rewritten object apart: size and ETag (or generation,
        blob id, mtime: whatever the store reports), by path relative to the store root."""
        found = self.call("listing", rel, lambda: self.fs.find(self.key(rel), detail=True), missing_ok=True)
        start = len(self.root) + 1
        tag = ("ETag", "etag", "generation", "blob_id", "mtime", "LastModified")
        return {name[start:]: f"{info.get('size', 0)}:{next((info[k] for k in tag if info.get(k)), '')}"
                for name, info in (found or {}).items() if info.get("type") != "directory"}

    def delete_many(self, rels: list[str]) -> None:
        """Delete these objects (missing ones are no error); on S3 a request per 1000 keys,
        without first looking each one up."""
        if not rels:
            return
        keys = [self.key(r) for r in rels]
        if hasattr(self.fs, "_bulk_delete"):
            calls = [((keys[i:i + 1000],), {}) for i in range(0, len(keys), 1000)]
            self.call("deleting", rels[0], lambda: _raise_first(self.each("bulk_delete", calls)))
            return
        try:
            self.call("deleting", rels[0], lambda: self.fs.rm(keys), missing_ok=True)
        except FileNotFoundError:
            pass

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


def _outcome(fn: Callable[..., T], args: tuple, kwargs: dict) -> T | Exception:
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - returned like asyncio.gather's return_exceptions
        return error


def _raise_first(outcomes: list[Any]) -> list[Any]:
    """The outcomes of `Store.each`, unless one is an exception: then that is raised."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


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


