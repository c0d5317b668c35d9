"""``readable(waitables, timeout)``: which of some sockets, pipes or objects with ``fileno()``
can be read without blocking, waiting up to ``timeout`` seconds (None: no limit); and
``half_close_and_drain``, the bounded end of every transport's close.

``select.select`` cannot take a descriptor numbered 1024 or more (FD_SETSIZE: ValueError), and
a server holding a thousand connections hands out such numbers to its associations, so every
wait in the package goes through ``poll`` here instead. A descriptor that reports an error or
a hang-up counts as readable: the read that follows reports what happened.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Optional, Sequence

DRAIN_CHUNK = 256 * 1024

_READ_EVENTS = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP | select.POLLNVAL


def _fd(waitable) -> int:
    return waitable if isinstance(waitable, int) else waitable.fileno()


def readable(waitables: Sequence, timeout: Optional[float] = None) -> list:
    """The members of ``waitables`` ready to read (in their order); [] when ``timeout`` ran
    out first. ValueError for a closed socket (its ``fileno()`` is -1), as ``select`` does."""
    poller = select.poll()
    by_fd: dict[int, list] = {}
    for w in waitables:
        fd = _fd(w)
        if fd < 0:
            raise ValueError("file descriptor cannot be a negative integer")
        by_fd.setdefault(fd, []).append(w)
        poller.register(fd, _READ_EVENTS)
    ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
    ready = {fd for fd, _ in poller.poll(ms)}
    return [w for w in waitables if _fd(w) in ready]


def half_close_and_drain(sock: socket.socket, timeout: float) -> None:
    """Shut our side down, then read and drop what the peer still sends until it closes too
    or ``timeout`` has passed in total (not per read: a peer sending slowly cannot hold us).
    Closing with unread bytes would make the kernel send RST, which can make the peer drop
    our last data. OSError as the socket raises it; the caller closes the socket."""
    sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        sock.settimeout(left)
        if not sock.recv(DRAIN_CHUNK):
            return


__all__ = ["half_close_and_drain", "readable"]
