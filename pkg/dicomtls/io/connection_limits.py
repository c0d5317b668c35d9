"""What a server lets its peers hold (``ConnectionLimits``), the count of what they hold, in
all and per peer address (``ConnectionCounts``, shared by the gate and the associations'
threads), and the observer interface a server reports connections to (``NullObserver``;
``io.metrics.ServerMetrics`` implements it). Used by ``io.gate`` and ``io.server``."""

from __future__ import annotations

import resource
import threading
from dataclasses import dataclass
from typing import Optional

from ..ul.framing import DEFAULT_MAX_OTHER_LENGTH


def _default_max_connections() -> int:
    """4096, or what the descriptor limit leaves room for (a connection holds one; an
    association may hold a file too)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 4096
    return max(16, min(4096, (soft - 64) // 2))


@dataclass(frozen=True)
class ConnectionLimits:
    """What a server lets its peers hold (see the module docstring). ``max_connections`` None:
    4096 or what the descriptor limit allows."""

    max_connections: Optional[int] = None
    max_associations: int = 256
    max_per_peer: int = 64
    first_byte_timeout: float = 5.0
    handshake_timeout: float = 10.0
    request_timeout: float = 10.0
    #: after our refusal (alert, A-ABORT, A-ASSOCIATE-RJ): how long the peer may take to close
    close_timeout: float = 1.0
    max_request_length: int = DEFAULT_MAX_OTHER_LENGTH

    @property
    def connections(self) -> int:
        return self.max_connections or _default_max_connections()


class NullObserver:
    """What a server tells an observer (``io.metrics.ServerMetrics``) as connections come and
    go; this one listens to nothing."""

    def connection_opened(self) -> None:
        """Accepted and counted (waiting in the gate)."""

    def connection_closed(self, was_association: bool) -> None:
        """Closed, from the gate or at the end of its association."""

    def connection_refused(self, cap: str) -> None:
        """Reset at accept: over ``cap``."""

    def association_started(self) -> None:
        """Handed from the gate to an association thread."""

    def association_ended(self) -> None:
        """That thread is done."""

    def result(self, result) -> None:
        """A ``ServedAssociation`` recorded (the gate's too)."""


class ConnectionCounts:
    """Connections held, in all and per peer address, shared by the gate (which adds at accept)
    and the associations' threads (which remove as they end)."""

    def __init__(self, limits: ConnectionLimits):
        self.limits = limits
        self._max_connections = limits.connections
        self._lock = threading.Lock()
        self._per_peer: dict[str, int] = {}
        self.total = 0

    def try_add(self, address: Optional[str]) -> Optional[str]:
        """Count a new connection from ``address`` (None: in the total only, a balancer's
        connection whose real peer is not known yet); the cap it would exceed instead
        (nothing counted then)."""
        with self._lock:
            if self.total >= self._max_connections:
                return f"max-connections ({self._max_connections})"
            if address is not None:
                held = self._per_peer.get(address, 0)
                if held >= self.limits.max_per_peer:
                    return f"max-per-peer ({self.limits.max_per_peer})"
                self._per_peer[address] = held + 1
            self.total += 1
            return None

    def try_assign(self, address: str) -> Optional[str]:
        """A connection counted in the total only now has its peer ``address``: count it there
        too; the cap it would exceed instead (then it stays counted in the total only)."""
        with self._lock:
            held = self._per_peer.get(address, 0)
            if held >= self.limits.max_per_peer:
                return f"max-per-peer ({self.limits.max_per_peer})"
            self._per_peer[address] = held + 1
            return None

    def remove(self, address: Optional[str]) -> None:
        with self._lock:
            if address is not None:
                held = self._per_peer.get(address, 0) - 1
                if held > 0:
                    self._per_peer[address] = held
                else:
                    self._per_peer.pop(address, None)
            self.total -= 1

    def held_by(self, address: str) -> int:
        with self._lock:
            return self._per_peer.get(address, 0)


__all__ = ["ConnectionCounts", "ConnectionLimits", "NullObserver"]
