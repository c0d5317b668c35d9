"""``Gate``: where a server holds its connections until each is an association worth a thread.

A connection costs a thread only once it has done its share: finished the TLS handshake and
sent a whole A-ASSOCIATE-RQ. Until then it lives here, in one thread's ``selectors`` loop that
drives the sans-IO TLS machine (``tls.engines.new_connection``) and frames the first PDU, so a
thousand idle, dripping or half-handshaken connections cost a thousand sockets and small
objects, not a thousand threads.

Every phase has a deadline over the whole phase, not per read (a peer sending a byte a second
cannot stretch it): accept to first byte (``first_byte_timeout``), the whole TLS handshake
(``handshake_timeout``, from accept), and the A-ASSOCIATE-RQ complete (``request_timeout``,
PS3.8's ARTIM in Sta2, from the handshake's end). Caps are checked at accept, over every
connection the server holds (here and in associations): ``max_connections`` in all and
``max_per_peer`` per peer address; a connection over a cap is reset at once (RST: no
TIME_WAIT, nothing read) and counted, and the refusals are logged once per ``LOG_EVERY``
seconds, so a flood cannot flood the log. ``max_associations`` is the server's: a request that
arrives when it is reached is answered A-ASSOCIATE-RJ rejected-transient, service-provider
(presentation), local-limit-exceeded (PS3.8 9.3.4), which a modality retries later.

A connection that fails here (a refused or timed-out handshake, no request in time, a first PDU
that is not an A-ASSOCIATE-RQ) gets its answer (TLS alert, A-ABORT) and is closed after a short
bounded wait for the peer's EOF, so that answer is not wiped out by an RST; it is reported as
a ``ServedAssociation`` with outcome "error" (``handshake_failed`` for TLS).

The TLS work of a handshake (signatures, key exchange) runs in this thread; cffi releases the
GIL around it, so associations in their threads go on meanwhile.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from ..errors import DicomTLSError
from ..tls.config import TLSConfig
from ..tls.connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                              HandshakeComplete, TLSConnection)
from ..tls.engines import new_connection
from ..ul.association import Association
from ..ul.framing import A_ASSOCIATE_RQ, PDU_HEADER, PDU_HEADER_LENGTH, PDU_NAMES
from ..ul.pdu import AAbort, AAssociateRJ
from .connection_limits import ConnectionCounts, ConnectionLimits, NullObserver
from .proxy_header import ProxyHeaderError, parse_proxy_header
from .served import ServedAssociation
from .tls_socket import handshake_failure_text

log = logging.getLogger(__name__)

RECV_CHUNK = 64 * 1024
ACCEPTS_PER_WAKE = 64   # accepts per listener wake-up: a burst is taken in few loop turns
ACCEPT_BACKOFF = 0.1    # s: no accept after a failed one (out of descriptors or buffers)
LOG_EVERY = 10.0        # s: refusals over a cap are summed up in one log line this often
#: A-ASSOCIATE-RJ for a request over ``max_associations``: rejected-transient (2),
#: service-provider, presentation related (3), local-limit-exceeded (2).
OVER_LIMIT_REJECT = (2, 3, 2)


@dataclass
class HandOff:
    """A connection ready for its association: the TLS handshake done (``tls``, None for plain
    TCP), the A-ASSOCIATE-RQ (and whatever followed it) read as ``request``; ``unsent``: bytes
    of ours not written yet (TLS session tickets), to go out first."""

    sock: socket.socket
    address: Optional[str]  # the peer's IP address: what the per-peer cap counts
    peer: str              # "host:port"
    tls: Optional[TLSConnection]
    request: bytes
    unsent: bytes
    accepted_at: float


#: How a failure in each phase is named in the report.
_PHASE_FAILED = {"PROXY header": "no PROXY header", "first byte": "no data",
                 "TLS handshake": "TLS handshake failed",
                 "A-ASSOCIATE-RQ": "no A-ASSOCIATE-RQ", "closing": "closing"}


class _PeerGone(Exception):
    """The peer closed or reset the connection before its association started."""


class _Held:
    """One connection in the gate."""

    __slots__ = ("sock", "address", "peer", "accepted_at", "tls", "phase", "deadline", "out",
                 "plain", "handshake_done", "events", "proxy")

    def __init__(self, sock, address, peer, tls, now, first_byte_timeout):
        self.sock = sock
        self.address = address
        self.peer = peer
        self.accepted_at = now
        self.tls: Optional[TLSConnection] = tls
        # ["PROXY header" ->] "first byte" -> ["TLS handshake" ->] "A-ASSOCIATE-RQ"; "closing"
        self.phase = "first byte"
        self.deadline = now + first_byte_timeout
        self.out = bytearray()      # ours, not written yet
        self.plain = bytearray()    # the peer's plaintext so far (its A-ASSOCIATE-RQ)
        self.handshake_done = tls is None   # the gate sets it for a TLS server
        self.events = selectors.EVENT_READ
        self.proxy: Optional[bytearray] = None   # a balancer's PROXY header, arriving


class Gate:
    """Accepts on ``listener`` and holds each connection until ``admit(HandOff)`` takes it
    (returns False when the server is at ``max_associations``: the gate then answers the
    request with A-ASSOCIATE-RJ). ``on_failed(ServedAssociation)`` gets each connection that
    ended here. ``run(stop)`` loops until ``stop`` is set and ``wakeup`` (a ``transport.Waker``)
    fired; ``run(stop, once=True)`` returns after the first connection admitted or failed."""

    def __init__(self, listener: socket.socket, tls_config: Optional[TLSConfig],
                 limits: ConnectionLimits, counts: ConnectionCounts, *,
                 admit: Callable[[HandOff], bool],
                 on_failed: Callable[[ServedAssociation], None], wakeup,
                 proxy_from: Sequence = (), observer: Optional[NullObserver] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.listener = listener
        self.tls_config = tls_config
        self.limits = limits
        self.counts = counts
        self.admit = admit
        self.on_failed = on_failed
        #: ``ipaddress`` networks of the balancers whose connections start with a PROXY v2
        #: header (``io.proxy_header``): the peer they name is the one logged and capped.
        self.proxy_from = tuple(ipaddress.ip_network(n) for n in proxy_from)
        self.observer = observer or NullObserver()
        self.clock = clock
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "listener")
        self._selector.register(wakeup, selectors.EVENT_READ, "wakeup")
        self._wakeup = wakeup
        self._held: set[_Held] = set()
        self._deadlines: list = []   # heap of (deadline, seq, held); stale entries skipped
        self._seq = itertools.count()
        self._done_once = False
        self._accept_paused_until: Optional[float] = None
        #: connections reset at accept over a cap, in all (``refused_since_log``: not logged yet)
        self.refused = 0
        self._refused_since_log: dict[str, int] = {}
        self._last_refusal_log = 0.0
        listener.setblocking(False)

    @property
    def held(self) -> int:
        """Connections in the gate now (not yet associations)."""
        return len(self._held)

    # ---- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, once: bool = False) -> None:
        self._done_once = False
        while not stop.is_set() and not (once and self._done_once):
            timeout = self._next_deadline_in()
            if self._accept_paused_until is not None:
                left = self._accept_paused_until - self.clock()
                if left <= 0:
                    self._accept_paused_until = None
                    self._selector.register(self.listener, selectors.EVENT_READ, "listener")
                else:
                    timeout = left if timeout is None else min(timeout, left)
            for key, mask in self._selector.select(timeout):
                if key.data == "listener":
                    self._accept_burst()
                elif key.data == "wakeup":
                    self._wakeup.clear()
                else:
                    self._service(key.data, mask)
            self._expire()
            self._log_refusals()

    def close(self) -> None:
        """Close every connection still held (the server stops: they were not associations
        yet; each is reported, unless it was closing already) and the selector."""
        for held in list(self._held):
            if held.phase != "closing":
                self._fail(held, "the server stopped")
            self._forget(held)
        self._selector.close()
        self._log_refusals(force=True)

    # ---- accept --------------------------------------------------------------------------------
    def _accept_burst(self) -> None:
        for _ in range(ACCEPTS_PER_WAKE):
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # EMFILE & co. (the caps should prevent them): the pending connection stays
                # readable, so stop watching the listener for a moment instead of spinning.
                log.warning("accept failed (%s); pausing accepts for %g s", exc, ACCEPT_BACKOFF)
                self._selector.unregister(self.listener)
                self._accept_paused_until = self.clock() + ACCEPT_BACKOFF
                return
            self._take(sock, addr)

    def _take(self, sock: socket.socket, addr) -> None:
        address = str(addr[0])
        balancer = self._from_balancer(address)
        # A balancer's connections count per peer once its PROXY header names the peer.
        cap = self.counts.try_add(None if balancer else address)
        if cap is not None:
            self._count_refusal(cap)
            _reset(sock)
            return
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:   # already reset by the peer
            self.counts.remove(None if balancer else address)
            sock.close()
            return
        now = self.clock()
        # The TLS connection is made at the first byte: an idle connection (a port scan, a
        # hostile peer holding descriptors) costs no SSL object meanwhile.
        held = _Held(sock, None if balancer else address, f"{addr[0]}:{addr[1]}", None, now,
                     self.limits.first_byte_timeout)
        held.handshake_done = self.tls_config is None
        if balancer:
            held.phase = "PROXY header"
            held.proxy = bytearray()
        self.observer.connection_opened()
        self._held.add(held)
        self._selector.register(sock, selectors.EVENT_READ, held)
        self._schedule(held)

    def _from_balancer(self, address: str) -> bool:
        if not self.proxy_from:
            return False
        ip = ipaddress.ip_address(address)
        return any(ip in network for network in self.proxy_from)

    def _count_refusal(self, cap: str) -> None:
        self.observer.connection_refused(cap)
        self.refused += 1
        self._refused_since_log[cap] = self._refused_since_log.get(cap, 0) + 1

    def _log_refusals(self, force: bool = False) -> None:
        if not self._refused_since_log:
            return
        now = self.clock()
        if not force and now - self._last_refusal_log < LOG_EVERY:
            return
        self._last_refusal_log = now
        caps = ", ".join(f"{n} over {cap}" for cap, n in sorted(self._refused_since_log.items()))
        log.warning("refused %d connection(s) at accept: %s",
                    sum(self._refused_since_log.values()), caps)
        self._refused_since_log.clear()

    # ---- deadlines -----------------------------------------------------------------------------
    def _schedule(self, held: _Held) -> None:
        heapq.heappush(self._deadlines, (held.deadline, next(self._seq), held))

    def _next_deadline_in(self) -> Optional[float]:
        while self._deadlines:
            deadline, _, held = self._deadlines[0]
            if held in self._held and deadline == held.deadline:
                return max(0.0, deadline - self.clock())
            heapq.heappop(self._deadlines)  # stale: the connection moved on or is gone
        return None

    def _expire(self) -> None:
        now = self.clock()
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, _, held = heapq.heappop(self._deadlines)
            if held not in self._held or deadline != held.deadline:
                continue
            if held.phase == "closing":
                self._forget(held)
            else:
                limit = {"PROXY header": self.limits.first_byte_timeout,
                         "first byte": self.limits.first_byte_timeout,
                         "TLS handshake": self.limits.handshake_timeout,
                         "A-ASSOCIATE-RQ": self.limits.request_timeout}[held.phase]
                self._fail(held, f"not complete within {limit:g} s")

    # ---- one connection ------------------------------------------------------------------------
    def _service(self, held: _Held, mask: int) -> None:
        try:
            if mask & selectors.EVENT_WRITE:
                self._write(held)
            if mask & selectors.EVENT_READ and held in self._held:
                self._read(held)
        except _PeerGone as exc:
            if held.phase == "closing":
                self._forget(held)   # reported already; the peer reset instead of closing
            else:
                self._fail(held, str(exc))
        except ProxyHeaderError as exc:   # from a listed balancer: nothing to answer
            self._fail(held, str(exc))
        except DicomTLSError as exc:   # the TLS machine refused the peer: its alert is queued
            self._take_output(held)
            self._fail(held, handshake_failure_text(exc), tls_error=exc)
        except Exception:  # a bug of ours: this connection ends, the gate goes on
            log.exception("the gate failed on a connection from %s", held.peer)
            self._forget(held)

    def _read(self, held: _Held) -> None:
        try:
            data = held.sock.recv(RECV_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise _PeerGone(f"connection reset ({exc})")
        if held.phase == "closing":
            if not data:
                self._forget(held)   # the peer read our answer and closed: done
            return                   # anything else it sends is dropped
        if not data:
            raise _PeerGone("the peer closed the connection")
        if held.phase == "PROXY header":
            data = self._proxy_header(held, data)
            if not data:
                return
        if held.phase == "first byte":
            if self.tls_config is not None:
                held.tls = new_connection(self.tls_config, "server")
            self._enter(held, "A-ASSOCIATE-RQ" if held.tls is None else "TLS handshake",
                        held.accepted_at + (self.limits.request_timeout if held.tls is None
                                            else self.limits.handshake_timeout))
        if held.tls is None:
            held.plain += data
        else:
            held.tls.receive_data(data)
            self._run_tls(held)
        if len(held.plain) >= PDU_HEADER_LENGTH:
            self._check_request(held)
        if held in self._held:
            self._write(held)

    def _proxy_header(self, held: _Held, data: bytes) -> bytes:
        """Take the balancer's PROXY v2 header; the bytes after it (the peer's first)."""
        held.proxy += data
        parsed = parse_proxy_header(held.proxy)   # ProxyHeaderError: _service reports it
        if parsed is None:
            return b""
        proxied, length = parsed
        rest = bytes(held.proxy[length:])
        held.proxy = None
        if proxied is not None:
            cap = self.counts.try_assign(proxied.source)
            if cap is not None:
                self._count_refusal(cap)
                log.info("refused %s (through %s): over %s", proxied.peer, held.peer, cap)
                self._forget(held)
                return b""
            held.address, held.peer = proxied.source, proxied.peer
        self._enter(held, "first byte", self.clock() + self.limits.first_byte_timeout)
        return rest

    def _run_tls(self, held: _Held) -> None:
        tls = held.tls
        while True:
            event = tls.next_event()
            self._take_output(held)
            if event is NEED_DATA:
                return
            if isinstance(event, HandshakeComplete):
                held.handshake_done = True
                self._enter(held, "A-ASSOCIATE-RQ", self.clock() + self.limits.request_timeout)
            elif isinstance(event, ApplicationData):
                held.plain += event.data
                if len(held.plain) > self.limits.max_request_length + PDU_HEADER_LENGTH:
                    return   # _check_request refuses it; read no further
            elif isinstance(event, (CloseNotify, ConnectionClosed)):
                raise _PeerGone("the peer closed the connection")

    def _take_output(self, held: _Held) -> None:
        out = held.tls.data_to_send()
        if out:
            held.out += out

    def _check_request(self, held: _Held) -> None:
        pdu_type, length = PDU_HEADER.unpack_from(held.plain, 0)
        if pdu_type != A_ASSOCIATE_RQ or length > self.limits.max_request_length:
            self._refuse_first_pdu(held, pdu_type, length)
            return
        if len(held.plain) < PDU_HEADER_LENGTH + length:
            return
        self._unregister(held)
        handoff = HandOff(held.sock, held.address, held.peer, held.tls, bytes(held.plain),
                          bytes(held.out), held.accepted_at)
        self._held.discard(held)
        self._done_once = True
        if self.admit(handoff):
            return   # the association's thread owns the socket and the count now
        self._held.add(held)
        self._selector.register(held.sock, selectors.EVENT_READ, held)
        result, source, reason = OVER_LIMIT_REJECT
        self._answer(held, AAssociateRJ(result, source, reason).encode())
        self._close_after_answer(held, ServedAssociation(
            outcome="rejected", rejected=OVER_LIMIT_REJECT, peer=held.peer,
            session=held.tls.session if held.tls is not None else None,
            error=f"over max-associations ({self.limits.max_associations}): "
                  f"rejected-transient, local-limit-exceeded"))

    def _refuse_first_pdu(self, held: _Held, pdu_type: int, length: int) -> None:
        """A first PDU that is not an A-ASSOCIATE-RQ, or one over the length cap: the UL
        machine decides the answer (an A-ABORT) and names the problem."""
        machine = Association("acceptor")
        machine.receive_data(bytes(held.plain[:PDU_HEADER_LENGTH]))
        event = machine.next_event()
        error = getattr(event, "error", None)
        answer = machine.data_to_send() or AAbort().encode()
        if error is None:
            name = PDU_NAMES.get(pdu_type, f"PDU type 0x{pdu_type:02X}")
            error = f"{name} before any A-ASSOCIATE-RQ"
        if pdu_type == A_ASSOCIATE_RQ and length > self.limits.max_request_length:
            error = (f"A-ASSOCIATE-RQ PDU-length {length} exceeds the "
                     f"{self.limits.max_request_length}-byte cap")
        self._answer(held, answer)
        self._close_after_answer(held, ServedAssociation(
            outcome="aborted", peer=held.peer, error=str(error),
            session=held.tls.session if held.tls else None))

    def _answer(self, held: _Held, pdu: bytes) -> None:
        if held.tls is None:
            held.out += pdu
            return
        held.tls.send(pdu)
        self._take_output(held)

    # ---- writing and ending --------------------------------------------------------------------
    def _write(self, held: _Held) -> None:
        if held.out:
            try:
                sent = held.sock.send(held.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._forget(held)
                return
            del held.out[:sent]
        wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if held.out else 0)
        if wanted != held.events:
            held.events = wanted
            self._selector.modify(held.sock, wanted, held)
        if not held.out and held.phase == "closing":
            _shutdown_write(held.sock)

    def _close_after_answer(self, held: _Held, outcome: Optional[ServedAssociation] = None, *,
                            close_notify: bool = True) -> None:
        """Our answer goes out (with close_notify after a completed handshake), then our side
        closes; the peer has ``close_timeout`` to read it and close before the socket is closed
        under it. ``outcome`` is reported now."""
        if close_notify and held.tls is not None and held.handshake_done:
            held.tls.close()
            self._take_output(held)
        self._enter(held, "closing", self.clock() + self.limits.close_timeout)
        if outcome is not None:
            self._report(held, outcome)
        self._write(held)

    def _fail(self, held: _Held, what: str, *, tls_error: Optional[BaseException] = None) -> None:
        """The connection ends here: report it; after a TLS refusal our alert goes out first,
        otherwise (timed out, peer gone) the socket is closed at once."""
        cert = getattr(tls_error, "peer_certificate", None)
        in_handshake = not held.handshake_done and held.phase != "PROXY header"
        error = what if tls_error is not None else f"{_PHASE_FAILED[held.phase]}: {what}"
        self._report(held, ServedAssociation(
            outcome="error", peer=held.peer, handshake_failed=in_handshake, error=error,
            peer_certificate=cert.subject if cert is not None else None,
            session=held.tls.session if held.tls is not None and held.handshake_done else None))
        if tls_error is not None:
            self._close_after_answer(held, close_notify=False)
        else:
            self._forget(held)

    def _report(self, held: _Held, result: ServedAssociation) -> None:
        self._done_once = True
        result.seconds = self.clock() - held.accepted_at
        try:
            self.on_failed(result)
        except Exception:  # the reporter's bug must not stop the gate
            log.exception("reporting a connection the gate ended failed")

    def _enter(self, held: _Held, phase: str, deadline: float) -> None:
        held.phase = phase
        held.deadline = deadline
        self._schedule(held)

    def _unregister(self, held: _Held) -> None:
        try:
            self._selector.unregister(held.sock)
        except (KeyError, ValueError):
            pass

    def _forget(self, held: _Held) -> None:
        """Close the connection and stop counting it."""
        if held not in self._held:
            return
        self._held.discard(held)
        self._unregister(held)
        held.sock.close()
        self.counts.remove(held.address)
        self.observer.connection_closed(False)


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the refused peer learns at once, and we keep no
    TIME_WAIT state for it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


# ConnectionLimits & co. live in ``connection_limits``; named here too, where servers and
# tests have always found them.
__all__ = ["ConnectionCounts", "ConnectionLimits", "Gate", "HandOff", "NullObserver",
           "OVER_LIMIT_REJECT"]
