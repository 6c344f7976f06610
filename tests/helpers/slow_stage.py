"""A test-only stage that sleeps per part, so a test can kill a run in the middle of a stage."""

import os
import time

from curate import registry
from curate.stages.base import Stage, StageConfig


class SlowConfig(StageConfig):
    seconds: float = 0.2


class Slow(Stage):
    name = "slow"
    Config = SlowConfig

    def process(self, table, ctx):
        time.sleep(self.config.seconds)
        return table.set_column(table.schema.get_field_index("answer"), "answer",
                                table["problem"])


def register() -> None:
    registry.STAGES["slow"] = "tests.helpers.slow_stage:Slow"


if __name__ == "__main__":  # python -m tests.helpers.slow_stage RECIPE RUN_DIR
    import sys

    register()
    from curate.recipe import load_recipe
    from curate.runner import run_recipe

    os.environ.setdefault("PYTHONHASHSEED", "0")
    run_recipe(load_recipe(sys.argv[1]), sys.argv[2], progress=False)


class BoomConfig(StageConfig):
    fail_part: int = -1
    trigger: str = ""  # fail only while this file exists
    late: bool = False  # fail when the part completes (ctx.finish), not while it streams


class Boom(Stage):
    """Pass-through that raises halfway through one part (after yielding its first rows), or,
    with `late`, in the work it registers to complete the part."""

    name = "boom"
    Config = BoomConfig

    def run(self, batches, ctx):
        failing = ctx.part == self.config.fail_part and os.path.exists(self.config.trigger)
        if failing and self.config.late:
            ctx.finish_later(_late_boom)
            failing = False
        for i, table in enumerate(super().run(batches, ctx)):
            if failing and i == 0:
                yield table.slice(0, 1)
                raise ValueError("boom halfway through a part")
            yield table


def register_boom() -> None:
    registry.STAGES["boom"] = "tests.helpers.slow_stage:Boom"


def _late_boom() -> None:
    raise ValueError("boom while completing a part")
