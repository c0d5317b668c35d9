"""``AssociationServer``: the one DICOM server under every service. It accepts in a loop, one
thread per association, and serves each association with fresh services made by its factories
(``io.services``: a ``typing.Protocol`` per service class, routed by request and SOP class).

What a server offers is only the list of factories it is given: ``VerificationServer``,
``storage.scp.StorageServer``, ``qr.scp.QRServer`` and ``nservices.scp.NServiceServer`` are
this class with their lists, and `dicomtls serve --services` builds one from names.
"""

from __future__ import annotations

import errno
import logging
import select
import socket
import threading
import time
from typing import Callable, Iterable, Optional, Sequence

from ..tls.check import check_config
from ..tls.config import TLSConfig
from ..ul.negotiation import DEFAULT_MAX_PDU_LENGTH
from . import tls_socket
from .association_runner import open_transport, serve_association
from .served import ServedAssociation
from .services import Service, ServiceRegistry, VerificationService
from .transport import Waker

log = logging.getLogger(__name__)

_TRANSIENT_ACCEPT_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM,
                            errno.ECONNABORTED, errno.EPROTO}
ACCEPT_BACKOFF = 0.1  # s: after EMFILE & co., before the next accept


class AssociationServer:
    """A DICOM SCP: accepts in a loop, one thread per association.

    ``services``: one factory per service, called for every association, so a service's state
    (the object being received, its background worker) belongs to one association; a factory
    may return a shared object when the service keeps none (a class, ``functools.partial`` or a
    lambda all do). ``start()`` runs the accept loop in a background thread, ``close()`` stops
    it; ``serve_one()`` serves one connection in this thread. ``results`` collects a
    ``ServedAssociation`` per connection (a failed TLS handshake counts as "error"), each also
    passed to ``on_result``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 services: Sequence[Callable[[], Service]] = (VerificationService,),
                 tls_config: Optional[TLSConfig] = None, ae_title: Optional[str] = None,
                 calling_aes: Optional[Iterable[str]] = None, timeout: Optional[float] = 30.0,
                 max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH, on_result=None):
        self.services = tuple(services)
        # Registered once here, before the port is bound: a factory that makes no service, or
        # two services answering the same request, fail now rather than in the first peer's
        # thread. ``supported`` is what every association will offer.
        self.supported = ServiceRegistry([make() for make in self.services]).supported
        if tls_config is not None:
            # Credentials and trust are loaded before the port is bound: a server that cannot
            # complete a handshake must not start (and the connections reuse what was loaded).
            check_config(tls_config, "server")
        self.listener = tls_socket.listen(host, port)
        self.tls_config = tls_config
        self.ae_title = ae_title
        self.calling_aes = calling_aes
        self.timeout = timeout
        self.max_pdu_length = max_pdu_length
        self.on_result = on_result
        self.results: list[ServedAssociation] = []
        self._stop = threading.Event()
        self._waker = Waker()
        self._thread: Optional[threading.Thread] = None
        self._workers: list[threading.Thread] = []

    @property
    def address(self) -> tuple:
        return self.listener.getsockname()[:2]

    @property
    def port(self) -> int:
        return self.address[1]

    def serve_transport(self, transport) -> ServedAssociation:
        """Run one association on ``transport`` with a fresh set of services."""
        result = serve_association(transport, [make() for make in self.services],
                                   ae_title=self.ae_title, calling_aes=self.calling_aes,
                                   timeout=self.timeout, max_pdu_length=self.max_pdu_length)
        log.info("%s", result.summary())
        return result

    def _serve(self, transport, peer: Optional[str]) -> ServedAssociation:
        started = time.monotonic()
        result = self.serve_transport(transport)
        result.seconds = time.monotonic() - started
        if result.peer is None:
            result.peer = peer
        self._record(result)
        return result

    def _record(self, result: ServedAssociation) -> None:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)

    def serve_one(self) -> ServedAssociation:
        """Accept and serve one connection in this thread."""
        sock, _ = self.listener.accept()
        return self._serve_socket(sock)

    def serve_forever(self) -> None:
        """Accept until ``close()``: the loop blocks in ``select`` on the listener and a waker
        that ``close`` fires, so it costs nothing while idle and stops at once."""
        self.listener.setblocking(False)  # select said readable, but serve_one may race us
        while not self._stop.is_set():
            readable, _, _ = select.select([self.listener, self._waker], [], [])
            if self._stop.is_set():
                break
            if self.listener not in readable:
                continue
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another thread (serve_one) took it
            except OSError as exc:
                if exc.errno in _TRANSIENT_ACCEPT_ERRORS:
                    # Out of descriptors or buffers: the pending connection stays readable, so
                    # back off instead of spinning; close() still ends the wait at once.
                    log.warning("accept failed (%s); retrying", exc)
                    self._stop.wait(ACCEPT_BACKOFF)
                    continue
                if not self._stop.is_set():
                    log.error("accept failed, server stops: %s", exc)
                break
            sock.setblocking(True)
            # Finished associations' threads are dropped so a long-running server stays small.
            self._workers = [w for w in self._workers if w.is_alive()]
            worker = threading.Thread(target=self._serve_socket, args=(sock,), daemon=True)
            worker.start()
            self._workers.append(worker)

    def _serve_socket(self, sock: socket.socket) -> ServedAssociation:
        peer = tls_socket.peer_name(sock)  # read now: the peer may be gone when we report
        transport = open_transport(sock, self.tls_config, self.timeout)
        if isinstance(transport, ServedAssociation):
            self._record(transport)
            return transport
        return self._serve(transport, peer)

    def start(self) -> "AssociationServer":
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._waker.wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.listener.close()
        self._waker.close()
        deadline = time.monotonic() + 5
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def VerificationServer(host: str = "127.0.0.1", port: int = 0, **kwargs) -> AssociationServer:
    """An ``AssociationServer`` offering the Verification service only (``kwargs``:
    ``tls_config``, ``ae_title``, ``timeout``, ``on_result``, ...)."""
    return AssociationServer(host, port, services=(VerificationService,), **kwargs)


__all__ = ["AssociationServer", "VerificationServer"]
