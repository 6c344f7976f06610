"""Executors place work; they know nothing of stages, recipes or run directories.

The runner describes each batch of work as a `TaskSpec` (what to call, on which items, what
each task holds, how many at once, whether workers stay warm across tasks) and hands it to
`run`. Prepare phases fan work out with `map(fn, items)`, a `TaskSpec` with no extras. The
local process pool and Ray run exactly the same module-level functions, so nothing but small
arguments (paths and numbers) crosses processes: a part task rebuilds its chain of stages from
the run directory itself.

`warm_up` (given when the executor is made) runs once in every worker process before its first
task: the runner uses it to replicate stages registered at run time (plugins, tests).
"""

from __future__ import annotations

from curate.errors import CurateError
from curate.executors.spec import TaskSpec, WarmUp

__all__ = ["TaskSpec", "WarmUp", "make_executor"]


def make_executor(kind: str = "local", *, workers: int = 1, address: str | None = None,
                  warm_up: WarmUp | None = None):
    if kind == "local":
        from curate.executors.local import LocalExecutor

        return LocalExecutor(workers=workers, warm_up=warm_up)
    if kind == "ray":
        from curate.executors.ray import RayExecutor

        return RayExecutor(workers=workers, address=address, warm_up=warm_up)
    raise CurateError(f"unknown executor '{kind}'", "use --executor local or --executor ray")
