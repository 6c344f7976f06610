"""`ast.parse` that several threads may call at once.

CPython 3.11 keeps the AST converter's recursion depth in interpreter-wide state: when a
garbage collection inside one thread's parse runs a finalizer that lets another thread parse,
the first fails with "SystemError: AST constructor recursion depth mismatch" (CPython issue
106905). verify checks code rows on a thread pool and decontam scans on threads, so every
parse of theirs goes through one lock; a parse is short, and holds the GIL anyway.
"""

from __future__ import annotations

import ast
import threading

_lock = threading.Lock()


def parse(source: str) -> ast.Module:
    """`ast.parse(source)`, one thread at a time."""
    with _lock:
        return ast.parse(source)
