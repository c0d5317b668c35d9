"""LDicomNet facade, I/O part: the per-object I/O thread (socket + TLS + Association).

Only this thread touches the socket, the sans-IO TLS connection and the Association. Work from
other threads arrives through ``_queue`` with a socketpair wakeup; handlers (``_fire``) run here.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from typing import Optional

from ..errors import DicomTLSError, LocalProtocolError
from .events import (PDU_ABORT, PDU_ASSOCIATE_ACCEPT, PDU_ASSOCIATE_REJECT,
                         PDU_ASSOCIATE_REQUEST, PDU_DATA, PDU_RELEASE_REQUEST,
                         PDU_RELEASE_RESPONSE, RECEIVE_EVENTS, DicomAssociate)
from .tls_settings import (DICOM_ERROR_NET_CONNECTION_REFUSED, DICOM_ERROR_NET_CONNECTION_RESET,
                      DICOM_ERROR_NET_FAILURE, DICOM_ERROR_NET_HOST_NOT_FOUND,
                      DICOM_ERROR_NET_HOST_UN_REACH, DICOM_ERROR_NET_NOT_CONNECTED,
                      DICOM_ERROR_NET_TIME_OUT, DICOM_ERROR_TLS, DICOM_SECURE_TLS,
                      DICOM_SUCCESS, TLS_STATUS_CLIENT_HANDSHAKE, TLS_STATUS_CONNECTED,
                      TLS_STATUS_IDLE, TLS_STATUS_SERVER_HANDSHAKE)
from ..tls.connection import NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed, \
    HandshakeComplete
from ..tls.engines import new_connection
from ..ul.association import NEED_DATA as UL_NEED_DATA
from ..ul.association import (Aborted, AssociateRequested, Association, Established,
                             MessageReceived, Rejected, Released, ReleaseRequested)
from ..ul.pdu import AAbort, AReleaseRP, AReleaseRQ

log = logging.getLogger("dicomtls.net")

DICOM_IPTYPE_NONE, DICOM_IPTYPE_IPV4, DICOM_IPTYPE_IPV6, DICOM_IPTYPE_IPV4_OR_IPV6 = 0, 1, 2, 3
RECV_CHUNK = 256 * 1024
HANDSHAKE_TIMEOUT = 30.0



def _code(exc: BaseException, default: int = DICOM_ERROR_NET_FAILURE) -> int:
    if isinstance(exc, DicomTLSError):
        return exc.lead_code
    if isinstance(exc, ConnectionRefusedError):
        return DICOM_ERROR_NET_CONNECTION_REFUSED
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return DICOM_ERROR_NET_CONNECTION_RESET
    if isinstance(exc, socket.gaierror):
        return DICOM_ERROR_NET_HOST_NOT_FOUND
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return DICOM_ERROR_NET_TIME_OUT
    if isinstance(exc, OSError) and exc.errno in (101, 113):
        return DICOM_ERROR_NET_HOST_UN_REACH
    return default


class _Pending:
    __slots__ = ("done", "result")

    def __init__(self):
        self.done = threading.Event()
        self.result = DICOM_ERROR_NET_TIME_OUT



class IOThread:
    """The I/O thread and the send path of LDicomNet (mixin)."""

    def _submit(self, op, pdu_type: int) -> int:
        if not self._connected or self._closing:
            return DICOM_ERROR_NET_NOT_CONNECTED
        if threading.current_thread() is self._thread:
            return self._perform(op, pdu_type)
        pending = _Pending()
        thread = self._thread
        self._queue.append((op, pdu_type, pending))
        self._wake()
        deadline = time.monotonic() + self.send_timeout
        while not pending.done.wait(0.05):
            if thread is None or not thread.is_alive():  # ended before it saw our request
                return pending.result if pending.done.is_set() else DICOM_ERROR_NET_NOT_CONNECTED
            if time.monotonic() >= deadline:
                return DICOM_ERROR_NET_TIME_OUT
        return pending.result

    def _perform(self, op, pdu_type: int) -> int:
        """On the I/O thread: run a queued action, write what it produced, fire on_send."""
        if pdu_type is None:  # an event posted to this thread (a peer's on_close)
            op()
            return DICOM_SUCCESS
        if self._assoc is None and pdu_type != PDU_ASSOCIATE_REQUEST:
            return DICOM_ERROR_NET_NOT_CONNECTED
        try:
            op()
        except Exception as exc:  # noqa: BLE001 - send_* report codes, they never raise
            log.debug("LDicomNet send refused: %s", exc)
            code = exc.lead_code if isinstance(exc, DicomTLSError) else DICOM_ERROR_NET_FAILURE
            if isinstance(exc, LocalProtocolError) and code == DICOM_ERROR_TLS:
                code = DICOM_ERROR_NET_FAILURE  # misuse (wrong state, unknown context), not TLS
            return code
        try:
            n = self._flush()
        except (OSError, DicomTLSError) as exc:
            code = _code(exc, DICOM_ERROR_NET_CONNECTION_RESET)
            self._close_code = code
            self._fire("on_send", code, pdu_type, 0)
            return code
        self._fire("on_send", 0, pdu_type, n)
        return DICOM_SUCCESS

    def _drain_queue(self, result: Optional[int] = None) -> None:
        while self._queue:
            op, pdu_type, pending = self._queue.popleft()
            pending.result = result if result is not None else self._perform(op, pdu_type)
            pending.done.set()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    def _flush(self) -> int:
        """Association bytes -> TLS -> socket; small buffers coalesced (one record per PDU)."""
        if self._assoc is None or self._sock is None:
            return 0
        total = 0
        pending = bytearray()
        for buf in self._assoc.buffers_to_send():
            total += len(buf)
            if len(buf) >= 65536:
                if pending:
                    self._write(bytes(pending))
                    pending = bytearray()
                self._write(buf)
            else:
                pending += buf
        if pending:
            self._write(bytes(pending))
        return total

    def _write(self, data) -> None:
        if self._tls is not None:
            view = memoryview(data).cast("B")
            for start in range(0, len(view), 1 << 20):
                self._tls.send(view[start:start + (1 << 20)])
                self._sock.sendall(self._tls.data_to_send())
        else:
            self._sock.sendall(data)

    # ---- I/O threads ---------------------------------------------------------------------------
    def _run_client(self, host, host_port, peer, peer_port, ip_type) -> None:
        family = socket.AF_INET6 if ip_type == DICOM_IPTYPE_IPV6 else socket.AF_INET
        if ip_type == DICOM_IPTYPE_IPV4_OR_IPV6:
            family = socket.AF_UNSPEC
        try:
            infos = socket.getaddrinfo(peer, peer_port, family, socket.SOCK_STREAM)
            sock = socket.socket(infos[0][0], socket.SOCK_STREAM)
            try:
                sock.settimeout(HANDSHAKE_TIMEOUT)
                if host or host_port:
                    sock.bind((host or "", host_port or 0))
                sock.connect(infos[0][4])
            except BaseException:
                sock.close()
                raise
        except OSError as exc:
            self._release_sockets()
            self._fire("on_connect", _code(exc))
            return
        self._sock = sock
        self._connected = True
        self._fire("on_connect", DICOM_SUCCESS)
        self._serve("client")

    def _run_accepted(self) -> None:
        self._serve("server")

    def _serve(self, role: str) -> None:
        sock = self._sock
        try:
            self._peer_addr = sock.getpeername()[:2]
            self._host_addr = sock.getsockname()[:2]
            opts = self._socket_options
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(bool(opts["no_delay"])))
            if opts.get("send_buffer_size"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts["send_buffer_size"])
            if opts.get("receive_buffer_size"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts["receive_buffer_size"])
            sock.settimeout(self.send_timeout)  # bounds sendall; reads wait in select()
        except OSError:
            pass
        try:
            if self._secure_mode == DICOM_SECURE_TLS and not self._handshake(role):
                return
            if self._closing is None and role == "server":
                self._assoc = Association("acceptor")
            if self._tls is not None:
                self._feed(None)  # records that came in with the handshake's last flight
            self._loop()
        except Exception as exc:  # noqa: BLE001 - the I/O thread must end cleanly
            log.exception("LDicomNet I/O thread failed")
            self._close_code = _code(exc)
        finally:
            self._finish()

    def _handshake(self, role: str) -> bool:
        self._tls_status = TLS_STATUS_CLIENT_HANDSHAKE if role == "client" else \
            TLS_STATUS_SERVER_HANDSHAKE
        conn = None
        try:
            config = self._build_tls_config(
                role, lambda vc: self._fire("on_verify", *self._verify_args(vc), default=0),
                lambda size, flag: self._fire("on_private_key_password", size, flag))
            conn = new_connection(config, role)
            deadline = time.monotonic() + HANDSHAKE_TIMEOUT
            while True:
                event = conn.next_event()
                out = conn.data_to_send()
                if out:
                    self._sock.sendall(out)
                if isinstance(event, HandshakeComplete):
                    break
                if event is NEED_DATA:
                    if self._closing:
                        raise LocalProtocolError("closed during the TLS handshake")
                    left = deadline - time.monotonic()
                    ready = self._select(max(0.0, left)) if left > 0 else []
                    if not ready:
                        raise TimeoutError("TLS handshake timed out")
                    if self._sock in ready:
                        conn.receive_data(self._recv())
        except Exception as exc:  # noqa: BLE001 - reported as LEAD codes
            code = _code(exc, DICOM_ERROR_TLS)
            if conn is not None:
                try:  # the alert explaining the failure, if one is queued
                    self._sock.sendall(conn.data_to_send())
                except (OSError, DicomTLSError):
                    pass
            self._error_secure = code
            self._tls_status = TLS_STATUS_IDLE
            self._close_code = code
            self._fire("on_secure_link_ready", code)
            return False
        self._tls = conn
        self._session = conn.session
        self._tls_status = TLS_STATUS_CONNECTED
        self._error_secure = DICOM_SUCCESS
        self._fire("on_secure_link_ready", DICOM_SUCCESS)
        return True

    def _select(self, timeout: Optional[float]) -> list:
        ready, _, _ = select.select([self._sock, self._wake_r], [], [], timeout)
        if self._wake_r in ready:
            try:
                self._wake_r.recv(4096)
            except OSError:
                pass
        return ready

    def _recv(self) -> bytes:
        try:
            return self._sock.recv(RECV_CHUNK)
        except (ConnectionResetError, BrokenPipeError):
            self._close_code = DICOM_ERROR_NET_CONNECTION_RESET
            return b""

    def _loop(self) -> None:
        while True:
            self._drain_queue()
            if self._closing:
                return
            self._dispatch_events()
            if self._closing:
                return
            self._flush()
            a = self._assoc
            if a is not None and a.finished:
                self._close_code = self._close_code if self._close_code is not None else 0
                return
            if self._eof and (a is None or a.finished):
                if self._close_code is None:
                    self._close_code = 0
                return
            timeout = None
            if a is not None and a.artim_deadline() is not None:
                timeout = max(0.0, a.artim_deadline() - time.monotonic())
            ready = self._select(timeout)
            if self._sock in ready:
                self._feed(self._recv())
            if a is not None:
                a.check_timers()

    def _feed(self, data: Optional[bytes]) -> None:
        """Bytes from the socket (None: only drain what the TLS connection holds)."""
        if self._tls is None:
            self._feed_plain(data)
            return
        if data is not None:
            self._tls.receive_data(data)
        try:
            while True:
                ev = self._tls.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, ApplicationData):
                    self._feed_plain(ev.data)
                elif isinstance(ev, (CloseNotify, ConnectionClosed)):
                    self._feed_plain(b"")
                    break
        except DicomTLSError as exc:
            self._error_secure = exc.lead_code
            self._close_code = exc.lead_code
            self._feed_plain(b"")
        self._flush_tls()

    def _flush_tls(self) -> None:
        out = self._tls.data_to_send() if self._tls is not None else b""
        if out:
            try:
                self._sock.sendall(out)
            except OSError:
                pass

    def _feed_plain(self, data: bytes) -> None:
        if not data:
            if self._eof:
                return
            self._eof = True
        if self._assoc is not None:
            self._assoc.receive_data(data)
        elif data:  # bytes before any association on a requestor: nothing can use them
            log.warning("LDicomNet: %d unexpected bytes before A-ASSOCIATE-RQ", len(data))

    def _dispatch_events(self) -> None:
        a = self._assoc
        while a is not None:
            try:
                ev = a.next_event()
            except DicomTLSError as exc:
                self._close_code = exc.lead_code
                return
            if ev is UL_NEED_DATA:
                return
            self._dispatch(ev)
            self._flush()
            if self._closing:
                return

    def _dispatch(self, ev) -> None:
        a = self._assoc
        if isinstance(ev, AssociateRequested):
            self._associate = DicomAssociate.from_pdu(ev.request)
            raw = ev.request.encode()
            self._fire("on_receive", 0, PDU_ASSOCIATE_REQUEST, raw, len(raw))
            self._fire("on_receive_associate_request", self._associate)
        elif isinstance(ev, Established):
            if a.role == "requestor":
                self._associate = DicomAssociate.from_pdu(a.request_pdu, a.accept_pdu)
                raw = a.accept_pdu.encode()
                self._fire("on_receive", 0, PDU_ASSOCIATE_ACCEPT, raw, len(raw))
                self._fire("on_receive_associate_accept", self._associate)
        elif isinstance(ev, Rejected):
            if not ev.local:
                raw = ev.rj.encode()
                self._fire("on_receive", 0, PDU_ASSOCIATE_REJECT, raw, len(raw))
                self._fire("on_receive_associate_reject", ev.rj.result, ev.rj.source,
                           ev.rj.reason)
        elif isinstance(ev, MessageReceived):
            msg = self._command = ev.message
            command = msg.encode()
            self._fire("on_receive", 0, PDU_DATA, command,
                       len(command) + len(ev.dataset or b""))
            self._fire("on_receive_data", ev.context_id, msg, ev.dataset)
            name, args = RECEIVE_EVENTS.get(type(msg), ("on_receive_unknown", None))
            if args is None:
                self._fire(name, ev.context_id, msg, ev.dataset)
            else:
                self._fire(name, *args(ev.context_id, msg, ev.dataset))
        elif isinstance(ev, ReleaseRequested):
            raw = AReleaseRQ().encode()
            self._fire("on_receive", 0, PDU_RELEASE_REQUEST, raw, len(raw))
            self._fire("on_receive_release_request")
        elif isinstance(ev, Released):
            if not self._release_answered:
                raw = AReleaseRP().encode()
                self._fire("on_receive", 0, PDU_RELEASE_RESPONSE, raw, len(raw))
                self._fire("on_receive_release_response")
        elif isinstance(ev, Aborted):
            if ev.transport_closed and not ev.local:
                if self._close_code is None:
                    self._close_code = DICOM_ERROR_NET_CONNECTION_RESET
            elif not ev.local:
                raw = AAbort(ev.source, ev.reason if ev.source else 0).encode()
                self._fire("on_receive", 0, PDU_ABORT, raw, len(raw))
                self._fire("on_receive_abort", ev.source, ev.reason)
            elif ev.error is not None and self._close_code is None:
                self._close_code = _code(ev.error)

    def _run_listener(self) -> None:
        try:
            while not self._closing:
                self._drain_queue()
                ready, _, _ = select.select([self._listen_sock, self._wake_r], [], [], None)
                if self._wake_r in ready:
                    self._wake_r.recv(4096)
                if self._listen_sock in ready and not self._closing:
                    before = len(self._clients)
                    self._fire("on_accept", DICOM_SUCCESS)
                    if len(self._clients) == before:  # not accepted: refuse, do not spin
                        try:
                            self._listen_sock.accept()[0].close()
                        except OSError:
                            pass
        finally:
            self._drain_queue(DICOM_ERROR_NET_NOT_CONNECTED)
            self._release_sockets()

    def _finish(self) -> None:
        """End of a connection's I/O thread: close the transport, then on_close."""
        user = self._closing
        forced = user == "forced"
        if user == "graceful":
            try:
                self._drain_queue()
                self._flush()
            except (OSError, DicomTLSError):
                pass
        self._drain_queue(DICOM_ERROR_NET_NOT_CONNECTED)
        self._close_transport(forced)
        self._connected = False
        self._tls_status = TLS_STATUS_IDLE
        if user is None:
            code = self._close_code if self._close_code is not None else 0
            self._fire("on_close", code, self)
            parent = self._parent
            if parent is not None and parent.is_activated():
                parent._queue.append((lambda: parent._fire("on_close", code, self),
                                      None, _Pending()))
                parent._wake()

    def _close_transport(self, forced: bool) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            if not forced:
                if self._tls is not None:
                    try:
                        self._tls.close()
                        sock.sendall(self._tls.data_to_send())
                    except (DicomTLSError, OSError):
                        pass
                sock.shutdown(socket.SHUT_WR)
                if not self._eof:  # drain briefly so unread bytes do not turn into an RST
                    sock.settimeout(1.0)
                    while sock.recv(RECV_CHUNK):
                        pass
        except OSError:
            pass
        finally:
            self._release_sockets()

    def _release_sockets(self) -> None:
        for s in (self._sock, self._listen_sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


__all__ = ["HANDSHAKE_TIMEOUT", "IOThread"]
