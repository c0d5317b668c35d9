"""``TLSSocket``: a sans-IO TLSConnection over a blocking socket, the TLS ``Transport``; plus the
handshake, connect and listen helpers."""

from __future__ import annotations

import socket
import time
from typing import Callable, Optional

from ..errors import ConnectionClosedError, DicomTLSError, TLSError
from ..tls.config import TLSConfig
from ..tls.connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                              HandshakeComplete, SessionInfo, TLSConnection)
from ..tls.engines import new_connection
from ..tls.libssl_engine import SOCKET_EINTR, SOCKET_EOF, SOCKET_TIMEOUT
from .readiness import half_close_and_drain, readable

RECV_CHUNK = 256 * 1024
# Plaintext handed to the engine per call: large enough that the C call amortises, small
# enough that the ciphertext buffered before sendall() stays bounded.
SEND_CHUNK = 1024 * 1024
#: After a failed send, how long to wait for the peer's last bytes (its alert is usually
#: already queued) and how many reads/events to look through for it.
LEFTOVER_WAIT = 0.5
LEFTOVER_READS = 8
#: After a failed handshake: how long our alert may wait for the peer to read it and close.
FAILED_HANDSHAKE_DRAIN = 1.0


class TLSSocket:
    """A connected TCP socket carrying one TLS connection: a ``transport.Transport``.

    ``recv`` returns b"" once the peer has closed (close_notify or EOF); ``peer_closed_cleanly``
    tells which. Errors are the engine's typed exceptions; a reset socket is ConnectionClosedError.
    One thread at a time drives a TLSSocket (a TLS connection's state is not shared between a
    reader and a writer thread); a DICOM association's turn-taking fits that.

    Plaintext the engine has decrypted and the caller has not read yet stays here, as a view
    of the engine's buffer (``data_available`` counts it): ``recv_into`` copies it once into
    the caller's buffer, ``recv`` hands the engine's buffer over when the caller takes it whole.
    """

    def __init__(self, sock: socket.socket, conn: TLSConnection, *,
                 tap: Optional[Callable[[bytes], None]] = None):
        self.sock = sock
        self.conn = conn
        #: Sees every byte received from the peer before the engine does (the scanner reads
        #: the server's handshake messages in the clear through it).
        self.tap = tap
        self._plaintext = memoryview(b"")  # decrypted, not read yet: a view of ``_chunk``
        self._chunk = b""                  # the engine's last ApplicationData buffer
        self._unsent = memoryview(b"")     # ciphertext taken from the engine, not sent yet
        self._peer_closed = False
        self._failed = False  # a fatal error happened: no close_notify, our side is shut
        self._error: Optional[BaseException] = None  # met while looking ahead; raised by a read
        self.peer_closed_cleanly: Optional[bool] = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    @property
    def session(self) -> Optional[SessionInfo]:
        return self.conn.session

    def fileno(self) -> int:
        return self.sock.fileno()

    # ---- the engine and the socket ---------------------------------------------------------
    def _flush(self):
        """Send what the engine has queued. What a failed or interrupted send (a timeout, a
        signal handler's exception) left unsent is kept and goes first next time: it is the
        rest of a record, and anything sent before it would tear the stream."""
        if not self._unsent:
            self._unsent = memoryview(self.conn.data_to_send())
        while self._unsent:
            try:
                n = self.sock.send(self._unsent)
            except OSError as exc:
                raise self._why_the_socket_failed(
                    ConnectionClosedError(f"sending to the peer failed: {exc}")) from exc
            self._unsent = self._unsent[n:]
            if not self._unsent:
                self._unsent = memoryview(self.conn.data_to_send())

    def _fill(self, wait: bool = True, deadline: Optional[float] = None) -> None:
        """One read from the socket into the engine. ``wait=False``: BlockingIOError instead of
        waiting; ``deadline`` (monotonic): TimeoutError once it has passed."""
        if not wait and not readable([self.sock], 0):
            raise BlockingIOError("no TLS data ready")
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("TLS handshake timed out")
            self.sock.settimeout(left)
        try:
            data = self.sock.recv(RECV_CHUNK)
        except (ConnectionResetError, BrokenPipeError) as exc:
            raise ConnectionClosedError(f"connection reset by the peer: {exc}") from exc
        if self.tap is not None:
            self.tap(data)
        self.conn.receive_data(data)

    def _why_the_socket_failed(self, socket_error: BaseException) -> BaseException:
        """The peer's fatal alert when it sent one before the socket failed, else ``socket_error``.

        A peer that refuses us late (a TLS 1.3 server checks our certificate after our Finished)
        sends its alert and closes; our next write then meets its RST. The alert is still in our
        receive queue (Linux hands out queued data before the reset): read it, so the caller
        learns "certificate_required" instead of "connection reset"."""
        self._failed = True
        try:
            self.sock.settimeout(LEFTOVER_WAIT)
            for _ in range(LEFTOVER_READS):
                data = self.sock.recv(RECV_CHUNK)
                if self.tap is not None:
                    self.tap(data)
                self.conn.receive_data(data)
                if not data:
                    break
        except OSError:
            pass
        try:
            for _ in range(LEFTOVER_READS):  # bounded: each event consumes input
                if self.conn.next_event() is NEED_DATA:
                    break
        except TLSError as exc:
            if exc.alert_received is not None:
                return exc
        except DicomTLSError:
            pass
        return socket_error

    def _fail(self) -> None:
        """After a fatal error: our alert (if any) goes out, then our side closes at once, so a
        peer waiting for more sees EOF now (RFC 5246 7.2.2, RFC 8446 6). The descriptor itself
        is released by ``close``."""
        if self._failed:
            return
        self._failed = True
        try:
            self._flush()
        except DicomTLSError:
            pass
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _next_event(self, wait: bool = True, deadline: Optional[float] = None):
        """Run the machine until one event other than NEED_DATA, reading the socket as it asks;
        flush after every step."""
        while True:
            try:
                event = self.conn.next_event()
            except BaseException:
                self._fail()
                raise
            self._flush()
            if event is not NEED_DATA:
                return event
            self._fill(wait, deadline)

    def _keep(self, event) -> None:
        """Take in what an event says about the stream (plaintext or its end). Called only
        when no plaintext is buffered: events are pulled one at a time, as reads need them."""
        if isinstance(event, ApplicationData):
            if event.data:
                self._chunk = event.data
                self._plaintext = memoryview(event.data).cast("B")
        elif isinstance(event, CloseNotify):
            self._peer_closed = True
            self.peer_closed_cleanly = True
        elif isinstance(event, ConnectionClosed):
            self._peer_closed = True
            if self.peer_closed_cleanly is None:
                self.peer_closed_cleanly = event.clean

    def do_handshake(self, deadline: Optional[float] = None) -> SessionInfo:
        """Run the handshake; ``deadline`` (``time.monotonic()``) bounds it as a whole."""
        while self.conn.session is None:
            event = self._next_event(deadline=deadline)
            if isinstance(event, HandshakeComplete):
                break
            self._keep(event)
        return self.conn.session

    # ---- the Transport interface -------------------------------------------------------------
    def sendall(self, data) -> None:
        view = memoryview(data).cast("B")
        if self._direct():
            self._send_direct(view)
            return
        for start in range(0, len(view), SEND_CHUNK):
            try:
                self.conn.send(view[start:start + SEND_CHUNK])
            except TLSError:
                self._fail()
                raise
            self._flush()

    def data_available(self) -> int:
        """Plaintext bytes a read returns without touching the socket: decrypted already, or
        decryptable from records already read. 1 when the TLS layer holds the end of the stream
        (close_notify, EOF, a failure) instead: the next read returns at once with it."""
        while not self._plaintext:
            if self._peer_closed or self._error is not None:
                return 1
            try:
                event = self.conn.next_event()
                self._flush()
            except Exception as exc:  # noqa: BLE001 - the reader gets it, in stream order
                self._fail()
                self._error = exc
                return 1
            if event is NEED_DATA:
                return 0
            self._keep(event)
        return len(self._plaintext)

    def _readable(self, wait: bool) -> bool:
        """Plaintext is buffered (True) or the stream has ended (False); reads as needed."""
        while not self._plaintext:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            if self._peer_closed:
                return False
            self._keep(self._next_event(wait))
        return True

    def recv(self, max_bytes: int = RECV_CHUNK, *, wait: bool = True):
        """Up to ``max_bytes`` of plaintext (bytes or bytearray); blocks until some is available
        or the peer closed (``wait=False``: BlockingIOError instead of blocking)."""
        if not self._plaintext and self._direct():
            buf = bytearray(min(max_bytes, RECV_CHUNK))
            n = self._recv_direct(memoryview(buf), wait)
            if n:
                del buf[n:]
                return buf
        if not self._readable(wait):
            return b""
        view = self._plaintext
        if len(view) <= max_bytes and len(view) == len(self._chunk):
            out = self._chunk  # the common case: the engine's buffer, taken whole, no copy
        else:
            out = bytes(view[:max_bytes])
        self._consume(len(out))
        return out

    def recv_into(self, buffer, nbytes: int = 0, *, wait: bool = True) -> int:
        """Copy up to ``nbytes`` (0: ``len(buffer)``) of plaintext into ``buffer``; 0 once the
        peer has closed. Blocks as ``recv`` does."""
        target = memoryview(buffer)
        if target.format != "B":
            target = target.cast("B")
        if nbytes:
            target = target[:nbytes]
        if not self._plaintext and self._direct():
            n = self._recv_direct(target, wait)
            if n:
                return n
        if not self._readable(wait):
            return 0
        n = min(len(target), len(self._plaintext))
        target[:n] = self._plaintext[:n]
        self._consume(n)
        return n

    # ---- the direct path: whole buffers in one C call (libssl engine, after the handshake) --
    def _direct(self) -> bool:
        """Whether reads and writes may go straight between the socket and the caller's buffer
        in C (``recv_into_socket``/``send_to_socket``): the engine offers it, the handshake is
        done, nothing is pending here and no tap has to see the bytes."""
        return (self.tap is None and self._error is None and not self._peer_closed
                and not self._failed and not self._unsent and self.conn.session is not None
                and hasattr(self.conn, "recv_into_socket"))

    def _timeout_ms(self, wait: bool) -> int:
        if not wait:
            return 0
        timeout = self.sock.gettimeout()
        return -1 if timeout is None else int(timeout * 1000)

    def _recv_direct(self, target: memoryview, wait: bool) -> int:
        """Plaintext straight into ``target``: its count, or 0 when the stream's end or an event
        is to be taken by the event path (``_readable``), which it was left for."""
        timeout_ms = self._timeout_ms(wait)
        while True:
            try:
                n, result = self.conn.recv_into_socket(self.sock.fileno(), target, timeout_ms)
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise ConnectionClosedError(f"connection reset by the peer: {exc}") from exc
            except DicomTLSError:
                self._fail()
                raise
            if self.conn.pending_output():
                self._flush()   # what reading produced: a KeyUpdate answer, an alert
            if n:
                return n
            if result == SOCKET_EINTR:
                continue        # Python's signal handlers ran on the way back here
            if result == SOCKET_TIMEOUT:
                if wait:
                    raise TimeoutError("timed out")
                raise BlockingIOError("no TLS data ready")
            if result == SOCKET_EOF:
                self.conn.receive_data(b"")
            elif result is not NEED_DATA:
                self._keep(result)   # CloseNotify / ConnectionClosed
            return 0

    def _send_direct(self, view: memoryview) -> None:
        timeout_ms = self._timeout_ms(True)
        while len(view):
            try:
                status, sent = self.conn.send_to_socket(self.sock.fileno(), view, timeout_ms)
            except DicomTLSError:
                self._fail()
                raise
            except OSError as exc:
                raise self._why_the_socket_failed(
                    ConnectionClosedError(f"sending to the peer failed: {exc}")) from exc
            view = view[sent:]
            if status == SOCKET_TIMEOUT:   # as a socket send timing out: part of a record may
                raise self._why_the_socket_failed(   # have gone, so no close_notify after it
                    ConnectionClosedError("sending to the peer failed: timed out"))

    def _consume(self, n: int) -> None:
        if n < len(self._plaintext):
            self._plaintext = self._plaintext[n:]
        else:  # drop every view of the engine's buffer: it is the engine's to reuse
            self._plaintext, self._chunk = memoryview(b""), b""

    def recv_exactly(self, n: int) -> bytes:
        parts = bytearray()
        while len(parts) < n:
            chunk = self.recv(n - len(parts))
            if not chunk:
                raise ConnectionClosedError(
                    f"the peer closed the connection after {len(parts)} of {n} bytes")
            parts += chunk
        return bytes(parts)

    def shutdown_write(self) -> None:
        """Send close_notify but keep reading: the TLS half-close (the peer may still answer)."""
        self.conn.close()
        self._flush()

    def close(self, *, force: bool = False, timeout: float = 2.0) -> None:
        """Send close_notify, then close the socket without losing data in flight.

        Closing a socket that still holds unread bytes (TLS 1.3 session tickets, a peer's late
        reply) makes the kernel send RST, and an RST makes the peer drop data it has not read
        yet. So unless ``force`` is set, this half-closes TCP and drains the socket until the peer
        closes too or ``timeout`` has passed in total (a peer sending slowly cannot hold us).
        After a fatal error there is no close_notify: the alert was the last record.
        """
        try:
            if not force:
                if self.conn.session is not None and not self._failed:
                    self.conn.close()
                    self._flush()
                half_close_and_drain(self.sock, timeout)
        except (OSError, DicomTLSError):
            pass
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _handshake(sock: socket.socket, make_connection, timeout: Optional[float]) -> TLSSocket:
    """Run the handshake on a connected socket, within ``timeout`` seconds in all; on any
    failure the socket is closed (after a short drain, so the alert we sent is not wiped out by
    an RST at the peer). Afterwards ``timeout`` bounds each read and write of the socket."""
    tls = None
    sock.settimeout(timeout)  # our flights' writes
    try:
        tls = TLSSocket(sock, make_connection())
        tls.do_handshake(None if timeout is None else time.monotonic() + timeout)
    except BaseException:
        if tls is not None:
            tls.close(timeout=FAILED_HANDSHAKE_DRAIN)
        else:
            sock.close()
        raise
    sock.settimeout(timeout)
    return tls


def server_handshake(sock: socket.socket, config: TLSConfig, *,
                     timeout: Optional[float] = 30.0) -> TLSSocket:
    """Run the server handshake on an accepted socket (closed if the handshake fails)."""
    return _handshake(sock, lambda: new_connection(config, "server"), timeout)


def client_handshake(sock: socket.socket, config: TLSConfig, *,
                     server_name: Optional[str] = None,
                     timeout: Optional[float] = 30.0) -> TLSSocket:
    """Run the client handshake on a connected socket (closed if the handshake fails).
    ``server_name``: SNI and the name the server's certificate is checked against."""
    return _handshake(sock, lambda: new_connection(config, "client", server_name=server_name),
                      timeout)


def peer_name(sock: socket.socket) -> Optional[str]:
    """"host:port" of the connected peer, None once the socket is gone."""
    try:
        host, port = sock.getpeername()[:2]
    except OSError:
        return None
    return f"{host}:{port}"


def handshake_failure_text(exc: BaseException) -> str:
    """"TLS handshake failed: <cause>", the phase named once (the engines' alert messages
    already start so)."""
    text = str(exc) or type(exc).__name__
    return text if text.startswith("TLS handshake failed") else f"TLS handshake failed: {text}"


def connect(host: str, port: int, config: TLSConfig, *, timeout: Optional[float] = 30.0,
            server_name: Optional[str] = None) -> TLSSocket:
    """Open TCP, run the client handshake, return the TLSSocket (handshake done)."""
    conn = new_connection(config, "client", server_name=server_name or host)
    sock = socket.create_connection((host, port), timeout=timeout)
    return _handshake(sock, lambda: conn, timeout)


def accept(listener: socket.socket, config: TLSConfig, *,
           timeout: Optional[float] = 30.0) -> TLSSocket:
    """Accept one TCP connection and run the server handshake on it."""
    sock, _addr = listener.accept()
    return server_handshake(sock, config, timeout=timeout)


def listen(host: str = "127.0.0.1", port: int = 0,
           backlog: Optional[int] = None) -> socket.socket:
    """A listening TCP socket (SO_REUSEADDR) on ``host:port``: "" is the loopback address,
    "*" every interface, port 0 any free port; an address with ":" is IPv6. ``backlog``:
    default the system maximum (``net.core.somaxconn``, else ``socket.SOMAXCONN``), so a burst
    of connections waits in the kernel instead of being refused."""
    if backlog is None:
        backlog = socket.SOMAXCONN
        try:
            with open("/proc/sys/net/core/somaxconn") as f:
                backlog = max(1, int(f.read().strip()))
        except (OSError, ValueError):
            pass
    host = {"": "127.0.0.1", "*": "0.0.0.0"}.get(host, host)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock
