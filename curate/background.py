"""Overlap reading, computing and writing inside one part task, with one helper thread each.

A part task reads Parquet, transforms batches and writes Parquet. pyarrow's readers and writers
(and curate's compiled kernels) release the GIL, so a reader thread and a writer thread run on
other cores while the task's own thread computes: on a 2-core machine one worker keeps both
cores busy. Order is kept (one thread per stream, FIFO), so the bytes written are the same as
without threads, and queues are bounded (`depth` items), so memory stays bounded too.

    writer = Background(pq_writer.write_table)      # calls run in order on a helper thread
    for table in prefetch(read_batches(path)):      # the next batches decode while this one works
        writer.submit(transform(table))
    writer.close()                                  # waits; re-raises a failure of any call
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Background:
    """Run `fn(*args)` for each `submit(*args)`, in order, on one helper thread.

    At most `depth` calls wait while one runs; `submit` blocks beyond that. `depth=0` keeps a
    single call in flight: the caller prepares the next item while the last one is written.
    """

    def __init__(self, fn: Callable[..., Any], *, depth: int = 2):
        self.fn = fn
        self.error: BaseException | None = None
        self.slots = threading.Semaphore(depth + 1)  # calls waiting or running
        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, name="curate-writer", daemon=True)
        self.thread.start()

    def submit(self, *args: Any) -> None:
        self._raise()
        self.slots.acquire()
        if self.error is not None:  # the call we waited for failed: this one would be skipped
            self.slots.release()
            self._raise()
        self.queue.put(args)

    def close(self) -> None:
        """Wait for every submitted call; raise the first failure."""
        if self.thread.is_alive():
            self.queue.put(_END)
            self.thread.join()
        self._raise()

    def _loop(self) -> None:
        while True:
            args = self.queue.get()
            if args is _END:
                return
            if self.error is None:  # after a failure, drain without calling (submit never blocks forever)
                try:
                    self.fn(*args)
                except BaseException as error:  # noqa: BLE001 - handed to the submitting thread
                    self.error = error
            args = None  # not held while waiting for the next call: a written table is freed now
            self.slots.release()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error


def prefetch(items: Iterable[Any], *, depth: int = 2) -> Iterator[Any]:
    """Iterate `items` on a helper thread, at most `depth` ahead of the consumer.

    Exceptions raised while producing come out of the consumer's `next()`. Stopping early
    (closing this generator) lets the producer finish its current item and exit.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put((item, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            slots.put((_END, error))
            return
        slots.put((_END, None))

    thread = threading.Thread(target=produce, name="curate-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.05)
            except queue.Empty:
                pass
