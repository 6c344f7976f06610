# ruff: noqa: PLR0124 - `x == x` finds NaN without importing math
"""The plain values that cross the sandbox wall, both ways: tagged JSON, and JSON without the json package.

Half of this runs inside the sandbox: `curate.verifiers.code.harness_source` puts this file's text
before `harness.py`'s, and the two run as one script under `python -I -S`, so it imports nothing
(from curate or elsewhere) at its top. The parent imports it to encode a `call` test's arguments
and to decode the values a run reports.

Values cross as tagged JSON written by our own encoder (`enc`, read back by `dec`), which
accepts only exact builtin types (`type(x) is int`, never subclasses or objects with a custom
__eq__), so an always-equal object or a patched builtin cannot become a pass. The references it
needs (type, len, int.__repr__, ...) are taken when the script starts, before any candidate code
runs. Reports are JSON text read and written by `loads` and `dumps` on the C scanner `_json`
alone: importing the json package (and `re` with it) cost most of a short run.
"""

_type, _len, _sorted = type, len, sorted
_int_repr, _float_repr, _join = int.__repr__, float.__repr__, str.join
_ESC = {i: f"\\u{i:04x}" for i in range(32)}
_ESC.update({ord('"'): '\\"', ord("\\"): "\\\\"})
MAX_NODES = 200_000


class Unserialisable(Exception):
    pass


def enc(x, budget=None):
    """Tagged JSON text of a plain value (exact builtin types only)."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise Unserialisable("value too large")
    t = _type(x)
    if x is None:
        return "null"
    if t is bool:
        return "true" if x else "false"
    if t is int:
        return _int_repr(x)
    if t is float:
        return _float_repr(x) if x == x and x not in (float("inf"), float("-inf")) else f'{{"f":"{_float_repr(x)}"}}'
    if t is str:
        return '"' + x.translate(_ESC) + '"'
    if t is list:
        return "[" + _join(",", [enc(v, budget) for v in x]) + "]"
    if t is tuple:
        return '{"t":[' + _join(",", [enc(v, budget) for v in x]) + "]}"
    if t is set or t is frozenset:
        return '{"s":[' + _join(",", _sorted([enc(v, budget) for v in x])) + "]}"
    if t is dict:
        return '{"d":[' + _join(",", ["[" + enc(k, budget) + "," + enc(v, budget) + "]" for k, v in x.items()]) + "]}"
    if t is bytes:
        return '{"b":"' + x.hex() + '"}'
    if t is complex:
        return '{"c":[' + enc(x.real, budget) + "," + enc(x.imag, budget) + "]}"
    raise Unserialisable(t.__name__ if t.__name__.isidentifier() else "object")


def dec(v):
    """Inverse of `enc` after json.loads (used by replay and by the parent)."""
    if _type(v) is list:
        return [dec(x) for x in v]
    if _type(v) is dict:
        (tag, body), = v.items()
        if tag == "t":
            return tuple(dec(x) for x in body)
        if tag == "s":
            return {dec(x) for x in body}
        if tag == "d":
            return {_hashable(dec(k)): dec(val) for k, val in body}
        if tag == "f":
            return float(body)
        if tag == "b":
            return bytes.fromhex(body)
        if tag == "c":
            return complex(dec(body[0]), dec(body[1]))
    return v


def _hashable(k):
    return frozenset(k) if _type(k) is set else k


def plain_copy(x):
    return dec(loads(enc(x)))


class _ScanContext:
    """What the C JSON scanner reads from its context: the settings of plain json.loads."""

    strict, object_hook, object_pairs_hook, parse_float, parse_int, memo = True, None, None, float, int, {}
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


_JSON = []  # (scanner, ASCII string encoder), or (None, json) where there is no _json


def _json_parts():
    if not _JSON:
        try:
            import _json

            _JSON.extend((_json.make_scanner(_ScanContext()), _json.encode_basestring_ascii))
        except (ImportError, AttributeError, TypeError):
            import json

            _JSON.extend((None, json))
    return _JSON


def loads(text):
    """json.loads on the C scanner alone: importing the json package (and `re` with it) cost
    8 ms of a 13 ms run. Falls back to json where there is no _json (another Python)."""
    scan, enc_str = _json_parts()
    if scan is None:
        return enc_str.loads(text)
    text = text.decode() if _type(text) is bytes else text
    try:
        value, end = scan(text, _len(text) - _len(text.lstrip(" \t\n\r")))
    except StopIteration as exc:
        raise ValueError(f"not JSON (at {exc.value})") from None
    if text[end:].strip(" \t\n\r"):
        raise ValueError(f"extra data after JSON (at {end})")
    return value


def dumps(x):
    """JSON text of a report (dicts, lists, strings, ints, bools, None), as json.dumps writes it."""
    scan, enc_str = _json_parts()
    if scan is None:
        return enc_str.dumps(x)
    t = _type(x)
    if x is None or t is bool:
        return "null" if x is None else ("true" if x else "false")
    if t is int or t is float and x - x == 0:  # finite floats (a report holds none)
        return _int_repr(x) if t is int else _float_repr(x)
    if t is str:
        return enc_str(x)
    if t is list or t is tuple:
        return "[" + _join(", ", [dumps(v) for v in x]) + "]"
    if t is dict:
        return "{" + _join(", ", [enc_str(str(k)) + ": " + dumps(v) for k, v in x.items()]) + "}"
    raise TypeError(f"{t.__name__} is not plain JSON")
