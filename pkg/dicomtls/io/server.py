"""``AssociationServer``: the one DICOM server under every service. Its ``io.gate.Gate``
accepts and holds every connection through its TLS handshake and A-ASSOCIATE-RQ in one thread
(deadlines per phase, caps on connections in all, per peer address and on associations); each
association then gets a thread of its own and fresh services made by the server's factories
(``io.services``: a ``typing.Protocol`` per service class, routed by request and SOP class).

What a server offers is only the list of factories it is given: ``VerificationServer``,
``storage.scp.StorageServer``, ``qr.scp.QRServer`` and ``nservices.scp.NServiceServer`` are
this class with their lists, and `dicomtls serve --services` builds one from names.

Lifecycle. ``shutdown(drain_timeout)`` stops accepting at once (the listener is closed, so new
connections are refused), lets the associations in flight end on their own for up to
``drain_timeout`` seconds, then aborts the rest: each is sent an A-ABORT from its own thread
(a read of its transport raises instead of waiting for the peer; the thread's ``select`` also
watches a server-wide pipe that shutdown makes readable for good), its services' ``close``
discards partial work (a Storage SCP deletes its ``.partial`` file), and its result is recorded
with outcome "aborted". An association that does not end within ``ABORT_GRACE`` after that (a
thread blocked writing to a peer that reads nothing) has its socket shut down. Every wait is on
a condition with a deadline: nothing polls.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable, Iterable, Optional, Sequence

from ..tls.check import check_config
from ..tls.config import TLSConfig
from ..ul.negotiation import DEFAULT_MAX_PDU_LENGTH
from . import tls_socket
from .association_runner import serve_association
from .gate import ConnectionCounts, ConnectionLimits, Gate, HandOff, NullObserver
from .readiness import readable
from .served import ServedAssociation
from .services import Service, ServiceRegistry, VerificationService
from .transport import RECV_CHUNK, PlainTransport, Waker

log = logging.getLogger(__name__)
#: s: after the A-ABORTs, how long an association may take to end before its socket is shut
#: down under it (then as long again to see its thread end); its transport's close may spend
#: up to 2 s draining a peer that keeps sending.
ABORT_GRACE = 3.0


class _Flag:
    """A bool flag safe to set from a signal handler: unlike ``threading.Event`` it takes no
    lock (a handler runs in the main thread between any two bytecodes, possibly inside the
    very ``Event.set`` whose lock it would then wait for, forever). Waiters are woken through
    a ``Waker`` instead."""

    __slots__ = ("_value",)

    def __init__(self):
        self._value = False

    def set(self) -> None:
        self._value = True

    def is_set(self) -> bool:
        return self._value


class _Live:
    """One association being served, from the gate's hand-off to its end: what shutdown needs
    to end it from another thread. ``transport`` is set once its thread has made it."""

    __slots__ = ("sock", "transport", "aborted")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.transport: Optional["_AbortableTransport"] = None
        self.aborted = False


class _AbortableTransport:
    """The transport of an association the server can abort from another thread: once
    ``aborting`` is set, the next read raises ConnectionAbortedError in the association's own
    thread (``serve_association`` answers that with an A-ABORT, then closes its services), and
    a read that would wait for the peer waits on the peer and the ``abort`` waker together.
    Everything else goes to the transport underneath, unchanged."""

    def __init__(self, inner, aborting: threading.Event, abort: Waker):
        self.inner = inner
        self.sock = inner.sock
        self._aborting = aborting
        self._abort = abort
        self.aborted = False   # this association was aborted by shutdown

    @property
    def session(self):
        return self.inner.session

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def fileno(self) -> int:
        return self.inner.fileno()

    def _check(self) -> None:
        if self._aborting.is_set():
            self.aborted = True
            raise ConnectionAbortedError("the server is shutting down")

    def _wait(self, wait: bool) -> None:
        self._check()
        if not wait or self.inner.data_available():
            return
        try:
            ready = readable([self.inner.sock, self._abort], self.inner.sock.gettimeout())
        except (OSError, ValueError):  # closed under us: the read reports it
            return
        self._check()
        if not ready:
            raise TimeoutError("timed out")  # as the socket's own read would

    def data_available(self) -> int:
        return 1 if self._aborting.is_set() else self.inner.data_available()

    def recv(self, max_bytes: int = RECV_CHUNK, *, wait: bool = True):
        self._wait(wait)
        return self.inner.recv(max_bytes, wait=wait)

    def recv_into(self, buffer, nbytes: int = 0, *, wait: bool = True) -> int:
        self._wait(wait)
        return self.inner.recv_into(buffer, nbytes, wait=wait)

    def sendall(self, data) -> None:
        self.inner.sendall(data)

    def close(self, *, force: bool = False, timeout: float = 2.0) -> None:
        self.inner.close(force=force, timeout=timeout)


class AssociationServer:
    """A DICOM SCP: a gate holding connections until they are associations (``limits``: a
    ``gate.ConnectionLimits``), one thread per association.

    ``proxy_from``: addresses or networks of TCP balancers (HAProxy) whose connections start
    with a PROXY v2 header; the peer it names is the one logged, capped and checked.
    ``services``: one factory per service, called for every association, so a service's state
    (the object being received, its background worker) belongs to one association; a factory
    may return a shared object when the service keeps none (a class, ``functools.partial`` or a
    lambda all do). ``start()`` runs the accept loop in a background thread, ``close()`` stops
    it; ``serve_one()`` serves one connection in this thread. ``results`` collects a
    ``ServedAssociation`` per connection (a failed TLS handshake counts as "error"), each also
    passed to ``on_result`` (also connections the gate ended: no request in time, a refused
    handshake, a request over ``max_associations``). ``shutdown(drain_timeout)`` ends it gracefully (see the module
    docstring); ``stop_accepting()`` (safe in a signal handler) makes ``serve_forever`` return."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 services: Sequence[Callable[[], Service]] = (VerificationService,),
                 tls_config: Optional[TLSConfig] = None, ae_title: Optional[str] = None,
                 calling_aes: Optional[Iterable[str]] = None, timeout: Optional[float] = 30.0,
                 max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH, on_result=None,
                 limits: Optional[ConnectionLimits] = None, proxy_from: Sequence[str] = (),
                 listener: Optional[socket.socket] = None, observer=None):
        self.services = tuple(services)
        # Registered once here, before the port is bound: a factory that makes no service, or
        # two services answering the same request, fail now rather than in the first peer's
        # thread. ``supported`` is what every association will offer.
        self.supported = ServiceRegistry([make() for make in self.services]).supported
        if tls_config is not None:
            # Credentials and trust are loaded before the port is bound: a server that cannot
            # complete a handshake must not start (and the connections reuse what was loaded).
            check_config(tls_config, "server")
        # ``listener``: a listening socket made elsewhere (``io.prefork``: one socket, many
        # worker processes); ``host``/``port`` are then ignored.
        self.listener = listener if listener is not None else tls_socket.listen(host, port)
        self.tls_config = tls_config
        self.ae_title = ae_title
        self.calling_aes = calling_aes
        self.timeout = timeout
        self.max_pdu_length = max_pdu_length
        self.on_result = on_result
        self.results: list[ServedAssociation] = []
        self._stop = _Flag()
        self._waker = Waker()
        self._thread: Optional[threading.Thread] = None
        self._workers: list[threading.Thread] = []
        # The connections being served, and a condition that fires as each one ends.
        self._lock = threading.RLock()
        self._ended = threading.Condition(self._lock)
        self._ended_waker = Waker()   # also woken as each ends: ``shutdown`` waits on it
        self._live: set[_Live] = set()
        self._aborting = _Flag()
        self._abort_waker = Waker()   # made readable for good by ``abort_all``
        self._abort_requested = _Flag()   # ``request_abort``: shutdown aborts at once
        self.aborted = 0              # connections ``abort_all`` ended
        self.limits = limits or ConnectionLimits()
        self.counts = ConnectionCounts(self.limits)
        #: told of every connection and result (``io.metrics.ServerMetrics``; ``gate``)
        self.observer = observer or NullObserver()
        self._serve_in_place = False  # serve_one: the admitted association runs in its thread
        self._last: Optional[ServedAssociation] = None
        self.gate = Gate(self.listener, tls_config, self.limits, self.counts,
                         admit=self._admit, on_failed=self._gate_ended, wakeup=self._waker,
                         proxy_from=proxy_from, observer=self.observer)

    @property
    def address(self) -> tuple:
        return self.listener.getsockname()[:2]

    @property
    def port(self) -> int:
        return self.address[1]

    def serve_transport(self, transport, request: bytes = b"") -> ServedAssociation:
        """Run one association on ``transport`` with a fresh set of services; ``request``: its
        first bytes, already read (the gate's A-ASSOCIATE-RQ)."""
        result = serve_association(transport, [make() for make in self.services],
                                   ae_title=self.ae_title, calling_aes=self.calling_aes,
                                   timeout=self.timeout, max_pdu_length=self.max_pdu_length,
                                   initial=request)
        log.info("%s", result.summary())
        return result

    def _gate_ended(self, result: ServedAssociation) -> None:
        log.info("%s", result.summary())
        self._record(result)

    def _record(self, result: ServedAssociation) -> None:
        self._last = result
        try:
            self.observer.result(result)
        except Exception:  # the observer's bug must not end an association
            log.exception("the server's observer failed")
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def serve_one(self) -> ServedAssociation:
        """Serve one connection in this thread: the first one admitted (its association runs
        here) or ended by the gate (a refused handshake, no request)."""
        self._last = None
        self._serve_in_place = True
        try:
            while self._last is None and not self._stop.is_set():
                self.gate.run(self._stop, once=True)
        finally:
            self._serve_in_place = False
        return self._last

    def serve_forever(self) -> None:
        """Run the gate until ``close()``/``stop_accepting()``: it blocks in one ``select`` over
        the listener, the connections it holds and a waker that ``close`` fires, so it costs
        nothing while idle and stops at once."""
        try:
            self.gate.run(self._stop)
        finally:
            if self._stop.is_set():
                self.gate.close()        # connections not yet associations: closed
                self.listener.close()    # refuse at once what would queue up meanwhile

    def _admit(self, handoff: HandOff) -> bool:
        """The gate hands over a connection with its A-ASSOCIATE-RQ: serve it (in a thread of
        its own, or here for ``serve_one``), or False at ``max_associations``."""
        with self._lock:
            if len(self._live) >= self.limits.max_associations:
                return False
            live = _Live(handoff.sock)
            self._live.add(live)   # before its thread runs: shutdown sees every association
        if self._serve_in_place:
            self._serve_handoff(handoff, live)
            return True
        # Finished associations' threads are dropped so a long-running server stays small.
        self._workers = [w for w in self._workers if w.is_alive()]
        worker = threading.Thread(target=self._serve_handoff, args=(handoff, live), daemon=True)
        try:
            worker.start()
        except RuntimeError:   # no thread to be had: refuse as over the cap
            self._end(live)
            return False
        self._workers.append(worker)
        return True

    def _serve_handoff(self, handoff: HandOff, live: _Live) -> ServedAssociation:
        self.observer.association_started()
        try:
            try:
                transport = _transport_of(handoff, self.timeout)
            except OSError as exc:
                handoff.sock.close()
                result = ServedAssociation(outcome="error", peer=handoff.peer,
                                           error=f"the peer went away: {exc}")
                self._record(result)
                return result
            transport = _AbortableTransport(transport, self._aborting, self._abort_waker)
            with self._lock:
                live.transport = transport
            started = time.monotonic()
            result = self.serve_transport(transport, handoff.request)
            result.seconds = time.monotonic() - started
            if transport.aborted:
                result.outcome = "aborted"
                result.error = "aborted by the server: shutting down"
            if result.peer is None:
                result.peer = handoff.peer
            self._record(result)
            return result
        finally:
            self.counts.remove(handoff.address)
            self._end(live)
            self.observer.association_ended()
            self.observer.connection_closed(True)

    def _end(self, live: _Live) -> None:
        with self._lock:
            self._live.discard(live)
            self._ended.notify_all()
        self._ended_waker.wake()

    @property
    def active(self) -> int:
        """Associations being served now (not the connections the gate holds)."""
        with self._lock:
            return len(self._live)

    def start(self) -> "AssociationServer":
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop_accepting(self) -> None:
        """Make ``serve_forever`` return (it closes the listener as it does); safe to call
        from a signal handler (it takes no lock) and from any thread."""
        self._stop.set()
        self._waker.wake()

    def request_abort(self) -> None:
        """Stop accepting and have ``shutdown`` abort the associations at once (a drain in
        progress ends now); what a signal handler calls, since ``abort_all`` takes the
        server's lock and a handler may have interrupted its own thread holding it."""
        self._abort_requested.set()
        self.stop_accepting()
        self._ended_waker.wake()

    @property
    def abort_requested(self) -> bool:
        return self._abort_requested.is_set()

    def signal_wakeup_fd(self) -> int:
        """For ``signal.set_wakeup_fd``: a signal may be caught by an association's thread,
        while the main thread (which runs Python's handlers) sleeps in the gate or the drain;
        the byte written here wakes it, so the handler runs at once."""
        return self._waker.wake_fileno()

    def wait_idle(self, timeout: Optional[float]) -> bool:
        """Wait until no connection is being served, at most ``timeout`` seconds (None: no
        limit); whether none is."""
        with self._ended:
            return self._ended.wait_for(lambda: not self._live, timeout)

    def abort_all(self) -> int:
        """A-ABORT every association being served, from its own thread (see the module
        docstring); the gate closes the connections it holds as it stops. Returns how many
        there were (not counting those an earlier call aborted). Returns at once
        (``wait_idle`` waits). Not from a signal handler: ``request_abort`` is for that."""
        with self._lock:
            live = [conn for conn in self._live if not conn.aborted]
            self._aborting.set()
            self._abort_waker.wake()   # never cleared: every later wait sees it
            for conn in live:
                conn.aborted = True
                if conn.transport is None:
                    _shutdown_socket(conn.sock)
            self.aborted += len(live)
        return len(live)

    def shutdown(self, drain_timeout: float = 30.0) -> dict:
        """Stop accepting now, let the associations in flight end for up to ``drain_timeout``
        seconds, abort those still running, and wait for their threads (each records its
        result). Returns {"drained": n, "aborted": n, "stuck": n} (stuck: threads still alive
        after their sockets were shut down; they are daemon threads)."""
        self._stop_accepting_and_join()
        with self._lock:
            in_flight = list(self._live)
        if not self._drain(max(0.0, drain_timeout)):
            self.abort_all()
            if not self.wait_idle(ABORT_GRACE):
                with self._lock:
                    for conn in self._live:
                        _shutdown_socket(conn.sock)
                self.wait_idle(ABORT_GRACE)
        with self._lock:
            stuck = len(self._live)
            # by us or by an ``abort_all`` from elsewhere (a second signal); not those that
            # ended on their own before the abort reached them
            aborted = sum(1 for conn in in_flight if conn.aborted and (
                conn.transport is None or conn.transport.aborted))
        if stuck:
            log.warning("%d association threads did not end", stuck)
        self._close_wakers()
        return {"drained": len(in_flight) - aborted, "aborted": aborted, "stuck": stuck}

    def _drain(self, timeout: float) -> bool:
        """Wait until no association is left (True), ``timeout`` has passed or
        ``request_abort`` was called (False); on the wakers, so a signal handler's request is
        seen at once."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._live:
                    return True
            left = deadline - time.monotonic()
            if self._abort_requested.is_set() or left <= 0:
                return False
            readable([self._ended_waker, self._waker], left)
            self._ended_waker.clear()
            self._waker.clear()

    def _stop_accepting_and_join(self) -> None:
        self.stop_accepting()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.listener.close()

    def _close_wakers(self) -> None:
        if self._live:
            return  # a thread still running may wait on them
        self._waker.close()
        self._abort_waker.close()
        self._ended_waker.close()

    def close(self) -> None:
        """Stop accepting and wait up to 5 s for the associations in flight (not aborted:
        ``shutdown`` aborts)."""
        self._stop_accepting_and_join()
        deadline = time.monotonic() + 5
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))
        self._close_wakers()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def _transport_of(handoff: HandOff, timeout: Optional[float]):
    """The blocking transport of a connection the gate handed over; our bytes the gate could
    not write yet (TLS session tickets) go out first."""
    sock = handoff.sock
    sock.setblocking(True)
    sock.settimeout(timeout)
    if handoff.unsent:
        sock.sendall(handoff.unsent)
    if handoff.tls is None:
        return PlainTransport(sock)
    return tls_socket.TLSSocket(sock, handoff.tls)


def _shutdown_socket(sock: socket.socket) -> None:
    """Both directions: a thread blocked reading or writing it returns at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def VerificationServer(host: str = "127.0.0.1", port: int = 0, **kwargs) -> AssociationServer:
    """An ``AssociationServer`` offering the Verification service only (``kwargs``:
    ``tls_config``, ``ae_title``, ``timeout``, ``on_result``, ...)."""
    return AssociationServer(host, port, services=(VerificationService,), **kwargs)


__all__ = ["AssociationServer", "VerificationServer"]
