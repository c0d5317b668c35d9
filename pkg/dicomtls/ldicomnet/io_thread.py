"""LDicomNet facade, I/O part: ``IOThread``, the background thread of one LDicomNet object.

An ``IOThread`` owns everything its thread touches: the socket, the transport
(``io.transport.PlainTransport``, or ``io.tls_socket.TLSSocket`` after the handshake), the
``io.transport.Driver`` that runs the ``Association`` over it, and the queue of work other threads
hand it. The I/O itself is the core's, the same as under ``associate``/``serve``: the handshake
with its deadline, ``write_buffers``, the Driver's reading and ARTIM. What this module adds is
LEAD's sequencing: which ``on_*`` event fires when, and with which LEAD code.

Work from another thread (``submit``) is queued, the ``Waker`` is fired, and the Driver, which
waits in one ``select`` for the peer or the waker, returns ``WOKEN``: the thread runs the queue,
then waits again. The caller waits on its job's event (``send_timeout``). Handlers run here.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import deque
from typing import Optional

from ..errors import DicomTLSError, LocalProtocolError, TLSError
from ..io import tls_socket
from ..io.transport import WOKEN, Driver, PlainTransport, Waker
from ..ul.association import (Aborted, AssociateRequested, Association, Established,
                              MessageReceived, Rejected, Released, ReleaseRequested)
from ..ul.pdu import AAbort, AReleaseRP, AReleaseRQ
from .codes import (DICOM_ERROR_NET_CONNECTION_RESET, DICOM_ERROR_NET_FAILURE,
                    DICOM_ERROR_NET_NOT_CONNECTED, DICOM_ERROR_NET_TIME_OUT, DICOM_ERROR_TLS,
                    DICOM_SUCCESS, lead_code)
from .events import (PDU_ABORT, PDU_ASSOCIATE_ACCEPT, PDU_ASSOCIATE_REJECT, PDU_ASSOCIATE_REQUEST,
                     PDU_DATA, PDU_RELEASE_REQUEST, PDU_RELEASE_RESPONSE, RECEIVE_EVENTS,
                     DicomAssociate)
from .tls_settings import (TLS_STATUS_CLIENT_HANDSHAKE, TLS_STATUS_CONNECTED, TLS_STATUS_IDLE,
                           TLS_STATUS_SERVER_HANDSHAKE, verify_args)
from ..io.readiness import readable

log = logging.getLogger("dicomtls.ldicomnet")

DICOM_IPTYPE_NONE, DICOM_IPTYPE_IPV4, DICOM_IPTYPE_IPV6, DICOM_IPTYPE_IPV4_OR_IPV6 = 0, 1, 2, 3
#: Bounds the TCP connect and, as a whole, the TLS handshake.
HANDSHAKE_TIMEOUT = 30.0


class _Job:
    """Work queued for the I/O thread (``pdu_type`` None: an event posted to it), and its
    outcome for the thread that queued it."""

    __slots__ = ("action", "pdu_type", "done", "result")

    def __init__(self, action, pdu_type: Optional[int]):
        self.action, self.pdu_type = action, pdu_type
        self.done = threading.Event()
        self.result = DICOM_ERROR_NET_NOT_CONNECTED


class IOThread:
    """The I/O thread of one ``LDicomNet`` (``net``): a connection or a listener."""

    def __init__(self, net):
        self.net = net
        self.thread: Optional[threading.Thread] = None
        self.waker: Optional[Waker] = None
        self._lock = threading.Lock()
        self._queue: deque = deque()
        self._accepting = False          # jobs are taken (the thread runs); under _lock
        self.sock: Optional[socket.socket] = None
        self.listen_sock: Optional[socket.socket] = None
        self.transport = None
        self.driver: Optional[Driver] = None
        self.connected = False
        self.handshaking = False
        self.closing: Optional[str] = None     # "graceful" | "forced": the user asked
        self.close_code: Optional[int] = None  # why the connection ended (None: not yet)
        self.release_answered = False
        self.associate: Optional[DicomAssociate] = None  # the last A-ASSOCIATE-RQ/AC, LEAD's view
        self.command = None                              # the last DIMSE message received
        self.peer_addr = self.host_addr = ("", 0)

    @property
    def assoc(self) -> Optional[Association]:
        return self.driver.assoc if self.driver is not None else None

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def queued(self) -> int:
        return len(self._queue)

    # ---- starting ------------------------------------------------------------------------------
    def _start(self, target, name: str, *args) -> None:
        self.waker = Waker()
        with self._lock:
            self._accepting = True
        self.thread = threading.Thread(target=target, name=name, args=args, daemon=True)
        self.thread.start()

    def start_client(self, host, host_port, peer, peer_port, ip_type) -> None:
        self._start(self._run_client, "LDicomNet-client", host, host_port, peer, peer_port,
                    ip_type)

    def start_accepted(self, sock: socket.socket) -> None:
        self.sock = sock
        self.connected = True
        self._start(self._serve, "LDicomNet-peer", "server")

    def start_listener(self, sock: socket.socket) -> None:
        self.listen_sock = sock
        self.host_addr = sock.getsockname()[:2]
        self._start(self._run_listener, "LDicomNet-listener")

    # ---- work from any thread --------------------------------------------------------------------
    def submit(self, action, pdu_type: int) -> int:
        """Run ``action`` (it changes the Association) on the I/O thread, write what it produced,
        fire on_send; 0 or a LEAD code. From another thread: queued, and the caller waits up to
        ``send_timeout`` for the outcome."""
        if not self.connected or self.closing:
            return DICOM_ERROR_NET_NOT_CONNECTED
        if threading.current_thread() is self.thread:
            return self._perform(action, pdu_type)
        job = _Job(action, pdu_type)
        if not self._enqueue(job):
            return DICOM_ERROR_NET_NOT_CONNECTED
        if not job.done.wait(self.net.send_timeout):
            return DICOM_ERROR_NET_TIME_OUT
        return job.result

    def post(self, action) -> None:
        """Run ``action`` on the I/O thread (an event for this object's handlers); dropped
        when the thread has ended."""
        self._enqueue(_Job(action, None))

    def _enqueue(self, job: _Job) -> bool:
        with self._lock:
            if not self._accepting:  # the thread has ended (or is ending): nobody would run it
                return False
            self._queue.append(job)
        self.waker.wake()
        return True

    def _run_queued(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                job = self._queue.popleft()
            job.result = self._perform(job.action, job.pdu_type)
            job.done.set()

    def _stop_accepting(self) -> list:
        """No more jobs; the ones still queued (each must still be answered)."""
        with self._lock:
            self._accepting = False
            jobs, self._queue = list(self._queue), deque()
        return jobs

    def _perform(self, action, pdu_type: Optional[int]) -> int:
        """On the I/O thread: run an action, write what it produced, fire on_send."""
        if pdu_type is None:  # an event posted to this thread (a peer's on_close)
            action()
            return DICOM_SUCCESS
        if self.driver is None or (self.assoc is None and pdu_type != PDU_ASSOCIATE_REQUEST):
            return DICOM_ERROR_NET_NOT_CONNECTED
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - send_* report codes, they never raise
            log.debug("LDicomNet send refused: %s", exc)
            code = lead_code(exc) if isinstance(exc, DicomTLSError) else DICOM_ERROR_NET_FAILURE
            if isinstance(exc, LocalProtocolError) and code == DICOM_ERROR_TLS:
                code = DICOM_ERROR_NET_FAILURE  # misuse (wrong state, unknown context), not TLS
            return code
        try:
            n = self.driver.flush()
        except (OSError, DicomTLSError) as exc:
            code = lead_code(exc, DICOM_ERROR_NET_CONNECTION_RESET)
            self.close_code = code
            self.net._fire("on_send", code, pdu_type, 0)
            return code
        self.net._fire("on_send", DICOM_SUCCESS, pdu_type, n)
        return DICOM_SUCCESS

    # ---- a connection ----------------------------------------------------------------------------
    def _run_client(self, host, host_port, peer, peer_port, ip_type) -> None:
        family = {DICOM_IPTYPE_IPV6: socket.AF_INET6,
                  DICOM_IPTYPE_IPV4_OR_IPV6: socket.AF_UNSPEC}.get(ip_type, socket.AF_INET)
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
            for job in self._stop_accepting():
                job.done.set()  # NOT_CONNECTED
            self.waker.close()
            self.net._fire("on_connect", lead_code(exc))
            return
        self.sock = sock
        self.connected = True
        if not self.net._tls.secure:
            # Before on_connect: its handler may send the A-ASSOCIATE-RQ at once.
            self._attach(PlainTransport(sock), "client")
        self.net._fire("on_connect", DICOM_SUCCESS)
        self._serve("client")

    def _serve(self, role: str) -> None:
        try:
            self.peer_addr = self.sock.getpeername()[:2]
            self.host_addr = self.sock.getsockname()[:2]
        except OSError:
            pass
        try:
            if self.closing:
                return
            if self.driver is None:
                if not self.net._tls.secure:
                    self._attach(PlainTransport(self.sock), role)
                elif not self._handshake(role):
                    return
            self._loop()
        except Exception as exc:  # noqa: BLE001 - the I/O thread must end cleanly
            log.exception("LDicomNet I/O thread failed")
            self.close_code = lead_code(exc)
        finally:
            self._finish()

    def _attach(self, transport, role: str) -> None:
        """The connection is ready: its transport, and the Driver the rest runs on (an
        acceptor's Association starts now; a requestor's with send_associate_request)."""
        self.transport = transport
        self._apply_socket_options(transport.sock)
        assoc = Association("acceptor") if role == "server" else None
        # No read timeout: LEAD connections stay open until closed; ARTIM still applies.
        self.driver = Driver(transport, assoc, None, wakeup=self.waker)

    def _apply_socket_options(self, sock: socket.socket) -> None:
        opts = self.net._socket_options
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(bool(opts["no_delay"])))
            if opts.get("send_buffer_size"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, opts["send_buffer_size"])
            if opts.get("receive_buffer_size"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts["receive_buffer_size"])
            sock.settimeout(self.net.send_timeout)  # bounds writes; reads wait in the Driver
        except OSError:
            pass

    def _handshake(self, role: str) -> bool:
        """The TLS handshake (``tls_socket``, bounded by HANDSHAKE_TIMEOUT), then
        on_secure_link_ready with 0 or the failure's LEAD code."""
        net, settings = self.net, self.net._tls
        settings.status = TLS_STATUS_CLIENT_HANDSHAKE if role == "client" else \
            TLS_STATUS_SERVER_HANDSHAKE
        self.handshaking = True
        try:
            if self.closing:  # close() came before it could interrupt the handshake
                raise LocalProtocolError("closed before the TLS handshake")
            config = settings.config(
                role, lambda vc: net._fire("on_verify", *verify_args(vc), default=0),
                lambda size, flag: net._fire("on_private_key_password", size, flag))
            handshake = tls_socket.client_handshake if role == "client" else \
                tls_socket.server_handshake
            transport = handshake(self.sock, config, timeout=HANDSHAKE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - reported as LEAD codes
            code = lead_code(exc, DICOM_ERROR_TLS)
            settings.error_secure = self.close_code = code
            settings.status = TLS_STATUS_IDLE
            net._fire("on_secure_link_ready", code)
            return False
        finally:
            self.handshaking = False
        settings.session = transport.session
        settings.status = TLS_STATUS_CONNECTED
        settings.error_secure = DICOM_SUCCESS
        self._attach(transport, role)
        net._fire("on_secure_link_ready", DICOM_SUCCESS)
        return True

    def _loop(self) -> None:
        driver = self.driver
        while True:
            self._run_queued()
            if self.closing:
                return
            try:
                event = driver.next_event()
            except (DicomTLSError, OSError) as exc:
                code = lead_code(exc)
                if isinstance(exc, TLSError):
                    self.net._tls.error_secure = code
                self.close_code = code
                return
            if event is WOKEN:
                continue
            if event is None:  # the association is over (or the peer closed before one)
                if self.close_code is None:
                    self.close_code = DICOM_SUCCESS
                return
            self._dispatch(event)

    def _dispatch(self, ev) -> None:
        """One Association event as LEAD's events: on_receive, then the specific one."""
        net, a = self.net, self.assoc
        if isinstance(ev, AssociateRequested):
            self.associate = DicomAssociate.from_pdu(ev.request)
            raw = ev.request.encode()
            net._fire("on_receive", 0, PDU_ASSOCIATE_REQUEST, raw, len(raw))
            net._fire("on_receive_associate_request", self.associate)
        elif isinstance(ev, Established):
            if a.role == "requestor":
                self.associate = DicomAssociate.from_pdu(a.request_pdu, a.accept_pdu)
                raw = a.accept_pdu.encode()
                net._fire("on_receive", 0, PDU_ASSOCIATE_ACCEPT, raw, len(raw))
                net._fire("on_receive_associate_accept", self.associate)
        elif isinstance(ev, Rejected):
            if not ev.local:
                raw = ev.rj.encode()
                net._fire("on_receive", 0, PDU_ASSOCIATE_REJECT, raw, len(raw))
                net._fire("on_receive_associate_reject", ev.rj.result, ev.rj.source,
                          ev.rj.reason)
        elif isinstance(ev, MessageReceived):
            msg = self.command = ev.message
            command = msg.encode()
            net._fire("on_receive", 0, PDU_DATA, command, len(command) + len(ev.dataset or b""))
            net._fire("on_receive_data", ev.context_id, msg, ev.dataset)
            name, args = RECEIVE_EVENTS.get(type(msg), ("on_receive_unknown", None))
            if args is None:
                net._fire(name, ev.context_id, msg, ev.dataset)
            else:
                net._fire(name, *args(ev.context_id, msg, ev.dataset))
        elif isinstance(ev, ReleaseRequested):
            raw = AReleaseRQ().encode()
            net._fire("on_receive", 0, PDU_RELEASE_REQUEST, raw, len(raw))
            net._fire("on_receive_release_request")
        elif isinstance(ev, Released):
            if not self.release_answered:
                raw = AReleaseRP().encode()
                net._fire("on_receive", 0, PDU_RELEASE_RESPONSE, raw, len(raw))
                net._fire("on_receive_release_response")
        elif isinstance(ev, Aborted):
            if ev.transport_closed and not ev.local:
                if self.close_code is None:
                    self.close_code = DICOM_ERROR_NET_CONNECTION_RESET
            elif not ev.local:
                raw = AAbort(ev.source, ev.reason if ev.source else 0).encode()
                net._fire("on_receive", 0, PDU_ABORT, raw, len(raw))
                net._fire("on_receive_abort", ev.source, ev.reason)
            elif ev.error is not None and self.close_code is None:
                self.close_code = lead_code(ev.error)

    # ---- a listener ------------------------------------------------------------------------------
    def _run_listener(self) -> None:
        listener = self.listen_sock
        try:
            while not self.closing:
                self._run_queued()
                ready = readable([listener, self.waker])
                if self.waker in ready:
                    self.waker.clear()
                if listener in ready and not self.closing:
                    before = len(self.net._clients)
                    self.net._fire("on_accept", DICOM_SUCCESS)
                    if len(self.net._clients) == before:  # not accepted: refuse, do not spin
                        try:
                            listener.accept()[0].close()
                        except OSError:
                            pass
        finally:
            for job in self._stop_accepting():
                job.done.set()  # NOT_CONNECTED
            self.release_sockets()
            self.waker.close()

    # ---- ending ----------------------------------------------------------------------------------
    def request_close(self, how: str) -> None:
        """``close`` (graceful: queued work and the association's bytes go out first, then
        close_notify) or ``close_forced`` (at once); joins the thread unless called on it."""
        self.closing = self.closing or how
        thread = self.thread
        if thread is None:
            self.release_sockets()
            return
        if self.handshaking:
            # The handshake waits on the socket alone (with its deadline): end that wait.
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.waker is not None:
            self.waker.wake()
        if thread is not threading.current_thread():
            thread.join(self.net.send_timeout)

    def _finish(self) -> None:
        """End of a connection's thread: answer queued jobs, close the transport, on_close."""
        how = self.closing
        for job in self._stop_accepting():
            if how == "graceful":
                job.result = self._perform(job.action, job.pdu_type)
            job.done.set()
        if self.driver is not None:
            if how == "graceful":
                try:
                    self.driver.flush()
                except (OSError, DicomTLSError):
                    pass
            self.driver.close(force=how == "forced")
        self.release_sockets()
        self.waker.close()
        self.connected = False
        self.net._tls.status = TLS_STATUS_IDLE
        if how is None:  # the peer or an error ended it: LEAD reports that, not our own close
            code = self.close_code if self.close_code is not None else DICOM_SUCCESS
            net, parent = self.net, self.net._parent
            net._fire("on_close", code, net)
            if parent is not None:
                parent._io.post(lambda: parent._fire("on_close", code, net))

    def release_sockets(self) -> None:
        for s in (self.sock, self.listen_sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


__all__ = ["DICOM_IPTYPE_IPV4", "DICOM_IPTYPE_IPV4_OR_IPV6", "DICOM_IPTYPE_IPV6",
           "DICOM_IPTYPE_NONE", "HANDSHAKE_TIMEOUT", "IOThread"]
