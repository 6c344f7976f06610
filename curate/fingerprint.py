"""Canonical hashing of configs and ids.

A stage's fingerprint chains its name, `version`, config and its parent's fingerprint, so a
change anywhere upstream changes every fingerprint after it. Ids are short, stable hex digests
of their parts, independent of Python's hash seed and of platform.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(*parts: Any, length: int = 16) -> str:
    """Stable hex digest of the parts; strings are hashed as-is, other values as canonical JSON.

    >>> digest("a", 1) == digest("a", 1)
    True
    """
    h = hashlib.blake2b(digest_size=max(8, length // 2 + length % 2))
    for part in parts:
        text = part if isinstance(part, str) else canonical_json(part)
        h.update(text.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:length]


def stage_fingerprint(name: str, version: int, config: dict[str, Any], parent: str | None) -> str:
    return digest(name, version, config, parent or "", length=32)


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Readable lines describing how two nested configs differ.

    >>> config_diff({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}})
    ['b.c: 2 -> 3']
    """
    lines = []
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += config_diff(a, b, prefix=path + ".")
        elif a != b:
            lines.append(f"{path}: {canonical_json(a)} -> {canonical_json(b)}")
    return lines


def file_fingerprint(paths, sample: int = 1 << 16) -> str:
    """Cheap content identity of files: sizes plus the first and last `sample` bytes of each.

    Catches edited, replaced, truncated or appended files without reading big inputs whole.
    """
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(str(p) for p in paths):
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(0)
            head = fh.read(sample)
            fh.seek(max(0, size - sample))
            tail = fh.read(sample)
        h.update(f"{size}:".encode() + head + tail)
    return h.hexdigest()
