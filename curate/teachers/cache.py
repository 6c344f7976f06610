"""The request cache: finished teacher responses in sqlite, keyed by (problem key, payload hash).

It lives in the part's scratch folder, which the runner keeps across reruns. The generate stage
writes each response as its request finishes and commits at least once per engine step or
server response, so a crash or SIGKILL loses only requests in flight. WAL mode with
`synchronous=NORMAL` survives a killed process (not a power cut) without an fsync per commit,
which keeps the cache off the engine's critical path.

On object storage the scratch folder reaches the store only when the part is marked done, so
`CacheSegments` also uploads the responses finished since its last upload as a segment object
every `CURATE_CACHE_SEGMENT_REQUESTS` responses or `CURATE_CACHE_SEGMENT_SECONDS` seconds
(`curate.storage.segments`); a rerun on any machine merges them back (`RequestCache.merge`), so
a lost machine costs only the requests in flight and those of the last interval.

The payload hash covers teacher, prompt and sampling (see `Request.seal`): a changed sampling
config or prompt never reuses an old answer; old entries just stay unused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from curate.teachers.base import Request, Response

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    PRIMARY KEY (key, payload_hash)
)
"""


class RequestCache:
    """sqlite-backed map (key, payload_hash) -> Response. `path=None` keeps it in memory."""

    def __init__(self, path: str | Path | None):
        target = ":memory:"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
        self.path = path
        self.db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        # One writer per part. WAL's index lives in shared memory of the writer's host, which is
        # fine on a shared file system as long as one host opens a part's cache at a time (it does:
        # a part runs in one task); readers on that host (progress, tests) see commits at once.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        self._pending = 0

    def done_keys(self, requests: Iterable[Request]) -> set[tuple[str, str]]:
        """Which of these requests already have a cached response."""
        wanted = {(r.key, r.payload_hash) for r in requests}
        found: set[tuple[str, str]] = set()
        rows = self.db.execute("SELECT key, payload_hash FROM responses")
        for key, payload in rows:
            if (key, payload) in wanted:
                found.add((key, payload))
        return found

    def put(self, request: Request, response: Response) -> None:
        """Store a response (in the open transaction; `commit` makes it durable)."""
        if self._pending == 0:
            self.db.execute("BEGIN")
        text = json.dumps(response.to_json(), ensure_ascii=False, separators=(",", ":"))
        self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                        (request.key, request.payload_hash, text))
        self._pending += 1

    def commit(self) -> None:
        if self._pending:
            self.db.execute("COMMIT")
            self._pending = 0

    def merge(self, segments: Iterable[bytes]) -> int:
        """Add the responses saved in segments (`CacheSegments`) that the cache lacks; return how
        many lines were read."""
        lines = [json.loads(line) for data in segments for line in data.splitlines() if line.strip()]
        if lines:
            self.commit()
            self.db.execute("BEGIN")
            self.db.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?)", [tuple(x) for x in lines])
            self.db.execute("COMMIT")
        return len(lines)

    def get_many(self, requests: list[Request]) -> Iterator[Response | None]:
        """Responses for `requests`, in order (None where missing)."""
        for request in requests:
            row = self.db.execute("SELECT response FROM responses WHERE key = ? AND payload_hash = ?",
                                  (request.key, request.payload_hash)).fetchone()
            yield Response.from_json(json.loads(row[0])) if row else None

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self.commit()
        self.db.close()


class CacheSegments:
    """Collects finished responses and hands them to `segments.save` (`curate.storage.segments`)
    every `every` responses or `seconds` seconds, whichever comes first; `flush` saves the rest.
    Safe to call from the teacher's callback thread(s)."""

    def __init__(self, segments: Any, every: int | None = None, seconds: float | None = None):
        self.segments = segments
        self.every = every or int(os.environ.get("CURATE_CACHE_SEGMENT_REQUESTS", "256"))
        self.seconds = seconds or float(os.environ.get("CURATE_CACHE_SEGMENT_SECONDS", "60"))
        self.lines: list[str] = []
        self.since = time.monotonic()
        self.lock = threading.Lock()

    def add(self, request: Request, response: Response) -> None:
        text = json.dumps(response.to_json(), ensure_ascii=False, separators=(",", ":"))
        with self.lock:
            self.lines.append(json.dumps([request.key, request.payload_hash, text], ensure_ascii=False))
            due = len(self.lines) >= self.every or time.monotonic() - self.since >= self.seconds
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # segments are numbered in the order they are saved
            lines, self.lines, self.since = self.lines, [], time.monotonic()
            if lines:
                self.segments.save(("\n".join(lines) + "\n").encode())


def unique_missing(requests: list[Request], done: set[tuple[str, str]]) -> list[Request]:
    """The requests still to send, each (key, payload) once, in order: not in `done`, no repeats."""
    seen, missing = set(done), []
    for request in requests:
        key = (request.key, request.payload_hash)
        if key not in seen:
            seen.add(key)
            missing.append(request)
    return missing


class CacheWriter:
    """Puts responses into a `RequestCache` from a helper thread: each batch that queued up while
    the last one was written goes in as one transaction.

    Encoding a response and sqlite's writes then run while the caller's thread waits for the
    engine, not in its way; a kill loses what is in flight plus the few responses queued behind
    the transaction being written. The cache must not be used elsewhere until `close`, which
    waits for everything put and raises a failure of the thread (as does the next `put`).
    """

    def __init__(self, cache: RequestCache):
        import queue
        import threading

        self.cache = cache
        self.error: BaseException | None = None
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="curate-cache-writer", daemon=True)
        self.thread.start()

    def put(self, request: Request, response: Response) -> None:
        self._raise()
        self.queue.put((request, response))

    def close(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        self._raise()

    def _loop(self) -> None:
        import queue

        done = False
        while not done:
            batch = [self.queue.get()]
            try:  # whatever else is waiting joins this transaction
                while True:
                    batch.append(self.queue.get_nowait())
            except queue.Empty:
                pass
            done = batch[-1] is None
            if self.error is None:
                try:
                    for item in batch[:-1] if done else batch:
                        self.cache.put(*item)
                    self.cache.commit()
                except BaseException as exc:  # noqa: BLE001 (handed to the caller's thread)
                    self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error
