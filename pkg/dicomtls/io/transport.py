"""Transports and the blocking driver under ``association_runner``.

``PlainTransport`` gives a TCP socket the ``TLSSocket`` interface; ``write_buffers`` writes PDU
buffers without sending a PDU header in a TLS record of its own; ``Driver`` runs one sans-IO
``Association`` over a transport (flush, read, feed, ARTIM). A long-running service (a C-FIND,
C-MOVE or C-GET SCP) uses ``poll_event`` to look for a C-CANCEL without blocking and ``unread``
to hand an event it cannot handle back to the main loop.

The bulk paths, both copy-once:

* receiving: when the association is assembling a PDU in a buffer of its full size and the
  transport can ``recv_into`` (plain TCP), the socket reads straight into that buffer; at PDU
  boundaries a small chunk is read and fed (small PDUs then cost no copy at all);
* sending a data set from a file (``send_dataset``): PDUs are laid out in one reusable buffer
  per association (``ul.pdv_layout``), the file is read straight into the slots between the
  headers, and the buffer goes out in one write (headers never in a TLS record of their own).
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from typing import Iterable, Optional

from ..dimse.fragments import max_fragment_length
from ..errors import ConnectionClosedError, DicomTLSError
from ..tls.config import TLSConfig
from ..ul.association import NEED_DATA, Association
from ..ul.pdv_layout import layout_buffer_size
from . import tls_socket
from .worker import OrderedWorker

RECV_CHUNK = 256 * 1024
#: Read at a PDU boundary when the rest of a PDU can then be read in place: small PDUs still
#: arrive whole, and at most this much of a large one is copied twice.
BOUNDARY_CHUNK = 64 * 1024
COALESCE = 64 * 1024  # smaller buffers are joined before a write; larger ones go out as they are
#: The reusable send buffer of ``send_dataset``: whole PDUs of about this many bytes per write,
#: plus room in front for the command PDU so an object smaller than this is a single write.
SEND_TARGET = 4 << 20
HEAD_ROOM = 16 << 10


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

    def recv_into(self, buffer) -> int:
        """Read into ``buffer``; 0 once the peer has closed."""
        try:
            return self.sock.recv_into(buffer)
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
        self._send_buffer: Optional[memoryview] = None
        self._recv_into = getattr(transport, "recv_into", None)
        #: An ``OrderedWorker`` a service runs blocking jobs on: its results come out of
        #: ``next_event`` as ``JobDone`` events, also while we wait for the peer.
        self.background: Optional[OrderedWorker] = None
        self._background_ready: deque = deque()

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

    def send_dataset(self, context_id: int, message, reader, progress=None) -> None:
        """Send ``message`` with the data set ``reader`` supplies: an object with ``length``
        (bytes) and ``readinto(view) -> int`` (a file opened unbuffered, e.g.
        ``storage.part10.open_dataset``). Each data set byte is copied once, from the file
        into the reusable send buffer; ``progress(n)`` gets the data set bytes of each write.
        OSError if the reader fails or ends early (the message is then broken: abort)."""
        wanted = max_fragment_length(self.assoc.peer_max_pdu_length)
        size, fragment = layout_buffer_size(wanted, SEND_TARGET, HEAD_ROOM)
        if self._send_buffer is None or len(self._send_buffer) != size:
            self._send_buffer = memoryview(bytearray(size))
        buf = self._send_buffer
        layout = self.assoc.start_dataset(context_id, message, reader.length,
                                          fragment_length=fragment)
        while not layout.done:
            head = self.assoc.buffers_to_send()
            head_length = sum(len(b) for b in head)
            if head_length > HEAD_ROOM:
                write_buffers(self.transport, head)
                head, head_length = (), 0
            # Only whole PDUs after the head: the head room is not filled with a runt fragment.
            out, slots = layout.frame(buf[:head_length + size - HEAD_ROOM], head)
            for slot in slots:
                _fill(reader, slot)
            self.transport.sendall(out)
            if progress is not None:
                progress(sum(len(s) for s in slots))

    def next_event(self):
        """The next event; reads from the transport as needed. None once the association is
        finished and the transport closed."""
        if self._pending:
            return self._pending.pop(0)
        while True:
            done = self._background_done()
            if done is not None:
                return done
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
            if self._wait_background():
                continue  # a job finished before the peer sent anything
            self._read()

    def _background_done(self):
        worker = self.background
        if worker is None:
            return None
        if not self._background_ready and worker.ready:
            self._background_ready.extend(worker.completed())
        return self._background_ready.popleft() if self._background_ready else None

    def _wait_background(self) -> bool:
        """With jobs running, wait for the peer *or* a job (jobs always end: no timeout);
        True when a job finished. A TLS record already buffered inside the TLS layer is
        seen only after the jobs: late, never lost."""
        worker = self.background
        if worker is None or self.closed:
            return False
        while worker.pending:
            if worker.ready:
                return True
            readable, _, _ = select.select([_raw_socket(self.transport), worker], [], [])
            if worker not in readable:
                return False   # the peer sent something
            worker.clear()     # a job ended (maybe one behind a slower earlier one): look
        return False

    def _read(self) -> None:
        deadline = self.assoc.artim_deadline()
        wait = self.timeout
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            wait = left if wait is None else min(wait, left)
        _raw_socket(self.transport).settimeout(wait)
        view = self.assoc.receive_buffer() if self._recv_into is not None else None
        try:
            if view is not None:
                n = self._recv_into(view)
                data = b""
            else:
                n = 0
                data = self.transport.recv(RECV_CHUNK if self._recv_into is None
                                           else BOUNDARY_CHUNK)
        except (socket.timeout, TimeoutError):
            if deadline is not None and time.monotonic() >= deadline:
                self.assoc.check_timers()
                return
            raise
        except ConnectionClosedError:
            n, data = 0, b""
        if n:
            self.assoc.received_into(n)
        else:
            self.assoc.receive_data(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.transport.close()
            except (OSError, DicomTLSError):
                pass


def _fill(reader, view: memoryview) -> None:
    """Fill ``view`` from ``reader`` completely; OSError if it ends first."""
    while len(view):
        n = reader.readinto(view)
        if not n:
            raise OSError(f"the data set ended {len(view)} bytes before its announced length "
                          f"(did the file change?)")
        view = view[n:]


def connect_transport(host: str, port: int, tls_config: Optional[TLSConfig], timeout: Optional[float],
             server_name: Optional[str] = None):
    if tls_config is not None:
        return tls_socket.connect(host, port, tls_config, timeout=timeout,
                                  server_name=server_name)
    return PlainTransport(socket.create_connection((host, port), timeout=timeout))


__all__ = ["COALESCE", "Driver", "PlainTransport", "RECV_CHUNK", "connect_transport",
           "write_buffers"]
