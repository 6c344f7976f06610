import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.errors import InputError
from curate.schema import COLUMNS, TRACE_SCHEMA, Trace, conform, from_rows, to_rows, validate


def test_schema_uses_only_plain_types():
    for field in TRACE_SCHEMA:
        kinds = [field.type] + ([field.type.value_type] if pa.types.is_list(field.type) else [])
        for kind in kinds:
            assert not pa.types.is_large_string(kind) and not pa.types.is_large_list(kind), field


text = st.one_of(st.none(), st.text(max_size=40))
traces = st.builds(
    Trace,
    id=st.text(min_size=1, max_size=16),
    sample_idx=st.one_of(st.none(), st.integers(0, 2**31 - 1)),
    problem=text, answer=text, reasoning=text, verdict=st.one_of(st.none(), st.sampled_from(["pass", "fail"])),
    pass_rate=st.one_of(st.none(), st.floats(0, 1)),
    contaminated=st.one_of(st.none(), st.lists(st.text(max_size=10), max_size=3)),
    completion_tokens=st.one_of(st.none(), st.integers(0, 2**31 - 1)),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(traces, max_size=8))
def test_round_trip_rows_table_rows(rows):
    table = from_rows(rows)
    validate(table)
    assert [Trace.from_dict(r) for r in to_rows(table)] == rows
    assert conform(table).equals(table)


def test_conform_fills_missing_columns_with_nulls():
    table = conform(pa.table({"id": ["a"], "problem": pa.array(["p"], pa.large_string())}))
    assert table.schema == TRACE_SCHEMA
    assert table.column("answer").null_count == 1
    assert table.column("problem").to_pylist() == ["p"]


def test_conform_names_the_column_that_cannot_be_cast():
    with pytest.raises(InputError, match="'sample_idx'"):
        conform(pa.table({"id": ["a"], "sample_idx": ["not a number"]}))


def test_conform_rejects_unknown_columns_with_a_hint():
    with pytest.raises(InputError, match="question") as info:
        conform(pa.table({"id": ["a"], "question": ["q"]}))
    assert "columns:" in info.value.hint


def test_validate_names_the_offending_column():
    table = from_rows([{"id": "a"}]).set_column(COLUMNS.index("pass_rate"), "pass_rate", pa.array(["x"]))
    with pytest.raises(InputError, match="'pass_rate' is string"):
        validate(table)
