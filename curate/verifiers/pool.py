"""Long-lived worker processes with a per-item deadline enforced by the parent.

Why not math-verify's own timeout: it uses SIGALRM, which only works in the main thread and has
whole-second granularity. Here every worker runs the checker in its main thread with no timeout
of its own; the parent watches the clock and, when an item overruns its deadline, kills the
worker (SIGKILL: a sympy call stuck in C code cannot ignore it), records `timeout` for that item
and starts a fresh worker for the rest. A worker that dies (out of memory under its address-space
limit, a crash) costs only its current item (`error`).

Protocol: a job is `(header, items)`: the worker calls `prepare(header)` once (e.g. parse a gold
answer) and then `check(state, item)` for each item, sending one reply per item, so one
pathological item costs at most its deadline. Workers are never forked from the parent (it has
polars/pyarrow threads): they fork from multiprocessing's forkserver, a fresh single-threaded
process that imports the handler and its `preload` modules once (sympy and math-verify: about
1.5 CPU seconds), so neither each worker nor each restart after a timeout pays that import again
(spawned, each importing for itself, where there is no forkserver). They stay up across jobs.
Construction only starts them: a caller can
create the pool early (verify does, in its prepare) and do other work while the workers import
their handler; the first `run` waits for them.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Self

STARTUP_SECONDS = 120.0


def _worker_main(conn: Connection, handler: str, memory_mb: int | None) -> None:
    """Worker loop: import the handler module, then serve jobs until the pipe closes."""
    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    module = importlib.import_module(handler)
    warm = getattr(module, "warm_up", None)
    if warm:
        warm()
    conn.send(("ready", None, None))
    while True:
        try:
            header, items = conn.recv()
        except (EOFError, OSError):
            return
        try:
            state = module.prepare(header)
        except Exception as exc:  # noqa: BLE001 - a bad header fails its job, not the worker
            conn.send(("bad_header", None, f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("prepared", None, None))
        for index, item in enumerate(items):
            try:
                result = module.check(state, item)
            except MemoryError:
                result = ("error", {"reason": "out of memory in the checker"})
            except Exception as exc:  # noqa: BLE001 - any checker failure is an outcome
                result = ("error", {"reason": f"{type(exc).__name__}: {str(exc)[:200]}"})
            conn.send(("item", index, result))


def _context(preload: tuple[str, ...]):
    """The forkserver, preloading `preload` (only the first pool's list counts: the server is
    started once per process; a module it lacks is imported by the worker), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context


def stop_forkserver() -> None:
    """Kill multiprocessing's forkserver (at exit, once the workers are gone). Left alone it
    outlives this process by up to a second under load, tearing down the sympy it imported, and
    holds this process's stdout and stderr open meanwhile, so `curate run ... | tee log` (or any
    caller reading the output to its end) waits for it. The server holds no state worth a clean
    exit; its handle is private to multiprocessing, so if it is not where expected it is left to
    exit on its own."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        server._stop()  # reaps it, closes our end, removes its socket file
    except (OSError, AttributeError):
        pass


@dataclass
class _Slot:
    process: Any = None
    conn: Connection | None = None
    job: int | None = None  # index into the job list
    next_item: int = 0  # first item of the job not answered yet
    prepared: bool = False
    deadline_at: float = 0.0


@dataclass
class PoolStats:
    items: int = 0
    timeouts: int = 0
    deaths: int = 0
    restarts: int = 0
    bad_headers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class WorkerPool:
    """`workers` processes running `handler` (a module with `prepare` and `check`).

    >>> with WorkerPool("curate.verifiers.math", workers=1, deadline=2.0) as pool:  # doctest: +SKIP
    ...     pool.run([(("3", {}), ["3", "4"])])
    [[('pass', {...}), ('fail', {...})]]
    """

    def __init__(self, handler: str, *, workers: int = 1, deadline: float = 2.0,
                 memory_mb: int | None = 2048, preload: tuple[str, ...] = ()):
        self.handler, self.workers, self.deadline, self.memory_mb = handler, max(1, workers), deadline, memory_mb
        self._ctx = _context((handler, *preload))
        self.slots = [_Slot() for _ in range(self.workers)]
        self.stats = PoolStats()
        self._ready = False
        # starting blocks until the forkserver has imported the preload: done in a thread
        self._starter = threading.Thread(target=self._start_all, name="curate-verify-start", daemon=True)
        self._start_error: BaseException | None = None
        self._starter.start()

    def _start_all(self) -> None:
        try:
            for slot in self.slots:
                self._start(slot)
        except BaseException as exc:  # noqa: BLE001 - raised again by the first run
            self._start_error = exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self, slot: _Slot) -> None:
        parent, child = self._ctx.Pipe()
        slot.process = self._ctx.Process(target=_worker_main, args=(child, self.handler, self.memory_mb),
                                         daemon=True, name="curate-verify-worker")
        slot.process.start()
        child.close()
        slot.conn = parent

    def _await_ready(self, slot: _Slot) -> None:
        try:
            ready = slot.conn.poll(STARTUP_SECONDS) and slot.conn.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            from curate.errors import CurateError

            slot.process.kill()
            raise CurateError(
                f"a verify worker ({self.handler}) did not start (exit code {slot.process.exitcode}).",
                f"It may not fit in its memory limit ({self.memory_mb} MB): raise `memory_mb` in the "
                "verify stage, and check that sympy and math-verify import in this environment.")

    def _restart(self, slot: _Slot) -> None:
        slot.process.kill()
        slot.process.join()
        slot.conn.close()
        self.stats.restarts += 1
        self._start(slot)
        self._await_ready(slot)

    def run(self, jobs: list[tuple[Any, list[Any]]]) -> list[list[Any]]:
        """Run every job; returns, per job, one result per item (in item order)."""
        if not self._ready:  # started by the constructor, which does not wait for them
            self._starter.join()
            if self._start_error is not None:
                raise self._start_error
            for slot in self.slots:
                self._await_ready(slot)
            self._ready = True
        results: list[list[Any]] = [[None] * len(items) for _, items in jobs]
        queue = list(range(len(jobs)))[::-1]
        while queue or any(s.job is not None for s in self.slots):
            for slot in self.slots:
                if slot.job is None and queue:
                    self._assign(slot, queue.pop(), 0, jobs)
            self._wait_once(jobs, results)
        return results

    def _assign(self, slot: _Slot, job: int, start: int, jobs) -> None:
        header, items = jobs[job]
        if start >= len(items):
            slot.job = None
            return
        slot.job, slot.next_item, slot.prepared = job, start, False
        slot.conn.send((header, items[start:]))
        slot.deadline_at = time.monotonic() + self.deadline

    def _wait_once(self, jobs, results) -> None:
        busy = [s for s in self.slots if s.job is not None]
        if not busy:
            return
        timeout = max(0.0, min(s.deadline_at for s in busy) - time.monotonic())
        ready = wait([s.conn for s in busy], timeout=timeout)
        for slot in busy:
            if slot.conn in ready:
                self._receive(slot, jobs, results)
            elif time.monotonic() >= slot.deadline_at:
                self._expire(slot, jobs, results)

    def _receive(self, slot: _Slot, jobs, results) -> None:
        try:
            kind, _index, payload = slot.conn.recv()
        except (EOFError, OSError):
            self.stats.deaths += 1
            code = slot.process.exitcode
            self._fail_current(slot, jobs, results, ("error", {"reason": f"checker process died (exit {code})"}))
            return
        job = slot.job
        if kind == "bad_header":
            self.stats.bad_headers += 1
            results[job] = [("bad_header", payload)] * len(jobs[job][1])
            slot.job = None
            return
        if kind == "prepared":
            slot.prepared = True
        else:
            results[job][slot.next_item] = payload
            self.stats.items += 1
            slot.next_item += 1
            if slot.next_item >= len(jobs[job][1]):
                slot.job = None
                return
        slot.deadline_at = time.monotonic() + self.deadline

    def _expire(self, slot: _Slot, jobs, results) -> None:
        self.stats.timeouts += 1
        if not slot.prepared:
            job = slot.job
            results[job] = [("bad_header", f"preparing took longer than {self.deadline:g}s")] * len(jobs[job][1])
            self._restart(slot)
            slot.job = None
            return
        self._fail_current(slot, jobs, results, ("timeout", {"reason": f"no result within {self.deadline:g}s"}))

    def _fail_current(self, slot: _Slot, jobs, results, result) -> None:
        job, index = slot.job, slot.next_item
        if slot.prepared:
            results[job][index] = result
        else:
            results[job] = [result] * len(jobs[job][1])
            index = len(jobs[job][1])
        self._restart(slot)
        self._assign(slot, job, index + 1, jobs)

    def close(self) -> None:
        self._starter.join()
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive():
                slot.conn.close()
                slot.process.join(timeout=2)
                if slot.process.is_alive():
                    slot.process.kill()
                    slot.process.join()
