"""Zero-copy views of an Arrow string array's buffers, for compiled kernels and hashing.

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
    if texts.null_count == 0 or bitmap is None:
        return data, offsets, np.ones(n, dtype=np.bool_)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return data, offsets, bits[texts.offset:texts.offset + n].astype(np.bool_)
