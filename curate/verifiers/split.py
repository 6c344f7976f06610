"""Problems whose samples straddle part boundaries.

`load` cuts parts by row count, so the samples of one problem can land in two parts, and a
per-part pass rate would then be computed over half of them. verify's `prepare` reads only the
`id` column of every input part, finds ids present in more than one part (at most one per
boundary), judges those problems whole, and stores their annotated rows; each part then takes
those rows' annotations from the artifact instead of judging them alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.storage.parquet_files import read_parquet

FILE = "split_problems.parquet"
ANNOTATIONS = ("verdict", "verify_detail", "pass_rate", "problem_stats")


def find_split_ids(inputs: list[Path]) -> set[str]:
    """Ids present in more than one of the input part files."""
    return split_ids(read_parquet(p, columns=["id"]).column("id") for p in inputs if Path(p).exists())


def split_ids(ids_per_part: Iterable[pa.ChunkedArray | pa.Array]) -> set[str]:
    """Ids present in more than one part, given each part's `id` column in part order."""
    seen: dict[str, int] = {}
    split = set()
    for part, ids in enumerate(ids_per_part):
        for problem_id in set(ids.to_pylist()):
            if seen.setdefault(problem_id, part) != part:
                split.add(problem_id)
    return split


def judge_split_problems(annotate: Callable[[pa.Table], pa.Table], inputs: list[Path], artifacts: Path) -> int:
    """Annotate the rows of straddling problems with `annotate`; returns their count."""
    split = find_split_ids(inputs)
    if not split:
        return 0
    wanted = pa.array(sorted(split), pa.string())
    tables = [t.filter(pc.is_in(t["id"], wanted)) for t in (read_parquet(p) for p in inputs if Path(p).exists())]
    annotated = annotate(pa.concat_tables(tables))
    artifacts.mkdir(parents=True, exist_ok=True)
    pq.write_table(annotated.select(["trace_id", *ANNOTATIONS]), artifacts / FILE)
    return len(split)


def read_split(artifacts: Path | None) -> pa.Table | None:
    path = Path(artifacts) / FILE if artifacts else None
    return read_parquet(path) if path and path.exists() else None


def merge_split(table: pa.Table, split: pa.Table | None, annotate: Callable[[pa.Table], pa.Table],
                counters: Counter) -> pa.Table:
    """Annotate `table`, taking straddling problems' rows from `split`; keeps the row order."""
    if split is None:
        return annotate(table)
    known = pc.is_in(table["trace_id"], split["trace_id"])
    if not pc.any(known).as_py():
        return annotate(table)
    order = pa.array(range(table.num_rows))
    table = table.append_column("__row", order)
    rest = table.filter(pc.invert(known))
    done = table.filter(known)
    positions = pc.index_in(done["trace_id"], split["trace_id"])
    for name in ANNOTATIONS:
        done = done.set_column(done.schema.get_field_index(name), name, split[name].take(positions))
    for verdict in done["verdict"].to_pylist():
        counters[f"verdict: {verdict}"] += 1
    parts = [done]
    if rest.num_rows:
        rows = rest.column("__row")
        parts.append(annotate(rest.drop_columns(["__row"])).append_column("__row", rows))
    merged = pa.concat_tables(parts)
    return merged.take(pc.sort_indices(merged["__row"])).drop_columns(["__row"])
