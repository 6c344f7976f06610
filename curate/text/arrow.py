"""Zero-copy views of an Arrow string array's buffers, for compiled kernels and hashing, and
small Arrow builders that skip `pa.array`'s pandas import.

No numba here: `load` hashes texts from these buffers without paying numba's import.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def arrow_buffers(texts: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(utf8 bytes, int64 offsets, valid mask) of a string array, without copying the text.

    Nulls read as empty. The validity comes from the bitmap: pyarrow's boolean `to_numpy`
    imports pandas (0.2 s) for nothing.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.string())
    n = len(texts)
    bitmap, offsets_buf, data_buf = texts.buffers()
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width, count=n + 1 + texts.offset)[texts.offset:].astype(np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets, valid_mask(texts)


def valid_mask(array: pa.Array) -> np.ndarray:
    """Which entries are not null, as a numpy bool array, read from the validity bitmap."""
    bitmap = array.buffers()[0]
    if array.null_count == 0 or bitmap is None:
        return np.ones(len(array), dtype=np.bool_)
    return _bits(bitmap, array.offset, len(array))


def true_mask(mask: pa.BooleanArray | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array as a numpy bool array (nulls read False), from its bitmaps."""
    mask = one_chunk(mask)
    return _bits(mask.buffers()[1], mask.offset, len(mask)) & valid_mask(mask)


def one_chunk(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """An Arrow array in one chunk (`combine_chunks` of no chunks imports pandas)."""
    if not isinstance(array, pa.ChunkedArray):
        return array
    if array.num_chunks == 1:
        return array.chunk(0)
    return array.combine_chunks() if array.num_chunks else pa.nulls(0, array.type)


def _bits(bitmap: pa.Buffer | None, offset: int, n: int) -> np.ndarray:
    if n == 0 or bitmap is None:  # an empty array may have no buffer
        return np.zeros(n, np.bool_)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[offset:offset + n].astype(np.bool_)


def numpy_array(values: np.ndarray) -> pa.Array:
    """A 1-D numeric numpy array as an Arrow array, zero-copy (`pa.array` imports pandas)."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


def bool_array(values: np.ndarray) -> pa.BooleanArray:
    """A numpy bool array as an Arrow boolean array (bit-packed; `pa.array` imports pandas)."""
    values = np.asarray(values, np.bool_)
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))])


def string_array(values: list[str | None]) -> pa.StringArray:
    """`pa.array(values, pa.string())` for a list of strings (None: null), without pyarrow's
    pandas probe: `pa.array` imports pandas on first use, 0.2-0.8 s per process for nothing."""
    data = [v.encode("utf-8") if v is not None else b"" for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    nulls = sum(v is None for v in values)
    bitmap = None
    if nulls:
        valid = np.fromiter((v is not None for v in values), np.bool_, len(values))
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data)), bitmap, nulls)


def repeated_string(value: str, n: int) -> pa.StringArray:
    """`pa.array([value] * n, pa.string())` (a reason or stage name for every rejected row), built
    from two buffers: no Python list of n items, and no pandas import by `pa.array`."""
    data = value.encode("utf-8")
    if n * len(data) >= 2**31:  # beyond 32-bit offsets: let string_array say so
        return string_array([value] * n)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def python_array(values: list) -> pa.Array:
    """`pa.array(values)`, types inferred, for a column of Python str, bool, int or float (None:
    null) such as parsed JSON lines, built from buffers: `pa.array` imports pandas (0.2 s). Other
    values (lists, dicts, mixed kinds, ints beyond int64, texts near 2 GB) go through `pa.array`."""
    kinds = {type(v) for v in values} - {type(None)}
    if not kinds:
        return pa.nulls(len(values))
    if kinds == {str} and sum(len(v) for v in values if v) < 2**29:  # 4 utf-8 bytes a char at most
        return string_array(values)
    valid = np.fromiter((v is not None for v in values), np.bool_, len(values))
    bitmap = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    if kinds == {bool}:
        bits = np.packbits(np.fromiter((v is True for v in values), np.bool_, len(values)), bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [bitmap, pa.py_buffer(bits)])
    # ints beside floats must be exact doubles (|v| <= 2**53), ints alone fit int64: else pa.array says no
    exact = kinds != {int, float} or all(abs(v) <= 2**53 for v in values if type(v) is int)
    if kinds in ({int}, {float}, {int, float}) and exact:
        dtype = np.int64 if kinds == {int} else np.float64
        try:
            data = np.array([0 if v is None else v for v in values], dtype)
        except OverflowError:
            return pa.array(values)
        return pa.Array.from_buffers(pa.from_numpy_dtype(dtype), len(values), [bitmap, pa.py_buffer(data)])
    return pa.array(values)


def text_array(texts) -> pa.Array | pa.ChunkedArray:
    """Texts as an Arrow string array: Arrow arrays as they are, a list through `string_array`."""
    return texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else string_array(list(texts))


def numbers(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric Arrow array without nulls as numpy, read from its buffers (`to_numpy` imports
    pandas); arrays with nulls fall back to `to_numpy`."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    if any(c.null_count for c in chunks):
        return array.to_numpy()
    dtype = np.dtype(array.type.to_pandas_dtype())  # a numpy dtype; pandas is not imported
    chunks = [c for c in chunks if len(c)]  # an empty chunk may have no buffer
    if not chunks:
        return np.zeros(0, dtype)
    parts = [np.frombuffer(c.buffers()[1], dtype, len(c), c.offset * dtype.itemsize) for c in chunks]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def scalar(value: bool | int | float | str, type: pa.DataType | None = None) -> pa.Scalar:
    """An Arrow scalar of a Python bool, int, float or str (cast to `type` if given), built from a
    buffer: passing the Python value to a compute function (or `pa.scalar`) imports pandas. Give
    `fill_null` a scalar of the column's own type: for any other type it calls `pa.scalar` again."""
    if isinstance(value, bool):
        out = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(bytes([int(value)]))])[0]
    elif isinstance(value, str):
        out = string_array([value])[0]
    else:
        out = numpy_array(np.array([value], np.int64 if isinstance(value, int) else np.float64))[0]
    return out if type is None or out.type == type else out.cast(type)
