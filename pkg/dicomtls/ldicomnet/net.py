"""``LDicomNet``: a LEADTOOLS-style DICOM network object over dicomtls' Association and TLS layer.

For code ported from LEADTOOLS (mapping: ``docs/ldicomnet-mapping.md``). Each object is one TCP
connection (or one listening socket). As in LEAD's UNIX builds, one background I/O thread per
active object (``io_thread.IOThread``) runs the connection on dicomtls' I/O core (the transport
and Driver under ``associate``/``serve`` too) and calls the ``on_*`` handlers on that thread, in
LEAD's order:

    connect() -> on_connect(0) -> [TLS: on_private_key_password, on_verify per peer certificate,
    on_secure_link_ready(0 | code)] -> on_receive + on_receive_associate_* / on_receive_data +
    on_receive_c_* ... -> on_close(code, net)        (on_close only when the peer or an error
                                                       ended the connection, not after close())
    listen() -> on_accept(0) on the listener, whose handler calls accept(LDicomNet(...)); the
    handshake and everything after it fire on that accepted object; when it ends, the listener
    also gets on_close(code, peer).

``send_*`` may be called from any thread: from the I/O thread (inside a handler) they run at
once, from another thread they are queued to the I/O thread (which wakes for them) and the
caller waits (``send_timeout``) for the outcome. They return 0 or a LEAD error code and never
raise for network or protocol errors. Only the I/O thread touches the socket, the TLS connection
and the Association.

An LDicomNet is made of parts it owns: its ``TLSSettings`` (``_tls``) and, per connection or
listener, its ``IOThread`` (``_io``). The LEAD members below are its public face and delegate to
them; the ``on_*`` hooks (``events.EventHooks``) and the DIMSE sends (``dimse_sends.DimseSends``,
built on ``send_data``) are bases without state.
"""

from __future__ import annotations

import logging
from typing import Optional

from ..dimse import messages as m
from ..errors import DicomTLSError, LocalProtocolError
from ..io import tls_socket
from ..tls.check import check_config
from ..ul.association import Association
from ..ul.negotiation import DEFAULT_MAX_PDU_LENGTH
from .codes import (DICOM_ERROR_BAD_SECURE_MODE, DICOM_ERROR_NET_FAILURE,
                    DICOM_ERROR_NET_NOT_CONNECTED, DICOM_SUCCESS, SecureModeNotSupportedError,
                    lead_code)
from .dimse_sends import DimseSends, encode_dataset
from .events import (PDU_ABORT, PDU_ASSOCIATE_ACCEPT, PDU_ASSOCIATE_REJECT, PDU_ASSOCIATE_REQUEST,
                     PDU_DATA, PDU_RELEASE_REQUEST, PDU_RELEASE_RESPONSE, DicomAssociate,
                     EventHooks)
from .io_thread import (DICOM_IPTYPE_IPV4, DICOM_IPTYPE_IPV4_OR_IPV6, DICOM_IPTYPE_IPV6,
                        DICOM_IPTYPE_NONE, IOThread)
from .suites import (encryption_method, key_exchange_method, mac_method, mutual_auth_method,
                     to_suite)
from .tls_settings import (DICOM_SECURE_NONE, FLAG_SSL_CTX_CREATE_METHOD_TYPE,
                           FLAG_SSL_CTX_CREATE_OPTIONS, TLS_STATUS_CONNECTED, SslCtxCreate,
                           TLSSettings, check_ctx)

log = logging.getLogger("dicomtls.ldicomnet")


def _host(address: Optional[str], ip_type: int) -> str:
    if address in (None, ""):
        return "::1" if ip_type == DICOM_IPTYPE_IPV6 else "127.0.0.1"
    if address == "*":
        return "::" if ip_type == DICOM_IPTYPE_IPV6 else "0.0.0.0"
    return address


class LDicomNet(EventHooks, DimseSends):
    """LEAD's ``LDicomNet`` (C++) / ``DicomNet`` (.NET). ``mode``: DICOM_SECURE_NONE or
    DICOM_SECURE_TLS (ISCL raises SecureModeNotSupportedError). ``ctx_settings``: the
    ``L_SSL_CTX_CREATE`` of the 3-argument constructor + ``Initialize``. ``handlers``: {event
    name: callable}, snake_case or LEAD CamelCase."""

    def __init__(self, path: Optional[str] = None, mode: int = DICOM_SECURE_NONE,
                 ctx_settings: Optional[SslCtxCreate] = None, *, handlers=None,
                 send_timeout: float = 30.0):
        self._tls = TLSSettings(mode, ctx_settings)
        self._io = IOThread(self)
        self._install_handlers(handlers)
        self.path = path
        self.send_timeout = send_timeout
        self._parent: Optional["LDicomNet"] = None
        self._clients: list = []
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

    # ---- connection ---------------------------------------------------------------------------
    def connect(self, host_address: Optional[str], host_port: int, peer_address: str,
                peer_port: int, ip_type: int = DICOM_IPTYPE_IPV4) -> int:
        """Starts the I/O thread, which connects; returns at once (on_connect reports)."""
        if self.is_activated():
            return DICOM_ERROR_NET_FAILURE
        self._io = IOThread(self)
        self._io.start_client(host_address, host_port, peer_address, peer_port, ip_type)
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
            return lead_code(exc)
        sock.setblocking(False)
        self._io = IOThread(self)
        self._io.start_listener(sock)
        return DICOM_SUCCESS

    def _check_server_credentials(self) -> int:
        """A TLS listener with a server certificate loads it (asking ``on_private_key_password``)
        and its trust store before binding: a wrong password or a broken file is the code of
        ``listen`` instead of a failed handshake with the first peer. Without a certificate
        here the accepted objects carry their own, checked at their handshake as in LEAD."""
        if not self._tls.secure or self._tls.server_certificate is None:
            return DICOM_SUCCESS
        try:
            config = self._tls.config(
                "server", lambda vc: True,
                lambda size, flag: self._fire("on_private_key_password", size, flag))
            check_config(config, "server")
        except DicomTLSError as exc:
            log.error("LDicomNet.listen: %s: %s", type(exc).__name__, exc)
            return lead_code(exc)
        return DICOM_SUCCESS

    def accept(self, peer_net: "LDicomNet") -> int:
        """On the listener (usually from on_accept): hand the pending connection to
        ``peer_net`` (configured with a server certificate for TLS), which starts its thread."""
        listener = self._io.listen_sock
        if listener is None:
            return DICOM_ERROR_NET_NOT_CONNECTED
        if peer_net.is_activated():
            return DICOM_ERROR_NET_FAILURE
        try:
            sock, _addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return DICOM_ERROR_NET_NOT_CONNECTED
        except OSError as exc:
            return lead_code(exc)
        sock.setblocking(True)
        peer_net._parent = self
        self._clients.append(peer_net)
        peer_net._io = IOThread(peer_net)
        peer_net._io.start_accepted(sock)
        return DICOM_SUCCESS

    def close(self) -> int:
        """Flush what is queued, end TLS with close_notify, close. No on_close follows."""
        self._io.request_close("graceful")
        return DICOM_SUCCESS

    def close_forced(self, forced: bool = True) -> int:
        """``forced``: close at once, dropping queued data; else as ``close``."""
        self._io.request_close("forced" if forced else "graceful")
        return DICOM_SUCCESS

    def server_close(self) -> int:
        """Stop listening (the accepted objects keep running)."""
        return self.close() if self._io.listen_sock is not None else DICOM_ERROR_NET_NOT_CONNECTED

    def join(self, timeout: Optional[float] = None) -> bool:
        """dicomtls extension: wait until the I/O thread has ended; True if it has."""
        thread = self._io.thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # ---- state / info ------------------------------------------------------------------------
    def is_activated(self) -> bool:
        return self._io.alive

    def is_connected(self) -> bool:
        return self._io.connected

    def is_associated(self) -> bool:
        a = self._io.assoc
        return a is not None and a.is_established

    def get_peer_info(self) -> tuple:
        """``(address, port)`` of the peer (LEAD fills a buffer and a port pointer)."""
        return self._io.peer_addr

    def get_host_info(self) -> tuple:
        return self._io.host_addr

    def get_associate(self) -> Optional[DicomAssociate]:
        return self._io.associate

    def get_command_set(self):
        """The last DIMSE command received (a ``dimse.messages`` object)."""
        return self._io.command

    def get_queue_send(self) -> int:
        return self._io.queued()

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
        io = self._io

        def op():
            if io.assoc is not None and not io.assoc.finished:
                raise LocalProtocolError("an association is already in progress")
            assoc = Association("requestor",
                                max_pdu_length=associate.max_length or DEFAULT_MAX_PDU_LENGTH)
            assoc.request(associate.called_ae, associate.calling_ae, associate._rq_contexts())
            io.release_answered = False
            io.associate = associate
            io.driver.assoc = assoc
        return io.submit(op, PDU_ASSOCIATE_REQUEST)

    def send_associate_accept(self, associate: Optional[DicomAssociate] = None) -> int:
        """Answer the request with ``associate`` (default: the one given to
        on_receive_associate_request, as the handler left it)."""
        io = self._io

        def op():
            a = associate or io.associate
            if a is None:
                raise LocalProtocolError("no A-ASSOCIATE-RQ to accept")
            assoc = io.assoc
            if a.max_length and a.max_length < assoc.max_pdu_length:
                assoc.max_pdu_length = a.max_length  # announce less than we can take
            assoc.accept(a.ac_contexts())
            io.associate = DicomAssociate.from_pdu(assoc.request_pdu, assoc.accept_pdu)
        return io.submit(op, PDU_ASSOCIATE_ACCEPT)

    def send_associate_reject(self, result: int, source: int, reason: int) -> int:
        io = self._io
        return io.submit(lambda: io.assoc.reject(result, source, reason), PDU_ASSOCIATE_REJECT)

    def send_release_request(self) -> int:
        io = self._io
        return io.submit(lambda: io.assoc.release(), PDU_RELEASE_REQUEST)

    def send_release_response(self) -> int:
        io = self._io

        def op():
            io.release_answered = True
            io.assoc.release()
        return io.submit(op, PDU_RELEASE_RESPONSE)

    def send_abort(self, source: int = 0, reason: int = 0) -> int:
        """A-ABORT. The Association sends service-user aborts only: ``source``/``reason`` are
        sent as 0/0 whatever is given (see the mapping document)."""
        io = self._io
        return io.submit(lambda: io.assoc.abort(), PDU_ABORT)

    def send_data(self, pid: int, command, dataset=None) -> int:
        """``SendData``: any DIMSE message object (``dimse.messages``) plus its data set (bytes
        in the context's transfer syntax, or a pydicom Dataset encoded in it). Every ``Send{C,N}*``
        comes here; ``on_before_send_command_set`` may replace the message."""
        io = self._io

        def op():
            msg = command
            replaced = self._fire("on_before_send_command_set", msg)
            if isinstance(replaced, m.DIMSEMessage):
                msg = replaced
            ctx = io.assoc.contexts.get(pid) if io.assoc is not None else None
            data = encode_dataset(dataset, ctx.transfer_syntax if ctx else None)
            io.assoc.send_message(pid, msg, data)
        return io.submit(op, PDU_DATA)

    # ---- TLS: settings (the TLSSettings part) ----------------------------------------------------
    def initialize(self, path: Optional[str] = None, mode: int = DICOM_SECURE_NONE,
                   ctx_create: Optional[SslCtxCreate] = None) -> int:
        """``Initialize(pszPath, nMode, pCtxCreate)``: set the mode and the context settings
        (certificates and the cipher list start over, as in LEAD)."""
        try:
            self._tls = TLSSettings(mode, ctx_create)
        except SecureModeNotSupportedError as exc:
            return lead_code(exc)
        self.path = path
        if ctx_create is not None:
            ctx_create.success = check_ctx(ctx_create)
            return ctx_create.success
        return DICOM_SUCCESS

    def ctx_set_options(self, options: int) -> int:
        """``CTXSetOptions``: the ``L_SSL_OP_*`` options of the context settings."""
        ctx = self._tls.ctx
        ctx.options = options
        ctx.flags |= FLAG_SSL_CTX_CREATE_OPTIONS
        return check_ctx(ctx)

    def set_sll_method_type(self, method_type: int) -> int:
        """``SetSLLMethodType`` (sic): the ``TYPE_*_METHOD`` of the context settings."""
        ctx = self._tls.ctx
        ctx.method_type = method_type
        ctx.flags |= FLAG_SSL_CTX_CREATE_METHOD_TYPE
        return check_ctx(ctx)

    def get_ctx(self) -> SslCtxCreate:
        """``GetCTX``: LEAD hands out the raw ``SSL_CTX*``; we give the settings it is built from
        (the SSL_CTX is built per connection on the I/O thread and owned by the TLS engine)."""
        return self._tls.ctx

    @staticmethod
    def get_open_ssl_version() -> dict:
        """``GetOpenSslVersion``: ``DICOMOPENSSLVERSION`` as a dict."""
        try:
            from .._binding import features
            installed = features().openssl_version
        except Exception:  # noqa: BLE001 - informational only
            installed = ""
        return {"required_version": "3.0", "installed_version": installed,
                "is_available": bool(installed), "download_message": ""}

    def set_client_certificate_tls(self, path_to_certificate: str, cert_type: int = 1,
                                   path_to_key_file: Optional[str] = None) -> int:
        """``SetClientCertificateTLS``; the key may be in the certificate file (key None)."""
        return self._tls.set_certificate("client", path_to_certificate, cert_type,
                                         path_to_key_file)

    def set_server_certificate_tls(self, path_to_certificate: str, cert_type: int = 1,
                                   path_to_key_file: Optional[str] = None) -> int:
        """``SetServerCertificateTLS`` (the file may hold a chain, leaf first)."""
        return self._tls.set_certificate("server", path_to_certificate, cert_type,
                                         path_to_key_file)

    def set_cipher_to_index_tls(self, index: int, cipher) -> int:
        """Slot ``index`` (0..15) of the proposal list; None/0 at slot 0 clears the list."""
        return self._tls.set_cipher(index, cipher)

    def get_cipher_from_index_tls(self, index: int) -> int:
        """The slot's suite as LEAD's ordinal (IANA code when LEAD has none); 0 when empty."""
        return self._tls.cipher_at(index)

    def set_is_secure_connected(self, value: bool) -> int:
        """Internal in LEAD ("not to be documented"); the I/O thread owns this state here."""
        return DICOM_ERROR_BAD_SECURE_MODE

    def set_handshake_debug(self, *args) -> int:
        """Internal in LEAD; use ``TLSConfig.keylog_file`` / logging ``dicomtls.tls`` instead."""
        return DICOM_SUCCESS

    # ---- TLS: after the handshake ----------------------------------------------------------------
    def get_ciphersuite_tls(self) -> int:
        """The negotiated suite: LEAD ordinal, or the IANA code when LEAD has none; 0 before."""
        return self._tls.negotiated_suite()

    def get_tls_session(self):
        """dicomtls extension: the negotiated ``SessionInfo`` (None before/without TLS)."""
        return self._tls.session

    def get_error_secure(self) -> int:
        return self._tls.error_secure

    def get_secure_mode(self) -> int:
        return self._tls.mode

    def get_is_secure_connected(self) -> bool:
        return self._tls.status == TLS_STATUS_CONNECTED

    def get_tls_status(self) -> int:
        return self._tls.status

    def get_mutual_auth_key_length_tls(self, cipher) -> int:
        """Bits of the authenticating key (the peer certificate's; our own when the peer sent
        none) when ``cipher`` is the negotiated suite; 0 otherwise."""
        return self._tls.mutual_auth_key_bits(cipher)

    # ---- TLS: per-suite lookups (pure; LEAD ordinals, names or IANA codes) -----------------------
    @staticmethod
    def get_encryption_algorithm_tls(cipher) -> int:
        return int(encryption_method(to_suite(cipher)))

    @staticmethod
    def get_authentication_algorithm_tls(cipher) -> int:
        return int(mutual_auth_method(to_suite(cipher)))

    @staticmethod
    def get_integrity_algorithm_tls(cipher) -> int:
        return int(mac_method(to_suite(cipher)))

    @staticmethod
    def get_key_exchange_algorithm_tls(cipher) -> int:
        return int(key_exchange_method(to_suite(cipher)))

    @staticmethod
    def get_encrypt_key_length_tls(cipher) -> int:
        """Bulk cipher key length in bits (3DES: 168)."""
        return to_suite(cipher).encryption_bits

    def __repr__(self):
        kind = "listener" if self._io.listen_sock is not None else "connection"
        return f"<LDicomNet {kind} {self._io.peer_addr} connected={self._io.connected}>"


DicomNet = LDicomNet

__all__ = ["DICOM_IPTYPE_IPV4", "DICOM_IPTYPE_IPV4_OR_IPV6", "DICOM_IPTYPE_IPV6",
           "DICOM_IPTYPE_NONE", "DicomAssociate", "DicomNet", "LDicomNet", "encode_dataset"]
