"""Stage name -> lazy import path. Importing a stage module must stay cheap (no vllm/torch/ray).

Add a stage by adding one line here; `curate <name>` and `use: <name>` pick it up.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util

from curate.errors import RecipeError

STAGES: dict[str, str] = {
    "load": "curate.stages.load:Load",
    "generate": "curate.stages.generate:Generate",
    "score": "curate.stages.score:Score",
    "verify": "curate.stages.verify:Verify",
    "filter": "curate.stages.filter:Filter",
    "dedup": "curate.stages.dedup:Dedup",
    "decontam": "curate.stages.decontam:Decontam",
    "mix": "curate.stages.mix:Mix",
    "write": "curate.stages.write:Write",
}


def stage_class(name: str):
    """Import and return the stage class registered as `name`."""
    if name not in STAGES:
        close = difflib.get_close_matches(name, STAGES, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(STAGES)}"
        raise RecipeError(f"unknown stage '{name}'", hint)
    module_name, _, attr = STAGES[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise RecipeError(f"stage '{name}' is registered but not built into this copy of curate.")
    return getattr(module, attr)


def available() -> list[str]:
    """Registered stages whose modules exist in this installation, in pipeline order."""
    found = []
    for name, path in STAGES.items():
        if importlib.util.find_spec(path.partition(":")[0]) is not None:
            found.append(name)
    return found


def install(stages: dict[str, str]) -> None:
    """Add `stages` to this process's registry (executors' warm-up: worker processes see the
    stages a plugin or test registered at run time in the driver)."""
    STAGES.update(stages)


def warm_up() -> tuple:
    """The executor warm-up that replicates this process's registry in a worker process."""
    return install, (dict(STAGES),)
