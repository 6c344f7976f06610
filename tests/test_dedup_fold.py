"""A part's units made in Arrow (`read_units`) are the ones polars made (`polars_units`):
keys in order of first appearance, the smallest text and source, rows counted, passes summed."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.dedup.units import polars_units, read_units
from curate.stages.dedup import Dedup


def _rows(n: int) -> pa.Table:
    """Samples of a few problems: texts differ (and some are null) within a problem; sources
    mixed and missing; some rows without an id, trace_id or sample_idx; two domains."""
    return pa.table({
        "id": [None if i % 11 == 5 else f"q{(i * 7) % 9}" for i in range(n)],
        "trace_id": [None if i % 4 == 0 else f"t{i % 23}" for i in range(n)],
        "sample_idx": pa.array([None if i % 6 == 1 else i % 3 for i in range(n)], pa.int32()),
        "source": [(None, "b", "a", "c")[i % 4] if i % 5 else None for i in range(n)],
        "domain": [("math", "code")[i % 2] for i in range(n)],
        "verdict": [("pass", "fail", None)[i % 3] for i in range(n)],
        "problem": [None if i % 13 == 3 else f"text {(i * 5) % 17} of {i % 9}" for i in range(n)],
        "reasoning": [f"why {(i * 3) % 10}" for i in range(n)],
    })


@pytest.mark.parametrize("field", ["problem", "reasoning"])
@pytest.mark.parametrize("domains", [None, ["math"]])
def test_arrow_units_match_polars_units(tmp_path, field, domains):
    path = tmp_path / "part.parquet"
    table = _rows(120)
    pq.write_table(table, path, row_group_size=40)
    options = Dedup({"field": field}).options()
    texts, units = read_units(str(path), options, domains=domains)
    ref_texts, ref_units = polars_units(table, str(path), options, domains)
    assert units.num_rows < table.num_rows  # keys repeat: the fold ran
    assert units.cast(ref_units.schema).to_pydict() == ref_units.to_pydict()
    assert texts.to_pylist() == ref_texts.to_pylist()
