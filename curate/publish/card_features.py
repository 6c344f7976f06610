"""`dataset_info.features` for the card, from an Arrow schema, without importing `datasets`.

The card's YAML spells features the way `datasets.Features._to_yaml_list()` does: a field is
`{name, dtype}` for a value, `{name, list: …}` for a list, `{name, struct: [fields]}` for a
struct, and a list of structs is `{name, list: [fields]}`. Importing `datasets` costs about half
a second per run, which the `write` stage's finalize paid for one YAML block; a test checks
that this module and `datasets` agree on every type curate writes. Types outside that set
(return None) fall back to `datasets` itself.

    >>> features(pa.schema([("contaminated", pa.list_(pa.string()))]))
    [{'name': 'contaminated', 'list': 'string'}]
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

_VALUES = {pa.string(): "string", pa.large_string(): "large_string", pa.binary(): "binary",
           pa.bool_(): "bool", pa.float16(): "float16", pa.float32(): "float32", pa.float64(): "float64",
           **{t: str(t) for t in (pa.int8(), pa.int16(), pa.int32(), pa.int64(),
                                  pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64())}}


def features(schema: pa.Schema) -> list[dict[str, Any]] | None:
    """The YAML feature list of `schema`, or None if it holds a type this module does not spell."""
    out = []
    for field in schema:
        spelled = _feature(field.type)
        if spelled is None:
            return None
        out.append({"name": field.name, **spelled})
    return out


def _feature(t: pa.DataType) -> dict[str, Any] | None:
    if t in _VALUES:
        return {"dtype": _VALUES[t]}
    if pa.types.is_struct(t):
        fields = features(pa.schema(list(t)))
        return None if fields is None else {"struct": fields}
    if pa.types.is_list(t):
        inner = _inner(t.value_type)
        return None if inner is None else {"list": inner}
    return None


def _inner(t: pa.DataType) -> Any:
    """A list's item: a dtype name, a struct's field list, or a nested list."""
    if t in _VALUES:
        return _VALUES[t]
    if pa.types.is_struct(t):
        return features(pa.schema(list(t)))
    return _feature(t)
