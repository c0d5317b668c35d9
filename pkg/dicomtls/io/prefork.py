"""``Prefork``: one listening socket, N worker processes, for a server that must use more than
one core (`dicomtls serve --workers N`).

The parent binds the socket and loads the TLS credentials (the key's password is asked once),
then forks the workers; each builds its own server over the inherited socket (its own gate,
selector and threads: nothing with a thread or an epoll instance crosses the fork) and accepts
from it. Linux wakes every worker waiting on the socket; the gate's accept is non-blocking, so
the ones that lose the race go back to waiting. Each worker's caps (``--max-connections``,
``--max-per-peer``, ``--max-associations``) are its own: the server's are N times as large.

What the workers share is the output directory: objects are published by an atomic rename,
and the Query/Retrieve index is a scan of the directory refreshed per query
(``qr.index.StorageIndex``), so a C-FIND in one worker sees what another stored.

The parent only supervises: SIGTERM/SIGINT are passed on to every worker (each stops as a
single server does: drain, then abort; a second signal reaches them as SIGUSR1, abort at
once), and the parent exits 0 once all have ended, or SIGKILLs those still running
``stop_grace`` seconds after the first signal (``ABORT_KILL_AFTER`` after a second one). A
worker whose parent dies gets SIGTERM (``PR_SET_PDEATHSIG``): no worker outlives its
supervisor. A worker that dies on its own is started again after ``RESTART_DELAY``; one that
keeps dying within ``FAST_EXIT`` of its start ``MAX_FAST_EXITS`` times in a row stops the
server (exit 1): a broken worker must not become a fork loop.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from typing import Callable, Optional

from .readiness import readable

log = logging.getLogger(__name__)

RESTART_DELAY = 1.0   # s before a worker that died is started again
#: What the parent sends its workers for "abort now" (see ``_on_signal``); a worker's
#: ``cli.serving.serve_and_drain`` aborts its associations on it.
ABORT_SIGNAL = signal.SIGUSR1
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: s after a second signal (abort) before workers still running are SIGKILLed: a worker's
#: abort takes at most twice ``io.server.ABORT_GRACE`` (3 s) plus its exit.
ABORT_KILL_AFTER = 10.0
FAST_EXIT = 2.0       # s: a worker that ends sooner than this after its start "died at once"
MAX_FAST_EXITS = 5


def default_workers() -> int:
    """One per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Prefork:
    """Runs ``run_worker(index) -> exit status`` in ``workers`` child processes (see the module
    docstring). ``run()`` returns the parent's exit status."""

    def __init__(self, workers: int, run_worker: Callable[[int], int], *,
                 stop_grace: float = 60.0, on_started: Optional[Callable[[], None]] = None,
                 on_stopping: Optional[Callable[[str], None]] = None,
                 on_exit: Optional[Callable[[int], None]] = None):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.run_worker = run_worker
        self.stop_grace = stop_grace
        #: called once the workers are forked (start threads in the parent only from here)
        self.on_started = on_started
        #: called with the signal's name when the first one arrives
        self.on_stopping = on_stopping
        #: called with a worker's pid once it has ended (reaped)
        self.on_exit = on_exit
        self._children: dict[int, tuple[int, float]] = {}   # pid -> (index, started)
        self._stopping_since: Optional[float] = None
        self._fast_exits = 0
        self.restarts = 0
        self._pidfds: dict[int, int] = {}
        self._killed = False
        self._kill_at = float("inf")   # monotonic: SIGKILL the workers still running then
        self._parent_pid = os.getpid()
        # The signal handler writes here: it ends the supervisor's wait, which then applies
        # ``stop_grace`` (a wait on pidfds alone would not notice a signal).
        self._signalled_r, self._signalled_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    @property
    def pids(self) -> list[int]:
        return list(self._children)

    def _spawn(self, index: int) -> None:
        sys.stdout.flush()   # nothing buffered here may be written twice
        sys.stderr.flush()
        # Signals wait until the child has dropped the parent's handlers: one arriving just
        # after the fork would otherwise run the parent's handler in the child and be lost.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._run_child(index, blocked)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        self._children[pid] = (index, time.monotonic())
        self._pidfds[pid] = os.pidfd_open(pid)

    def _run_child(self, index: int, mask) -> None:
        status = 1
        try:
            for sig in _STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)   # a stop before the worker is up: exit
            signal.set_wakeup_fd(-1)   # the parent's pipe, closed below
            _die_with_parent(self._parent_pid)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            for fd in (self._signalled_r, self._signalled_w, *self._pidfds.values()):
                os.close(fd)   # the parent's
            status = self.run_worker(index)
        except BaseException:  # the worker's failure is its exit status, never the parent's
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status if isinstance(status, int) else 1)

    def _on_signal(self, signum, _frame) -> None:
        first = self._stopping_since is None
        if first:
            self._stopping_since = time.monotonic()
        else:   # abort: the workers get ABORT_KILL_AFTER, not the whole grace, to end
            self._kill_at = min(self._kill_at, time.monotonic() + ABORT_KILL_AFTER)
        # The first signal is passed on as it came (drain); any later one as ABORT_SIGNAL, not
        # as itself: two deliveries of one signal that reach a worker before its handler runs
        # count once, and the abort would be lost.
        for pid in list(self._children):
            _kill(pid, signum if first else ABORT_SIGNAL)
        if first and self.on_stopping is not None:
            self.on_stopping(signal.Signals(signum).name)
        try:
            os.write(self._signalled_w, b"\0")
        except OSError:   # full: the supervisor is awake already
            pass

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        # A signal caught by another thread of ours (the watchdog's, the metrics server's)
        # must still wake the supervisor's wait, where Python runs the handler.
        previous_fd = signal.set_wakeup_fd(self._signalled_w, warn_on_full_buffer=False)
        try:
            for index in range(self.workers):
                self._spawn(index)
            if self.on_started is not None:
                self.on_started()
            return self._supervise()
        finally:
            signal.set_wakeup_fd(previous_fd)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(self._signalled_r)
            os.close(self._signalled_w)

    def _supervise(self) -> int:
        status_code = 0
        while self._children:
            for pid, status in self._wait():
                index, started = self._children.pop(pid)
                os.close(self._pidfds.pop(pid))
                if self.on_exit is not None:
                    self.on_exit(pid)
                if self._stopping_since is not None:
                    continue
                lived = time.monotonic() - started
                log.error("worker %d (pid %d) ended with %s after %.1f s; starting it again",
                          index, pid, _describe(os.waitstatus_to_exitcode(status)), lived)
                self._fast_exits = self._fast_exits + 1 if lived < FAST_EXIT else 0
                if self._fast_exits >= MAX_FAST_EXITS:
                    log.error("workers keep ending at start: stopping the server")
                    status_code = 1
                    self._on_signal(signal.SIGTERM, None)
                    continue
                self._pause(RESTART_DELAY)
                if self._stopping_since is None:
                    self.restarts += 1
                    self._spawn(index)
        return status_code

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` before a restart, on the signal pipe: a stop arriving meanwhile
        ends the wait at once (and the restart is skipped)."""
        deadline = time.monotonic() + seconds
        while self._stopping_since is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if readable([self._signalled_r], left):
                while _read_nonblocking(self._signalled_r):
                    pass

    def _wait(self) -> list[tuple[int, int]]:
        """Wait for children to end (one ``select`` over their pidfds and the signal pipe); the
        (pid, status) of those that did. While stopping, SIGKILL the rest once ``stop_grace``
        is up."""
        timeout = None
        if self._stopping_since is not None and not self._killed:
            kill_at = min(self._kill_at, self._stopping_since + self.stop_grace)
            timeout = kill_at - time.monotonic()
            if timeout <= 0:
                for pid in self._children:
                    log.error("worker pid %d did not stop in time: killed", pid)
                    _kill(pid, signal.SIGKILL)
                self._killed = True   # now wait for them for good
                timeout = None
        by_fd = {fd: pid for pid, fd in self._pidfds.items()}
        ready = readable([*by_fd, self._signalled_r], timeout)
        if self._signalled_r in ready:
            while _read_nonblocking(self._signalled_r):
                pass
        ended = []
        for fd in ready:
            if fd in by_fd:
                pid, status = os.waitpid(by_fd[fd], 0)
                ended.append((pid, status))
        return ended


def _die_with_parent(parent: int) -> None:
    """SIGTERM to this process when its parent dies (Linux ``PR_SET_PDEATHSIG``); if it died
    already, exit now."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):   # not Linux: the parent's stop still reaches workers
        pass
    if os.getppid() != parent:
        os._exit(1)


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _read_nonblocking(fd: int) -> bytes:
    try:
        return os.read(fd, 512)
    except BlockingIOError:
        return b""


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


__all__ = ["ABORT_SIGNAL", "Prefork", "default_workers"]
