"""The versioned benchmark pack: the evaluations reasoning models are judged on.

`PACK` maps a short name (`aime24`, `math500`, ...) to a `BenchmarkSpec`: where the items live on
the Hub (dataset id, config, split, pinned revision), which fields hold the problem and the
answer, the license and the release date. `PACK_VERSION` changes whenever a spec changes, and it
goes into every decontamination report together with each benchmark's revision, so a report says
exactly what was checked.

Selections are strings, as written on the command line or in a recipe:

- `aime24`, `math500`: a pack name (aliases such as `aime_2024` work too);
- `livecodebench:release_v5`, `livecodebench:2024-08-01..2025-02-01`,
  `livecodebench:release_v6:2024-08-01..`: a version and/or a contest-date window;
- `./my_eval.jsonl`, `evals/x.parquet#problem=question,id=uid`: a local JSONL/Parquet file with
  an optional field mapping (defaults: `id`, `problem`, `answer`).
"""

from __future__ import annotations

from curate.benchmarks.pack import PACK, PACK_VERSION, BenchmarkSpec
from curate.benchmarks.select import (
    BenchItem,
    LocalSpec,
    Selection,
    parse_selection,
    resolve_selections,
)

__all__ = [
    "PACK",
    "PACK_VERSION",
    "BenchItem",
    "BenchmarkSpec",
    "LocalSpec",
    "Selection",
    "get_spec",
    "parse_selection",
    "resolve_selections",
]


def get_spec(name: str) -> BenchmarkSpec:
    """The pack spec named `name` (or one of its aliases); raises CurateError with choices."""
    from curate.benchmarks.select import lookup

    return lookup(name)
