"""Code checks started ahead of their parts, for small runs whose parts all run in this process.

A small run spends most of verify's wall time waiting: for the math workers to import sympy
and math-verify (a few seconds on a busy machine) and for programs that run into their
`code_timeout` (the quickstart plants an infinite loop). verify's `prepare` hands every code
row of its inputs to `start`, which checks them in a background thread while the math workers
start and the math parts are checked; each part then `take`s its rows' results. A row is
found by its whole content, so a row that was not started (or whose check failed to start) is
simply checked again by the caller: results never depend on whether the prefetch ran.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from curate.verifiers.code import CodeSettings, Result, verify_code_rows

MAX_ROWS = 64  # past this the run is not small: its parts check their own code rows as before

_LOCK = threading.Lock()
_STARTED: dict[tuple, tuple[Future, int]] = {}  # (settings, row key) -> (the batch's future, index)
_THREADS: ThreadPoolExecutor | None = None


def row_key(settings: CodeSettings, row: dict[str, Any]) -> tuple:
    return settings, json.dumps(row, sort_keys=True, default=str)


def start(rows: list[dict[str, Any]], settings: CodeSettings, workers: int) -> None:
    """Check `rows` in the background (nothing when they are more than MAX_ROWS)."""
    global _THREADS
    if not rows or len(rows) > MAX_ROWS:
        return
    with _LOCK:
        if _THREADS is None:
            _THREADS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="curate-code-prefetch")
        future = _THREADS.submit(verify_code_rows, rows, settings, workers=workers)
        for index, row in enumerate(rows):
            _STARTED[row_key(settings, row)] = (future, index)


def take(rows: list[dict[str, Any]], settings: CodeSettings) -> list[Result | None]:
    """The started results of `rows` (waiting for them), None for rows not started; each once."""
    with _LOCK:
        started = [_STARTED.pop(row_key(settings, row), None) for row in rows]
    out: list[Result | None] = []
    for entry in started:
        try:
            out.append(entry[0].result()[entry[1]] if entry else None)
        except Exception:  # noqa: BLE001 - e.g. the sandbox probe failed: the caller checks the row itself
            out.append(None)
    return out
