"""Transports and the blocking driver under ``association_runner``.

``PlainTransport`` gives a TCP socket the ``TLSSocket`` interface; ``write_buffers`` writes PDU
buffers without sending a PDU header in a TLS record of its own; ``Driver`` runs one sans-IO
``Association`` over a transport (flush, read, feed, ARTIM). A long-running service (a C-FIND,
C-MOVE or C-GET SCP) uses ``poll_event`` to look for a C-CANCEL without blocking and ``unread``
to hand an event it cannot handle back to the main loop.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Iterable, Optional

from ..errors import ConnectionClosedError, DicomTLSError
from ..tls.config import TLSConfig
from ..ul.association import NEED_DATA, Association
from . import tls_socket

RECV_CHUNK = 256 * 1024
COALESCE = 64 * 1024  # smaller buffers are joined before a write; larger ones go out as they are


class PlainTransport:
    """A connected TCP socket with the TLSSocket interface (``session`` is None)."""

    session = None

    def __init__(self, sock: socket.socket):
        self.sock = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def sendall(self, data) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ConnectionClosedError(f"sending to the peer failed: {exc}") from exc

    def recv(self, max_bytes: int = RECV_CHUNK) -> bytes:
        try:
            return self.sock.recv(max_bytes)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosedError(f"connection reset by the peer: {exc}") from exc

    def close(self, *, timeout: float = 2.0) -> None:
        """Half-close and drain briefly, so unread data does not turn our close into an RST."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(timeout)
            while self.sock.recv(RECV_CHUNK):
                pass
        except OSError:
            pass
        finally:
            self.sock.close()


def _raw_socket(transport) -> socket.socket:
    return transport.sock


def write_buffers(transport, buffers: Iterable) -> None:
    """Write PDU buffers in order: small ones (headers, commands) joined, large ones direct.

    A large payload is never written alone after its small header: the pending small buffers
    take the payload's first ``COALESCE`` bytes with them, so over TLS a PDU header never
    travels in a record of its own (one bounded copy of at most 64 KiB per large buffer)."""
    pending = bytearray()
    for buf in buffers:
        if len(buf) >= COALESCE:
            if pending:
                view = memoryview(buf)
                pending += view[:COALESCE]
                transport.sendall(pending)
                pending = bytearray()
                buf = view[COALESCE:]
                if not len(buf):
                    continue
            transport.sendall(buf)
        else:
            pending += buf
            if len(pending) >= COALESCE:
                transport.sendall(pending)
                pending = bytearray()
    if pending:
        transport.sendall(pending)


class Driver:
    """Runs an Association over a transport: flush, read, feed, drive ARTIM."""

    def __init__(self, transport, assoc: Association, timeout: Optional[float]):
        self.transport = transport
        self.assoc = assoc
        self.timeout = timeout
        self.closed = False
        self._pending: list = []

    def unread(self, event) -> None:
        """Hand ``event`` back: the next ``next_event``/``poll_event`` returns it first."""
        self._pending.append(event)

    def poll_event(self):
        """An event if one is available now, else None; never blocks for long (a TLS record
        that has started to arrive is read to its end)."""
        if self._pending:
            return self._pending.pop(0)
        self.flush()
        event = self.assoc.next_event()
        if event is not NEED_DATA:
            return event
        if self.closed or self.assoc.finished:
            return None
        try:
            readable, _, _ = select.select([_raw_socket(self.transport)], [], [], 0)
        except (OSError, ValueError):
            return None
        if not readable:
            return None
        self._read()
        event = self.assoc.next_event()
        return None if event is NEED_DATA else event

    def flush(self) -> None:
        bufs = self.assoc.buffers_to_send()
        if bufs and not self.closed:
            write_buffers(self.transport, bufs)

    def next_event(self):
        """The next event; reads from the transport as needed. None once the association is
        finished and the transport closed."""
        if self._pending:
            return self._pending.pop(0)
        while True:
            self.flush()
            if self.assoc.finished:
                self.close()
            event = self.assoc.next_event()
            if event is not NEED_DATA:
                return event
            self.flush()
            if self.assoc.finished:
                self.close()
                return None
            self._read()

    def _read(self) -> None:
        deadline = self.assoc.artim_deadline()
        wait = self.timeout
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            wait = left if wait is None else min(wait, left)
        _raw_socket(self.transport).settimeout(wait)
        try:
            data = self.transport.recv(RECV_CHUNK)
        except (socket.timeout, TimeoutError):
            if deadline is not None and time.monotonic() >= deadline:
                self.assoc.check_timers()
                return
            raise
        except ConnectionClosedError:
            data = b""
        self.assoc.receive_data(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.transport.close()
            except (OSError, DicomTLSError):
                pass


def connect_transport(host: str, port: int, tls_config: Optional[TLSConfig], timeout: Optional[float],
             server_name: Optional[str] = None):
    if tls_config is not None:
        return tls_socket.connect(host, port, tls_config, timeout=timeout,
                                  server_name=server_name)
    return PlainTransport(socket.create_connection((host, port), timeout=timeout))


__all__ = ["COALESCE", "Driver", "PlainTransport", "RECV_CHUNK", "connect_transport",
           "write_buffers"]
