"""Run part tasks and prepare fan-outs on a Ray cluster (`curate run --executor ray`).

The same `TaskSpec`s the local pool runs (part tasks and whatever a prepare phase fans out) run
as Ray tasks; only paths cross the wire, so the run directory, its
markers, manifest and resume semantics are unchanged. The driver schedules:

- **Tasks** for ordinary stages: up to a cluster-sized number in flight, results yielded as they
  finish (the runner's progress bar consumes them, so progress is aggregated on the driver).
- **An actor pool** for work that keeps an engine warm (`TaskSpec.warm`, e.g. generation):
  long-lived actors, each holding `TaskSpec.resources` (e.g. `{"num_gpus": 4}` for a
  tensor-parallel-4 engine), are fed the next part as they free up, so each engine starts once.
  With GPUs requested there is one replica per fitting GPU group of the cluster; a CPU-only engine
  keeps the spec's `max_parallel` bound. `--workers N` (N > 1) caps both.

Failures: a task that raises, or whose worker or actor dies (killed, out of memory, node lost), is
retried up to `max_retries` times (a dead actor is replaced first). A `CurateError` is not retried
(bad input stays bad). When a part finally fails, parts already running are allowed to finish
(their work is kept), nothing new starts, and the part is reported with its error; rerunning the
same command resumes.

Storage: workers use the run directory by the driver's path (and the driver's working directory,
so relative paths agree); it must be on storage every node mounts at the same path. A finished
part whose marker the driver cannot see is reported as exactly that.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from curate.errors import CurateError, require
from curate.executors.ray_resources import Request, fit
from curate.executors.ray_tasks import Done, Failed, PartWorker, WorkerEnv, call
from curate.executors.spec import TaskSpec, WarmUp

log = logging.getLogger("curate.ray")

DEFAULT_RETRIES = 3


class RayExecutor:
    """Executor interface (`map`, `close`) over a Ray cluster, local or remote."""

    def __init__(self, workers: int = 1, address: str | None = None, *,
                 max_retries: int | None = None, warm_up: WarmUp | None = None):
        self.ray = require("ray", "ray", "the Ray executor")
        self.workers = max(1, int(workers))
        retries = os.environ.get("CURATE_RAY_MAX_RETRIES", DEFAULT_RETRIES)
        self.max_retries = int(retries if max_retries is None else max_retries)
        self.warm_up = warm_up
        self._owned = connect(self.ray, address)
        self._call = self.ray.remote(call)
        self._actor = self.ray.remote(PartWorker)

    def map(self, fn: Callable, items: Iterable[Any]) -> Iterator[Any]:
        """Call `fn` on every item on the cluster; yield results in completion order."""
        return self.run(TaskSpec(fn, list(items)))

    def run(self, spec: TaskSpec) -> Iterator[Any]:
        """Run every task of `spec` on the cluster; yield results in completion order."""
        if not spec.items:
            return
        pool = self._pool(spec)
        try:
            yield from self._schedule(pool, spec)
        finally:
            pool.close()

    def close(self) -> None:
        """Shut Ray down if this executor started it (a cluster it joined keeps running)."""
        if self._owned and self.ray.is_initialized():
            self.ray.shutdown()
        self._owned = False

    # ---------------------------------------------------------------- sizing

    def _pool(self, spec: TaskSpec):
        env = WorkerEnv(cwd=os.getcwd(), warm_up=self.warm_up)
        request = Request.of(spec.resources)
        count, max_parallel = len(spec.items), spec.max_parallel
        fits = fit(self.ray.cluster_resources(), request)
        if fits == 0:
            what = f"stage {spec.label}" if spec.label else "this fan-out"
            raise CurateError(
                f"{what} needs {request.need} per task, more than this Ray cluster has in total "
                f"({self.ray.cluster_resources()}).",
                "Add nodes with those resources (or let the autoscaler do so), or lower the "
                "stage's tensor_parallel_size / resource request.",
            )
        caps = [count, self.workers if self.workers > 1 else count]
        if spec.warm:
            if max_parallel and not request.gpus:
                caps.append(max_parallel)
            size = min(caps + [fits or count])
            return ActorPool(self.ray, self._actor, env, request, size)
        if max_parallel:
            caps.append(max_parallel)
        width = min(caps + [2 * fits if fits else count])
        return TaskPool(self.ray, self._call, env, request.options, width)

    # ---------------------------------------------------------------- scheduling

    def _schedule(self, pool, spec: TaskSpec) -> Iterator[Any]:
        ray, fn, items = self.ray, spec.fn, spec.items
        queue = deque(range(len(items)))
        attempts = [0] * len(items)
        inflight: dict[Any, tuple[int, Any]] = {}
        failure: tuple[int, BaseException] | None = None
        try:
            while queue or inflight:
                while queue and failure is None and pool.has_free():
                    i = queue.popleft()
                    attempts[i] += 1
                    ref, slot = pool.submit(fn, items[i])
                    inflight[ref] = (i, slot)
                if not inflight:
                    break
                [ref], _ = ray.wait(list(inflight), num_returns=1)
                i, slot = inflight.pop(ref)
                outcome = pool.collect(ref, slot)
                if isinstance(outcome, Done):
                    if spec.done_marker:
                        check_visible(spec, items[i], outcome.host)
                    yield outcome.result
                elif isinstance(outcome, Failed):
                    failure = failure or (i, outcome.error)
                elif attempts[i] <= self.max_retries:
                    log.warning("%s failed (attempt %d of %d), retrying: %s",
                                describe(spec, items[i], outcome), attempts[i], self.max_retries + 1,
                                _first_line(outcome))
                    queue.appendleft(i)
                else:
                    failure = failure or (i, outcome)
        finally:
            pool.cancel(inflight)
        if failure is not None:
            i, error = failure
            raise part_failed(describe(spec, items[i], error), error, attempts[i])


class TaskPool:
    """Plain Ray tasks, at most `width` in flight."""

    def __init__(self, ray, remote_call, env: WorkerEnv, options: dict, width: int):
        self.ray = ray
        self.remote = remote_call.options(**options, max_retries=0, retry_exceptions=False)
        self.env = env
        self.width = max(1, width)
        self.running = 0

    def has_free(self) -> bool:
        return self.running < self.width

    def submit(self, fn: Callable, item: Any):
        self.running += 1
        return self.remote.remote(fn, item, self.env), None

    def collect(self, ref, slot) -> Any:
        self.running -= 1
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayError as error:
            return error

    def cancel(self, inflight: dict) -> None:
        for ref in inflight:
            self.ray.cancel(ref, force=True)

    def close(self) -> None:
        """Nothing to release: task workers belong to Ray."""


class ActorPool:
    """`size` long-lived `PartWorker` actors; each takes the next item when it frees up."""

    def __init__(self, ray, actor_class, env: WorkerEnv, request: Request, size: int):
        self.ray, self.actor_class, self.env, self.request = ray, actor_class, env, request
        self.groups: dict[Any, Any] = {}  # actor -> its placement group (multi-GPU replicas)
        self.free = [self._start() for _ in range(max(1, size))]

    def _start(self):
        options, group = self.request.actor_options(self.ray)
        actor = self.actor_class.options(**options, max_restarts=0, max_task_retries=0
                                         ).remote(self.env)
        self.groups[actor] = group
        return actor

    def has_free(self) -> bool:
        return bool(self.free)

    def submit(self, fn: Callable, item: Any):
        actor = self.free.pop()
        return actor.call.remote(fn, item), actor

    def collect(self, ref, actor) -> Any:
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as error:
            self._stop(actor)  # the process died: its engine is gone, start a fresh one
            self.free.append(self._start())
            return error
        except self.ray.exceptions.RayError as error:
            self.free.append(actor)
            return error
        self.free.append(actor)
        return result

    def _stop(self, actor) -> None:
        self.ray.kill(actor)
        group = self.groups.pop(actor, None)
        if group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(group)

    def cancel(self, inflight: dict) -> None:
        """Stop actors still busy (the run is being abandoned); `close` ends the idle ones."""
        for _, actor in inflight.values():
            self._stop(actor)

    def close(self, *, grace: float = 30.0) -> None:
        """Ask every actor to exit cleanly (engines shut down), then make sure they are gone."""
        stopping = [actor.stop.remote() for actor in self.groups]
        self.ray.wait(stopping, num_returns=len(stopping), timeout=grace)
        for actor in list(self.groups):
            self._stop(actor)
        self.free = []


# -------------------------------------------------------------------- helpers


def check_visible(spec: TaskSpec, item: Any, host: str, *, patience: float = 60.0) -> None:
    """A task finished on `host`; the driver must see its marker, or storage is not shared.

    Network file systems may cache a missing name for a while (NFS negative lookups), so the
    marker gets `patience` seconds to appear before this is called a storage problem."""
    import time

    marker = spec.done_marker(item)
    deadline, pause = time.monotonic() + patience, 0.05
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(pause)
        pause = min(2 * pause, 2.0)
    if not marker.exists():
        raise CurateError(
            f"{describe(spec, item)} finished on node {host}, but its marker "
            f"{Path(marker).resolve()} is not visible from the driver.",
            "The run directory must be on storage every Ray node mounts at the same path "
            "(NFS, a shared volume); pass such a folder with --run-dir.",
        )


CONNECT_HINT = ("Start one with `ray start --head` (and `ray start --address HEAD:6379` on the "
                "other nodes), or leave out --address to start a local Ray instance.")


def connect(ray, address: str | None) -> bool:
    """Join the cluster at `address` (or start a local Ray); True when this process started it."""
    if ray.is_initialized():
        return False
    reachable(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING)
    except ConnectionError as exc:
        hint = CONNECT_HINT
        if _auth_failure(exc):
            hint = ("The cluster uses token authentication: set RAY_AUTH_MODE=token and make its "
                    "token available (~/.ray/auth_token on this machine, or RAY_AUTH_TOKEN).")
        raise CurateError(f"could not connect to a Ray cluster at '{address}': {exc}",
                          hint) from exc
    return True


def _auth_failure(exc: BaseException | None) -> bool:
    """Whether a connection error comes from the cluster's token authentication."""
    while exc is not None:
        if "Authentication" in type(exc).__name__ or "InvalidAuthToken" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def reachable(address: str | None, *, timeout: float = 10.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (Ray itself retries for minutes)."""
    import socket

    host, _, port = (address or "").rpartition(":")
    if "://" in (address or "") or not host or not port.isdigit():
        return  # None, "auto", "local", ray:// client addresses: Ray answers these quickly
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise CurateError(f"no Ray cluster answers at {address} ({exc.strerror or exc}).",
                          CONNECT_HINT) from exc


def describe(spec: TaskSpec, item: Any, error: BaseException | None = None) -> str:
    if spec.describe:
        # a task may run several fused stages; the part task labels errors with the one that raised
        cause = getattr(error, "cause", None)  # a RayTaskError wraps the original exception
        stage = getattr(error, "stage_label", None) or getattr(cause, "stage_label", None) or spec.label
        return f"{spec.describe(item)} of stage {stage}"
    text = f"{getattr(spec.fn, '__qualname__', spec.fn)}{item if isinstance(item, tuple) else (item,)!r}"
    return text if len(text) <= 160 else text[:157] + "..."


def part_failed(what: str, error: BaseException, attempts: int) -> CurateError:
    """The error a user sees when a task finally fails."""
    if isinstance(error, CurateError):
        error.message = f"{what}: {error.message}"
        error.args = (error.message,)
        return error
    lines = str(error).strip().splitlines()
    detail = "\n".join(lines[-25:])
    return CurateError(
        f"{what} failed {attempts} time(s) on Ray; last error:\n{detail}",
        "Fix the cause and rerun the same command: finished parts are kept and only unfinished "
        "ones run again (set CURATE_RAY_MAX_RETRIES to change the retry count).",
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__

