"""The buffer-built Arrow values of curate.text.arrow equal what pyarrow's own builders make."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from curate.text.arrow import python_array, repeated_string, scalar

COLUMNS = [["a", None, "é"], [None, None], [], [True, None, False], [1, None, -3], [2**63 - 1, -2**63],
           [1.5, None, 2], [1, 2.5], [0.5, -2**53], [math.nan, None], [[1], None], [{"a": 1}]]


@pytest.mark.parametrize("values", COLUMNS)
def test_python_array_is_pa_array(values):
    """Flat columns from buffers, the rest through pa.array: the same type and values."""
    got, want = python_array(values), pa.array(values)
    got.validate(full=True)
    assert got.type == want.type and repr(got.to_pylist()) == repr(want.to_pylist())  # repr: nan == nan


@pytest.mark.parametrize("values", [["x", 1], [True, 1], [2**63], [2**64], [1.5, 2**53 + 1]])
def test_python_array_fails_as_pa_array_does(values):
    with pytest.raises(Exception) as want:
        pa.array(values)
    with pytest.raises(type(want.value)):
        python_array(values)


@pytest.mark.parametrize("value, n", [("not selected", 3), ("é", 2), ("", 4), ("x", 0)])
def test_repeated_string(value, n):
    got = repeated_string(value, n)
    got.validate(full=True)
    assert got.equals(pa.array([value] * n, pa.string()))


def test_scalar_of_a_type():
    assert scalar(-1, pa.int32()).equals(pa.scalar(-1, pa.int32()))
    assert scalar("x").equals(pa.scalar("x")) and scalar(0.5).equals(pa.scalar(0.5))
