"""`curate.text.pyast.parse`: threads parsing at once never hit CPython 3.11's shared AST
recursion counter (a SystemError verify's thread pool raised once in CI)."""

from __future__ import annotations

import ast
import gc
import threading
import time

from curate.text.pyast import parse

NESTED = "def f(x):\n" + "".join("    " * (i + 1) + f"if x > {i}:\n" for i in range(30)) + \
    "    " * 31 + "return [(a, {b: c for b, c in d}) for a in x]\n"


class _Yields:
    """Garbage whose finalizer lets another thread run: a collection inside a parse then
    switches threads midway through the AST conversion."""

    def __del__(self):
        time.sleep(0)


def _errors_when_parsing_with(parse_fn, threads: int = 3, rounds: int = 15) -> list[Exception]:
    errors: list[Exception] = []
    stop = threading.Event()

    def garbage():
        while not stop.is_set():
            item = _Yields()
            item.cycle = item
            del item
            time.sleep(0.0005)  # not a busy loop: the parsing threads keep the GIL most of the time

    def work():
        for _ in range(rounds):
            try:
                parse_fn(NESTED)
            except SystemError as error:
                errors.append(error)
                return

    thresholds = gc.get_threshold()
    gc.set_threshold(50, 1, 1)
    try:
        helper = threading.Thread(target=garbage)
        helper.start()
        workers = [threading.Thread(target=work) for _ in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    finally:
        stop.set()
        helper.join()
        gc.set_threshold(*thresholds)
    return errors


def test_threads_parsing_at_once_all_succeed():
    assert _errors_when_parsing_with(parse) == []


def test_the_race_is_real_without_the_lock():
    """The scenario above does fail with plain `ast.parse` (else the test above proves nothing);
    a Python that fixed the race passes it too."""
    import sys

    errors = _errors_when_parsing_with(ast.parse, rounds=2000)  # ends at the first error
    if sys.version_info < (3, 12):
        assert errors and "recursion depth mismatch" in str(errors[0])
