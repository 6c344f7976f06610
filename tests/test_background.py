"""The helper threads of a part task: order kept, failures surface in the caller, early exits
leave no thread behind."""

from __future__ import annotations

import threading
import time

import pytest

from curate.background import Background, prefetch


def test_background_calls_run_in_submission_order():
    seen: list[int] = []
    worker = Background(lambda i: (time.sleep(0.001 * (i % 3)), seen.append(i)), depth=2)
    for i in range(50):
        worker.submit(i)
    worker.close()
    assert seen == list(range(50))


def test_background_failure_is_raised_to_the_submitter():
    def boom(i):
        if i == 3:
            raise ValueError("disk full")

    worker = Background(boom, depth=1)
    with pytest.raises(ValueError, match="disk full"):
        for i in range(100):  # never blocks forever: after a failure the thread drains
            worker.submit(i)
        worker.close()
    worker.close()  # the error is reported once; closing again is quiet


def test_prefetch_yields_everything_in_order_and_raises_producer_errors():
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))

    def broken():
        yield 1
        raise OSError("truncated file")

    got = []
    with pytest.raises(OSError, match="truncated"):
        for item in prefetch(broken()):
            got.append(item)
    assert got == [1]


def test_prefetch_stopped_early_ends_its_thread():
    before = threading.active_count()
    stream = prefetch(iter(range(10_000)), depth=2)
    assert next(stream) == 0
    stream.close()
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before


@pytest.mark.parametrize("depth", [0, 2])
def test_background_holds_at_most_depth_waiting_calls(depth):
    done = []
    worker = Background(lambda i: (time.sleep(0.002), done.append(i)), depth=depth)
    outstanding = []
    for i in range(30):
        worker.submit(i)
        outstanding.append(i + 1 - len(done))
    worker.close()
    assert max(outstanding) <= depth + 1 and done == list(range(30))


def test_a_submit_that_waited_for_a_failing_call_raises_instead_of_being_skipped():
    """With one call in flight (depth=0), the next submit waits for it; if it failed, that submit
    raises, so its caller knows its item never ran (the finishing thread relies on this)."""
    started = threading.Event()

    def slow_failure(i):
        if i == 0:
            started.set()
            time.sleep(0.2)
            raise ValueError("first call failed")

    ran: list[int] = []
    worker = Background(lambda i: (slow_failure(i), ran.append(i)), depth=0)
    worker.submit(0)
    started.wait()
    with pytest.raises(ValueError, match="first call failed"):
        worker.submit(1)  # blocks until call 0 ends, then reports its failure
    worker.close()
    assert ran == []
