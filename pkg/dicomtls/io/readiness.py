"""``readable(waitables, timeout)``: which of some sockets, pipes or objects with ``fileno()``
can be read without blocking, waiting up to ``timeout`` seconds (None: no limit).

``select.select`` cannot take a descriptor numbered 1024 or more (FD_SETSIZE: ValueError), and
a server holding a thousand connections hands out such numbers to its associations, so every
wait in the package goes through ``poll`` here instead. A descriptor that reports an error or
a hang-up counts as readable: the read that follows reports what happened.
"""

from __future__ import annotations

import select
from typing import Optional, Sequence

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


__all__ = ["readable"]
