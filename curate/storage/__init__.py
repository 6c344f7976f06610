"""Object storage: run directories and sources at any fsspec URL (s3://, gs://, hf://, memory://).

curate computes on local files; a run directory at a URL is worked on in a local working copy
(`cache_dir`), and `RunDir` moves files between the two at fixed points (see docs/storage.md).
This package is that layer: `store` (a `Store` rooted at a URL that uploads, downloads, lists
and deletes objects through fsspec), `working_copy` (what `RunDir` moves, and when), `sources`
(sources at a URL), `parquet_files` (parts written through a temporary file and a rename, on
any disk). A `Store` retries what is transient (throttling, dropped
connections, 5xx) with exponential backoff, and turns what is not (no credentials, no bucket,
permission denied) into a `StorageError` naming the URL and the next step.

Object stores have no atomic rename, so nothing here pretends to: an upload may leave a
half-written or stale object, and what makes a part exist is a marker object, written last, that
names each file's size and sha256 (`digest`). Readers trust only what a marker names.

Credentials come only from each store's standard environment and config files (for S3: the
AWS_* variables, ~/.aws, an instance role; AWS_ENDPOINT_URL for an S3-compatible server); curate
never reads, logs or stores them.
"""

from curate.storage.sources import local_source
from curate.storage.store import StorageError, Store, cache_root, digest, is_url, matches
from curate.storage.working_copy import WorkingCopy

__all__ = ["Store", "StorageError", "WorkingCopy", "cache_root", "digest", "is_url", "local_source", "matches"]
