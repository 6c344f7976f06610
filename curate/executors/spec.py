"""What the runner hands an executor: a batch of tasks and what they need (see `curate.executors`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class TaskSpec:
    """One batch of independent tasks: `fn(*item)` for every item."""

    fn: Callable[..., Any]  # module-level, so it pickles by name
    items: list[Any]
    label: str = ""  # names the work in progress bars and errors (e.g. "01-verify+02-filter")
    resources: dict[str, float] = field(default_factory=dict)  # what one task holds on a cluster
    max_parallel: int | None = None  # at most this many at once; None: the executor decides
    warm: bool = False  # workers live across tasks (an engine starts once per worker)
    describe: Callable[[Any], str] | None = None  # names one item in errors ("part 3")
    done_marker: Callable[[Any], Path] | None = None  # the file a finished task leaves behind


WarmUp = tuple[Callable[..., None], tuple]
