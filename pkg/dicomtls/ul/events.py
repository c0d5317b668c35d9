"""The events ``Association.next_event()`` returns (and the ``NEED_DATA`` sentinel).

They live apart from the association machine so the machine's module stays about the machine;
``dicomtls.ul.association`` re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from ..dimse.messages import C_STORE_RQ, DIMSEMessage
from ..errors import AssociationAborted, AssociationRejected
from .negotiation import NegotiatedContext
from .pdu import AAssociateRJ, AAssociateRQ


class _NeedData:
    def __repr__(self):
        return "NEED_DATA"


#: ``next_event()`` returns this when it needs more bytes from the peer.
NEED_DATA = _NeedData()


# ---- events --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssociateRequested:
    """Acceptor: an A-ASSOCIATE-RQ arrived; answer with ``accept()`` or ``reject(...)``."""

    request: AAssociateRQ


@dataclass(frozen=True)
class Established:
    """The association is up. ``contexts``: every proposed context with its result, by ID."""

    contexts: Mapping[int, NegotiatedContext]
    peer_max_pdu_length: int


@dataclass(frozen=True)
class Rejected:
    """A-ASSOCIATE-RJ received (requestor) or sent by the provider on our behalf (``local``)."""

    rj: AAssociateRJ
    local: bool = False

    def as_error(self) -> AssociationRejected:
        return AssociationRejected(
            f"association rejected: result {self.rj.result}, source {self.rj.source}, "
            f"reason {self.rj.reason} ({self.rj.reason_name})",
            result=self.rj.result, source=self.rj.source, reason=self.rj.reason)


@dataclass(frozen=True)
class MessageReceived:
    """A whole DIMSE message; ``dataset`` is its data set's bytes, or None if it has none."""

    context_id: int
    message: DIMSEMessage
    dataset: Optional[bytes] = None


@dataclass(frozen=True)
class DatasetStarted:
    """Streaming path: ``message``'s command is complete and its data set follows as
    ``DatasetFragment`` events, then ``DatasetComplete``."""

    context_id: int
    message: DIMSEMessage


def stream_c_store(message: DIMSEMessage) -> bool:
    """The default streaming predicate: C-STORE-RQ data sets are streamed."""
    return isinstance(message, C_STORE_RQ)


@dataclass(frozen=True)
class ReleaseRequested:
    """The peer sent A-RELEASE-RQ; answer with ``release()``. ``collision``: both sides asked."""

    collision: bool = False


@dataclass(frozen=True)
class Released:
    """The association is released (our A-RELEASE-RP sent, or the peer's received)."""


@dataclass(frozen=True)
class Aborted:
    """A-ABORT / A-P-ABORT. ``source`` 0 service-user, 2 service-provider; ``local`` is True when
    this side sent the A-ABORT (``error`` then says why, if a peer error caused it)."""

    source: int
    reason: int
    local: bool = False
    error: Optional[BaseException] = field(default=None, compare=False)
    transport_closed: bool = False

    def as_error(self) -> AssociationAborted:
        who = "we aborted" if self.local else "the peer aborted"
        if self.transport_closed:
            who = "the transport closed"
        why = f": {self.error}" if self.error else ""
        return AssociationAborted(f"association aborted ({who}, source {self.source}, reason "
                                  f"{self.reason}){why}", source=self.source, reason=self.reason)


Event = Any  # one of the dataclasses above, or NEED_DATA


__all__ = ["Aborted", "AssociateRequested", "DatasetStarted", "Established", "Event",
           "MessageReceived", "NEED_DATA", "Rejected", "ReleaseRequested", "Released",
           "stream_c_store"]
