"""Executors run part tasks and fan-out work for prepare phases.

The interface is two methods, so that the local process pool and Ray run exactly the same tasks:

- `map(fn, items)`: call a module-level function on each item, yield results as they finish
  (order not guaranteed; results carry what identifies them).
- `close()`.

Part tasks are `curate.part_task.run_part(run_dir, first_stage, part, num_parts, last_stage)`: a
task rebuilds its chain of stages from `recipe.resolved.yaml` in the run directory, so nothing but
paths and numbers crosses processes.
"""

from __future__ import annotations

from curate.errors import CurateError


def make_executor(kind: str = "local", *, workers: int = 1, address: str | None = None):
    if kind == "local":
        from curate.executors.local import LocalExecutor

        return LocalExecutor(workers=workers)
    if kind == "ray":
        from curate.executors.ray import RayExecutor

        return RayExecutor(workers=workers, address=address)
    raise CurateError(f"unknown executor '{kind}'", "use --executor local or --executor ray")
