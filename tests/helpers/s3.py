"""A real S3-protocol server on 127.0.0.1 for tests: moto's server mode in a thread.

`s3_server()` starts it and points the standard AWS environment (AWS_ENDPOINT_URL, test keys) at
it, so curate, s3fs and boto3 find it the way they find any S3 endpoint; subprocesses started
afterwards inherit it. `fresh_bucket()` makes an empty bucket per test.
"""

from __future__ import annotations

import itertools
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

QUICKSTART = Path(__file__).resolve().parents[2] / "recipes" / "quickstart.yaml"
#: the test server's secret key: no file of a run, a working copy or a log may contain it
SECRET = "curate-test-secret-do-not-store"
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_EC2_METADATA_DISABLED": "true"}
_names = itertools.count()


#: run in a process of its own, so the server's Python does not queue behind the GIL of the
#: process under test (in-thread, a request waited up to ~0.7 s behind a busy part task)
SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print("%s:%s" % server.get_host_and_port(), flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def server_process(script: str) -> Iterator[str]:
    """Run a server `script` in a child process that prints its `host:port` and stops when its
    stdin closes; yield that address, then stop it."""
    import subprocess
    import sys

    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set these environment variables for the block; restore them after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def s3_server() -> Iterator[str]:
    """Start moto's ThreadedMotoServer in a child process; point the environment at it; yield
    its endpoint URL; restore the environment and stop it after."""
    with server_process(SERVER) as address:
        endpoint = f"http://{address}"
        with environment(**ENV, AWS_ENDPOINT_URL=endpoint):
            yield endpoint


def fresh_bucket(prefix: str = "curate-test") -> str:
    import boto3

    name = f"{prefix}-{os.getpid()}-{next(_names)}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def objects(bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object under `prefix` -> its bytes (keys relative to the prefix)."""
    import boto3

    client = boto3.client("s3")
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            out[key[len(prefix):].lstrip("/")] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return out


def upload_folder(folder: Path, bucket: str, prefix: str) -> str:
    import boto3

    client = boto3.client("s3")
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")
    return f"s3://{bucket}/{prefix}"


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
