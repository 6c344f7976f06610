"""Sources at a URL: downloaded once into the local cache (again only when an object's size or
ETag changed), so readers, globbing and fingerprints work on local files."""

from __future__ import annotations

import os
import re
from pathlib import Path

from curate.storage.store import StorageError, Store


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
    # S3: ETag; GCS: etag; the Hub (hf://): the git blob id, or the LFS file's sha256
    version = info.get("ETag") or info.get("etag") or info.get("blob_id") or info.get("mtime")
    tag = f"{info.get('size')}:{version}:{(info.get('lfs') or {}).get('sha256', '')}"
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
