"""TLS session resumption, opt-in: ``TLSConfig(session_cache=SessionCache())`` (CLI ``--resume``).

Off by default, as in DCMTK: a resumed handshake skips the certificate exchange, so the peer's
certificate is the one checked when the session was made, not checked again. That is sound
within the session's lifetime (``lifetime``, 300 s by default: a revoked or expired
certificate keeps working at most that long), and it is why the choice is the operator's.

Resumption runs on the libssl engine; dicomtls' own TLS 1.0-1.2 engine (the legacy DES/3DES
suites) always runs full handshakes. One ``SessionCache`` serves both roles of the configs it
is given to:

* a server (libssl) keeps up to ``size`` sessions for ``lifetime`` seconds in libssl's own
  cache and sends one TLS 1.3 ticket (or a TLS 1.2 ticket / session ID) per full handshake;
* a client keeps here, per server name (the SNI name or address the client was given), the
  newest resumable session libssl handed it, at most ``size`` of them (least recently used
  dropped first), each for ``lifetime`` seconds from when it arrived, and offers it on the
  next connection to that name. A server that does not resume simply runs a full handshake.

Thread-safe: the clients of a process share one cache through their config.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Optional

from .._binding import ffi, lib


class SessionCache:
    """See the module docstring. ``clock``: seconds, monotonic (tests pass their own)."""

    def __init__(self, size: int = 256, lifetime: float = 300.0, *,
                 clock: Callable[[], float] = time.monotonic):
        if size < 1 or lifetime <= 0:
            raise ValueError("a session cache needs size >= 1 and lifetime > 0")
        self.size = size
        self.lifetime = lifetime
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict = OrderedDict()   # name -> (SSL_SESSION*, stored_at)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def get(self, name: Optional[str]):
        """The session kept for ``name`` (a cffi SSL_SESSION*, owned by the cache: use it under
        no other thread's eviction, i.e. through ``offer``), or None."""
        with self._lock:
            return self._live(name)

    def offer(self, name: Optional[str], conn) -> bool:
        """Offer the session kept for ``name`` on the client connection ``conn`` (a dt_conn*);
        under the lock, so another thread cannot free it meanwhile (libssl takes its own
        reference). False when there is none or libssl refuses it."""
        with self._lock:
            session = self._live(name)
            return session is not None and bool(lib.dt_conn_set_session(conn, session))

    def _live(self, name: Optional[str]):
        if not name:
            return None
        entry = self._sessions.get(name)
        if entry is None:
            return None
        session, stored_at = entry
        if self._clock() - stored_at >= self.lifetime:
            del self._sessions[name]
            return None
        self._sessions.move_to_end(name)
        return session

    def put(self, name: Optional[str], session) -> bool:
        """Keep ``session`` (a cffi SSL_SESSION* this cache now owns) for ``name``; False when
        it is not resumable (then it is freed)."""
        owned = ffi.gc(session, lib.SSL_SESSION_free)
        if not name or not lib.SSL_SESSION_is_resumable(owned):
            return False
        with self._lock:
            self._sessions[name] = (owned, self._clock())
            self._sessions.move_to_end(name)
            while len(self._sessions) > self.size:
                self._sessions.popitem(last=False)
        return True

    def forget(self, name: str) -> None:
        with self._lock:
            self._sessions.pop(name, None)

    def __repr__(self) -> str:
        return f"SessionCache(size={self.size}, lifetime={self.lifetime:g})"


__all__ = ["SessionCache"]
