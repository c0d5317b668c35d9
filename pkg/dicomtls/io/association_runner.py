"""Blocking DICOM associations over a TLSSocket or a plain TCP socket: one thread each.

``associate(...)`` opens the transport, negotiates and returns a ``ClientAssociation`` with
``echo()``, ``send_message()``/``receive_message()``, ``release()`` and ``abort()``.
``serve_association(transport, services)`` runs the acceptor side of one association, routing
its requests to the services (``io.services``: one ``typing.Protocol`` per service class);
``serve_echo_once`` accepts one connection and serves it; ``io.server.AssociationServer``
accepts in a loop, one thread per association, and ``VerificationServer`` is that server with
the Verification service only.

Both transports offer the same three calls (``sendall``, ``recv``, ``close``) plus ``settimeout``
and ``session`` (the TLS SessionInfo, None for plain TCP); ``PlainTransport`` wraps a socket so.
TCP_NODELAY is always set: a DICOM exchange is request/response and Nagle would delay each PDU.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

from ..dimse.messages import C_CANCEL_RQ, C_ECHO_RQ, C_ECHO_RSP, DIMSEMessage, response_for
from ..errors import (AssociationAborted, AssociationError, ConnectionClosedError, DicomTLSError,
                      LocalProtocolError)
from ..ul.association import (Aborted, AssociateRequested, Association, Established,
                              MessageReceived, Rejected, Released, ReleaseRequested)
from ..ul.negotiation import (DEFAULT_MAX_PDU_LENGTH, VERIFICATION_SOP_CLASS,
                              accept_in_proposer_order, check_request)
from .served import ServedAssociation
from .services import Service, ServiceLink, ServiceRegistry, VerificationService
from .transport import Driver, PlainTransport, connect_transport

if TYPE_CHECKING:   # TLS loads with the first TLS connection: plain TCP never needs it
    from ..tls.config import TLSConfig

log = logging.getLogger(__name__)

FLUSH_BYTES = 4 << 20  # a streamed data set is written whenever this much is queued
ABORT_SEND_TIMEOUT = 1.0  # s: the A-ABORT after a failure gets this long to go out


STATUS_UNRECOGNIZED_OPERATION = 0x0211   # PS3.7 C.5.x: the default answer to a request
STATUS_PROCESSING_FAILURE = 0x0110       # ... when the on_request handler raised


class ClientAssociation:
    """An established association on the requestor side.

    Requests the peer sends while we wait for a response (an N-EVENT-REPORT-RQ during an
    ``echo()``, for instance) are never dropped: ``wait_response`` hands each one to
    ``dispatch_request``, which calls ``on_request(assoc, event)`` and sends its answer. The
    handler returns None (status 0x0000), a status, a response message, or a pair
    (status or message, data set bytes); without a handler the answer is 0x0211
    (Unrecognized Operation), so the peer is not left waiting."""

    def __init__(self, transport, assoc: Association, timeout: Optional[float], *,
                 on_request=None):
        self._driver = Driver(transport, assoc, timeout)
        self.assoc = assoc
        self.transport = transport
        self.on_request = on_request
        self._message_id = 0

    @property
    def session(self):
        return getattr(self.transport, "session", None)

    @property
    def driver(self) -> Driver:
        """The ``transport.Driver`` running this association (for services that read and answer
        on it themselves, such as a C-GET SCU receiving its C-STOREs)."""
        return self._driver

    @property
    def contexts(self):
        return self.assoc.contexts

    def context_for(self, abstract_syntax: str) -> int:
        for ctx in self.assoc.contexts.values():
            if ctx.accepted and ctx.abstract_syntax == abstract_syntax:
                return ctx.context_id
        raise LocalProtocolError(f"no accepted presentation context for {abstract_syntax}")

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    def send_message(self, context_id: int, message: DIMSEMessage, dataset=None, *,
                     progress=None) -> None:
        """Send one message. ``dataset``: bytes-like; or a reader with ``length`` and
        ``readinto`` (``storage.part10.open_dataset``: the file is read straight into the
        association's reusable send buffer, see ``Driver.send_dataset``); or an iterable of
        chunks (streamed: read and written as the fragments go, so memory stays bounded by
        ``FLUSH_BYTES`` plus one chunk). ``progress(n)`` is called with the data set bytes
        written since its last call."""
        if hasattr(dataset, "readinto") and hasattr(dataset, "length"):
            self._driver.send_dataset(context_id, message, dataset, progress)
            return
        queued = 0
        for n in self.assoc.iter_send_message(context_id, message, dataset):
            queued += n
            if queued >= FLUSH_BYTES:
                self._driver.flush()
                if progress is not None:
                    progress(queued)
                queued = 0
        self._driver.flush()
        if progress is not None and queued:
            progress(queued)

    def next_event(self):
        """The next association event (reads as needed); None once the association is over."""
        return self._driver.next_event()

    def receive_message(self) -> MessageReceived:
        """The next whole message, request or response (requests are the caller's to answer:
        ``dispatch_request`` does it the standard way)."""
        while True:
            event = self._driver.next_event()
            if isinstance(event, MessageReceived):
                return event
            self._unexpected(event)

    def wait_response(self, message_id, response_type=None) -> MessageReceived:
        """Read until the response to our request ``message_id`` (or to any of a collection
        of IDs: several requests outstanding) of ``response_type``, if given, arrives and
        return it. Requests from the peer meanwhile are answered through
        ``dispatch_request``; stray responses are logged and skipped."""
        ids = {message_id} if isinstance(message_id, int) else message_id
        while True:
            got = self.receive_message()
            if self._sort(got, ids, response_type):
                return got

    def poll_response(self, message_ids, response_type=None) -> Optional[MessageReceived]:
        """Like ``wait_response`` for responses that have already arrived: None when there is
        none now (never blocks for long)."""
        while True:
            event = self._driver.poll_event()
            if event is None:
                return None
            if not isinstance(event, MessageReceived):
                self._unexpected(event)
            elif self._sort(event, message_ids, response_type):
                return event

    def _sort(self, got: MessageReceived, ids, response_type) -> bool:
        """True for a response we wait for; requests are answered, the rest logged."""
        msg = got.message
        if not msg.is_request and getattr(msg, "message_id_being_responded_to", None) in ids \
                and (response_type is None or isinstance(msg, response_type)):
            return True
        if not self.dispatch_request(got):
            log.debug("ignoring %s while waiting for responses to %s", msg.name, sorted(ids))
        return False

    def dispatch_request(self, event: MessageReceived) -> bool:
        """Answer ``event`` if it is a request (see the class docstring); False otherwise.
        A C-CANCEL-RQ has no response: it is only logged."""
        msg = event.message
        if not msg.is_request:
            return False
        if isinstance(msg, C_CANCEL_RQ):
            log.info("ignoring a C-CANCEL-RQ for message %s: nothing of ours to cancel",
                     msg.message_id_being_responded_to)
            return True
        if self.on_request is None:
            log.warning("answering the unsolicited %s with 0x%04X (no on_request handler)",
                        msg.name, STATUS_UNRECOGNIZED_OPERATION)
            answer = STATUS_UNRECOGNIZED_OPERATION
        else:
            try:
                answer = self.on_request(self, event)
            except Exception:  # the handler's bug: a failure status, not a dead association
                log.exception("on_request failed for %s", msg.name)
                answer = STATUS_PROCESSING_FAILURE
        dataset = None
        if isinstance(answer, tuple):
            answer, dataset = answer
        if answer is None:
            answer = 0x0000
        rsp = answer if isinstance(answer, DIMSEMessage) else response_for(msg, int(answer))
        self.send_message(event.context_id, rsp, dataset)
        return True

    def _unexpected(self, event):
        if isinstance(event, Aborted):
            self._driver.close()
            raise event.as_error()
        if isinstance(event, ReleaseRequested):  # the peer wants out while we wait for it
            self.assoc.release()
            self._driver.flush()
            self._driver.close()
            raise AssociationError("the peer released the association before answering")
        if event is None:
            raise AssociationAborted("the association ended", source=2, reason=0)
        log.debug("ignoring %r", event)

    def echo(self) -> int:
        """C-ECHO on the Verification context; returns the response's status."""
        context_id = self.context_for(VERIFICATION_SOP_CLASS)
        message_id = self.next_message_id()
        self.send_message(context_id, C_ECHO_RQ(message_id=message_id,
                                                affected_sop_class_uid=VERIFICATION_SOP_CLASS))
        return self.wait_response(message_id, C_ECHO_RSP).message.status

    def release(self) -> None:
        """A-RELEASE, then close the transport."""
        if self._driver.closed:
            return
        self.assoc.release()
        try:
            while True:
                event = self._driver.next_event()
                if isinstance(event, Released) or event is None:
                    return
                if isinstance(event, ReleaseRequested):  # release collision
                    self.assoc.release()
                    continue
                if isinstance(event, Aborted):
                    raise event.as_error()
        finally:
            self._driver.close()

    def abort(self) -> None:
        if self._driver.closed:
            return
        try:
            self.assoc.abort()
            self._driver.flush()
        except (DicomTLSError, OSError):
            pass
        finally:
            self._driver.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.release()
        else:
            self.abort()


def associate(host: str, port: int, *, tls_config: Optional[TLSConfig] = None,
              called_ae: str = "ANY-SCP", calling_ae: str = "DICOMTLS",
              contexts: Sequence = (VERIFICATION_SOP_CLASS,), timeout: Optional[float] = 30.0,
              max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
              server_name: Optional[str] = None, extra_user_items: Sequence = (),
              stream_datasets=False, on_request=None) -> ClientAssociation:
    """Connect (TLS when ``tls_config`` is given), send A-ASSOCIATE-RQ, wait for the answer.
    Raises AssociationRejected / AssociationAborted (the transport is closed then).
    ``extra_user_items``: more user information sub-items (SCP/SCU role selection, ...);
    ``stream_datasets``: see ``Association`` (a C-GET SCU streams received C-STOREs);
    ``on_request``: answers the peer's requests, see ``ClientAssociation``."""
    transport = connect_transport(host, port, tls_config, timeout, server_name)
    return associate_over(transport, called_ae=called_ae, calling_ae=calling_ae,
                          contexts=contexts, timeout=timeout, max_pdu_length=max_pdu_length,
                          extra_user_items=extra_user_items, stream_datasets=stream_datasets,
                          on_request=on_request)


def associate_over(transport, *, called_ae: str = "ANY-SCP", calling_ae: str = "DICOMTLS",
                   contexts: Sequence = (VERIFICATION_SOP_CLASS,),
                   timeout: Optional[float] = 30.0,
                   max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH, extra_user_items: Sequence = (),
                   stream_datasets=False, on_request=None) -> ClientAssociation:
    """``associate`` on a transport already open (TLS handshake done): the scanner tells a TLS
    failure from an association failure this way. The transport is closed on failure."""
    assoc = Association("requestor", max_pdu_length=max_pdu_length,
                        stream_datasets=stream_datasets)
    driver = Driver(transport, assoc, timeout)
    try:
        assoc.request(called_ae, calling_ae, contexts, extra_user_items=extra_user_items)
        while True:
            event = driver.next_event()
            if isinstance(event, Established):
                return ClientAssociation(transport, assoc, timeout, on_request=on_request)
            if isinstance(event, (Rejected, Aborted)):
                raise event.as_error()
            if event is None:
                raise AssociationAborted("the peer closed the connection during negotiation",
                                         source=2, reason=0)
    except BaseException:
        driver.close()
        raise


# ---- acceptor ---------------------------------------------------------------------------
def serve_association(transport, services: Optional[Sequence[Service]] = None, *,
                      ae_title: Optional[str] = None,
                      calling_aes: Optional[Iterable[str]] = None,
                      timeout: Optional[float] = 30.0,
                      max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH,
                      initial: bytes = b"") -> ServedAssociation:
    """Run one association until it ends, offering ``services`` (default: Verification only);
    the transport is closed after. ``ae_title`` None accepts any called AE title.
    ``initial``: bytes of the peer's already read from the transport (a server's gate reads
    the A-ASSOCIATE-RQ before it hands the connection over).

    The contexts accepted are the union of what the services support (each proposed context
    gets the proposer's first transfer syntax we support), the A-ASSOCIATE-AC carries their
    user information sub-items, and each request goes to the service registered for its type
    and SOP class (``services.ServiceRegistry``); a request nobody serves is answered 0x0122 or
    0x0211. ``release_requested`` runs before our A-RELEASE-RP, ``close`` always at the end."""
    registry = ServiceRegistry((VerificationService(),) if services is None else services)
    assoc = Association("acceptor", supported=registry.supported, max_pdu_length=max_pdu_length,
                        stream_datasets=registry.streams)
    driver = Driver(transport, assoc, timeout)
    result = ServedAssociation(session=getattr(transport, "session", None))
    link = ServiceLink(assoc, driver, result)
    if initial:
        assoc.receive_data(initial)
    try:
        while True:
            event = driver.next_event()
            if event is None:
                break
            if isinstance(event, AssociateRequested):
                _answer_request(link, registry, event.request, ae_title, calling_aes)
            elif isinstance(event, Established):
                result.contexts = dict(event.contexts)
            elif isinstance(event, Rejected):
                result.outcome = "rejected"
                result.rejected = (event.rj.result, event.rj.source, event.rj.reason)
            elif isinstance(event, ReleaseRequested):
                registry.release_requested(link)
                assoc.release()
            elif isinstance(event, Released):
                result.outcome = "released"
                # Our A-RELEASE-RP is out: close now (the transport's drain is bounded in
                # total) rather than wait in Sta13 on a peer that may never close.
                driver.flush()
                break
            elif isinstance(event, Aborted):
                result.outcome = "aborted"
                if event.error is not None:
                    result.error = str(event.error)
            else:
                registry.dispatch(link, event)
    except (DicomTLSError, OSError) as exc:
        result.outcome, result.error = "error", str(exc)
        if not isinstance(exc, ConnectionClosedError):
            _abort_quietly(link)
    except Exception as exc:  # a service's bug: this association ends, the server goes on
        log.exception("a service failed; aborting the association")
        result.outcome, result.error = "error", f"service failure: {exc!r}"
        _abort_quietly(link)
    finally:
        driver.close()
        registry.close(link)
    return result


def _answer_request(link: ServiceLink, registry: ServiceRegistry, rq, ae_title, calling_aes):
    result = link.result
    result.calling_ae, result.called_ae = rq.calling_ae_title, rq.called_ae_title
    link.calling_ae = rq.calling_ae_title.strip()
    rj = check_request(rq, ae_title=ae_title, calling_aes=calling_aes)
    if rj is not None:
        link.assoc.reject(rj.result, rj.source, rj.reason)
        result.outcome, result.rejected = "rejected", (rj.result, rj.source, rj.reason)
        return
    link.assoc.accept(accept_in_proposer_order(rq.presentation_contexts, registry.supported),
                      extra_user_items=registry.accept_user_items(link, rq))


def _abort_quietly(link: ServiceLink) -> None:
    """A-ABORT after a failure, within ``ABORT_SEND_TIMEOUT``: after a write timed out (a peer
    that reads nothing) the abort would otherwise wait as long again."""
    try:
        link.driver.transport.sock.settimeout(ABORT_SEND_TIMEOUT)
    except (AttributeError, OSError):
        pass
    try:
        link.abort()
    except (DicomTLSError, OSError):
        pass


def transport_for(sock: socket.socket, tls_config: Optional[TLSConfig],
                  timeout: Optional[float]):
    """The transport of an accepted socket: plain, or TLS once the server handshake is done
    (its typed error raised otherwise, the socket closed)."""
    if tls_config is None:
        sock.settimeout(timeout)
        return PlainTransport(sock)
    from . import tls_socket
    return tls_socket.server_handshake(sock, tls_config, timeout=timeout)


def accept_transport(listener: socket.socket, tls_config: Optional[TLSConfig],
                     timeout: Optional[float] = 30.0):
    """Accept one connection; run the TLS handshake when ``tls_config`` is given."""
    sock, _ = listener.accept()
    return transport_for(sock, tls_config, timeout)


def open_transport(sock: socket.socket, tls_config: Optional[TLSConfig],
                   timeout: Optional[float]):
    """The transport of an accepted socket (TLS handshake done), or, when the handshake fails,
    the ``ServedAssociation`` recording who was refused and why (the socket is closed then)."""
    from . import tls_socket
    peer = tls_socket.peer_name(sock)
    try:
        return transport_for(sock, tls_config, timeout)
    except (DicomTLSError, OSError) as exc:
        cert = getattr(exc, "peer_certificate", None)
        return ServedAssociation(outcome="error", error=tls_socket.handshake_failure_text(exc),
                                 peer=peer, handshake_failed=True,
                                 peer_certificate=cert.subject if cert is not None else None)


def serve_echo_once(listener: socket.socket, tls_config: Optional[TLSConfig] = None,
                    ae_title: Optional[str] = None, *,
                    timeout: Optional[float] = 30.0) -> ServedAssociation:
    """Accept one connection on ``listener`` and serve it as a Verification SCP."""
    from . import tls_socket
    sock, _ = listener.accept()
    transport = open_transport(sock, tls_config, timeout)
    if isinstance(transport, ServedAssociation):
        return transport  # a refused handshake is a served (failed) peer, as in the servers
    result = serve_association(transport, ae_title=ae_title, timeout=timeout)
    result.peer = result.peer or tls_socket.peer_name(sock)
    return result


__all__ = ["ClientAssociation", "ServedAssociation", "accept_transport",
           "associate", "associate_over", "open_transport", "serve_association", "serve_echo_once"]
