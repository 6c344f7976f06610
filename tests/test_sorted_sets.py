"""curate.text.sorted_sets against NumPy's own set routines, on the shapes and dtypes they get."""

import numpy as np
import pytest

from curate.text.sorted_sets import sorted_union, sorted_unique


@pytest.mark.parametrize("dtype", [np.int64, np.uint32, np.uint64])
@pytest.mark.parametrize("size", [0, 1, 2, 17, 5000])
def test_sorted_unique_is_np_unique(dtype, size):
    rng = np.random.default_rng(size)
    values = rng.integers(0, max(2, size // 3), size).astype(dtype)  # plenty of repeats
    got = sorted_unique(values)
    assert got.dtype == values.dtype
    assert np.array_equal(got, np.unique(values))


def test_sorted_unique_flattens_like_np_unique():
    values = np.array([[3, 1], [3, 2]])
    assert np.array_equal(sorted_unique(values), np.unique(values))


def test_sorted_union_is_union1d():
    rng = np.random.default_rng(1)
    left, right = rng.integers(0, 50, 40), rng.integers(25, 90, 60)
    assert np.array_equal(sorted_union(left, right), np.union1d(left, right))
    assert np.array_equal(sorted_union(np.zeros(0, np.int64), right), np.union1d([], right).astype(np.int64))
