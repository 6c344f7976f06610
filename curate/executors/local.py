"""Run tasks in this process and a pool of spawned worker processes.

`--workers N` means N processes at work: this one plus N - 1 spawned helpers. This process
takes a task whenever the helpers are all busy, so it works from the first second while the
helpers are still starting (a spawned interpreter needs a second or two to import pyarrow,
numba and the stages), and nothing is left idle on a small machine. Stages that keep an engine
warm (`TaskSpec.warm`: generation) run only in helpers, each pinned to its own devices,
exactly as before; with one worker they run inline.

Spawn, not fork: forking after polars or pyarrow have started their thread pools can deadlock.
With one worker everything runs inline, which keeps in-process engines (vLLM) warm across parts.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import FIRST_COMPLETED, wait
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from curate.executors.spec import TaskSpec, WarmUp

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


class LocalExecutor:
    same_machine = True  # its processes see this machine's files (a prepare phase may fan out here)

    def __init__(self, workers: int = 1, warm_up: WarmUp | None = None):
        self.workers = max(1, int(workers))
        self.warm_up = warm_up
        self._pool: ProcessPoolExecutor | None = None

    @property
    def inline(self) -> bool:
        """Does every task run in this process (one worker)? A stage's prepare may then start
        work its parts will use (verify starts its checkers)."""
        return self.workers == 1

    def map(self, fn: Callable, items: Iterable[Any]) -> Iterator[Any]:
        """Yield `fn(*item)` for every item, in completion order."""
        return self.run(TaskSpec(fn, list(items)))

    def run(self, spec: TaskSpec) -> Iterator[Any]:
        """Yield the result of every task of `spec`, in completion order, at most `width` at once."""
        fn, max_parallel = spec.fn, spec.max_parallel
        queue = deque(spec.items)
        width = min(self.workers, max_parallel or self.workers, len(queue))
        if width <= 1:
            while queue:
                yield _call(fn, queue.popleft())
            return
        pool = self._get_pool()
        inline = not spec.warm  # engine stages pin devices per process: helpers only
        helpers = width - 1 if inline else width
        pending: set = set()
        while queue or pending:
            while queue and len(pending) < helpers:
                item = queue.popleft()
                pending.add(pool.submit(fn, *item) if isinstance(item, tuple) else pool.submit(fn, item))
            if queue and inline:  # the helpers are busy: this process takes the next task itself
                yield _call(fn, queue.popleft())
            done, pending = wait(pending, timeout=0 if queue and inline else None, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:  # imported here: a one-worker command never needs them (10-20 ms)
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context("spawn")
            initializer, initargs = self.warm_up or (None, ())
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                             initializer=initializer, initargs=initargs)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


def _call(fn: Callable, item: Any) -> Any:
    return fn(*item) if isinstance(item, tuple) else fn(item)
