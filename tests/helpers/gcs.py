"""A GCS-protocol server on 127.0.0.1 for tests: gcp-storage-emulator (pure Python, in memory)
in a child process. `gcs_server()` points STORAGE_EMULATOR_HOST at it, which gcsfs (and so
curate) honours the way google-cloud-storage does; `fresh_bucket()` makes an empty bucket."""

from __future__ import annotations

import itertools
import os
from contextlib import contextmanager
from typing import Iterator

from tests.helpers.s3 import environment, server_process

_names = itertools.count()
SERVER = """
import sys
from gcp_storage_emulator.server import create_server
server = create_server("127.0.0.1", 0, in_memory=True)
server.start()
print("%s:%s" % server._api._httpd.server_address, flush=True)
sys.stdin.read()
server.stop()
"""
#: gcsfs otherwise asks Google's control API (with default credentials) for each bucket's kind,
#: which an emulator cannot answer (read when gcsfs is imported)
ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


@contextmanager
def gcs_server() -> Iterator[str]:
    with server_process(SERVER) as address:
        endpoint = f"http://{address}"
        with environment(**ENV, STORAGE_EMULATOR_HOST=endpoint):
            yield endpoint


def gcs():
    import fsspec

    return fsspec.filesystem("gs", skip_instance_cache=True, use_listings_cache=False)


def fresh_bucket(prefix: str = "curate-gcs") -> str:
    name = f"{prefix}-{os.getpid()}-{next(_names)}"
    gcs().mkdir(name)
    return name


def objects(bucket: str, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` -> its bytes (keys relative to the prefix)."""
    fs = gcs()
    keys = fs.find(f"{bucket}/{prefix}")
    return {key[len(bucket) + len(prefix) + 2:]: fs.cat_file(key) for key in keys}
