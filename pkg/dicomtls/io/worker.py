"""One background thread per association for blocking work that should not stop the reading.

The Storage SCP's case: with an Asynchronous Operations Window the SCU sends object n+1 before
the response to object n, and the slow part of finishing object n (fsync, then rename) can run
here while the association's thread receives object n+1. Jobs run one at a time in submission
order; each one's result comes back to the association's thread as a ``JobDone`` event from
``Driver.next_event`` (the driver also wakes up for it while it waits for the peer: the worker
writes a byte to a pipe the driver selects on together with the socket). So responses still go
out in order, from the one thread that owns the association. Services submit through
``io.services.ServiceLink.submit``: there each job is the continuation that gets its result.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable

from .readiness import readable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobDone:
    """A job submitted to the association's ``OrderedWorker`` has finished: ``result`` is what
    its function returned, or the exception it raised."""

    job: Any
    result: Any


class OrderedWorker:
    """``threads`` threads running ``fn()`` for each ``submit(job, fn)``; the results come back
    in submission order whatever order the jobs end in. ``pending``: jobs submitted and not yet
    collected with ``completed()``. ``fileno()`` becomes readable when a job finishes (for
    ``select``; ``clear()`` empties it).

    Why several threads for fsync-bound jobs: file systems such as ext4 commit the fsyncs that
    wait at the same time in one journal commit and one device flush, so two to four fsyncs
    in flight cost little more than one."""

    def __init__(self, name: str = "dicomtls-worker", *, threads: int = 1):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._finished: dict[int, JobDone] = {}   # by submission number, until collected
        self._next_out = 0                          # the next submission number to hand out
        self._submitted = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self.pending = 0
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True)
                         for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def fileno(self) -> int:
        return self._wake_r

    def submit(self, job: Any, fn: Callable[[], Any]) -> None:
        if self._closed:
            raise RuntimeError("the worker is closed")
        self.pending += 1
        self._jobs.put((self._submitted, job, fn))
        self._submitted += 1

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            number, job, fn = item
            try:
                result = fn()
            except Exception as exc:  # handed to the association's thread, which decides
                log.exception("background job %r failed", job)
                result = exc
            with self._lock:
                self._finished[number] = JobDone(job, result)
            os.write(self._wake_w, b"\0")

    @property
    def ready(self) -> bool:
        """Whether ``completed()`` has something now (no system call)."""
        return self._next_out in self._finished

    def clear(self) -> None:
        """Empty the wake-up pipe (after ``select`` said it is readable)."""
        try:
            os.read(self._wake_r, 65536)
        except BlockingIOError:
            pass

    def completed(self) -> list:
        """The jobs finished since the last call, in submission order; a job that ended before
        an earlier one waits for it (never blocks)."""
        out = []
        with self._lock:
            while self._next_out in self._finished:
                out.append(self._finished.pop(self._next_out))
                self._next_out += 1
        self.pending -= len(out)
        return out

    def drain(self) -> list:
        """Wait for every pending job; their ``JobDone``s in order."""
        out = []
        while self.pending:
            if not self.ready:
                readable([self._wake_r])
                self.clear()
            out.extend(self.completed())
        return out

    def close(self) -> list:
        """Let the jobs submitted so far finish, stop the threads; their ``JobDone``s."""
        if self._closed:
            return []
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        out = self.completed()
        os.close(self._wake_r)
        os.close(self._wake_w)
        return out


__all__ = ["JobDone", "OrderedWorker"]
