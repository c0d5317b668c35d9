"""``io.worker.OrderedWorker``: jobs on background threads, results in submission order, a
pipe that wakes a ``select`` (real threads and pipes, bounded waits)."""

from __future__ import annotations

import select
import threading
import time

import pytest

from dicomtls.io.worker import JobDone, OrderedWorker


def test_results_come_back_in_submission_order():
    worker = OrderedWorker(threads=3)
    release = [threading.Event() for _ in range(3)]
    for i in range(3):
        worker.submit(i, lambda i=i: (release[i].wait(5), i * 10)[1])
    release[2].set()   # the last job ends first ...
    release[1].set()
    time.sleep(0.05)
    assert worker.completed() == [] and not worker.ready   # ... but waits for job 0
    assert worker.pending == 3
    release[0].set()
    r, _, _ = select.select([worker], [], [], 5)
    assert r == [worker]
    got = worker.drain()
    assert got == [JobDone(0, 0), JobDone(1, 10), JobDone(2, 20)]
    assert worker.pending == 0 and worker.close() == []


def test_an_exception_is_the_result():
    worker = OrderedWorker()
    worker.submit("bad", lambda: 1 / 0)
    (done,) = worker.drain()
    assert done.job == "bad" and isinstance(done.result, ZeroDivisionError)
    worker.close()


def test_close_waits_for_the_jobs_and_returns_them():
    worker = OrderedWorker(threads=2)
    for i in range(5):
        worker.submit(i, lambda i=i: (time.sleep(0.01), i)[1])
    assert [d.result for d in worker.close()] == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="closed"):
        worker.submit(9, lambda: 9)
    assert worker.close() == []
