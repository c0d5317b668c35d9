"""File writes off the association's receiving thread.

A Storage SCP's receiving thread decrypts and parses with the GIL released, and so does the
kernel's copy of a write into the page cache; done on one thread they take turns, so the
SCP used one core while the SCU left the other half idle. ``FileWriter`` runs the writes of
one association on a thread of its own, in the order they were queued, with a cap on the
bytes waiting (the receiving thread waits when the disk falls behind: memory stays bounded and
the peer is slowed by TCP, as before).

The queued buffers are views of received PDUs, which are never reused, so nothing is copied.
An object's writes are all done before anything else touches its file: ``IncomingObject``
calls ``wait(obj)`` before it fsyncs, closes, renames or removes it.
"""

from __future__ import annotations

import collections
import threading

#: Bytes queued and not yet written, per association, before ``write`` waits. Two 1 MiB PDUs:
#: enough to keep the writer busy while the next PDU is read, small beside the PDU buffers.
WRITER_LIMIT = 2 << 20


class FileWriter:
    """One thread writing, in order, the batches ``write(obj, views, nbytes)`` queues; each
    batch is done by ``obj._write_views(views)``. Started at the first write; ``close`` lets
    the queue empty and stops it."""

    def __init__(self, limit: int = WRITER_LIMIT, name: str = "dicomtls-writer"):
        self.limit = limit
        self.name = name
        self._cond = threading.Condition()
        self._queue: collections.deque = collections.deque()
        self._bytes = 0
        self._busy: dict = {}          # obj -> batches queued or being written
        self._thread = None
        self._closed = False

    def write(self, obj, views: list, nbytes: int) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the writer is closed")
            # A batch larger than the cap still goes (alone), or it would never go.
            while self._bytes and self._bytes + nbytes > self.limit:
                self._cond.wait()
            self._queue.append((obj, views, nbytes))
            self._bytes += nbytes
            self._busy[obj] = self._busy.get(obj, 0) + 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def wait(self, obj) -> None:
        """Return once every batch queued for ``obj`` has been written (or failed)."""
        with self._cond:
            while self._busy.get(obj):
                self._cond.wait()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                obj, views, nbytes = self._queue.popleft()
            try:
                obj._write_views(views)   # records an OSError on the object itself
            except Exception as exc:  # noqa: BLE001 - a bug: the object fails, the thread goes on
                obj._write_error = exc
            finally:
                with self._cond:
                    self._bytes -= nbytes
                    left = self._busy[obj] - 1
                    if left:
                        self._busy[obj] = left
                    else:
                        del self._busy[obj]
                    self._cond.notify_all()


__all__ = ["FileWriter", "WRITER_LIMIT"]
