"""Benchmark: a run directory on object storage (a local S3 server) against local disk.

    python tests/benchmarks/bench_storage.py [--gb 0.1] [--docs 20000] [--repeats 3]

Same inputs, same recipes, one invocation; the two sides alternate (local, s3, local, s3, ...) so
the machine's load hits both alike. The S3 server is moto's, in a process of its own on
127.0.0.1: this measures curate's overhead on object storage (the working copy, uploads, markers
with sha256, fetches checked against them), not a network.

- load+write: synthetic trace rows (bench_load_write's input) through `load -> write` (fused);
  the figure is the whole run's wall time (the dataset uploaded at the end included).
- dedup: a planted near-duplicate corpus (bench_dedup's input) through `load -> dedup`; the
  figure is the dedup stage's wall seconds from the manifest (its signature pass, clustering and
  parts, and on S3 the uploads of its artifacts and parts).
- source read: reading the load+write input back from the S3 server with fsspec (s3fs, what
  curate uses) and with pyarrow's own S3 filesystem, against a local read.

The process's S3 client is made before the timed runs (it costs about a second, once per process).
Ratio = local seconds / S3 seconds (1.0: no overhead; goal >= 0.7). Each S3 line also says how
many requests the run made (counted at s3fs's one call into botocore), in all and per part.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def load_write(source: Path):
    from curate.recipe import validate_recipe

    return validate_recipe({"name": "bench", "sources": [{"path": str(source)}],
                            "stages": [{"use": "load", "rows_per_part": 25000}, {"use": "write"}]}, filename="bench")


def dedup(source: Path, rows_per_part: int):
    from curate.recipe import validate_recipe

    return validate_recipe({"name": "bench", "seed": 1, "stages": [{"use": "load", "rows_per_part": rows_per_part},
                                                                     {"use": "dedup"}],
                            "sources": [{"path": str(source), "domain": "x", "id_scope": "global"}]},
                           filename="bench")


REQUESTS: collections.Counter = collections.Counter()  # S3 requests by operation


def count_requests() -> None:
    """Count every request s3fs sends (all of curate's go through `S3FileSystem._call_s3`)."""
    import s3fs.core

    call = s3fs.core.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        REQUESTS[method if isinstance(method, str) else getattr(method, "__name__", "?")] += 1
        return await call(self, method, *args, **kwargs)

    s3fs.core.S3FileSystem._call_s3 = counted


def timed_run(recipe, run_dir: str, stage: int | None) -> tuple[float, int]:
    from curate.runner import run_recipe

    began = time.perf_counter()
    manifest = run_recipe(recipe, run_dir, progress=False)
    seconds = manifest["stages"][stage]["wall_seconds"] if stage is not None else time.perf_counter() - began
    return seconds, manifest["num_parts"]


def alternate(name: str, recipe, stage: int | None, repeats: int, scratch: Path) -> None:
    from tests.helpers.s3 import fresh_bucket

    local, remote = [], []
    for i in range(repeats):
        run_dir = scratch / f"{name}-{i}"
        local.append(timed_run(recipe, str(run_dir), stage)[0])
        shutil.rmtree(run_dir)
        os.environ["CURATE_CACHE"] = str(scratch / f"cache-{name}-{i}")  # a fresh working copy
        bucket = fresh_bucket("bench")
        REQUESTS.clear()
        seconds, parts = timed_run(recipe, f"s3://{bucket}/{name}", stage)
        remote.append(seconds)
        shutil.rmtree(scratch / f"cache-{name}-{i}", ignore_errors=True)
    report(name, local, remote, parts)


def report(name: str, local: list[float], remote: list[float], parts: int) -> None:
    lo, re = statistics.median(local), statistics.median(remote)
    total = sum(REQUESTS.values())
    print(f"{name:12s} local {lo:7.2f} s   s3 {re:7.2f} s   ratio {lo / re:.2f}   "
          f"(runs: local {[round(x, 2) for x in local]}, s3 {[round(x, 2) for x in remote]})\n"
          f"{'':12s} s3 requests per run {total} ({total / parts:.1f} per part, {parts} parts): "
          + ", ".join(f"{k} {v}" for k, v in REQUESTS.most_common()), flush=True)


def source_reads(path: Path, endpoint: str, repeats: int) -> None:
    """Read the Parquet input whole: local, fsspec (s3fs), pyarrow's S3 filesystem."""
    import boto3
    import fsspec
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from tests.helpers.s3 import fresh_bucket

    bucket = fresh_bucket("bench-src")
    boto3.client("s3").upload_file(str(path), bucket, path.name)
    s3fs = fsspec.filesystem("s3", skip_instance_cache=True)
    arrow = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region="us-east-1")
    ways = {"local": lambda: pq.read_table(path),
            "fsspec": lambda: pq.read_table(f"{bucket}/{path.name}", filesystem=s3fs),
            "pyarrow": lambda: pq.read_table(f"{bucket}/{path.name}", filesystem=arrow)}
    seconds: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(repeats):
        for key, read in ways.items():
            began = time.perf_counter()
            read()
            seconds[key].append(time.perf_counter() - began)
    base = statistics.median(seconds["local"])
    print("source read  " + "   ".join(f"{k} {statistics.median(v):.2f} s" for k, v in seconds.items())
          + f"   ratio local/fsspec {base / statistics.median(seconds['fsspec']):.2f}"
          f"   local/pyarrow {base / statistics.median(seconds['pyarrow']):.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=0.1, help="size of the load+write input (in memory)")
    parser.add_argument("--docs", type=int, default=20000, help="documents in the dedup corpus")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from tests.benchmarks.bench_dedup import corpus_file
    from tests.benchmarks.bench_load_write import make_input
    from tests.helpers.s3 import fresh_bucket, s3_server

    count_requests()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp, s3_server() as endpoint:
        scratch = Path(tmp)
        from curate.storage import Store

        Store(f"s3://{fresh_bucket('warm')}").listing()  # the process's S3 client (~1 s, once) is made here
        traces = scratch / "traces.parquet"
        rows = make_input(traces, args.gb)
        corpus = corpus_file(scratch, args.docs, 60, seed=1)
        print(f"inputs: {rows} trace rows ({traces.stat().st_size / 1e6:.0f} MB), {args.docs} dedup docs; "
              f"{args.repeats} alternating runs per side", flush=True)
        alternate("load+write", load_write(traces), None, args.repeats, scratch)
        alternate("dedup", dedup(corpus, max(1000, args.docs // 8)), 1, args.repeats, scratch)
        source_reads(traces, endpoint, args.repeats)


if __name__ == "__main__":
    main()
