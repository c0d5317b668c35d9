"""``LDicomNet``: a LEADTOOLS-style DICOM network object over dicomtls' Association and TLS layer.

For code ported from LEADTOOLS (mapping: ``docs/ldicomnet-mapping.md``). Each object is one TCP
connection (or one listening socket). As in LEAD's UNIX builds, one background I/O thread per
active object runs the socket, the sans-IO TLS connection and the sans-IO ``Association``, and
calls the ``on_*`` handlers on that thread, in LEAD's order:

    connect() -> on_connect(0) -> [TLS: on_private_key_password, on_verify per peer certificate,
    on_secure_link_ready(0 | code)] -> on_receive + on_receive_associate_* / on_receive_data +
    on_receive_c_* ... -> on_close(code, net)        (on_close only when the peer or an error
                                                       ended the connection, not after close())
    listen() -> on_accept(0) on the listener, whose handler calls accept(LDicomNet(...)); the
    handshake and everything after it fire on that accepted object; when it ends, the listener
    also gets on_close(code, peer).

``send_*`` may be called from any thread: from the I/O thread (inside a handler) they run at
once, from another thread they are queued to the I/O thread (socketpair wakeup) and the caller
waits (``send_timeout``) for the outcome. They return 0 or a LEAD error code and never raise for
network or protocol errors. Only the I/O thread ever touches the socket, TLS connection and
Association.
"""


from __future__ import annotations

import logging
import threading
import time
from collections import deque
import socket
from typing import Optional

from ..errors import DicomTLSError, LocalProtocolError
from ..io import tls_socket
from .dimse_sends import DimseSends, encode_dataset
from .events import (PDU_ABORT, PDU_ASSOCIATE_ACCEPT, PDU_ASSOCIATE_REJECT,
                         PDU_ASSOCIATE_REQUEST, PDU_RELEASE_REQUEST, PDU_RELEASE_RESPONSE,
                         DicomAssociate, EventHooks)
from .io_thread import (DICOM_IPTYPE_IPV4, DICOM_IPTYPE_IPV4_OR_IPV6, DICOM_IPTYPE_IPV6,
                     DICOM_IPTYPE_NONE, IOThread, _code)
from .tls_settings import (DICOM_ERROR_NET_FAILURE, DICOM_ERROR_NET_NOT_CONNECTED,
                      DICOM_SECURE_NONE, DICOM_SUCCESS, SslCtxCreate, TLSSettings)
from ..tls.check import check_config
from ..ul.association import Association
from ..ul.negotiation import DEFAULT_MAX_PDU_LENGTH


log = logging.getLogger(__name__)


def _host(address: Optional[str], ip_type: int) -> str:
    if address in (None, ""):
        return "::1" if ip_type == DICOM_IPTYPE_IPV6 else "127.0.0.1"
    if address == "*":
        return "::" if ip_type == DICOM_IPTYPE_IPV6 else "0.0.0.0"
    return address


class LDicomNet(IOThread, DimseSends, TLSSettings, EventHooks):
    """LEAD's ``LDicomNet`` (C++) / ``DicomNet`` (.NET). ``mode``: DICOM_SECURE_NONE or
    DICOM_SECURE_TLS (ISCL raises SecureModeNotSupportedError). ``ctx_settings``: the
    ``L_SSL_CTX_CREATE`` of the 3-argument constructor + ``Initialize``. ``handlers``: {event
    name: callable}, snake_case or LEAD CamelCase."""

    def __init__(self, path: Optional[str] = None, mode: int = DICOM_SECURE_NONE,
                 ctx_settings: Optional[SslCtxCreate] = None, *, handlers=None,
                 send_timeout: float = 30.0):
        self._init_tls(mode, ctx_settings)
        self._install_handlers(handlers)
        self.path = path
        self.send_timeout = send_timeout
        self._queue: deque = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: Optional[threading.Thread] = None
        self._sock: Optional[socket.socket] = None
        self._listen_sock: Optional[socket.socket] = None
        self._tls = None
        self._assoc: Optional[Association] = None
        self._associate: Optional[DicomAssociate] = None
        self._command = None
        self._connected = False
        self._closing: Optional[str] = None     # "graceful" | "forced": the user asked
        self._close_code: Optional[int] = None  # why the connection ended (None: not yet)
        self._release_answered = False
        self._eof = False
        self._parent: Optional["LDicomNet"] = None
        self._clients: list = []
        self._peer_addr = self._host_addr = ("", 0)
        self._socket_options = self.get_default_socket_options()
        self._flags = 0

    # ---- process-wide (LEAD StartUp/ShutDown/Breathe) ----------------------------------------
    @staticmethod
    def start_up() -> int:
        return DICOM_SUCCESS

    @staticmethod
    def shut_down() -> None:
        return None

    @staticmethod
    def breathe() -> None:
        """Windows builds pump messages here; our I/O threads need no pumping."""
        time.sleep(0)

    # ---- connection ---------------------------------------------------------------------------
    def connect(self, host_address: Optional[str], host_port: int, peer_address: str,
                peer_port: int, ip_type: int = DICOM_IPTYPE_IPV4) -> int:
        """Starts the I/O thread, which connects; returns at once (on_connect reports)."""
        if self.is_activated():
            return DICOM_ERROR_NET_FAILURE
        self._thread = threading.Thread(
            target=self._run_client, name="LDicomNet-client", daemon=True,
            args=(host_address, host_port, peer_address, peer_port, ip_type))
        self._thread.start()
        return DICOM_SUCCESS

    def listen(self, host_address: Optional[str], host_port: int, nb_peers: int = 16,
               ip_type: int = DICOM_IPTYPE_IPV4) -> int:
        """``""``/None = loopback, ``"*"`` = every interface, port 0 = any free port."""
        if self.is_activated():
            return DICOM_ERROR_NET_FAILURE
        rc = self._check_server_credentials()
        if rc != DICOM_SUCCESS:
            return rc
        try:
            sock = tls_socket.listen(_host(host_address, ip_type), host_port, max(1, nb_peers))
        except OSError as exc:
            return _code(exc)
        sock.setblocking(False)
        self._listen_sock = sock
        self._host_addr = sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._run_listener, name="LDicomNet-listener",
                                        daemon=True)
        self._thread.start()
        return DICOM_SUCCESS

    def _check_server_credentials(self) -> int:
        """A TLS listener with a server certificate loads it (asking ``on_private_key_password``)
        and its trust store before binding: a wrong password or a broken file is the code of
        ``listen`` instead of a failed handshake with the first peer. Without a certificate
        here the accepted objects carry their own, checked at their handshake as in LEAD."""
        if self._secure_mode == DICOM_SECURE_NONE or self._server_cert is None:
            return DICOM_SUCCESS
        try:
            config = self._build_tls_config(
                "server", lambda vc: True,
                lambda size, flag: self._fire("on_private_key_password", size, flag))
            check_config(config, "server")
        except DicomTLSError as exc:
            log.error("LDicomNet.listen: %s: %s", type(exc).__name__, exc)
            return _code(exc)
        return DICOM_SUCCESS

    def accept(self, peer_net: "LDicomNet") -> int:
        """On the listener (usually from on_accept): hand the pending connection to
        ``peer_net`` (configured with a server certificate for TLS), which starts its thread."""
        if self._listen_sock is None:
            return DICOM_ERROR_NET_NOT_CONNECTED
        if peer_net.is_activated():
            return DICOM_ERROR_NET_FAILURE
        try:
            sock, _addr = self._listen_sock.accept()
        except (BlockingIOError, InterruptedError):
            return DICOM_ERROR_NET_NOT_CONNECTED
        except OSError as exc:
            return _code(exc)
        sock.setblocking(True)
        peer_net._parent = self
        self._clients.append(peer_net)
        peer_net._sock = sock
        peer_net._connected = True
        peer_net._thread = threading.Thread(target=peer_net._run_accepted,
                                            name="LDicomNet-peer", daemon=True)
        peer_net._thread.start()
        return DICOM_SUCCESS

    def close(self) -> int:
        """Flush what is queued, end TLS with close_notify, close. No on_close follows."""
        return self._request_close("graceful")

    def close_forced(self, forced: bool = True) -> int:
        """``forced``: close at once, dropping queued data; else as ``close``."""
        return self._request_close("forced" if forced else "graceful")

    def server_close(self) -> int:
        """Stop listening (the accepted objects keep running)."""
        return self.close() if self._listen_sock is not None else DICOM_ERROR_NET_NOT_CONNECTED

    def _request_close(self, how: str) -> int:
        self._closing = self._closing or how
        thread = self._thread
        if thread is None:
            self._release_sockets()
            return DICOM_SUCCESS
        self._wake()
        if thread is not threading.current_thread():
            thread.join(self.send_timeout)
        return DICOM_SUCCESS

    def join(self, timeout: Optional[float] = None) -> bool:
        """dicomtls extension: wait until the I/O thread has ended; True if it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # ---- state / info ------------------------------------------------------------------------
    def is_activated(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def is_connected(self) -> bool:
        return self._connected

    def is_associated(self) -> bool:
        a = self._assoc
        return a is not None and a.is_established

    def get_peer_info(self) -> tuple:
        """``(address, port)`` of the peer (LEAD fills a buffer and a port pointer)."""
        return self._peer_addr

    def get_host_info(self) -> tuple:
        return self._host_addr

    def get_associate(self) -> Optional[DicomAssociate]:
        return self._associate

    def get_command_set(self):
        """The last DIMSE command received (a ``dimse.messages`` object)."""
        return self._command

    def get_queue_send(self) -> int:
        return len(self._queue)

    def get_server(self) -> Optional["LDicomNet"]:
        return self._parent

    def get_client_count(self) -> int:
        return sum(1 for c in self._clients if c.is_connected())

    def get_client(self, index: int) -> Optional["LDicomNet"]:
        live = [c for c in self._clients if c.is_connected()]
        return live[index] if 0 <= index < len(live) else None

    @staticmethod
    def get_default_socket_options() -> dict:
        return {"no_delay": True, "send_buffer_size": 0, "receive_buffer_size": 0}

    def get_socket_options(self) -> dict:
        return dict(self._socket_options)

    def set_socket_options(self, options: dict) -> int:
        """Applied when the connection opens; sizes 0 keep the system defaults."""
        self._socket_options.update(options)
        return DICOM_SUCCESS

    def set_flags(self, flags: int) -> None:
        self._flags = flags

    def get_flags(self) -> int:
        return self._flags

    def enable_optimized_send(self, enable: bool = True) -> None:
        """Our sends are always zero-copy and coalesced; accepted for compatibility."""

    def enable_reference_counting(self, enable: bool = True) -> None:
        """Python objects are reference counted already; accepted for compatibility."""

    # ---- association -------------------------------------------------------------------------
    def send_associate_request(self, associate: DicomAssociate) -> int:
        def op():
            if self._assoc is not None and not self._assoc.finished:
                raise LocalProtocolError("an association is already in progress")
            self._assoc = Association("requestor",
                                      max_pdu_length=associate.max_length or DEFAULT_MAX_PDU_LENGTH)
            self._release_answered = False
            self._associate = associate
            self._assoc.request(associate.called_ae, associate.calling_ae,
                                associate._rq_contexts())
        return self._submit(op, PDU_ASSOCIATE_REQUEST)

    def send_associate_accept(self, associate: Optional[DicomAssociate] = None) -> int:
        """Answer the request with ``associate`` (default: the one given to
        on_receive_associate_request, as the handler left it)."""
        def op():
            a = associate or self._associate
            if a is None:
                raise LocalProtocolError("no A-ASSOCIATE-RQ to accept")
            if a.max_length and a.max_length < self._assoc.max_pdu_length:
                self._assoc.max_pdu_length = a.max_length  # announce less than we can take
            self._assoc.accept(a.ac_contexts())
            self._associate = DicomAssociate.from_pdu(self._assoc.request_pdu,
                                                      self._assoc.accept_pdu)
        return self._submit(op, PDU_ASSOCIATE_ACCEPT)

    def send_associate_reject(self, result: int, source: int, reason: int) -> int:
        return self._submit(lambda: self._assoc.reject(result, source, reason),
                            PDU_ASSOCIATE_REJECT)

    def send_release_request(self) -> int:
        return self._submit(lambda: self._assoc.release(), PDU_RELEASE_REQUEST)

    def send_release_response(self) -> int:
        def op():
            self._release_answered = True
            self._assoc.release()
        return self._submit(op, PDU_RELEASE_RESPONSE)

    def send_abort(self, source: int = 0, reason: int = 0) -> int:
        """A-ABORT. The Association sends service-user aborts only: ``source``/``reason`` are
        sent as 0/0 whatever is given (see the mapping document)."""
        return self._submit(lambda: self._assoc.abort(), PDU_ABORT)

    def send_data(self, pid: int, command, dataset=None) -> int:
        """``SendData``: any DIMSE message object (``dimse.messages``) plus its data set."""
        return self._send_message(pid, command, dataset)


    def __repr__(self):
        kind = "listener" if self._listen_sock is not None else "connection"
        return f"<LDicomNet {kind} {self._peer_addr} connected={self._connected}>"


DicomNet = LDicomNet

__all__ = ["DICOM_IPTYPE_IPV4", "DICOM_IPTYPE_IPV4_OR_IPV6", "DICOM_IPTYPE_IPV6",
           "DICOM_IPTYPE_NONE", "DicomAssociate", "DicomNet", "LDicomNet", "encode_dataset"]
