"""The libssl engine: a sans-IO TLSConnection over an SSL with two memory BIOs (csrc/dt_conn.c)."""

from __future__ import annotations

import logging
import os
from typing import Optional

from .._binding import drain_errors, ffi, lib
from ..crypto.x509 import Certificate
from ..errors import (CertificateVerifyError, ConfigurationError, ConnectionClosedError, LocalProtocolError,
                      PeerCertificateRequiredError, TLSAlertReceived, TLSError, alert_name)
from .config import TLSConfig, VerifyContext
from .credentials import is_ip_address
from .connection import (NEED_DATA, ApplicationData, CloseNotify, ConnectionClosed,
                         HandshakeComplete, SessionInfo, TLSConnection)
from .libssl_context import keylog_lock, libssl_context
from .protocol import AlertLevel
from .suites import by_code
from .versions import TLSVersion

log = logging.getLogger("dicomtls.tls")

_READ_SLACK = 16 * 1024 + 256  # one record's plaintext beyond what is buffered as ciphertext

# Outcomes of ``recv_into_socket`` / ``send_to_socket`` besides data (csrc/dt_conn_io.c).
SOCKET_DONE = lib.DT_IO_DONE
SOCKET_TIMEOUT = lib.DT_IO_TIMEOUT   # nothing moved in time (timeout 0: nothing was ready)
SOCKET_EOF = lib.DT_IO_EOF           # TCP closed by the peer; not given to the engine yet
SOCKET_EINTR = lib.DT_IO_EINTR       # a signal: run the handlers, call again


@ffi.def_extern()
def dt_py_verify(handle, ok, x509, error, depth):
    conn: LibsslConnection = ffi.from_handle(handle)
    try:
        text = lib.X509_verify_cert_error_string(error)
        ctx = VerifyContext(ok=bool(ok), error=error, depth=depth,
                            error_string=ffi.string(text).decode() if text != ffi.NULL else "",
                            certificate=(Certificate(x509, owned=False)
                                         if x509 != ffi.NULL else None))
        return 1 if conn.config.verify_callback(ctx) else 0
    except BaseException as exc:  # re-raised once the handshake call has returned
        if conn._callback_error is None:
            conn._callback_error = exc
        return 0


@ffi.def_extern()
def dt_py_keylog(handle, line):
    conn: LibsslConnection = ffi.from_handle(handle)
    try:
        path = conn.config.keylog_file
        with keylog_lock(path), open(path, "ab") as f:
            f.write(ffi.string(line) + b"\n")
    except BaseException as exc:
        if conn._callback_error is None:
            conn._callback_error = exc


class LibsslConnection(TLSConnection):
    engine = "libssl"

    def __init__(self, config: TLSConfig, role: str, *, server_name: Optional[str] = None):
        super().__init__(role)
        self.config = config
        ctx = libssl_context(config, role)
        self._ctx = ctx                      # keeps the SSL_CTX alive as long as this connection
        self._handle = ffi.new_handle(self)  # kept here: C holds only the raw pointer
        self._callback_error: Optional[BaseException] = None
        self._error: Optional[BaseException] = None
        self._eof = False
        self._closed_events = 0
        self._close_pending = False
        self._deferred_failure: Optional[tuple] = None   # (rc, errors) met behind data
        self._sent_close = False
        conn = lib.dt_conn_new(ctx.ptr, int(role == "server"), self._handle,
                               int(config.verify_callback is not None),
                               int(config.keylog_file is not None))
        if conn == ffi.NULL:
            drain_errors()
            raise MemoryError("dt_conn_new")
        self._conn = ffi.gc(conn, lib.dt_conn_free)
        # Resumption (opt-in, ``tls.session_cache``): a client offers the session it keeps for
        # this server name and takes in the ones libssl hands it (``_keep_new_session``).
        self._sessions = config.session_cache if role == "client" else None
        self._server_name = server_name
        if self._sessions is not None and not self._sessions.offer(server_name, conn):
            drain_errors()   # none kept, or an unusable one: a full handshake then
        ssl = lib.dt_conn_ssl(conn)
        if role == "client" and server_name:
            name = server_name.encode()
            if not is_ip_address(server_name):
                lib.SSL_set_tlsext_host_name(ssl, name)  # SNI carries names, never addresses
            if config.verify_hostname:
                ok = (lib.X509_VERIFY_PARAM_set1_ip_asc(lib.SSL_get0_param(ssl), name)
                      if is_ip_address(server_name) else lib.SSL_set1_host(ssl, name))
                if not ok:
                    drain_errors()
                    raise ConfigurationError(f"cannot check the peer against {server_name!r}")
        elif role == "client" and config.verify_hostname:
            raise ConfigurationError("verify_hostname needs the server's name or address")
        drain_errors()

    # ---- bytes in / out -------------------------------------------------------------------
    def receive_data(self, data) -> None:
        if not data:
            self._eof = True
            lib.dt_conn_feed_eof(self._conn)
            return
        if self._eof:
            raise LocalProtocolError("data received after EOF")
        if not lib.dt_conn_feed(self._conn, ffi.from_buffer(data), len(data)):
            drain_errors()
            raise MemoryError("buffering received TLS data")

    def pending_output(self) -> int:
        return lib.dt_conn_pending_out(self._conn)

    def data_to_send(self) -> bytes:
        n = lib.dt_conn_pending_out(self._conn)
        if n == 0:
            return b""
        buf = bytearray(n)
        got = lib.dt_conn_take_out(self._conn, ffi.from_buffer(buf), n)
        del buf[got:]
        return buf

    # ---- events ---------------------------------------------------------------------------
    def next_event(self):
        if self._error is not None:
            raise self._error
        try:
            if self.session is None:
                if self._sent_close:
                    raise LocalProtocolError("the connection was closed before its handshake")
                event = self._handshake_step()
            else:
                event = self._read_step()
            if self._sessions is not None:
                self._keep_new_session()
            return event
        except BaseException as exc:
            self._error = exc
            if isinstance(exc, TLSError) and exc.peer_certificate is None:
                exc.peer_certificate = self._presented_certificate()
            raise

    def _keep_new_session(self) -> None:
        """A session libssl just gave us (TLS 1.2 at the handshake's end, TLS 1.3 with each
        NewSessionTicket, which arrives after it) goes into the cache for this server name."""
        session = lib.dt_conn_take_session(self._conn)
        if session != ffi.NULL:
            self._sessions.put(self._server_name, session)

    def _presented_certificate(self):
        """The CertificateInfo of the leaf the peer presented (verified or not), or None."""
        leaf = lib.dt_conn_presented_leaf(self._conn)
        return Certificate(leaf, owned=False).info() if leaf != ffi.NULL else None

    def _handshake_step(self):
        rc = lib.dt_conn_handshake(self._conn)
        if self._callback_error is not None:
            drain_errors()
            raise self._callback_error
        if rc == lib.SSL_ERROR_NONE:
            drain_errors()
            self.session = self._session_info()
            log.info("TLS %s session: %s", self.role, self.session.summary())
            return HandshakeComplete(self.session)
        if rc == lib.SSL_ERROR_WANT_READ:
            drain_errors()
            if self._eof:
                raise ConnectionClosedError("the peer closed the connection during the TLS handshake")
            return NEED_DATA
        self._raise_failure(rc, during="handshake")

    def _read_step(self):
        if self._deferred_failure is not None:
            rc, errors = self._deferred_failure
            self._raise_failure(rc, during="read", errors=errors)
        if self._close_pending:
            self._close_pending = False
            self._closed_events += 1
            return CloseNotify()
        cap = lib.dt_conn_pending_in(self._conn)
        if cap == 0 and not self._eof:
            return NEED_DATA
        buf = bytearray(cap + _READ_SLACK)
        got = ffi.new("size_t *")
        rc = lib.dt_conn_read(self._conn, ffi.from_buffer(buf), len(buf), got)
        if self._callback_error is not None:
            raise self._callback_error
        if got[0]:
            self._after_data(rc)
            del buf[got[0]:]
            return ApplicationData(bytes(buf) if len(buf) < 4096 else buf)
        return self._without_data(rc)

    def _after_data(self, rc: int) -> None:
        """A read that decrypted data stopped with ``rc``."""
        if rc == lib.SSL_ERROR_ZERO_RETURN:
            # close_notify came right behind the data: report it on the next call, since
            # libssl has consumed it and no more input will arrive to trigger it again.
            self._close_pending = True
        elif rc not in (lib.SSL_ERROR_NONE, lib.SSL_ERROR_WANT_READ):
            # Deliver what was decrypted; the failure is raised by the next call. It is kept
            # here: the bad record is consumed, so nothing buffered would make libssl repeat it.
            self._deferred_failure = (rc, drain_errors())

    def _without_data(self, rc: int):
        """The event for a read that decrypted nothing and stopped with ``rc`` (or raise)."""
        if rc in (lib.SSL_ERROR_WANT_READ, lib.SSL_ERROR_NONE):
            drain_errors()
            return NEED_DATA
        if rc == lib.SSL_ERROR_ZERO_RETURN:
            drain_errors()
            self._closed_events += 1
            if self._closed_events == 1:
                return CloseNotify()
            if self._eof:
                return ConnectionClosed(clean=True)
            return NEED_DATA
        errors = drain_errors()
        if self._eof and _is_unexpected_eof(errors, rc):
            return ConnectionClosed(clean=False)
        self._raise_failure(rc, during="read", errors=errors)

    # ---- the data path over a socket (csrc/dt_conn_io.c) ----------------------------------
    def recv_into_socket(self, fd: int, view, timeout_ms: int):
        """After the handshake: decrypt into ``view`` what is buffered, then what socket ``fd``
        brings, in one C call without the GIL. Returns ``(bytes, None)`` for data; else
        ``(0, outcome)``: an event as ``next_event`` gives it (CloseNotify, ConnectionClosed,
        NEED_DATA) or one of the ``SOCKET_*`` codes. Raises as ``next_event`` does, and
        OSError for a failed socket call."""
        if self._error is not None:
            raise self._error
        if self._close_pending or self._deferred_failure or self.session is None or self._eof:
            event = self.next_event()
            if isinstance(event, ApplicationData):   # only when EOF came with data buffered
                raise LocalProtocolError("recv_into_socket after EOF: use next_event")
            return 0, event
        got, ssl_rc, err = ffi.new("size_t *"), ffi.new("int *"), ffi.new("int *")
        status = lib.dt_conn_recv_fd(self._conn, fd, ffi.from_buffer(view), len(view),
                                     timeout_ms, got, ssl_rc, err)
        return self._io_result(status, got[0], ssl_rc[0], err[0], during="read")

    def send_to_socket(self, fd: int, data, timeout_ms: int) -> tuple[int, int]:
        """After the handshake: encrypt ``data`` and send it to socket ``fd``, in one C call
        without the GIL. Returns ``(SOCKET_DONE or another SOCKET_* outcome, bytes taken)``;
        after SOCKET_TIMEOUT the record stream is cut and only closing is left. Raises as
        ``send`` does, and OSError for a failed socket call."""
        if self._error is not None:
            raise self._error
        if self.session is None or self._sent_close:
            raise LocalProtocolError("cannot send application data now")
        sent, ssl_rc, err = ffi.new("size_t *"), ffi.new("int *"), ffi.new("int *")
        status = lib.dt_conn_send_fd(self._conn, fd, ffi.from_buffer(data), len(data),
                                     timeout_ms, sent, ssl_rc, err)
        moved, outcome = self._io_result(status, sent[0], ssl_rc[0], err[0], during="write")
        return outcome, sent[0]

    def _io_result(self, status: int, moved: int, rc: int, err: int, *, during: str):
        try:
            if self._callback_error is not None:
                drain_errors()
                raise self._callback_error
            if status == lib.DT_IO_ERRNO:
                raise OSError(err, os.strerror(err))
            if status != lib.DT_IO_DONE:
                return 0, status
            if during == "write":
                if rc != lib.SSL_ERROR_NONE:
                    self._raise_failure(rc, during="write")
                return moved, SOCKET_DONE
            if self._sessions is not None:
                self._keep_new_session()
            if moved:
                self._after_data(rc)
                return moved, None
            return 0, self._without_data(rc)
        except TLSError as exc:
            self._error = exc
            if exc.peer_certificate is None:
                exc.peer_certificate = self._presented_certificate()
            raise

    # ---- application data out -------------------------------------------------------------
    def send(self, data) -> None:
        if self._error is not None:
            raise self._error
        if self.session is None:
            raise LocalProtocolError("cannot send application data before the handshake completes")
        if self._sent_close:
            raise LocalProtocolError("cannot send after close()")
        n = len(data)
        if n == 0:
            return
        written = ffi.new("size_t *")
        rc = lib.dt_conn_write(self._conn, ffi.from_buffer(data), n, written)
        if rc != lib.SSL_ERROR_NONE:
            try:
                self._raise_failure(rc, during="write")
            except BaseException as exc:
                self._error = exc
                raise

    def close(self) -> None:
        if self._sent_close:
            return
        self._sent_close = True
        if self._error is None and self.session is not None:
            lib.dt_conn_shutdown(self._conn)
        drain_errors()

    # ---- details --------------------------------------------------------------------------
    def _session_info(self) -> SessionInfo:
        conn, ssl = self._conn, lib.dt_conn_ssl(self._conn)
        code, bits = ffi.new("int *"), ffi.new("int *")
        lib.dt_conn_cipher(conn, code, bits)
        suite = by_code(code[0])
        if suite is None:  # libssl negotiated something our registry lacks: a registry bug
            raise TLSError(f"negotiated unknown ciphersuite 0x{code[0]:04X}")
        protocol = TLSVersion(lib.SSL_version(ssl))
        chain_p = ffi.new("X509 *[]", 32)
        n = lib.dt_conn_peer_chain(conn, chain_p, 32)
        peer = tuple(Certificate(chain_p[i], owned=False).info() for i in range(n))
        group_p = lib.dt_conn_kx_group(conn)
        group = ffi.string(group_p).decode() if group_p != ffi.NULL else None
        # libssl frees a TLS 1.2 server's ephemeral key after use; the group name still tells.
        kx_bits = lib.dt_conn_kx_bits(conn, int(self.role == "server")) or _group_bits(group)
        kx = suite.key_exchange
        auth = suite.authentication
        if suite.is_tls13:
            kx = "DHE" if group and group.startswith("ffdhe") else "ECDHE"
        if auth == "ANY" or suite.is_tls13:
            auth = self._tls13_auth(peer)
        if kx == "RSA":
            group, kx_bits = None, None
        verified = lib.SSL_get_verify_result(ssl) == lib.X509_V_OK
        drain_errors()
        return SessionInfo(
            protocol=protocol, cipher_suite=suite, key_exchange=kx, key_exchange_group=group,
            key_exchange_bits=kx_bits, authentication=auth, peer_certificates=peer,
            peer_authenticated=bool(peer) and verified and self.config.peer_cert != "ignore",
            engine=self.engine, resumed=bool(lib.SSL_session_reused(ssl)))

    def _tls13_auth(self, peer) -> str:
        """TLS 1.3 suites do not name the signature algorithm: report the server's key type."""
        if self.role == "client" and peer:
            key_type = peer[0].key_type
        elif self.role == "server" and getattr(self._ctx, "own_chain", None):
            key_type = self._ctx.own_chain[0].public_key_type
        else:
            return "ANY"
        return {"RSA": "RSA", "RSA-PSS": "RSA", "EC": "ECDSA", "ED25519": "EdDSA",
                "ED448": "EdDSA"}.get(key_type.upper(), key_type)

    def _raise_failure(self, rc: int, *, during: str, errors=None):
        if errors is None:
            errors = drain_errors()
        conn = self._conn
        sent = lib.dt_conn_alert_sent(conn)
        received = lib.dt_conn_alert_received(conn)
        # Only fatal alerts explain a failure; a warning (no_renegotiation, say) came before it.
        sent = (sent if sent >= 0 and lib.dt_conn_alert_sent_level(conn) == AlertLevel.FATAL
                else None)
        received = (received if received >= 0
                    and lib.dt_conn_alert_received_level(conn) == AlertLevel.FATAL else None)
        detail = "; ".join(str(e) for e in errors) or f"SSL error {rc}"
        verify_error = lib.dt_conn_verify_error(conn)
        if verify_error:
            text = ffi.string(lib.X509_verify_cert_error_string(verify_error)).decode()
            depth = lib.dt_conn_verify_depth(conn)
            raise CertificateVerifyError(
                f"peer certificate rejected at depth {depth}: {text} (X509_V_ERR {verify_error})",
                verify_code=verify_error, depth=depth, alert_sent=sent, alert_received=received,
                openssl_errors=errors)
        if received is not None:
            raise TLSAlertReceived(
                f"TLS {during} failed: the peer sent alert {alert_name(received)} ({received})",
                alert_received=received, alert_sent=sent, openssl_errors=errors)
        if any(e.library == lib.ERR_LIB_SSL
               and e.reason == lib.SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE for e in errors):
            raise PeerCertificateRequiredError(
                "the peer sent no certificate but peer_cert='require'", alert_sent=sent,
                openssl_errors=errors)
        if self._eof and _is_unexpected_eof(errors, rc):
            raise ConnectionClosedError(f"the peer closed the connection during the TLS {during}")
        where = f" (sent alert {alert_name(sent)})" if sent is not None else ""
        raise TLSError(f"TLS {during} failed: {detail}{where}", alert_sent=sent,
                       openssl_errors=errors)


_GROUP_BITS = {"x25519": 253, "x448": 448, "secp256r1": 256, "prime256v1": 256,
               "secp384r1": 384, "secp521r1": 521}


def _group_bits(group):
    if not group:
        return None
    if group.startswith("ffdhe") and group[5:].isdigit():
        return int(group[5:])
    return _GROUP_BITS.get(group)


def _is_unexpected_eof(errors, rc) -> bool:
    if rc == lib.SSL_ERROR_SYSCALL and not errors:
        return True
    return any(e.library == lib.ERR_LIB_SSL and e.reason == lib.SSL_R_UNEXPECTED_EOF_WHILE_READING
               for e in errors)
