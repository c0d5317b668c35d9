"""The one I/O core every API runs on: transports, ``write_buffers`` and the ``Driver``.

A ``Transport`` is a connected byte stream, plain TCP (``PlainTransport``) or TLS
(``tls_socket.TLSSocket``): ``sendall``, ``recv``/``recv_into``, ``data_available`` and
``close``, plus the socket underneath for waiting and addresses. ``data_available`` is what makes
waiting safe over TLS: bytes the TLS layer has already read and decrypted are invisible to
``select`` on the socket, so nothing here waits on the socket while the transport still holds
some. ``write_buffers`` writes PDU buffers without sending a PDU header in a TLS record of its
own; ``Driver`` runs one sans-IO ``Association`` over a transport (flush, read, feed, ARTIM).

Waiting. With nothing else to wait for, the Driver lets the read itself block (one system call
per read: the bulk path). Otherwise it waits in one ``select`` for whichever comes first: the
peer, a background job (``background``: an ``OrderedWorker`` whose results come out of
``next_event`` as ``JobDone`` events), or a ``Waker`` another thread fires (``next_event`` then
returns ``WOKEN``: the LDicomNet facade's I/O thread runs the work queued for it). Reads after
such a wait never block (``wait=False``): a TLS record still arriving, or TLS housekeeping with
no data in it (session tickets), sends the Driver back to waiting. A long-running service (a
C-FIND, C-MOVE or C-GET SCP) uses ``poll_event`` to look for a C-CANCEL without blocking, and
``unread`` to hand an event it cannot handle back to the main loop.

The bulk paths, both copy-once:

* receiving: when the association is assembling a PDU in a buffer of its full size, the
  transport reads straight into that buffer (``recv_into``: the socket's, or TLS plaintext
  copied once out of the engine); at PDU boundaries a small chunk is read and fed (small PDUs
  then cost no copy at all on plain TCP);
* sending a data set from a file (``send_dataset``): PDUs are laid out in one reusable buffer
  per association (``ul.pdv_layout``), the file is read straight into the slots between the
  headers, and the buffer goes out in one write (headers never in a TLS record of their own).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Iterable, Optional, Protocol, runtime_checkable

from ..dimse.fragments import max_fragment_length
from ..errors import ConnectionClosedError, DicomTLSError
from ..ul.association import NEED_DATA, Association
from ..ul.pdv_layout import layout_buffer_size
from .readiness import half_close_and_drain, readable
from .worker import OrderedWorker

if TYPE_CHECKING:   # TLS loads with the first TLS connection: plain TCP never needs it
    from ..tls.config import TLSConfig
    from ..tls.connection import SessionInfo

log = logging.getLogger(__name__)

RECV_CHUNK = 256 * 1024
#: Read at a PDU boundary when the rest of a PDU can then be read in place: small PDUs still
#: arrive whole, and at most this much of a large one is copied twice.
BOUNDARY_CHUNK = 64 * 1024
COALESCE = 64 * 1024  # smaller buffers are joined before a write; larger ones go out as they are
#: The reusable send buffer of ``send_dataset``: whole PDUs of about this many bytes per write,
#: plus room in front for the command PDU so an object smaller than this is a single write.
SEND_TARGET = 4 << 20
HEAD_ROOM = 16 << 10
#: bytes/s: while we wait for the peer's next event, each byte it sends buys this much more
#: time beyond ``timeout`` (up to ``timeout`` ahead): a transfer going at least this fast is
#: never cut off, a peer dripping bytes to hold the association is, after about ``timeout``.
MIN_PEER_RATE = 1024


@runtime_checkable
class Transport(Protocol):
    """A connected byte stream: what the Driver and the servers need of plain TCP and TLS.

    ``recv`` returns b"" and ``recv_into`` 0 once the peer has closed. With ``wait=False`` a
    read never blocks: BlockingIOError when nothing can be returned yet. ``data_available`` is
    how many bytes a read returns without touching the socket (TLS plaintext already decrypted);
    an end of stream the TLS layer already holds counts as readable too (1), since the read
    returns at once. ``sock`` is the socket underneath: wait on it (``fileno``) only when
    ``data_available()`` is 0. ``session`` is the TLS ``SessionInfo``, None for plain TCP."""

    sock: socket.socket
    session: Optional[SessionInfo]

    def fileno(self) -> int: ...

    def data_available(self) -> int: ...

    def sendall(self, data) -> None: ...

    def recv(self, max_bytes: int = RECV_CHUNK, *, wait: bool = True): ...

    def recv_into(self, buffer, nbytes: int = 0, *, wait: bool = True) -> int: ...

    def close(self, *, force: bool = False, timeout: float = 2.0) -> None: ...


class PlainTransport:
    """A connected TCP socket as a ``Transport`` (``session`` is None)."""

    session = None

    def __init__(self, sock: socket.socket):
        self.sock = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def data_available(self) -> int:
        return 0  # everything received is still in the kernel, where select sees it

    def sendall(self, data) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise ConnectionClosedError(f"sending to the peer failed: {exc}") from exc

    def recv(self, max_bytes: int = RECV_CHUNK, *, wait: bool = True) -> bytes:
        if not wait:
            _raise_unless_readable(self.sock)
        try:
            return self.sock.recv(max_bytes)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosedError(f"connection reset by the peer: {exc}") from exc

    def recv_into(self, buffer, nbytes: int = 0, *, wait: bool = True) -> int:
        """Read into ``buffer``; 0 once the peer has closed."""
        if not wait:
            _raise_unless_readable(self.sock)
        try:
            return self.sock.recv_into(buffer, nbytes)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosedError(f"connection reset by the peer: {exc}") from exc

    def close(self, *, force: bool = False, timeout: float = 2.0) -> None:
        """Half-close and drain for at most ``timeout`` seconds in all (a peer that keeps
        sending cannot hold us), so unread data does not turn our close into an RST
        (``force``: close at once)."""
        try:
            if not force:
                half_close_and_drain(self.sock, timeout)
        except OSError:
            pass
        finally:
            self.sock.close()


def _raise_unless_readable(sock: socket.socket) -> None:
    # A socket with a timeout polls for up to that timeout before it reads, whatever the
    # flags say; a zero-timeout select is the read-now-or-not test that keeps the timeout
    # for writes.
    if not readable([sock], 0):
        raise BlockingIOError("nothing to read yet")


class Waker:
    """Wakes a thread waiting in ``Driver.next_event`` from any other thread: a socketpair,
    so the wait is one ``select`` over the peer, the jobs and this."""

    def __init__(self):
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)

    def fileno(self) -> int:
        return self._r.fileno()

    def wake_fileno(self) -> int:
        """The descriptor ``wake`` writes to (non-blocking): ``signal.set_wakeup_fd`` can write
        to it too, so a signal caught by any thread wakes the one waiting here."""
        return self._w.fileno()

    def wake(self) -> None:
        try:
            self._w.send(b"\0")
        except OSError:  # full (already awake) or closed (the thread is gone)
            pass

    def clear(self) -> None:
        try:
            while self._r.recv(4096):
                pass
        except OSError:
            pass

    def close(self) -> None:
        self._r.close()
        self._w.close()


def write_buffers(transport, buffers: Iterable) -> int:
    """Write PDU buffers in order: small ones (headers, commands) joined, large ones direct.
    Returns the number of bytes written.

    A large payload is never written alone after its small header: the pending small buffers
    take the payload's first ``COALESCE`` bytes with them, so over TLS a PDU header never
    travels in a record of its own (one bounded copy of at most 64 KiB per large buffer)."""
    total = 0
    pending = bytearray()
    for buf in buffers:
        total += len(buf)
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
    return total


class _Sentinel:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return self.name


#: ``Driver.next_event`` returns this when the ``wakeup`` fired while it waited.
WOKEN = _Sentinel("WOKEN")
# What ``Driver._wait`` found (WOKEN too).
_READ_BLOCKING = _Sentinel("READ_BLOCKING")  # nothing else to wait for: the read may block
_READABLE = _Sentinel("READABLE")            # a read returns without blocking
_RETRY = _Sentinel("RETRY")                  # a job ended, or ARTIM ran out: look again


class Driver:
    """Runs an Association over a transport: flush, wait, read, feed, drive ARTIM.

    ``assoc`` may be None until an association starts (``assoc`` is then set): meanwhile
    bytes from the peer are dropped with a warning, and its EOF ends ``next_event`` (None).
    ``timeout``: how long waiting for the peer's next event may take in all, not per read
    (None: no limit; ARTIM still applies); bytes arriving meanwhile extend it at
    ``MIN_PEER_RATE``, so only a peer that stalls or drips runs into it.
    ``wakeup``: a ``Waker`` that makes ``next_event`` return ``WOKEN``."""

    def __init__(self, transport, assoc: Optional[Association], timeout: Optional[float], *,
                 wakeup: Optional[Waker] = None):
        self.transport = transport
        self.assoc = assoc
        self.timeout = timeout
        self.wakeup = wakeup
        self.closed = False
        self._eof = False
        self._pending: list = []
        self._send_buffer: Optional[memoryview] = None
        #: An ``OrderedWorker`` a service runs blocking jobs on: its results come out of
        #: ``next_event`` as ``JobDone`` events, also while we wait for the peer.
        self.background: Optional[OrderedWorker] = None
        self._background_ready: deque = deque()
        self._peer_deadline: Optional[float] = None   # while waiting for an event; see timeout

    def unread(self, event) -> None:
        """Hand ``event`` back: the next ``next_event``/``poll_event`` returns it first."""
        self._pending.append(event)

    def poll_event(self):
        """An event if one is available now, else None; never blocks."""
        if self._pending:
            return self._pending.pop(0)
        self.flush()
        event = self.assoc.next_event()
        if event is not NEED_DATA:
            return event
        if self.closed or self.assoc.finished or self._eof:
            return None
        if not self.transport.data_available() and not _select([self.transport], 0):
            return None
        self._read(wait=False)
        event = self.assoc.next_event()
        return None if event is NEED_DATA else event

    def flush(self) -> int:
        """Write what the association has queued; the number of bytes written."""
        if self.assoc is None or self.closed:
            return 0
        bufs = self.assoc.buffers_to_send()
        return write_buffers(self.transport, bufs) if bufs else 0

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
            _fill_slots(reader, slots)
            self.transport.sendall(out)
            if progress is not None:
                progress(sum(len(s) for s in slots))

    def next_event(self):
        """The next event; reads from the transport as needed. None once the association is
        finished (or, with no association, the peer closed) and the transport closed;
        ``WOKEN`` when the ``wakeup`` fired first."""
        if self._pending:
            return self._pending.pop(0)
        while True:
            done = self._background_done()
            if done is not None:
                self._peer_deadline = None
                return done
            assoc = self.assoc
            if assoc is not None:
                self.flush()
                if assoc.finished:
                    self.close()
                event = assoc.next_event()
                if event is not NEED_DATA:
                    self._peer_deadline = None
                    return event
                self.flush()
                # After EOF (or our close) nothing more can come: a machine that cannot take
                # Evt17 in its state would otherwise ask for data forever.
                if assoc.finished or self._eof or self.closed:
                    self.close()
                    return None
            elif self._eof or self.closed:
                self.close()
                return None
            found = self._wait()
            if found is WOKEN:
                return WOKEN
            if found is not _RETRY:
                self._read(wait=found is _READ_BLOCKING)

    def _background_done(self):
        worker = self.background
        if worker is None:
            return None
        if not self._background_ready and worker.ready:
            self._background_ready.extend(worker.completed())
        return self._background_ready.popleft() if self._background_ready else None

    def _wait(self):
        """Wait until the peer sent something, a background job ended, the wakeup fired or
        ARTIM ran out. Never on the socket while the transport holds readable bytes."""
        if self.transport.data_available():
            return _READABLE
        worker = self.background
        jobs = worker is not None and worker.pending > 0
        if not jobs and self.wakeup is None:
            return _READ_BLOCKING
        if jobs and worker.ready:
            return _RETRY
        waitables = [self.transport]
        if jobs:
            waitables.append(worker)
        if self.wakeup is not None:
            waitables.append(self.wakeup)
        artim = self._artim_left()
        # A running job always ends, and the peer may be waiting for its answer: the peer's
        # silence only counts against ``timeout`` when no job is running.
        timeout = artim if jobs else _earliest(self._peer_time_left(), artim)
        ready = _select(waitables, timeout)
        if self.wakeup is not None and self.wakeup in ready:
            self.wakeup.clear()  # before the owner looks at its queue: no wake-up is lost
            return WOKEN
        if jobs and worker in ready:
            worker.clear()  # a job ended (maybe one behind a slower earlier one): look
            return _RETRY
        if ready:
            return _READABLE
        if artim is not None and timeout == artim:  # ARTIM's deadline ended the wait
            self.assoc.check_timers()
            return _RETRY
        self._peer_time_left()  # raises once the deadline has passed
        return _RETRY

    def _peer_time_left(self) -> Optional[float]:
        """Seconds the peer has left to make progress; TimeoutError once they are up."""
        if self.timeout is None:
            return None
        now = time.monotonic()
        if self._peer_deadline is None:
            self._peer_deadline = now + self.timeout
        left = self._peer_deadline - now
        if left <= 0:
            raise TimeoutError(f"the peer made no progress for {self.timeout:g} s "
                               f"(nothing, or under {MIN_PEER_RATE} bytes/s)")
        return left

    def _credit(self, n: int) -> None:
        """``n`` bytes arrived: the peer's deadline moves on at ``MIN_PEER_RATE``."""
        if self._peer_deadline is not None and n:
            self._peer_deadline = min(time.monotonic() + self.timeout,
                                      self._peer_deadline + n / MIN_PEER_RATE)

    def _artim_left(self) -> Optional[float]:
        deadline = self.assoc.artim_deadline() if self.assoc is not None else None
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _read(self, *, wait: bool) -> None:
        """One read from the transport, fed to the association. ``wait``: block (bounded by
        ``timeout`` and ARTIM); else return at once when nothing can be read yet."""
        assoc = self.assoc
        view = assoc.receive_buffer() if assoc is not None else None
        artim = timeout = None
        if wait:
            artim = self._artim_left()
            timeout = _earliest(self._peer_time_left(), artim)
            self.transport.sock.settimeout(timeout)
        try:
            if view is not None:
                n = self.transport.recv_into(view, wait=wait)
                data = b""
            else:
                n = 0
                data = self.transport.recv(BOUNDARY_CHUNK, wait=wait)
        except BlockingIOError:
            return
        except TimeoutError:  # socket.timeout too
            if artim is not None and timeout == artim:  # ARTIM's deadline ended the read
                assoc.check_timers()
                return
            self._peer_time_left()  # the peer's deadline: raises with the reason
            return
        except ConnectionClosedError:
            n, data = 0, b""
        finally:
            if wait:  # writes get the whole ``timeout``, not what this read had left
                self.transport.sock.settimeout(self.timeout)
        self._credit(n or len(data))
        if n:
            assoc.received_into(n)
            return
        if not data:
            self._eof = True
        if assoc is not None:
            assoc.receive_data(data)
        elif data:  # nothing can use bytes before the association starts
            log.warning("dropped %d bytes the peer sent before any association", len(data))

    def close(self, *, force: bool = False) -> None:
        """Close the transport (``force``: at once, no close_notify, no drain)."""
        if not self.closed:
            self.closed = True
            try:
                self.transport.close(force=force)
            except (OSError, DicomTLSError):
                pass


def _earliest(a: Optional[float], b: Optional[float]) -> Optional[float]:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _select(waitables: list, timeout: Optional[float]) -> list:
    try:
        return readable(waitables, timeout)
    except (OSError, ValueError):  # a transport closed under us: let the read report it
        return [waitables[0]]


def _fill_slots(reader, slots: list) -> None:
    """Fill every slot from ``reader``: one ``readinto_many`` for all of them when the reader
    has it, then ``_fill`` for whatever a short read left."""
    done = reader.readinto_many(slots) if hasattr(reader, "readinto_many") and len(slots) > 1 \
        else 0
    for slot in slots:
        if done >= len(slot):
            done -= len(slot)
            continue
        _fill(reader, slot[done:])
        done = 0


def _fill(reader, view: memoryview) -> None:
    """Fill ``view`` from ``reader`` completely; OSError if it ends first."""
    while len(view):
        n = reader.readinto(view)
        if not n:
            raise OSError(f"the data set ended {len(view)} bytes before its announced length "
                          f"(did the file change?)")
        view = view[n:]


def connect_transport(host: str, port: int, tls_config: Optional[TLSConfig],
                      timeout: Optional[float], server_name: Optional[str] = None):
    """Connect to ``host:port``: a ``TLSSocket`` (handshake done) when ``tls_config`` is given,
    else a ``PlainTransport``. ``timeout`` bounds the connect and the handshake."""
    if tls_config is not None:
        from . import tls_socket
        return tls_socket.connect(host, port, tls_config, timeout=timeout,
                                  server_name=server_name)
    return PlainTransport(socket.create_connection((host, port), timeout=timeout))


__all__ = ["BOUNDARY_CHUNK", "COALESCE", "Driver", "PlainTransport", "RECV_CHUNK", "Transport",
           "WOKEN", "Waker", "connect_transport", "write_buffers"]
