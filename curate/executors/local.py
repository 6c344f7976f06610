"""Run tasks in this process or in a pool of spawned worker processes.

Spawn, not fork: forking after polars or pyarrow have started their thread pools can deadlock.
With one worker everything runs inline, which keeps in-process engines (vLLM) warm across parts.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator


class LocalExecutor:
    def __init__(self, workers: int = 1):
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, items: Iterable[Any], *, max_parallel: int | None = None) -> Iterator[Any]:
        items = list(items)
        width = min(self.workers, max_parallel or self.workers, len(items))
        if width <= 1:
            for item in items:
                yield fn(*item) if isinstance(item, tuple) else fn(item)
            return
        pool = self._get_pool()
        pending = set()
        queue = list(items)
        while queue or pending:
            while queue and len(pending) < width:
                item = queue.pop(0)
                pending.add(pool.submit(fn, *item) if isinstance(item, tuple) else pool.submit(fn, item))
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from curate import registry

            context = multiprocessing.get_context("spawn")
            # Stages registered at run time (plugins, tests) must resolve in the workers too.
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=registry.STAGES.update,
                                             initargs=(dict(registry.STAGES),))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
