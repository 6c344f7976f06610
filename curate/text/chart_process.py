"""Charts drawn in a helper process that imported matplotlib ahead of time.

matplotlib's import (about 0.4 s on a quiet machine, 1 s under load) and each chart (0.1-0.3 s)
are single-threaded Python. A small run draws six (two PNGs for the card, four SVGs for the run
report) at its very end, in the one process that also renders the card and the report, while
the machine's other cores sit idle: about a second of the quickstart's wall time. So a run that
will draw starts one helper early (`start`: the runner, when a stage says it draws, and
`curate run` before it writes its report); the helper imports matplotlib while the run goes
on, and `draw(fn, *args)` sends a chart there and returns at once, so the caller keeps working
until it needs the bytes (`Drawing.result`).

The helper is spawned (never forked: polars and pyarrow threads run here), draws the same
bytes as this process would (same matplotlib, same style; the charts hold no time or path),
and is optional: without a started helper, or when it died, a drawing runs here, as before.
"""

from __future__ import annotations

import atexit
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

_HELPER: ProcessPoolExecutor | None = None
_AHEAD: dict[bytes, "Drawing"] = {}  # charts started by `ahead`, by what they draw; each taken once


def start() -> None:
    """Spawn the helper (once per process) and have it import matplotlib now."""
    global _HELPER
    if _HELPER is not None:
        return
    _HELPER = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                  initializer=_import_matplotlib)
    atexit.unregister(stop)  # once, however often the helper was restarted
    atexit.register(stop)
    try:
        _HELPER.submit(int)  # the pool spawns its process at the first submit: now, not at the first chart
    except OSError:  # no process to be had (limits): charts are drawn in this process
        stop()


def stop() -> None:
    """Shut the helper down (a later `start` spawns a new one)."""
    global _HELPER
    helper, _HELPER = _HELPER, None
    _AHEAD.clear()
    if helper is not None:
        helper.shutdown(wait=True, cancel_futures=True)


def started() -> bool:
    return _HELPER is not None


def _import_matplotlib() -> None:
    """The helper's initializer: a lower priority, then the import. Its exit skips the
    interpreter's teardown (about a second of freeing matplotlib's and NumPy's modules under
    load, which `stop` would wait for): the helper holds nothing to flush, its results went back
    over a pipe as they were drawn."""
    import os

    from curate.text.charts import import_matplotlib

    atexit.register(os._exit, 0)  # runs first at exit (atexit is last-in, first-out)
    # Below the run's own processes: on a busy machine the import must not slow the stages it
    # overlaps; when the run waits for a chart it is idle and the helper has the core anyway.
    os.nice(10)
    import_matplotlib()


class Drawing:
    """A chart on its way: `result()` waits for it (drawing it here if the helper failed)."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict, future: Future | None):
        self.fn, self.args, self.kwargs, self.future = fn, args, kwargs, future

    def result(self) -> Any:
        if self.future is not None:
            try:
                return self.future.result()
            except BrokenProcessPool:  # the helper died (killed, out of memory): draw here
                stop()
        return self.fn(*self.args, **self.kwargs)


def draw(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Drawing:
    """Draw `fn(*args, **kwargs)` in the helper if one is running, else when `result()` is asked.

    `fn` and its arguments must pickle (a module-level function, plain data and NumPy arrays).
    The same chart started by `ahead` is taken from there."""
    if _AHEAD:
        started_ahead = _AHEAD.pop(_key(fn, args, kwargs), None)
        if started_ahead is not None:
            return started_ahead
    future = None
    if _HELPER is not None:
        try:
            future = _HELPER.submit(fn, *args, **kwargs)
        except (BrokenProcessPool, RuntimeError):  # died, or shut down at exit
            stop()
    return Drawing(fn, args, kwargs, future)


def ahead(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Start drawing a chart that a later `draw` of the same function and arguments will ask
    for (the run report's, while the card is written), if the helper runs; the helper draws in
    order, so it goes after the charts asked for before it. A chart is a pure function of its
    arguments (no time, no path), so the bytes are those the later `draw` would make."""
    if _HELPER is None:
        return
    key = _key(fn, args, kwargs)
    if key not in _AHEAD:
        _AHEAD[key] = draw(fn, *args, **kwargs)


def _key(fn: Callable[..., Any], args: tuple, kwargs: dict) -> bytes:
    import pickle

    return pickle.dumps((fn.__module__, fn.__qualname__, args, sorted(kwargs.items())), protocol=5)
