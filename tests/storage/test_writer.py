"""storage.writer.FileWriter: order, the cap on queued bytes, waiting for one object, close.

The objects here are small recorders standing in for ``IncomingObject`` (the writer only
calls their ``_write_views``); the real path, through a network SCP, is covered by the
disk-full and large-object tests in test_store.py. Every wait is bounded."""

from __future__ import annotations

import threading
import time

from dicomtls.storage.writer import FileWriter


class Recorder:
    def __init__(self, log, gate=None):
        self.log, self.gate, self._write_error = log, gate, None

    def _write_views(self, views):
        if self.gate is not None:
            assert self.gate.wait(10)
        self.log.append((self, b"".join(bytes(v) for v in views)))


def test_batches_are_written_in_order_and_wait_covers_one_object():
    log = []
    a, b = Recorder(log), Recorder(log)
    writer = FileWriter()
    try:
        for i in range(50):
            writer.write(a if i % 2 else b, [memoryview(b"%d" % i)], 1)
        writer.wait(a)
        assert [x for obj, x in log if obj is a][:25] == [b"%d" % i for i in range(1, 50, 2)]
    finally:
        writer.close()
    assert [x for _, x in log] == [b"%d" % i for i in range(50)]
    assert writer._thread is not None and not writer._thread.is_alive()


def test_a_full_queue_makes_the_receiver_wait():
    """With the writer stuck, queueing stops at the cap (one batch over it may go alone);
    once the writer moves, the waiting write goes through."""
    log, gate = [], threading.Event()
    slow = Recorder(log, gate)
    writer = FileWriter(limit=100)
    writer.write(slow, [memoryview(bytes(60))], 60)
    writer.write(slow, [memoryview(bytes(40))], 40)
    done = threading.Event()
    blocked = threading.Thread(target=lambda: (writer.write(slow, [memoryview(bytes(10))], 10),
                                               done.set()), daemon=True)
    blocked.start()
    assert not done.wait(0.3)           # 100 bytes queued: the third batch waits
    gate.set()
    assert done.wait(10)
    writer.wait(slow)
    writer.close()
    assert [len(x) for _, x in log] == [60, 40, 10]


def test_an_oversized_batch_goes_alone_and_a_failing_object_does_not_stop_the_thread():
    log = []

    class Broken(Recorder):
        def _write_views(self, views):
            raise ValueError("a bug in the object")

    broken, fine = Broken(log), Recorder(log)
    writer = FileWriter(limit=10)
    started = time.monotonic()
    writer.write(broken, [memoryview(bytes(1000))], 1000)
    writer.write(fine, [memoryview(b"ok")], 2)
    writer.wait(fine)
    writer.wait(broken)
    writer.close()
    assert time.monotonic() - started < 10
    assert isinstance(broken._write_error, ValueError)
    assert log == [(fine, b"ok")]


def test_close_without_writes_starts_no_thread():
    writer = FileWriter()
    writer.close()
    assert writer._thread is None
