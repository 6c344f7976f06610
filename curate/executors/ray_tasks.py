"""What runs inside Ray workers: one call of a module-level function, and the engine actor.

Nothing here imports Ray, so this module loads in any process. The driver ships a small
`WorkerEnv` with every call so a worker on another node behaves like the driver's own process:

- the driver's working directory, so relative run-directory and input paths resolve the same way
  (the storage must be mounted at the same path on every node; a missing folder is reported as a
  storage problem, not as a missing file deep inside a stage);
- the executor's warm-up (the runner replicates its stage registry with it, so stages a plugin
  registered at runtime on the driver resolve in workers);
- `CURATE_EXECUTOR=ray` in the environment, so a stage knows Ray placed it (and pinned its GPUs).

A `CurateError` raised by a task (bad input, bad config) is returned as a value rather than
raised: it is deterministic, so retrying it would only waste time; the driver re-raises it.
Any other exception propagates, and the driver retries the task a bounded number of times.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from curate.errors import CurateError


@dataclass(frozen=True)
class WorkerEnv:
    """The parts of the driver's process state a task needs to see."""

    cwd: str
    warm_up: tuple[Callable[..., None], tuple] | None = None  # run once per worker (the runner's)


@dataclass
class Failed:
    """A user-fixable error raised by a task, carried back as a value (never retried)."""

    error: CurateError


@dataclass
class Done:
    """A task's result and the host that computed it (for storage checks and messages)."""

    result: Any
    host: str


def enter(env: WorkerEnv) -> None:
    """Make this worker process look like the driver: same working directory and warm-up."""
    if os.getcwd() != env.cwd:
        if not os.path.isdir(env.cwd):
            raise CurateError(
                f"the driver's working directory {env.cwd} does not exist on node "
                f"{socket.gethostname()}",
                "Ray workers read and write the run directory by the same path as the driver: "
                "put it (and relative inputs) on storage every node mounts at the same path "
                "(NFS, a shared volume), or pass absolute paths that exist everywhere.",
            )
        os.chdir(env.cwd)
    if env.warm_up:
        fn, args = env.warm_up
        fn(*args)
    # Stages that pin devices themselves (generation's data-parallel slots) must not when Ray
    # has already given this process its own GPUs.
    os.environ["CURATE_EXECUTOR"] = "ray"


def call(fn: Callable, item: Any, env: WorkerEnv) -> Done | Failed:
    """Run `fn(*item)` (or `fn(item)` when item is not a tuple) in this worker."""
    try:
        enter(env)
        result = fn(*item) if isinstance(item, tuple) else fn(item)
    except CurateError as error:
        return Failed(error)
    return Done(result, socket.gethostname())


class PartWorker:
    """A long-lived worker for stages that keep an engine warm (generation).

    It runs the same `run_part` as a task would; because the process lives on, whatever the stage
    caches at module level (a vLLM engine) is built once and reused for every part fed to it.
    """

    def __init__(self, env: WorkerEnv):
        self.env = env
        enter(env)

    def call(self, fn: Callable, item: Any) -> Done | Failed:
        return call(fn, item, self.env)

    def stop(self) -> None:
        """Exit cleanly (atexit hooks run, so an engine can shut down and free its devices)."""
        import ray

        ray.actor.exit_actor()
